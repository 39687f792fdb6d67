"""Scale: the candidate index filled from a 1,000,000-record org, then 1k, 10k and
100k leads a cycle against it, through the real CLI cycle.

The figures a user would quote when sizing leadsync for a large org, measured
the way `bench/dedupe_e2e.py` measures (and with its parts): the Salesforce
sandbox in its own process (`leadsync sandbox`), `leadsync import`, then
`leadsync sync --once` as a subprocess against the shipped config.toml whose
`route_to` is the counting proxy (`bench/proxy.py`, 30 ms a request). Each
sync's own wall time and CPU (user + sys) come from `os.wait4` on that one
process and its peak RSS from its /proc VmHWM (``PeakRss``), so neither the
bench nor the sandbox is counted.

The org: leadgen people as leads and contacts (with their accounts), written
as a seed fixture (ids included, so contacts name their accounts) that the
sandbox process loads at start-up through its own seeding path
(`leadsync sandbox --seed`, every row validated like an API create) and then
serves over HTTP like any record. That is minutes for a million records,
against hours for 5,000 sObject Collections calls through the proxy. No tasks:
the index does not read them.

The cycles, in order: a first sync with nothing to hand off (the index fill);
for each size an import of that many qualifying leads (half of them people
already in the org, written another way) and a sync; a no-change sync right
after the largest; another past `[sync] lookback_seconds` (set to
`LOOKBACK_S` for the run, so the wait is short).

    .venv/bin/python -m bench.scale                    # 1M records, 1k/10k/100k leads, recorded
    .venv/bin/python -m bench.scale --quick            # 100k records, 1k/10k: smoke, not recorded
    .venv/bin/python -m bench.scale --quick --profile /tmp/scale-10k.txt   # py-spy on 10k
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.crm_history import History, MarketingLead, _accounts, _csv_row, _unique_emails
from bench.dedupe_e2e import ENV, LATENCY_S, leadsync, sandbox_process, write_config
from bench.leadgen import FREE_MAIL, _mail, _recase, _typo, people
from bench.proxy import CountingProxy
from bench.results import record
from connector.sandbox.salesforce.ids import make_id

LOOKBACK_S = 10
"""`[sync] lookback_seconds` for the run (shipped: 300), so "past the window" is a short wait."""
VARIATIONS = ("same", "email_personal", "typo_last", "case")
"""How a lead of a person already in the org differs from the record (cycled)."""
PY_SPY = Path(sys.executable).with_name("py-spy")
SEEDED_AT = "2025-06-02T09:00:00.000+0000"
"""When the org's records were last modified: an org with a past, not one written
moments before the first sync (the index's delta read, its cursor less a look-back
and an overlap of minutes, would read every record again in the next cycle)."""


@dataclass
class Run:
    """One `leadsync` process: wall seconds, its own CPU and peak memory, calls at the wire."""

    seconds: float
    cpu_s: float
    rss_mb: float
    calls: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())


# --- the org and the lead files ---------------------------------------------------------


def make_org(records: int, seed: int = 1) -> History:
    """About ``records`` leads, contacts and accounts (accounts are about 1 in 9)."""
    crowd = people(int(records / 1.125), seed)
    rng = random.Random(f"scale-org-{seed}")
    for person in crowd:
        person["object"] = "Contact" if rng.random() < 0.45 else "Lead"
    _unique_emails(crowd)
    return History(crowd, _accounts(crowd), [])


AUDIT = {"CreatedDate": SEEDED_AT, "LastModifiedDate": SEEDED_AT, "SystemModstamp": SEEDED_AT}


def write_fixture(org: History, path: Path) -> int:
    """The org as a `leadsync sandbox --seed` fixture; returns how many records it holds."""
    account_ids = {a["name"]: make_id("001", n) for n, a in enumerate(org.accounts, 100)}
    fixture: dict[str, list[dict[str, Any]]] = {"Account": [
        {"Id": account_ids[a["name"]], "Name": a["name"], "Website": a["domain"],
         "BillingCity": a["city"], "BillingCountry": a["country"]} | AUDIT
        for a in org.accounts]}
    fixture["Contact"], fixture["Lead"] = [], []
    for n, p in enumerate(org.people, 100):
        row = {"FirstName": p["first_name"], "LastName": p["last_name"], "Email": p["email"],
               "Phone": p["phone"], "Title": p["title"]} | AUDIT
        if p["object"] == "Contact":
            fixture["Contact"].append(row | {
                "Id": make_id("003", n), "AccountId": account_ids[p["account"]],
                "MailingStreet": p["street"], "MailingCity": p["city"],
                "MailingPostalCode": p["postal_code"], "MailingCountry": p["country"]})
        else:
            fixture["Lead"].append(row | {
                "Id": make_id("00Q", n), "Company": p["company"], "Street": p["street"],
                "City": p["city"], "PostalCode": p["postal_code"], "Country": p["country"],
                "Status": "Working - Contacted"})
    path.write_text(json.dumps(fixture), encoding="utf-8")
    return sum(len(rows) for rows in fixture.values())


def lead_files(org: History, sizes: list[int], seed: int = 1) -> list[list[MarketingLead]]:
    """One qualifying lead file per size, no address twice across them: half are
    people of the org written another way (``VARIATIONS``), half newcomers
    (who may share a name with someone in the org, as in life)."""
    rng = random.Random(f"scale-leads-{seed}")
    known = iter(rng.sample(range(len(org.people)), sum(sizes) // 2 + len(sizes)))
    newcomers = iter(people(sum(sizes), seed + 7_919))
    taken = {p["email"].lower() for p in org.people}
    now = datetime.now(UTC).replace(microsecond=0)
    files = []
    for size in sizes:
        leads = []
        for k in range(size):
            if k % 2:
                leads.append(MarketingLead(dict(next(newcomers)), None, "new"))
                continue
            i = next(known)
            kind = VARIATIONS[(k // 2) % len(VARIATIONS)]
            leads.append(MarketingLead(_vary(rng, dict(org.people[i]), kind), i, kind))
        for lead in leads:
            email = lead.row["email"]
            own = lead.label is not None and org.people[lead.label]["email"] == email
            if email.lower() in taken and not own:  # marketing holds one lead per address
                local, _, domain = email.partition("@")
                lead.row["email"] = email = f"{local}.{len(taken)}@{domain}"
            taken.add(email.lower())
            lead.row = _csv_row(lead.row, now)
        files.append(leads)
    return files


def _vary(rng: random.Random, r: dict[str, Any], kind: str) -> dict[str, Any]:
    if kind == "email_personal":
        r["email"] = f"{_mail(r['first_name'])}.{_mail(r['last_name'])}" \
                     f"{rng.randrange(1000)}@{rng.choice(FREE_MAIL)}"
    elif kind == "typo_last":
        r["last_name"] = _typo(rng, r["last_name"])
    elif kind == "case":
        r["first_name"], r["last_name"] = _recase(rng, r["first_name"]), \
            _recase(rng, r["last_name"])
    return r


# --- running the CLI, measured ----------------------------------------------------------


def set_lookback(config: Path, seconds: int) -> None:
    text, found = re.subn(r"(?m)^lookback_seconds = \d+", f"lookback_seconds = {seconds}",
                          config.read_text(encoding="utf-8"))
    if found != 1:
        raise ValueError(f"{config}: lookback_seconds found {found} times, not once")
    config.write_text(text, encoding="utf-8")


class PeakRss(threading.Thread):
    """A process's own peak RSS: ``VmHWM`` of /proc/PID/status, read every 0.2 s
    while it runs. Its ``ru_maxrss`` will not do: a child forked from this bench
    starts with the bench's high-water mark (a million-record org in memory), and
    keeps it across exec. VmHWM belongs to the program exec'd, so a reading counts
    only once the command line is leadsync's."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak_kib, self.done = pid, 0, threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.2):
            try:
                if b"connector.cli" not in Path(f"/proc/{self.pid}/cmdline").read_bytes():
                    continue  # not exec'd yet: the bench's own memory
                status = Path(f"/proc/{self.pid}/status").read_text()
            except OSError:
                return  # gone
            if found := re.search(r"^VmHWM:\s+(\d+) kB", status, re.M):
                self.peak_kib = max(self.peak_kib, int(found.group(1)))


def measured(config: Path, name: str, *args: str, profile: Path | None = None) -> Run:
    """`leadsync ARGS` as a subprocess, reaped with `os.wait4` for its own CPU; its
    peak RSS read from /proc while it runs (``PeakRss``). With ``profile``,
    `py-spy record --nonblocking` is attached to it (raw stacks to that file): it
    samples from outside without pausing the process, so the figures stand."""
    env = {k: v for k, v in os.environ.items() if k != "LEADSYNC_CONFIG"} | ENV
    command = [sys.executable, "-m", "connector.cli", *args, "--config", str(config)]
    log = config.parent / name
    with open(f"{log}.out", "w") as out, open(f"{log}.err", "w") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out, stderr=err, env=env, cwd=config.parent)
        peak = PeakRss(proc.pid)
        peak.start()
        spy = None
        if profile is not None:
            time.sleep(0.5)  # the interpreter up, so py-spy finds its version
            spy = subprocess.Popen([str(PY_SPY), "record", "--nonblocking", "-r", "50", "-f",
                                    "raw", "-o", str(profile), "--pid", str(proc.pid)],
                                   stdout=subprocess.DEVNULL, stderr=err)
        while True:  # reaped only after the last reading: /proc/PID goes with the reaping
            reaped, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if reaped:
                break
            time.sleep(0.05)
        seconds = time.perf_counter() - start
        if spy is not None:
            spy.wait(timeout=120)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"leadsync {' '.join(args)} exited {proc.returncode}; see {log}.err:"
                           f"\n{Path(f'{log}.err').read_text()[-3000:]}")
    peak.done.set()
    peak.join()
    return Run(seconds, usage.ru_utime + usage.ru_stime, peak.peak_kib / 1024)


def last_run(folder: Path) -> dict[str, int]:
    """What the state database says the last sync did."""
    with sqlite3.connect(folder / "state.db") as db:
        db.row_factory = sqlite3.Row
        row = db.execute("SELECT * FROM sync_run ORDER BY id DESC LIMIT 1").fetchone()
        indexed = db.execute("SELECT count(*) FROM crm_candidate").fetchone()[0]
    names = ("read", "qualified", "matched", "held", "created", "updated", "unchanged",
             "refused", "not_written")
    return {name: row[name] for name in names} | {"status": row["status"], "indexed": indexed}


@dataclass
class Scale:
    records: int
    seed_s: float = 0.0
    fill: Run | None = None
    loads: dict[int, Run] = field(default_factory=dict)
    nochange: Run | None = None
    past_lookback: Run | None = None


def run(records: int, sizes: list[int], folder: Path, profile: tuple[int, Path] | None) -> Scale:
    org = make_org(records)
    files = lead_files(org, sizes)
    fixture = folder / "org.json"
    result = Scale(write_fixture(org, fixture))
    print(f"org: {result.records:,} records ({len(org.accounts):,} accounts); seeding", flush=True)
    del org
    start = time.perf_counter()
    with sandbox_process(folder / "sandbox", "--seed", str(fixture)) as addresses:
        result.seed_s = time.perf_counter() - start
        print(f"sandbox seeded in {result.seed_s:.0f} s", flush=True)
        with CountingProxy(addresses["salesforce"], latency=LATENCY_S) as proxy:
            config = write_config("salesforce", folder, proxy.address)
            set_lookback(config, LOOKBACK_S)
            result.fill = cycle(config, proxy, "fill")
            for size, leads in zip(sizes, files, strict=True):
                History([], [], [], leads).write_csv(folder / f"leads-{size}.csv")
                leadsync(config, "import", str(folder / f"leads-{size}.csv"))
                proxy.reset()
                spied = profile[1] if profile and profile[0] == size else None
                result.loads[size] = cycle(config, proxy, f"load-{size}", spied)
            result.nochange = cycle(config, proxy, "nochange")
            time.sleep(LOOKBACK_S + 2)
            result.past_lookback = cycle(config, proxy, "past-lookback")
    return result


def cycle(config: Path, proxy: CountingProxy, name: str, profile: Path | None = None) -> Run:
    done = measured(config, name, "sync", "--once", profile=profile)
    done.calls, done.counts = proxy.reset(), last_run(config.parent)
    print(f"{name}: {done.seconds:.1f} s, cpu {done.cpu_s:.1f} s, {done.rss_mb:.0f} MB, "
          f"{done.total_calls} calls {done.calls}, {done.counts}", flush=True)
    return done


# --- profile and report -----------------------------------------------------------------


def top_costs(raw: Path, n: int = 8) -> list[tuple[str, float, float]]:
    """From py-spy's raw (collapsed) stacks: the functions of leadsync and the
    libraries it calls with the largest share of samples, inclusive and own."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        samples = int(count)
        total += samples
        if not stack.strip():  # a sample py-spy could not read (no Python frame)
            continue
        frames = [re.sub(r" \((.*?):\d+\)$", r" (\1)", f) for f in stack.split(";")]
        own[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples
    return [(frame, samples / total, inclusive[frame] / total)
            for frame, samples in own.most_common(n)]


def label(count: int) -> str:
    """1m, 300k, 100: how a size reads in a figure's name."""
    if count >= 1_000_000 and count % 1_000_000 < 50_000:
        return f"{count // 1_000_000}m"
    return f"{round(count / 1000)}k" if count >= 1000 else str(count)


def report(result: Scale, args: argparse.Namespace) -> tuple[str, dict[str, float]]:
    assert result.fill and result.nochange and result.past_lookback
    sizes = sorted(result.loads)
    # the figures are against a million records (the generated org keeps 996,945
    # of its million once people it made twice are dropped): others say what they are against
    fill_key = "index_fill_1m" if result.records >= 990_000 else \
        f"index_fill_{label(result.records)}"
    lines = ["## Scale: index fill and cycles against a large org (`bench/scale.py`)", "",
             f"A Salesforce org of {result.records:,} records (leads, contacts, accounts), "
             "seeded through `leadsync sandbox --seed` (the sandbox's own seeding path, "
             f"{result.seed_s:.0f} s at start-up, outside every figure) and served by it over "
             "HTTP in its own process; every call counted at the wire by the proxy, 30 ms "
             "added to each. Each row is one `leadsync sync --once` process with the shipped "
             f"config.toml (batch_size 1000, bulk_threshold 2000) but lookback_seconds = "
             f"{LOOKBACK_S}: its wall time, its own CPU (user + sys) (`os.wait4`) and peak RSS "
             "(VmHWM from /proc while it runs).",
             "", "| cycle | leads read | created | updated | API calls | wall s | CPU s | "
             "CPU ms / lead | peak RSS MB |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: "
             "| ---: | ---: |"]
    rows = [("index fill (no leads)", result.fill)]
    rows += [(f"{size:,} leads", result.loads[size]) for size in sizes]
    rows += [("no change, right after", result.nochange),
             (f"no change, past the {LOOKBACK_S} s look-back", result.past_lookback)]
    for name, r in rows:
        per = f"{r.cpu_s * 1000 / r.counts['read']:.2f}" if r.counts["read"] else "—"
        lines.append(f"| {name} | {r.counts['read']:,} | {r.counts['created']:,} | "
                     f"{r.counts['updated']:,} | {r.total_calls:,} | {r.seconds:.1f} | "
                     f"{r.cpu_s:.1f} | {per} | {r.rss_mb:.0f} |")
    pairs = list(zip(sizes, sizes[1:], strict=False))
    steps = [result.loads[b].seconds / result.loads[a].seconds for a, b in pairs]
    lines += ["", f"Index fill: {result.fill.counts['indexed']:,} records indexed; calls by "
              "kind: " + ", ".join(f"{k} {n}" for k, n in result.fill.calls.items()) + ".",
              "Time ratio per 10× step: " + ", ".join(
                  f"{b:,}/{a:,} {s:.1f}×" for (a, b), s in zip(pairs, steps, strict=True)) + ".",
              "", "Command: `nice .venv/bin/python -m bench.scale"
              + (f" --records {args.records}" if args.records else "")
              + f" --sizes {','.join(map(str, sizes))}`."]
    against = "" if result.records >= 990_000 else f"_vs_{label(result.records)}"
    per_lead = [r for size, r in result.loads.items() if size >= 1_000] or \
        list(result.loads.values())  # the issue's sizes: below, start-up CPU dominates
    worst = max(per_lead, key=lambda r: r.cpu_s / max(r.counts["read"], 1))
    figures = {f"{fill_key}_s": result.fill.seconds, f"{fill_key}_calls": result.fill.total_calls,
               f"{fill_key}_peak_rss_mb": result.fill.rss_mb,
               f"cpu_ms_per_lead{against}": worst.cpu_s * 1000 / worst.counts["read"],
               f"scale_worst_step_ratio{against}": max(steps),
               f"nochange_calls_after_{label(sizes[-1])}": result.nochange.total_calls,
               f"nochange_s_after_{label(sizes[-1])}": result.nochange.seconds,
               "nochange_calls_past_lookback": result.past_lookback.total_calls,
               "nochange_s_past_lookback": result.past_lookback.seconds}
    for size in sizes:  # the load_* are against a million records: others say so
        figures[f"load_{label(size)}{against}_s"] = result.loads[size].seconds
        figures[f"load_{label(size)}{against}_peak_rss_mb"] = result.loads[size].rss_mb
    return "\n".join(lines), figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100k records, 100/1k leads; "
                        "not recorded")
    parser.add_argument("--records", type=int, default=None, help="CRM records [1,000,000]")
    parser.add_argument("--sizes", type=lambda text: [int(n) for n in text.split(",")],
                        default=None, help="leads per cycle, ascending [1000,10000,100000]")
    parser.add_argument("--profile", type=Path, default=None,
                        help="py-spy raw stacks of the largest cycle to this file")
    args = parser.parse_args()
    records = args.records or (100_000 if args.quick else 1_000_000)
    sizes = args.sizes or ([100, 1_000] if args.quick else [1_000, 10_000, 100_000])
    with tempfile.TemporaryDirectory(prefix="leadsync-scale-") as tmp:
        result = run(records, sizes, Path(tmp),
                     (sizes[-1], args.profile) if args.profile else None)
    markdown, figures = report(result, args)
    print(markdown)
    if args.profile:
        print(f"\nTop costs of the {sizes[-1]:,} cycle ({args.profile}): own, inclusive share")
        for frame, own, inclusive in top_costs(args.profile, 15):
            print(f"  {own:6.1%} {inclusive:6.1%}  {frame}")
    if args.quick:
        print("quick run: figures not recorded")
        return
    record(f"scale-{label(records)}", markdown, figures)


if __name__ == "__main__":
    main()
