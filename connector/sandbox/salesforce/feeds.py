"""``sobjects/{Object}/updated`` and ``.../deleted``: the replication change feeds.

Rules taken from Salesforce's REST and SOAP (getUpdated/getDeleted) docs:

* ``start`` and ``end`` are ISO-8601 date-times, read in UTC; the seconds are
  ignored (12:30:15 is 12:30:00), so the feed works at minute granularity.
* ``start`` must be at least one minute before ``end``, otherwise 400
  ``INVALID_REPLICATION_DATE`` (the real message, wording and all:
  "startDate must be at least one minute greater than endDate").
* ``updated`` answers for no more than 30 days before the day of the call,
  ``deleted`` for 15 (the Recycle Bin); an older ``start`` is
  ``INVALID_REPLICATION_DATE``.
* More than 600,000 ids is ``EXCEEDED_ID_LIMIT``: ask for a shorter window.
* ``updated`` reads ``SystemModstamp`` (``LastModifiedDate`` if there is
  none); ``deleted`` reads the time of the delete.

A record is in the window when ``start <= stamp < end``. ``latestDateCovered``
is ``end``, or the current minute if ``end`` is later, so a caller that uses
it as the next ``start`` sees a change again rather than never: records
stamped in the current minute are returned now *and* by the next call.

Deviation, on purpose: a date-time without an offset is read as UTC, and so
is the dangling ``:`` that simple-salesforce's ``date_to_iso8601`` leaves on
a naive ``datetime``; a real org may refuse both.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from .errors import ApiError
from .schema import SObject, format_datetime, parse_datetime
from .store import Org

MAX_IDS = 600_000
UPDATED_DAYS = 30
DELETED_DAYS = 15


def _replication_error(message: str) -> ApiError:
    return ApiError.one(400, "INVALID_REPLICATION_DATE", message)


def _minute(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(second=0, microsecond=0)


def _parse(args: Mapping[str, str], name: str) -> datetime:
    raw = args.get(name)
    if raw is None or not raw.strip():
        raise ApiError.one(400, "MISSING_ARGUMENT", f"{name} parameter is required")
    text = raw.strip()
    if text.endswith(":") and text.count(":") == 3:
        text = text[:-1]  # simple-salesforce on a naive datetime: "...T10:00:00:"
    parsed = parse_datetime(text)
    if parsed is None:
        try:
            naive = datetime.fromisoformat(text)
        except ValueError:
            raise ApiError.one(
                400,
                "INVALID_REPLICATION_DATE",
                f"{name} must be a dateTime in ISO 8601 format "
                f"(YYYY-MM-DDThh:mm:ss+hh:mm), not '{raw}'",
            ) from None
        parsed = naive if naive.tzinfo else naive.replace(tzinfo=UTC)
    return _minute(parsed)


def feed(
    kind: str, org: Org, sobject: SObject, args: Mapping[str, str], now: datetime
) -> dict[str, Any]:
    """The body of ``GET sobjects/{name}/{kind}/?start=&end=`` (kind: updated | deleted)."""
    start, end = _parse(args, "start"), _parse(args, "end")
    if end - start < timedelta(minutes=1):
        raise _replication_error("startDate must be at least one minute greater than endDate")
    days = UPDATED_DAYS if kind == "updated" else DELETED_DAYS
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if start < today - timedelta(days=days):
        raise _replication_error(
            f"startDate cannot be more than {days} days ago: "
            f"{format_datetime(today - timedelta(days=days))} is the earliest allowed"
        )
    covered = min(end, _minute(now))
    if kind == "updated":
        stamp_field = "SystemModstamp" if sobject.field("SystemModstamp") else "LastModifiedDate"
        ids = [r["Id"] for r in org.rows(sobject) if _within(r.get(stamp_field), start, end)]
        _cap(len(ids))
        return {"ids": ids, "latestDateCovered": format_datetime(covered)}
    deleted = []
    earliest: datetime | None = None
    for r in org.rows(sobject, include_deleted=True):
        stamp = org.deleted_at(r["Id"]) if r.get("IsDeleted") else None
        if stamp is None:
            continue
        when = parse_datetime(stamp)
        if when is not None and (earliest is None or when < earliest):
            earliest = when
        if _within(stamp, start, end):
            deleted.append({"id": r["Id"], "deletedDate": stamp})
    _cap(len(deleted))
    return {
        "deletedRecords": deleted,
        "earliestDateAvailable": format_datetime(_minute(earliest or now)),
        "latestDateCovered": format_datetime(covered),
    }


def _within(stamp: str | None, start: datetime, end: datetime) -> bool:
    when = parse_datetime(stamp) if stamp else None
    return when is not None and start <= when < end


def _cap(count: int) -> None:
    if count > MAX_IDS:
        raise ApiError.one(
            400,
            "EXCEEDED_ID_LIMIT",
            f"More than {MAX_IDS} ids match; choose start and end dates that are closer together",
        )
