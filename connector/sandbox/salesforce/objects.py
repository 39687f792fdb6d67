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

Adding an object is adding one ``SObject`` here and to ``OBJECTS``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from .schema import (
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


LEAD = SObject(
    name="Lead",
    label="Lead",
    label_plural="Leads",
    key_prefix="00Q",
    fields=(
        *_system_fields("Lead"),
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
            picklist=_values(LEAD_STATUSES, DEFAULT_LEAD_STATUS), restricted_picklist=True,
        ),
        Field("Industry", "Industry", PICKLIST, 255, picklist=_values(INDUSTRIES)),
        Field("Rating", "Rating", PICKLIST, 255, picklist=_values(("Hot", "Warm", "Cold"))),
        Field("AnnualRevenue", "Annual Revenue", CURRENCY, precision=18, scale=0),
        Field("NumberOfEmployees", "Employees", INT, digits=8),
        Field(
            "OwnerId", "Owner ID", REFERENCE, 18, nillable=False, defaulted_on_create=True,
            reference_to=("Group", "User"), relationship_name="Owner", polymorphic=True,
        ),
        # Set by lead conversion, which the sandbox does not model yet.
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
    fields=(
        *_system_fields("Account"),
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
    fields=(
        *_system_fields("Contact"),
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

TASK = SObject(
    name="Task",
    label="Task",
    label_plural="Tasks",
    key_prefix="00T",
    fields=(
        *_system_fields("Task"),
        Field(
            "WhoId", "Name ID", REFERENCE, 18, reference_to=("Contact", "Lead"),
            relationship_name="Who", polymorphic=True,
        ),
        Field(
            "WhatId", "Related To ID", REFERENCE, 18, reference_to=("Account", "Opportunity"),
            relationship_name="What", polymorphic=True,
        ),
        Field("Subject", "Subject", STRING, 255, name_field=True),
        Field("ActivityDate", "Due Date Only", DATE),
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

OBJECTS: tuple[SObject, ...] = (LEAD, USER, ACCOUNT, CONTACT, OPPORTUNITY, TASK)


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


# Per-object rules for fields Salesforce computes on save; the store runs them
# on every insert and update, whichever API the write came through.
DERIVED: dict[str, Callable[[dict[str, Any], set[str]], None]] = {
    "Opportunity": _derive_opportunity,
    "Task": _derive_task,
}


def default_schema() -> Schema:
    return Schema(OBJECTS)


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
