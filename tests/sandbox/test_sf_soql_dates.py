"""SOQL date literals and date/dateTime values in WHERE, through the real client.

The fixtures' clock stands at Wednesday 2026-11-25T03:00Z; the API user's
time zone is GMT, so "today" is 2026-11-25 and this week runs Sunday
22 to Saturday 28.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sf_helpers import FakeClock, connect, lead
from simple_salesforce import Salesforce, SalesforceMalformedRequest

from connector.sandbox.salesforce import SalesforceSandbox
from connector.transport import make_session

CREATED = {
    "Old": "2026-01-01T12:00:00.000+0000",
    "LastMonth": "2026-10-15T12:00:00.000+0000",
    "LastWeek": "2026-11-17T12:00:00.000+0000",
    "Yesterday": "2026-11-24T12:00:00.000+0000",
    "Today": "2026-11-25T00:30:00.000+0000",
    "Tomorrow": "2026-11-26T10:00:00.000+0000",
}
ALL = set(CREATED)


@pytest.fixture
def dated(clock: FakeClock) -> Iterator[SalesforceSandbox]:
    seed = {
        "Lead": [
            lead(LastName=name, CreatedDate=created, ConvertedDate=created[:10])
            for name, created in CREATED.items()
        ]
    }
    with SalesforceSandbox(
        seed=seed, clock=clock, client_credentials_user="avery.chen@leadsync.sandbox"
    ) as sandbox:
        yield sandbox


def _names(sf: Salesforce, where: str) -> set[str]:
    result = sf.query(f"SELECT LastName FROM Lead WHERE {where}")
    return {r["LastName"] for r in result["records"]}


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("CreatedDate = TODAY", {"Today"}),
        ("CreatedDate = YESTERDAY", {"Yesterday"}),
        ("CreatedDate = TOMORROW", {"Tomorrow"}),
        ("CreatedDate < TODAY", {"Old", "LastMonth", "LastWeek", "Yesterday"}),
        ("CreatedDate > TODAY", {"Tomorrow"}),
        ("CreatedDate >= TODAY", {"Today", "Tomorrow"}),
        ("CreatedDate <= TODAY", ALL - {"Tomorrow"}),
        ("CreatedDate != TODAY", ALL - {"Today"}),
        ("CreatedDate = LAST_N_DAYS:1", {"Yesterday", "Today"}),
        ("CreatedDate = LAST_N_DAYS:365", ALL - {"Tomorrow"}),
        ("CreatedDate = NEXT_N_DAYS:1", {"Tomorrow"}),
        ("CreatedDate = LAST_90_DAYS", ALL - {"Old", "Tomorrow"}),
        ("CreatedDate = NEXT_90_DAYS", {"Tomorrow"}),
        ("CreatedDate = THIS_WEEK", {"Yesterday", "Today", "Tomorrow"}),
        ("CreatedDate = LAST_WEEK", {"LastWeek"}),
        ("CreatedDate = NEXT_WEEK", set()),
        ("CreatedDate = LAST_N_WEEKS:2", {"LastWeek"}),
        ("CreatedDate = THIS_MONTH", {"LastWeek", "Yesterday", "Today", "Tomorrow"}),
        ("CreatedDate = LAST_MONTH", {"LastMonth"}),
        ("CreatedDate = THIS_QUARTER", ALL - {"Old"}),
        ("CreatedDate = THIS_YEAR", ALL),
        ("CreatedDate = LAST_YEAR", set()),
        ("CreatedDate = N_DAYS_AGO:8", {"LastWeek"}),
        ("CreatedDate IN (YESTERDAY, TOMORROW)", {"Yesterday", "Tomorrow"}),
        ("CreatedDate NOT IN (YESTERDAY, TOMORROW)", ALL - {"Yesterday", "Tomorrow"}),
        ("CreatedDate = today", {"Today"}),  # literals are case-insensitive like keywords
        ("ConvertedDate = YESTERDAY", {"Yesterday"}),
        ("ConvertedDate > LAST_WEEK", {"Yesterday", "Today", "Tomorrow"}),
        ("ConvertedDate = 2026-11-24", {"Yesterday"}),
        ("ConvertedDate >= 2026-11-24", {"Yesterday", "Today", "Tomorrow"}),
        ("CreatedDate > 2026-11-24T12:00:00Z", {"Today", "Tomorrow"}),
        ("CreatedDate = 2026-11-24T13:00:00+01:00", {"Yesterday"}),
        ("CreatedDate < 2026-11-25T01:00:00.000-01:00", ALL - {"Tomorrow"}),
    ],
)
def test_date_filters(dated: SalesforceSandbox, where: str, expected: set[str]) -> None:
    assert _names(connect(dated), where) == expected


def test_literals_follow_the_users_time_zone(dated: SalesforceSandbox) -> None:
    # Avery is in America/Los_Angeles, where 03:00Z on the 25th is the evening of the 24th:
    # her TODAY runs 2026-11-24T08:00Z to 2026-11-25T08:00Z.
    token = make_session(dated.address).post(
        "https://login.salesforce.com/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": dated.consumer_key,
            "client_secret": dated.consumer_secret,
        },
        timeout=5,
    ).json()["access_token"]
    avery = Salesforce(
        instance="leadsync-sandbox.my.salesforce.com",
        session_id=token,
        session=make_session(dated.address),
    )

    assert _names(avery, "CreatedDate = TODAY") == {"Yesterday", "Today"}
    assert _names(avery, "ConvertedDate = TODAY") == {"Yesterday"}  # a date has no zone


def test_literals_move_with_the_clock(dated: SalesforceSandbox, clock: FakeClock) -> None:
    sf = connect(dated)
    clock.advance(days=1)

    assert _names(sf, "CreatedDate = TODAY") == {"Tomorrow"}


@pytest.mark.parametrize(
    ("where", "code", "message"),
    [
        (
            "LastName = TODAY",
            "INVALID_FIELD",
            "value of filter criterion for field 'LastName' must be of type string and "
            "should be enclosed in quotes",
        ),
        (
            "CreatedDate = 2026-11-24",
            "INVALID_FIELD",
            "value of filter criterion for field 'CreatedDate' must be of type dateTime and "
            "should not be enclosed in quotes",
        ),
        (
            "ConvertedDate = 2026-11-24T00:00:00Z",
            "INVALID_FIELD",
            "value of filter criterion for field 'ConvertedDate' must be of type date and "
            "should not be enclosed in quotes",
        ),
        ("CreatedDate = '2026-11-24T00:00:00Z'", "INVALID_FIELD", None),
        ("CreatedDate = LAST_N_DAYS", "MALFORMED_QUERY", None),
        ("CreatedDate = LAST_N_DAYS:x", "MALFORMED_QUERY", None),
        ("CreatedDate = SOMEDAY", "MALFORMED_QUERY", None),
    ],
)
def test_wrong_date_values_are_refused(
    dated: SalesforceSandbox, where: str, code: str, message: str | None
) -> None:
    with pytest.raises(SalesforceMalformedRequest) as failure:
        connect(dated).query(f"SELECT Id FROM Lead WHERE {where}")

    error = failure.value.content[0]
    assert error["errorCode"] == code
    if message is not None:
        assert error["message"].endswith(message)


def test_query_all_returns_deleted_records_flagged(sandbox: SalesforceSandbox) -> None:
    sf = connect(sandbox)
    kept = sf.Lead.create(lead(LastName="Kept"))["id"]
    gone = sf.Lead.create(lead(LastName="Gone"))["id"]
    sf.Lead.delete(gone)

    live = sf.query("SELECT Id, IsDeleted FROM Lead")["records"]
    everything = sf.query("SELECT Id, IsDeleted FROM Lead", include_deleted=True)["records"]

    assert [(r["Id"], r["IsDeleted"]) for r in live] == [(kept, False)]
    assert [(r["Id"], r["IsDeleted"]) for r in everything] == [(kept, False), (gone, True)]
