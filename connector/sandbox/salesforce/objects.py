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

Adding an object (Contact, Account, Task...) is adding one ``SObject`` here
and to ``OBJECTS``.
"""

from __future__ import annotations

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

OBJECTS: tuple[SObject, ...] = (LEAD, USER)


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
