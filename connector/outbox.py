"""Step 7's promise to the rep: the follow-up task each handoff owes, made exactly once.

The task is owed (a ``task_owed`` row) in the same transaction that saves the
link, then made here. Tasks owed by this run's own writes are made straight
away; any other (an earlier run stopped or crashed around the call, a rebuilt
link) is first looked for in the CRM by the mark of its lead, so a task is never
made twice. A call that fails leaves its tasks owed for the next run; a task the
CRM refuses is settled with the reason as a warning (the lead stays handed off).
"""

from __future__ import annotations

from collections.abc import Set

from connector.adapters.base import CrmAdapter
from connector.errors import AdapterError, QuotaReserved
from connector.records import HandoffTask
from connector.state import Event, StateStore, TaskOwed


def make_owed_tasks(state: StateStore, crm: CrmAdapter, *, fresh: Set[tuple[str, str]],
                    warnings: list[str]) -> list[Event]:
    """Make what ``crm`` is owed; ``fresh``: (lead, record) of tasks owed by this run's
    own writes, which cannot exist yet (asked as it is: a run's set grows by a batch a
    call, and a copy each call is quadratic in the run). Returns the events; appends
    warnings."""
    rows = state.tasks_owed(crm.name)
    if not rows:
        return []
    tasks = {row.id or 0: HandoffTask.from_json(row.task) for row in rows}
    made: dict[int, str] = {}
    failed: dict[int, str] = {}
    refused: dict[int, str] = {}
    unsure = [row for row in rows if row.verify or (row.marketing_id, row.crm_id) not in fresh]
    try:
        if unsure:
            there = crm.tasks_made([tasks[row.id or 0] for row in unsure])
            made.update({row.id or 0: there[tasks[row.id or 0].key] for row in unsure
                         if tasks[row.id or 0].key in there})
        for crm_object, group in _calls([row for row in rows if row.id not in made]):
            results = {r.key: r for r in crm.add_tasks(
                crm_object, [tasks[row.id or 0] for row in group])}
            for row in group:
                result = results.get(tasks[row.id or 0].key)
                if result is not None and result.ok:
                    made[row.id or 0] = result.crm_id or ""
                elif result is not None:
                    refused[row.id or 0] = "; ".join(str(e) for e in result.errors)
    except QuotaReserved:
        raise
    except AdapterError as exc:
        failed.update({row.id or 0: str(exc) for row in rows
                       if row.id not in made and row.id not in refused})
    finally:
        state.tasks_settled(made, failed, refused)
    events: list[Event] = []
    for row in rows:
        owed_id = row.id or 0
        if owed_id in made:
            events.append(Event(row.marketing_id, "task", f"handoff task {made[owed_id]}"))
        elif owed_id in refused:
            warnings.append(f"lead {row.marketing_id}: handoff task refused: "
                            f"{refused[owed_id]}")
            events.append(Event(row.marketing_id, "task_refused", refused[owed_id]))
    if failed:
        why = next(iter(failed.values()))
        warnings.append(f"{len(failed)} follow-up tasks still owed (the next run makes them, "
                        f"never twice): {why}")
        events.extend(Event(row.marketing_id, "task_owed", why) for row in rows
                      if row.id in failed)
    return events


def _calls(rows: list[TaskOwed]) -> list[tuple[str, list[TaskOwed]]]:
    """Rows grouped into calls by object, a lead at most once a call: results are
    matched to their task by its key (the lead's, or the lead's and the hand-back's)."""
    calls: dict[tuple[str, int], list[TaskOwed]] = {}
    seen: dict[tuple[str, str], int] = {}
    for row in rows:
        turn = seen.get((row.crm_object, row.marketing_id), 0)
        seen[(row.crm_object, row.marketing_id)] = turn + 1
        calls.setdefault((row.crm_object, turn), []).append(row)
    return [(crm_object, group) for (crm_object, _), group in calls.items()]
