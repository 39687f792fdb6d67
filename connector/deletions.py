"""When a run looks for the records reps deleted, for a CRM that lists them apart
from its changes (``CrmAdapter.deleted_every``): HubSpot's search never shows an
archived record, and its archived listing has no "since", so each look pages
through every deleted record there is.

A run that reads changed leads always looks: a rep's deletion decides what a lead
is matched to, and that a deleted person is not made again. A run with none looks
once the last look is ``deleted_every`` old. Each look starts at the last one, less
the look-back window, so skipping runs misses nothing; the first starts where each
feed's own cursor stands. A look is noted (a mark beside the cursors) once the
removals and the candidate index have taken it, and never by a dry run.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from connector.records import Deletions
from connector.state import StateStore


class DeletionLooks:
    """The looks for deleted records of one pipeline's CRM object."""

    def __init__(self, state: StateStore, every: timedelta | None, name: str,
                 lookback: timedelta) -> None:
        self.state = state
        self.every = every
        """``CrmAdapter.deleted_every``; None: deletions come with the changes."""
        self.mark = f"deleted:{name}"
        """The state mark holding when the last look was made."""
        self.lookback = lookback
        self._at: datetime | None = None
        """When this run looked; None: it did not (or deletions come with changes)."""

    def where(self, now: datetime, leads_waiting: Callable[[], bool]) -> Deletions | None:
        """Where this run looks (None: as each feed's own cursor says, or the CRM
        reads deletions with its changes)."""
        self._at = None
        if self.every is None:
            return None
        kept = self.state.mark(self.mark)
        last = datetime.fromisoformat(kept) if kept else None
        if last is not None and now - last < self.every and not leads_waiting():
            return Deletions(None, listed=False)
        self._at = now
        return Deletions(last - self.lookback) if last is not None else None

    def noted(self, *, dry_run: bool) -> None:
        """The look of this run taken by its feeds: the next starts from it."""
        if self._at is not None and not dry_run:
            self.state.set_mark(self.mark, self._at.isoformat())
