"""The recycle and could-not-reach rules as a pure decision, table-tested."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connector.adapters.base import StageUpdate
from connector.process import CouldNotReachRule, ProcessConfig, RecycleRule
from connector.records import Activity, Lead
from connector.recycling import Back, due_back

AT = datetime(2027, 1, 4, 10, 0, tzinfo=UTC)
BEFORE, AFTER = datetime(2027, 1, 3, tzinfo=UTC), datetime(2027, 1, 5, tzinfo=UTC)


def step(stage: str, day: int, reason: str | None = None) -> StageUpdate:
    return StageUpdate("7", stage, "", datetime(2027, 1, day, 10, 0, tzinfo=UTC),
                       reason=reason)


def lead(stage: str, *when: datetime) -> Lead:
    return Lead("7", {"email": "p@acme.example"}, AT, stage=stage,
                activities=[Activity('form_fill', w, "Demo") for w in when])


DEFAULT = ProcessConfig()
ANY_TIME = ProcessConfig(recycle=RecycleRule(new_signal=False))
ONE_TRY = ProcessConfig(could_not_reach=CouldNotReachRule(max_attempts=1))

CASES = [
    # (process, lead, history, qualifies, expected)
    ("recycled, nothing new since", DEFAULT, lead("recycle", BEFORE),
     [step("mql", 1), step("recycle", 4, "No budget")], True, None),
    ("recycled, new activity, qualifies", DEFAULT, lead("recycle", BEFORE, AFTER),
     [step("mql", 1), step("recycle", 4, "No budget")], True,
     Back("back", "recycled 2027-01-04 (No budget); cool-off of 30 days over, score 60; "
                  "new: form_fill Demo")),
    ("recycled, new activity, no longer qualifies", DEFAULT, lead("recycle", AFTER),
     [step("mql", 1), step("recycle", 4)], False, None),
    ("recycled, no new signal asked", ANY_TIME, lead("recycle"),
     [step("mql", 1), step("recycle", 4)], True,
     Back("back", "recycled 2027-01-04; cool-off of 30 days over, score 60")),
    ("not reached once", DEFAULT, lead("could_not_reach"),
     [step("mql", 1), step("could_not_reach", 2)], True,
     Back("back", "could not be reached 2027-01-02; try 2 of 3")),
    ("not reached past its tries", ONE_TRY, lead("could_not_reach"),
     [step("mql", 1), step("could_not_reach", 2), step("mql", 3),
      step("could_not_reach", 4)], True, Back("recycle", "could not be reached 2 times")),
    ("tries counted afresh after a return from marketing", ONE_TRY, lead("could_not_reach"),
     [step("mql", 1), step("could_not_reach", 2), step("mql", 3), step("could_not_reach", 4),
      step("recycle", 5), step("mql", 6), step("could_not_reach", 7)], True,
     Back("back", "could not be reached 2027-01-07; try 2 of 2")),
]


@pytest.mark.parametrize(("process", "item", "history", "qualifies", "expected"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_due_back(process: ProcessConfig, item: Lead, history: list[StageUpdate],
                  qualifies: bool, expected: Back | None) -> None:
    assert due_back(item, history, process, qualifies=qualifies,
                    score_reason="score 60") == expected
