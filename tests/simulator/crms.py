"""The two CRMs as the rep simulator sees them: a sandbox served on 127.0.0.1 by
the test process, a config pointing leadsync at it (``embedded = false``, so a
subprocess run reaches the same org), the real client to read it and to act as a
rep, and the sandbox's own rep helpers where the API has no such call (a
Salesforce merge or conversion from the UI).

Every read that a check relies on goes through the real client
(simple-salesforce, hubspot-api-client), never through the sandbox's memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tenacity import wait_none

from connector import config as configuration
from tests.conftest import HUBSPOT_EXAMPLE, config_text


@dataclass
class Person:
    """One CRM person record (a Salesforce Lead or Contact, a HubSpot contact)."""

    crm_id: str
    kind: str  # "lead" | "contact"
    key: str | None  # leadsync's external id on the record
    first: str | None
    last: str | None
    email: str | None
    title: str | None
    status: str | None
    owner: str | None
    converted: bool = False
    deal_closed: bool = False
    deal_won: bool = False
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    def identity(self) -> tuple[str, str, str]:
        return (self.first or "", self.last or "", (self.email or "").lower())


class RepRefused(Exception):
    """The CRM refused what the rep tried (a converted lead, a duplicate email, ...):
    a rep would shrug and do something else, so the simulator does too."""


class CrmSide:
    """What the simulator needs of a CRM; one subclass per CRM."""

    name: str
    env: dict[str, str]
    statuses: tuple[str, ...]
    """Statuses a rep may set (every one mapped in the config)."""
    created_status: str
    """What leadsync writes on create (mapping.on_create): never a verdict."""
    owners: tuple[str, ...]
    title_field: str
    status_field: str
    owner_field: str
    can_convert = False
    contacts = False
    """Whether a rep may create a Contact apart from leads (Salesforce)."""

    sandbox: Any
    config_path: Path
    config: configuration.Config

    def start(self, tmp: Path, faults_ok: bool = True) -> None: ...
    def stop(self) -> None:
        self.sandbox.stop()

    # reads, through the real client
    def people(self) -> list[Person]: ...

    # a rep's actions
    def set_fields(self, person: Person, values: dict[str, str], via_client: bool) -> None: ...
    def delete(self, person: Person, via_client: bool) -> None: ...
    def merge(self, survivor: Person, loser: Person, via_client: bool) -> str: ...
    def create(self, values: dict[str, str], *, contact: bool, owner: str | None,
               via_client: bool) -> str: ...
    def convert(self, person: Person, outcome: str) -> str:
        raise NotImplementedError

    # mapping from marketing names to this CRM's fields
    fields: dict[str, str]

    def crm_adapter(self) -> Any:
        """The configured adapter with retries that do not wait (runs against faults)."""
        raise NotImplementedError

    def install_faults(self, faults: Any) -> None:
        self.sandbox.faults = faults

    @property
    def request_count(self) -> int:
        return int(self.sandbox.request_count)


# --- Salesforce ----------------------------------------------------------------------------

SF_REPS = ("0058d0000000002AAA", "0058d0000000003AAA", "0058d0000000004AAA",
           "0058d0000000005AAA")


class SalesforceSide(CrmSide):
    name = "salesforce"
    env = {"SF_PASSWORD": "sandbox", "SF_SECURITY_TOKEN": ""}
    statuses = ("Open - Not Contacted", "Working - Contacted", "Closed - Not Converted")
    created_status = "Open - Not Contacted"
    owners = SF_REPS
    title_field = "Title"
    status_field = "Status"
    owner_field = "OwnerId"
    can_convert = True
    contacts = True
    fields = {"first_name": "FirstName", "last_name": "LastName", "email": "Email",
              "title": "Title", "phone": "Phone", "company": "Company"}

    def start(self, tmp: Path, faults_ok: bool = True) -> None:
        from simple_salesforce import Salesforce

        from connector.sandbox.salesforce import SalesforceSandbox
        from connector.transport import make_session

        self.sandbox = SalesforceSandbox()  # in memory: a fresh org per example
        address = self.sandbox.start()
        self.config_path = tmp / "config.toml"
        self.config_path.write_text(config_text(
            tmp, state_url=f"sqlite:///{tmp}/state.db", marketing_url=f"sqlite:///{tmp}/mk.db",
            route_to=address), encoding="utf-8")
        self.config = configuration.load(self.config_path)
        self.client = Salesforce(username="admin@leadsync.sandbox", password="sandbox",
                                 security_token="", session=make_session(address))

    def people(self) -> list[Person]:
        rows = self.client.query_all(
            "SELECT Id, FirstName, LastName, Email, Title, Status, OwnerId, IsConverted, "
            "Leadsync_Id__c, SystemModstamp, ConvertedOpportunity.IsClosed, "
            "ConvertedOpportunity.IsWon FROM Lead")["records"]
        out = []
        for r in rows:
            opp = r.get("ConvertedOpportunity") or {}
            out.append(Person(r["Id"], "lead", r.get("Leadsync_Id__c"), r.get("FirstName"),
                              r.get("LastName"), r.get("Email"), r.get("Title"),
                              r.get("Status"), r.get("OwnerId"), bool(r.get("IsConverted")),
                              bool(opp.get("IsClosed")), bool(opp.get("IsWon")), raw=r))
        contacts = self.client.query_all("SELECT Id, FirstName, LastName, Email, Title, "
                                         "OwnerId, SystemModstamp FROM Contact")
        for r in contacts["records"]:
            out.append(Person(r["Id"], "contact", None, r.get("FirstName"), r.get("LastName"),
                              r.get("Email"), r.get("Title"), None, r.get("OwnerId"), raw=r))
        return out

    def _sobject(self, person: Person) -> Any:
        return self.client.Lead if person.kind == "lead" else self.client.Contact

    def set_fields(self, person: Person, values: dict[str, str], via_client: bool) -> None:
        from simple_salesforce.exceptions import SalesforceError

        from connector.sandbox.salesforce import WriteRejected

        sobject = "Lead" if person.kind == "lead" else "Contact"
        values = {k: v for k, v in values.items() if not (sobject == "Contact"
                                                          and k in ("Status", "Company"))}
        if not values:
            raise RepRefused("nothing a contact has")
        try:
            if via_client:
                self._sobject(person).update(person.crm_id, values)
            else:
                self.sandbox.update(sobject, person.crm_id, values)
        except (SalesforceError, WriteRejected) as exc:
            raise RepRefused(str(exc)) from None

    def delete(self, person: Person, via_client: bool) -> None:
        from simple_salesforce.exceptions import SalesforceError

        from connector.sandbox.salesforce import WriteRejected

        try:
            if via_client:
                self._sobject(person).delete(person.crm_id)
            else:
                self.sandbox.delete("Lead" if person.kind == "lead" else "Contact",
                                    person.crm_id)
        except (SalesforceError, WriteRejected) as exc:
            raise RepRefused(str(exc)) from None

    def merge(self, survivor: Person, loser: Person, via_client: bool) -> str:
        from connector.sandbox.salesforce import WriteRejected

        if survivor.kind != loser.kind:
            raise RepRefused("Salesforce merges records of one object")
        try:  # the UI's merge wizard: the API has no merge call simple-salesforce makes
            self.sandbox.merge("Lead" if survivor.kind == "lead" else "Contact",
                               survivor.crm_id, [loser.crm_id])
        except WriteRejected as exc:
            raise RepRefused(str(exc)) from None
        return survivor.crm_id

    def create(self, values: dict[str, str], *, contact: bool, owner: str | None,
               via_client: bool) -> str:
        from simple_salesforce.exceptions import SalesforceError

        from connector.sandbox.salesforce import WriteRejected

        body = {self.fields[k]: v for k, v in values.items() if k in self.fields}
        if contact:
            body.pop("Company", None)
        if owner:
            body["OwnerId"] = owner
        try:
            if via_client:
                sobject = self.client.Contact if contact else self.client.Lead
                return str(sobject.create(body)["id"])
            return str(self.sandbox.create("Contact" if contact else "Lead", body,
                                           as_user=owner)["Id"])
        except (SalesforceError, WriteRejected) as exc:
            raise RepRefused(str(exc)) from None

    def convert(self, person: Person, outcome: str) -> str:
        from connector.sandbox.salesforce import WriteRejected

        stage = {"won": "Closed Won", "lost": "Closed Lost"}.get(outcome)
        try:
            result = self.sandbox.convert_lead(person.crm_id, stage=stage,
                                               amount=1000.0 if stage else None)
        except WriteRejected as exc:
            raise RepRefused(str(exc)) from None
        return str(result["contactId"])

    def crm_adapter(self) -> Any:
        from connector.adapters.salesforce import SalesforceAdapter

        assert self.config.crm.salesforce is not None
        return SalesforceAdapter(self.config.crm.salesforce, password="sandbox",
                                 security_token="", wait=wait_none())


# --- HubSpot -------------------------------------------------------------------------------

HS_OWNERS = ("70000001", "70000002", "70000003", "70000004")


class HubSpotSide(CrmSide):
    name = "hubspot"
    env = {"HUBSPOT_ACCESS_TOKEN": "sandbox-token"}
    statuses = ("NEW", "OPEN", "IN_PROGRESS", "ATTEMPTED_TO_CONTACT", "CONNECTED",
                "OPEN_DEAL", "UNQUALIFIED", "BAD_TIMING")
    created_status = "NEW"
    owners = HS_OWNERS
    title_field = "jobtitle"
    status_field = "hs_lead_status"
    owner_field = "hubspot_owner_id"
    fields = {"first_name": "firstname", "last_name": "lastname", "email": "email",
              "title": "jobtitle", "phone": "phone", "company": "company"}

    def start(self, tmp: Path, faults_ok: bool = True) -> None:
        from hubspot import HubSpot

        from connector.sandbox.hubspot import HubSpotSandbox

        # limits out of the way: the adapter's pacing has its own tests, and a 429
        # here would only make runs sleep
        self.sandbox = HubSpotSandbox(search_per_second=100_000, ten_second_limit=1_000_000,
                                      daily_limit=10_000_000)
        address = self.sandbox.start()
        text = HUBSPOT_EXAMPLE.read_text(encoding="utf-8")
        for old, new in {
            'url = "sqlite:///../state/hubspot-leadsync.db"': f'url = "sqlite:///{tmp}/state.db"',
            'url = "sqlite:///../state/hubspot-marketing.db"': f'url = "sqlite:///{tmp}/mk.db"',
            'route_to = "127.0.0.1:8452"': f'route_to = "{address}"',
            "embedded = true": "embedded = false",
            'seed = "leads.csv"': "",
            "searches_per_second = 4": "searches_per_second = 5",  # HubSpot's own limit
            # the invariants hold every run to hearing a rep's deletion; how often an idle
            # run looks (60 minutes shipped) is tests/e2e/test_crm_deletions.py's
            "deleted_check_minutes = 60 ": "deleted_check_minutes = 0 ",
        }.items():
            assert old in text, old
            text = text.replace(old, new)
        if 'title = "jobtitle"\n' in text:  # an example from before title was two-way
            text = text.replace('title = "jobtitle"\n', "") + \
                '\n[mapping.fields.title]\ncrm = "jobtitle"\nsync = "two_way"\n'
        self.config_path = tmp / "config.toml"
        self.config_path.write_text(text, encoding="utf-8")
        self.config = configuration.load(self.config_path)
        title = self.config.mapping.fields.get("title")
        assert title is not None and getattr(title, "sync", None) == "two_way", title
        self.client = HubSpot(access_token="sandbox-token", host=self.sandbox.base_url)

    PROPS = ("email", "firstname", "lastname", "jobtitle", "hs_lead_status",
             "hubspot_owner_id", "leadsync_id", "hs_lastmodifieddate")

    def people(self) -> list[Person]:
        out = []
        for c in self.client.crm.contacts.get_all(properties=list(self.PROPS)):
            p = c.properties or {}
            out.append(Person(str(c.id), "contact", p.get("leadsync_id") or None,
                              p.get("firstname"), p.get("lastname"), p.get("email"),
                              p.get("jobtitle"), p.get("hs_lead_status"),
                              p.get("hubspot_owner_id"), raw=dict(p)))
        return out

    def set_fields(self, person: Person, values: dict[str, str], via_client: bool) -> None:
        from hubspot.crm.contacts import ApiException, SimplePublicObjectInput

        from connector.sandbox.hubspot import WriteRejected

        try:
            if via_client:
                self.client.crm.contacts.basic_api.update(
                    person.crm_id, SimplePublicObjectInput(properties=values))
            else:
                self.sandbox.update("contacts", person.crm_id, values)
        except (ApiException, WriteRejected, KeyError) as exc:
            raise RepRefused(str(exc)[:200]) from None

    def delete(self, person: Person, via_client: bool) -> None:
        from hubspot.crm.contacts import ApiException

        try:
            if via_client:
                self.client.crm.contacts.basic_api.archive(person.crm_id)
            else:
                self.sandbox.archive("contacts", person.crm_id)
        except (ApiException, KeyError) as exc:
            raise RepRefused(str(exc)[:200]) from None

    def merge(self, survivor: Person, loser: Person, via_client: bool) -> str:
        from hubspot.crm.contacts import ApiException, PublicMergeInput

        from connector.sandbox.hubspot import WriteRejected

        try:
            if via_client:
                merged = self.client.crm.contacts.basic_api.merge(PublicMergeInput(
                    primary_object_id=survivor.crm_id, object_id_to_merge=loser.crm_id))
                return str(merged.id)
            return str(self.sandbox.merge("contacts", survivor.crm_id, loser.crm_id)["id"])
        except (ApiException, WriteRejected, KeyError) as exc:
            raise RepRefused(str(exc)[:200]) from None

    def create(self, values: dict[str, str], *, contact: bool, owner: str | None,
               via_client: bool) -> str:
        from hubspot.crm.contacts import ApiException, SimplePublicObjectInputForCreate

        from connector.sandbox.hubspot import WriteRejected

        body = {self.fields[k]: v for k, v in values.items() if k in self.fields}
        try:
            if via_client:
                if owner:
                    body["hubspot_owner_id"] = owner
                made = self.client.crm.contacts.basic_api.create(
                    SimplePublicObjectInputForCreate(properties=body))
                return str(made.id)
            return str(self.sandbox.create("contacts", body, owner_id=owner)["id"])
        except (ApiException, WriteRejected) as exc:
            raise RepRefused(str(exc)[:200]) from None

    def crm_adapter(self) -> Any:
        from connector.adapters.hubspot import HubSpotAdapter

        assert self.config.crm.hubspot is not None
        return HubSpotAdapter(self.config.crm.hubspot, token="sandbox-token", wait=wait_none(),
                              sleep=lambda _: None)


SIDES: dict[str, type[CrmSide]] = {"salesforce": SalesforceSide, "hubspot": HubSpotSide}
