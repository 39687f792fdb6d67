"""Every refusal Salesforce makes on a record becomes a dead letter holding its
errorCode, message and fields, while the rest of the batch is written; a
refusal that would hit every record (an unknown field, a query Salesforce
cannot parse) stops the run with Salesforce's words instead."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from tenacity import wait_none

from connector.adapters.base import StageUpdate
from connector.adapters.salesforce import SalesforceAdapter
from connector.config import Config
from connector.pipeline import Pipeline
from connector.records import Lead
from connector.state import StateStore

T0 = datetime(2026, 11, 20, tzinfo=UTC)


class Leads:
    """A marketing side holding exactly the leads a test gives it (no import-time
    validation, so values reach Salesforce as they are)."""

    name = "memory"

    def __init__(self, leads: list[Lead]) -> None:
        self.all = leads

    def read_changes(self, since: datetime | None, *, page_size: int = 500) -> Iterator[Lead]:
        return iter([lead for lead in self.all if since is None or lead.updated_at >= since])

    def leads(self, marketing_ids: Sequence[str]) -> list[Lead]:
        return [lead for lead in self.all if lead.id in marketing_ids]

    def write_stages(self, updates: Sequence[StageUpdate]) -> set[str]:
        return {u.marketing_id for u in updates}

    def leads_in_stages(self, stages: Sequence[str],
                        entered_before: datetime | None = None) -> list[Lead]:
        return []  # stages written here are not kept: no lead waits to go back to sales

    def close(self) -> None:
        pass


def lead(n: int, **fields: str) -> Lead:
    base = {"email": f"p{n}@acme.example", "first_name": "Pat", "last_name": f"Lee{n}",
            "company": "Acme"}
    return Lead(str(n), {**base, **fields}, T0)


def run(config: Config, leads: list[Lead], fields: dict[str, str]) -> tuple[Any, StateStore]:
    mapping = config.mapping.model_copy(update={"fields": {**config.mapping.fields, **fields}})
    scoring = config.scoring.model_copy(update={"threshold": 0, "required_fields": []})
    config = config.model_copy(update={"mapping": mapping, "scoring": scoring})
    assert config.crm.salesforce is not None
    crm = SalesforceAdapter(config.crm.salesforce, password="sandbox", security_token="",
                            wait=wait_none())
    state = StateStore(config.resolve_url(config.state.url))
    try:
        return Pipeline(config, state, Leads(leads), crm).run(), state
    finally:
        crm.close()


REFUSALS = [
    ("REQUIRED_FIELD_MISSING", {"last_name": ""}, ["LastName"]),
    ("STRING_TOO_LONG", {"company": "Acme " * 60}, ["Company"]),
    ("INVALID_EMAIL_ADDRESS", {"email": "pat at acme"}, ["Email"]),
    ("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", {"rating": "Lukewarm"}, ["Status"]),
]


@pytest.mark.parametrize(("code", "bad", "fields"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_a_refused_record_is_a_dead_letter_and_the_batch_goes_on(
        make_config: Any, sf_client: Any, code: str, bad: dict[str, str],
        fields: list[str]) -> None:
    summary, state = run(make_config(), [lead(1), lead(2, **bad), lead(3)],
                         {"rating": "Status"})
    assert summary.status == "ok", summary.error
    assert (summary.counts["created"], summary.counts["refused"]) == (2, 1)
    [letter] = state.dead_letters()
    assert (letter.marketing_id, letter.error_code) == ("2", code)
    assert letter.message and letter.fields == str(fields).replace("'", '"')
    held = sf_client.query_all("SELECT Leadsync_Id__c FROM Lead")["records"]
    assert sorted(r["Leadsync_Id__c"] for r in held) == ["1", "3"]
    state.close()


def test_a_second_lead_on_a_unique_field_is_refused_as_duplicate_value(
        make_config: Any) -> None:
    config = make_config()  # matching off: with it, the second lead updates the first's record
    config = config.model_copy(update={"matching": config.matching.model_copy(
        update={"enabled": False})})
    summary, state = run(config, [lead(1), lead(2, email="p1@acme.example")],
                         {"email": "Unique_Email__c"})
    assert summary.counts["refused"] == 1
    [letter] = state.dead_letters()
    assert (letter.marketing_id, letter.error_code) == ("2", "DUPLICATE_VALUE")
    assert "Unique_Email__c" in letter.message
    state.close()


def test_an_unknown_field_stops_the_run_naming_it(make_config: Any) -> None:
    summary, state = run(make_config(), [lead(1, title="CTO")], {"title": "Titel__c"})
    assert summary.status == "failed"
    assert "INVALID_FIELD" in (summary.error or "") and "Titel__c" in (summary.error or "")
    assert state.dead_letters() == []  # nothing is the record's fault
    state.close()


def test_a_query_salesforce_cannot_parse_stops_the_run(make_config: Any) -> None:
    config = make_config()
    status = config.mapping.status.model_copy(update={"crm_field": "FROM"})
    config = config.model_copy(update={"mapping": config.mapping.model_copy(
        update={"status": status})})
    summary, state = run(config, [lead(1)], {})
    assert summary.status == "failed" and "MALFORMED_QUERY" in (summary.error or "")
    state.close()
