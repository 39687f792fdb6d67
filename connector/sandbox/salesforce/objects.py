"""The objects this sandbox org has, with the fields and flags of a real org.

Lengths, labels, required-ness and picklist values are those of a standard
Developer/Enterprise org, because labels appear in error messages
("Company: data value too large: ...") and lengths decide STRING_TOO_LONG.
Custom fields are the ones leadsync's install adds to Lead.

Two deliberate choices, both made so the connector's failure paths are
testable: Lead.Status is a *restricted* picklist (an admin can set that; it
makes a bad status from the feedback mapping fail loudly), and User is
read-only over the API (real Users need profiles and licences; the sandbox
users come from the built-ins and the seed).

Contact, Account, Opportunity and Task are there because lead conversion
creates the first three and the handoff's follow-up is a Task; their fields
are the standard ones the connector maps or reads back. Fields Salesforce
computes (Opportunity.IsWon/IsClosed from the stage, Task.IsClosed from the
status) are read-only and derived in ``DERIVED``, run on every write.
Lead, Contact and Account are the mergeable ones and carry MasterRecordId.

Org setup lives here too: the Lead Status picklist is per org
(``default_schema(statuses)``, ``LeadStatusValue``) and the LeadStatus
object mirrors it; LeadHistory and OpportunityFieldHistory hold the changes
to the fields ``DEFAULT_FIELD_HISTORY`` (or the sandbox's ``field_history``)
tracks, written by the store on every update.

Adding an object is adding one ``SObject`` here and to ``OBJECTS``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from .schema import (
    ANYTYPE,
    BOOLEAN,
    CURRENCY,
    DATE,
    DATETIME,
    DOUBLE,
    EMAIL,
    ID,
    INT,
    PERCENT,
    PHONE,
    PICKLIST,
    REFERENCE,
    STRING,
    TEXTAREA,
    URL,
    Field,
    PicklistValue,
    Schema,
    SObject,
    format_datetime,
    parse_datetime,
)

LEAD_STATUSES = (
    "Open - Not Contacted",
    "Working - Contacted",
    "Closed - Converted",
    "Closed - Not Converted",
)
DEFAULT_LEAD_STATUS = LEAD_STATUSES[0]
# Lead statuses flagged "Converted" in the org's Lead Status setup: the only
# ones convertLead accepts as convertedStatus.
CONVERTED_LEAD_STATUSES = ("Closed - Converted",)

LEAD_SOURCES = ("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other")

INDUSTRIES = (
    "Agriculture", "Apparel", "Banking", "Biotechnology", "Chemicals", "Communications",
    "Construction", "Consulting", "Education", "Electronics", "Energy", "Engineering",
    "Entertainment", "Environmental", "Finance", "Food & Beverage", "Government", "Healthcare",
    "Hospitality", "Insurance", "Machinery", "Manufacturing", "Media", "Not For Profit",
    "Recreation", "Retail", "Shipping", "Technology", "Telecommunications", "Transportation",
    "Utilities", "Other",
)  # fmt: skip

TIME_ZONES = (
    "America/Los_Angeles",
    "America/Denver",
    "America/Chicago",
    "America/New_York",
    "Europe/London",
    "Europe/Berlin",
    "Asia/Tokyo",
    "Australia/Sydney",
    "GMT",
)


def _values(values: tuple[str, ...], default: str | None = None) -> tuple[PicklistValue, ...]:
    return tuple(PicklistValue(v, default=v == default) for v in values)


def read_only(f: Field, *, system: bool = False) -> Field:
    """The field as the API user sees it when it cannot write it.

    ``system`` fields (ids, audit stamps) are also always set by the server,
    so they are non-nillable and defaulted on create.
    """
    if system:
        return replace(
            f, createable=False, updateable=False, nillable=False, defaulted_on_create=True
        )
    return replace(f, createable=False, updateable=False)


def _system_fields(label: str) -> tuple[Field, ...]:
    """Id and IsDeleted, which every object but User has."""
    return (
        read_only(Field("Id", f"{label} ID", ID, 18, id_lookup=True), system=True),
        read_only(Field("IsDeleted", "Deleted", BOOLEAN), system=True),
    )


def _audit_fields() -> tuple[Field, ...]:
    return tuple(
        read_only(f, system=True)
        for f in (
            Field("CreatedDate", "Created Date", DATETIME),
            Field(
                "CreatedById", "Created By ID", REFERENCE, 18, reference_to=("User",),
                relationship_name="CreatedBy",
            ),
            Field("LastModifiedDate", "Last Modified Date", DATETIME),
            Field(
                "LastModifiedById", "Last Modified By ID", REFERENCE, 18, reference_to=("User",),
                relationship_name="LastModifiedBy",
            ),
            Field("SystemModstamp", "System Modstamp", DATETIME),
        )
    )  # fmt: skip


def _master_record(sobject: str) -> Field:
    """Set on a record that lost a merge: the id of the record it was merged into.

    queryAll() reads it ("To find records that have been deleted, specify
    isDeleted = true in the query string. For merged records, request the
    masterRecord", SOAP API Developer Guide, "queryAll()",
    https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_calls_queryall.htm;
    REST: "Execute a SOQL Query that Includes Deleted Items",
    https://developer.salesforce.com/docs/platform/api-rest/guide/dome-queryall.html).
    Only merge() sets it.
    """
    return read_only(Field(
        "MasterRecordId", "Master Record ID", REFERENCE, 18, reference_to=(sobject,),
        relationship_name="MasterRecord",
    ))  # fmt: skip


LEAD = SObject(
    name="Lead",
    label="Lead",
    label_plural="Leads",
    key_prefix="00Q",
    mergeable=True,
    fields=(
        *_system_fields("Lead"),
        _master_record("Lead"),
        Field("LastName", "Last Name", STRING, 80, nillable=False),
        Field("FirstName", "First Name", STRING, 40),
        Field(
            "Salutation", "Salutation", PICKLIST, 40,
            picklist=_values(("Mr.", "Ms.", "Mrs.", "Dr.", "Prof.", "Mx.")),
        ),
        # Compound "FirstName LastName", maintained by the server on every write.
        read_only(Field("Name", "Full Name", STRING, 121, name_field=True, id_lookup=True)),
        Field("Title", "Title", STRING, 128),
        Field("Company", "Company", STRING, 255, nillable=False),
        Field("Street", "Street", TEXTAREA, 255, extra_type_info="plaintextarea"),
        Field("City", "City", STRING, 40),
        Field("State", "State/Province", STRING, 80),
        Field("PostalCode", "Zip/Postal Code", STRING, 20),
        Field("Country", "Country", STRING, 80),
        Field("Phone", "Phone", PHONE, 40),
        Field("MobilePhone", "Mobile Phone", PHONE, 40),
        Field("Email", "Email", EMAIL, 80, id_lookup=True),
        Field("Website", "Website", URL, 255),
        Field(
            "Description", "Description", TEXTAREA, 32000, filterable=False, sortable=False,
            extra_type_info="plaintextarea",
        ),
        Field("LeadSource", "Lead Source", PICKLIST, 255, picklist=_values(LEAD_SOURCES)),
        Field(
            "Status", "Status", PICKLIST, 255, nillable=False, defaulted_on_create=True,
            picklist=tuple(
                PicklistValue(v, default=v == DEFAULT_LEAD_STATUS,
                              converted=v in CONVERTED_LEAD_STATUSES)
                for v in LEAD_STATUSES
            ),
            restricted_picklist=True,
        ),
        Field("Industry", "Industry", PICKLIST, 255, picklist=_values(INDUSTRIES)),
        Field("Rating", "Rating", PICKLIST, 255, picklist=_values(("Hot", "Warm", "Cold"))),
        Field("AnnualRevenue", "Annual Revenue", CURRENCY, precision=18, scale=0),
        Field("NumberOfEmployees", "Employees", INT, digits=8),
        Field(
            "OwnerId", "Owner ID", REFERENCE, 18, nillable=False, defaulted_on_create=True,
            reference_to=("Group", "User"), relationship_name="Owner", polymorphic=True,
        ),
        # Set by lead conversion (convert.py).
        read_only(Field("IsConverted", "Converted", BOOLEAN), system=True),
        read_only(Field("ConvertedDate", "Converted Date", DATE)),
        read_only(Field(
            "ConvertedAccountId", "Converted Account ID", REFERENCE, 18,
            reference_to=("Account",), relationship_name="ConvertedAccount",
        )),
        read_only(Field(
            "ConvertedContactId", "Converted Contact ID", REFERENCE, 18,
            reference_to=("Contact",), relationship_name="ConvertedContact",
        )),
        read_only(Field(
            "ConvertedOpportunityId", "Converted Opportunity ID", REFERENCE, 18,
            reference_to=("Opportunity",), relationship_name="ConvertedOpportunity",
        )),
        *_audit_fields(),
        Field(
            "Leadsync_Id__c", "Leadsync Id", STRING, 64, external_id=True, unique=True,
            id_lookup=True, custom=True,
        ),
        Field("Leadsync_Score__c", "Leadsync Score", DOUBLE, precision=18, scale=2, custom=True),
        # The rep's work queue: a list view sorted by rank, then score.
        Field("Leadsync_Tier__c", "Leadsync Tier", STRING, 40, custom=True),
        Field("Leadsync_Rank__c", "Leadsync Rank", DOUBLE, precision=3, scale=0, custom=True),
        Field("Leadsync_Expansion__c", "Leadsync Expansion", BOOLEAN, custom=True),
        # Where reps say why they recycle or disqualify a lead (an admin's custom field).
        Field("Status_Reason__c", "Status Reason", STRING, 255, custom=True),
        # A pattern admins use to keep one lead per address: a unique custom email
        # field. It lets the sandbox refuse a write with DUPLICATE_VALUE on a field
        # other than the external id.
        Field("Unique_Email__c", "Unique Email", EMAIL, 80, unique=True, custom=True),
        # An External ID an admin did not also mark Unique: Salesforce then accepts two
        # records with one value, so the adapter must upsert rather than create.
        Field("Legacy_Id__c", "Legacy Id", STRING, 64, external_id=True, id_lookup=True,
              custom=True),
    ),
)  # fmt: skip

USER = SObject(
    name="User",
    label="User",
    label_plural="Users",
    key_prefix="005",
    createable=False,
    updateable=False,
    deletable=False,
    fields=(
        *_system_fields("User")[:1],
        Field("Username", "Username", STRING, 80, nillable=False, unique=True, id_lookup=True),
        Field("LastName", "Last Name", STRING, 80, nillable=False),
        Field("FirstName", "First Name", STRING, 40),
        read_only(Field("Name", "Full Name", STRING, 121, name_field=True)),
        Field("Email", "Email", EMAIL, 128, nillable=False),
        Field("IsActive", "Active", BOOLEAN, nillable=False, defaulted_on_create=True),
        Field(
            "TimeZoneSidKey", "Time Zone", PICKLIST, 40, nillable=False,
            picklist=_values(TIME_ZONES), restricted_picklist=True,
        ),
        *_audit_fields(),
    ),
)  # fmt: skip

ACCOUNT_TYPES = (
    "Prospect", "Customer - Direct", "Customer - Channel", "Channel Partner / Reseller",
    "Installation Partner", "Technology Partner", "Other",
)  # fmt: skip

# Standard sales process: (stage, default probability, closed, won).
OPPORTUNITY_STAGES: tuple[tuple[str, int, bool, bool], ...] = (
    ("Prospecting", 10, False, False),
    ("Qualification", 10, False, False),
    ("Needs Analysis", 20, False, False),
    ("Value Proposition", 50, False, False),
    ("Id. Decision Makers", 60, False, False),
    ("Perception Analysis", 70, False, False),
    ("Proposal/Price Quote", 75, False, False),
    ("Negotiation/Review", 90, False, False),
    ("Closed Won", 100, True, True),
    ("Closed Lost", 0, True, False),
)
DEFAULT_OPPORTUNITY_STAGE = OPPORTUNITY_STAGES[0][0]
_STAGE_FLAGS = {stage: (p, closed, won) for stage, p, closed, won in OPPORTUNITY_STAGES}

TASK_STATUSES = ("Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred")
CLOSED_TASK_STATUSES = frozenset({"Completed"})
TASK_PRIORITIES = ("High", "Normal", "Low")
TASK_SUBTYPES = ("Task", "Email", "ListEmail", "Cadence", "Call", "LinkedIn")
TASK_TYPES = ("Call", "Email", "Meeting", "Other")
"""Task.Type's values in a new org (an admin adds more; the picklist is not restricted)."""


def _owner(reference_to: tuple[str, ...] = ("User",)) -> Field:
    return Field(
        "OwnerId", "Owner ID", REFERENCE, 18, nillable=False, defaulted_on_create=True,
        reference_to=reference_to, relationship_name="Owner", polymorphic=len(reference_to) > 1,
    )  # fmt: skip


def _address(prefix: str, label: str) -> tuple[Field, ...]:
    return (
        Field(f"{prefix}Street", f"{label} Street", TEXTAREA, 255, extra_type_info="plaintextarea"),
        Field(f"{prefix}City", f"{label} City", STRING, 40),
        Field(f"{prefix}State", f"{label} State/Province", STRING, 80),
        Field(f"{prefix}PostalCode", f"{label} Zip/Postal Code", STRING, 20),
        Field(f"{prefix}Country", f"{label} Country", STRING, 80),
    )


def _description() -> Field:
    return Field(
        "Description", "Description", TEXTAREA, 32000, filterable=False, sortable=False,
        extra_type_info="plaintextarea",
    )  # fmt: skip


ACCOUNT = SObject(
    name="Account",
    label="Account",
    label_plural="Accounts",
    key_prefix="001",
    mergeable=True,
    fields=(
        *_system_fields("Account"),
        _master_record("Account"),
        Field("Name", "Account Name", STRING, 255, nillable=False, name_field=True, id_lookup=True),
        Field("Type", "Account Type", PICKLIST, 255, picklist=_values(ACCOUNT_TYPES)),
        *_address("Billing", "Billing"),
        *_address("Shipping", "Shipping"),
        Field("Phone", "Account Phone", PHONE, 40),
        Field("Website", "Website", URL, 255),
        Field("Industry", "Industry", PICKLIST, 255, picklist=_values(INDUSTRIES)),
        Field("AnnualRevenue", "Annual Revenue", CURRENCY, precision=18, scale=0),
        Field("NumberOfEmployees", "Employees", INT, digits=8),
        _description(),
        _owner(),
        *_audit_fields(),
    ),
)  # fmt: skip

CONTACT = SObject(
    name="Contact",
    label="Contact",
    label_plural="Contacts",
    key_prefix="003",
    mergeable=True,
    fields=(
        *_system_fields("Contact"),
        _master_record("Contact"),
        Field(
            "AccountId", "Account ID", REFERENCE, 18, reference_to=("Account",),
            relationship_name="Account",
        ),
        Field("LastName", "Last Name", STRING, 80, nillable=False),
        Field("FirstName", "First Name", STRING, 40),
        Field(
            "Salutation", "Salutation", PICKLIST, 40,
            picklist=_values(("Mr.", "Ms.", "Mrs.", "Dr.", "Prof.", "Mx.")),
        ),
        read_only(Field("Name", "Full Name", STRING, 121, name_field=True, id_lookup=True)),
        *_address("Mailing", "Mailing"),
        Field("Phone", "Business Phone", PHONE, 40),
        Field("MobilePhone", "Mobile Phone", PHONE, 40),
        Field("Email", "Email", EMAIL, 80, id_lookup=True),
        Field("Title", "Title", STRING, 128),
        Field("Department", "Department", STRING, 80),
        Field("LeadSource", "Lead Source", PICKLIST, 255, picklist=_values(LEAD_SOURCES)),
        _description(),
        _owner(),
        *_audit_fields(),
    ),
)  # fmt: skip

OPPORTUNITY = SObject(
    name="Opportunity",
    label="Opportunity",
    label_plural="Opportunities",
    key_prefix="006",
    fields=(
        *_system_fields("Opportunity"),
        Field(
            "AccountId", "Account ID", REFERENCE, 18, reference_to=("Account",),
            relationship_name="Account",
        ),
        Field("Name", "Name", STRING, 120, nillable=False, name_field=True),
        _description(),
        Field(
            "StageName", "Stage", PICKLIST, 255, nillable=False,
            picklist=_values(tuple(s[0] for s in OPPORTUNITY_STAGES)), restricted_picklist=True,
        ),
        Field("Amount", "Amount", CURRENCY, precision=18, scale=2),
        Field("Probability", "Probability (%)", PERCENT, precision=3, scale=0),
        Field("CloseDate", "Close Date", DATE, nillable=False),
        Field(
            "Type", "Opportunity Type", PICKLIST, 255,
            picklist=_values(("Existing Customer - Upgrade", "Existing Customer - Replacement",
                              "Existing Customer - Downgrade", "New Customer")),
        ),
        Field("NextStep", "Next Step", STRING, 255),
        Field("LeadSource", "Lead Source", PICKLIST, 255, picklist=_values(LEAD_SOURCES)),
        read_only(Field("IsClosed", "Closed", BOOLEAN), system=True),
        read_only(Field("IsWon", "Won", BOOLEAN), system=True),
        _owner(),
        *_audit_fields(),
    ),
)  # fmt: skip


def _activity_fields() -> tuple[Field, ...]:
    """Who (a lead or contact), What (an account or opportunity) and the Subject: what
    a Task and an Event (an activity) share."""
    return (
        Field(
            "WhoId", "Name ID", REFERENCE, 18, reference_to=("Contact", "Lead"),
            relationship_name="Who", polymorphic=True,
        ),
        Field(
            "WhatId", "Related To ID", REFERENCE, 18, reference_to=("Account", "Opportunity"),
            relationship_name="What", polymorphic=True,
        ),
        Field("Subject", "Subject", STRING, 255, name_field=True),
    )  # fmt: skip


TASK = SObject(
    name="Task",
    label="Task",
    label_plural="Tasks",
    key_prefix="00T",
    fields=(
        *_system_fields("Task"),
        *_activity_fields(),
        Field("ActivityDate", "Due Date Only", DATE),
        # Set by the server when the task is saved closed (API 44.0 and later).
        read_only(Field("CompletedDateTime", "Completed Date/Time", DATETIME)),
        Field("Type", "Type", PICKLIST, 40, picklist=_values(TASK_TYPES)),
        Field(
            "Status", "Status", PICKLIST, 255, nillable=False, defaulted_on_create=True,
            picklist=_values(TASK_STATUSES, "Not Started"), restricted_picklist=True,
        ),
        Field(
            "Priority", "Priority", PICKLIST, 40, nillable=False, defaulted_on_create=True,
            picklist=_values(TASK_PRIORITIES, "Normal"), restricted_picklist=True,
        ),
        _owner(("Group", "User")),
        _description(),
        replace(
            Field("TaskSubtype", "Task Subtype", PICKLIST, 40, picklist=_values(TASK_SUBTYPES)),
            updateable=False,
        ),
        Field("CallDisposition", "Call Result", STRING, 255),
        Field("CallDurationInSeconds", "Call Duration", INT, digits=8),
        read_only(Field("IsClosed", "Closed", BOOLEAN), system=True),
        *_audit_fields(),
    ),
)  # fmt: skip

EVENT_TYPES = ("Call", "Email", "Meeting", "Other")
"""Event.Type's values in a new org (the picklist shared with Task.Type)."""

EVENT = SObject(
    name="Event",
    label="Event",
    label_plural="Events",
    key_prefix="00U",
    fields=(
        *_system_fields("Event"),
        *_activity_fields(),
        # ActivityDateTime and StartDateTime are one time (the API keeps them equal);
        # EndDateTime follows from DurationInMinutes, or the reverse; ActivityDate is
        # the start's day (the only time of an all-day event)
        Field("ActivityDateTime", "Due Date Time", DATETIME),
        Field("StartDateTime", "Start", DATETIME),
        Field("EndDateTime", "End", DATETIME),
        Field("DurationInMinutes", "Duration", INT, digits=8),
        Field("ActivityDate", "Due Date Only", DATE),
        Field("IsAllDayEvent", "All-Day Event", BOOLEAN, nillable=False,
              defaulted_on_create=True),
        Field("Location", "Location", STRING, 255),
        Field("Type", "Type", PICKLIST, 40, picklist=_values(EVENT_TYPES)),
        _owner(("User",)),
        _description(),
        replace(
            Field("EventSubtype", "Event Subtype", PICKLIST, 40, picklist=_values(("Event",))),
            updateable=False,
        ),
        *_audit_fields(),
    ),
)  # fmt: skip

# --- the Lead Status picklist and the LeadStatus object ---------------------------


@dataclass(frozen=True)
class LeadStatusValue:
    """One value of the org's Lead Status picklist, as Setup > Lead Status holds it.

    ``label`` is LeadStatus.MasterLabel and ``api_name`` (default: the label)
    LeadStatus.ApiName, the value stored in Lead.Status. ``converted`` is the
    "Converted" flag (LeadStatus.IsConverted: "Multiple lead status values can
    represent a converted lead"), ``default`` the picklist default
    (LeadStatus.IsDefault). Object Reference, "LeadStatus",
    https://developer.salesforce.com/docs/platform/object-reference/references/standard-objects/object-leadstatus.html
    """

    label: str
    converted: bool = False
    default: bool = False
    api_name: str | None = None

    @property
    def value(self) -> str:
        return self.api_name or self.label


DEFAULT_LEAD_STATUSES: tuple[LeadStatusValue, ...] = tuple(
    LeadStatusValue(
        status,
        converted=status in CONVERTED_LEAD_STATUSES,
        default=status == DEFAULT_LEAD_STATUS,
    )
    for status in LEAD_STATUSES
)
"""The Lead Status picklist of a new Developer/Enterprise org (today's default)."""

LeadStatusEntry = str | Mapping[str, Any] | LeadStatusValue
"""How a caller names a status: "Recycle", {"MasterLabel": "Qualified",
"IsConverted": True}, or a ``LeadStatusValue``."""


def lead_status_value(entry: LeadStatusEntry) -> LeadStatusValue:
    """A status from a plain label, a LeadStatus-shaped mapping, or a LeadStatusValue."""
    if isinstance(entry, LeadStatusValue):
        return entry
    if isinstance(entry, str):
        if not entry.strip():
            raise ValueError("a Lead Status value needs a label")
        return LeadStatusValue(entry)
    if isinstance(entry, Mapping):
        fields = {str(k).lower(): v for k, v in entry.items()}
        label = fields.get("masterlabel") or fields.get("apiname") or fields.get("label")
        if not isinstance(label, str) or not label.strip():
            raise ValueError(f"a LeadStatus needs a MasterLabel or ApiName: {dict(entry)!r}")
        api_name = fields.get("apiname")
        return LeadStatusValue(
            label,
            converted=bool(fields.get("isconverted", False)),
            default=bool(fields.get("isdefault", False)),
            api_name=api_name if isinstance(api_name, str) and api_name != label else None,
        )
    raise TypeError(f"not a Lead Status value: {entry!r}")


def lead_statuses(
    base: Iterable[LeadStatusEntry], *extra: Iterable[LeadStatusEntry]
) -> tuple[LeadStatusValue, ...]:
    """The picklist ``base`` plus every value of ``extra`` it lacks, checked.

    Values are only ever added, the way an admin adds picklist values: a
    status already there (same API name, compared case-insensitively) keeps
    its place and flags. Raises ValueError if no value is "Converted" (lead
    conversion needs one) or more than one is the default; without a default
    the first non-converted value is it, as Setup always has one.
    """
    values = [lead_status_value(e) for e in base]
    seen = {v.value.casefold() for v in values}
    if len(seen) != len(values):
        raise ValueError("Lead Status values must have distinct API names")
    for group in extra:
        for entry in group:
            value = lead_status_value(entry)
            if value.value.casefold() not in seen:
                seen.add(value.value.casefold())
                values.append(replace(value, default=False))
    if not values:
        raise ValueError("the Lead Status picklist needs at least one value")
    if not any(v.converted for v in values):
        raise ValueError(
            "no Lead Status value is Converted, so leads could never be converted; "
            "start from DEFAULT_LEAD_STATUSES, e.g. [*DEFAULT_LEAD_STATUSES, 'Recycle']"
        )
    defaults = [v for v in values if v.default]
    if len(defaults) > 1:
        raise ValueError(f"only one Lead Status can be the default: {[v.label for v in defaults]}")
    if not defaults:
        first = next((i for i, v in enumerate(values) if not v.converted), 0)
        values[first] = replace(values[first], default=True)
    return tuple(values)


def converted_statuses(schema: Schema) -> tuple[str, ...]:
    """The org's Lead Status values flagged Converted, in picklist order."""
    lead = schema.get("Lead")
    status = lead.field("Status") if lead else None
    return tuple(p.value for p in status.picklist if p.converted) if status else ()


def _with_lead_statuses(statuses: tuple[LeadStatusValue, ...]) -> SObject:
    """Lead with ``statuses`` as its Status picklist (describe shows them, writes accept them)."""
    picklist = tuple(
        PicklistValue(
            v.value, default=v.default, label=v.label if v.label != v.value else None,
            converted=v.converted,
        )
        for v in statuses
    )  # fmt: skip
    fields = tuple(replace(f, picklist=picklist) if f.name == "Status" else f for f in LEAD.fields)
    # A fresh field index: ``replace`` would hand LEAD's own dict to the copy.
    return replace(LEAD, fields=fields, _by_lower={})


LEAD_STATUS = SObject(
    name="LeadStatus",
    label="Lead Status Value",
    label_plural="Lead Status Values",
    key_prefix="01J",
    createable=False,
    updateable=False,
    deletable=False,
    # Object Reference, "LeadStatus": supported calls describeSObjects(), query(),
    # retrieve(); fields as in the Field Reference ("LeadStatus",
    # https://developer.salesforce.com/docs/platform/field-reference/references/field-reference/salesforce-field-reference-leadstatus.html).
    # No IsDeleted.
    fields=(
        _system_fields("Lead Status Value")[0],
        read_only(Field("MasterLabel", "Master Label", STRING, 255)),
        read_only(Field("ApiName", "API Name", STRING, 255, nillable=False, id_lookup=True)),
        read_only(Field("SortOrder", "Sort Order", INT, digits=9)),
        read_only(Field("IsDefault", "Is Default", BOOLEAN), system=True),
        read_only(Field("IsConverted", "Is Converted", BOOLEAN), system=True),
        *_audit_fields(),
    ),
)


# --- field history ------------------------------------------------------------------

# History rows for events that are not a field edit; Salesforce records them under
# these names (the Field of LeadHistory, and FeedTrackedChange's "leadConverted",
# "leadMerged" for Lead).
LEAD_EVENTS = ("created", "leadConverted", "leadMerged")
OPPORTUNITY_EVENTS = ("created", "opportunityCreatedFromLead")


def history_field_name(f: Field) -> str:
    """What a history row's Field says for a change to ``f``.

    A lookup is recorded under its relationship (Owner, not OwnerId), the
    name LeadHistory queries filter on (``WHERE Field = 'Owner'``).
    """
    if f.type == REFERENCE and f.relationship_name:
        return f.relationship_name
    return f.name


def _history_object(
    name: str,
    label: str,
    key_prefix: str,
    parent: SObject,
    parent_field: str,
    events: tuple[str, ...],
) -> SObject:
    """A field history object (Object Reference, "LeadHistory", "OpportunityFieldHistory").

    https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_leadhistory.htm
    https://developer.salesforce.com/docs/platform/field-reference/references/field-reference/salesforce-field-reference-opportunityfieldhistory.html

    Read-only to everyone (supported calls describeSObjects(), getDeleted(),
    getUpdated(), query(), retrieve()); Field is a restricted picklist of the
    parent's fields; OldValue/NewValue are anyType, sortable but not
    filterable. Every field history object has the key prefix 017.
    """
    tracked = tuple(history_field_name(f) for f in parent.fields if f.updateable and f.name != "Id")
    return SObject(
        name=name,
        label=label,
        label_plural=label,
        key_prefix=key_prefix,
        createable=False,
        updateable=False,
        deletable=False,
        fields=(
            *_system_fields(label),
            read_only(Field(
                parent_field, f"{parent.label} ID", REFERENCE, 18, nillable=False,
                reference_to=(parent.name,), relationship_name=parent.name,
            )),
            read_only(Field("Field", "Changed Field", PICKLIST, 255, nillable=False,
                            picklist=_values((*tracked, *events)), restricted_picklist=True)),
            read_only(Field("DataType", "Data Type", PICKLIST, 40, picklist=_values(
                ("Text", "EntityId", "DynamicEnum", "Currency", "Date", "DateTime", "Double",
                 "Boolean")))),
            read_only(Field("OldValue", "Old Value", ANYTYPE, 255, filterable=False)),
            read_only(Field("NewValue", "New Value", ANYTYPE, 255, filterable=False)),
            *_audit_fields()[:2],  # CreatedDate, CreatedById: a history row is never edited
        ),
    )  # fmt: skip


HISTORY_KEY_PREFIX = "017"
LEAD_HISTORY = _history_object(
    "LeadHistory", "Lead History", HISTORY_KEY_PREFIX, LEAD, "LeadId", LEAD_EVENTS
)
OPPORTUNITY_FIELD_HISTORY = _history_object(
    "OpportunityFieldHistory",
    "Opportunity Field History",
    HISTORY_KEY_PREFIX,
    OPPORTUNITY,
    "OpportunityId",
    OPPORTUNITY_EVENTS,
)

# Parent object -> (its history object, the history's parent id field).
HISTORY_OBJECTS: dict[str, tuple[str, str]] = {
    "Lead": ("LeadHistory", "LeadId"),
    "Opportunity": ("OpportunityFieldHistory", "OpportunityId"),
}

# A history row's DataType by the tracked field's type. The Field Reference lists
# DataType (a picklist) on every history object without its values; these are
# the names orgs report, best effort. A lookup's id row is "EntityId".
HISTORY_DATA_TYPES: dict[str, str] = {
    STRING: "Text", EMAIL: "Text", PHONE: "Text", URL: "Text", TEXTAREA: "Text",
    PICKLIST: "DynamicEnum", CURRENCY: "Currency", DATE: "Date", DATETIME: "DateTime",
    DOUBLE: "Double", PERCENT: "Double", INT: "Double", BOOLEAN: "Boolean",
}  # fmt: skip

# Fields whose changes are tracked unless the sandbox is told otherwise (an admin
# picks up to 20 per object in Setup, "Field History Tracking").
DEFAULT_FIELD_HISTORY: dict[str, tuple[str, ...]] = {
    "Lead": ("Status", "OwnerId", "Title", "Email", "Phone", "Company", "FirstName", "LastName"),
    "Opportunity": ("StageName", "Amount", "CloseDate"),
}

OBJECTS: tuple[SObject, ...] = (
    LEAD, USER, ACCOUNT, CONTACT, OPPORTUNITY, TASK, EVENT,
    LEAD_STATUS, LEAD_HISTORY, OPPORTUNITY_FIELD_HISTORY,
)  # fmt: skip


def _derive_opportunity(record: dict[str, Any], changed: set[str]) -> None:
    """IsClosed/IsWon follow the stage; so does Probability unless the write set it."""
    flags = _STAGE_FLAGS.get(record.get("StageName") or "")
    if flags is None:
        return
    probability, record["IsClosed"], record["IsWon"] = flags
    if "StageName" in changed and "Probability" not in changed:
        record["Probability"] = float(probability)


def _derive_task(record: dict[str, Any], changed: set[str]) -> None:
    record["IsClosed"] = record.get("Status") in CLOSED_TASK_STATUSES


def _derive_event(record: dict[str, Any], changed: set[str]) -> None:
    """An event's times agree: the start is ActivityDateTime (whichever of the two the
    write set), the end follows the duration (or the duration the end), the date is
    the start's day."""
    if "StartDateTime" in changed and "ActivityDateTime" not in changed:
        record["ActivityDateTime"] = record.get("StartDateTime")
    record["StartDateTime"] = record.get("ActivityDateTime")
    start = parse_datetime(record["StartDateTime"]) if record.get("StartDateTime") else None
    if start is None:
        return
    record["ActivityDate"] = start.date().isoformat()
    if record.get("DurationInMinutes") is not None and "EndDateTime" not in changed:
        end = start + timedelta(minutes=int(record["DurationInMinutes"]))
        record["EndDateTime"] = format_datetime(end)
    elif record.get("EndDateTime"):
        end = parse_datetime(record["EndDateTime"])
        if end is not None:
            record["DurationInMinutes"] = int((end - start).total_seconds() // 60)
    if record.get("EventSubtype") is None:
        record["EventSubtype"] = "Event"


# Per-object rules for fields Salesforce computes on save; the store runs them
# on every insert and update, whichever API the write came through.
DERIVED: dict[str, Callable[[dict[str, Any], set[str]], None]] = {
    "Opportunity": _derive_opportunity,
    "Task": _derive_task,
    "Event": _derive_event,
}


def _stamp_task(record: dict[str, Any], before: dict[str, Any] | None, stamp: str) -> None:
    """CompletedDateTime (Object Reference, Task): set when a task is saved with a
    closed status, cleared when saved open, kept when it moves from one closed status
    to another. A seeded task may bring its own."""
    if not record.get("IsClosed"):
        record["CompletedDateTime"] = None
        return
    newly_closed = not before.get("IsClosed") if before is not None else (
        not record.get("CompletedDateTime"))
    if newly_closed:
        record["CompletedDateTime"] = stamp


# Per-object rules for times Salesforce stamps on save: given the record as saved
# (after DERIVED), the record before the write (None on insert) and the write's stamp.
STAMPED: dict[str, Callable[[dict[str, Any], dict[str, Any] | None, str], None]] = {
    "Task": _stamp_task,
}


def default_schema(statuses: Iterable[LeadStatusEntry] | None = None) -> Schema:
    """The org's objects; ``statuses`` is the Lead Status picklist (default: today's four)."""
    if statuses is None:
        return Schema(OBJECTS)
    lead = _with_lead_statuses(lead_statuses(statuses))
    return Schema(lead if o is LEAD else o for o in OBJECTS)


# The org's built-in users: the API user the sandbox logs in as, and the
# sales reps leads get routed to. One rep is inactive so routing and
# "owner is inactive" paths have something to hit.
BUILTIN_REPS: tuple[dict[str, Any], ...] = (
    {
        "FirstName": "Avery", "LastName": "Chen", "Username": "avery.chen@leadsync.sandbox",
        "Email": "avery.chen@leadsync.sandbox", "TimeZoneSidKey": "America/Los_Angeles",
    },
    {
        "FirstName": "Jordan", "LastName": "Patel", "Username": "jordan.patel@leadsync.sandbox",
        "Email": "jordan.patel@leadsync.sandbox", "TimeZoneSidKey": "America/Chicago",
    },
    {
        "FirstName": "Morgan", "LastName": "Diaz", "Username": "morgan.diaz@leadsync.sandbox",
        "Email": "morgan.diaz@leadsync.sandbox", "TimeZoneSidKey": "America/New_York",
    },
    {
        "FirstName": "Riley", "LastName": "Okafor", "Username": "riley.okafor@leadsync.sandbox",
        "Email": "riley.okafor@leadsync.sandbox", "TimeZoneSidKey": "Europe/London",
    },
    {
        "FirstName": "Casey", "LastName": "Brooks", "Username": "casey.brooks@leadsync.sandbox",
        "Email": "casey.brooks@leadsync.sandbox", "TimeZoneSidKey": "America/Denver",
        "IsActive": False,
    },
)  # fmt: skip
