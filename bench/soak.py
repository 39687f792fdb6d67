"""Ten minutes of the daemon against both CRMs: faults, a stream of leads, reps at work.

`leadsync sync` (the daemon, not --once) runs two pipelines from one marketing store,
Salesforce and HubSpot, every minute (cron "* * * * *"), against the two sandboxes served
by this process, with 5% of their API requests faulted: connections dropped before the
request is served, 503s, 502s, and writes that land but lose their answer (``drop_after``).
Meanwhile, every 20 s marketing imports new leads and changes earlier ones (a new activity,
a new title, the same address in other case and spacing), and a few are the same person
again under another address of one mailbox (gmail dots, googlemail.com); every 30 s reps
act through the real clients (simple-salesforce, hubspot-api-client): accept, recycle or
disqualify with a reason, two status steps between two runs, completed calls logged. Then
the daemon is stopped with SIGTERM, `sync --once` drains what is left, and the CRMs, the
state databases and the marketing store are read back:

- duplicates: a person (as the bench made them) on two records of one CRM;
- lost leads: qualified leads without a record (held for review or refused: apart);
- tasks: every lead on a record has its hand-off task there, once;
- verdicts: every status a rep set is in the lead's stage history, in order, with its
  reason, and the lead (and every other lead on that record) ends in the last one's stage;
- memory: the daemon's RSS after its last run within 10% of its RSS after warm-up (both
  sampled while no run is in progress).

`python -m bench.soak` runs ten minutes and records the figures (soak_*);
tests/e2e/test_bench_soak_smoke.py runs about a minute of the same harness.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import psutil
import requests
import urllib3
from hubspot import HubSpot
from hubspot.crm.objects import SimplePublicObjectInput, SimplePublicObjectInputForCreate
from hubspot.crm.properties import PropertyCreate
from prometheus_client.parser import text_string_to_metric_families
from simple_salesforce import Salesforce
from sqlmodel import Session, col, select

from bench.configs import as_pipeline, free_port
from connector import config as configuration
from connector.adapters.marketing_store import EmbeddedMarketingStore
from connector.records import Lead
from connector.sandbox.faults import Faults
from connector.sandbox.hubspot import HubSpotSandbox
from connector.sandbox.salesforce import SalesforceSandbox
from connector.scoring import qualify, score
from connector.state import Link, StateStore, TaskOwed
from connector.transport import make_session

ROOT = Path(__file__).resolve().parents[1]
HUBSPOT_EXAMPLE = ROOT / "examples" / "config-hubspot.toml"
COLUMNS = ["email", "first_name", "last_name", "company", "title", "phone", "country", "state",
           "city", "lead_source", "activities"]
FIRST = ["Avery", "Blake", "Casey", "Dana", "Eli", "Farah", "Gina", "Hugo", "Ines", "Jonas",
         "Kira", "Liam", "Mona", "Nils", "Olga", "Priya", "Quinn", "Rosa", "Sven", "Tara",
         "Umar", "Vera", "Wade", "Xena", "Yuri", "Zoe", "Anton", "Bianca", "Carlos", "Dmitri",
         "Elena", "Felix", "Greta", "Hana", "Ivan", "Julia", "Kenji", "Lena", "Marco", "Nora"]
LAST = ["Abbott", "Bergstrom", "Castillo", "Dubois", "Eriksen", "Fitzgerald", "Gallagher",
        "Hoffmann", "Iversen", "Jankowski", "Kowalczyk", "Lindqvist", "Moreau", "Nakamura",
        "Oyelaran", "Petrovic", "Quintero", "Rasmussen", "Sandoval", "Takahashi", "Underwood",
        "Valentini", "Whitfield", "Xiong", "Yamamoto", "Zielinski", "Achterberg", "Bellweather",
        "Cavendish", "Drummond", "Esposito", "Fairbanks", "Grimaldi", "Halvorsen", "Ingram",
        "Jefferies", "Kavanagh", "Lombardi", "Mackenzie", "Northcott"]
FIRMS = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Stark", "Wayne",
         "Wonka", "Tyrell", "Cyberdyne", "Soylent", "Aperture", "Monarch", "Oscorp", "Gekko",
         "Dunder", "Kramerica", "Nakatomi", "Weyland", "Zorg", "Virtucon", "Bluth", "Sterling",
         "Prestige", "Massive", "Sirius", "Primatech", "Rekall", "Octan", "Duff", "Krusty",
         "Ollivander", "Genco", "Bizco", "Spacely", "Cogswell", "Gringott", "Pendant",
         "Wernham"]
"""Employers: names far apart, so two people are alike by who they are, not by a digit."""
TITLES = ["VP Sales", "Head of Revenue", "Sales Director", "CRO", "Head of Growth",
          "Director of Demand Generation", "RevOps Lead", "Chief Commercial Officer"]
REASONS = ["No budget this year", "Hiring freeze", "Went with a competitor",
           "Not the decision maker", "Timing: next fiscal year"]

SF_OPEN, SF_ACCEPT, SF_RECYCLE = "Open - Not Contacted", "Working - Contacted", \
    "Closed - Not Converted"
HS_OPEN = "NEW"


# --- marketing: the people and the stream of rows --------------------------------------------

@dataclass
class Person:
    """One human being as the bench made them: every address here is theirs."""

    n: int
    first: str
    last: str
    company: str
    phone: str
    title: str
    email: str
    qualifies: bool
    aliases: list[str] = field(default_factory=list)
    """Other addresses of the same mailbox, each imported as a marketing lead of its own."""

    @property
    def gmail(self) -> bool:
        return self.email.endswith("@gmail.com")


def stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


class Stream:
    """Marketing at work: new leads, changed ones, the same person under another address."""

    def __init__(self, store_url: str, workdir: Path, chance: random.Random) -> None:
        self.store_url = store_url
        self.workdir = workdir
        self.chance = chance
        self.people: dict[int, Person] = {}
        self.imports = 0
        self.rows = 0
        self.rejected: list[str] = []
        self.counts: Counter[str] = Counter()
        self.owners: dict[str, int] = {}
        """Every address the bench gave out → its person."""

    def person_of(self, email: str | None) -> int | None:
        """Whose address this is (as the store keeps it: trimmed, lower-cased)."""
        return self.owners.get((email or "").strip().lower())

    def new_person(self) -> Person:
        n = len(self.people)
        first, last = FIRST[n % len(FIRST)], LAST[(n // len(FIRST) + n) % len(LAST)]
        firm = self.chance.choice(FIRMS)
        gmail = self.chance.random() < 0.25
        email = (f"{first}.{last}.{n}@gmail.com" if gmail
                 else f"{first}.{last}{n}@{firm}.example").lower()
        person = Person(n, first, last, f"{firm} Ltd", f"+1 415 555 {n % 10000:04d}",
                        self.chance.choice(TITLES), email,
                        qualifies=self.chance.random() >= 0.1)
        self.people[n] = person
        self.owners[email] = n
        return person

    def row(self, person: Person, activities: str, email: str | None = None) -> dict[str, str]:
        return {"email": email or person.email, "first_name": person.first,
                "last_name": person.last, "company": person.company, "title": person.title,
                "phone": person.phone, "country": "United States", "state": "CA",
                "city": "San Francisco", "lead_source": "Web", "activities": activities}

    def first_batch(self, count: int) -> None:
        self.write([self.arrival(self.new_person()) for _ in range(count)])

    def arrival(self, person: Person) -> dict[str, str]:
        """A new lead: a form fill on the pricing page, or (one in ten) a blog visit only,
        which stays under the threshold until a later change brings a form fill."""
        now = datetime.now(UTC)
        self.counts["new"] += 1
        if person.qualifies:
            return self.row(person, f"form_fill|{stamp(now)}|Contact sales;"
                                    f"page_visit|{stamp(now - timedelta(minutes=5))}|/pricing")
        return self.row(person, f"page_visit|{stamp(now)}|/blog/lead-routing")

    def tick(self, new: int, changed: int) -> None:
        """One import: ``new`` people, ``changed`` earlier ones, one person again."""
        now = datetime.now(UTC)
        rows = [self.arrival(self.new_person()) for _ in range(new)]
        known = list(self.people.values())
        for person in self.chance.sample(known, min(changed, len(known))):
            kind = self.chance.choice(["activity", "activity", "title", "case"])
            if not person.qualifies:  # a blog reader comes back and asks for a demo
                person.qualifies = True
                self.counts["now qualifies"] += 1
                rows.append(self.row(person, f"form_fill|{stamp(now)}|Request a demo;"
                                             f"page_visit|{stamp(now)}|/demo"))
            elif kind == "activity":
                self.counts["new activity"] += 1
                rows.append(self.row(person, f"email_click|{stamp(now)}|Webinar "
                                             f"{self.imports}"))
            elif kind == "title":
                self.counts["new title"] += 1
                person.title = self.chance.choice([t for t in TITLES if t != person.title])
                rows.append(self.row(person, ""))
            else:  # the store folds case and spacing: the same lead, changed
                self.counts["other case"] += 1
                rows.append(self.row(person, f"page_visit|{stamp(now)}|/pricing",
                                     email=f"  {person.email.upper()} "))
        twin = self.chance.choice([p for p in known if p.gmail and not p.aliases] or [None])
        if twin is not None:  # the same mailbox under another spelling: a lead of its own
            local = twin.email.split("@")[0]
            alias = (f"{local.replace('.', '')}@gmail.com" if self.imports % 2
                     else f"{local}@googlemail.com")
            twin.aliases.append(alias)
            self.owners[alias] = twin.n
            twin.qualifies = True
            self.counts["same person again"] += 1
            rows.append(self.row(twin, f"form_fill|{stamp(now)}|Contact sales", email=alias))
        self.write(rows)

    def write(self, rows: list[dict[str, str]]) -> None:
        self.imports += 1
        path = self.workdir / f"import-{self.imports:03d}.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
        store = EmbeddedMarketingStore(self.store_url)
        try:
            report = store.import_file(path)
        finally:
            store.close()
        self.rows += len(rows)
        self.rejected.extend(f"{path.name} line {r.line}: {r.field}: {r.reason}"
                             for r in report.rejected)


# --- reps: verdicts and calls through the real clients ----------------------------------------

@dataclass
class Verdict:
    crm: str
    record: str
    key: str
    """The record's leadsync key: the marketing id of the lead it was made for."""
    status: str
    stage: str
    reason: str | None
    at: datetime


T = TypeVar("T")
RETRYABLE = {429, 500, 502, 503, 504}


class Reps:
    """Sales at work. A record is judged in one CRM only (even keys in Salesforce, odd in
    HubSpot), and only once it is in both, so a lead's stage is decided by one CRM's reps."""

    def __init__(self, sf_sandbox: SalesforceSandbox, hs_sandbox: HubSpotSandbox,
                 sf_stages: dict[str, str], hs_stages: dict[str, str],
                 chance: random.Random) -> None:
        self.sf_sandbox, self.hs_sandbox = sf_sandbox, hs_sandbox
        self.sf_stages, self.hs_stages = sf_stages, hs_stages
        self.chance = chance
        self.sf = Salesforce(username="admin@leadsync.sandbox", password="sandbox",
                             security_token="", session=make_session(sf_sandbox.address))
        self.hs = HubSpot(access_token=hs_sandbox.token, host=hs_sandbox.base_url)
        self.ledger: list[Verdict] = []
        self.last: dict[tuple[str, str], str] = {}
        self.calls = 0
        self.faults_met = 0
        self.ticks = 0

    def attempt(self, what: str, call: Callable[[], T],
                landed: Callable[[], bool] | None = None) -> T | None:
        """One call through a client, again after an injected fault. A connection lost
        on a create may have landed (``drop_after``): ``landed`` asks the sandbox first."""
        for _ in range(12):
            try:
                return call()
            except Exception as exc:  # the two clients raise their own classes
                status = getattr(exc, "status", None)
                lost = isinstance(exc, (requests.ConnectionError, urllib3.exceptions.HTTPError,
                                        ConnectionError))
                if status not in RETRYABLE and not lost:
                    raise
                self.faults_met += 1
                if lost and landed is not None and landed():
                    return None
                time.sleep(2.0 if status == 429 else 0.3)
        raise RuntimeError(f"{what}: still failing after 12 attempts")

    def prepare(self) -> None:
        """The HubSpot admin's property where reps say why (as tests/e2e/test_sla_hubspot)."""
        self.attempt("create recycle_reason", lambda: self.hs.crm.properties.core_api.create(
            "contacts", PropertyCreate(name="recycle_reason", label="Recycle reason",
                                       type="string", field_type="text",
                                       group_name="contactinformation")),
            landed=lambda: "recycle_reason" in self.hs_sandbox.portal.properties["contacts"])

    def act(self) -> None:
        self.ticks += 1
        sf_records = {r["Leadsync_Id__c"]: r for r in self.sf_sandbox.records("Lead")
                      if r.get("Leadsync_Id__c")}
        hs_records = {c["properties"].get("leadsync_id"): c
                      for c in self.hs_sandbox.records("contacts")
                      if c["properties"].get("leadsync_id")}
        both = sorted(sf_records.keys() & hs_records.keys(), key=int)
        sf_fresh = [sf_records[k]["Id"] for k in both if int(k) % 2 == 0
                    and ("salesforce", sf_records[k]["Id"]) not in self.last]
        hs_fresh = [hs_records[k]["id"] for k in both if int(k) % 2 == 1
                    and ("hubspot", hs_records[k]["id"]) not in self.last]
        sf_keys = {r["Id"]: k for k, r in sf_records.items()}
        hs_keys = {c["id"]: k for k, c in hs_records.items()}
        self.chance.shuffle(sf_fresh)
        self.chance.shuffle(hs_fresh)
        sf_accepted = [r for (crm, r), s in self.last.items()
                       if crm == "salesforce" and s == SF_ACCEPT]
        hs_accepted = [r for (crm, r), s in self.last.items()
                       if crm == "hubspot" and s in ("IN_PROGRESS", "ATTEMPTED_TO_CONTACT")]

        def sf_set(record: str, status: str, reason: str | None = None) -> None:
            body = {"Status": status, **({"Status_Reason__c": reason} if reason else {})}
            self.attempt(f"Lead {record} → {status}", lambda: self.sf.Lead.update(record, body))
            self.note("salesforce", record, sf_keys[record], status, self.sf_stages, reason)

        def hs_set(record: str, status: str, reason: str | None = None) -> None:
            body = {"hs_lead_status": status, **({"recycle_reason": reason} if reason else {})}
            self.attempt(f"contact {record} → {status}", lambda: self.hs.crm.contacts.basic_api
                         .update(record, SimplePublicObjectInput(properties=body)))
            self.note("hubspot", record, hs_keys[record], status, self.hs_stages, reason)

        for record in self.chance.sample(sf_accepted, min(1, len(sf_accepted))):
            sf_set(record, SF_RECYCLE, self.chance.choice(REASONS))
        for record in sf_fresh[:2]:
            sf_set(record, SF_ACCEPT)
        for record in sf_fresh[2:3]:
            sf_set(record, SF_RECYCLE, self.chance.choice(REASONS))
        for record in sf_fresh[3:4]:  # two steps between two runs: both must be heard
            sf_set(record, SF_ACCEPT)
            time.sleep(1.5)
            sf_set(record, SF_RECYCLE, self.chance.choice(REASONS))
        for record in self.chance.sample(hs_accepted, min(1, len(hs_accepted))):
            hs_set(record, "UNQUALIFIED", self.chance.choice(REASONS))
        for record in hs_fresh[:2]:
            hs_set(record, "IN_PROGRESS")
        for record in hs_fresh[2:3]:
            hs_set(record, "BAD_TIMING", self.chance.choice(REASONS))
        for record in hs_fresh[3:4]:
            hs_set(record, "UNQUALIFIED", self.chance.choice(REASONS))
        for record in hs_fresh[4:5]:
            hs_set(record, "ATTEMPTED_TO_CONTACT")
            time.sleep(1.5)
            hs_set(record, "BAD_TIMING", self.chance.choice(REASONS))
        for lead_id in self.chance.sample(sorted(sf_keys), min(2, len(sf_keys))):
            self.sf_call(lead_id)
        for contact_id in self.chance.sample(sorted(hs_keys), min(2, len(hs_keys))):
            self.hs_call(contact_id)

    def note(self, crm: str, record: str, key: str, status: str, stages: dict[str, str],
             reason: str | None) -> None:
        self.last[(crm, record)] = status
        self.ledger.append(Verdict(crm, record, key, status, stages[status], reason,
                                   datetime.now(UTC)))

    def sf_call(self, lead_id: str) -> None:
        self.calls += 1
        subject = f"Call {self.calls}: intro"
        self.attempt(subject, lambda: self.sf.Task.create({
            "WhoId": lead_id, "Subject": subject, "Status": "Completed", "TaskSubtype": "Call",
            "ActivityDate": f"{datetime.now(UTC):%Y-%m-%d}", "CallDisposition": "Connected",
            "Description": "Talked about pricing"}),
            landed=lambda: any(t.get("Subject") == subject
                               for t in self.sf_sandbox.records("Task")))

    def hs_call(self, contact_id: str) -> None:
        self.calls += 1
        title = f"Call {self.calls}: intro"
        self.attempt(title, lambda: self.hs.crm.objects.calls.basic_api.create(
            SimplePublicObjectInputForCreate(
                properties={"hs_timestamp": stamp(datetime.now(UTC)), "hs_call_title": title,
                            "hs_call_status": "COMPLETED", "hs_call_body": "Talked budget"},
                associations=[{"to": {"id": contact_id}, "types": [
                    {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 194}]}])),
            landed=lambda: any(c["properties"].get("hs_call_title") == title
                               for c in self.hs_sandbox.records("calls")))


# --- the daemon, its config and what it says ---------------------------------------------------


def replaced(text: str, replacements: dict[str, str]) -> str:
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new)
    return text


def write_config(workdir: Path, sf_address: str, hs_address: str, port: int,
                 batch_size: int) -> Path:
    """The shipped template (Salesforce, pipeline "sf") and examples/config-hubspot.toml's
    CRM, mapping, routing and scoring (pipeline "hs"), one marketing store, every minute;
    each CRM's reason field for recycles; the daemon's /metrics on ``port``."""
    shared = replaced(configuration.TEMPLATE.read_text(encoding="utf-8"), {
        'url = "sqlite:///state/leadsync.db"': f'url = "sqlite:///{workdir}/state.db"',
        'url = "sqlite:///state/marketing.db"': f'url = "sqlite:///{workdir}/marketing.db"',
        'seed = "examples/leads.csv"': "",
        'route_to = "127.0.0.1:8451"': f'route_to = "{sf_address}"',
        "embedded = true": "embedded = false",
        "every_minutes = 15": 'cron = "* * * * *"',
        "batch_size = 1000": f"batch_size = {batch_size}",
        '# reason_field = "Status_Reason__c"': 'reason_field = "Status_Reason__c"',
    })
    hubspot = replaced(HUBSPOT_EXAMPLE.read_text(encoding="utf-8"), {
        'route_to = "127.0.0.1:8452"': f'route_to = "{hs_address}"',
        "embedded = true": "embedded = false",
        'crm_field = "hs_lead_status"\n':
            'crm_field = "hs_lead_status"\nreason_field = "recycle_reason"\n',
    })
    path = workdir / "config.toml"
    path.write_text(shared + "\n[pipelines.sf]\n\n"
                    + as_pipeline(hubspot, "hs", ("crm", "mapping", "routing", "scoring"))
                    + f"\n[console]\nport = {port}\n", encoding="utf-8")
    return path


DAEMON_ENV = {"SF_PASSWORD": "sandbox", "HUBSPOT_ACCESS_TOKEN": "sandbox-token"}


def scrape(port: int) -> dict[str, dict[str, float]] | None:
    """Runs finished and runs in progress per pipeline, from the daemon's /metrics."""
    try:
        text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    except requests.RequestException:
        return None
    found: dict[str, dict[str, float]] = {"runs": Counter(), "running": Counter()}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            pipeline = sample.labels.get("pipeline", "")
            if sample.name == "leadsync_runs_total":
                found["runs"][pipeline] += sample.value
            elif sample.name == "leadsync_run_in_progress":
                found["running"][pipeline] += sample.value
    return found


@dataclass
class Memory:
    """The daemon's RSS, sampled while no run is in progress (idle is comparable to idle)."""

    warm_after: int
    warm: int | None = None
    end: int | None = None
    peak: int = 0
    samples: int = 0
    after_runs: dict[int, int] = field(default_factory=dict)
    """Runs every pipeline has finished → the first idle RSS after them: the shape of
    any growth (a step once, or a little every run)."""

    @property
    def growth_pct(self) -> float | None:
        if self.warm is None or self.end is None:
            return None
        return (self.end - self.warm) / self.warm * 100

    def sample(self, process: psutil.Process, seen: dict[str, dict[str, float]],
               pipelines: int) -> int | None:
        rss = int(process.memory_info().rss)
        self.peak = max(self.peak, rss)
        self.samples += 1
        runs, running = seen["runs"], seen["running"]
        if len(runs) < pipelines or any(running.values()):
            return None
        done = int(min(runs.values()))
        self.after_runs.setdefault(done, rss)
        if self.warm is None and done >= self.warm_after:
            self.warm = rss
        return rss


# --- the report -----------------------------------------------------------------------------

@dataclass
class SoakReport:
    minutes: float = 0.0
    fault_rate: float = 0.0
    runs: Counter[str] = field(default_factory=Counter)
    """"pipeline status" → runs the daemon finished (its log's "run finished" lines)."""
    state_runs: Counter[str] = field(default_factory=Counter)
    """pipeline → runs its state database holds from before the drain (a cross-check)."""
    faults: int = 0
    eligible: int = 0
    fault_kinds: Counter[str] = field(default_factory=Counter)
    rep_faults: int = 0
    leads: int = 0
    qualified: int = 0
    imports: int = 0
    stream: Counter[str] = field(default_factory=Counter)
    verdicts: int = 0
    calls: int = 0
    records: Counter[str] = field(default_factory=Counter)
    duplicates: Counter[str] = field(default_factory=Counter)
    lost: Counter[str] = field(default_factory=Counter)
    held: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    missing_tasks: Counter[str] = field(default_factory=Counter)
    doubled_tasks: Counter[str] = field(default_factory=Counter)
    owed_tasks: Counter[str] = field(default_factory=Counter)
    verdicts_not_fed_back: int = 0
    stale_steps: int = 0
    """Older statuses fed back after newer ones: a lead's stage going back."""
    reasons_lost: int = 0
    wrong_final_stage: int = 0
    linked_not_told: int = 0
    rss_warm_mb: float | None = None
    rss_end_mb: float | None = None
    rss_peak_mb: float = 0.0
    rss_growth_pct: float | None = None
    rss_after_runs: dict[int, float] = field(default_factory=dict)
    daemon_exit: int | None = None
    drain_exits: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """Each failure found, naming the lead, the record and the step."""
    notes: list[str] = field(default_factory=list)
    workdir: str = ""

    @property
    def failures(self) -> dict[str, int]:
        growth = self.rss_growth_pct
        return {
            "duplicates": sum(self.duplicates.values()),
            "lost leads": sum(self.lost.values()),
            "tasks missing": sum(self.missing_tasks.values()),
            "tasks doubled": sum(self.doubled_tasks.values()),
            "tasks still owed": sum(self.owed_tasks.values()),
            "verdicts not fed back": self.verdicts_not_fed_back,
            "reasons lost": self.reasons_lost,
            "stale statuses fed back after newer ones": self.stale_steps,
            "leads not in their last verdict's stage": self.wrong_final_stage,
            "other leads on a judged record not told": self.linked_not_told,
            "RSS growth over 10%": int(growth is None or growth > 10),
            "daemon exit not 0": int(self.daemon_exit != 0),
            "drain did not finish": int(not self.drain_exits or self.drain_exits[-1] != 0),
        }

    @property
    def clean(self) -> bool:
        return not any(self.failures.values())

    @property
    def total_runs(self) -> int:
        return sum(self.runs.values())


# --- one soak -------------------------------------------------------------------------------

def fault_script(rate: float, seed: int, latency: float) -> Faults:
    """``rate`` of eligible requests faulted: a tenth of it as ``drop_after`` (a write that
    lands, its answer lost; every Nth request), the rest split between dropped connections,
    503 and 502 answers."""
    every = round(1 / (rate * 0.1)) if rate > 0 else 0
    rest = rate * 0.9
    return Faults(latency=latency, drop_rate=rest / 3, error_rate=rest / 3,
                  bad_gateway_rate=rest / 3, seed=seed,
                  fail_at={n: "drop_after" for n in range(every // 2 or 1, 200_000, every)}
                  if every else {})


def soak(workdir: Path, *, minutes: float = 10, fault_rate: float = 0.05, seed: int = 21,
         first_leads: int = 200, new_per_tick: int = 12, changed_per_tick: int = 8,
         tick_s: float = 20, rep_s: float = 30, warm_after: int = 2, batch_size: int = 25,
         latency: float = 0.005) -> SoakReport:
    chance = random.Random(seed)
    report = SoakReport(fault_rate=fault_rate, workdir=str(workdir))
    memory = Memory(warm_after)
    with SalesforceSandbox(state_path=workdir / "sf-org.json",
                           faults=fault_script(fault_rate, seed, latency)) as sf, \
            HubSpotSandbox(state_path=workdir / "hs-portal.json",
                           faults=fault_script(fault_rate, seed + 1, latency)) as hs:
        port = free_port()
        path = write_config(workdir, sf.address, hs.address, port, batch_size)
        pipelines = configuration.load_all(path)
        stages = {c.crm.adapter: dict(c.mapping.status.to_marketing) for c in pipelines.values()}
        stream = Stream(pipelines["sf"].resolve_url(pipelines["sf"].marketing.url), workdir,
                        chance)
        reps = Reps(sf, hs, stages["salesforce"], stages["hubspot"], chance)
        reps.prepare()
        stream.first_batch(first_leads)
        log = (workdir / "daemon.log").open("w", encoding="utf-8")
        daemon = subprocess.Popen([sys.executable, "-m", "connector.cli", "sync", "--log-json",
                                   "--config", str(path)], cwd=ROOT, stdout=log,
                                  stderr=subprocess.STDOUT, env={**os.environ, **DAEMON_ENV})
        process = psutil.Process(daemon.pid)
        began = time.monotonic()
        until = began + minutes * 60
        next_import, next_reps, last_idle = began + tick_s, began + rep_s, None
        try:
            while time.monotonic() < until:
                if daemon.poll() is not None:
                    report.problems.append(f"the daemon exited {daemon.returncode} after "
                                           f"{time.monotonic() - began:.0f} s (daemon.log)")
                    break
                now = time.monotonic()
                if now >= next_import:
                    stream.tick(new_per_tick, changed_per_tick)
                    next_import += tick_s
                if now >= next_reps:
                    reps.act()
                    next_reps += rep_s
                seen = scrape(port)
                if seen is not None:
                    last_idle = memory.sample(process, seen, len(pipelines)) or last_idle
                time.sleep(1.0)
            # the last run to its end, then its idle RSS: the end of the soak
            deadline = time.monotonic() + 120
            while daemon.poll() is None and time.monotonic() < deadline:
                seen = scrape(port)
                idle = memory.sample(process, seen, len(pipelines)) if seen else None
                if idle is not None:
                    memory.end = idle
                    break
                time.sleep(1.0)
            if memory.end is None:
                memory.end = last_idle
                report.notes.append("no idle moment after the last run within 120 s: the end "
                                    "RSS is the last idle sample before it")
            report.minutes = (time.monotonic() - began) / 60
        finally:
            if daemon.poll() is None:
                daemon.send_signal(signal.SIGTERM)
            try:
                report.daemon_exit = daemon.wait(timeout=300)
            except subprocess.TimeoutExpired:
                daemon.kill()
                report.daemon_exit = daemon.wait()
                report.problems.append("the daemon did not exit within 300 s of SIGTERM")
            log.close()
        stopped_at = datetime.now(UTC)
        drain(path, workdir, report)
        report.faults = sf.faulted_count + hs.faulted_count
        report.eligible = sf._app.injector.eligible + hs._app.injector.eligible
        report.fault_kinds = Counter(e.kind for e in (*sf.fault_log, *hs.fault_log))
        report.rep_faults = reps.faults_met
        report.imports, report.stream = stream.imports, stream.counts
        report.verdicts, report.calls = len(reps.ledger), reps.calls
        (workdir / "ledger.json").write_text(json.dumps(  # for a look afterwards
            [{**vars(v), "at": v.at.isoformat()} for v in reps.ledger], indent=1),
            encoding="utf-8")
        report.problems.extend(f"import refused a row: {r}" for r in stream.rejected)
        read_back(report, pipelines, sf, hs, stream, reps.ledger, stopped_at)
    mb = 1024 * 1024
    report.rss_warm_mb = memory.warm / mb if memory.warm else None
    report.rss_end_mb = memory.end / mb if memory.end else None
    report.rss_peak_mb = memory.peak / mb
    report.rss_growth_pct = memory.growth_pct
    report.rss_after_runs = {n: rss / mb for n, rss in sorted(memory.after_runs.items())}
    if memory.warm is None:
        report.notes.append(f"no warm-up sample: a pipeline finished fewer than "
                            f"{warm_after} runs")
    read_log(workdir / "daemon.log", report)
    return report


def drain(path: Path, workdir: Path, report: SoakReport, attempts: int = 5) -> None:
    """`sync --once` (both pipelines) until one exits 0 owing no task: the verdicts and
    leads of the soak's last minute go through, and so does what a fault cut short (a
    task whose create failed is owed to the next run, by design: creates are not retried
    blind)."""
    for n in range(attempts):
        with (workdir / f"drain-{n + 1}.log").open("w", encoding="utf-8") as out:
            done = subprocess.run([sys.executable, "-m", "connector.cli", "sync", "--once",
                                   "--config", str(path)], cwd=ROOT, stdout=out,
                                  stderr=subprocess.STDOUT, env={**os.environ, **DAEMON_ENV},
                                  timeout=600)
        report.drain_exits.append(done.returncode)
        if done.returncode == 0 and not tasks_owed(path):
            return


def tasks_owed(path: Path) -> int:
    owed = 0
    for cfg in configuration.load_all(path).values():
        state = StateStore(cfg.resolve_url(cfg.state.url))
        try:
            with Session(state.engine) as session:
                owed += len(list(session.exec(select(TaskOwed.id).where(
                    col(TaskOwed.made_at).is_(None)))))
        finally:
            state.close()
    return owed


def read_log(path: Path, report: SoakReport) -> None:
    """What the daemon said: each run's outcome, and the errors that failed runs."""
    errors: Counter[str] = Counter()
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            errors[f"not JSON: {line[:120]}"] += 1
            continue
        if event.get("event") == "run finished":
            report.runs[f"{event.get('pipeline')} {event.get('status')}"] += 1
        elif event.get("level") in ("error", "critical"):
            errors[f"{event.get('pipeline', '-')}: {event.get('event')}: "
                   f"{str(event.get('error', ''))[:200]}"] += 1
    report.notes.extend(f"daemon log, {n}×: {text}" for text, n in errors.most_common(8))


# --- read back --------------------------------------------------------------------------------

@dataclass
class Record:
    id: str
    key: str | None
    email: str | None


def crm_records(crm: str, sf: SalesforceSandbox, hs: HubSpotSandbox
                ) -> tuple[dict[str, Record], dict[str, list[str]]]:
    """The CRM's live records, and the text of the tasks on each."""
    tasks: dict[str, list[str]] = {}
    if crm == "salesforce":
        records = {r["Id"]: Record(r["Id"], r.get("Leadsync_Id__c"), r.get("Email"))
                   for r in sf.records("Lead")}
        for task in sf.records("Task"):
            tasks.setdefault(task.get("WhoId") or "", []).append(task.get("Description") or "")
        return records, tasks
    records = {c["id"]: Record(c["id"], c["properties"].get("leadsync_id"),
                               c["properties"].get("email")) for c in hs.records("contacts")}
    for task in hs.records("tasks"):
        for contact in hs.associations("tasks", task["id"], "contacts"):
            tasks.setdefault(contact, []).append(task["properties"].get("hs_task_body") or "")
    return records, tasks


def read_back(report: SoakReport, pipelines: dict[str, configuration.Config],
              sf: SalesforceSandbox, hs: HubSpotSandbox, stream: Stream,
              ledger: list[Verdict], stopped_at: datetime) -> None:
    first = next(iter(pipelines.values()))
    store = EmbeddedMarketingStore(first.resolve_url(first.marketing.url))
    try:
        leads = {lead.id: lead for lead in store.read_changes(None)}
        histories = store.stage_histories(list(leads))
    finally:
        store.close()
    report.leads = len(leads)
    unknown = [lid for lid, lead in leads.items() if stream.person_of(lead.get("email")) is None]
    report.problems.extend(f"lead {lid} ({leads[lid].get('email')}): no person of the bench's "
                           "has this address" for lid in unknown)
    linked: dict[tuple[str, str], list[str]] = {}
    for name, cfg in pipelines.items():
        crm = cfg.crm.adapter
        records, tasks = crm_records(crm, sf, hs)
        report.records[crm] = len(records)
        state = StateStore(cfg.resolve_url(cfg.state.url))
        try:
            with Session(state.engine) as session:
                links = {link.marketing_id: link for link in session.exec(
                    select(Link).where(Link.crm == crm, Link.crm_object == cfg.mapping.object))}
                owed = list(session.exec(select(TaskOwed).where(
                    TaskOwed.crm == crm, col(TaskOwed.made_at).is_(None))))
            held = {r.marketing_id for r in state.reviews.listing(status="pending",
                                                                  limit=1_000_000)}
            refused = {d.marketing_id: d for d in state.dead_letters(limit=1_000_000)
                       if d.crm == crm}
            report.state_runs[name] = sum(
                1 for run in state.runs(100_000) if run.started_at.replace(tzinfo=UTC)
                <= stopped_at)
        finally:
            state.close()
        for link in links.values():
            linked.setdefault((crm, link.crm_id), []).append(link.marketing_id)
        count_duplicates(report, crm, records, leads, stream)
        qualified = [lid for lid, lead in leads.items() if qualifies(lead, cfg)]
        report.qualified = max(report.qualified, len(qualified))
        for lid in qualified:
            link = links.get(lid)
            email = leads[lid].get("email")
            if link is not None and link.crm_id in records:
                marks = sum(1 for text in tasks.get(link.crm_id, ())
                            if f"leadsync-task:{lid}:" in text)
                if marks == 0:
                    report.missing_tasks[crm] += 1
                    report.problems.append(f"{crm}: lead {lid} ({email}) on record "
                                           f"{link.crm_id} has no hand-off task there")
                elif marks > 1:
                    report.doubled_tasks[crm] += 1
                    report.problems.append(f"{crm}: lead {lid} ({email}) has {marks} hand-off "
                                           f"tasks on record {link.crm_id}")
            elif lid in held:
                report.held[crm] += 1
            elif lid in refused:
                report.refused[crm] += 1
                report.lost[crm] += 1
                letter = refused[lid]
                report.problems.append(f"{crm}: lead {lid} ({email}) refused: "
                                       f"{letter.error_code} {letter.message[:200]}")
            else:
                report.lost[crm] += 1
                where = (f"linked to {link.crm_id}, which the CRM does not hold"
                         if link is not None else "no link, no record, not held, not refused")
                report.problems.append(f"{crm}: lead {lid} ({email}) qualifies but is lost: "
                                       f"{where}")
        for task in owed:
            report.owed_tasks[crm] += 1
            report.problems.append(f"{crm}: the hand-off task of lead {task.marketing_id} on "
                                   f"{task.crm_id} is still owed ({task.attempts} attempts: "
                                   f"{task.last_error})")
    check_verdicts(report, ledger, leads, histories, linked)


def qualifies(lead: Lead, cfg: configuration.Config) -> bool:
    return qualify(lead, score(lead, cfg.scoring).value, cfg.scoring).value


def count_duplicates(report: SoakReport, crm: str, records: dict[str, Record],
                     leads: dict[str, Lead], stream: Stream) -> None:
    """A person on two records: by the record's key (the lead it was made for) or, for a
    record without one, its email."""
    people: dict[int, list[str]] = {}
    for record in records.values():
        lead = leads.get(record.key or "")
        person = stream.person_of(lead.get("email") if lead else record.email)
        if person is None:
            report.problems.append(f"{crm}: record {record.id} (key {record.key}, "
                                   f"{record.email}) is no person of the bench's")
            continue
        people.setdefault(person, []).append(record.id)
    for person, ids in sorted(people.items()):
        if len(ids) > 1:
            report.duplicates[crm] += len(ids) - 1
            keys = [records[i].key for i in ids]
            report.problems.append(f"{crm}: {stream.people[person].email} is on "
                                   f"{len(ids)} records: {', '.join(ids)} (keys {keys})")


def check_verdicts(report: SoakReport, ledger: list[Verdict], leads: dict[str, Lead],
                   histories: dict[str, list[Any]], linked: dict[tuple[str, str], list[str]]
                   ) -> None:
    """Each verdict in the stage history of the lead the record was made for, in order,
    with its reason, and no older status fed back after a newer one (the stage going
    back); that lead and every other lead on the record in the last verdict's stage."""
    by_record: dict[tuple[str, str], list[Verdict]] = {}
    for verdict in ledger:
        by_record.setdefault((verdict.crm, verdict.record), []).append(verdict)
    for (crm, record), verdicts in by_record.items():
        key = verdicts[0].key
        steps = [s for s in histories.get(key, []) if s.who != "leadsync"]
        for before, after in zip(steps, steps[1:], strict=False):
            if after.at < before.at:
                report.stale_steps += 1
                report.problems.append(
                    f"{crm}: lead {key}: {after.crm_status!r} (set on {record} at "
                    f"{after.at:%H:%M:%S}) fed back after {before.crm_status!r} (set at "
                    f"{before.at:%H:%M:%S}): its stage went from {before.stage!r} back to "
                    f"{after.stage!r}")
        at = 0
        for verdict in verdicts:
            found = next((i for i in range(at, len(steps))
                          if steps[i].crm_status == verdict.status
                          and steps[i].stage == verdict.stage), None)
            if found is None:
                report.verdicts_not_fed_back += 1
                heard = [(s.crm_status, s.stage) for s in steps]
                report.problems.append(f"{crm}: {verdict.status!r} set on {record} at "
                                       f"{verdict.at:%H:%M:%S} not in lead {key}'s stage "
                                       f"history (rep steps there: {heard})")
                continue
            at = found + 1
            if verdict.reason and verdict is verdicts[-1] and not any(
                    step.crm_status == verdict.status and step.reason == verdict.reason
                    for step in steps[found:]):
                report.reasons_lost += 1
                report.problems.append(f"{crm}: lead {key}: {verdict.status!r} on {record} "
                                       f"came back with reason {steps[found].reason!r}, not "
                                       f"{verdict.reason!r}")
        last = verdicts[-1]
        for lid in sorted({key, *linked.get((crm, record), [])}, key=int):
            lead = leads.get(lid)
            stage = lead.stage if lead else None
            if stage == last.stage:
                continue
            if lid == key:
                report.wrong_final_stage += 1
            else:
                report.linked_not_told += 1
            history = [(s.stage, s.crm_status, s.who, f"{s.at:%H:%M:%S}")
                       for s in histories.get(lid, [])]
            report.problems.append(f"{crm}: lead {lid} ({lead.get('email') if lead else '?'}) "
                                   f"is in stage {stage!r}, but {record}'s last verdict "
                                   f"({last.status!r} at {last.at:%H:%M:%S}) means "
                                   f"{last.stage!r}; its stage history: {history}")


# --- printing and recording -------------------------------------------------------------------

def summary(report: SoakReport, command: str) -> str:
    r = report
    per = lambda c: ", ".join(f"{k} {v}" for k, v in sorted(c.items())) or "0"  # noqa: E731
    share = r.faults / r.eligible * 100 if r.eligible else 0.0
    growth = f"{r.rss_growth_pct:+.1f}%" if r.rss_growth_pct is not None else "not measured"
    warm = f"{r.rss_warm_mb:.0f} MB" if r.rss_warm_mb else "—"
    end = f"{r.rss_end_mb:.0f} MB" if r.rss_end_mb else "—"
    runs = ", ".join(f"{k} {v}" for k, v in sorted(r.runs.items()))
    lines = [
        "## Soak: the daemon for ten minutes, both CRMs, faults (`bench/soak.py`)", "",
        "`leadsync sync` (the daemon) with two pipelines from one marketing store, Salesforce "
        "and HubSpot, every minute (cron), against both sandboxes served by the bench with "
        f"{r.fault_rate:.0%} of API requests faulted (dropped connections, 503, 502, and "
        "writes that land with their answer lost) and 5 ms latency; every 20 s an import of "
        "new and changed leads (some the same person under another address of one mailbox), "
        "every 30 s reps' verdicts and calls through simple-salesforce and "
        "hubspot-api-client. Then SIGTERM, `sync --once` to drain, and the CRMs, state "
        "databases and marketing store read back.", "",
        "| figure | value |", "| --- | ---: |",
        f"| daemon minutes | {r.minutes:.1f} |",
        f"| runs (both pipelines) | {r.total_runs} |",
        f"| faults injected / requests eligible | {r.faults:,} / {r.eligible:,} "
        f"({share:.1f}%) |",
        f"| marketing leads / qualified | {r.leads:,} / {r.qualified:,} |",
        f"| verdicts given / calls logged | {r.verdicts} / {r.calls} |",
        f"| duplicates | {sum(r.duplicates.values())} |",
        f"| lost leads | {sum(r.lost.values())} |",
        f"| hand-off tasks missing / doubled / still owed | {sum(r.missing_tasks.values())} / "
        f"{sum(r.doubled_tasks.values())} / {sum(r.owed_tasks.values())} |",
        f"| verdicts not fed back / reasons lost / stale ones fed back after newer | "
        f"{r.verdicts_not_fed_back} / {r.reasons_lost} / {r.stale_steps} |",
        f"| leads not in their last verdict's stage / other leads not told | "
        f"{r.wrong_final_stage} / {r.linked_not_told} |",
        f"| daemon RSS after warm-up → end (peak) | {warm} → {end} ({r.rss_peak_mb:.0f} MB) |",
        f"| RSS growth | {growth} |", "",
        "Daemon RSS, idle, after each pipeline's Nth run (MB): " + (", ".join(
            f"{n}: {mb:.0f}" for n, mb in r.rss_after_runs.items()) or "none") + ".", "",
        f"Runs: {runs} (state databases: {per(r.state_runs)}). Faults by kind: "
        f"{per(r.fault_kinds)}; {r.rep_faults} of them met by the "
        f"reps' own calls (retried). Records: {per(r.records)}. Held for review: "
        f"{per(r.held)}. Stream: {r.imports} imports, {per(r.stream)}. Daemon exit "
        f"{r.daemon_exit}; drain (`sync --once` until it exits 0 owing no task) exits "
        f"{r.drain_exits}.", "",
        "Checks: " + ("all passed." if r.clean else "FAILED: " + ", ".join(
            f"{name} {n}" for name, n in r.failures.items() if n) + "."),
    ]
    if r.problems:
        lines += ["", *(f"- {p}" for p in r.problems[:25])]
        if len(r.problems) > 25:
            lines.append(f"- … and {len(r.problems) - 25} more")
    if r.notes:
        lines += ["", *(f"- {n}" for n in r.notes)]
    lines += ["", f"Command: `{command}`"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--fault-rate", type=float, default=0.05)
    parser.add_argument("--no-record", action="store_true",
                        help="print only; do not write bench/RESULTS.md and results.json")
    parser.add_argument("--keep", type=Path, default=None,
                        help="work in this folder and keep it (logs, databases, orgs)")
    args = parser.parse_args()
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="leadsync-soak-"))
    workdir.mkdir(parents=True, exist_ok=True)
    report = soak(workdir, minutes=args.minutes, fault_rate=args.fault_rate)
    command = ".venv/bin/python -m bench.soak" + (
        f" --minutes {args.minutes:g}" if args.minutes != 10 else "") + (
        f" --fault-rate {args.fault_rate:g}" if args.fault_rate != 0.05 else "")
    text = summary(report, command)
    print(text)
    if report.clean and args.keep is None:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"\nlogs, databases and orgs kept in {workdir}")
    if not args.no_record and args.minutes == 10 and args.fault_rate == 0.05:
        from bench.results import record

        record("soak", text, {
            "soak_minutes": report.minutes,
            "soak_runs": report.total_runs,
            "soak_faults": report.faults,
            "soak_duplicates": sum(report.duplicates.values()),
            "soak_lost_leads": sum(report.lost.values()),
            "soak_missing_tasks": sum(report.missing_tasks.values()),
            "soak_verdicts_not_fed_back": report.verdicts_not_fed_back,
            **({"soak_rss_growth_pct": report.rss_growth_pct}
               if report.rss_growth_pct is not None else {}),
        })
    sys.exit(0 if report.clean else 1)


if __name__ == "__main__":
    main()
