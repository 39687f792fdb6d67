"""Injected faults: 503s, dropped connections, timeouts and latency, seen by real clients."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import requests
from sf_helpers import FakeClock, connect, lead
from simple_salesforce import Salesforce, SalesforceAuthenticationFailed, SalesforceGeneralError

from connector.sandbox.salesforce import Faults, SalesforceSandbox
from connector.transport import make_session

SERVER_UNAVAILABLE = [{"message": "Server too busy", "errorCode": "SERVER_UNAVAILABLE"}]


class RecordingSleep:
    """Stands in for time.sleep: remembers what it was asked to wait, waits for nothing."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def _query(sf: Salesforce) -> str:
    """One REST call, reduced to what happened to it."""
    try:
        sf.query("SELECT Id FROM Lead")
    except SalesforceGeneralError as exc:
        return str(exc.status)
    except requests.ConnectionError:
        return "drop"
    return "ok"


def test_fail_at_answers_the_nth_api_request_with_a_503(sandbox: SalesforceSandbox) -> None:
    sf = connect(sandbox)  # login is not an eligible request by default
    sandbox.faults = Faults(fail_at={2: "503"})

    sf.query("SELECT Id FROM Lead")
    with pytest.raises(SalesforceGeneralError) as failure:
        sf.query("SELECT Id FROM Lead")
    sf.query("SELECT Id FROM Lead")

    assert failure.value.status == 503
    assert failure.value.content == SERVER_UNAVAILABLE
    assert sandbox.faulted_count == 1
    assert [(e.number, e.kind) for e in sandbox.fault_log] == [(2, "503")]


def test_a_503_writes_nothing(sandbox: SalesforceSandbox, sf: Salesforce) -> None:
    sandbox.inject(fail_at={1: "503"})

    with pytest.raises(SalesforceGeneralError):
        sf.Lead.create(lead())

    assert sandbox.records("Lead") == []


def test_a_dropped_connection_is_a_connection_error_for_requests(
    sandbox: SalesforceSandbox, sf: Salesforce
) -> None:
    sandbox.faults = Faults(fail_at={1: "drop"})
    url = f"https://{sf.sf_instance}/services/data/v59.0/limits"
    session = make_session(sandbox.address)

    with pytest.raises(requests.ConnectionError):
        session.get(url, headers={"Authorization": f"Bearer {sf.session_id}"}, timeout=5)
    response = session.get(url, headers={"Authorization": f"Bearer {sf.session_id}"}, timeout=5)

    assert response.status_code == 200  # the next request on a new connection is served


def test_drop_loses_the_write_but_drop_after_keeps_it(
    sandbox: SalesforceSandbox, sf: Salesforce
) -> None:
    sandbox.faults = Faults(fail_at={1: "drop", 2: "drop_after"})

    with pytest.raises(requests.ConnectionError):
        sf.Lead.create(lead(LastName="Dropped"))
    with pytest.raises(requests.ConnectionError):
        sf.Lead.create(lead(LastName="Landed"))

    assert [r["LastName"] for r in sandbox.records("Lead")] == ["Landed"]
    assert sandbox.faulted_count == 2


def test_timeout_lands_the_write_then_stalls_past_the_client_timeout(
    clock: FakeClock,
) -> None:
    release = threading.Event()
    stalls: list[float] = []

    def stall(seconds: float) -> None:  # an event wait, not a sleep: the test ends it
        stalls.append(seconds)
        release.wait(timeout=10)

    with SalesforceSandbox(
        clock=clock, faults=Faults(fail_at={1: "timeout"}, timeout_seconds=120, sleep=stall)
    ) as sandbox:
        sf = connect(sandbox)
        url = f"https://{sf.sf_instance}/services/data/v59.0/sobjects/Lead"
        try:
            with pytest.raises(requests.Timeout):
                make_session(sandbox.address).post(
                    url,
                    json=lead(),
                    headers={"Authorization": f"Bearer {sf.session_id}"},
                    timeout=0.2,
                )
            assert len(sandbox.records("Lead")) == 1
        finally:
            release.set()

    assert stalls == [120]


def test_latency_is_added_to_each_api_request_through_the_injected_sleep(
    sandbox: SalesforceSandbox,
) -> None:
    sleep = RecordingSleep()
    sandbox.faults = Faults(latency=0.25, sleep=sleep)

    sf = connect(sandbox)
    sf.query("SELECT Id FROM Lead")
    sf.query("SELECT Id FROM Lead")

    assert sleep.calls == [0.25, 0.25]  # two queries; the login is not delayed
    assert sandbox.faulted_count == 0  # slow is not failed


def test_login_is_faulted_only_when_asked(sandbox: SalesforceSandbox) -> None:
    sandbox.faults = Faults(error_rate=1.0, include_login=True)

    with pytest.raises(SalesforceAuthenticationFailed) as failure:
        connect(sandbox)

    assert failure.value.code == 503
    sandbox.faults = Faults(error_rate=1.0)
    assert connect(sandbox).session_id


def _outcomes(clock: FakeClock, seed: int, n: int = 40) -> list[str]:
    faults = Faults(error_rate=0.3, drop_rate=0.1, seed=seed)
    with SalesforceSandbox(clock=clock, faults=faults) as sandbox:
        sf = connect(sandbox)
        outcomes = [_query(sf) for _ in range(n)]
        assert sandbox.faulted_count == sum(o != "ok" for o in outcomes)
        assert sandbox.request_count == n + 1  # every request, faulted or not, plus login
    return outcomes


def test_rates_are_deterministic_for_a_seed(clock: FakeClock) -> None:
    first = _outcomes(clock, seed=7)

    assert _outcomes(clock, seed=7) == first
    assert {"ok", "503", "drop"} <= set(first)
    assert _outcomes(clock, seed=8) != first


def test_assigning_faults_restarts_the_numbering(sandbox: SalesforceSandbox) -> None:
    sf = connect(sandbox)
    sandbox.faults = Faults(fail_at={1: "503"})
    assert _query(sf) == "503"
    assert _query(sf) == "ok"

    sandbox.faults = Faults(fail_at={1: "503"})
    assert _query(sf) == "503"
    sandbox.faults = None
    assert _query(sf) == "ok"
    assert sandbox.faulted_count == 2


@pytest.mark.parametrize(
    "settings",
    [
        {"error_rate": 1.5},
        {"error_rate": 0.6, "drop_rate": 0.6},
        {"fail_at": {3: "explode"}},
        {"fail_at": {0: "503"}},
        {"latency": -1},
    ],
)
def test_nonsense_fault_settings_are_refused(settings: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Faults(**settings)  # type: ignore[arg-type]


@pytest.fixture
def faulty(clock: FakeClock) -> Iterator[SalesforceSandbox]:
    with SalesforceSandbox(clock=clock, faults=Faults(fail_at={1: "503"})) as sandbox:
        yield sandbox


def test_faults_can_be_given_to_the_constructor(faulty: SalesforceSandbox) -> None:
    sf = connect(faulty)

    assert _query(sf) == "503"
    assert faulty.faults == Faults(fail_at={1: "503"})
