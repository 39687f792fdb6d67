"""The replication feeds sobjects/{Object}/updated and /deleted, through the real client."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sf_helpers import START, FakeClock, lead
from simple_salesforce import Salesforce, SalesforceMalformedRequest

from connector.sandbox.salesforce import SalesforceSandbox, feeds

T0 = START  # 2026-11-25T03:00:00Z, when the fixtures' clock starts


def _wire(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def test_updated_lists_created_and_modified_ids_in_the_window(
    sf: Salesforce, clock: FakeClock
) -> None:
    early = sf.Lead.create(lead(LastName="Early"))["id"]  # stamped 03:00:00
    clock.advance(minutes=10)
    late = sf.Lead.create(lead(LastName="Late"))["id"]  # stamped 03:10:00
    clock.advance(minutes=10)

    first = sf.Lead.updated(T0, T0 + timedelta(minutes=5))
    second = sf.Lead.updated(T0 + timedelta(minutes=5), T0 + timedelta(minutes=15))

    assert first == {"ids": [early], "latestDateCovered": _wire(T0 + timedelta(minutes=5))}
    assert second["ids"] == [late]


def test_an_update_moves_a_record_into_a_later_window(sf: Salesforce, clock: FakeClock) -> None:
    record = sf.Lead.create(lead())["id"]
    clock.advance(minutes=10)
    sf.Lead.update(record, {"Company": "Renamed"})
    clock.advance(minutes=10)

    assert sf.Lead.updated(T0 + timedelta(minutes=5), T0 + timedelta(minutes=15))["ids"] == [
        record
    ]


def test_seconds_are_ignored(sf: Salesforce, clock: FakeClock) -> None:
    record = sf.Lead.create(lead())["id"]  # 03:00:00.000
    clock.advance(minutes=3)

    # start 03:00:59 reads as 03:00:00, so the record is in; end 03:02:59 reads as 03:02.
    result = sf.Lead.updated(T0 + timedelta(seconds=59), T0 + timedelta(minutes=2, seconds=59))

    assert result == {"ids": [record], "latestDateCovered": _wire(T0 + timedelta(minutes=2))}


def test_latest_date_covered_stops_at_the_current_minute(
    sf: Salesforce, clock: FakeClock
) -> None:
    clock.advance(minutes=7, seconds=30)
    record = sf.Lead.create(lead())["id"]

    result = sf.Lead.updated(T0, T0 + timedelta(hours=1))

    assert result == {"ids": [record], "latestDateCovered": _wire(T0 + timedelta(minutes=7))}


def test_offsets_in_start_and_end_are_honoured(sf: Salesforce, clock: FakeClock) -> None:
    record = sf.Lead.create(lead())["id"]
    clock.advance(minutes=10)
    plus_two = timezone(timedelta(hours=2))

    result = sf.Lead.updated(
        datetime(2026, 11, 25, 4, 59, tzinfo=plus_two),  # 02:59Z
        datetime(2026, 11, 25, 5, 1, tzinfo=plus_two),  # 03:01Z
    )

    assert result["ids"] == [record]


def test_naive_datetimes_are_read_as_utc(sf: Salesforce, clock: FakeClock) -> None:
    record = sf.Lead.create(lead())["id"]
    clock.advance(minutes=10)

    result = sf.Lead.updated(datetime(2026, 11, 25, 2, 59), datetime(2026, 11, 25, 3, 1))

    assert result["ids"] == [record]


def test_deleted_lists_ids_and_delete_times(sf: Salesforce, clock: FakeClock) -> None:
    kept = sf.Lead.create(lead(LastName="Kept"))["id"]
    gone = sf.Lead.create(lead(LastName="Gone"))["id"]
    clock.advance(minutes=2)
    sf.Lead.delete(gone)
    clock.advance(minutes=10)

    result = sf.Lead.deleted(T0, T0 + timedelta(minutes=5))

    assert result == {
        "deletedRecords": [{"id": gone, "deletedDate": result["deletedRecords"][0]["deletedDate"]}],
        "earliestDateAvailable": _wire(T0 + timedelta(minutes=2)),
        "latestDateCovered": _wire(T0 + timedelta(minutes=5)),
    }
    assert result["deletedRecords"][0]["deletedDate"].startswith("2026-11-25T03:02:00")
    assert kept not in sf.Lead.updated(T0 + timedelta(minutes=1), T0 + timedelta(minutes=5))[
        "ids"
    ]


def test_a_deleted_record_leaves_the_updated_feed(sf: Salesforce, clock: FakeClock) -> None:
    gone = sf.Lead.create(lead())["id"]
    sf.Lead.delete(gone)
    clock.advance(minutes=5)

    assert sf.Lead.updated(T0, T0 + timedelta(minutes=5))["ids"] == []


def _replication_error(call: object) -> list[dict[str, str]]:
    with pytest.raises(SalesforceMalformedRequest) as failure:
        call()  # type: ignore[operator]
    assert failure.value.status == 400
    content: list[dict[str, str]] = failure.value.content
    return content


@pytest.mark.parametrize("kind", ["updated", "deleted"])
def test_end_must_be_a_minute_after_start(sf: Salesforce, kind: str) -> None:
    method = getattr(sf.Lead, kind)

    errors = _replication_error(lambda: method(T0, T0 + timedelta(seconds=59)))

    assert errors == [
        {
            "errorCode": "INVALID_REPLICATION_DATE",
            "message": "startDate must be at least one minute greater than endDate",
        }
    ]
    assert _replication_error(lambda: method(T0, T0 - timedelta(hours=1)))[0]["errorCode"] == (
        "INVALID_REPLICATION_DATE"
    )


@pytest.mark.parametrize(("kind", "days"), [("updated", 30), ("deleted", 15)])
def test_start_may_not_be_older_than_the_retention(sf: Salesforce, kind: str, days: int) -> None:
    method = getattr(sf.Lead, kind)
    midnight = T0.replace(hour=0)

    method(midnight - timedelta(days=days), T0)  # the oldest allowed start
    errors = _replication_error(lambda: method(midnight - timedelta(days=days, minutes=1), T0))

    assert errors[0]["errorCode"] == "INVALID_REPLICATION_DATE"


def test_too_many_ids_is_exceeded_id_limit(
    sf: Salesforce, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(feeds, "MAX_IDS", 2)
    for _ in range(3):
        sf.Lead.create(lead())
    clock.advance(minutes=5)

    errors = _replication_error(lambda: sf.Lead.updated(T0, T0 + timedelta(minutes=5)))

    assert errors[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


def test_feeds_cost_one_api_call_and_need_a_session(
    sandbox: SalesforceSandbox, sf: Salesforce
) -> None:
    before = sandbox.api_usage

    sf.Lead.updated(T0 - timedelta(hours=1), T0)

    assert sandbox.api_usage == before + 1
