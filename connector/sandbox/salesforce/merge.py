"""Merging duplicates: the partner SOAP ``merge()`` call and the merge it makes.

Built to the SOAP API Developer Guide, "merge()", "MergeRequest" and
"MergeResult" (nothing copied):
https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_calls_merge.htm
https://developer.salesforce.com/docs/platform/api/guide/sforce-api-calls-merge-mergeresult.html

* A MergeRequest names a ``masterRecord`` (its ``type``, ``Id`` and any
  field values that should supersede the master's, "similar to a call to
  update") and ``recordToMergeIds``: "Up to three records can be merged in
  a single request, including the master record", so one or two ids.
  "Up to 200 merge requests can be made in a single SOAP call."
* "The supported object types are Lead, Contact, Account" (Person Account
  and Individual are not modelled). "You can only merge objects of the same
  type."
* "merge() deletes the other records, known as the victim records. If a
  victim record has related records, merge() makes the main record the new
  parent of the related records." Victims are soft-deleted like any delete
  (IsDeleted, the Recycle Bin, the ``deleted`` replication feed) and keep
  ``MasterRecordId``: "Use queryAll() to view records that have been deleted
  during a merge", e.g. ``SELECT Id FROM Contact WHERE isDeleted=true and
  masterRecordId != null AND SystemModstamp > ...``. Related records here:
  Tasks (WhoId of a Lead or Contact, WhatId of an Account) and an Account's
  Contacts and Opportunities; each is an update, stamped and fed like one.
* "Each merge operation is within one transaction": victims are deleted,
  then the master is updated (the order Apex triggers observe), and any
  failure undoes the whole request.
* The MergeResult: ``id`` (the master), ``mergedRecordIds`` ("If
  successful, the values match mergeRequest.recordToMergeIds"),
  ``updatedRelatedIds`` (the reparented records), ``success``, ``errors``;
  in the partner WSDL's element order (errors, id, mergedRecordIds,
  success, updatedRelatedIds).
* A converted lead cannot be the master: converted leads are read-only, so
  the update of the master is refused with CANNOT_UPDATE_CONVERTED_LEAD;
  merging a converted lead *into* an unconverted master is allowed
  (Salesforce Help, Knowledge Article 005123891, "Limitations of Merging
  Converted Leads in apex",
  https://help.salesforce.com/s/articleView?id=005123891&language=en_US&type=1).

The error codes are Salesforce StatusCodes (INVALID_ID_FIELD for an id that
is malformed, of another object or unknown; ENTITY_IS_DELETED for a record
already in the Recycle Bin; LIMIT_EXCEEDED past two victims;
INVALID_TYPE_FOR_OPERATION for an object merge() does not take). Where the
documentation gives no message text, the message is the sandbox's own
wording. A missing or unknown ``type`` fails the whole call with an
INVALID_TYPE fault ("Must send a concrete entity type." is the API's text for
the former).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from . import soap, writes
from .errors import ApiError
from .ids import normalize_id
from .schema import SObject, validate_write
from .soap import SoapFault
from .store import Org, Record

if TYPE_CHECKING:
    from .server import SalesforceApp

MAX_REQUESTS = 200
MAX_VICTIMS = 2

# What merge() reparents from a victim to the master: (child object, its field).
RELATED: dict[str, tuple[tuple[str, str], ...]] = {
    "Lead": (("Task", "WhoId"), ("Event", "WhoId")),
    "Contact": (("Task", "WhoId"), ("Event", "WhoId")),
    "Account": (("Contact", "AccountId"), ("Opportunity", "AccountId"), ("Task", "WhatId"),
                ("Event", "WhatId")),
}

# The history row a merge adds to the master, where the object keeps history.
MERGE_EVENTS = {"Lead": "leadMerged"}

MergeResult = dict[str, Any]


def merge_records(
    org: Org,
    sobject: SObject,
    master_id: str,
    victim_ids: Iterable[str],
    *,
    user_id: str,
    fields: Mapping[str, Any] | None = None,
    fields_to_null: Iterable[str] = (),
) -> MergeResult:
    """Merge ``victim_ids`` into ``master_id``; the result has the MergeResult fields."""
    victims = list(victim_ids)
    result: MergeResult = {
        "id": normalize_id(master_id) or master_id or None,
        "mergedRecordIds": [],
        "updatedRelatedIds": [],
        "success": False,
        "errors": [],
    }
    try:
        master, losers, values = _check(
            org, sobject, master_id, victims, fields or {}, fields_to_null
        )
    except writes.RecordError as exc:
        result["errors"] = exc.errors
        return result
    with org.transaction() as rollback:
        try:
            related = _merge(org, sobject, master, losers, values, user_id=user_id)
        except ApiError as exc:
            rollback()
            result["errors"] = writes.save_errors(exc)
            return result
    result.update(
        success=True, mergedRecordIds=[r["Id"] for r in losers], updatedRelatedIds=related
    )
    return result


def _check(
    org: Org,
    sobject: SObject,
    master_id: str,
    victim_ids: list[str],
    fields: Mapping[str, Any],
    fields_to_null: Iterable[str],
) -> tuple[Record, list[Record], dict[str, Any]]:
    """Everything that can refuse a merge before it touches a record."""
    if not sobject.mergeable:
        raise _refused(
            "INVALID_TYPE_FOR_OPERATION",
            f"merge() supports Lead, Contact and Account, not {sobject.name}",
        )
    if not victim_ids:
        raise _refused(
            "REQUIRED_FIELD_MISSING", "Required fields are missing: [recordToMergeIds]",
            ["recordToMergeIds"],
        )  # fmt: skip
    if len(victim_ids) > MAX_VICTIMS:
        raise _refused(
            "LIMIT_EXCEEDED",
            "Up to three records can be merged in a single request, including the master record",
            ["recordToMergeIds"],
        )
    master = _record(org, sobject, master_id, "Id")
    losers = [_record(org, sobject, v, "recordToMergeIds") for v in victim_ids]
    ids = [master["Id"], *(r["Id"] for r in losers)]
    if len(set(ids)) != len(ids):
        raise _refused(
            "INVALID_ID_FIELD",
            "a record cannot be merged with itself: the master and recordToMergeIds must differ",
            ["recordToMergeIds"],
        )
    if sobject.name == "Lead" and master.get("IsConverted"):
        raise _refused("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead")
    body = {**fields, **{name: None for name in fields_to_null}}
    try:
        values = validate_write(sobject, body, json.dumps(body, default=str), creating=False)
    except ApiError as exc:
        raise writes.RecordError(writes.save_errors(exc)) from None
    return master, losers, values


def _record(org: Org, sobject: SObject, given: str, field: str) -> Record:
    canonical = normalize_id(given) if isinstance(given, str) else None
    if canonical is None or canonical[:3] != sobject.key_prefix:
        raise _refused("INVALID_ID_FIELD", f"invalid {sobject.name} id: {given}", [field])
    record = org.get(sobject, canonical, include_deleted=True)
    if record is None:
        raise _refused("INVALID_ID_FIELD", f"invalid {sobject.name} id: {given}", [field])
    if record.get("IsDeleted"):
        raise _refused("ENTITY_IS_DELETED", "entity is deleted", [field])
    return record


def _refused(code: str, message: str, fields: list[str] | None = None) -> writes.RecordError:
    return writes.RecordError([writes.record_error(code, message, fields)])


def _merge(
    org: Org,
    sobject: SObject,
    master: Record,
    losers: list[Record],
    values: dict[str, Any],
    *,
    user_id: str,
) -> list[str]:
    """Reparent, delete the victims, update the master; returns the reparented ids."""
    related: list[str] = []
    for loser in losers:
        for child_name, field in RELATED.get(sobject.name, ()):
            child = org.schema.get(child_name)
            if child is None:
                continue
            for child_id in org.children(child, field, loser["Id"]):
                org.update(child, child_id, {field: master["Id"]}, user_id=user_id)
                if child_id not in related:
                    related.append(child_id)
        org.delete(sobject, loser["Id"], user_id=user_id, master_record_id=master["Id"])
    org.update(
        sobject, master["Id"], values, user_id=user_id,
        history_event=MERGE_EVENTS.get(sobject.name),
    )  # fmt: skip
    return related


# --- SOAP ---------------------------------------------------------------------------


def soap_merge(app: SalesforceApp, call: ET.Element, user_id: str) -> list[str]:
    """The ``<result>`` items of a ``merge`` call (``partner.py`` routes it here)."""
    requests = [el for el in call if soap.local(el.tag) == "request"]
    if not requests or len(requests) > MAX_REQUESTS:
        raise SoapFault(
            "LIMIT_EXCEEDED" if requests else "INVALID_FIELD",
            f"merge takes between 1 and {MAX_REQUESTS} MergeRequest items",
            fault_type="ApiFault",
        )
    parsed = [_request(app, request) for request in requests]  # a bad type fails the call
    results = [
        merge_records(
            app.org, sobject, master_id, victims, user_id=user_id, fields=fields,
            fields_to_null=nulls,
        )
        for sobject, master_id, victims, fields, nulls in parsed
    ]  # fmt: skip
    return [_result_xml(r) for r in results]


def _request(
    app: SalesforceApp, request: ET.Element
) -> tuple[SObject, str, list[str], dict[str, Any], list[str]]:
    master = next((el for el in request if soap.local(el.tag) == "masterRecord"), None)
    victims = [
        (el.text or "").strip() for el in request if soap.local(el.tag) == "recordToMergeIds"
    ]
    type_name, master_id, fields, nulls = "", "", {}, []
    if master is not None:
        # The partner sObject names its type in <type>; a typed element
        # (xsi:type="sf:Account") is accepted too.
        declared = master.get(soap.XSI_TYPE, "").rpartition(":")[2]
        type_name = "" if declared.lower() == "sobject" else declared
        for child in master:
            name = soap.local(child.tag)
            text = child.text or ""
            if name == "type":
                type_name = text.strip()
            elif name == "Id":
                master_id = text.strip()
            elif name == "fieldsToNull":
                nulls.append(text.strip())
            else:
                fields[name] = None if soap.is_nil(child) else text
    if not type_name:
        raise SoapFault("INVALID_TYPE", "Must send a concrete entity type.",
                        fault_type="InvalidSObjectFault")  # fmt: skip
    sobject = app.schema.get(type_name)
    if sobject is None:
        raise SoapFault(
            "INVALID_TYPE", f"sObject type '{type_name}' is not supported.",
            fault_type="InvalidSObjectFault",
        )  # fmt: skip
    return sobject, master_id, victims, fields, nulls


def _result_xml(r: MergeResult) -> str:
    return (
        "<result>"
        + soap.errors_xml(r["errors"])
        + soap.value_xml("id", r["id"])
        + "".join(soap.value_xml("mergedRecordIds", i) for i in r["mergedRecordIds"])
        + f"<success>{'true' if r['success'] else 'false'}</success>"
        + "".join(soap.value_xml("updatedRelatedIds", i) for i in r["updatedRelatedIds"])
        + "</result>"
    )
