"""The mapping held against CRM metadata: one case per rule, on a schema built here."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector import config as configuration
from connector.mapping.validate import Finding, mapping_findings
from connector.records import FieldSchema, ObjectSchema

STATUSES = ("Open - Not Contacted", "Working - Contacted", "Closed - Converted",
            "Closed - Not Converted")


def _field(name: str, type_: str = "string", label: str = "", **flags: object) -> FieldSchema:
    return FieldSchema(name=name, type=type_, label=label or name, **flags)  # type: ignore[arg-type]


LEAD = ObjectSchema("Lead", {f.name: f for f in (
    _field("Id", "id", "Lead ID", length=18, createable=False, updateable=False),
    _field("LastName", label="Last Name", length=80, required=True),
    _field("Company", length=255, required=True),
    _field("FirstName", label="First Name", length=40),
    _field("Title", length=128),
    _field("Email", "email", length=80),
    _field("Phone", "phone", length=40),
    _field("Description", "textarea", length=32000),
    _field("Status", "picklist", length=40, picklist=STATUSES, restricted=True),
    _field("Rating", "picklist", length=255, picklist=("Hot", "Warm", "Cold")),
    _field("NumberOfEmployees", "int", "Employees"),
    _field("AnnualRevenue", "currency", "Annual Revenue"),
    _field("HasOptedOutOfEmail", "boolean", "Email Opt Out"),
    _field("Birthdate__c", "date", "Birthdate"),
    _field("Last_Seen__c", "datetime", "Last Seen"),
    _field("IsConverted", "boolean", "Converted", createable=False, updateable=False),
    _field("Original_Source__c", length=255, updateable=False),
    _field("Rep_Verdict__c", length=255, createable=False),
    _field("Leadsync_Id__c", length=64, external_id=True, unique=True),
    _field("Legacy_Id__c", length=64, external_id=True),
    _field("Plain_Id__c", length=64),
)})

BASE = """\
[crm.salesforce]
username = "admin@example.com"

[mapping]
object = "Lead"
external_id_field = "{ext}"

[mapping.fields]
email = "Email"
last_name = {{ crm = "LastName", transform = [{{ truncate = {{}} }}] }}
{company}
{fields}

[mapping.on_create]
{on_create}

[mapping.status]
crm_field = "{status}"

[mapping.status.to_marketing]
"Working - Contacted" = "sales_accepted"
{to_marketing}
{tables}
"""
DEFAULTS = {"ext": "Leadsync_Id__c", "company": 'company = "Company"', "fields": "",
            "on_create": 'Status = "Open - Not Contacted"', "status": "Status",
            "to_marketing": "", "tables": ""}


def findings(tmp_path: Path, **parts: str) -> tuple[list[Finding], str]:
    text = BASE.format(**{**DEFAULTS, **parts})
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return mapping_findings(configuration.load(path), LEAD), text


def line_of(text: str, marker: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if marker in line)


# (id, config parts, severity, key, the line's text, what the message says)
CASES = [
    ("unknown field, short form", {"fields": 'phone = "Phne"'},
     "error", "mapping.fields.phone", 'phone = "Phne"',
     "Lead has no field 'Phne'; did you mean 'Phone'?"),
    ("unknown field, closest by label", {"fields": 'revenue = "Revenue"'},
     "error", "mapping.fields.revenue", 'revenue = "Revenue"', "did you mean 'AnnualRevenue'?"),
    ("unknown field, long form names the crm key",
     {"tables": '[mapping.fields.phone]\nsync = "two_way"\ncrm = "phne"\n'},
     "error", "mapping.fields.phone.crm", 'crm = "phne"', "did you mean 'Phone'?"),
    ("unknown on_create field", {"on_create": 'Ratng = "Hot"'},
     "error", "mapping.on_create.Ratng", 'Ratng = "Hot"', "did you mean 'Rating'?"),
    ("unknown status field", {"status": "Stats"},
     "error", "mapping.status.crm_field", 'crm_field = "Stats"', "did you mean 'Status'?"),
    ("unknown external id field", {"ext": "Leadsync_Idc"},
     "error", "mapping.external_id_field", "external_id_field",
     "did you mean 'Leadsync_Id__c'?"),
    ("external id field not External ID", {"ext": "Plain_Id__c"},
     "error", "mapping.external_id_field", "external_id_field", "not marked External ID"),
    ("external id field not Unique", {"ext": "Legacy_Id__c"},
     "warning", "mapping.external_id_field", "external_id_field", "one more call per create"),
    ("int field without integer", {"fields": 'headcount = "NumberOfEmployees"'},
     "warning", "mapping.fields.headcount", "headcount =",
     'values are text in marketing; write it as headcount = { crm = "NumberOfEmployees", '
     'transform = ["integer"] }'),
    ("currency field without number",
     {"tables": '[mapping.fields.arr]\ncrm = "AnnualRevenue"\ntransform = ["trim"]\n'},
     "warning", "mapping.fields.arr.transform", 'transform = ["trim"]',
     'add transform "number"'),
    ("boolean field without boolean", {"fields": 'opted_out = "HasOptedOutOfEmail"'},
     "warning", "mapping.fields.opted_out", "opted_out =", '"boolean"'),
    ("date field without date", {"fields": 'birthday = "Birthdate__c"'},
     "warning", "mapping.fields.birthday", "birthday =", '"date"'),
    ("datetime field without datetime", {"fields": 'last_seen = "Last_Seen__c"'},
     "warning", "mapping.fields.last_seen", "last_seen =", '"datetime"'),
    ("restricted picklist: on_create value", {"on_create": 'Status = "Open - Not Contaced"'},
     "error", "mapping.on_create.Status", "Status = ",
     "'Open - Not Contaced' is not an active value of Lead.Status, a restricted picklist "
     "(allowed: 'Open - Not Contacted', 'Working - Contacted', 'Closed - Converted', "
     "'Closed - Not Converted'); did you mean 'Open - Not Contacted'?"),
    ("restricted picklist: default",
     {"tables": '[mapping.fields.stage]\ncrm = "Status"\nsync = "create_only"\n'
                'default = "Hot"\n'},
     "error", "mapping.fields.stage.default", 'default = "Hot"', "'Hot' is not an active value"),
    ("restricted picklist: named value map target",
     {"tables": '[mapping.fields.stage]\ncrm = "Status"\nvalue_map = "stages"\n\n'
                '[mapping.value_maps.stages]\nmql = "Open - Not Contacted"\nsal = "Working"\n'},
     "error", "mapping.value_maps.stages.sal", 'sal = "Working"',
     "did you mean 'Working - Contacted'?"),
    ("restricted picklist: inline value map target",
     {"tables": '[mapping.fields.stage]\ncrm = "Status"\n'
                'value_map = { mql = "Open - Not Contacted", sal = "Accepted" }\n'},
     "error", "mapping.fields.stage.value_map.sal", "value_map = {", "'Accepted'"),
    ("restricted picklist: constant transform",
     {"tables": '[mapping.fields.stage]\ncrm = "Status"\n'
                'transform = [{ constant = { value = "New" } }]\n'},
     "error", "mapping.fields.stage.transform", "transform = [{ constant", "'New'"),
    ("required field left unmapped", {"company": ""},
     "error", "mapping.fields", "[mapping.fields]",
     "Lead.Company is required by the CRM (salesforce) and nothing maps to it; map a "
     "marketing field or add it to [mapping.on_create]"),
    ("constant longer than the field", {"on_create": f'FirstName = "{"x" * 41}"'},
     "error", "mapping.on_create.FirstName", "FirstName =", "41 characters; Lead.FirstName "
                                                             "holds at most 40"),
    ("default longer than the field",
     {"tables": f'[mapping.fields.title]\ncrm = "Title"\ndefault = "{"t" * 129}"\n'},
     "error", "mapping.fields.title.default", "default =", "holds at most 128"),
    ("short text field without truncate", {"fields": 'first_name = "FirstName"'},
     "warning", "mapping.fields.first_name", "first_name =",
     "holds at most 40 characters"),
    ("score tier name longer than the field",
     {"fields": 'score_tier = "FirstName"',
      "tables": f'[routing.score_tiers]\n{"very_" * 9}hot = 80\n'},
     "error", "mapping.fields.score_tier", "score_tier =",
     "score tier 'very_very_very_very_very_very_very_very_very_hot' is 48 characters; "
     "Lead.FirstName holds at most 40; shorten the tier's name in [routing.score_tiers]"),
    ("score tier to a number field", {"fields": 'score_tier = "NumberOfEmployees"'},
     "error", "mapping.fields.score_tier", "score_tier =",
     "score_tier is a text, and Lead.NumberOfEmployees is int in the CRM; map score_tier "
     "to a text field"),
    ("expansion to a number field", {"fields": 'expansion = "AnnualRevenue"'},
     "error", "mapping.fields.expansion", "expansion =",
     "expansion is a boolean, and Lead.AnnualRevenue is currency in the CRM; map expansion "
     "to a boolean field (or a text field)"),
    ("rank to a date field", {"fields": 'rank = "Birthdate__c"'},
     "error", "mapping.fields.rank", "rank =", "rank is a number, and Lead.Birthdate__c is "
     "date in the CRM"),
    ("score tier not in a restricted picklist",
     {"fields": 'score_tier = "Status"', "tables": "[routing.score_tiers]\nhot = 80\n"},
     "error", "mapping.fields.score_tier", "score_tier =",
     "score tier 'hot' is not a value of Lead.Status, a restricted picklist"),
    ("a computed source taken back from the CRM",
     {"tables": '[mapping.fields.score]\ncrm = "AnnualRevenue"\nsync = "two_way"\n'},
     "error", "mapping.fields.score.sync", 'sync = "two_way"',
     "score is computed by leadsync each run: it goes to the CRM only, and sync = 'two_way' "
     'would take the CRM\'s value back; use sync = "to_crm" (the default)'),
    ("two_way on a read-only field",
     {"tables": '[mapping.fields.converted]\ncrm = "IsConverted"\nsync = "two_way"\n'
                'transform = ["boolean"]\n'},
     "error", "mapping.fields.converted.sync", 'sync = "two_way"',
     'Lead.IsConverted is read-only in the CRM, and sync = \'two_way\' writes it; '
     'use sync = "to_marketing"'),
    ("to_crm on a create-only field", {"fields": 'source = "Original_Source__c"'},
     "error", "mapping.fields.source", "source =", 'use sync = "create_only"'),
    ("create_only on a field that cannot be created",
     {"tables": '[mapping.fields.verdict]\ncrm = "Rep_Verdict__c"\nsync = "create_only"\n'},
     "error", "mapping.fields.verdict.sync", 'sync = "create_only"', "cannot be set on create"),
    ("on_create of a read-only field", {"on_create": "IsConverted = true"},
     "error", "mapping.on_create.IsConverted", "IsConverted =", "read-only"),
    ("process stage status not in the status picklist",
     {"tables": '[process.stages.mql]\nteam = "sales"\n\n[process.stages.sales_accepted]\n'
                'team = "sales"\n\n[process.stages.recycle]\nteam = "marketing"\n'
                'crm_statuses = ["Recycle"]\n\n[process.stages.could_not_reach]\n'
                'team = "sales"\n\n[process.stages.won]\nteam = "sales"\n\n'
                '[process.stages.lost]\nteam = "sales"\n\n[process.stages.crm_deleted]\n'
                'team = "marketing"\n'},
     "error", "process.stages.recycle.crm_statuses", 'crm_statuses = ["Recycle"]',
     "'Recycle' is not a value of Lead.Status (allowed: 'Open - Not Contacted', "),
    ("unknown status reason field", {"status": 'Status"\nreason_field = "Descriptin'},
     "error", "mapping.status.reason_field", 'reason_field = "Descriptin"',
     "Lead has no field 'Descriptin'; did you mean 'Description'?"),
    ("a number as the status reason", {"status": 'Status"\nreason_field = "NumberOfEmployees'},
     "error", "mapping.status.reason_field", 'reason_field = "NumberOfEmployees"',
     "Lead.NumberOfEmployees is int: a reason is text"),
    ("the status as its own reason", {"status": 'Status"\nreason_field = "Status'},
     "error", "mapping.status.reason_field", 'reason_field = "Status"',
     "the reason field is the status field itself"),
    ("status value not in the status picklist", {"to_marketing": '"Working" = "mql"'},
     "error", "mapping.status.to_marketing.Working", '"Working" = "mql"',
     "'Working' is not a value of Lead.Status"),
]


@pytest.mark.parametrize(("parts", "severity", "key", "marker", "says"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_rule_names_key_line_and_fix(tmp_path: Path, parts: dict[str, str], severity: str,
                                          key: str, marker: str, says: str) -> None:
    found, text = findings(tmp_path, **parts)
    assert len(found) == 1, "\n".join(map(str, found))
    [finding] = found
    assert (finding.severity, finding.key, finding.line) == (severity, key,
                                                             line_of(text, marker))
    assert says in str(finding)


CLEAN = [
    ("the base mapping", {}),
    ("numbers converted", {"fields": 'headcount = { crm = "NumberOfEmployees", '
                                     'transform = ["integer"] }'}),
    ("normalized numbers and the computed score", {"fields": 'employees = "NumberOfEmployees"'}),
    ("a required field given on create", {"company": "", "on_create": 'Company = "Unknown"'}),
    ("a read-only field read back", {"fields": 'converted = { crm = "IsConverted", '
                                               'sync = "to_marketing" }'}),
    ("an unrestricted picklist takes any value", {"on_create": 'Rating = "Lukewarm"'}),
    ("value map targets in the picklist",
     {"tables": '[mapping.fields.stage]\ncrm = "Status"\nvalue_map = "stages"\n\n'
                '[mapping.value_maps.stages]\nsal = "Working - Contacted"\n'}),
    ("email and phone need no transform", {"fields": 'phone = "Phone"'}),
    ("tier and rank: names of tiers that fit, a number",
     {"fields": 'score_tier = "FirstName"\nrank = "NumberOfEmployees"'}),
    ("expansion to a checkbox, rank to a short text field",
     {"fields": 'expansion = "HasOptedOutOfEmail"\nrank = "FirstName"'}),
]


@pytest.mark.parametrize("parts", [c[1] for c in CLEAN], ids=[c[0] for c in CLEAN])
def test_correct_mappings_have_no_findings(tmp_path: Path, parts: dict[str, str]) -> None:
    found, _ = findings(tmp_path, **parts)
    assert found == [], "\n".join(map(str, found))


def test_finding_reads_as_key_line_message_fix() -> None:
    finding = Finding("error", "mapping.fields.phne", 84, "Lead has no field 'Phne'",
                      "did you mean 'Phone'?")
    assert str(finding) == ("mapping.fields.phne (line 84): Lead has no field 'Phne'; "
                            "did you mean 'Phone'?")
    assert str(Finding("warning", "state", None, "unreachable")) == "state: unreachable"


def test_findings_come_in_file_order(tmp_path: Path) -> None:
    found, _ = findings(tmp_path, ext="Legacy_Id__c", fields='phone = "Phne"',
                        to_marketing='"Working" = "mql"')
    assert [f.key for f in found] == ["mapping.external_id_field", "mapping.fields.phone",
                                      "mapping.status.to_marketing.Working"]
    assert [f.line for f in found] == sorted(f.line or 0 for f in found)


def test_every_computed_source_has_a_kind_the_check_knows() -> None:
    from connector.mapping import COMPUTED

    assert set(COMPUTED.values()) <= {"number", "text", "boolean"}
