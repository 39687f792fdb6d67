"""The scoring model of config.toml: fit by attribute values, behaviour by any activity
kind with caps and decay, qualification on fit and behaviour, exclusions, grades and
where the buyer is; a frozen clock, values worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector import config as configuration
from connector.config import ScoringConfig
from connector.errors import ConfigError
from connector.records import Activity, Lead
from connector.scoring import entry_status, one_field_short, qualify, score

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
MODEL = ScoringConfig.model_validate({
    "threshold": 50, "fit_threshold": 10, "behaviour_threshold": 15,
    "required_fields": ["email", "company", "phone"],
    "activity_points": {"form_fill": 25, "page_visit": 2, "email_open": 1,
                        "webinar_attended": 15, "unsubscribe": -30},
    "activity_caps": {"email_open": 5, "page_visit": 10},
    "page_points": {"/pricing": 8},
    "decay_half_life_days": 30,
    "fit": [
        {"field": "title", "pattern": r"\b(vp|vice president|chief|head of|director)\b",
         "points": 20, "reason": "senior title"},
        {"field": "title", "pattern": r"\bstudent\b", "points": -40, "reason": "student"},
        {"field": "industry", "values": ["Software", "SaaS"], "points": 10},
        {"field": "employees", "at_least": 200, "below": 5000, "points": 10,
         "reason": "mid-market"},
        {"field": "email", "pattern": r"@(gmail|yahoo)\.", "points": -15,
         "reason": "free mail"},
        {"field": "email", "pattern": r"@rival\.example$", "exclude": True,
         "reason": "competitor"},
    ],
    "grades": {"A": 30, "B": 15},
    "entry": [{"activity": "form_fill", "detail": "demo", "status": "Working - Contacted"},
              {"activity": "webinar_attended", "status": "Open - Nurture"}],
})


def days_ago(n: float) -> datetime:
    return NOW - timedelta(days=n)


def lead(*activities: Activity, **fields: str) -> Lead:
    base = {"email": "dana@acme.example", "company": "Acme", "phone": "+1 415 555 0100"}
    return Lead("1", {**base, **fields}, NOW, activities=list(activities))


@pytest.mark.parametrize(("fields", "fit", "grade", "words"), [
    ({"title": "VP Sales", "industry": "software", "employees": "1,200"}, 40, "A",
     "senior title +20; industry in Software, SaaS +10; mid-market +10"),
    ({"title": "Head of Ops", "employees": "5000"}, 20, "B", "senior title +20"),  # 5000: out
    ({"title": "PhD student", "email": "x@gmail.com"}, -55, None, "student -40; free mail -15"),
    ({"employees": "lots"}, 0, None, "no activity, no fit points"),
])
def test_fit_is_points_per_attribute_value(fields: dict[str, str], fit: float,
                                           grade: str | None, words: str) -> None:
    found = score(lead(**fields), MODEL, NOW)
    assert (found.fit, found.grade, found.behaviour) == (fit, grade, 0)
    assert words in found.reason


@pytest.mark.parametrize(("activities", "behaviour", "undecayed"), [
    # today: no decay; a form fill on the pricing page 25 + 8
    ([Activity("form_fill", NOW, "/pricing")], 33, 33),
    # a half-life ago: half
    ([Activity("form_fill", days_ago(30), "Contact us")], 12.5, 25),
    # January 2025 (two years): nothing left, where it used to count in full
    ([Activity("form_fill", datetime(2025, 1, 15, tzinfo=UTC), "Contact")], 0, 25),
    # twelve opens today, capped at 5
    ([Activity("email_open", NOW, "Newsletter")] * 12, 5, 5),
    # any kind the store holds; a negative signal
    ([Activity("webinar_attended", NOW, "RevOps 101"), Activity("unsubscribe", NOW, "")],
     -15, -15),
    # an activity kind the model does not score: nothing
    ([Activity("email_bounce", NOW, "")], 0, 0),
])
def test_behaviour_is_capped_and_decays(activities: list[Activity], behaviour: float,
                                        undecayed: float) -> None:
    found = score(lead(*activities), MODEL, NOW)
    assert (found.behaviour, found.undecayed) == (behaviour, undecayed)


def test_the_reason_reads_fit_plus_behaviour_and_what_decayed() -> None:
    visits = [Activity("page_visit", days_ago(30), "/pricing")] * 3
    found = score(lead(*visits, Activity("form_fill", days_ago(1), "Demo request"),
                       title="VP Marketing"), MODEL, NOW)
    # form fill 25 × 0.5^(1/30) = 24.43; visits 3 × (2 + 8) = 30 → capped at 10 both ways
    assert found.reason == (
        "score 54.43 = fit 20, grade B + behaviour 34.43, decayed from 35 (senior title "
        "+20; form_fill ×1 +24.43 (from 25); page_visit ×3 +10 (with /pricing ×3, capped "
        "at 10))")


@pytest.mark.parametrize(("fields", "activities", "qualifies", "words"), [
    ({"title": "VP Sales"}, [Activity("form_fill", NOW, "/pricing")], True,
     "score 53 ≥ 50"),
    # the score is there, the fit is not: a free-mail student with a lot of behaviour
    ({"title": "student", "email": "x@yahoo.com"},
     [Activity("form_fill", NOW, "/pricing")] * 4, False, "but fit -55 < 10"),
    # fit without behaviour
    ({"title": "Chief of Staff", "industry": "SaaS", "employees": "300"},
     [Activity("page_visit", NOW, "/blog")], False, "score 42 < 50 and behaviour 2 < 15"),
    # a competitor never qualifies, whatever the score
    ({"title": "VP Sales", "email": "spy@rival.example"},
     [Activity("form_fill", NOW, "/pricing")] * 2, False, "excluded: competitor"),
    # one required field short: named
    ({"title": "VP Sales", "phone": ""}, [Activity("form_fill", NOW, "/pricing")], False,
     "missing a single field to qualify: phone"),
])
def test_qualification_on_fit_and_behaviour(fields: dict[str, str],
                                            activities: list[Activity], qualifies: bool,
                                            words: str) -> None:
    subject = lead(*activities, **fields)
    verdict = qualify(subject, score(subject, MODEL, NOW), MODEL)
    assert verdict.value is qualifies
    assert words in verdict.reason


def test_one_field_short_is_the_gap_marketing_completes() -> None:
    short = lead(Activity("form_fill", NOW, "/pricing"), title="VP Sales", phone="")
    assert one_field_short(short, score(short, MODEL, NOW), MODEL) == "phone"
    two = lead(Activity("form_fill", NOW, "/pricing"), title="VP Sales", phone="",
               company="")
    assert one_field_short(two, score(two, MODEL, NOW), MODEL) is None
    weak = lead(Activity("page_visit", NOW, "/blog"), title="VP Sales", phone="")
    assert one_field_short(weak, score(weak, MODEL, NOW), MODEL) is None  # score too low


def test_the_strongest_signal_sets_where_the_buyer_enters() -> None:
    webinar = Activity("webinar_attended", NOW, "RevOps 101")
    demo = Activity("form_fill", NOW, "Book a DEMO")
    assert entry_status(lead(webinar, demo), MODEL) == "Working - Contacted"
    assert entry_status(lead(webinar), MODEL) == "Open - Nurture"
    assert entry_status(lead(Activity("form_fill", NOW, "Whitepaper")), MODEL) is None


@pytest.mark.parametrize(("rule", "words"), [
    ({"field": "title", "points": 5}, "give one of values, pattern, or a band"),
    ({"field": "title", "pattern": "(", "points": 5}, "not a regular expression"),
    ({"field": "employees", "at_least": 500, "below": 100, "points": 5},
     "at_least must be below below"),
    ({"field": "title", "values": ["CEO"]}, "give points"),
])
def test_a_wrong_fit_rule_is_named(rule: dict[str, object], words: str) -> None:
    text = configuration.TEMPLATE.read_text(encoding="utf-8")
    entries = "\n".join(f"{k} = {v!r}".replace("'", '"') for k, v in rule.items())
    with pytest.raises(ConfigError, match=words) as caught:
        configuration.parse(text + f"\n[[scoring.fit]]\n{entries}\n",
                            "/srv/leadsync/config.toml")
    assert "scoring.fit.0" in str(caught.value)


def test_any_activity_kind_is_scored_but_a_malformed_one_is_named() -> None:
    text = configuration.TEMPLATE.read_text(encoding="utf-8").replace(
        "form_fill = 25", "form_fill = 25\nwebinar_attended = 15\nemail_open = 1", 1)
    found = configuration.parse(text, "/srv/leadsync/config.toml")
    assert found.scoring.activity_points["webinar_attended"] == 15
    with pytest.raises(ConfigError, match="activity kind 'Email Open'"):
        configuration.parse(text.replace("email_open = 1", '"Email Open" = 1'),
                            "/srv/leadsync/config.toml")


KINDS = ["form_fill", "page_visit", "email_open", "webinar_attended"]
activities = st.lists(st.tuples(st.sampled_from(KINDS), st.floats(0, 900),
                                st.sampled_from(["", "/pricing", "/blog"])), max_size=15)


@settings(max_examples=300, deadline=None)
@given(activities, st.sampled_from(KINDS), st.floats(0, 900), st.sampled_from(["", "/pricing"]))
def test_a_positive_signal_never_lowers_a_score(raw: list[tuple[str, float, str]],
                                                kind: str, age: float, detail: str) -> None:
    before = lead(*(Activity(k, days_ago(a), d) for k, a, d in raw))
    after = lead(*before.activities, Activity(kind, days_ago(age), detail))
    assert score(after, MODEL, NOW).value >= score(before, MODEL, NOW).value


@settings(max_examples=300, deadline=None)
@given(activities, st.floats(0, 400), st.floats(0, 400))
def test_decay_is_monotone_in_time(raw: list[tuple[str, float, str]], first: float,
                                   later: float) -> None:
    subject = lead(*(Activity(k, days_ago(a), d) for k, a, d in raw))
    soon = score(subject, MODEL, NOW + timedelta(days=first)).behaviour
    late = score(subject, MODEL, NOW + timedelta(days=first + later)).behaviour
    assert late <= soon
