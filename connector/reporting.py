"""`leadsync report`: the funnel figures of ``connector.funnel`` from leadsync's own
stores (marketing's stage history, the routing history, the SLA clocks), no CRM call.

A lead's breakdown facts: its marketing ``lead_source`` and ``campaign``, the territory
and rep routing last gave it, and the tier of its score now. Its follow-up time is its
first first-touch clock's, in business hours on its owner's calendar.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from connector.config import Config
from connector.funnel import (
    DIMENSIONS,
    PERIODS,
    Breach,
    Due,
    Stages,
    Story,
    breaches,
    cohort,
    compliance,
    flow,
    period,
    rate_moves,
    reasons,
    spans,
    stage_times,
    targets,
    waited,
    weeks,
)
from connector.normalize import normalize
from connector.routing import Router, RoutingStore
from connector.routing.rules import score_tier
from connector.scoring import score
from connector.sla import Clocks, clock_name
from connector.sla.store import SlaStore

DEFAULT_DAYS = 28
"""A report without --since covers the four weeks before --until."""
EARLIEST, LATEST = date(2000, 1, 1), date(2100, 1, 1)
MAX_DAYS = 366 * 10
"""A report's days: a decade at most (by week, 522 cohorts), so one request cannot
keep the console busy for minutes."""


def window(since: str | None, until: str | None, by: str | None = None,
           per: str | None = None, *, today: date | None = None) -> tuple[datetime, datetime]:
    """The report's days from its options (YYYY-MM-DD, UTC; --until excluded, by default
    tomorrow); ValueError names the option that is wrong and what it takes."""
    def day(value: str, option: str) -> datetime:
        try:
            parsed = date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{option} {value!r}: not a date like 2027-03-01") from None
        if not EARLIEST <= parsed <= LATEST:
            raise ValueError(f"{option} {value!r}: a date from {EARLIEST} to {LATEST}")
        return datetime(parsed.year, parsed.month, parsed.day, tzinfo=UTC)

    if by is not None and by not in DIMENSIONS:
        raise ValueError(f"--by {by!r}: one of {', '.join(DIMENSIONS)}")
    if per is not None and per not in PERIODS:
        raise ValueError(f"--period {per!r}: one of {', '.join(PERIODS)}")
    tomorrow = (today or datetime.now(UTC).date()) + timedelta(days=1)
    end = day(until, "--until") if until else datetime.combine(
        tomorrow, datetime.min.time(), tzinfo=UTC)
    start = day(since, "--since") if since else end - timedelta(days=DEFAULT_DAYS)
    if start >= end:
        raise ValueError("--since must be before --until")
    if end - start > timedelta(days=MAX_DAYS):
        raise ValueError(f"--since to --until: at most {MAX_DAYS // 366} years (a longer "
                         "history is read in parts)")
    return start, end


def stories(config: Config) -> list[Story]:
    """Every lead that took a step, with its breakdown facts."""
    return gather(config)[0]


def gather(config: Config) -> tuple[list[Story], list[Due], list[Breach]]:
    """Every lead that took a step, with its breakdown facts; and every first-touch
    clock that came due, with its rep and whether it was met in time."""
    from connector.wiring import open_marketing, open_state

    with open_marketing(config) as marketing:
        leads = {lead.id: lead for lead in marketing.read_changes(None)}
        steps = marketing.stage_histories(list(leads))
    ids = [lead_id for lead_id in leads if steps.get(lead_id)]
    state = open_state(config)
    try:
        routing = RoutingStore(state.engine)
        current = routing.current(ids)
        clocks = [c for c in SlaStore(state.engine).of_leads(ids) if c.clock == "first_touch"]
        all_clocks = SlaStore(state.engine).listing(config.crm.adapter, include_closed=True,
                                                    limit=None)  # a year's, not 10,000
        every = [c for c in all_clocks if c.clock == "first_touch"]
    finally:
        state.close()
    router = Router(config.routing, routing)
    calendars = Clocks.from_config(config)
    first: dict[str, Any] = {}
    for clock in sorted(clocks, key=lambda c: c.started_at):
        first.setdefault(clock.marketing_id, clock)
    tiers = config.routing.tiers()
    out = []
    for lead_id in ids:
        lead = leads[lead_id]
        placed = current.get(lead_id)
        points = score(normalize(lead, config.marketing.default_region).lead, config.scoring)
        clock = first.get(lead_id)
        hours = (round(calendars.calendar_of(clock.owner_id).between(
            clock.started_at, clock.met_at).total_seconds() / 3600, 2)
            if clock is not None and clock.met_at else None)  # to the half minute
        out.append(Story(lead_id, steps[lead_id], {
            "source": lead.get("lead_source"), "campaign": lead.get("campaign"),
            "territory": placed.territory if placed else None,
            "rep": router.name_of(placed.owner_id) if placed and placed.owner_id else None,
            "tier": score_tier(points.value, tiers)}, hours))
    dues = [Due(router.name_of(c.owner_id) if c.owner_id else "(default owner)", c.due_at,
                c.met_at is not None and c.met_at <= c.due_at,
                placed.territory if (placed := current.get(c.marketing_id)) is not None
                and placed.territory else "(no territory)")
            for c in every if c.met_at is not None or c.breached_at is not None]
    broken = [Breach(clock_name(c.clock), c.breached_at, c.done())
              for c in all_clocks if c.breached_at is not None]
    return out, dues, broken


def figures(config: Config, since: datetime, until: datetime,
            by: str | None = None, per: str | None = None,
            now: datetime | None = None) -> dict[str, Any]:
    """The report as one object: the two views (per week, month or quarter when ``per``
    says) and the reasons leads left sales, the flow, times, breaches, targets."""
    found, dues, broken = gather(config)
    stages = Stages.of(config)
    left = [name for name, stage in config.process.stages.items()
            if stage.team == "marketing" and name != stages.mql]
    handed = [s for s in found if (first := next((x.at for x in s.steps
                                                  if x.stage == stages.mql), None))
              is not None and since <= first < until]
    cuts = spans(since, until, per) if per else [("", since, until)]
    return {"since": since.isoformat(), "until": until.isoformat(), "by": by, "per": per,
            "cohort": [{**({"period": label} if per else {}), **row}
                       for label, start, end in cuts
                       for row in cohort(found, start, end, stages, by)],
            "period": [{**({"period": label} if per else {}), **row}
                       for label, start, end in cuts
                       for row in period(found, start, end, stages, by)],
            "reasons": reasons(found, since, until, left),
            "flow": flow(found, since, until),
            "weekly": [{"week": f"{start:%Y-%m-%d}", **row}
                       for start, end in weeks(since, until)
                       for row in cohort(found, start, end, stages)],
            "follow_up_hours": sorted(s.follow_up_hours for s in handed
                                      if s.follow_up_hours is not None),
            "sla": compliance(dues, since, until),
            "sla_by_rep": compliance(dues, since, until, by_week=False),
            "sla_by_team": compliance(dues, since, until, by_week=False, of="team"),
            "stage_times": stage_times(found, since, until),
            "breaches": breaches(broken, since, until),
            **news(config, found, since, until, stages, now or datetime.now(UTC))}


def news(config: Config, found: list[Story], since: datetime, until: datetime,
         stages: Stages, now: datetime) -> dict[str, Any]:
    """Each team against its target ([report]), and the rates that moved sharply against
    the period of the same length before."""
    agreed = config.report
    [current] = cohort(found, since, until, stages) or [None]
    [before] = cohort(found, since - (until - since), since, stages) or [None]
    follow_up = waited(found, since, until, stages, beyond=agreed.follow_up_p90_hours or 0,
                       now=now)
    return {"targets": targets(current, since, until, mql_per_quarter=agreed.mql_per_quarter,
                               follow_up_p90_hours=agreed.follow_up_p90_hours,
                               follow_up=follow_up),
            "warnings": rate_moves(current, before, move=agreed.rate_move,
                                   min_leads=agreed.rate_move_min_leads)}


TEMPLATES = Environment(loader=PackageLoader("connector", "templates"),
                        autoescape=select_autoescape(["html"]))
"""The report's page and the console's pages share these templates."""


def as_html(report: dict[str, Any], title: str = "leadsync: the lead funnel",
            **page: Any) -> str:
    """One self-contained page (plotly's JavaScript inside: nothing fetched when it is
    opened): the process as a flow, the funnel, rates by week, follow-up times and SLA
    compliance per rep, each chart with its table. ``page`` passes the console's
    navigation and filter form to the template."""
    from connector.charts import charts, plotly_js

    return TEMPLATES.get_template("report.html").render(
        title=title, report=report, charts=charts(report), plotly_js=plotly_js(), **page)


def as_csv(report: dict[str, Any]) -> str:
    """The cohort and period rows in one table, a ``view`` column telling them apart.
    A text cell a spreadsheet would run as a formula (=, +, -, @, tab, return first:
    a lead source typed into a web form) is written with a ' before it."""
    rows = [{k: _inert(v) for k, v in row.items()}
            for row in [*report["cohort"], *report["period"]]]
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _inert(value: Any) -> Any:
    return f"'{value}" if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t",
                                                                    "\r") else value
