"""Rate limits, injected faults and persistence, on an injected clock (nothing sleeps)."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from hs_helpers import body, client, contact, running
from hubspot.crm.associations.v4 import ApiException as AssociationsApiException
from hubspot.crm.contacts import ApiException, PublicObjectSearchRequest
from sf_helpers import FakeClock

from connector.sandbox.hubspot import Faults, HubSpotSandbox

HEADERS = {"Authorization": "Bearer sandbox-token"}


def _get(sandbox: HubSpotSandbox) -> requests.Response:
    return requests.get(f"{sandbox.base_url}/crm/v3/objects/contacts", headers=HEADERS,
                        timeout=5)


def test_every_answer_carries_the_rate_limit_headers() -> None:
    with running(ten_second_limit=5, daily_limit=100) as sandbox:
        first, second = _get(sandbox), _get(sandbox)

    assert first.headers["X-HubSpot-RateLimit-Max"] == "5"
    assert first.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert first.headers["X-HubSpot-RateLimit-Remaining"] == "4"
    assert second.headers["X-HubSpot-RateLimit-Remaining"] == "3"
    assert first.headers["X-HubSpot-RateLimit-Daily"] == "100"
    assert second.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "98"


def test_the_ten_second_window_rolls_with_the_clock() -> None:
    clock = FakeClock()
    with running(clock=clock, ten_second_limit=2) as sandbox:
        statuses = [_get(sandbox).status_code for _ in range(3)]
        refused = _get(sandbox)
        clock.advance(seconds=10)
        after_window = _get(sandbox)

    assert statuses == [200, 200, 429]
    answer = refused.json()
    assert answer["status"] == "error"
    assert answer["errorType"] == "RATE_LIMIT"
    assert answer["policyName"] == "TEN_SECONDLY_ROLLING"
    assert answer["message"] == "You have reached your ten_secondly_rolling limit."
    assert after_window.status_code == 200


def test_the_daily_limit_and_its_reset_at_midnight() -> None:
    clock = FakeClock()
    with running(clock=clock, daily_limit=3) as sandbox:
        sandbox.set_daily_used(3)
        refused = _get(sandbox)
        clock.advance(days=1)
        next_day = _get(sandbox)

    assert refused.status_code == 429
    assert refused.json()["policyName"] == "DAILY"
    assert next_day.status_code == 200
    assert next_day.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "2"


def test_search_has_its_own_per_second_limit() -> None:
    clock = FakeClock()
    with running(clock=clock, search_per_second=2) as sandbox:
        hs = client(sandbox)
        request = PublicObjectSearchRequest(filter_groups=[], sorts=[], properties=[], limit=1)
        hs.crm.contacts.search_api.do_search(request)
        hs.crm.contacts.search_api.do_search(request)
        with pytest.raises(ApiException) as failure:
            hs.crm.contacts.search_api.do_search(request)
        plain_reads_still_work = _get(sandbox).status_code
        clock.advance(seconds=1)
        hs.crm.contacts.search_api.do_search(request)

    assert failure.value.status == 429
    assert body(failure.value)["policyName"] == "SECONDLY"
    assert plain_reads_still_work == 200


def test_fail_at_and_rates_play_the_shared_fault_script() -> None:
    with running() as sandbox:
        sandbox.faults = Faults(fail_at={2: "503", 3: "502"})
        statuses = [_get(sandbox).status_code for _ in range(4)]

        sandbox.inject(fail_at={1: "drop"})
        with pytest.raises(requests.ConnectionError):
            _get(sandbox)

    assert statuses == [200, 503, 502, 200]
    assert [(e.number, e.kind) for e in sandbox.fault_log] == [(2, "503"), (3, "502"),
                                                               (1, "drop")]
    assert sandbox.faulted_count == 3


def test_drop_after_lands_the_write_and_latency_goes_through_the_injected_sleep() -> None:
    slept: list[float] = []
    with running() as sandbox:
        sandbox.faults = Faults(fail_at={1: "drop_after"}, latency=0.25, sleep=slept.append)
        with pytest.raises(requests.ConnectionError):
            requests.post(f"{sandbox.base_url}/crm/v3/objects/contacts", headers=HEADERS,
                          json={"properties": {"email": "landed@acme.test"}}, timeout=5)

    assert [r["properties"]["email"] for r in sandbox.records("contacts")] == ["landed@acme.test"]
    assert slept == [0.25]


def test_seeded_error_rates_are_reproducible() -> None:
    def run() -> list[int]:
        with running(faults=Faults(error_rate=0.3, bad_gateway_rate=0.2, seed=7)) as sandbox:
            return [_get(sandbox).status_code for _ in range(30)]

    first = run()
    assert first == run()
    assert {200, 502, 503} <= set(first)


def test_state_survives_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "hubspot.json"
    with running(state_path=state) as sandbox:
        hs = client(sandbox)
        person = hs.crm.contacts.basic_api.create(contact("keep@acme.test", leadsync_id="L-k"))
        deal = sandbox.create_deal(person.id, "qualifiedtobuy", 900)

    with running(state_path=state) as again:
        hs = client(again)
        found = hs.crm.contacts.basic_api.get_by_id("L-k", id_property="leadsync_id")
        deals = hs.crm.associations.v4.basic_api.get_page("contacts", person.id, "deals")
        fresh = hs.crm.contacts.basic_api.create(contact("new@acme.test"))
        with pytest.raises(ApiException) as duplicate:
            hs.crm.contacts.basic_api.create(contact("keep@acme.test"))

    assert found.id == person.id
    assert [r.to_object_id for r in deals.results] == [deal["id"]]
    assert int(fresh.id) > int(deal["id"])  # the id counter was saved too
    assert duplicate.value.status == 409  # and the email index rebuilt


def test_unknown_object_types_and_paths() -> None:
    with running() as sandbox:
        unknown_type = requests.get(f"{sandbox.base_url}/crm/v3/objects/widgets",
                                    headers=HEADERS, timeout=5)
        hs = client(sandbox)
        with pytest.raises(AssociationsApiException) as failure:
            hs.crm.associations.v4.basic_api.get_page("widgets", "1", "contacts")

    assert unknown_type.status_code == 400
    assert unknown_type.json()["message"] == "Unable to infer object type from: widgets"
    assert failure.value.status == 400
