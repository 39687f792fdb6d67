"""Minimal reproductions of the product bugs the rep simulator found, one function each,
on a fresh sandbox, through the real clients: what a rep and marketing do, what leadsync
should then do, and what it does. Not collected by pytest; run them by hand:

    .venv/bin/python -m tests.simulator.repros              # every one, on both CRMs
    .venv/bin/python -m tests.simulator.repros merge_into_keyless_survivor salesforce

Each prints ``BUG`` (with expected and got) or ``ok`` (fixed, or not on that CRM).
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import structlog

from connector import config as configuration
from connector.adapters.marketing_store import EmbeddedMarketingStore
from connector.pipeline import Pipeline
from connector.state import StateStore
from connector.wiring import open_crm, open_marketing, run_once
from tests.conftest import import_leads, lead_row
from tests.simulator.crms import SIDES, CrmSide, Person

DANA = dict(first_name="Dana", last_name="Nguyen", company="Northwind Traders")
DANA_DESK = dict(DANA, email="dana@northwind.example", phone="+1 415 555 0100")
CHRIS_DESK = dict(DANA, first_name="Chris", email="info@northwind.example",
                  phone="+1 415 555 0100")
"""Colleagues on one desk phone, Chris on the team's mailbox: rules cannot tell them
apart, so Chris is held for review against Dana."""


class World:
    """One CRM sandbox, its config and databases; marketing and a rep acting on it."""

    def __init__(self, crm: str, *, lookback: int | None = None) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="repro-"))
        self.side: CrmSide = SIDES[crm]()
        self.side.start(self.tmp)
        os.environ.update(self.side.env)
        if lookback is not None:
            path = self.side.config_path
            path.write_text(path.read_text().replace(
                "lookback_seconds = 300 ", f"lookback_seconds = {lookback} "))
            self.side.config = configuration.load(path)
        self.config = self.side.config
        self.files = 0

    def imports(self, *rows: dict[str, str]) -> None:
        self.files += 1
        import_leads(self.config, self.tmp / f"{self.files}.csv", list(rows))

    def run(self) -> Any:
        return run_once(self.config)

    def people(self) -> list[Person]:
        return sorted(self.side.people(), key=lambda p: p.crm_id)

    def record(self, key: str) -> Person:
        return next(p for p in self.people() if p.key == key)

    def stage(self, lead: str) -> str | None:
        store = EmbeddedMarketingStore(self.config.resolve_url(self.config.marketing.url))
        try:
            found = store.get(lead)
            return found.stage if found else None
        finally:
            store.close()

    @contextmanager
    def state(self) -> Iterator[StateStore]:
        store = StateStore(self.config.resolve_url(self.config.state.url))
        try:
            yield store
        finally:
            store.close()

    def pipeline(self, crm_wrapper: Callable[[Any], Any]) -> Any:
        """One run with the CRM adapter wrapped (to play a rep acting mid-run)."""
        with self.state() as state, open_marketing(self.config) as marketing, \
                open_crm(self.config) as crm:
            return Pipeline(self.config, state, marketing, crm_wrapper(crm)).run()

    def close(self) -> None:
        self.side.stop()


class Wrapped:
    """The real adapter, with ``before_upsert`` run just before each write."""

    def __init__(self, real: Any, before_upsert: Callable[[], None],
                 after_upsert: Callable[[], None] = lambda: None) -> None:
        self.real, self.name = real, real.name
        self.before, self.after = before_upsert, after_upsert

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def upsert(self, *args: Any) -> Any:
        self.before()
        result = self.real.upsert(*args)
        self.after()
        return result


def verdict(expected: object, got: object) -> tuple[object, object]:
    return expected, got


# --- the bugs ---------------------------------------------------------------------------------

def resurrected_by_address(crm: str) -> tuple[object, object]:
    """A rep deletes Dana's record; marketing then gets a second lead for the same Gmail
    mailbox (another dot placement). Expected: not created (the person was deleted), and
    the second lead, linked to the deleted record, hears crm_deleted like the first."""
    w = World(crm)
    try:
        w.imports(lead_row(1, email="dana.nguyen@gmail.com", **DANA))
        w.run()
        w.side.delete(w.record("1"), via_client=True)
        w.run()
        w.imports(lead_row(2, email="dananguyen@gmail.com", **DANA))
        summary = w.run()
        return verdict(("created=0", "crm_deleted"),
                       (f"created={summary.counts['created']}", w.stage("2")))
    finally:
        w.close()


def hubspot_merge_then_archive(crm: str) -> tuple[object, object]:
    """HubSpot: a rep merges the contacts of leads 1 and 2, then archives the merged
    contact, before the next run. Expected: both leads hear crm_deleted."""
    if crm != "hubspot":
        return verdict("n/a", "n/a")
    w = World(crm)
    try:
        w.imports(lead_row(1), lead_row(2))
        w.run()
        merged = w.side.merge(w.record("1"), w.record("2"), via_client=True)
        w.side.delete(next(p for p in w.people() if p.crm_id == merged), via_client=True)
        w.run()
        w.run()
        return verdict(("crm_deleted", "crm_deleted"), (w.stage("1"), w.stage("2")))
    finally:
        w.close()


def merge_then_delete_in_one_batch(crm: str) -> tuple[object, object]:
    """A rep merges lead 2's record into lead 1's, deletes the survivor, then deletes lead
    3's record, all before the next run ([sync] lookback_seconds = 0). Expected: leads 1,
    2 and 3 hear crm_deleted."""
    w = World(crm, lookback=0)
    try:
        w.imports(lead_row(1), lead_row(2), lead_row(3))
        w.run()
        survivor = w.side.merge(w.record("1"), w.record("2"), via_client=False)
        w.side.delete(next(p for p in w.people() if p.crm_id == survivor), via_client=True)
        w.side.delete(w.record("3"), via_client=True)
        w.run()
        w.run()
        return verdict(("crm_deleted",) * 3, tuple(w.stage(n) for n in "123"))
    finally:
        w.close()


def merge_into_keyless_survivor(crm: str) -> tuple[object, object]:
    """A rep merges leadsync's record of lead 1 into the rep's own record of the same
    person (no leadsync key), then works the survivor. Expected: lead 1 hears it."""
    w = World(crm)
    try:
        w.imports(lead_row(1, email="priya.shah@gmail.com", first_name="Priya",
                           last_name="Shah", company="Acme Robotics"))
        w.run()
        mine = w.side.create({"first_name": "Priya", "last_name": "Shah",
                              "company": "Acme Robotics", "email": "priyashah@gmail.com"},
                             contact=False, owner=w.side.owners[1], via_client=True)
        rep_record = next(p for p in w.people() if p.crm_id == mine)
        survivor = w.side.merge(rep_record, w.record("1"), via_client=True)
        w.run()
        worked = "Working - Contacted" if crm == "salesforce" else "IN_PROGRESS"
        w.side.set_fields(next(p for p in w.people() if p.crm_id == survivor),
                          {w.side.status_field: worked}, True)
        w.run()
        return verdict("sales_accepted", w.stage("1"))
    finally:
        w.close()


def deleted_between_read_and_write(crm: str) -> tuple[object, object]:
    """A rep deletes lead 1's record while a run is between its read-back and its write
    (the race leadsync handles by writing by id). Expected: not written, not re-created,
    and marketing hears crm_deleted (in that run or the next)."""
    w = World(crm)
    try:
        w.imports(lead_row(1))
        w.run()
        target = w.record("1")
        w.imports(lead_row(1, title="CEO"))
        done: list[bool] = []

        def delete_once() -> None:
            if not done:
                done.append(True)
                w.side.delete(target, via_client=True)

        summary = w.pipeline(lambda crm_: Wrapped(crm_, delete_once))
        w.run()
        return verdict(("not_written=1", "crm_deleted"),
                       (f"not_written={summary.counts['not_written']}", w.stage("1")))
    finally:
        w.close()


def killed_after_create_then_deleted(crm: str) -> tuple[object, object]:
    """A run dies (SIGKILL) right after the CRM created lead 1's record, before the link
    was saved; a rep deletes the record before the next run. Expected: not re-created,
    and marketing hears crm_deleted."""
    w = World(crm)

    class Killed(BaseException):
        pass

    def die() -> None:
        raise Killed()

    try:
        w.imports(lead_row(1))
        with suppress(Killed):
            w.pipeline(lambda crm_: Wrapped(crm_, lambda: None, die))
        w.side.delete(w.record("1"), via_client=True)
        w.run()
        w.run()
        return verdict(("records=0", "crm_deleted"), (f"records={len(w.people())}",
                                                       w.stage("1")))
    finally:
        w.close()


def same_answer_to_deleted_record(crm: str) -> tuple[object, object]:
    """Chris is held as a possible duplicate of Dana's new record; a rep deletes Dana's
    record; the reviewer answers 'same'. Expected: no dead letter, no failed run."""
    w = World(crm)
    try:
        w.imports(lead_row(1, **DANA_DESK), lead_row(2, **CHRIS_DESK))
        w.run()
        w.side.delete(w.record("1"), via_client=True)
        with w.state() as state:
            [review] = state.reviews.listing()
            state.reviews.decide(review.id, "same")
        summary = w.run()
        with w.state() as state:
            letters = [(d.error_code, d.message[:60]) for d in state.dead_letters()]
        return verdict(("ok", []), (summary.status, letters))
    finally:
        w.close()


def fed_back_counts_same_stage(crm: str) -> tuple[object, object]:
    """HubSpot: a rep moves a contact from IN_PROGRESS to CONNECTED (both mapped to
    sales_accepted). Expected: fed_back=0 ('leads whose stage changed')."""
    if crm != "hubspot":
        return verdict("n/a", "n/a")
    w = World(crm)
    try:
        w.imports(lead_row(1))
        w.run()
        w.side.set_fields(w.record("1"), {"hs_lead_status": "IN_PROGRESS"}, True)
        w.run()
        w.side.set_fields(w.record("1"), {"hs_lead_status": "CONNECTED"}, True)
        summary = w.run()
        return verdict("fed_back=0, stage sales_accepted",
                       f"fed_back={summary.counts['fed_back']}, stage {w.stage('1')}")
    finally:
        w.close()


def reviewer_same_rewrites_identity(crm: str) -> tuple[object, object]:
    """A lead held against a rep's record with the same Gmail mailbox but another first
    name; the reviewer says 'same'. docs/sync-semantics.md: after a reviewer's 'same' the
    record's first name, last name and email are written only where blank."""
    w = World(crm)
    try:
        w.side.create({"first_name": "Chris", "last_name": "Nguyen",
                       "company": "Northwind Traders", "email": "dananguyen@gmail.com"},
                      contact=False, owner=w.side.owners[1], via_client=True)
        w.imports(lead_row(1, email="dana.nguyen@gmail.com", **DANA))
        w.run()
        with w.state() as state:
            for review in state.reviews.listing():
                state.reviews.decide(review.id, "same")
        w.run()
        [record] = w.people()
        return verdict(("Chris", "dananguyen@gmail.com"), (record.first, record.email))
    finally:
        w.close()


def review_asked_twice(crm: str) -> tuple[object, object]:
    """Chris is held against Dana, a lead of the same run (a 'link' review); marketing
    then changes Chris before anyone answers, and the next run holds him again against
    Dana's CRM record: the same pair twice. The reviewer answers the first 'different'.
    Expected: nothing left to ask about Chris and Dana."""
    w = World(crm)
    try:
        w.imports(lead_row(1, **DANA_DESK), lead_row(2, **CHRIS_DESK))
        w.run()
        w.imports(lead_row(2, **{**CHRIS_DESK, "title": "CFO"}))
        w.run()
        with w.state() as state:
            first, *_ = state.reviews.listing()
            state.reviews.decide(first.id, "different")
            pending = [(r.id, r.kind, r.crm_id) for r in state.reviews.listing()]
        return verdict([], pending)
    finally:
        w.close()


def held_lead_written_unanswered(crm: str) -> tuple[object, object]:
    """Chris is held against Dana, a lead of the same run; marketing changes Chris before
    anyone answers. Expected: still held (the review is pending); HubSpot's look-up finds
    no Dana by last name and company, so the next run creates Chris, the review still
    open."""
    w = World(crm)
    try:
        w.imports(lead_row(1, **DANA_DESK), lead_row(2, **CHRIS_DESK))
        w.run()
        w.imports(lead_row(2, **{**CHRIS_DESK, "title": "CFO"}))
        summary = w.run()
        return verdict("created=0", f"created={summary.counts['created']}")
    finally:
        w.close()


def late_link_no_verdict(crm: str) -> tuple[object, object]:
    """A rep gives Dana's record a verdict, lead 1 hears it; then marketing gets Dana's
    other Gmail spelling (lead 2), matched to the same record. Expected: lead 2 hears the
    record's verdict too."""
    w = World(crm)
    try:
        w.imports(lead_row(1, email="dana.nguyen@gmail.com", **DANA))
        w.run()
        status = "Closed - Not Converted" if crm == "salesforce" else "BAD_TIMING"
        w.side.set_fields(w.record("1"), {w.side.status_field: status}, True)
        w.run()
        w.imports(lead_row(2, email="dananguyen@gmail.com", **DANA))
        w.run()
        w.run()
        return verdict(("recycle", "recycle"), (w.stage("1"), w.stage("2")))
    finally:
        w.close()


def twin_leads_rewrite_identity(crm: str) -> tuple[object, object]:
    """A rep's own record for Tom (tom.okafor@globex.example); marketing sends two leads
    of Tom's one Gmail mailbox in one run (tom.okafor@ and tomokafor@gmail.com), matched
    to it by name and company. Expected: the record keeps its own email."""
    w = World(crm)
    try:
        tom = dict(first_name="Tom", last_name="Okafor", company="Globex")
        w.side.create({**tom, "email": "tom.okafor@globex.example"}, contact=False,
                      owner=w.side.owners[0], via_client=True)
        w.imports(lead_row(1, email="tom.okafor@gmail.com", phone="", **tom),
                  lead_row(2, email="tomokafor@gmail.com", phone="", **tom))
        w.run()
        return verdict("tom.okafor@globex.example", w.people()[0].email)
    finally:
        w.close()


def killed_between_link_and_stage(crm: str) -> tuple[object, object]:
    """A rep deletes lead 1's record; the next run is killed after it marked the link
    deleted but before it wrote the stage to marketing (two databases, no transaction
    across them). Expected: a later run still tells marketing crm_deleted."""
    w = World(crm)

    class Killed(BaseException):
        pass

    class DiesWritingStages:
        def __init__(self, real: Any) -> None:
            self.real, self.name = real, real.name

        def __getattr__(self, name: str) -> Any:
            return getattr(self.real, name)

        def write_stages(self, *args: Any) -> Any:
            raise Killed()

    try:
        w.imports(lead_row(1))
        w.run()
        w.side.delete(w.record("1"), via_client=True)
        with w.state() as state, open_marketing(w.config) as marketing, \
                open_crm(w.config) as crm_, suppress(Killed):
            Pipeline(w.config, state, DiesWritingStages(marketing), crm_).run()
        w.run()
        w.run()
        return verdict("crm_deleted", w.stage("1"))
    finally:
        w.close()


REPROS: dict[str, Callable[[str], tuple[object, object]]] = {
    f.__name__: f for f in (
        resurrected_by_address, hubspot_merge_then_archive, merge_then_delete_in_one_batch,
        merge_into_keyless_survivor, deleted_between_read_and_write,
        killed_after_create_then_deleted, same_answer_to_deleted_record,
        fed_back_counts_same_stage, reviewer_same_rewrites_identity, review_asked_twice,
        held_lead_written_unanswered, late_link_no_verdict, twin_leads_rewrite_identity,
        killed_between_link_and_stage)}


def main(argv: list[str]) -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    names = [a for a in argv if a in REPROS] or list(REPROS)
    crms = [a for a in argv if a in SIDES] or list(SIDES)
    for name in names:
        for crm in crms:
            expected, got = REPROS[name](crm)
            status = "ok " if expected == got else "BUG"
            print(f"{status} {name} [{crm}]: expected {expected}, got {got}")


if __name__ == "__main__":
    main(sys.argv[1:])
