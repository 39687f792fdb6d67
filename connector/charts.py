"""The report's charts, drawn with plotly: each a figure rendered to a ``<div>`` whose
JavaScript comes from the one copy of plotly.js the page carries (no network when the
page is opened). Every bar, step and point also carries its number as text, so what a
chart says can be read off the page, by a person or a test."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

FUNNEL = ("mql", "sales_accepted", "opportunity", "won")
RATE_NAMES = {"sal_per_mql": "accepted / MQL", "opportunity_per_sal": "opportunity / accepted",
              "won_per_opportunity": "won / opportunity"}


def _div(figure: go.Figure, name: str) -> str:
    figure.update_layout(margin={"l": 40, "r": 20, "t": 40, "b": 40}, height=360,
                         font={"family": "system-ui, sans-serif", "size": 13})
    return figure.to_html(full_html=False, include_plotlyjs=False, div_id=f"chart-{name}",
                          config={"displaylogo": False, "responsive": True})


def _totals(rows: list[dict[str, Any]]) -> dict[str, int]:
    return {step: sum(int(r.get(step) or 0) for r in rows) for step in (*FUNNEL, "lost")}


def charts(report: dict[str, Any]) -> dict[str, str]:
    """Chart name → its ``<div>``; a chart without data is left out (its table says so)."""
    out: dict[str, str] = {}
    moves = report["flow"]
    if moves:
        names = list(dict.fromkeys([m["from"] for m in moves] + [m["to"] for m in moves]))
        out["flow"] = _div(go.Figure(go.Sankey(
            node={"label": names, "pad": 18},
            link={"source": [names.index(m["from"]) for m in moves],
                  "target": [names.index(m["to"]) for m in moves],
                  "value": [m["steps"] for m in moves],
                  "label": [f"{m['from']} → {m['to']}: {m['steps']}" for m in moves]})),
            "flow")
    totals = _totals(report["cohort"])
    if totals["mql"]:
        out["funnel"] = _div(go.Figure(go.Funnel(
            y=list(FUNNEL), x=[totals[s] for s in FUNNEL], textinfo="value+percent initial")),
            "funnel")
    weekly = [w for w in report["weekly"] if w["mql"]]
    if weekly:
        figure = go.Figure()
        for key, label in RATE_NAMES.items():
            values = [w[key] for w in weekly]
            figure.add_trace(go.Scatter(
                x=[w["week"] for w in weekly], y=values, name=label, mode="lines+markers+text",
                text=[f"{v:.0%}" if v is not None else "" for v in values],
                textposition="top center"))
        figure.update_yaxes(tickformat=".0%", range=[0, 1.1])
        out["rates"] = _div(figure, "rates")
    hours = report["follow_up_hours"]
    if hours:
        figure = go.Figure(go.Histogram(x=hours, nbinsx=min(20, max(1, len(hours))),
                                        texttemplate="%{y}"))
        figure.update_xaxes(title="business hours from hand-off to first touch")
        out["follow_up"] = _div(figure, "follow_up")
    sla = report["sla"]
    if sla:
        figure = go.Figure()
        for rep in sorted({r["rep"] for r in sla}):
            mine = [r for r in sla if r["rep"] == rep]
            figure.add_trace(go.Bar(x=[r["week"] for r in mine],
                                    y=[r["compliance"] for r in mine], name=rep,
                                    text=[f"{r['compliance']:.0%}" for r in mine],
                                    textposition="auto"))
        figure.update_yaxes(tickformat=".0%", range=[0, 1.05])
        out["sla"] = _div(figure, "sla")
    return out


def plotly_js() -> str:
    """plotly.js itself, to inline once in the page."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()
