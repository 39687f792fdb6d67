"""Every figure of `leadsync report` against a scripted history, on both CRMs (issue 20).

Two hundred leads go to sales in two waves a week apart (Mondays 1 and 8 February
2027, 15:00 UTC). Reps, played through the real clients on a sandbox that shares the
connector's clock, then work them at times a seeded script picks: completed calls,
accepts, recycles and trashes with or without a reason, "could not reach" (handed
back by leadsync two days on, then worked again or not), opportunities won or lost
with amounts, or nothing at all. Cycles run twice a working day between. The test
keeps its own book of what it scripted and works out every figure of the JSON and CSV
reports from it, with its own business-hours count and nearest rank: never through
connector.funnel or connector.reporting.
"""

from __future__ import annotations

import csv
import io
import json
import random
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from connector import config as configuration
from connector.adapters.marketing_store import EmbeddedMarketingStore
from connector.cli import app
from connector.wiring import run_once
from tests.conftest import LEAD_COLUMNS, config_text, hubspot_example_config, lead_row

# --- the plan ---------------------------------------------------------------------------

WAVE_A = datetime(2027, 2, 1, 15, 0, tzinfo=UTC)
WAVE_B = datetime(2027, 2, 8, 15, 0, tzinfo=UTC)
SINCE, MIDDLE, UNTIL = (datetime(2027, 2, d, tzinfo=UTC) for d in (1, 8, 15))
"""The report's two weeks; wave B's last steps fall after them (followed to today)."""

PLANS = ("ignored", "touched", "accepted", "recycled", "trashed", "unreached", "opportunity",
         "closed")
WAVES = ((WAVE_A, 110, (8, 12, 26, 12, 6, 10, 20, 6)),
         (WAVE_B, 90, (20, 18, 12, 15, 8, 10, 12, 5)))
"""(hand-off, leads, the weights of PLANS): wave B's reps accept far fewer leads."""
SOURCES = ("Web", "Partner Referral", "Phone Inquiry", "Purchased List", "")
CAMPAIGNS = ("q1-pricing-ads", "webinar-revops", "partner-push", "")
RECYCLE_REASONS = ("No budget until Q3", "Bought a competitor", "Timing: next year", None)
TRASH_REASONS = ("Student", "Spam sign-up", None)
SLOTS = (1.25, 3.75, 5.5, 18.75, 23.25, 30, 46.5, 49.75, 67.25, 76.75, 96.5, 116.25, 167.75,
         193, 215.25)
"""Hours after a wave's hand-off at which reps act: quarter hours, never a cycle's time."""
RETRY = timedelta(days=2)
"""[process.could_not_reach] retry_after."""


def cycle_times() -> list[datetime]:
    """The hand-offs, then every evening at 22:35 UTC, and at 11:05 the mornings after
    them (the London team's first deadlines)."""
    evenings = [datetime(2027, 2, 1, 22, 35, tzinfo=UTC) + timedelta(days=d)
                for d in range(19)]
    mornings = [wave + timedelta(hours=20, minutes=5) for wave in (WAVE_A, WAVE_B)]
    return sorted([WAVE_A, WAVE_B, *evenings, *mornings])


CYCLES = cycle_times()


@dataclass
class Lead:
    n: int
    wave: datetime
    country: str
    source: str | None
    campaign: str | None
    plan: str
    back: datetime | None = None
    """When leadsync handed it back to sales (could not reach, two days on)."""

    @property
    def email(self) -> str:
        return f"rp{self.n}@company{self.n}.example"


class Act(NamedTuple):
    """One thing a rep does to one lead at one time."""

    at: datetime
    n: int
    kind: str
    """call, status (to ``stage``), open (an opportunity), close (``won``, ``amount``)."""
    stage: str | None = None
    reason: str | None = None
    won: bool | None = None
    amount: int | None = None


def script(seed: int = 20) -> tuple[list[Lead], list[Act]]:
    """Who the leads are and what the reps do to them, from one seed."""
    rng = random.Random(seed)
    leads: list[Lead] = []
    acts: list[Act] = []
    for wave, size, weights in WAVES:
        for _ in range(size):
            lead = Lead(len(leads) + 1, wave, rng.choices(("US", "GB"), (3, 1))[0],
                        rng.choice(SOURCES) or None, rng.choice(CAMPAIGNS) or None,
                        rng.choices(PLANS, weights)[0])
            leads.append(lead)
            acts.extend(_acts(rng, lead))
    return leads, acts


def _acts(rng: random.Random, lead: Lead) -> list[Act]:
    slots = [lead.wave + timedelta(hours=h) for h in SLOTS]
    out: list[Act] = []

    def pick(after: datetime) -> datetime | None:
        later = [s for s in slots if s > after][:5]
        return rng.choice(later) if later else None

    def act(kind: str, after: datetime, **how: Any) -> datetime | None:
        at = pick(after)
        if at is not None:
            out.append(Act(at, lead.n, kind, **how))
        return at

    def maybe_call(after: datetime) -> datetime:
        return (act("call", after) or after) if rng.random() < 0.5 else after

    plan, start = lead.plan, lead.wave
    if plan == "touched":
        act("call", start)
    elif plan == "accepted":
        act("status", maybe_call(start), stage="sales_accepted")
    elif plan == "recycled":
        act("status", maybe_call(start), stage="recycle", reason=rng.choice(RECYCLE_REASONS))
    elif plan == "trashed":
        act("status", start, stage="trash", reason=rng.choice(TRASH_REASONS))
    elif plan == "unreached":
        gave_up = act("status", maybe_call(start), stage="could_not_reach")
        assert gave_up is not None
        lead.back = next(c for c in CYCLES if c >= gave_up + RETRY)
        if rng.random() < 0.6:
            act("status", maybe_call(lead.back), stage="sales_accepted")
    elif plan == "opportunity":
        accepted = act("status", start, stage="sales_accepted") if rng.random() < 0.5 else None
        opened = act("open", accepted or start)
        draw = rng.random()
        if opened is not None and draw < 0.75:
            act("close", opened, won=draw < 0.45, amount=rng.randrange(10, 160) * 500)
    elif plan == "closed":
        won = rng.random() < 0.6
        act("close", start, won=won, amount=rng.randrange(10, 160) * 500)
    return out


# --- the sales teams' business time, counted here --------------------------------------

@dataclass(frozen=True)
class Hours:
    """A [calendars] table as this test counts it: Monday to Friday, one shift a day."""

    zone: str
    opens: time
    closes: time
    days_off: frozenset[date] = frozenset()

    def shifts(self, first: date, days: int) -> Iterator[tuple[datetime, datetime]]:
        """(opening, closing) in UTC of each working day from local day ``first`` on."""
        zone = ZoneInfo(self.zone)
        for offset in range(days):
            day = first + timedelta(days=offset)
            if day.weekday() < 5 and day not in self.days_off:
                yield (datetime.combine(day, self.opens, zone).astimezone(UTC),
                       datetime.combine(day, self.closes, zone).astimezone(UTC))

    def day_of(self, at: datetime) -> date:
        return at.astimezone(ZoneInfo(self.zone)).date()

    def between(self, start: datetime, end: datetime) -> float:
        """Business hours from ``start`` to ``end``."""
        days = (self.day_of(end) - self.day_of(start)).days + 1
        return sum(max(0.0, (min(close, end) - max(open_, start)).total_seconds())
                   for open_, close in self.shifts(self.day_of(start), days)) / 3600

    def after(self, start: datetime, hours: float) -> datetime:
        """``hours`` business hours after ``start``."""
        left = timedelta(hours=hours)
        for open_, close in self.shifts(self.day_of(start), 30):
            open_ = max(open_, start)
            if open_ < close:
                if close - open_ >= left:
                    return open_ + left
                left -= close - open_
        raise AssertionError("no business time within 30 days")

    def close_of_day(self, start: datetime, n: int) -> datetime:
        """The close of the n-th working day after the day ``start`` falls on."""
        return list(self.shifts(self.day_of(start) + timedelta(days=1), 30))[n - 1][1]


US_HOURS = Hours("America/New_York", time(9), time(17), frozenset({date(2027, 2, 12)}))
UK_HOURS = Hours("Europe/London", time(8, 30), time(17, 30))

CALENDARS = """
[calendars.sales_us]
timezone = "America/New_York"
hours = "09:00-17:00"
days_off = [2027-02-12]            # a company day off

[calendars.sales_uk]
timezone = "Europe/London"
hours = "08:30-17:30"

[sla]
calendar = "sales_us"

[sla.first_touch]
within = "4 business hours"
on_breach = ["task"]

[sla.decision]
within = "2 business days"

[process.could_not_reach]
retry_after = "2 days"

[report]
mql_per_quarter = 1300
follow_up_p90_hours = 6
"""
MQL_PER_QUARTER, FOLLOW_UP_P90, RATE_MOVE, RATE_MOVE_MIN = 1300, 6, 0.25, 10


def test_the_calendars_count_as_worked_out_by_hand() -> None:
    # Wave A in New York: Monday 10:00 local, four hours → 14:00 (19:00 UTC); two
    # business days → Wednesday's close, 17:00 (22:00 UTC).
    assert US_HOURS.after(WAVE_A, 4) == datetime(2027, 2, 1, 19, 0, tzinfo=UTC)
    assert US_HOURS.close_of_day(WAVE_A, 2) == datetime(2027, 2, 3, 22, 0, tzinfo=UTC)
    # In London: 15:00-17:30 (2.5 h), Tuesday 08:30-10:00 (1.5 h).
    assert UK_HOURS.after(WAVE_A, 4) == datetime(2027, 2, 2, 10, 0, tzinfo=UTC)
    # Wave B in New York, its Friday a day off: Thursday's close to Monday 09:30 is 0.5 h.
    assert US_HOURS.between(datetime(2027, 2, 11, 22, 0, tzinfo=UTC),
                            datetime(2027, 2, 15, 14, 30, tzinfo=UTC)) == 0.5


# --- the sandboxes, and reps acting on them through the real clients -------------------

class Now:
    """The one clock of the sandbox and the connector."""

    def __init__(self) -> None:
        self.at = WAVE_A

    def __call__(self) -> datetime:
        return self.at


@dataclass
class Desk:
    """One CRM's sandbox, the real client reps use on it, and leadsync's config."""

    config: configuration.Config
    now: Now
    client: Any
    reps: dict[str, str]
    """CRM owner id → the rep's name in [routing.reps]."""
    calendars: dict[str, Hours]
    """CRM owner id → the calendar their clocks run on."""
    emails: dict[str, int] = field(default_factory=dict)
    """A lead's email → its number in the script."""
    records: dict[int, tuple[str, str]] = field(default_factory=dict)
    """Lead number → (CRM record id, owner id)."""
    close_opens: bool = False
    """Closing a deal that was never opened passes through the opportunity status."""

    def read_records(self) -> None:
        raise NotImplementedError

    def calls(self, acts: Sequence[Act]) -> None:
        raise NotImplementedError

    def statuses(self, acts: Sequence[Act]) -> None:
        raise NotImplementedError

    def open(self, acts: Sequence[Act]) -> None:
        raise NotImplementedError

    def close(self, acts: Sequence[Act]) -> None:
        raise NotImplementedError


SF_STATUSES = {"sales_accepted": "Working - Contacted", "recycle": "Closed - Not Converted",
               "trash": "Unqualified", "could_not_reach": "Could Not Reach"}
SF_REPS = {"0058d0000000002AAA": "Avery Chen", "0058d0000000003AAA": "Jordan Patel",
           "0058d0000000004AAA": "Morgan Diaz", "0058d0000000005AAA": "Riley Okafor"}
PARTNER = "{urn:partner.soap.sforce.com}"


@dataclass
class SalesforceDesk(Desk):
    """Reps in Salesforce: tasks and statuses through sObject Collections (200 a call),
    conversions through SOAP convertLead (100 a call), opportunities closed in
    collections too."""

    opportunities: dict[int, str] = field(default_factory=dict)
    """Lead number → the opportunity its conversion made."""

    def read_records(self) -> None:
        for row in self.client.query_all("SELECT Id, Email, OwnerId FROM Lead")["records"]:
            self.records[self.emails[row["Email"]]] = (row["Id"], row["OwnerId"])

    def _collection(self, method: str, records: list[dict[str, Any]]) -> None:
        for start in range(0, len(records), 200):
            answer = self.client.restful("composite/sobjects", method=method, json={
                "allOrNone": True, "records": records[start:start + 200]})
            assert all(r["success"] for r in answer), answer

    def calls(self, acts: Sequence[Act]) -> None:
        self._collection("POST", [
            {"attributes": {"type": "Task"}, "WhoId": self.records[a.n][0],
             "OwnerId": self.records[a.n][1], "Subject": "Call", "Status": "Completed",
             "TaskSubtype": "Call", "ActivityDate": f"{a.at:%Y-%m-%d}"} for a in acts])

    def statuses(self, acts: Sequence[Act]) -> None:
        self._collection("PATCH", [
            {"attributes": {"type": "Lead"}, "id": self.records[a.n][0],
             "Status": SF_STATUSES[a.stage or ""],
             **({"Status_Reason__c": a.reason} if a.reason else {})} for a in acts])

    def open(self, acts: Sequence[Act]) -> None:
        for start in range(0, len(acts), 100):
            chunk = acts[start:start + 100]
            items = "".join(f"<urn:leadConverts><urn:leadId>{self.records[a.n][0]}</urn:leadId>"
                            "<urn:convertedStatus>Closed - Converted</urn:convertedStatus>"
                            "</urn:leadConverts>" for a in chunk)
            answer = self.client.session.post(
                f"https://{self.client.sf_instance}/services/Soap/u/{self.client.sf_version}",
                headers={"Content-Type": "text/xml", "SOAPAction": "convertLead"},
                data='<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/'
                     'envelope/" xmlns:urn="urn:partner.soap.sforce.com"><soapenv:Header>'
                     f"<urn:SessionHeader><urn:sessionId>{self.client.session_id}"
                     "</urn:sessionId></urn:SessionHeader></soapenv:Header><soapenv:Body>"
                     f"<urn:convertLead>{items}</urn:convertLead></soapenv:Body>"
                     "</soapenv:Envelope>")
            assert answer.status_code == 200, answer.text
            results = ET.fromstring(answer.text).iter(f"{PARTNER}result")
            for a, result in zip(chunk, results, strict=True):
                assert result.findtext(f"{PARTNER}success") == "true", answer.text
                self.opportunities[a.n] = result.findtext(f"{PARTNER}opportunityId") or ""

    def close(self, acts: Sequence[Act]) -> None:
        self.open([a for a in acts if a.n not in self.opportunities])
        self._collection("PATCH", [
            {"attributes": {"type": "Opportunity"}, "id": self.opportunities[a.n],
             "StageName": "Closed Won" if a.won else "Closed Lost", "Amount": a.amount}
            for a in acts])


HS_STATUSES = {"sales_accepted": "IN_PROGRESS", "recycle": "BAD_TIMING",
               "trash": "UNQUALIFIED", "could_not_reach": "ATTEMPTED_TO_CONTACT"}
HS_REPS = {"70000001": "Avery Chen", "70000002": "Jordan Patel", "70000003": "Morgan Diaz",
           "70000004": "Riley Okafor"}


@dataclass
class HubSpotDesk(Desk):
    """Reps in HubSpot: calls, contacts and deals through the batch endpoints (100 a
    call); a deal moves its contact's lifecycle stage as HubSpot's automation does."""

    deals: dict[int, str] = field(default_factory=dict)
    """Lead number → its contact's deal."""

    def read_records(self) -> None:
        for contact in self.client.crm.contacts.get_all(
                properties=["email", "hubspot_owner_id"]):
            props = contact.properties
            self.records[self.emails[props["email"]]] = (str(contact.id),
                                                          props["hubspot_owner_id"])

    def _batch(self, kind: str, verb: str, inputs: list[dict[str, Any]]) -> list[Any]:
        out = []
        for start in range(0, len(inputs), 100):
            answer = getattr(self.client.crm.objects.batch_api, verb)(
                kind, {"inputs": inputs[start:start + 100]})
            assert not getattr(answer, "errors", None), answer
            out.extend(answer.results)
        return out

    def _contacts(self, acts: Sequence[Act], **props: Any) -> None:
        self._batch("contacts", "update", [{"id": self.records[a.n][0], "properties": {
            k: v(a) if callable(v) else v for k, v in props.items()}} for a in acts])

    def calls(self, acts: Sequence[Act]) -> None:
        self._batch("calls", "create", [{"properties": {
            "hs_timestamp": a.at.isoformat().replace("+00:00", "Z"), "hs_call_title": "Call",
            "hs_call_status": "COMPLETED", "hubspot_owner_id": self.records[a.n][1]},
            "associations": [{"to": {"id": self.records[a.n][0]}, "types": [{
                "associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 194}]}]}
            for a in acts])

    def statuses(self, acts: Sequence[Act]) -> None:
        for with_reason in (True, False):
            chosen = [a for a in acts if bool(a.reason) == with_reason]
            if chosen:
                self._contacts(chosen, hs_lead_status=lambda a: HS_STATUSES[a.stage],
                               **({"recycle_reason": lambda a: a.reason} if with_reason
                                  else {}))

    def _new_deals(self, acts: Sequence[Act], stage: Any) -> None:
        made = self._batch("deals", "create", [{"properties": {
            "dealname": f"Deal {a.n}", "pipeline": "default", "dealstage": stage(a),
            "hubspot_owner_id": self.records[a.n][1],
            **({"amount": str(a.amount)} if a.amount is not None else {})},
            "associations": [{"to": {"id": self.records[a.n][0]}, "types": [{
                "associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 3}]}]}
            for a in acts])
        by_name = {deal.properties["dealname"]: str(deal.id) for deal in made}
        self.deals.update({a.n: by_name[f"Deal {a.n}"] for a in acts})

    def open(self, acts: Sequence[Act]) -> None:
        self._contacts(acts, hs_lead_status="OPEN_DEAL", lifecyclestage="opportunity")
        self._new_deals(acts, lambda a: "appointmentscheduled")

    def close(self, acts: Sequence[Act]) -> None:
        def stage(a: Act) -> str:
            return "closedwon" if a.won else "closedlost"

        known = [a for a in acts if a.n in self.deals]
        if known:
            self._batch("deals", "update", [{"id": self.deals[a.n], "properties": {
                "dealstage": stage(a), "amount": str(a.amount)}} for a in known])
        fresh = [a for a in acts if a.n not in self.deals]
        if fresh:
            self._new_deals(fresh, stage)
            self._contacts(fresh, lifecyclestage="opportunity")
        won = [a for a in acts if a.won]
        if won:
            self._contacts(won, lifecyclestage="customer")


@pytest.fixture(params=["salesforce", "hubspot"])
def desk(request: pytest.FixtureRequest, tmp_path: Path,
         monkeypatch: pytest.MonkeyPatch) -> Iterator[Desk]:
    now = Now()
    if request.param == "salesforce":
        yield from _salesforce(tmp_path, now, monkeypatch)
    else:
        yield from _hubspot(tmp_path, now, monkeypatch)


def _edit(text: str, edits: dict[str, str]) -> str:
    for old, new in edits.items():
        assert old in text, old
        text = text.replace(old, new)
    return text


def _salesforce(tmp_path: Path, now: Now, monkeypatch: pytest.MonkeyPatch) -> Iterator[Desk]:
    from simple_salesforce import Salesforce

    from connector.sandbox.salesforce import SalesforceSandbox
    from connector.sandbox.salesforce.objects import DEFAULT_LEAD_STATUSES
    from connector.transport import make_session

    monkeypatch.setenv("SF_PASSWORD", "sandbox")
    with SalesforceSandbox(state_path=tmp_path / "org.json", clock=now, lead_statuses=[
            *DEFAULT_LEAD_STATUSES, "Could Not Reach", "Unqualified"]) as sandbox:
        text = _edit(config_text(tmp_path, state_url=f"sqlite:///{tmp_path}/s.db",
                                 marketing_url=f"sqlite:///{tmp_path}/m.db",
                                 route_to=sandbox.address), {
            '# reason_field = "Status_Reason__c"': 'reason_field = "Status_Reason__c"',
            '"Closed - Not Converted" = "recycle"': '"Closed - Not Converted" = "recycle"\n'
                                                    '"Could Not Reach" = "could_not_reach"\n'
                                                    '"Unqualified" = "trash"',
            "daily_cap = 25": "",
            'name = "Avery Chen"': 'name = "Avery Chen"\ncalendar = "sales_us"',
            'name = "Jordan Patel"': 'name = "Jordan Patel"\ncalendar = "sales_us"',
            'name = "Morgan Diaz"': 'name = "Morgan Diaz"\ncalendar = "sales_us"',
            'name = "Riley Okafor"': 'name = "Riley Okafor"\ncalendar = "sales_uk"'})
        path = tmp_path / "config.toml"
        path.write_text(text + CALENDARS, encoding="utf-8")
        client = Salesforce(username="admin@leadsync.sandbox", password="sandbox",
                            security_token="", session=make_session(sandbox.address))
        desk = SalesforceDesk(configuration.load(path), now, client, SF_REPS, {
            rep: UK_HOURS if name.startswith("Riley") else US_HOURS
            for rep, name in SF_REPS.items()}, close_opens=True)
        yield desk


HS_ROUTING = """
[routing]
fallback_owner = "70000001"

[routing.reps.avery]
id = "70000001"
name = "Avery Chen"
calendar = "sales_us"

[routing.reps.jordan]
id = "70000002"
name = "Jordan Patel"
calendar = "sales_us"

[routing.reps.morgan]
id = "70000003"
name = "Morgan Diaz"
calendar = "sales_us"

[routing.reps.riley]
id = "70000004"
name = "Riley Okafor"
calendar = "sales_uk"

[routing.pools.americas]
reps = { avery = 2, jordan = 1, morgan = 1 }

[routing.pools.emea]
reps = ["riley"]

[[routing.territories]]
name = "Americas"
pool = "americas"
country = ["US"]

[[routing.territories]]
name = "EMEA"
pool = "emea"
country = ["GB"]
"""


def _hubspot(tmp_path: Path, now: Now, monkeypatch: pytest.MonkeyPatch) -> Iterator[Desk]:
    from hubspot import HubSpot
    from hubspot.crm.properties import PropertyCreate

    from connector.sandbox.hubspot import HubSpotSandbox

    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "sandbox-token")
    # Unthrottled, as in conftest: the clock stands still within a cycle, so HubSpot's
    # ten-second window would never roll over the breach tasks of one run; the
    # adapter's pacing and 429 handling have their own tests.
    with HubSpotSandbox(state_path=tmp_path / "portal.json", clock=now,
                        search_per_second=10_000, ten_second_limit=100_000) as sandbox:
        client = HubSpot(access_token="sandbox-token", host=f"http://{sandbox.address}")
        client.crm.properties.core_api.create("contacts", PropertyCreate(
            name="recycle_reason", label="Recycle reason", type="string", field_type="text",
            group_name="contactinformation"))
        path = hubspot_example_config(tmp_path, sandbox.address, HS_ROUTING + CALENDARS)
        path.write_text(_edit(path.read_text(encoding="utf-8"), {
            "searches_per_second = 4": "searches_per_second = 5",  # HubSpot's own limit
            'crm_field = "hs_lead_status"\n': 'crm_field = "hs_lead_status"\n'
                                              'reason_field = "recycle_reason"\n',
            '"ATTEMPTED_TO_CONTACT" = "sales_accepted"':
                '"ATTEMPTED_TO_CONTACT" = "could_not_reach"'}), encoding="utf-8")
        desk = HubSpotDesk(configuration.load(path), now, client, HS_REPS, {
            rep: UK_HOURS if name.startswith("Riley") else US_HOURS
            for rep, name in HS_REPS.items()})
        yield desk


# --- playing the script ------------------------------------------------------------------

def import_wave(desk: Desk, leads: Sequence[Lead], path: Path) -> None:
    """The wave's leads into the marketing store, each with its source and campaign."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*LEAD_COLUMNS, "campaign"])
        writer.writeheader()
        for lead in leads:
            writer.writerow({**lead_row(
                lead.n, email=lead.email, first_name=f"Robin{lead.n}x",
                last_name=f"Quill{lead.n}z", company=f"Company {lead.n} Holdings",
                phone=f"+1 212 555 {lead.n:04d}" if lead.country == "US"
                else f"+44 20 7946 {lead.n:04d}",
                country="United States" if lead.country == "US" else "United Kingdom",
                state="CA" if lead.country == "US" else "", website=f"https://company{lead.n}"
                ".example", lead_source=lead.source or ""), "campaign": lead.campaign or ""})
    store = EmbeddedMarketingStore(desk.config.resolve_url(desk.config.marketing.url))
    try:
        report = store.import_file(path)
    finally:
        store.close()
    assert report.created == len(leads) and not report.rejected, report


def play(desk: Desk, leads: list[Lead], acts: list[Act], tmp_path: Path) -> None:
    """The waves, the reps' acts and the cycles, in the order of their times."""
    desk.emails = {lead.email: lead.n for lead in leads}
    by_time: dict[datetime, list[Act]] = {}
    for a in acts:
        by_time.setdefault(a.at, []).append(a)
    assert not set(by_time) & set(CYCLES)
    for at in sorted({*by_time, *CYCLES}):
        desk.now.at = at
        if at in (WAVE_A, WAVE_B):
            import_wave(desk, [lead for lead in leads if lead.wave == at],
                        tmp_path / f"wave-{at:%d}.csv")
        if at in CYCLES:
            summary = run_once(desk.config, clock=desk.now)
            assert summary.status == "ok", summary.error
            if at in (WAVE_A, WAVE_B):
                desk.read_records()
            continue
        for kind, doing in (("call", desk.calls), ("status", desk.statuses),
                            ("open", desk.open), ("close", desk.close)):
            chosen = [a for a in by_time[at] if a.kind == kind]
            if chosen:
                doing(chosen)


# --- the test's own book ------------------------------------------------------------------

class Step(NamedTuple):
    """A step of a lead through the process, as marketing's stage history should hold it."""

    at: datetime
    stage: str
    amount: float | None = None
    reason: str | None = None


@dataclass
class Clock:
    """An SLA clock as the test expects leadsync to have kept it."""

    kind: str
    n: int
    owner: str
    start: datetime
    due: datetime
    met: datetime | None
    breached: datetime | None
    task: bool


@dataclass
class Book:
    """What the script did, as the report should tell it."""

    leads: dict[int, Lead]
    steps: dict[int, list[Step]]
    owner: dict[int, str]
    clocks: list[Clock]
    names: dict[str, str]
    calendars: dict[str, Hours]

    def facts(self, n: int, by: str | None) -> str:
        lead = self.leads[n]
        value = {None: "all", "source": lead.source, "campaign": lead.campaign,
                 "rep": self.names.get(self.owner[n], self.owner[n])}[by]
        return value or "(none)"

    def handed(self, n: int) -> datetime:
        return self.steps[n][0].at

    def follow_up(self, n: int) -> float | None:
        first = min((c for c in self.clocks if c.n == n and c.kind == "first_touch"),
                    key=lambda c: c.start)
        if first.met is None:
            return None
        return self.calendars[first.owner].between(first.start, first.met)


def book(desk: Desk, leads: list[Lead], acts: list[Act]) -> Book:
    """Each lead's steps and SLA clocks, from the script and the cycles' times alone."""
    steps: dict[int, list[Step]] = {}
    clocks: list[Clock] = []
    mine: dict[int, list[Act]] = {}
    for a in sorted(acts):
        mine.setdefault(a.n, []).append(a)
    for lead in leads:
        lead_steps = [Step(lead.wave, "mql")]
        for a in mine.get(lead.n, []):
            if a.kind == "status":
                reason = a.reason if a.stage in ("recycle", "trash") else None
                lead_steps.append(Step(a.at, a.stage or "", None, reason))
            elif a.kind == "open":
                lead_steps.append(Step(a.at, "opportunity"))
            elif a.kind == "close":
                opened = any(b.kind == "open" for b in mine[lead.n])
                if desk.close_opens and not opened:
                    lead_steps.append(Step(a.at, "opportunity", a.amount))
                lead_steps.append(Step(a.at, "won" if a.won else "lost", a.amount))
            if a.stage == "could_not_reach" and lead.back is not None:
                lead_steps.append(Step(lead.back, "mql"))
        steps[lead.n] = sorted(lead_steps, key=lambda s: s.at)
        owner = desk.records[lead.n][1]
        hours = desk.calendars[owner]
        for start in [lead.wave, *([lead.back] if lead.back else [])]:
            later = [a for a in mine.get(lead.n, []) if a.at >= start]
            touch = later[0].at if later else None
            decided = next((a.at for a in later if a.kind != "call"), None)
            clocks.append(_clock("first_touch", lead.n, owner, start,
                                 hours.after(start, 4), touch, task_on_breach=True))
            clocks.append(_clock("decision", lead.n, owner, start,
                                 hours.close_of_day(start, 2), decided, task_on_breach=False))
    return Book({lead.n: lead for lead in leads}, steps,
                {lead.n: desk.records[lead.n][1] for lead in leads}, clocks, desk.reps,
                desk.calendars)


def _clock(kind: str, n: int, owner: str, start: datetime, due: datetime,
           met: datetime | None, *, task_on_breach: bool) -> Clock:
    """Breached at the first cycle at or after its deadline unless met by then; the
    breach's task is made only when the clock is still unmet at that cycle."""
    assert due not in CYCLES  # no cycle lands on a deadline: nothing hangs on >= or >
    seen = next((c for c in CYCLES if c >= due), None)
    breached = seen if seen is not None and (met is None or met > due) else None
    task = task_on_breach and breached is not None and (met is None or met > breached)
    return Clock(kind, n, owner, start, due, met, breached, task)


# --- the figures, worked out from the book ------------------------------------------------

def nearest_rank(values: Sequence[float], p: int) -> float | None:
    """The smallest value with at least p% of the values at or below it."""
    ordered = sorted(values)
    for k, value in enumerate(ordered, start=1):
        if k * 100 >= p * len(ordered):
            return value
    return None


def hours(value: float | None) -> Any:
    """A figure in hours: the report gives them to the half minute (two decimals)."""
    return None if value is None else pytest.approx(value, abs=0.006)


def rate(top: int, bottom: int) -> float | None:
    return top / bottom if bottom else None


def cohort(b: Book, since: datetime, until: datetime, by: str | None = None
           ) -> list[dict[str, Any]]:
    groups: dict[str, list[int]] = {}
    for n in b.leads:
        if since <= b.handed(n) < until:
            groups.setdefault(b.facts(n, by), []).append(n)
    rows = []
    for key, members in sorted(groups.items()):
        count = Counter[str]()
        revenue = 0.0
        for n in members:
            after = {s.stage for s in b.steps[n]}  # every step is at or after the hand-off
            won, lost = "won" in after, "lost" in after
            opportunity = won or lost or "opportunity" in after
            count.update(mql=1, sales_accepted=opportunity or "sales_accepted" in after,
                         opportunity=opportunity, won=won, lost=lost)
            revenue += sum(s.amount or 0 for s in b.steps[n] if s.stage == "won")
        times = [h for n in members if (h := b.follow_up(n)) is not None]
        rows.append({
            "view": "cohort", by or "group": key,
            **{step: count[step] for step in ("mql", "sales_accepted", "opportunity", "won",
                                              "lost")},
            "revenue": revenue, "revenue_per_mql": revenue / count["mql"],
            "follow_up_p50_hours": hours(nearest_rank(times, 50)),
            "follow_up_p90_hours": hours(nearest_rank(times, 90)), "followed_up": len(times),
            "sal_per_mql": rate(count["sales_accepted"], count["mql"]),
            "opportunity_per_sal": rate(count["opportunity"], count["sales_accepted"]),
            "won_per_opportunity": rate(count["won"], count["opportunity"])})
    return rows


def period(b: Book, since: datetime, until: datetime, by: str | None = None
           ) -> list[dict[str, Any]]:
    took: dict[str, dict[str, set[int]]] = {}
    revenue: Counter[str] = Counter()
    for n, lead_steps in b.steps.items():
        for s in lead_steps:
            if since <= s.at < until and s.stage in ("mql", "sales_accepted", "opportunity",
                                                      "won", "lost"):
                took.setdefault(b.facts(n, by), {}).setdefault(s.stage, set()).add(n)
                if s.stage == "won":
                    revenue[b.facts(n, by)] += s.amount or 0
    return [{"view": "period", by or "group": key,
             **{step: len(leads.get(step, ())) for step in ("mql", "sales_accepted",
                                                            "opportunity", "won", "lost")},
             "revenue": float(revenue[key])} for key, leads in sorted(took.items())]


def reasons(b: Book, since: datetime, until: datetime) -> list[tuple[str, str, int]]:
    gave: dict[tuple[str, str], set[int]] = {}
    for n, lead_steps in b.steps.items():
        for s in lead_steps:
            if s.stage in ("recycle", "trash") and since <= s.at < until:
                gave.setdefault((s.stage, s.reason or "(no reason given)"), set()).add(n)
    return sorted((stage, reason, len(leads)) for (stage, reason), leads in gave.items())


def flow(b: Book, since: datetime, until: datetime) -> list[tuple[str, str, int]]:
    moves: Counter[tuple[str, str]] = Counter()
    for lead_steps in b.steps.values():
        for before, s in zip(["(new)", *(s.stage for s in lead_steps)], lead_steps,
                             strict=False):
            if since <= s.at < until:
                moves[(before, s.stage)] += 1
    return sorted((a, c, k) for (a, c), k in moves.items())


def stage_times(b: Book, since: datetime, until: datetime) -> list[dict[str, Any]]:
    stays: dict[str, list[float]] = {}
    staying: Counter[str] = Counter()
    for lead_steps in b.steps.values():
        for k, s in enumerate(lead_steps):
            if not since <= s.at < until:
                continue
            if k + 1 == len(lead_steps):
                staying[s.stage] += 1
            else:
                stays.setdefault(s.stage, []).append(
                    (lead_steps[k + 1].at - s.at).total_seconds() / 3600)
    return [{"stage": stage, "left": len(stays.get(stage, [])),
             "median_hours": hours(nearest_rank(stays.get(stage, []), 50)),
             "p90_hours": hours(nearest_rank(stays.get(stage, []), 90)),
             "still_there": staying[stage]}
            for stage in sorted({*stays, *staying})]


def compliance(b: Book, since: datetime, until: datetime, of: str = "rep",
               weekly: bool = True) -> list[dict[str, Any]]:
    """First-touch clocks that came due (met or breached) in the period, per rep or
    team, and per week or for the whole period."""
    spans = weeks(since, until) if weekly else [("", since, until)]
    tally: dict[tuple[str, str], list[int]] = {}
    for c in b.clocks:
        if c.kind != "first_touch" or (c.met is None and c.breached is None):
            continue
        who = (b.names.get(c.owner, c.owner) if of == "rep"
               else "Americas" if b.leads[c.n].country == "US" else "EMEA")
        for label, start, end in spans:
            if start <= c.due < end:
                counts = tally.setdefault((who, label), [0, 0])
                counts[0] += 1
                counts[1] += c.met is not None and c.met <= c.due
    return [{of: who, **({"week": label} if weekly else {}), "due": due,
             "in_time": ok, "compliance": ok / due}
            for (who, label), (due, ok) in sorted(tally.items())]


def breaches(b: Book, since: datetime, until: datetime) -> list[dict[str, Any]]:
    out: dict[str, Counter[str]] = {}
    for c in b.clocks:
        if c.breached is not None and since <= c.breached < until:
            name = {"first_touch": "first touch", "decision": "decision"}[c.kind]
            out.setdefault(name, Counter()).update(breached=1, **({"task": 1} if c.task else {}))
    return [{"clock": name, **counts} for name, counts in sorted(out.items())]


def targets(b: Book, since: datetime, until: datetime) -> list[dict[str, Any]]:
    """Marketing's MQLs against the quarter's target prorated to the days; sales' p90."""
    handed = [n for n in b.leads if since <= b.handed(n) < until]
    due = MQL_PER_QUARTER * (until - since).days / (365.25 / 4)
    # the history is in 2027, after today: an untouched lead may yet be touched in time,
    # so the target is judged on the touched ones
    touched = [h for n in handed if (h := b.follow_up(n)) is not None]
    p90 = nearest_rank(touched, 90)
    assert p90 is not None
    within = sum(1 for h in touched if h <= FOLLOW_UP_P90)
    return [{"team": "marketing", "target": "MQLs", "agreed": round(due, 1),
             "delivered": len(handed), "share": pytest.approx(len(handed) / due),
             "met": len(handed) >= due},
            {"team": "sales", "target": "follow-up p90 (business hours)",
             "agreed": FOLLOW_UP_P90, "delivered": hours(p90),
             "share": pytest.approx(within / len(touched)), "untouched": 0,
             "met": p90 <= FOLLOW_UP_P90}]


def warnings(now: dict[str, Any], before: dict[str, Any]) -> list[str]:
    out = []
    for name, top, bottom in (("sal_per_mql", "sales_accepted", "mql"),
                              ("opportunity_per_sal", "opportunity", "sales_accepted"),
                              ("won_per_opportunity", "won", "opportunity")):
        if now[bottom] < RATE_MOVE_MIN or before[bottom] < RATE_MOVE_MIN:
            continue
        was, is_ = before[top] / before[bottom], now[top] / now[bottom]
        if abs(is_ - was) >= RATE_MOVE * was:
            out.append(f"{name.replace('_per_', ' / ')} moved from {was:.0%} "
                       f"({before[top]}/{before[bottom]}) to {is_:.0%} ({now[top]}/"
                       f"{now[bottom]}) against the period before: time to revisit the MQL "
                       "definition?")
    return out


# --- the test -------------------------------------------------------------------------------

FIGURES = {"since", "until", "by", "per", "cohort", "period", "reasons", "flow", "weekly",
           "follow_up_hours", "sla", "sla_by_rep", "sla_by_team", "stage_times", "breaches",
           "targets", "warnings"}
"""The JSON report's keys, each checked in ``check``: a new figure needs its check there."""


def weeks(since: datetime, until: datetime) -> list[tuple[str, datetime, datetime]]:
    out = []
    while since < until:
        out.append((f"{since:%Y-%m-%d}", since, min(since + timedelta(days=7), until)))
        since += timedelta(days=7)
    return out


def spans(since: datetime, until: datetime, per: str | None
          ) -> list[tuple[str, datetime, datetime]]:
    """--period: weeks from --since, or calendar months or quarters cut to the range."""
    if per is None:
        return [("", since, until)]
    if per == "week":
        return weeks(since, until)
    months = {"month": 1, "quarter": 3}[per]
    out, start = [], since
    while start < until:
        first = (start.month - 1) // months * months + 1
        following = date(start.year + (first + months > 12), (first + months - 1) % 12 + 1, 1)
        end = min(datetime.combine(following, time(), UTC), until)
        out.append((f"{start:%Y-%m}" if per == "month"
                    else f"{start.year}-Q{(first + 2) // 3}", start, end))
        start = end
    return out


def report(desk: Desk, since: datetime, until: datetime, *options: str) -> str:
    shown = CliRunner().invoke(app, ["report", "--since", f"{since:%Y-%m-%d}", "--until",
                                     f"{until:%Y-%m-%d}", *options,
                                     "--config", str(desk.config.source)])
    assert shown.exit_code == 0, shown.output
    return shown.output


def check(desk: Desk, b: Book, since: datetime, until: datetime, by: str | None = None,
          per: str | None = None) -> dict[str, Any]:
    """`leadsync report --format json` for these options, figure by figure against the
    book; returns it."""
    options = [*(["--by", by] if by else []), *(["--period", per] if per else [])]
    shown = json.loads(report(desk, since, until, *options, "--format", "json"))
    assert set(shown) == FIGURES
    assert (shown["since"], shown["until"], shown["by"], shown["per"]) == (
        since.isoformat(), until.isoformat(), by, per)
    cuts = spans(since, until, per)
    assert shown["cohort"] == [{**({"period": label} if per else {}), **row}
                               for label, start, end in cuts
                               for row in cohort(b, start, end, by)]
    assert shown["period"] == [{**({"period": label} if per else {}), **row}
                               for label, start, end in cuts
                               for row in period(b, start, end, by)]
    assert sorted((r["stage"], r["reason"], r["leads"]) for r in shown["reasons"]) == (
        reasons(b, since, until))
    for stage in ("recycle", "trash"):  # most given first
        counts = [r["leads"] for r in shown["reasons"] if r["stage"] == stage]
        assert counts == sorted(counts, reverse=True)
    assert sorted((r["from"], r["to"], r["steps"]) for r in shown["flow"]) == flow(
        b, since, until)
    assert [r["steps"] for r in shown["flow"]] == sorted(
        (r["steps"] for r in shown["flow"]), reverse=True)  # the widest arrows first
    assert shown["weekly"] == [{"week": label, **row} for label, start, end in weeks(
        since, until) for row in cohort(b, start, end)]
    times = [b.follow_up(n) for n in b.leads if since <= b.handed(n) < until]
    assert shown["follow_up_hours"] == [hours(h) for h in sorted(
        h for h in times if h is not None)]
    assert shown["sla"] == compliance(b, since, until)
    assert shown["sla_by_rep"] == compliance(b, since, until, weekly=False)
    assert shown["sla_by_team"] == compliance(b, since, until, "team", weekly=False)
    assert shown["stage_times"] == stage_times(b, since, until)
    assert shown["breaches"] == breaches(b, since, until)
    assert shown["targets"] == targets(b, since, until)
    now, before = cohort(b, since, until), cohort(b, since - (until - since), since)
    assert sorted(shown["warnings"]) == sorted(
        warnings(now[0], before[0]) if now and before else [])
    return shown


def test_every_figure_of_the_report_matches_the_scripted_history(desk: Desk,
                                                                 tmp_path: Path) -> None:
    leads, acts = script()
    play(desk, leads, acts, tmp_path)
    b = book(desk, leads, acts)

    # The script is the story it was meant to be: both waves, every kind of rep.
    assert len(b.steps) == 200 and set(b.names) >= set(b.owner.values())
    assert {lead.plan for lead in leads} == set(PLANS)
    assert {s.stage for steps in b.steps.values() for s in steps} == {
        "mql", "sales_accepted", "opportunity", "won", "lost", "recycle", "trash",
        "could_not_reach"}

    # The two weeks of both waves; then each week, the second against the first.
    both = check(desk, b, SINCE, UNTIL)
    assert both["warnings"] == [] and both["breaches"]  # the weeks before had no hand-off
    check(desk, b, SINCE, UNTIL, per="week")
    second = check(desk, b, MIDDLE, UNTIL, by="campaign")
    assert [w.split(" moved")[0] for w in second["warnings"]] == ["sal / mql",
                                                                  "opportunity / sal"]
    # Calendar months, from a Monday in January to a Saturday after wave B's last step:
    # a week of five days at the end, January's part without a row.
    check(desk, b, datetime(2027, 1, 25, tzinfo=UTC), datetime(2027, 2, 20, tzinfo=UTC),
          by="rep", per="month")

    # --by source, as one CSV table: the cohort rows, then the period rows.
    table = list(csv.DictReader(io.StringIO(report(desk, SINCE, UNTIL, "--by", "source",
                                                    "--format", "csv"))))
    expected = [*cohort(b, SINCE, UNTIL, "source"), *period(b, SINCE, UNTIL, "source")]
    assert len({r["source"] for r in expected}) == 5
    assert [(r["view"], r["source"]) for r in table] == [
        (r["view"], r["source"]) for r in expected]
    for got, want in zip(table, expected, strict=True):
        assert set(got) == set(expected[0]), got
        for key in got:
            value = want.get(key)
            if value is None:
                assert got[key] == "", (key, got)
            elif isinstance(value, str):
                assert got[key] == value, (key, got)
            else:
                assert float(got[key]) == value, (key, got)


def test_the_sla_figures_count_the_periods_clocks_however_many_came_before(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ten thousand clocks are a year of a busy team's hand-offs (two clocks each): the
    report of the week after must still count that week's clocks."""
    from connector.sla.store import SlaClock, SlaStore
    from connector.state import StateStore

    monkeypatch.setenv("SF_PASSWORD", "sandbox")
    path = tmp_path / "config.toml"
    path.write_text(config_text(tmp_path, state_url=f"sqlite:///{tmp_path}/s.db",
                                marketing_url=f"sqlite:///{tmp_path}/m.db",
                                route_to="127.0.0.1:9"), encoding="utf-8")
    config = configuration.load(path)
    avery = next(rep for rep, name in SF_REPS.items() if name == "Avery Chen")

    def clock(n: int, due: datetime, met: datetime | None, breached: datetime | None,
              done: str = "[]") -> dict[str, Any]:
        return {"marketing_id": str(n), "crm": "salesforce", "crm_object": "Lead",
                "crm_id": f"00Q8d{n:013d}", "clock": "first_touch", "owner_id": avery,
                "started_at": due - timedelta(hours=4), "due_at": due, "met_at": met,
                "breached_at": breached, "closed": True, "evidence": "", "actions_done": done}

    last_year = datetime(2026, 1, 5, 14, 0, tzinfo=UTC)
    rows = [clock(n, last_year + timedelta(minutes=50 * n), last_year, None)
            for n in range(10_000)]  # met in time, all of them
    monday = datetime(2027, 2, 1, 19, 0, tzinfo=UTC)
    rows += [clock(10_001, monday, monday - timedelta(hours=1), None),
             clock(10_002, monday, monday - timedelta(hours=2), None),
             clock(10_003, monday, None, monday + timedelta(hours=3), '["task"]')]
    state = StateStore(config.resolve_url(config.state.url))
    try:
        SlaStore(state.engine)
        with state.engine.begin() as conn:
            conn.execute(SlaClock.__table__.insert(), rows)  # type: ignore[attr-defined]
    finally:
        state.close()

    shown = CliRunner().invoke(app, ["report", "--since", "2027-02-01", "--until",
                                     "2027-02-08", "--format", "json", "--config", str(path)])
    assert shown.exit_code == 0, shown.output
    figures = json.loads(shown.output)
    assert figures["breaches"] == [{"clock": "first touch", "breached": 1, "task": 1}]
    assert figures["sla"] == [{"rep": "Avery Chen", "week": "2027-02-01", "due": 3,
                               "in_time": 2, "compliance": 2 / 3}]
