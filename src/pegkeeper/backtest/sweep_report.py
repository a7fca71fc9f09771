"""A sweep's report: one self-contained HTML file (plotly.js inlined, nothing fetched) with a
table per path and the distribution over the seeds of each setup's numbers."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from plotly.offline import get_plotlyjs

from pegkeeper.backtest.report import COLOURS, STYLE
from pegkeeper.backtest.setups import SETUPS
from pegkeeper.backtest.sweep import (
    SUMMARY_COLUMNS,
    CellOutcome,
    SummaryRow,
    Sweep,
    SweepCell,
    run_label,
)

# (title, metric in PolicyMetrics.as_dict(), axis, note)
DISTRIBUTIONS = (
    ("Tracking error over the seeds", "tracking_error_rms_pct", "RMS tracking error (%)",
     "RMS tracking error in % of the run's average liability; one point per seed."),
    ("Total cost over the seeds", "total_cost_usd", "total cost (USD)",
     "Fees, funding paid less received, slippage, transfer and withdrawal fees; one point per "
     "seed."),
    ("Minimum liquidation distance over the seeds", "min_liquidation_distance_pct",
     "minimum distance to liquidation (% of the mark)",
     "The closest each run came to liquidation; one point per seed."),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class SweepReportContext:
    command: str
    where: str  # the processes or the cluster the cells ran on
    elapsed_s: float


def render_sweep_report(
    sweep: Sweep,
    outcomes: Sequence[CellOutcome],
    rows: Sequence[SummaryRow],
    context: SweepReportContext,
) -> str:
    names = list(dict.fromkeys(row.name for row in rows))
    figures = [
        _distribution(sweep, outcomes, names, metric, axis) for _, metric, axis, _ in DISTRIBUTIONS
    ]
    divs = "\n".join(
        f'<h3>{html.escape(title)}</h3><p class="note">{html.escape(note)}</p>'
        f'<div id="fig{i}" class="fig"></div>'
        for i, (title, _, _, note) in enumerate(DISTRIBUTIONS)
    )
    scripts = "\n".join(
        f"Plotly.newPlot('fig{i}', {_json(data)}, {_json(layout)}, {{responsive: true}});"
        for i, (data, layout) in enumerate(figures)
    )
    title = html.escape(f"pegkeeper backtest sweep: {sweep.source.name}")
    return _PAGE.format(
        title=title,
        style=STYLE,
        plotly=get_plotlyjs(),
        summary=_summary(sweep, context),
        tables="\n".join(_path_table(sweep, path.label, rows) for path in sweep.paths),
        failed=_failed(sweep, outcomes),
        figures=divs,
        columns="".join(
            f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in SUMMARY_COLUMNS
        ),
        scripts=scripts,
    )


def _summary(sweep: Sweep, context: SweepReportContext) -> str:
    seeds = ", ".join("-" if s is None else str(s) for s in sweep.seeds)
    setups = "; ".join(
        f"{name}: " + ", ".join(f"{k} = {v!r}" for k, v in SETUPS[name].items())
        if name in SETUPS
        else f"{name}: hedger.policy = {name!r}, the rest from the settings"
        for name in sweep.setups
    )
    parameters = "; ".join(", ".join(f"{k} = {v!r}" for k, v in c) for c in sweep.combinations)
    items = [
        ("command", f"<code>{html.escape(context.command)}</code>"),
        ("grid", html.escape(sweep.shape())),
        ("setups", html.escape(setups)),
        ("parameters", html.escape(parameters or "none")),
        ("flows", html.escape(f"{sweep.flows}, seeds {seeds}")),
        ("paths", "<br>".join(
            html.escape(f"{p.label}: {p.prices.name}, funding "
                        f"{p.funding.name if p.funding else '[backtest] funding_rate'}")
            for p in sweep.paths)),
        ("ran on", html.escape(f"{context.where}, {context.elapsed_s:,.0f} s")),
    ]  # fmt: skip
    return "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in items)


def _path_table(sweep: Sweep, label: str, rows: Sequence[SummaryRow]) -> str:
    head = "".join(f"<th>{html.escape(k)}</th>" for k, _ in SUMMARY_COLUMNS)
    body = []
    for row in (r for r in rows if r.path == label):
        tds = "".join(f"<td>{html.escape(text)}</td>" for text in row.texts())
        body.append(f"<tr><th>{html.escape(row.name)}</th>{tds}</tr>")
    return (
        f'<h3>{html.escape(label)}</h3>\n<table class="path"><tr><th>setup</th>{head}</tr>\n'
        + "\n".join(body)
        + "</table>"
    )


def _failed(sweep: Sweep, outcomes: Sequence[CellOutcome]) -> str:
    failed = [(sweep.cells[o.index], o.error) for o in outcomes if o.error is not None]
    if not failed:
        return ""
    rows = "".join(
        f"<tr><td>{html.escape(_where(cell))}</td><td>{html.escape(error or '')}</td></tr>"
        for cell, error in failed
    )
    return (
        f"<h2>Cells that failed ({len(failed)})</h2>\n"
        f'<table class="summary"><tr><th>cell</th><th>error</th></tr>{rows}</table>'
    )


def _where(cell: SweepCell) -> str:
    given = ", ".join(f"{k} = {v!r}" for k, v in cell.parameters)
    return f"{cell.path.label}, {cell.setup}{', ' + given if given else ''}, seed {cell.seed}"


def _distribution(
    sweep: Sweep, outcomes: Sequence[CellOutcome], names: list[str], metric: str, axis: str
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One box per setup (and parameters) per path, with every seed's point."""
    x: dict[str, list[str]] = {name: [] for name in names}
    y: dict[str, list[float]] = {name: [] for name in names}
    for outcome in outcomes:
        value = None if outcome.metrics is None else outcome.metrics.get(metric)
        if value is None:
            continue
        cell = sweep.cells[outcome.index]
        name = run_label(cell.setup, cell.parameters)
        x[name].append(cell.path.label)
        y[name].append(float(value))
    data = [
        {
            "type": "box",
            "name": name,
            "x": x[name],
            "y": y[name],
            "boxpoints": "all",
            "jitter": 0.4,
            "pointpos": 0,
            "marker": {"color": COLOURS[i % len(COLOURS)], "size": 4},
        }
        for i, name in enumerate(names)
    ]
    layout = {
        "height": 440,
        "boxmode": "group",
        "margin": {"l": 70, "r": 30, "t": 20, "b": 60},
        "yaxis": {"title": {"text": axis}, "zeroline": False},
        "legend": {"orientation": "h", "y": -0.15},
    }
    return data, layout


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>{style}</style>
<script>{plotly}</script>
</head><body>
<h1>{title}</h1>
<table class="summary">{summary}</table>
<h2>Per path, over the seeds</h2>
{tables}
{failed}
<h2>The distributions</h2>
{figures}
<h2>What the columns mean</h2>
<dl>{columns}
<dt>the numbers of each run</dt><dd>As in a single backtest's report (pegkeeper backtest
--report): the tracking error is the hedged value less the liability, its percentages of the
run's average liability; costs are fees, funding, slippage and transfer fees in USD.</dd></dl>
<script>
{scripts}
</script>
</body></html>
"""
