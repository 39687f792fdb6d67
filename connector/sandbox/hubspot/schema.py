"""Object types and their properties: what the Properties API shows and writes are checked against.

HubSpot validates every write against the property definitions: an unknown
name is ``PROPERTY_DOESNT_EXIST``, a value outside an enumeration's options
``INVALID_OPTION``, a non-number ``INVALID_INTEGER`` (the code HubSpot uses
for every number property). Values travel as strings both ways; the sandbox
stores the normalized string HubSpot would return (dates as ``YYYY-MM-DD``,
datetimes as ISO-8601 UTC with milliseconds, emails lower-cased).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from .errors import PropertyError

OBJECT_TYPE_IDS = {
    "contacts": "0-1",
    "companies": "0-2",
    "deals": "0-3",
    "notes": "0-46",
    "tasks": "0-27",
    "meetings": "0-47",
    "calls": "0-48",
    "emails": "0-49",
}
"""Path names to HubSpot's object type ids (both are accepted in URLs)."""

SINGULAR = {"contacts": "contact", "companies": "company", "deals": "deal", "notes": "note",
            "tasks": "task", "meetings": "meeting", "calls": "call", "emails": "email"}

ENGAGEMENTS = ("calls", "emails", "meetings", "notes", "tasks")
"""The activity objects: stamped ``hs_createdate`` (not ``createdate``), placed on a
record's timeline by ``hs_timestamp`` (when the call, email or meeting happened; a
task's due date), which defaults to their creation."""

_ALIASES = {**{v: k for k, v in OBJECT_TYPE_IDS.items()}, **{v: k for k, v in SINGULAR.items()}}

LIFECYCLE_STAGES = [
    "subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity",
    "customer", "evangelist", "other",
]
LEAD_STATUSES = [
    "NEW", "OPEN", "IN_PROGRESS", "OPEN_DEAL", "UNQUALIFIED", "ATTEMPTED_TO_CONTACT",
    "CONNECTED", "BAD_TIMING",
]
DEAL_STAGES = [
    ("appointmentscheduled", "Appointment Scheduled", "0.2"),
    ("qualifiedtobuy", "Qualified To Buy", "0.4"),
    ("presentationscheduled", "Presentation Scheduled", "0.6"),
    ("decisionmakerboughtin", "Decision Maker Bought-In", "0.8"),
    ("contractsent", "Contract Sent", "0.9"),
    ("closedwon", "Closed Won", "1.0"),
    ("closedlost", "Closed Lost", "0.0"),
]
TASK_STATUSES = ["NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED", "DEFERRED"]
TASK_PRIORITIES = ["NONE", "LOW", "MEDIUM", "HIGH"]
TASK_TYPES = ["TODO", "CALL", "EMAIL"]
CALL_DISPOSITIONS = [
    ("9d9162e7-6cf3-4944-bf63-4dff82258764", "Busy"),
    ("f240bbac-87c9-4f6e-bf70-924b57d47db7", "Connected"),
    ("a4c4c377-d246-4b32-a13b-75a56a4cd0ff", "Left live message"),
    ("b2cf5968-551e-4856-9783-52b3da59a7d0", "Left voicemail"),
    ("73a0d17f-1163-4015-bdd5-ec830791da20", "No answer"),
    ("17b47fee-58de-441e-a44c-c6300d46f273", "Wrong number"),
]
"""A portal's default call outcomes: ``hs_call_disposition`` holds the GUID, the
property's options carry the label (calls API guide, "Properties")."""
CALL_STATUSES = ["BUSY", "CALLING_CRM_USER", "CANCELED", "COMPLETED", "CONNECTING", "FAILED",
                 "IN_PROGRESS", "NO_ANSWER", "QUEUED", "RINGING"]
CALL_DIRECTIONS = ["INBOUND", "OUTBOUND"]
EMAIL_DIRECTIONS = ["EMAIL", "INCOMING_EMAIL", "FORWARDED_EMAIL"]
EMAIL_STATUSES = ["BOUNCED", "FAILED", "SCHEDULED", "SENDING", "SENT"]
MEETING_OUTCOMES = ["SCHEDULED", "COMPLETED", "RESCHEDULED", "NO_SHOW", "CANCELED"]

TYPES = ("string", "number", "date", "datetime", "enumeration", "bool", "phone_number")
FIELD_TYPES = {
    "string": {"text", "textarea", "html", "file", "phonenumber"},
    "phone_number": {"phonenumber", "text"},
    "number": {"number", "calculation_equation"},
    "date": {"date"},
    "datetime": {"date"},
    "enumeration": {"select", "radio", "checkbox", "booleancheckbox"},
    "bool": {"booleancheckbox"},
}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def object_type(name: str) -> str | None:
    """The canonical path name (``contacts``...) for a path name, singular or type id."""
    lowered = name.lower()
    if lowered in OBJECT_TYPE_IDS:
        return lowered
    return _ALIASES.get(lowered)


@dataclass
class Option:
    value: str
    label: str
    display_order: int = 0
    hidden: bool = False
    description: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "value": self.value,
            "displayOrder": self.display_order,
            "hidden": self.hidden,
            "description": self.description,
        }


@dataclass
class PropertyDef:
    """One property; ``read_only`` is ``modificationMetadata.readOnlyValue``."""

    name: str
    label: str
    type: str = "string"
    field_type: str = "text"
    group_name: str = "contactinformation"
    options: list[Option] = field(default_factory=list)
    has_unique_value: bool = False
    read_only: bool = False
    calculated: bool = False
    hubspot_defined: bool = True
    external_options: bool = False
    description: str = ""
    display_order: int = -1
    created_at: str = "2019-08-06T02:41:08.029Z"
    updated_at: str = "2019-08-06T02:41:08.029Z"

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "description": self.description,
            "groupName": self.group_name,
            "options": [o.to_json() for o in self.options],
            "displayOrder": self.display_order,
            "calculated": self.calculated,
            "externalOptions": self.external_options,
            "hasUniqueValue": self.has_unique_value,
            "hidden": False,
            "modificationMetadata": {
                "archivable": not self.hubspot_defined,
                "readOnlyDefinition": self.hubspot_defined,
                "readOnlyValue": self.read_only,
            },
            "formField": not self.read_only and self.type != "datetime",
            "dataSensitivity": "non_sensitive",
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "archived": False,
        }
        if self.hubspot_defined:
            body["hubspotDefined"] = True
        return body

    def to_state(self) -> dict[str, Any]:
        return self.to_json()

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> PropertyDef:
        meta = body.get("modificationMetadata") or {}
        return cls(
            name=body["name"],
            label=body.get("label") or body["name"],
            type=body.get("type", "string"),
            field_type=body.get("fieldType", "text"),
            group_name=body.get("groupName", "contactinformation"),
            options=[
                Option(
                    value=str(o["value"]),
                    label=str(o.get("label", o["value"])),
                    display_order=int(o.get("displayOrder", i)),
                    hidden=bool(o.get("hidden", False)),
                    description=str(o.get("description") or ""),
                )
                for i, o in enumerate(body.get("options") or [])
            ],
            has_unique_value=bool(body.get("hasUniqueValue", False)),
            read_only=bool(meta.get("readOnlyValue", False)),
            calculated=bool(body.get("calculated", False)),
            hubspot_defined=bool(body.get("hubspotDefined", False)),
            external_options=bool(body.get("externalOptions", False)),
            description=str(body.get("description") or ""),
            display_order=int(body.get("displayOrder", -1)),
            created_at=str(body.get("createdAt") or "2019-08-06T02:41:08.029Z"),
            updated_at=str(body.get("updatedAt") or "2019-08-06T02:41:08.029Z"),
        )

    # --- values -------------------------------------------------------------

    def normalize(self, raw: Any, *, owner_ids: set[str] | None = None) -> str:
        """The stored string for a written value, or ``PropertyError`` as HubSpot words it.

        ``""`` (or null) clears any property; HubSpot accepts that for every type.
        """
        if raw is None:
            return ""
        if isinstance(raw, bool):
            text = "true" if raw else "false"
        elif isinstance(raw, float) and raw.is_integer():
            text = str(int(raw))
        else:
            text = str(raw)
        if text == "":
            return ""
        if self.name == "hubspot_owner_id":
            if owner_ids is not None and text.strip() not in owner_ids:
                # Guessed wording; the code is the one HubSpot uses for owners.
                raise PropertyError(
                    "INVALID_OWNER_ID", self.name, f"{text} is not a valid owner id", text
                )
            return text.strip()
        if self.type == "number":
            stripped = text.strip()
            if not _NUMBER.match(stripped) or not math.isfinite(float(stripped)):
                raise PropertyError(
                    "INVALID_INTEGER", self.name, f"{text} was not a valid number.", text
                )
            return stripped
        if self.type == "bool":
            lowered = text.strip().lower()
            if lowered not in ("true", "false"):
                raise PropertyError(
                    "INVALID_BOOLEAN", self.name, f"{text} was not a valid boolean.", text
                )
            return lowered
        if self.type == "enumeration":
            allowed = [o.value for o in self.options]
            chosen = text.split(";") if self.field_type == "checkbox" else [text]
            for value in chosen:
                if value not in allowed:
                    raise PropertyError(
                        "INVALID_OPTION",
                        self.name,
                        f"{value} was not one of the allowed options: [{', '.join(allowed)}]",
                        text,
                    )
            return text
        if self.type == "date":
            return self._date(text)
        if self.type == "datetime":
            return iso(parse_datetime(text, self.name))
        if self.name == "email":
            lowered = text.strip().lower()
            if not _EMAIL.match(lowered):
                raise PropertyError(
                    "INVALID_EMAIL", self.name, f"Email address {text} is invalid", text
                )
            return lowered
        return text

    def _date(self, text: str) -> str:
        """Date properties hold a day: ``YYYY-MM-DD`` or midnight-UTC epoch milliseconds."""
        stripped = text.strip()
        try:
            return date.fromisoformat(stripped).isoformat()
        except ValueError:
            pass
        try:
            moment = parse_datetime(stripped, self.name)
        except PropertyError:
            raise PropertyError(
                "INVALID_DATE", self.name, f"{text} was not a valid date.", text
            ) from None
        if moment.time() != datetime.min.time():
            raise PropertyError(
                "INVALID_DATE",
                self.name,
                f"{stripped} is at {moment.time().isoformat()} UTC, not midnight!",
                text,
            )
        return moment.date().isoformat()

    def sort_key(self, value: str | None) -> Any:
        """A key that orders stored values the way HubSpot compares them."""
        if value is None or value == "":
            return None
        if self.type == "number":
            return float(value)
        if self.type in ("datetime", "date"):
            return to_millis(value)
        return value.lower()


def parse_datetime(text: str, name: str = "") -> datetime:
    """Epoch milliseconds or ISO-8601 (what HubSpot accepts for datetime values)."""
    stripped = text.strip()
    try:
        if stripped.lstrip("-").isdigit():
            return datetime.fromtimestamp(int(stripped) / 1000, UTC)
        moment = datetime.fromisoformat(stripped.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        raise PropertyError(
            "INVALID_DATE", name, f"{text} was not a valid date time.", text
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def iso(moment: datetime) -> str:
    """HubSpot's timestamp format: UTC, milliseconds, ``Z``."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def to_millis(value: str) -> float:
    """A stored date/datetime (or a filter's epoch-ms/ISO value) as epoch milliseconds."""
    stripped = value.strip()
    if stripped.lstrip("-").replace(".", "", 1).isdigit():
        return float(stripped)
    if len(stripped) == 10:
        moment = datetime.fromisoformat(stripped).replace(tzinfo=UTC)
    else:
        moment = parse_datetime(stripped)
    return (moment - EPOCH).total_seconds() * 1000


# --- the default portal ---------------------------------------------------------


def _enum(
    name: str, label: str, values: list[str] | list[tuple[str, str]], **kw: Any
) -> PropertyDef:
    options = [
        Option(value=v, label=lbl, display_order=i)
        for i, (v, lbl) in enumerate(
            (v, v.replace("_", " ").title()) if isinstance(v, str) else v for v in values
        )
    ]
    return PropertyDef(name, label, "enumeration", kw.pop("field_type", "select"), options=options,
                       **kw)


def _text(name: str, label: str, **kw: Any) -> PropertyDef:
    return PropertyDef(name, label, "string", kw.pop("field_type", "text"), **kw)


def _stamp(name: str, label: str, **kw: Any) -> PropertyDef:
    return PropertyDef(name, label, "datetime", "date", read_only=True, **kw)


def _system(group: str) -> list[PropertyDef]:
    return [
        PropertyDef("hs_object_id", "Record ID", "number", "number", group_name=group,
                    read_only=True),
        _stamp("hs_lastmodifieddate", "Last Modified Date", group_name=group),
        PropertyDef("createdate", "Create Date", "datetime", "date", group_name=group),
        _text("hs_object_source", "Record source", group_name=group, read_only=True),
        PropertyDef("hs_updated_by_user_id", "Updated by user ID", "number", "number",
                    group_name=group, read_only=True),
        # Semicolon-separated ids folded into this record by merges (knowledge base
        # "Merge records": the "Merged [record] IDs" property).
        PropertyDef("hs_merged_object_ids", "Merged record IDs", "string", "text",
                    group_name=group, read_only=True, calculated=True),
        _enum("hubspot_owner_id", "Contact owner", [], group_name=group, external_options=True),
    ]


def default_properties() -> dict[str, dict[str, PropertyDef]]:
    """The built-in properties of each object type, plus leadsync's ``leadsync_id``."""
    contact = [
        _text("email", "Email", has_unique_value=True),
        _text("firstname", "First Name"),
        _text("lastname", "Last Name"),
        _text("company", "Company Name"),
        _text("phone", "Phone Number", field_type="phonenumber"),
        _text("mobilephone", "Mobile Phone Number", field_type="phonenumber"),
        _text("jobtitle", "Job Title"),
        _text("country", "Country/Region"),
        _text("state", "State/Region"),
        _text("city", "City"),
        _text("zip", "Postal Code"),
        _text("address", "Street Address"),
        _text("industry", "Industry"),
        _text("website", "Website URL"),
        _enum("lifecyclestage", "Lifecycle Stage", [
            ("subscriber", "Subscriber"), ("lead", "Lead"),
            ("marketingqualifiedlead", "Marketing Qualified Lead"),
            ("salesqualifiedlead", "Sales Qualified Lead"), ("opportunity", "Opportunity"),
            ("customer", "Customer"), ("evangelist", "Evangelist"), ("other", "Other"),
        ], field_type="radio"),
        _enum("hs_lead_status", "Lead Status", LEAD_STATUSES, field_type="radio"),
        _stamp("lastmodifieddate", "Last Modified Date"),
        PropertyDef("hs_searchable_calculated_phone_number", "Calculated Phone Number",
                    "string", "text", group_name="contactinformation", read_only=True,
                    calculated=True),
        PropertyDef("hs_searchable_calculated_mobile_number", "Calculated Mobile Number",
                    "string", "text", group_name="contactinformation", read_only=True,
                    calculated=True),
        # A merge keeps the secondary contact's address here (knowledge base "Merge
        # records"); read-only in the sandbox, as the objects API does not set it.
        PropertyDef("hs_additional_emails", "Additional email addresses", "string", "text",
                    group_name="contactinformation", read_only=True, calculated=True),
        # "<id>:<epoch ms>;..." per merged contact (the property's own description,
        # quoted in Fivetran's HubSpot docs).
        PropertyDef("hs_calculated_merged_vids", "Merged vids with timestamps of a contact",
                    "string", "text", group_name="contactinformation", read_only=True,
                    calculated=True),
        PropertyDef("leadsync_id", "leadsync ID", "string", "text", has_unique_value=True,
                    hubspot_defined=False, description="The lead's id in leadsync; unique, "
                    "used as idProperty for upserts.", display_order=0),
        PropertyDef("leadsync_score", "leadsync Score", "number", "number",
                    hubspot_defined=False, display_order=1),
        PropertyDef("leadsync_tier", "leadsync Tier", "string", "text",
                    hubspot_defined=False, display_order=2),
        PropertyDef("leadsync_rank", "leadsync Rank", "number", "number",
                    hubspot_defined=False, display_order=3),
        PropertyDef("leadsync_expansion", "leadsync Expansion", "bool", "booleancheckbox",
                    hubspot_defined=False, display_order=4),
        *_system("contactinformation"),
    ]
    company = [
        _text("name", "Company name", group_name="companyinformation"),
        _text("domain", "Company Domain Name", group_name="companyinformation",
              has_unique_value=False),
        _text("website", "Website URL", group_name="companyinformation"),
        _text("phone", "Phone Number", group_name="companyinformation"),
        _text("industry", "Industry", group_name="companyinformation"),
        _text("city", "City", group_name="companyinformation"),
        _text("state", "State/Region", group_name="companyinformation"),
        _text("country", "Country/Region", group_name="companyinformation"),
        _text("zip", "Postal Code", group_name="companyinformation"),
        PropertyDef("numberofemployees", "Number of Employees", "number", "number",
                    group_name="companyinformation"),
        _enum("lifecyclestage", "Lifecycle Stage", LIFECYCLE_STAGES, field_type="radio",
              group_name="companyinformation"),
        *_system("companyinformation"),
    ]
    deal = [
        _text("dealname", "Deal Name", group_name="dealinformation"),
        _enum("dealstage", "Deal Stage", [(s, label) for s, label, _ in DEAL_STAGES],
              group_name="dealinformation"),
        _enum("pipeline", "Pipeline", [("default", "Sales Pipeline")],
              group_name="dealinformation"),
        PropertyDef("amount", "Amount", "number", "number", group_name="dealinformation"),
        PropertyDef("closedate", "Close Date", "datetime", "date", group_name="dealinformation"),
        PropertyDef("hs_is_closed", "Is Deal Closed?", "bool", "booleancheckbox",
                    group_name="dealinformation", read_only=True, calculated=True),
        PropertyDef("hs_is_closed_won", "Is Closed Won", "bool", "booleancheckbox",
                    group_name="dealinformation", read_only=True, calculated=True),
        _text("description", "Deal Description", group_name="dealinformation"),
        *_system("dealinformation"),
    ]
    task = [
        _text("hs_task_subject", "Task Title", group_name="task"),
        _text("hs_task_body", "Task notes", group_name="task", field_type="html"),
        _enum("hs_task_status", "Task Status", TASK_STATUSES, group_name="task"),
        _enum("hs_task_priority", "Priority", TASK_PRIORITIES, group_name="task"),
        _enum("hs_task_type", "Task Type", TASK_TYPES, group_name="task"),
        PropertyDef("hs_timestamp", "Due date", "datetime", "date", group_name="task"),
        PropertyDef("hs_createdate", "Create date", "datetime", "date", group_name="task",
                    read_only=True),
        *_system("task"),
    ]
    note = [
        _text("hs_note_body", "Note body", group_name="engagement", field_type="html"),
        PropertyDef("hs_timestamp", "Activity date", "datetime", "date",
                    group_name="engagement"),
        PropertyDef("hs_createdate", "Create date", "datetime", "date",
                    group_name="engagement", read_only=True),
        *_system("engagement"),
    ]
    call = [
        _text("hs_call_title", "Call Title", group_name="call"),
        _text("hs_call_body", "Call notes", group_name="call", field_type="html"),
        _enum("hs_call_disposition", "Call outcome", CALL_DISPOSITIONS, group_name="call"),
        _enum("hs_call_status", "Call status", CALL_STATUSES, group_name="call"),
        _enum("hs_call_direction", "Call direction", CALL_DIRECTIONS, group_name="call"),
        PropertyDef("hs_call_duration", "Call duration", "number", "number",
                    group_name="call"),
        *_activity_dates("call"),
        *_system("call"),
    ]
    email = [
        _text("hs_email_subject", "Email subject", group_name="email"),
        _text("hs_email_text", "Email body", group_name="email", field_type="textarea"),
        _text("hs_email_html", "Email HTML body", group_name="email", field_type="html"),
        _enum("hs_email_direction", "Email direction", EMAIL_DIRECTIONS, group_name="email"),
        _enum("hs_email_status", "Email send status", EMAIL_STATUSES, group_name="email"),
        *_activity_dates("email"),
        *_system("email"),
    ]
    meeting = [
        _text("hs_meeting_title", "Meeting name", group_name="meeting"),
        _text("hs_meeting_body", "Meeting description", group_name="meeting",
              field_type="html"),
        _text("hs_internal_meeting_notes", "Internal meeting notes", group_name="meeting",
              field_type="html"),
        PropertyDef("hs_meeting_start_time", "Meeting start time", "datetime", "date",
                    group_name="meeting"),
        PropertyDef("hs_meeting_end_time", "Meeting end time", "datetime", "date",
                    group_name="meeting"),
        _enum("hs_meeting_outcome", "Meeting outcome", MEETING_OUTCOMES, group_name="meeting"),
        *_activity_dates("meeting"),
        *_system("meeting"),
    ]
    return {
        name: {p.name: p for p in props}
        for name, props in (("contacts", contact), ("companies", company), ("deals", deal),
                            ("tasks", task), ("notes", note), ("calls", call),
                            ("emails", email), ("meetings", meeting))
    }


def _activity_dates(group: str) -> list[PropertyDef]:
    return [
        PropertyDef("hs_timestamp", "Activity date", "datetime", "date", group_name=group),
        PropertyDef("hs_createdate", "Create date", "datetime", "date", group_name=group,
                    read_only=True),
    ]


DEFAULT_RETURNED = {
    "contacts": ["createdate", "email", "firstname", "hs_object_id", "lastmodifieddate",
                 "lastname"],
    "companies": ["createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"],
    "deals": ["amount", "closedate", "createdate", "dealname", "dealstage",
              "hs_lastmodifieddate", "hs_object_id", "pipeline"],
    "tasks": ["hs_createdate", "hs_lastmodifieddate", "hs_object_id"],
    "notes": ["hs_createdate", "hs_lastmodifieddate", "hs_object_id"],
    "calls": ["hs_createdate", "hs_lastmodifieddate", "hs_object_id"],
    "emails": ["hs_createdate", "hs_lastmodifieddate", "hs_object_id"],
    "meetings": ["hs_createdate", "hs_lastmodifieddate", "hs_object_id"],
}
"""What a read returns when the caller names no properties (as the real API does)."""

MODIFIED = {"contacts": "lastmodifieddate"}
"""Contacts carry their modification stamp twice; other objects only as hs_lastmodifieddate."""
