"""Funnel figures from a scripted stage history, against counts worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime

from connector.adapters.base import StageUpdate
from connector.funnel import Story, cohort, period, reasons


def at(day: int, hour: int = 10) -> datetime:
    return datetime(2027, 3, day, hour, 0, tzinfo=UTC)


def story(lead: str, *steps: tuple[str, int] | tuple[str, int, float | str],
          source: str = "Web", hours: float | None = None) -> Story:
    made = []
    for item in steps:
        stage, day = item[0], item[1]
        extra = item[2] if len(item) > 2 else None
        made.append(StageUpdate(lead, stage, "", at(day),
                                amount=extra if isinstance(extra, float) else None,
                                reason=extra if isinstance(extra, str) else None))
    return Story(lead, made, {"source": source}, hours)


STORIES = [
    # handed off in week 1 (1-7 March)
    story("a", ("mql", 1), ("sales_accepted", 2), ("opportunity", 5), ("won", 9, 5000.0),
          hours=1.0),
    story("b", ("mql", 2), ("sales_accepted", 3), ("opportunity", 4), ("lost", 10), hours=3.0),
    story("c", ("mql", 3), ("recycle", 4, "No budget"), hours=8.0, source="Event"),
    story("d", ("mql", 4), ("won", 12, 1200.0), source="Event"),  # won without the steps
    story("e", ("mql", 5), ("sales_accepted", 6), hours=2.0),
    # handed off in week 2
    story("f", ("mql", 9), ("recycle", 10, "No budget"), ("mql", 12), ("trash", 13, "Student")),
    # never handed off
    story("g", ("recycle", 2, "Bad timing")),
]
WEEK1, WEEK2 = (at(1, 0), at(8, 0)), (at(8, 0), at(15, 0))


def test_the_cohort_of_a_week_followed_to_today() -> None:
    [row] = cohort(STORIES, *WEEK1)
    # a b c d e were handed off in week 1; accepted: a b e, and d (won: it was an
    # opportunity, so accepted); opportunities a b d; won a d; lost b
    assert {k: row[k] for k in ("mql", "sales_accepted", "opportunity", "won", "lost")} == {
        "mql": 5, "sales_accepted": 4, "opportunity": 3, "won": 2, "lost": 1}
    assert row["revenue"] == 6200.0 and row["revenue_per_mql"] == 1240.0
    assert (row["sal_per_mql"], row["opportunity_per_sal"], row["won_per_opportunity"]) == (
        4 / 5, 3 / 4, 2 / 3)
    # follow-up hours 1, 3, 8, 2 (d never touched): p50 by nearest rank = 2, p90 = 8
    assert (row["follow_up_p50_hours"], row["follow_up_p90_hours"], row["followed_up"]) == (
        2.0, 8.0, 4)


def test_the_cohort_broken_down_by_source() -> None:
    rows = {r["source"]: r for r in cohort(STORIES, *WEEK1, by="source")}
    assert set(rows) == {"Event", "Web"}
    assert (rows["Event"]["mql"], rows["Event"]["won"], rows["Event"]["revenue"]) == (2, 1,
                                                                                      1200.0)
    assert (rows["Web"]["mql"], rows["Web"]["won"], rows["Web"]["revenue"]) == (3, 1, 5000.0)


def test_what_happened_in_a_week_whoever_did_it() -> None:
    [row] = period(STORIES, *WEEK2)
    # in week 2: MQL f (9th, and again the 12th: once); won a (9th), d (12th); lost b
    assert {k: row[k] for k in ("mql", "sales_accepted", "opportunity", "won", "lost")} == {
        "mql": 1, "sales_accepted": 0, "opportunity": 0, "won": 2, "lost": 1}
    assert row["revenue"] == 6200.0


def test_why_leads_left_sales() -> None:
    assert reasons(STORIES, at(1, 0), at(15, 0), ["recycle", "trash"]) == [
        {"stage": "recycle", "reason": "No budget", "leads": 2},
        {"stage": "recycle", "reason": "Bad timing", "leads": 1},
        {"stage": "trash", "reason": "Student", "leads": 1}]


def test_an_empty_cohort_has_no_rows_and_no_division_by_zero() -> None:
    assert cohort(STORIES, at(20, 0), at(27, 0)) == []
    [row] = cohort([story("x", ("mql", 1))], *WEEK1)
    assert row["sal_per_mql"] == 0.0 and row["won_per_opportunity"] is None


def test_time_in_each_stage() -> None:
    from connector.funnel import stage_times

    rows = {r["stage"]: r for r in stage_times(STORIES, *WEEK1)}
    # entered in week 1 and left: mql a(1 day) b(1) c(1) d(8) e(1) → median 24 h, p90 192 h
    assert (rows["mql"]["left"], rows["mql"]["median_hours"], rows["mql"]["p90_hours"]) == (
        5, 24.0, 192.0)
    # sales_accepted: a 3 days, b 1 day, e still there
    assert (rows["sales_accepted"]["left"], rows["sales_accepted"]["still_there"],
            rows["sales_accepted"]["median_hours"]) == (2, 1, 24.0)
    assert rows["recycle"]["still_there"] == 2  # c, and g (its only step)


def test_breaches_and_what_was_done() -> None:
    from connector.funnel import Breach, breaches

    found = [Breach("first touch", at(2), ("task", "webhook")), Breach("first touch", at(3),
                                                                      ("task",)),
             Breach("decision", at(4)), Breach("decision", at(20), ("recycle",))]
    assert breaches(found, *WEEK1) == [{"clock": "decision", "breached": 1},
                                       {"clock": "first touch", "breached": 2, "task": 2,
                                        "webhook": 1}]


def test_each_team_against_its_target() -> None:
    from connector.funnel import targets

    [row] = cohort(STORIES, *WEEK1)
    from connector.funnel import Stages, waited

    # d, handed off on the 4th at 10:00, was never touched: on the 4th at 12:00 it may
    # yet be in time (left out); from 14:00 on (4 hours) it counts as never touched
    young = waited(STORIES, *WEEK1, Stages(), beyond=4.0, now=at(4, 12))
    assert sorted(young) == [1.0, 2.0, 3.0, 8.0]
    marketing, sales = targets(row, *WEEK1, mql_per_quarter=65, follow_up_p90_hours=4.0,
                               follow_up=young)
    # a week is 7 / 91.3125 of a quarter: 65 × 7 / 91.3125 = 4.98 MQLs due; 5 delivered
    assert (marketing["agreed"], marketing["delivered"], marketing["met"]) == (5.0, 5, True)
    # p90 by nearest rank of four: the 4th, 8 hours; three of four within 4
    assert (sales["agreed"], sales["delivered"], sales["share"], sales["untouched"],
            sales["met"]) == (4.0, 8.0, 0.75, 0, False)
    later = waited(STORIES, *WEEK1, Stages(), beyond=4.0, now=at(20))
    [_, sales] = targets(row, *WEEK1, mql_per_quarter=65, follow_up_p90_hours=4.0,
                         follow_up=later)
    # five leads, one never touched: the 90th percentile is "never", not met
    assert (sales["delivered"], sales["share"], sales["untouched"], sales["met"]) == (
        None, 0.6, 1, False)
    # all touched within: met
    [sales] = targets(row, *WEEK1, mql_per_quarter=None, follow_up_p90_hours=9.0,
                      follow_up=young)
    assert (sales["delivered"], sales["met"]) == (8.0, True)
    assert targets(None, *WEEK1, mql_per_quarter=None, follow_up_p90_hours=None) == []


def test_a_sharp_move_of_a_rate_is_news() -> None:
    from connector.funnel import rate_moves

    before = {"mql": 20, "sales_accepted": 12, "opportunity": 6, "won": 3,
              "sal_per_mql": 0.6, "opportunity_per_sal": 0.5, "won_per_opportunity": 0.5}
    now = {"mql": 20, "sales_accepted": 8, "opportunity": 4, "won": 2,
           "sal_per_mql": 0.4, "opportunity_per_sal": 0.5, "won_per_opportunity": 0.5}
    assert rate_moves(now, before, move=0.25, min_leads=10) == [
        "sal / mql moved from 60% (12/20) to 40% (8/20) against the period before: time to "
        "revisit the MQL definition?"]
    assert rate_moves(now, before, move=0.5, min_leads=10) == []  # a third: under a half
    assert rate_moves(now, before, move=0.25, min_leads=21) == []  # too few to tell


def test_periods_are_weeks_from_the_start_calendar_months_and_quarters() -> None:
    from connector.funnel import spans

    def days(size: str, a: datetime, b: datetime) -> list[tuple[str, str, str]]:
        return [(label, f"{s:%m-%d}", f"{e:%m-%d}") for label, s, e in spans(a, b, size)]

    start, end = datetime(2027, 1, 15, tzinfo=UTC), datetime(2027, 4, 10, tzinfo=UTC)
    assert days("month", start, end) == [("2027-01", "01-15", "02-01"),
                                         ("2027-02", "02-01", "03-01"),
                                         ("2027-03", "03-01", "04-01"),
                                         ("2027-04", "04-01", "04-10")]
    assert days("quarter", start, end) == [("2027-Q1", "01-15", "04-01"),
                                           ("2027-Q2", "04-01", "04-10")]
    assert days("week", start, datetime(2027, 1, 30, tzinfo=UTC)) == [
        ("2027-01-15", "01-15", "01-22"), ("2027-01-22", "01-22", "01-29"),
        ("2027-01-29", "01-29", "01-30")]
    assert [label for label, _, _ in spans(datetime(2027, 11, 15, tzinfo=UTC),
                                           datetime(2028, 2, 1, tzinfo=UTC), "quarter")] == [
        "2027-Q4", "2028-Q1"]


def test_first_touch_compliance_per_rep_by_week_and_per_team() -> None:
    from connector.funnel import Due, compliance

    dues = [Due("Ana", at(2), True, "EMEA"), Due("Ana", at(3), False, "EMEA"),
            Due("Ben", at(3), True, "EMEA"), Due("Ben", at(9), True, "NA"),
            Due("Ben", at(20), False, "NA")]  # after the period: not counted
    by_week = compliance(dues, at(1, 0), at(15, 0))
    assert [(r["rep"], r["week"], r["due"], r["in_time"]) for r in by_week] == [
        ("Ana", "2027-03-01", 2, 1), ("Ben", "2027-03-01", 1, 1), ("Ben", "2027-03-08", 1, 1)]
    teams = compliance(dues, at(1, 0), at(15, 0), by_week=False, of="team")
    assert teams == [{"team": "EMEA", "due": 3, "in_time": 2, "compliance": 2 / 3},
                     {"team": "NA", "due": 1, "in_time": 1, "compliance": 1.0}]


def test_csv_cells_a_spreadsheet_would_run_are_written_inert() -> None:
    from connector.reporting import as_csv

    rows = [{"view": "cohort", "source": source, "mql": 1}
            for source in ('=HYPERLINK("http://evil.example","x")', "+cmd|' /C calc'!A0",
                           "@SUM(1+1)", "-2+3", "Web")]
    text = as_csv({"cohort": rows, "period": []})
    assert text.splitlines()[1:] == [
        'cohort,"\'=HYPERLINK(""http://evil.example"",""x"")",1',
        "cohort,'+cmd|' /C calc'!A0,1", "cohort,'@SUM(1+1),1", "cohort,'-2+3,1",
        "cohort,Web,1"]


def test_a_reports_days_are_bounded() -> None:
    import pytest

    from connector.reporting import window

    for since, until, words in (("0001-01-01", None, "a date from 2000-01-01"),
                                ("2001-01-01", "2030-01-01", "at most 10 years"),
                                ("2027-03-01", "2027-03-01", "before --until"),
                                ("March", None, "not a date")):
        with pytest.raises(ValueError, match=words):
            window(since, until)
    start, end = window(None, "2027-03-29")
    assert (start.isoformat(), end.isoformat()) == ("2027-03-01T00:00:00+00:00",
                                                    "2027-03-29T00:00:00+00:00")
