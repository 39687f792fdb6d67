"""``HubSpotSandbox``: a local HubSpot portal that the real hubspot-api-client talks to.

Lifecycle and the "sales rep" helpers only; HTTP lives in ``server.py``,
data in ``store.py``, property rules in ``schema.py``, search in
``search.py``, limits in ``limits.py``.

Typical use::

    with HubSpotSandbox() as sandbox:
        client = HubSpot(access_token=sandbox.token, host=sandbox.base_url)
        client.crm.contacts.basic_api.get_page()
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..faults import Faults
from ..serving import ServedSandbox
from .errors import ApiError
from .limits import (
    DEFAULT_DAILY_LIMIT,
    DEFAULT_INTERVAL_MS,
    DEFAULT_SEARCH_PER_SECOND,
    DEFAULT_TEN_SECOND_LIMIT,
    RateLimits,
)
from .schema import iso, object_type
from .server import HubSpotApp
from .store import DEFAULT_TYPE, Portal, Record

log = logging.getLogger(__name__)

DEFAULT_TOKEN = "sandbox-token"
"""The documented private-app token the portal accepts unless given another."""

REP_SOURCE = "CRM_UI"
"""``sourceType`` of a rep's edits in property history (HubSpot's for edits made in the UI)."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


class WriteRejected(ValueError):
    """A sandbox-side write HubSpot would refuse; ``status`` and ``body`` are its answer."""

    def __init__(self, error: ApiError) -> None:
        super().__init__(str(error.body.get("message")))
        self.status = error.status
        self.body = error.body


class HubSpotSandbox(ServedSandbox):
    """An in-process HubSpot portal reachable over HTTP on 127.0.0.1.

    If ``state_path`` exists the portal is loaded from it (and saved back on
    ``stop``), so demo runs see yesterday's data like a real account;
    otherwise it starts from the built-in owners plus ``seed`` (a dict or
    JSON file ``{"contacts": [{...properties...}], "companies": [...]}``).
    ``clock`` drives every stamp and every rate-limit window, so tests move
    time instead of sleeping. ``faults`` is the shared fault script
    (``connector.sandbox.faults``).
    """

    thread_name = "hubspot-sandbox"

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        state_path: Path | None = None,
        seed: Path | dict[str, Any] | None = None,
        clock: Callable[[], datetime] | None = None,
        faults: Faults | None = None,
        daily_limit: int = DEFAULT_DAILY_LIMIT,
        ten_second_limit: int = DEFAULT_TEN_SECOND_LIMIT,
        interval_ms: int = DEFAULT_INTERVAL_MS,
        search_per_second: int = DEFAULT_SEARCH_PER_SECOND,
    ) -> None:
        self.token = token
        self.state_path = Path(state_path) if state_path is not None else None
        self._clock = clock or _utcnow
        if self.state_path is not None and self.state_path.exists():
            state = json.loads(self.state_path.read_text(encoding="utf-8"))
            self.portal = Portal.from_state(self._now, state)
        else:
            self.portal = Portal.fresh(self._now)
            if seed is not None:
                self._load_seed(_read_seed(seed))
        self.limits = RateLimits(
            self._now,
            max_requests=ten_second_limit,
            interval_ms=interval_ms,
            daily_limit=daily_limit,
            search_per_second=search_per_second,
        )
        self._app = HubSpotApp(self.portal, token=token, clock=self._now, limits=self.limits,
                               faults=faults)
        self._init_serving()

    def _now(self) -> datetime:
        now = self._clock()
        return now if now.tzinfo else now.replace(tzinfo=UTC)

    # --- lifecycle --------------------------------------------------------------------

    def save(self) -> None:
        """Write the portal to ``state_path`` atomically."""
        if self.state_path is None:
            raise ValueError("this sandbox has no state_path to save to")
        self.portal.save(self.state_path)


    # --- what callers look at -----------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://host:port``: what ``HubSpot(host=...)`` takes."""
        return f"http://{self.address}"

    def records(self, object_type_name: str, *, include_archived: bool = False
                ) -> list[dict[str, Any]]:
        """Stored records as ``{"id", "properties", "createdAt", "updatedAt", "archived"}``
        (plus ``archivedAt`` for archived ones). Merged-away records are gone: their
        ids live on as aliases of the merged record."""
        kind = self._kind(object_type_name)
        with self.portal.lock:
            return [
                self._plain(r)
                for r in self.portal.records[kind].values()
                if include_archived or not r.archived
            ]

    def history(self, object_type_name: str, object_id: str | int, prop: str
                ) -> list[dict[str, Any]]:
        """One property's history, newest first, as ``propertiesWithHistory`` shows it."""
        kind = self._kind(object_type_name)
        with self.portal.lock:
            record = self.portal.resolve(kind, object_id)
            if record is None:
                raise KeyError(object_id)
            return record.history_json(prop)

    def associations(self, from_type: str, from_id: str | int, to_type: str) -> list[str]:
        """Ids of the ``to_type`` records associated with one record (no API call)."""
        with self.portal.lock:
            return [str(i) for i in sorted(
                self.portal.linked(self._kind(from_type), int(from_id), self._kind(to_type))
            )]

    @property
    def owners(self) -> list[dict[str, Any]]:
        """All owners (active and archived) as ``GET /crm/v3/owners`` shows them."""
        return [o.to_json() for o in self.portal.owners]

    # --- limits ---------------------------------------------------------------------------

    @property
    def daily_used(self) -> int:
        return self.limits.daily_used

    def set_daily_used(self, used: int) -> None:
        """Pretend ``used`` requests were already made today."""
        self.limits.set_daily_used(used)

    # --- faults -----------------------------------------------------------------------------

    # --- playing a sales rep (no API call, same validation) -------------------------------

    def create(
        self, object_type_name: str, properties: dict[str, Any], *, owner_id: str | None = None
    ) -> dict[str, Any]:
        """Create a record as a rep would in the UI; raises ``WriteRejected`` like the API."""
        kind = self._kind(object_type_name)
        values = dict(properties)
        if owner_id is not None:
            values["hubspot_owner_id"] = owner_id
        with self.portal.lock:
            try:
                changes = self.portal.prepare(kind, values, None)
                self.portal.check_unique(kind, changes, None)
            except ApiError as exc:
                raise WriteRejected(exc) from None
            record = self.portal.create(kind, changes, source=REP_SOURCE,
                                        user_id=self._user(values.get("hubspot_owner_id")))
            return self._plain(record)

    def update(
        self, object_type_name: str, object_id: str | int, properties: dict[str, Any]
    ) -> dict[str, Any]:
        """Edit a record as its owner would: ``hs_lastmodifieddate`` moves to the clock's now.

        ``hs_updated_by_user_id`` becomes the owner's user id, so a connector
        can tell a rep's edit from its own writes.
        """
        kind = self._kind(object_type_name)
        with self.portal.lock:
            record = self.portal.live(kind, object_id)
            if record is None:
                raise KeyError(object_id)
            try:
                changes = self.portal.prepare(kind, properties, record)
                self.portal.check_unique(kind, changes, record.id)
            except ApiError as exc:
                raise WriteRejected(exc) from None
            owner = changes.get("hubspot_owner_id") or record.properties.get("hubspot_owner_id")
            self.portal.update(record, changes, user_id=self._user(owner) or self._any_rep(),
                               source=REP_SOURCE)
            return self._plain(record)

    def set_owner(self, object_type_name: str, object_id: str | int, owner: str) -> dict[str, Any]:
        """Assign an owner by owner id or email (the rep's routing decision)."""
        return self.update(object_type_name, object_id, {"hubspot_owner_id": self._owner(owner)})

    def archive(self, object_type_name: str, object_id: str | int) -> dict[str, Any]:
        """Delete a record as a rep would: it leaves live reads and shows up in
        ``archived=true`` reads with ``archivedAt`` at the clock's now."""
        kind = self._kind(object_type_name)
        with self.portal.lock:
            record = self.portal.live(kind, object_id)
            if record is None:
                raise KeyError(object_id)
            self.portal.archive(record)
            return self._plain(record)

    def merge(
        self, object_type_name: str, primary_id: str | int, merged_id: str | int
    ) -> dict[str, Any]:
        """Merge two records as a rep would in the UI; returns the new merged record.

        Same rules as ``POST /crm/v3/objects/{type}/merge`` (``Portal.merge``),
        but the history marks the merge's own values as the rep's (``CRM_UI``).
        An id that names nothing raises ``KeyError``; merging a record into
        itself raises ``WriteRejected`` with the API's 400.
        """
        kind = self._kind(object_type_name)
        with self.portal.lock:
            for object_id in (primary_id, merged_id):
                if self.portal.live(kind, object_id) is None:
                    raise KeyError(object_id)
            try:
                primary, secondary = self.portal.merge_pair(kind, primary_id, merged_id)
            except ApiError as exc:
                raise WriteRejected(exc) from None
            owner = primary.properties.get("hubspot_owner_id")
            record = self.portal.merge(primary, secondary, source=REP_SOURCE,
                                       user_id=self._user(owner) or self._any_rep())
            return self._plain(record)

    def associate(
        self, from_type: str, from_id: str | int, to_type: str, to_id: str | int
    ) -> None:
        """Associate two records with the default (unlabeled) type, both directions."""
        a, b = self._kind(from_type), self._kind(to_type)
        with self.portal.lock:
            source, target = self.portal.live(a, from_id), self.portal.live(b, to_id)
            if source is None or target is None:
                raise KeyError(from_id if source is None else to_id)
            self.portal.link(a, source.id, b, target.id, DEFAULT_TYPE[(a, b)])

    def create_deal(
        self,
        contact_id: str | int,
        stage: str = "appointmentscheduled",
        amount: float | str | None = None,
        *,
        name: str | None = None,
        owner: str | None = None,
        close_date: datetime | None = None,
        company_id: str | int | None = None,
        lifecyclestage: str | None = "opportunity",
    ) -> dict[str, Any]:
        """A rep opens (or closes, with ``stage="closedwon"``) a deal for a contact.

        The deal is associated with the contact (and ``company_id``), and
        the contact moves forward to ``lifecyclestage`` (``customer`` when
        the deal is won), as HubSpot's default automation does.
        """
        with self.portal.lock:
            contact = self.portal.live("contacts", contact_id)
            if contact is None:
                raise KeyError(contact_id)
            label = " ".join(
                v for v in (contact.properties.get("firstname"),
                            contact.properties.get("lastname")) if v
            ) or contact.properties.get("email", str(contact.id))
            values: dict[str, Any] = {"dealname": name or f"{label} deal", "dealstage": stage,
                                      "pipeline": "default"}
            if amount is not None:
                values["amount"] = str(amount)
            if close_date is not None or stage in ("closedwon", "closedlost"):
                values["closedate"] = iso(close_date or self._now())
            owner_id = self._owner(owner) if owner else contact.properties.get("hubspot_owner_id")
            deal = self.create("deals", values, owner_id=owner_id)
            self.associate("deals", deal["id"], "contacts", contact.id)
            if company_id is not None:
                self.associate("deals", deal["id"], "companies", company_id)
            stage_for_contact = "customer" if stage == "closedwon" else lifecyclestage
            if stage_for_contact:
                self.update("contacts", contact.id, {"lifecyclestage": stage_for_contact})
            return deal

    # --- helpers ------------------------------------------------------------------------------

    def _kind(self, name: str) -> str:
        kind = object_type(name)
        if kind is None:
            raise KeyError(name)
        return kind

    def _owner(self, owner: str) -> str:
        for candidate in self.portal.owners:
            if owner in (candidate.id, candidate.email) or owner == candidate.email.split("@")[0]:
                return candidate.id
        raise KeyError(owner)

    def _user(self, owner_id: Any) -> int | None:
        for candidate in self.portal.owners:
            if candidate.id == owner_id:
                return candidate.user_id
        return None

    def _any_rep(self) -> int:
        """Whose edit an unowned record's change is: the first active rep's."""
        return next(o.user_id for o in self.portal.owners if not o.archived)

    def _plain(self, record: Record) -> dict[str, Any]:
        plain = {"id": str(record.id), "properties": dict(record.properties),
                 "createdAt": iso(record.created_at), "updatedAt": iso(record.updated_at),
                 "archived": record.archived}
        if record.archived_at is not None:
            plain["archivedAt"] = iso(record.archived_at)
        return plain

    def _load_seed(self, seed: dict[str, Any]) -> None:
        """Seed rows are validated like writes; read-only stamps may be given."""
        for name, rows in seed.items():
            kind = self._kind(name)
            for row in rows:
                values = dict(row.get("properties", row))
                associations = values.pop("associations", None) or {}
                try:
                    changes = self.portal.prepare(kind, {
                        k: v for k, v in values.items()
                        if not self.portal.properties[kind].get(k) or
                        not self.portal.properties[kind][k].read_only
                    }, None)
                    self.portal.check_unique(kind, changes, None)
                except ApiError as exc:
                    raise SeedError(f"{name}: {exc.body.get('message')}") from None
                record = self.portal.create(kind, changes, source=REP_SOURCE)
                for to_type, ids in associations.items():
                    for to_id in ids:
                        self.portal.link(kind, record.id, self._kind(to_type), int(to_id),
                                         DEFAULT_TYPE[(kind, self._kind(to_type))])


class SeedError(ValueError):
    """A seed row HubSpot would not accept."""


def _read_seed(seed: Path | dict[str, Any]) -> dict[str, Any]:
    if isinstance(seed, dict):
        return seed
    data = json.loads(Path(seed).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise SeedError(f"{seed}: a seed is a JSON object of object type -> list of records")
    return data
