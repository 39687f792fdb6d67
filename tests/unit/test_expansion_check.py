"""`leadsync check` on [routing.expansion]: the account field and its values against
the account object's metadata, each finding at its key and line."""

from __future__ import annotations

from pathlib import Path

from connector import config as configuration
from connector.checks import expansion_findings
from connector.records import FieldSchema, ObjectSchema

ACCOUNT = ObjectSchema("Account", {
    "Name": FieldSchema(name="Name", type="string", label="Account Name"),
    "Type": FieldSchema(name="Type", type="picklist", label="Account Type",
                        picklist=("Prospect", "Customer - Direct", "Customer - Channel")),
    "Tier__c": FieldSchema(name="Tier__c", type="string", label="Tier"),
})

BASE = """\
[crm.salesforce]
username = "admin@example.com"

[mapping]
object = "Lead"
external_id_field = "Leadsync_Id__c"

[mapping.fields]
email = "Email"

[routing.expansion]
account_field = "{field}"
customer_values = [{values}]
"""


def findings(tmp_path: Path, field: str, values: str) -> list[str]:
    path = tmp_path / "config.toml"
    path.write_text(BASE.format(field=field, values=values), encoding="utf-8")
    return [str(f) for f in expansion_findings(configuration.load(path), ACCOUNT)]


def test_the_field_and_its_picklist_values(tmp_path: Path) -> None:
    assert findings(tmp_path, "Type", '"Customer - Direct"') == []
    assert findings(tmp_path, "Tipe", '"Customer - Direct"') == [
        "routing.expansion.account_field (line 12): Account has no field 'Tipe'; "
        "did you mean 'Type'?"]
    assert findings(tmp_path, "Type", '"Customer - Direct", "Customer - Direkt"') == [
        "routing.expansion.customer_values (line 13): 'Customer - Direkt' is not a value of "
        "Account.Type (allowed: 'Prospect', 'Customer - Direct', 'Customer - Channel')"]
    assert findings(tmp_path, "Tier__c", '"gold"') == []  # text: any value may mean it
