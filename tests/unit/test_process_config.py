"""[process] and [sla] mistakes: each refused when config.toml loads, naming the key and
its line, and a workable process loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector import config as configuration

BASE = """\
[crm.salesforce]
username = "admin@example.com"

[mapping]
object = "Lead"
external_id_field = "Leadsync_Id__c"

[mapping.fields]
email = "Email"

[routing.score_tiers]
hot = 80
"""

STAGES = """
[process.stages]
mql = { team = "sales" }
sales_accepted = { team = "sales" }
recycle = { team = "marketing" }
could_not_reach = { team = "sales" }
nurture = { team = "marketing" }
won = { team = "sales", final = true }
lost = { team = "sales", final = true }
crm_deleted = { team = "marketing", final = true }
"""


def load(tmp_path: Path, text: str) -> configuration.Config:
    path = tmp_path / "config.toml"
    path.write_text(BASE + text, encoding="utf-8")
    return configuration.load(path)


CASES = [
    ("a wait in business time", '[process.recycle]\ncool_off = "30 business days"\n',
     "process.recycle.cool_off (line 14)", "a wait counts calendar time"),
    ("a hand-off stage that is marketing's",
     '[process]\nhandoff_stage = "nurture"\n' + STAGES,
     "process.handoff_stage (line 14)", "'nurture' must be a sales stage that is not final "
                                        "(it is marketing)"),
    ("a recycle stage that is sales'",
     STAGES + '\n[process.recycle]\nstage = "sales_accepted"\n',
     "process.recycle.stage (line 25)", "'sales_accepted' must be a marketing stage"),
    ("an unknown could-not-reach stage",
     '[process.could_not_reach]\nstage = "unreachable"\n',
     "process.could_not_reach.stage (line 14)", "'unreachable' is not one of the stages"),
    ("one status, two stages",
     STAGES.replace('mql = { team = "sales" }',
                    'mql = { team = "sales", crm_statuses = ["Open"] }').replace(
         'sales_accepted = { team = "sales" }',
         'sales_accepted = { team = "sales", crm_statuses = ["Open"] }'),
     "process.stages.sales_accepted.crm_statuses (line 16)",
     "CRM status 'Open' means both 'mql' and 'sales_accepted'"),
    ("a warning after the deadline",
     '[sla.first_touch]\nwithin = "2 business hours"\nwarn_before = "3 business hours"\n',
     "sla.first_touch (line 13)", "is not shorter than within"),
    ("a warning on another time than its clock",
     '[sla.first_touch]\nwithin = "3 minutes"\nwarn_before = "1 business hour"\n',
     "sla.first_touch (line 13)", "both count business time, or neither"),
    ("a warning in hours longer than a business day",
     '[sla.decision]\nwithin = "1 business day"\nwarn_before = "20 business hours"\n',
     "sla.decision.warn_before (line 15)", "on the [sla] calendar's working day of 8 hours"),
    ("a warning in days longer than a business week",
     '[sla.decision]\nwithin = "1 business week"\nwarn_before = "6 business days"\n',
     "sla.decision.warn_before (line 15)", "not shorter than within '1 business week'"),
    ("a priority for an unknown tier", '[sla.priority]\nhott = "high"\n',
     "sla.priority.hott (line 14)", "did you mean 'hot'?"),
]


@pytest.mark.parametrize(("text", "where", "says"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_a_mistake_is_named_at_its_key(tmp_path: Path, text: str, where: str,
                                       says: str) -> None:
    with pytest.raises(configuration.ConfigError) as refused:
        load(tmp_path, text)
    lines = [line for line in str(refused.value).splitlines() if where in line]
    assert lines and says in lines[0], str(refused.value)


def test_a_workable_process_loads(tmp_path: Path) -> None:
    config = load(tmp_path, STAGES + '\n[process.recycle]\nstage = "nurture"\n'
                  '\n[sla.first_touch]\nwithin = "4 business hours"\n'
                  'warn_before = "1 business hour"\n'
                  '\n[sla.decision]\nwithin = "2 business days"\n'
                  'warn_before = "4 business hours"\n')
    assert config.process.recycle.stage == "nurture"
    assert config.process.problems() == []
