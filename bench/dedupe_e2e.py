"""End to end: dedupe quality and API cost of a real sync cycle, counted at the wire.

Measured the way a user runs leadsync: the CRM sandbox in its own process
(`leadsync sandbox`), an org seeded with earlier history (`bench/crm_history.py`)
through the real client library, `leadsync import` of a labelled marketing
file, then `leadsync sync --once` as a subprocess against a config.toml whose
`route_to` is a counting proxy (`bench/proxy.py`, 30 ms added per request).
The org and the state database are read back afterwards to score every lead:

- true positive: it updated the CRM record of the person it is;
- duplicate: it created a new record while its person was in the CRM;
- wrong merge: it updated (or shared) the record of somebody else;
- review: held for `leadsync review` (not a predicted match in the F1).

Then a second `sync --once` with nothing changed: its calls and wall time.

    .venv/bin/python -m bench.dedupe_e2e                 # both CRMs, recorded
    .venv/bin/python -m bench.dedupe_e2e --quick         # smoke run, not recorded
    .venv/bin/python -m bench.dedupe_e2e --crm hubspot --leads 500 --history 5000
"""

from __future__ import annotations

import argparse
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from hubspot import HubSpot
from simple_salesforce import Salesforce

from bench.configs import free_port
from bench.crm_history import HARD, VARIATIONS, History, generate
from bench.proxy import CountingProxy
from bench.results import record
from connector.adapters.marketing_store import lead_key
from connector.transport import make_session

ROOT = Path(__file__).resolve().parent.parent
LATENCY_S = 0.030
LOOKBACK_S = 5
"""[sync] lookback_seconds in this run (shipped: 300), so the settled no-change cycle
need not wait five minutes; the sandbox commits at once, so nothing lands late."""
CHUNK = {"salesforce": 200, "hubspot": 100}
"""Records per seeding call: sObject Collections' and HubSpot batch create's maximum."""
TEMPLATES = {"salesforce": ROOT / "config.toml", "hubspot": ROOT / "examples/config-hubspot.toml"}
ENV = {"SF_PASSWORD": "sandbox", "SF_SECURITY_TOKEN": "", "HUBSPOT_ACCESS_TOKEN": "sandbox-token",
       "COLUMNS": "200"}


@dataclass
class Outcome:
    crm: str
    leads: int
    read: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    by_kind: dict[str, Counter[str]] = field(default_factory=dict)
    fill: dict[str, int] = field(default_factory=dict)
    """The first cycle: the candidate index filled from the CRM, the first half of the
    leads handed over."""
    fill_s: float = 0.0
    cycle: dict[str, int] = field(default_factory=dict)
    """The second cycle: the other half, against an index already in step."""
    cycle_s: float = 0.0
    cycle_read: int = 0
    echo: dict[str, int] = field(default_factory=dict)
    """A no-change cycle right after: it reads back the writes of the last one."""
    echo_s: float = 0.0
    nochange: dict[str, int] = field(default_factory=dict)
    """A no-change cycle once the look-back window has passed."""
    nochange_s: float = 0.0
    nochange_inside_s: float | None = None

    @property
    def f1(self) -> float:
        tp, fp = self.outcomes["match"], self.outcomes["wrong_merge"]
        fn = self.dupes - tp
        return 2 * tp / (2 * tp + fp + fn) if tp else 0.0

    @property
    def dupes(self) -> int:
        return sum(n for kind, c in self.by_kind.items() if kind in VARIATIONS
                   for n in c.values())

    def share(self, outcome: str) -> float:
        return self.outcomes[outcome] / self.leads

    @property
    def cycle_calls(self) -> int:
        return sum(self.cycle.values())

    @property
    def calls_per_1k(self) -> float:
        return self.cycle_calls * 1000 / self.cycle_read

    @property
    def naive_per_1k(self) -> float:
        """One look-up and one write per lead read, after one login."""
        return (1 + 2 * self.read) * 1000 / self.read



@contextmanager
def sandbox_process(workdir: Path, *extra: str) -> Iterator[dict[str, str]]:
    """`leadsync sandbox` on free ports, in a folder without a config.toml (a fresh
    org and portal, or ``extra`` options such as ``--seed``); yields each CRM's address."""
    workdir.mkdir(parents=True, exist_ok=True)
    ports = {"salesforce": free_port(), "hubspot": free_port()}
    env = {k: v for k, v in os.environ.items() if k != "LEADSYNC_CONFIG"} | ENV
    proc = subprocess.Popen(
        [sys.executable, "-m", "connector.cli", "sandbox", "--salesforce-port",
         str(ports["salesforce"]), "--hubspot-port", str(ports["hubspot"]),
         "--daily-api-allocation", "100000000", *extra],
        cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        assert proc.stdout is not None
        for _ in range(2):
            line = proc.stdout.readline()
            if "sandbox on http" not in line:
                raise RuntimeError(f"leadsync sandbox did not start: {line}{proc.stdout.read()}")
        yield {crm: f"127.0.0.1:{port}" for crm, port in ports.items()}
    finally:
        proc.terminate()
        proc.wait(timeout=60)


# --- seeding the org ----------------------------------------------------------------


def _chunks(rows: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


def seed_salesforce(address: str, history: History) -> dict[int, str]:
    """Accounts, contacts, leads and tasks through sObject Collections; returns
    person index → record Id."""
    sf = Salesforce(username="admin@leadsync.sandbox", password="sandbox", security_token="",
                    session=make_session(address))

    def create(sobject: str, rows: list[dict[str, Any]]) -> list[str]:
        ids: list[str] = []
        for chunk in _chunks(rows, CHUNK["salesforce"]):
            body = {"allOrNone": True,
                    "records": [{"attributes": {"type": sobject}, **row} for row in chunk]}
            answer = sf.restful("composite/sobjects", method="POST", json=body)
            ids += [item["id"] for item in answer]
        return ids

    account_ids = dict(zip((a["name"] for a in history.accounts), create("Account", [
        {"Name": a["name"], "Website": a["domain"], "BillingCity": a["city"],
         "BillingCountry": a["country"]} for a in history.accounts]), strict=True))
    person_ids: dict[int, str] = {}
    for sobject in ("Contact", "Lead"):
        chosen = [i for i, p in enumerate(history.people) if p["object"] == sobject]
        rows = [_sf_person(history.people[i], account_ids) for i in chosen]
        person_ids.update(zip(chosen, create(sobject, rows), strict=True))
    create("Task", [{"WhoId": person_ids[i], "Subject": subject, "Status": "Completed"}
                    for i, subject in history.tasks])
    sf.session.close()
    return person_ids


def _sf_person(p: dict[str, Any], account_ids: dict[str, str]) -> dict[str, Any]:
    row = {"FirstName": p["first_name"], "LastName": p["last_name"], "Email": p["email"],
           "Phone": p["phone"], "Title": p["title"]}
    if p["object"] == "Contact":
        return row | {"AccountId": account_ids[p["account"]], "MailingStreet": p["street"],
                      "MailingCity": p["city"], "MailingPostalCode": p["postal_code"],
                      "MailingCountry": p["country"]}
    return row | {"Company": p["company"], "Street": p["street"], "City": p["city"],
                  "PostalCode": p["postal_code"], "Country": p["country"],
                  "Status": "Working - Contacted"}


def seed_hubspot(address: str, history: History) -> dict[int, str]:
    """Companies, then contacts (leads and contacts alike: HubSpot has one
    object for both) associated with their company, then tasks, by batch create."""
    hub = HubSpot(access_token="sandbox-token", host=f"http://{address}")
    api = hub.crm.objects.batch_api

    def create(kind: str, inputs: list[dict[str, Any]]) -> list[str]:
        ids: list[str] = []
        for chunk in _chunks(inputs, CHUNK["hubspot"]):
            answer = api.create(kind, batch_input_simple_public_object_batch_input_for_create={
                "inputs": chunk})
            ids += [r.id for r in answer.results]  # created in input order
        return ids

    company_ids = dict(zip((a["name"] for a in history.accounts), create("companies", [
        {"properties": {"name": a["name"], "domain": a["domain"], "city": a["city"],
                        "country": a["country"]}} for a in history.accounts]), strict=True))
    inputs = []
    for p in history.people:
        properties = {"firstname": p["first_name"], "lastname": p["last_name"],
                      "email": p["email"], "phone": p["phone"], "company": p["company"],
                      "jobtitle": p["title"], "address": p["street"], "city": p["city"],
                      "zip": p["postal_code"], "country": p["country"]}
        link = [] if p["account"] is None else [{
            "to": {"id": company_ids[p["account"]]},
            "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}]}]
        inputs.append({"properties": properties, "associations": link})
    person_ids = dict(enumerate(create("contacts", inputs)))
    create("tasks", [{"properties": {"hs_task_subject": subject, "hs_task_status": "COMPLETED",
                                     "hs_timestamp": "2025-01-15T10:00:00Z"},
                      "associations": [{"to": {"id": person_ids[i]}, "types": [
                          {"associationCategory": "HUBSPOT_DEFINED",
                           "associationTypeId": 204}]}]}
                     for i, subject in history.tasks])
    return person_ids


# --- one CRM, end to end --------------------------------------------------------------


def write_config(crm: str, folder: Path, route_to: str) -> Path:
    """The shipped config for ``crm``, with this run's databases, the proxy as
    ``route_to``, no embedded sandbox and no demo seed."""
    text = TEMPLATES[crm].read_text(encoding="utf-8")
    urls = iter((f"sqlite:///{folder}/state.db", f"sqlite:///{folder}/marketing.db"))
    replacements = [
        (r'(?m)^url = "sqlite:[^"]*"', lambda _m: f'url = "{next(urls)}"', 2),
        (r'(?m)^seed = "[^"]*".*$', lambda _m: "", 1),
        (r'(?m)^route_to = "[^"]*"', lambda _m: f'route_to = "{route_to}"', 1),
        (r"(?m)^embedded = true", lambda _m: "embedded = false", 1),
        (r"(?m)^lookback_seconds = \d+", lambda _m: f"lookback_seconds = {LOOKBACK_S}", 1),
    ]
    for pattern, new, expected in replacements:
        text, found = re.subn(pattern, new, text)
        if found != expected:
            raise ValueError(f"{TEMPLATES[crm]}: {pattern} found {found} times, not {expected}")
    path = folder / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def leadsync(config: Path, *args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    """One CLI command as a subprocess; its wall time."""
    env = {k: v for k, v in os.environ.items() if k != "LEADSYNC_CONFIG"} | ENV
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "connector.cli", *args, "--config", str(config)],
                          capture_output=True, text=True, env=env, cwd=config.parent)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"leadsync {' '.join(args)} exited {done.returncode}:\n"
                           f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return seconds, done


def run_crm(crm: str, history: History, folder: Path) -> Outcome:
    folder.mkdir(parents=True, exist_ok=True)
    with sandbox_process(folder / "sandbox") as addresses:
        address = addresses[crm]
        seed = seed_salesforce if crm == "salesforce" else seed_hubspot
        person_ids = seed(address, history)
        # an org's history is not written seconds before a sync: once the seeding is a
        # look-back window old, the second cycle's window (from the first cycle's start,
        # less the look-back) holds the first cycle's writes, not the seeding's
        time.sleep(LOOKBACK_S + 1)
        with CountingProxy(address, latency=LATENCY_S) as proxy:
            config = write_config(crm, folder, proxy.address)
            result = Outcome(crm, len(history.leads))
            half = len(history.leads) // 2
            for part, leads in (("first", history.leads[:half]),
                                ("second", history.leads[half:])):
                replace(history, leads=leads).write_csv(folder / f"leads-{part}.csv")
            leadsync(config, "import", str(folder / "leads-first.csv"))
            proxy.reset()
            result.fill_s, first = leadsync(config, "sync", "--once")
            result.fill = proxy.reset()
            print(first.stdout.strip().splitlines()[0] if first.stdout.strip() else "")
            leadsync(config, "import", str(folder / "leads-second.csv"))
            proxy.reset()
            result.cycle_s, second = leadsync(config, "sync", "--once")
            result.cycle = proxy.reset()
            result.cycle_read = int(re.search(r"(\d+) leads read", second.stdout)[1])
            proxy.dump(folder / "cycle_calls.json")
            # a run's look-back window starts where the run before it started: once the
            # second cycle's last write is a window old, the run that reads its writes
            # back (its window starts at the second cycle) leaves the next one nothing
            time.sleep(LOOKBACK_S + 1)
            proxy.reset()
            result.echo_s, _ = leadsync(config, "sync", "--once")
            result.echo = proxy.reset()
            result.nochange_s, _ = leadsync(config, "sync", "--once")
            result.nochange = proxy.reset()
        score(result, history, person_ids, folder)
    return result


def score(result: Outcome, history: History, person_ids: dict[int, str], folder: Path) -> None:
    """Each lead's fate, from the state database's links and review queue."""
    person_of = {crm_id: index for index, crm_id in person_ids.items()}
    with sqlite3.connect(folder / "marketing.db") as mk:  # by the store's own key: two
        lead_ids = {key: str(i)  # people on one info@ mailbox are two leads there
                    for i, key in mk.execute("SELECT id, key FROM mk_lead")}
    with sqlite3.connect(folder / "state.db") as st:
        links = dict(st.execute("SELECT marketing_id, crm_id FROM link"))
        held = {m for (m,) in st.execute("SELECT marketing_id FROM match_review "
                                         "WHERE status = 'pending'")}
        runs = st.execute("SELECT read, started_at, finished_at FROM sync_run "
                          "ORDER BY id").fetchall()
    result.read = runs[0][0]
    if len(runs) > 1 and runs[-1][2]:
        result.nochange_inside_s = (_when(runs[-1][2]) - _when(runs[-1][1])).total_seconds()
    sharing = Counter(links.values())
    for lead in history.leads:
        marketing_id = lead_ids.get(lead_key(None, lead.row["email"].strip().lower(),
                                             lead.row))
        crm_id = links.get(marketing_id) if marketing_id else None
        if marketing_id in held:
            fate = "review"
        elif crm_id is None:
            fate = "not_written"
        elif crm_id in person_of:
            fate = "match" if lead.label is not None and person_ids[lead.label] == crm_id \
                else "wrong_merge"
        elif sharing[crm_id] > 1:
            fate = "wrong_merge"  # two leads of this file on one new record: different people
        else:
            fate = "duplicate" if lead.label is not None else "new"
        result.outcomes[fate] += 1
        result.by_kind.setdefault(lead.kind, Counter())[fate] += 1


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value)


# --- report -----------------------------------------------------------------------------


def report(results: list[Outcome], args: argparse.Namespace) -> tuple[str, dict[str, float]]:
    names = {"salesforce": "Salesforce", "hubspot": "HubSpot"}
    lines = ["## End-to-end dedupe and cycle cost (`bench/dedupe_e2e.py`)", "",
             "`leadsync import` then `leadsync sync --once` as subprocesses, the CRM sandbox in "
             "its own process (`leadsync sandbox`), every request counted at the wire by a "
             f"proxy between them that adds {LATENCY_S * 1000:.0f} ms per request (login "
             f"included). History: {args.history:,}+ earlier CRM records (leads, contacts with "
             "their accounts, tasks) seeded through the real client; "
             f"{args.leads:,} marketing leads, half true duplicates in {len(VARIATIONS)} "
             f"variations, a fifth hard non-duplicates in {len(HARD)} kinds, the rest new "
             "(`bench/crm_history.py`, seed 1).", "",
             "| CRM | F1 | duplicates created | wrong merges | held for review "
             "| first cycle: calls (s) | second cycle: leads, calls (s) | calls per 1,000 "
             "| naive per 1,000 | no-change right after: calls (s) "
             "| no-change settled: calls (s) |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        inside = f", {r.nochange_inside_s:.2f} in the run" if r.nochange_inside_s else ""
        lines.append(
            f"| {names[r.crm]} | {r.f1:.3f} | {r.share('duplicate'):.1%} | "
            f"{r.share('wrong_merge'):.1%} | {r.share('review'):.1%} | "
            f"{sum(r.fill.values()):,} ({r.fill_s:.1f}) | {r.cycle_read:,}, "
            f"{r.cycle_calls:,} ({r.cycle_s:.1f}) | {r.calls_per_1k:.1f} | "
            f"{r.naive_per_1k:.0f} | {sum(r.echo.values())} ({r.echo_s:.1f}) | "
            f"{sum(r.nochange.values())} ({r.nochange_s:.1f}{inside}) |")

    def kinds_of(calls: dict[str, int]) -> str:
        return ", ".join(f"{k} {n}" for k, n in sorted(calls.items(), key=lambda kv: -kv[1])
                         ) or "none"

    for r in results:
        lines += ["", f"{names[r.crm]}, calls by kind: first cycle {kinds_of(r.fill)}; second "
                  f"cycle {kinds_of(r.cycle)}; no-change right after {kinds_of(r.echo)}; "
                  f"no-change settled {kinds_of(r.nochange)}."]
    kinds = [*VARIATIONS, *HARD, "new"]
    lines += ["", "Fate of each lead by how it was made (duplicates should be `match`, "
              "hard non-duplicates and new people `new`):", "",
              "| kind | " + " | ".join(names[r.crm] for r in results) + " |",
              "| --- |" + " --- |" * len(results)]
    for kind in kinds:
        cells = [", ".join(f"{f} {n}" for f, n in sorted(r.by_kind.get(kind, Counter()).items()))
                 for r in results]
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    lines += ["", "F1: a duplicate lead that updated its labelled record is a true positive; one "
              "that updated another person's record (or shared a new record with another "
              "lead) a false positive; a duplicate created anew or held for review a false "
              "negative. Shares are of all leads in the file. The leads arrive in two "
              "halves: the first cycle also fills the candidate index from the CRM (a "
              "one-time read); the second, against an index in step, gives the calls per "
              "1,000 leads. The first cycle starts once the seeded history is a look-back "
              "window old, so the second cycle's window holds the first cycle's writes, "
              "not the seeding. naive = one look-up and one write per lead after one login "
              "(computed, 2 calls a lead). No-change right after: a third `sync --once`, "
              "which reads back the second cycle's own writes (its look-back window starts "
              "at the second cycle's start); it runs once the second cycle's last write is "
              f"a window old ([sync] lookback_seconds = {LOOKBACK_S} in this run, shipped "
              "300), so that settled, a fourth `sync --once` at once after it, has a window "
              "with no change in it: a no-change cycle. Times are of the whole CLI command, "
              "starting Python included; the run's own time (from the state database) beside it.",
              "", f"Command: `.venv/bin/python -m bench.dedupe_e2e --leads {args.leads} "
              f"--history {args.history}`"]
    worst = {name: max(r.share(name) for r in results) for name in
             ("duplicate", "wrong_merge", "review")}
    figures = {"e2e_dup_share": worst["duplicate"], "e2e_wrong_merge_share": worst["wrong_merge"],
               "e2e_review_share": worst["review"],
               "nochange_calls": max(sum(r.nochange.values()) for r in results),
               "nochange_s": max(r.nochange_inside_s or r.nochange_s for r in results),
               "nochange_cli_s": max(r.nochange_s for r in results),
               "nochange_right_after_calls": max(sum(r.echo.values()) for r in results)}
    for r in results:
        short = "sf" if r.crm == "salesforce" else "hs"
        figures[f"e2e_f1_{short}"] = r.f1
        figures[f"cycle_calls_per_1k_{short}"] = r.calls_per_1k
        figures[f"nochange_calls_{short}"] = sum(r.nochange.values())
        figures[f"nochange_s_{short}"] = r.nochange_inside_s or r.nochange_s
    lines.insert(-2, "")
    lines.insert(-2, "e2e_dup_share, e2e_wrong_merge_share, e2e_review_share, nochange_calls "
                     "and nochange_s in results.json are the worse of the CRMs run.")
    return "\n".join(lines), figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, nothing recorded")
    parser.add_argument("--crm", choices=("salesforce", "hubspot", "both"), default="both")
    parser.add_argument("--leads", type=int, default=None, help="marketing leads [2000]")
    parser.add_argument("--history", type=int, default=None, help="CRM records [5000]")
    args = parser.parse_args()
    args.leads = args.leads or (200 if args.quick else 2_000)
    args.history = args.history or (1_000 if args.quick else 5_000)
    history = generate(args.history, args.leads, seed=1)
    crms = ("salesforce", "hubspot") if args.crm == "both" else (args.crm,)
    with tempfile.TemporaryDirectory(prefix="leadsync-e2e-") as tmp:
        results = [run_crm(crm, history, Path(tmp) / crm) for crm in crms]
    markdown, figures = report(results, args)
    print(markdown)
    if args.quick or args.crm != "both":
        print("quick or single-CRM run: figures not recorded")
        return
    record("dedupe-e2e", markdown, figures)


if __name__ == "__main__":
    main()
