"""Object metadata: what ``describe`` returns and what a write must satisfy.

One ``SObject`` definition drives three things that must never disagree:
the describe payload clients read to learn the org, the coercion/validation
applied to every write, and the field resolution the SOQL binder does. The
concrete objects live in ``objects.py``; this module is the machinery.

Validation follows the order Salesforce applies (and so the error a client
sees first): the JSON body is deserialised field by field (unknown field ->
INVALID_FIELD, wrong JSON type -> JSON_PARSER_ERROR, first problem wins),
then field-level security (INVALID_FIELD_FOR_INSERT_UPDATE, all offending
fields in one error), then value checks and required fields, all reported
together in one list as a DML save result does.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import UTC, date, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

from .errors import ApiError, error, json_parser_error
from .ids import looks_like_id, normalize_id

# Field types, as describe spells them.
ID = "id"
STRING = "string"
EMAIL = "email"
PHONE = "phone"
URL = "url"
TEXTAREA = "textarea"
PICKLIST = "picklist"
REFERENCE = "reference"
BOOLEAN = "boolean"
DATETIME = "datetime"
DATE = "date"
DOUBLE = "double"
CURRENCY = "currency"
PERCENT = "percent"
INT = "int"
# The type of a history row's OldValue/NewValue: whatever the tracked field held
# (LeadHistory, "Fields": "Type anyType, Properties Nillable, Sort").
ANYTYPE = "anyType"

TEXT_TYPES = frozenset({ID, STRING, EMAIL, PHONE, URL, TEXTAREA, PICKLIST, REFERENCE})
NUMBER_TYPES = frozenset({DOUBLE, CURRENCY, PERCENT, INT})

_SOAP_TYPES = {
    ID: "tns:ID",
    REFERENCE: "tns:ID",
    BOOLEAN: "xsd:boolean",
    DATETIME: "xsd:dateTime",
    DATE: "xsd:date",
    DOUBLE: "xsd:double",
    CURRENCY: "xsd:double",
    PERCENT: "xsd:double",
    INT: "xsd:int",
    ANYTYPE: "xsd:anyType",
}

# The type name Salesforce's JSON deserialiser puts in its error messages.
_DESERIALIZE_NAMES = {
    BOOLEAN: "boolean",
    DATETIME: "datetime",
    DATE: "date",
    DOUBLE: "double",
    CURRENCY: "double",
    PERCENT: "double",
    INT: "int",
}

# Deliberately permissive, like Salesforce's own check: local@domain.tld.
_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)


@dataclass(frozen=True)
class PicklistValue:
    value: str
    default: bool = False
    active: bool = True
    label: str | None = None
    # Lead Status only: the value is flagged "Converted" in the org's Lead Status
    # setup (LeadStatus.IsConverted). describe does not show it; the LeadStatus
    # object does, and convertLead accepts only such a value as convertedStatus.
    converted: bool = False

    def describe(self) -> dict[str, Any]:
        return {
            "active": self.active,
            "defaultValue": self.default,
            "label": self.label or self.value,
            "validFor": None,
            "value": self.value,
        }


@dataclass(frozen=True)
class Field:
    """One field's metadata; defaults are those of an ordinary custom text field."""

    name: str
    label: str
    type: str
    length: int = 0
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    defaulted_on_create: bool = False
    external_id: bool = False
    unique: bool = False
    id_lookup: bool = False
    case_sensitive: bool = False
    custom: bool = False
    calculated: bool = False
    name_field: bool = False
    filterable: bool = True
    sortable: bool = True
    picklist: tuple[PicklistValue, ...] = ()
    restricted_picklist: bool = False
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    polymorphic: bool = False
    precision: int = 0
    scale: int = 0
    digits: int = 0
    extra_type_info: str | None = None

    @property
    def writable(self) -> bool:
        return self.createable or self.updateable

    @property
    def picklist_default(self) -> str | None:
        return next((p.value for p in self.picklist if p.default), None)

    @property
    def required_on_create(self) -> bool:
        """What Salesforce reports as REQUIRED_FIELD_MISSING when absent."""
        return (
            self.createable
            and not self.nillable
            and not self.defaulted_on_create
            and self.type != BOOLEAN
        )

    def describe(self) -> dict[str, Any]:
        text = self.type in TEXT_TYPES and self.type not in (ID, REFERENCE)
        sized = text or self.type in (ID, REFERENCE, ANYTYPE)
        return {
            "aggregatable": self.type not in (TEXTAREA,) or self.length <= 255,
            "aiPredictionField": False,
            "autoNumber": False,
            "byteLength": self.length * 3 if sized else 0,
            "calculated": self.calculated,
            "calculatedFormula": None,
            "cascadeDelete": False,
            "caseSensitive": self.case_sensitive,
            "compoundFieldName": None,
            "controllerName": None,
            "createable": self.createable,
            "custom": self.custom,
            "defaultValue": self.picklist_default if self.type == PICKLIST else None,
            "defaultValueFormula": None,
            "defaultedOnCreate": self.defaulted_on_create,
            "dependentPicklist": False,
            "deprecatedAndHidden": False,
            "digits": self.digits,
            "displayLocationInDecimal": False,
            "encrypted": False,
            "externalId": self.external_id,
            "extraTypeInfo": self.extra_type_info,
            "filterable": self.filterable,
            "filteredLookupInfo": None,
            "formulaTreatNullNumberAsZero": False,
            "groupable": self.type not in NUMBER_TYPES and self.filterable,
            "highScaleNumber": False,
            "htmlFormatted": False,
            "idLookup": self.id_lookup,
            "inlineHelpText": None,
            "label": self.label,
            "length": self.length if sized else 0,
            "mask": None,
            "maskType": None,
            "name": self.name,
            "nameField": self.name_field,
            "namePointing": self.polymorphic,
            "nillable": self.nillable,
            "permissionable": self.nillable and self.writable,
            "picklistValues": [p.describe() for p in self.picklist],
            "polymorphicForeignKey": self.polymorphic,
            "precision": self.precision,
            "queryByDistance": False,
            "referenceTargetField": None,
            "referenceTo": list(self.reference_to),
            "relationshipName": self.relationship_name,
            "relationshipOrder": None,
            "restrictedDelete": False,
            "restrictedPicklist": self.restricted_picklist,
            "scale": self.scale,
            "searchPrefilterable": self.type == REFERENCE,
            "soapType": _SOAP_TYPES.get(self.type, "xsd:string"),
            "sortable": self.sortable,
            "type": self.type,
            "unique": self.unique,
            "updateable": self.updateable,
            "writeRequiresMasterRead": False,
        }


@dataclass(frozen=True)
class SObject:
    """An object type: its fields plus the object-level describe flags."""

    name: str
    label: str
    label_plural: str
    key_prefix: str
    fields: tuple[Field, ...]
    createable: bool = True
    updateable: bool = True
    deletable: bool = True
    custom: bool = False
    # Only Lead, Contact and Account can be merged (SOAP API Developer Guide,
    # "merge()": "Supported Object Types").
    mergeable: bool = False
    required_fields: tuple[str, ...] = dataclass_field(default=(), init=False, compare=False)
    defaulted_required_fields: tuple[str, ...] = dataclass_field(
        default=(), init=False, compare=False
    )
    _by_lower: dict[str, Field] = dataclass_field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_lower.update({f.name.lower(): f for f in self.fields})
        self._by_lower.update({f.name: f for f in self.fields})
        # Per-write scans over every field, computed once: a bulk job validates
        # 100,000 rows and these loops dominated its time.
        required = tuple(f.name for f in self.fields if f.required_on_create)
        defaulted_required = tuple(
            f.name
            for f in self.fields
            if f.writable and not f.nillable and f.defaulted_on_create and f.type != BOOLEAN
        )
        object.__setattr__(self, "required_fields", required)
        object.__setattr__(self, "defaulted_required_fields", defaulted_required)

    def field(self, name: str) -> Field | None:
        """Field lookup is case-insensitive everywhere in the API."""
        exact = self._by_lower.get(name)  # canonical spellings are keys too: the common case
        return exact if exact is not None else self._by_lower.get(name.lower())

    def relationship(self, name: str) -> Field | None:
        lowered = name.lower()
        return next(
            (
                f
                for f in self.fields
                if f.relationship_name and f.relationship_name.lower() == lowered
            ),
            None,
        )

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    def urls(self, version: str) -> dict[str, str]:
        base = f"/services/data/v{version}/sobjects/{self.name}"
        return {
            "compactLayouts": f"{base}/describe/compactLayouts",
            "rowTemplate": f"{base}/{{ID}}",
            "approvalLayouts": f"{base}/describe/approvalLayouts",
            "defaultValues": f"{base}/defaultValues?recordTypeId&fields",
            "listviews": f"{base}/listviews",
            "describe": f"{base}/describe",
            "quickActions": f"{base}/quickActions",
            "layouts": f"{base}/describe/layouts",
            "sobject": base,
        }

    def summary(self, version: str) -> dict[str, Any]:
        """The per-object entry of the global describe and of ``objectDescribe``."""
        return {
            "activateable": False,
            "associateEntityType": None,
            "associateParentEntity": None,
            "createable": self.createable,
            "custom": self.custom,
            "customSetting": False,
            "deepCloneable": False,
            "deletable": self.deletable,
            "deprecatedAndHidden": False,
            "feedEnabled": False,
            "hasSubtypes": False,
            "isInterface": False,
            "isSubtype": False,
            "keyPrefix": self.key_prefix,
            "label": self.label,
            "labelPlural": self.label_plural,
            "layoutable": True,
            "mergeable": self.mergeable,
            "mruEnabled": True,
            "name": self.name,
            "queryable": True,
            "replicateable": True,
            "retrieveable": True,
            "searchable": True,
            "triggerable": True,
            "undeletable": self.deletable,
            "updateable": self.updateable,
            "urls": self.urls(version),
        }

    def describe(self, version: str) -> dict[str, Any]:
        payload = self.summary(version)
        payload.update(
            {
                "actionOverrides": [],
                "childRelationships": [],
                "compactLayoutable": True,
                "fields": [f.describe() for f in self.fields],
                "listviewable": None,
                "lookupLayoutable": None,
                "namedLayoutInfos": [],
                "networkScopeFieldName": None,
                "recordTypeInfos": [],
                "searchLayoutable": True,
                "sobjectDescribeOption": "FULL",
                "supportedScopes": [{"label": "All", "name": "everything"}],
            }
        )
        return payload


class Schema:
    """The org's object catalogue, looked up case-insensitively like the API does."""

    def __init__(self, objects: Iterable[SObject]) -> None:
        self._objects = {o.name.lower(): o for o in objects}

    def get(self, name: str) -> SObject | None:
        return self._objects.get(name.lower())

    def by_prefix(self, key_prefix: str) -> SObject | None:
        return next((o for o in self._objects.values() if o.key_prefix == key_prefix), None)

    def __iter__(self) -> Iterator[SObject]:
        return iter(self._objects.values())


# --- value formats ---------------------------------------------------------

_DATETIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
    r"(Z|[+-]\d{2}:?\d{2})?$"
)
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


def format_datetime(value: datetime) -> str:
    """Salesforce's wire format: UTC, milliseconds, ``+0000`` offset."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


@lru_cache(maxsize=65536)
def parse_datetime(text: str) -> datetime | None:
    """Any ISO-8601 datetime Salesforce accepts on input; None if it is not one."""
    match = _DATETIME.match(text.strip())
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    tz: timezone = UTC
    if offset and offset != "Z":
        sign = -1 if offset[0] == "-" else 1
        digits = offset[1:].replace(":", "")
        tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        return datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second or 0), micro, tz
        ).astimezone(UTC)
    except ValueError:
        return None


@lru_cache(maxsize=65536)
def parse_date(text: str) -> date | None:
    match = _DATE.match(text.strip())
    if not match:
        return None
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


# --- writes ----------------------------------------------------------------


def body_position(raw: str, key: str) -> tuple[int, int]:
    """Line/column (1-based) just past ``"key":`` in the JSON text.

    Salesforce's deserialiser errors end in "at [line:L, column:C]"; we point
    at the value of the offending key, which is where it points too (its
    exact column can differ by the width of the token).
    """
    match = re.search(r'"' + re.escape(key) + r'"\s*:\s*', raw)
    offset = match.end() + 1 if match else 1
    line = raw.count("\n", 0, offset) + 1
    column = offset - (raw.rfind("\n", 0, offset) + 1)
    return line, max(column, 1)


def _json_token(value: Any) -> tuple[str, str]:
    """Jackson's token name for a JSON value and the text it quotes in errors."""
    if isinstance(value, bool):
        return ("VALUE_TRUE" if value else "VALUE_FALSE"), json.dumps(value)
    if isinstance(value, int):
        return "VALUE_NUMBER_INT", str(value)
    if isinstance(value, float):
        return "VALUE_NUMBER_FLOAT", repr(value)
    if isinstance(value, str):
        return "VALUE_STRING", value
    if isinstance(value, list):
        return "START_ARRAY", "["
    return "START_OBJECT", "{"


class _Undeserializable(Exception):
    pass


def _coerce(f: Field, value: Any) -> Any:
    """The stored form of a JSON value for field ``f``; raises if the type is wrong.

    Mirrors the lenient parts of Salesforce's deserialiser: numbers and
    booleans are accepted for text fields, numeric strings for numbers,
    "true"/"false" for checkboxes, and an empty string means null.
    """
    if value is None:
        return False if f.type == BOOLEAN else None
    if isinstance(value, (dict, list)):
        raise _Undeserializable
    if f.type == ANYTYPE:
        return value  # a history value keeps the type of the field it records
    if f.type in TEXT_TYPES:
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, float) and value.is_integer():
            value = str(int(value)) if abs(value) < 1e15 else repr(value)
        text = str(value)
        return text if text != "" else None
    if f.type == BOOLEAN:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise _Undeserializable
    if f.type in NUMBER_TYPES:
        if isinstance(value, bool):
            raise _Undeserializable
        if isinstance(value, str):
            if value.strip() == "":
                return None
            try:
                value = float(value) if any(c in value for c in ".eE") else int(value)
            except ValueError as exc:
                raise _Undeserializable from exc
        if isinstance(value, float) and not math.isfinite(value):
            raise _Undeserializable
        if f.type == INT:
            if isinstance(value, float):
                if not value.is_integer():
                    raise _Undeserializable
                value = int(value)
            return value
        return float(value)
    if f.type == DATETIME:
        if not isinstance(value, str):
            raise _Undeserializable
        if value == "":
            return None
        parsed = parse_datetime(value)
        if parsed is None:
            # A bare date is accepted for a datetime field (midnight UTC).
            day = parse_date(value)
            if day is None:
                raise _Undeserializable
            parsed = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return format_datetime(parsed)
    if f.type == DATE:
        if not isinstance(value, str):
            raise _Undeserializable
        if value == "":
            return None
        day = parse_date(value[:10]) if "T" in value else parse_date(value)
        if day is None:
            raise _Undeserializable
        return day.isoformat()
    raise _Undeserializable  # pragma: no cover - every type is handled above


def coerce(f: Field, value: Any) -> Any:
    """``value`` in the stored form for ``f``; ValueError if it cannot be one."""
    try:
        return _coerce(f, value)
    except _Undeserializable:
        raise ValueError(f"{value!r} is not a valid {f.type} for {f.name}") from None


def deserialize(sobject: SObject, body: Mapping[str, Any], raw: str) -> dict[str, Any]:
    """Map a JSON body onto canonical field names and stored value types.

    Stops at the first problem, as Salesforce's streaming deserialiser does.
    """
    values: dict[str, Any] = {}
    for key, value in body.items():
        if key == "attributes":
            continue
        f = sobject.field(key)
        if f is None:
            raise ApiError.one(
                400, "INVALID_FIELD", f"No such column '{key}' on sobject of type {sobject.name}"
            )
        try:
            values[f.name] = _coerce(f, value)
        except _Undeserializable:
            token, shown = _json_token(value)
            line, column = body_position(raw, key)
            kind = _DESERIALIZE_NAMES.get(f.type, "string")
            raise json_parser_error(
                f"Cannot deserialize instance of {kind} from {token} value {shown} "
                f"or request may be missing a required field at [line:{line}, column:{column}]"
            ) from None
    return values


def check_writable(sobject: SObject, values: Mapping[str, Any], *, creating: bool) -> None:
    if creating and "Id" in values:
        raise ApiError(
            400,
            [
                error(
                    "INVALID_FIELD_FOR_INSERT_UPDATE", "cannot specify Id in an insert call", ["Id"]
                )
            ],
        )

    def allowed(name: str) -> bool:
        f = sobject.field(name)
        return f is not None and (f.createable if creating else f.updateable)

    blocked = [name for name in values if name != "Id" and not allowed(name)]
    if blocked:
        raise ApiError(
            400,
            [
                error(
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    f"Unable to create/update fields: {', '.join(blocked)}. Please check the "
                    "security settings of this field and verify that it is read/write for "
                    "your profile or permission set.",
                    blocked,
                )
            ],
        )


def _integer_digits(number: float) -> int:
    whole = abs(int(number))
    return len(str(whole)) if whole else 0


def value_errors(sobject: SObject, values: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Field-level value problems; every one is reported, as in a save result."""
    errors: list[dict[str, Any]] = []
    for name, value in values.items():
        f = sobject.field(name)
        if f is None or value is None:
            continue
        if f.type in TEXT_TYPES and f.type not in (ID, REFERENCE) and len(value) > f.length:
            errors.append(
                error(
                    "STRING_TOO_LONG",
                    f"{f.label}: data value too large: {value} (max length={f.length})",
                    [f.name],
                )
            )
        elif f.type == EMAIL and not _EMAIL.match(value):
            errors.append(
                error(
                    "INVALID_EMAIL_ADDRESS", f"{f.label}: invalid email address: {value}", [f.name]
                )
            )
        elif (
            f.type == PICKLIST
            and f.restricted_picklist
            and value not in {p.value for p in f.picklist if p.active}
        ):
            errors.append(
                error(
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    f"{f.label}: bad value for restricted picklist field: {value}",
                    [f.name],
                )
            )
        elif f.type in (REFERENCE, ID) and normalize_id(value) is None:
            errors.append(
                error("MALFORMED_ID", f"{f.label}: id value of incorrect type: {value}", [f.name])
            )
        elif f.type in (DOUBLE, CURRENCY, PERCENT) and f.precision:
            if _integer_digits(value) > f.precision - f.scale:
                errors.append(
                    error(
                        "NUMBER_OUTSIDE_VALID_RANGE",
                        f"{f.label}: value outside of valid range on numeric field: {value}",
                        [f.name],
                    )
                )
        elif f.type == INT and f.digits and _integer_digits(value) > f.digits:
            errors.append(
                error(
                    "NUMBER_OUTSIDE_VALID_RANGE",
                    f"{f.label}: value outside of valid range on numeric field: {value}",
                    [f.name],
                )
            )
    return errors


def missing_required(
    sobject: SObject, values: Mapping[str, Any], *, creating: bool
) -> list[dict[str, Any]]:
    """REQUIRED_FIELD_MISSING for absent (create) or blanked (any write) required fields."""
    missing = [
        name
        for name in sobject.required_fields
        if (values.get(name) is None if creating else (name in values and values[name] is None))
    ]
    # Blanking a defaulted-but-required field (Status, OwnerId) is also refused.
    missing += [
        name
        for name in sobject.defaulted_required_fields
        if name in values and values[name] is None
    ]
    if not missing:
        return []
    return [
        error(
            "REQUIRED_FIELD_MISSING",
            f"Required fields are missing: [{', '.join(missing)}]",
            missing,
        )
    ]


def normalize_values(sobject: SObject, values: dict[str, Any]) -> dict[str, Any]:
    """Final stored forms: ids to 18 chars, numbers to the field's scale."""
    for name, value in values.items():
        f = sobject.field(name)
        if f is None or value is None:
            continue
        if f.type in (REFERENCE, ID) and looks_like_id(value):
            values[name] = normalize_id(value) or value
        elif f.type in (DOUBLE, CURRENCY, PERCENT):
            values[name] = round(value, f.scale)
    return values


def validate_write(
    sobject: SObject, body: Mapping[str, Any], raw: str, *, creating: bool
) -> dict[str, Any]:
    """Everything Salesforce checks before a save touches other records."""
    values = deserialize(sobject, body, raw)
    check_writable(sobject, values, creating=creating)
    if not creating:
        # The record is named by the URL; an Id in an update body adds nothing.
        values.pop("Id", None)
    errors = missing_required(sobject, values, creating=creating) + value_errors(sobject, values)
    if errors:
        raise ApiError(400, errors)
    return normalize_values(sobject, values)
