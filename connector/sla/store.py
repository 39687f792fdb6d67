"""SLA clocks as rows: one per lead and clock, from start to met or breached.

The table sits on the state store's metadata (``StateModel``), beside links and
runs. A clock row is written when it starts and updated when it is warned,
met or breached, so each of those happens once, whatever the number of runs
that look at it; the actions a breach took are listed on the row, so a run
cut off between two actions does the rest, not the first again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from sqlalchemy import Column, Index, UniqueConstraint, or_
from sqlalchemy import Text as SAText
from sqlmodel import Field, Session, col, select

from connector.db import UTCDateTime
from connector.migrations import STATE, prepare
from connector.state import StateModel


def _when(**kwargs: object) -> object:
    return Field(sa_column=Column(UTCDateTime(), **kwargs))


class SlaClock(StateModel, table=True):
    """One clock of one lead: started at the hand-off (or on entering a stage)."""

    __tablename__ = "sla_clock"
    __table_args__ = (UniqueConstraint("marketing_id", "clock", "started_at"),
                      Index("ix_sla_clock_open", "crm", "closed"))
    id: int | None = Field(default=None, primary_key=True)
    marketing_id: str
    crm: str
    crm_object: str
    crm_id: str
    clock: str
    """first_touch, decision, touches, or stage:<name> (the stage's max)."""
    owner_id: str | None = None
    started_at: datetime = _when(nullable=False)  # type: ignore[assignment]
    due_at: datetime = _when(nullable=False)  # type: ignore[assignment]
    warn_at: datetime | None = _when(nullable=True)  # type: ignore[assignment]
    warned_at: datetime | None = _when(nullable=True)  # type: ignore[assignment]
    met_at: datetime | None = _when(nullable=True)  # type: ignore[assignment]
    breached_at: datetime | None = _when(nullable=True)  # type: ignore[assignment]
    closed: bool = False
    """Met, breached with every action done, or stopped (the lead left the stage)."""
    evidence: str = Field(default="", sa_column=Column(SAText, nullable=False))
    """What the clock saw: the touch that met it, or why it is breached."""
    actions_done: str = Field(default="[]", sa_column=Column(SAText, nullable=False))

    def done(self) -> list[str]:
        return list(json.loads(self.actions_done or "[]"))

    def mark_done(self, action: str) -> None:
        self.actions_done = json.dumps([*self.done(), action])


class SlaStore:
    def __init__(self, engine: object) -> None:
        self.engine = engine
        prepare(engine, STATE)  # type: ignore[arg-type]

    def open(self, crm: str) -> list[SlaClock]:
        with Session(self.engine) as session:  # type: ignore[arg-type]
            query = select(SlaClock).where(SlaClock.crm == crm, col(SlaClock.closed).is_(False))
            return list(session.exec(query.order_by(col(SlaClock.due_at))))

    def of_leads(self, marketing_ids: Iterable[str]) -> list[SlaClock]:
        ids = list(marketing_ids)
        with Session(self.engine) as session:  # type: ignore[arg-type]
            out: list[SlaClock] = []
            for start in range(0, len(ids), 500):
                query = select(SlaClock).where(col(SlaClock.marketing_id)
                                               .in_(ids[start:start + 500]))
                out.extend(session.exec(query.order_by(col(SlaClock.started_at))))
            return out

    def listing(self, crm: str, *, include_closed: bool = False,
                breached_since: datetime | None = None,
                limit: int | None = 10_000) -> list[SlaClock]:
        """Open clocks (and closed ones breached since ``breached_since``), or all;
        the first ``limit`` by deadline (None: every one)."""
        with Session(self.engine) as session:  # type: ignore[arg-type]
            query = select(SlaClock).where(SlaClock.crm == crm)
            if not include_closed:
                shown = col(SlaClock.closed).is_(False)
                if breached_since is not None:
                    shown = or_(shown, col(SlaClock.breached_at) >= breached_since)
                query = query.where(shown)
            query = query.order_by(col(SlaClock.due_at))
            return list(session.exec(query if limit is None else query.limit(limit)))

    def follow(self, moved: Mapping[tuple[str, str], str]) -> None:
        """Open clocks of leads whose record was merged away go to the survivor
        (``moved``: (lead, merged-away record) → survivor): the owner's touches are
        looked for where the rep works now."""
        if not moved:
            return
        clocks = [clock for clock in self.of_leads({lead for lead, _ in moved})
                  if not clock.closed and (clock.marketing_id, clock.crm_id) in moved]
        for clock in clocks:
            clock.crm_id = moved[clock.marketing_id, clock.crm_id]
        self.save(clocks)

    def save(self, clocks: Sequence[SlaClock]) -> list[SlaClock]:
        """Insert new clocks (a clock already started at that time is kept as it is)
        and update known ones; returns the rows as stored."""
        if not clocks:
            return []
        with Session(self.engine, expire_on_commit=False) as session:  # type: ignore[arg-type]
            stored: list[SlaClock] = []
            for clock in clocks:
                if clock.id is None:
                    same = session.exec(select(SlaClock).where(
                        SlaClock.marketing_id == clock.marketing_id,
                        SlaClock.clock == clock.clock,
                        SlaClock.started_at == clock.started_at)).first()
                    if same is not None:
                        stored.append(same)
                        continue
                stored.append(session.merge(clock))
            session.commit()
            return stored
