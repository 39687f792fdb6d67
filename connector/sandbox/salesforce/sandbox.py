"""``SalesforceSandbox``: a local org that the real simple-salesforce talks to.

Lifecycle only: build (or reload) the org, serve it on a loopback socket in
a background thread, save it on stop. Everything Salesforce-shaped lives in
``server.py`` (HTTP), ``store.py`` (data), ``schema.py``/``objects.py``
(metadata) and ``soql.py`` (queries).

Typical use::

    with SalesforceSandbox(state_path=Path("state/sf.json")) as sandbox:
        sf = Salesforce(username="admin@leadsync.sandbox", password="sandbox",
                        security_token="", session=make_session(sandbox.address))
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..serving import ServedSandbox
from . import oauth, soap, writes
from .bulk import DEFAULT_BASE_SECONDS, DEFAULT_SECONDS_PER_RECORD, Pace
from .convert import LeadConvertResult, convert_lead
from .faults import Faults
from .ids import normalize_id
from .limits import DEFAULT_DAILY_API_ALLOCATION
from .merge import MergeResult, merge_records
from .objects import DEFAULT_LEAD_STATUSES, LeadStatusEntry, default_schema, lead_statuses
from .schema import SObject
from .server import SalesforceApp
from .store import Org, Record, SeedError

log = logging.getLogger(__name__)

DEFAULT_PASSWORD = "sandbox"
"""The API user's documented password (username ``admin@leadsync.sandbox``, empty token)."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


class SalesforceSandbox(ServedSandbox):
    """An in-process Salesforce org reachable over HTTP on 127.0.0.1.

    If ``state_path`` exists the org is loaded from it, so consecutive demo
    runs see the same data, as with a real org; otherwise it starts from
    ``seed`` (a JSON file or a dict ``{"Lead": [...], "User": [...]}``) on
    top of the built-in users. ``clock`` drives every timestamp, session
    expiry and the daily API counter, so tests never sleep.

    Operations knobs, all changeable at runtime too: ``session_seconds``
    (idle time before a session dies, Salesforce's default 2 hours),
    ``daily_api_allocation`` (past it REST calls get 403
    REQUEST_LIMIT_EXCEEDED), ``consumer_key``/``consumer_secret`` (the
    connected app for ``/services/oauth2/token``), ``client_credentials_user``
    (whom the client-credentials grant runs as; default the API user) and
    ``faults`` (see ``faults.py``), and how long a Bulk API 2.0 job (ingest
    or query) takes: ``bulk_base_seconds + records * bulk_seconds_per_record``
    after it is queued, answering ``InProgress`` to polls until then and to at
    least ``bulk_in_progress_polls`` of them (``bulk.Pace``). The defaults
    make 200 records 5 ms and 1,000,000 records 25 s.

    Org setup: ``lead_statuses`` is the Lead Status picklist (default: the
    four of a new org; ``[*DEFAULT_LEAD_STATUSES, "Recycle"]`` adds one), each
    value a label, a ``LeadStatusValue`` or a LeadStatus-shaped mapping
    (``{"MasterLabel": "Qualified", "IsConverted": True}``). A seed's
    ``"LeadStatus"`` rows add values too, and a reloaded org keeps the ones it
    had. The picklist is what Lead.Status accepts (it is restricted), what
    describe lists and what the LeadStatus object answers.
    ``field_history`` maps Lead and/or Opportunity to their tracked fields
    (default ``objects.DEFAULT_FIELD_HISTORY``); every change to one writes
    LeadHistory / OpportunityFieldHistory rows.
    """

    thread_name = "salesforce-sandbox"

    def __init__(
        self,
        *,
        username: str = "admin@leadsync.sandbox",
        password: str = DEFAULT_PASSWORD,
        security_token: str = "",
        state_path: Path | None = None,
        seed: Path | dict[str, Any] | None = None,
        page_size: int = 2000,
        api_version: str = "59.0",
        instance_host: str = "leadsync-sandbox.my.salesforce.com",
        clock: Callable[[], datetime] | None = None,
        session_seconds: int = soap.SESSION_SECONDS_VALID,
        daily_api_allocation: int = DEFAULT_DAILY_API_ALLOCATION,
        consumer_key: str = oauth.DEFAULT_CONSUMER_KEY,
        consumer_secret: str = oauth.DEFAULT_CONSUMER_SECRET,
        client_credentials_user: str | None = None,
        faults: Faults | None = None,
        bulk_in_progress_polls: int = 1,
        bulk_base_seconds: float = DEFAULT_BASE_SECONDS,
        bulk_seconds_per_record: float = DEFAULT_SECONDS_PER_RECORD,
        lead_statuses: Sequence[LeadStatusEntry] | None = None,
        field_history: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self.state_path = Path(state_path) if state_path is not None else None
        self._clock = clock or _utcnow
        base = DEFAULT_LEAD_STATUSES if lead_statuses is None else lead_statuses
        if self.state_path is not None and self.state_path.exists():
            state = json.loads(self.state_path.read_text(encoding="utf-8"))
            schema = default_schema(_picklist(base, _saved_statuses(state)))
            self.org = Org.from_state(schema, self._clock, state)
        else:
            data = _read_seed(seed) if seed is not None else {}
            added = [row for k, rows in data.items() if k.lower() == "leadstatus" for row in rows]
            schema = default_schema(_picklist(base, added))
            self.org = Org.fresh(schema, self._clock, admin_username=username)
            rest = {k: rows for k, rows in data.items() if k.lower() != "leadstatus"}
            if rest:
                self.org.load_seed(rest)
        if field_history is not None:
            self.org.track_history(field_history)
        self._app = SalesforceApp(
            self.org,
            username=username,
            password=password,
            security_token=security_token,
            page_size=page_size,
            api_version=api_version,
            instance_host=instance_host,
            clock=self._clock,
            session_seconds=session_seconds,
            daily_api_allocation=daily_api_allocation,
            consumer_key=consumer_key,
            consumer_secret=consumer_secret,
            client_credentials_user=client_credentials_user,
            faults=faults,
            bulk_pace=Pace(bulk_base_seconds, bulk_seconds_per_record, bulk_in_progress_polls),
        )
        self._init_serving()

    # --- lifecycle --------------------------------------------------------

    def save(self) -> None:
        """Write the org to ``state_path`` atomically (temp file + rename)."""
        if self.state_path is None:
            raise ValueError("this sandbox has no state_path to save to")
        self.org.save(self.state_path)

    # --- what callers look at ------------------------------------------------

    @property
    def api_usage(self) -> int:
        """Today's REST calls, the number reported in ``Sforce-Limit-Info``."""
        return self._app.api_usage

    @property
    def page_size(self) -> int:
        """Rows per query page (2,000 like Salesforce); smaller makes paging testable."""
        return self._app.page_size

    @page_size.setter
    def page_size(self, rows: int) -> None:
        if rows < 1:
            raise ValueError("page_size must be at least 1")
        self._app.page_size = rows

    def set_api_usage(self, used: int) -> None:
        """Pretend ``used`` REST calls were already made today (the clock's UTC day)."""
        self._app.usage.set_used(used)

    @property
    def daily_api_allocation(self) -> int:
        """The daily REST call allocation; the call after the last one is refused with 403."""
        return self._app.usage.allocation

    @daily_api_allocation.setter
    def daily_api_allocation(self, allocation: int) -> None:
        if allocation < 0:
            raise ValueError("daily_api_allocation must not be negative")
        self._app.usage.allocation = allocation

    @property
    def bulk_base_seconds(self) -> float:
        """Seconds every Bulk API 2.0 job waits before its records count (the queue)."""
        return self._app.bulk_pace.base_seconds

    @bulk_base_seconds.setter
    def bulk_base_seconds(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("bulk_base_seconds must not be negative")
        self._app.bulk_pace.base_seconds = seconds

    @property
    def bulk_seconds_per_record(self) -> float:
        """Seconds a Bulk API 2.0 job spends on each record it inserts, updates or reads."""
        return self._app.bulk_pace.seconds_per_record

    @bulk_seconds_per_record.setter
    def bulk_seconds_per_record(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("bulk_seconds_per_record must not be negative")
        self._app.bulk_pace.seconds_per_record = seconds

    # --- sessions ---------------------------------------------------------------

    @property
    def session_seconds(self) -> int:
        """Idle seconds after which a session is refused with 401 INVALID_SESSION_ID."""
        return self._app.session_seconds

    @session_seconds.setter
    def session_seconds(self, seconds: int) -> None:
        self._app.session_seconds = seconds

    def expire_sessions(self) -> int:
        """Invalidate every session now; clients that can log in again will. Returns how many."""
        return self._app.expire_sessions()

    @property
    def consumer_key(self) -> str:
        return self._app.oauth.consumer_key

    @property
    def consumer_secret(self) -> str:
        return self._app.oauth.consumer_secret

    # --- faults -----------------------------------------------------------------

    def records(self, sobject: str, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        """The stored records of an object, for assertions that must not cost API calls."""
        definition = self.org.schema.get(sobject)
        if definition is None:
            raise KeyError(sobject)
        return self.org.rows(definition, include_deleted=include_deleted)

    def load(self, sobject_name: str, rows: Iterable[dict[str, Any]]) -> list[str]:
        """Insert many records straight into the org (no HTTP); returns their ids in order.

        Each row is validated as an API create is and gets the same defaults,
        derived fields, audit stamps and index entries, so loaded records are
        indistinguishable from ones created over REST; only the per-request
        overhead is skipped, which is what makes a 1,000,000-record benchmark
        org take seconds rather than hours. Owned by the API user. A rejected
        row raises ``SeedError`` naming it.
        """
        return self.org.load(self._object(sobject_name), rows, user_id=self.org.admin_id)

    # --- playing a user in the org (no API call, same validation) ------------------

    def create(self, sobject: str, fields: dict[str, Any], *, as_user: str | None = None) -> Record:
        """Create a record as a user of the org would in the UI (e.g. an Account for a test).

        Validated exactly like an API write; ``as_user`` is a Username or user
        id (default: the API user). Raises ``WriteRejected`` with Salesforce's
        errors.
        """
        definition = self._object(sobject)
        try:
            return writes.create(self.org, definition, fields, user_id=self._user(as_user))
        except writes.RecordError as exc:
            raise WriteRejected(exc.errors) from None

    def update(
        self, sobject: str, record_id: str, fields: dict[str, Any], *, as_user: str | None = None
    ) -> Record:
        """Edit a record as a sales rep would: SystemModstamp/LastModifiedDate move on.

        By default the edit is made by the record's owner, which is who works
        a lead, so change feeds see a change the connector did not write.
        """
        definition = self._object(sobject)
        current = self.org.get(definition, record_id)
        if current is None:
            raise KeyError(record_id)
        user_id = self._user(as_user) if as_user else current.get("OwnerId") or self.org.admin_id
        try:
            return writes.update(self.org, definition, record_id, fields, user_id=user_id)
        except writes.RecordError as exc:
            raise WriteRejected(exc.errors) from None

    def convert_lead(
        self,
        lead_id: str,
        *,
        opportunity: bool = True,
        stage: str | None = None,
        amount: float | None = None,
        opportunity_name: str | None = None,
        converted_status: str | None = None,
        account_id: str | None = None,
        contact_id: str | None = None,
        owner: str | None = None,
    ) -> LeadConvertResult:
        """Convert a lead as a rep would (what SOAP convertLead does), optionally won/lost.

        ``stage`` and ``amount`` go on the new Opportunity, so a test can play
        "the rep converted the lead and closed the deal". Returns the
        ``LeadConvertResult`` fields; raises ``WriteRejected`` if Salesforce
        would refuse the conversion.
        """
        extra: dict[str, Any] = {}
        if stage is not None:
            extra["StageName"] = stage
        if amount is not None:
            extra["Amount"] = amount
        result = convert_lead(
            self.org,
            lead_id,
            user_id=self.org.admin_id,
            today=self._clock().date(),
            converted_status=converted_status,
            account_id=account_id,
            contact_id=contact_id,
            owner_id=self._user(owner) if owner else None,
            create_opportunity=opportunity,
            opportunity_name=opportunity_name,
            opportunity_fields=extra,
        )
        if not result["success"]:
            raise WriteRejected(result["errors"])
        return result

    def delete(self, sobject: str, record_id: str, *, as_user: str | None = None) -> None:
        """Delete a record as a rep would: to the Recycle Bin (IsDeleted, queryAll, ``deleted``).

        By default the record's owner deletes it. Raises ``WriteRejected``
        with Salesforce's errors (ENTITY_IS_DELETED for a record already gone).
        """
        definition = self._object(sobject)
        current = self.org.get(definition, record_id, include_deleted=True)
        if current is None:
            raise KeyError(record_id)
        user_id = self._user(as_user) if as_user else current.get("OwnerId") or self.org.admin_id
        try:
            writes.delete(self.org, definition, record_id, user_id=user_id)
        except writes.RecordError as exc:
            raise WriteRejected(exc.errors) from None

    def merge(
        self,
        sobject: str,
        master_id: str,
        loser_ids: Iterable[str],
        *,
        fields: Mapping[str, Any] | None = None,
        as_user: str | None = None,
    ) -> MergeResult:
        """Merge duplicates as a rep would (what SOAP merge() does); no API call is counted.

        ``loser_ids`` (one or two) are deleted with MasterRecordId set to
        ``master_id``, their Tasks (and an Account's Contacts and
        Opportunities) move to the master, and ``fields`` are written to the
        master. Made by the master's owner unless ``as_user`` says otherwise.
        Returns the ``MergeResult`` fields; raises ``WriteRejected`` if
        Salesforce would refuse the merge.
        """
        definition = self._object(sobject)
        master = self.org.get(definition, master_id) if normalize_id(master_id) else None
        owner = master.get("OwnerId") if master else None
        user_id = self._user(as_user) if as_user else owner or self.org.admin_id
        result = merge_records(
            self.org, definition, master_id, list(loser_ids), user_id=user_id, fields=fields
        )
        if not result["success"]:
            raise WriteRejected(result["errors"])
        return result

    def _object(self, sobject: str) -> SObject:
        definition = self.org.schema.get(sobject)
        if definition is None:
            raise KeyError(sobject)
        return definition

    def _user(self, user: str | None) -> str:
        """A user id from an id or a Username (case-insensitive)."""
        if user is None:
            return self.org.admin_id
        if normalize_id(user):
            return normalize_id(user) or user
        users = self.org.schema.get("User")
        assert users is not None
        found = self.org.find(users, "Username", user)
        if not found:
            raise KeyError(user)
        return str(found[0]["Id"])


class WriteRejected(ValueError):
    """A sandbox-side write Salesforce would refuse; ``errors`` are its save errors."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(f"{e['statusCode']}: {e['message']}" for e in errors))
        self.errors = errors


def _picklist(base: Iterable[LeadStatusEntry], added: Iterable[LeadStatusEntry]) -> Any:
    """The Lead Status picklist, or a SeedError when the values cannot make one."""
    try:
        return lead_statuses(base, added)
    except (TypeError, ValueError) as exc:
        raise SeedError(f"Lead Status picklist: {exc}") from None


def _saved_statuses(state: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The LeadStatus rows of a saved org, in picklist order: the values it had."""
    rows = list(state.get("records", {}).get("LeadStatus", []))
    return sorted(rows, key=lambda row: row.get("SortOrder") or 0)


def _read_seed(seed: Path | dict[str, Any]) -> dict[str, Any]:
    if isinstance(seed, dict):
        return seed
    data = json.loads(Path(seed).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise SeedError(f"{seed}: a seed is a JSON object of object name -> list of records")
    return data
