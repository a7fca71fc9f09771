"""The backtest's report: one self-contained HTML file (plotly.js inlined once, no network)
with the comparison table, the plots and what every number means."""

from __future__ import annotations

import html
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import orjson
from plotly.offline import get_plotlyjs

from pegkeeper.backtest.choice import Choice
from pegkeeper.backtest.metrics import COST_COMPONENTS, PolicyMetrics
from pegkeeper.backtest.prices import FloatArray, IntArray
from pegkeeper.backtest.runner import BacktestInputs, BacktestSettings, PolicyResult
from pegkeeper.domain import band_policy

MAX_POINTS = 4_000  # per line: enough to see every swing of a month, small enough to open fast
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
COMPONENT_DASH = {
    "fees": "solid",
    "funding": "dash",
    "slippage": "dot",
    "transfers": "dashdot",
    "basis": "longdash",
}

STABLESATS_RULE = (
    "Galoy stablesats' rules (specs/hedging.md): nothing while the hedge ratio (short / "
    "liability) is within [0.95, 1.03]; below 0.95 sell back to 0.98, above 1.03 buy back to "
    "1.00, always with market orders; below 50 USD of liability, close."
)

# (label, attribute, format, lower is better: True, higher: False, no ranking: None)
ROWS: tuple[tuple[str, str, str, bool | None], ...] = (
    ("tracking error, max (USD)", "tracking_error_max_usd", "{:,.0f}", True),
    ("tracking error, RMS (USD)", "tracking_error_rms_usd", "{:,.0f}", True),
    ("tracking error, max (% of avg liability)", "tracking_error_max_pct", "{:.3f}", True),
    ("tracking error, RMS (% of avg liability)", "tracking_error_rms_pct", "{:.3f}", True),
    ("tracking error at the end (USD)", "tracking_error_final_usd", "{:,.0f}", None),
    ("time outside the brackets (%)", "time_outside_brackets_pct", "{:.2f}", True),
    ("orders (post-only among them)", "orders", "{}", True),
    ("orders refused", "orders_rejected", "{}", True),
    ("collateral moves (transfers, deposits, withdrawals)", "transfers", "{}", True),
    ("fees (USD)", "fees_usd", "{:,.0f}", True),
    ("funding paid (USD; negative: received)", "funding_usd", "{:,.0f}", True),
    ("slippage (USD)", "slippage_usd", "{:,.0f}", True),
    ("transfer and withdrawal fees (USD)", "transfer_fees_usd", "{:,.0f}", True),
    ("dated futures' basis (USD; negative: earned)", "basis_usd", "{:,.0f}", True),
    ("total cost (USD)", "total_cost_usd", "{:,.0f}", True),
    ("total cost (bps of avg liability per year)", "cost_bps_per_year", "{:,.1f}", True),
    (
        "latency: mark moved before fills (USD, in the tracking error)",
        "latency_usd",
        "{:,.0f}",
        None,
    ),
    ("average liability (USD)", "average_liability_usd", "{:,.0f}", None),
    ("min liquidation distance (%)", "min_liquidation_distance_pct", "{:.1f}", False),
    ("max leverage", "max_leverage", "{:.2f}", True),
    ("liquidated", "liquidated", "{}", True),
    ("opening the hedge (USD, not in the costs)", "opening_cost_usd", "{:,.0f}", None),
    ("events simulated per second", "events_per_second", "{:,.0f}", None),
)


@dataclass(frozen=True, slots=True)
class ReportContext:
    inputs: BacktestInputs
    settings: BacktestSettings
    command: str
    funding_policy: str = "stablesats"  # `[funding] policy` (of each run, when they differ)
    names: tuple[str, ...] = ()  # each run's name (its setup); empty: its hedge policy's
    choice: Choice | None = None


def run_names(results: Sequence[PolicyResult], context: ReportContext) -> list[str]:
    return list(context.names) or [r.metrics.policy for r in results]


def render_report(results: Sequence[PolicyResult], context: ReportContext) -> str:
    names = run_names(results, context)
    figures = _figures(results, names)
    divs = "\n".join(
        f'<h2>{html.escape(title)}</h2><p class="note">{html.escape(note)}</p>'
        f'<div id="fig{i}" class="fig"></div>'
        for i, (title, note, _) in enumerate(figures)
    )
    scripts = "\n".join(
        f"Plotly.newPlot('fig{i}', {_json(data)}, {_json(layout)}, {{responsive: true}});"
        for i, (_, _, (data, layout)) in enumerate(figures)
    )
    return _PAGE.format(
        title=html.escape(f"pegkeeper backtest: {context.inputs.path.source}"),
        summary=_summary(context),
        table=_table([r.metrics for r in results], names),
        choice=_choice(context.choice),
        rules=_rules(results, names),
        figures=divs,
        definitions=_DEFINITIONS,
        plotly=get_plotlyjs(),
        scripts=scripts,
        style=STYLE,
    )


# -- text ----------------------------------------------------------------------------------------


def _summary(context: ReportContext) -> str:
    inputs, s = context.inputs, context.settings
    path, costs = inputs.path, s.costs
    book, collateral = costs.book, s.collateral
    items = [
        ("command", f"<code>{html.escape(context.command)}</code>"),
        ("prices", f"{html.escape(path.source)}: {_utc(path.start_ms)} to {_utc(path.end_ms)}, "
         f"{path.bars:,} one-minute bars ({path.filled_bars} filled forward), "
         f"{len(path.tick_ms):,} ticks"),
        ("flows", f"{len(inputs.flows):,} user trades: {html.escape(inputs.flows.description)}"),
        ("funding", html.escape(inputs.funding.source)),
        ("hedge", f"{s.instrument_id}, liability at the start {s.initial_liability_usd:,} USD, "
         f"exchange leverage {s.exchange_leverage}, maintenance margin "
         f"{(s.maintenance_margin_rate * 100).normalize():f}%"),
        ("costs", f"taker {_bps(costs.taker_fee_rate)} bps, maker {_bps(costs.maker_fee_rate)} "
         f"bps, latency {costs.latency_ms} ms; book: half spread {book.base_half_spread_bps} bps "
         f"+ {book.range_half_spread_share:.0%} of the minute's range, {book.levels} levels "
         f"{book.level_step_bps} bps apart holding {book.depth_share:.0%} of the minute's "
         f"volume ({book.volume_unit} units); withdrawal {costs.withdrawal_fee_btc} BTC, "
         f"transfer {costs.transfer_fee}, deposits credited after {costs.deposit_minutes} min"),
        ("collateral", f"the funding manager ({html.escape(context.funding_policy)} policy) "
         f"over a simulated chain; at the start leverage {collateral.target_leverage} and a "
         f"funding-account reserve of {collateral.funding_reserve_share:.0%} of the collateral"),
        ("brackets", f"time outside: hedge ratio outside [{s.brackets.low}, {s.brackets.high}]"),
    ]  # fmt: skip
    return "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in items)


def _table(metrics: Sequence[PolicyMetrics], names: Sequence[str]) -> str:
    head = "".join(f"<th>{html.escape(name)}</th>" for name in names)
    rows = [f"<tr><th>metric</th>{head}</tr>"]
    for label, attribute, fmt, lower_better in ROWS:
        values = [getattr(m, attribute) for m in metrics]
        best = _best(values, lower_better) if len(metrics) > 1 else None
        cells = []
        for m, value in zip(metrics, values, strict=True):
            text = _format(value, fmt)
            if attribute == "orders":
                text += f" ({m.post_only_orders})"
            marked = ' class="best"' if best is not None and value == best else ""
            cells.append(f"<td{marked}>{text}</td>")
        rows.append(f"<tr><th>{html.escape(label)}</th>{''.join(cells)}</tr>")
    return "\n".join(rows)


def _best(values: list[Any], lower_better: bool | None) -> Any:
    numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if lower_better is None or len(numbers) != len(values) or len(set(numbers)) < 2:
        return None
    return min(numbers) if lower_better else max(numbers)


def _format(value: Any, fmt: str) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return fmt.format(value)


def _choice(choice: Choice | None) -> str:
    if choice is None:
        return ""
    return f'<h2>The choice</h2>\n<p class="choice">{html.escape(choice.reason)}</p>'


def _rules(results: Sequence[PolicyResult], names: Sequence[str]) -> str:
    parts = []
    for result, run in zip(results, names, strict=True):
        policy = result.metrics.policy
        name = run if run == policy else f"{run} ({policy})"
        text = _rule_text(policy)
        acted = ", ".join(f"{rule} {count}" for rule, count in sorted(result.acted_rules.items()))
        parts.append(
            f"<h3>{html.escape(name)}</h3><pre>{html.escape(text)}</pre>"
            f'<p class="note">rules that sent orders: {html.escape(acted or "none")}</p>'
        )
    return "\n".join(parts)


def _rule_text(name: str) -> str:
    if name == band_policy.BAND_POLICY_NAME:
        return (band_policy.__doc__ or "").strip()
    if name == "stablesats":
        return STABLESATS_RULE
    return "(no description)"


def _bps(rate: Decimal) -> str:
    return f"{(rate * 10_000).normalize():f}"


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


# -- plots ---------------------------------------------------------------------------------------

Figure = tuple[str, str, tuple[list[dict[str, Any]], dict[str, Any]]]


def _figures(results: Sequence[PolicyResult], names: Sequence[str]) -> list[Figure]:
    series0 = results[0].series
    price = _line(series0.ts_ms, series0.price_usd, "BTC price (USD)", "#7f7f7f", y="y2")
    price["line"]["width"] = 1
    notional = [_line(series0.ts_ms, series0.liability_usd, "liability", "#000000")]
    errors, leverage, distance, costs = [], [], [], []
    for i, (result, name) in enumerate(zip(results, names, strict=True)):
        s, colour = result.series, COLOURS[i % len(COLOURS)]
        notional.append(_line(s.ts_ms, s.hedge_notional_usd, f"{name}: hedge", colour))
        errors.append(_line(s.ts_ms, s.tracking_error_usd, name, colour))
        leverage.append(_line(s.ts_ms, s.leverage, f"{name}: leverage", colour))
        distance.append(
            _line(s.ts_ms, s.liquidation_distance_pct, f"{name}: to liquidation", colour, y="y3")
        )
        for component in COST_COMPONENTS:
            line = _line(s.ts_ms, s.cumulative_cost_usd[component], f"{name}: {component}", colour)
            line["line"]["dash"] = COMPONENT_DASH[component]
            costs.append(line)
    return [
        ("Liability and hedge notional", "The short's notional in USD against what is owed.",
         ([*notional, price], _layout("USD", "BTC (USD)"))),
        ("Tracking error", "Hedged value less the liability, in USD (see the definitions).",
         ([*errors, price], _layout("USD", "BTC (USD)"))),
        ("Leverage and liquidation distance against price",
         "Leverage (notional over equity, at the mark); the distance to the liquidation price "
         "in % of the mark on the right-hand scale; the price on the far right.",
         ([*leverage, *distance, price],
          _layout("leverage", "BTC (USD)", third="% to liquidation"))),
        ("Cumulative cost by component", "USD; negative funding is funding received.",
         (costs, _layout("USD"))),
    ]  # fmt: skip


def _line(ts: IntArray, values: FloatArray, name: str, colour: str, y: str = "y") -> dict[str, Any]:
    x, v = _thin(ts, values)
    return {
        "type": "scattergl",
        "mode": "lines",
        "name": name,
        "x": x,
        "y": v,
        "yaxis": y,
        "line": {"color": colour, "width": 1.5},
    }


def _thin(ts: IntArray, values: FloatArray) -> tuple[list[int], list[float | None]]:
    """At most MAX_POINTS points, keeping each bucket's lowest and highest value."""
    count = len(values)
    if count <= MAX_POINTS:
        keep = np.arange(count)
    else:
        buckets = MAX_POINTS // 2
        edges = np.linspace(0, count, buckets + 1).astype(np.int64)
        chosen = []
        for start, end in itertools.pairwise(edges.tolist()):
            part = values[start:end]
            if np.isnan(part).all():
                chosen.append(start)
                continue
            chosen.extend(
                sorted({start + int(np.nanargmin(part)), start + int(np.nanargmax(part))})
            )
        keep = np.array(chosen)
    kept = values[keep]
    return ts[keep].tolist(), [None if np.isnan(v) else float(v) for v in kept]


def _layout(left: str, right: str | None = None, third: str | None = None) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "height": 420,
        "margin": {"l": 70, "r": 140 if third else 70, "t": 20, "b": 40},
        "xaxis": {"type": "date", "domain": [0, 0.88 if third else 1]},
        "yaxis": {"title": {"text": left}},
        "legend": {"orientation": "h", "y": -0.15},
        "hovermode": "x unified",
    }
    if right:
        layout["yaxis2"] = {
            "title": {"text": right},
            "overlaying": "y",
            "side": "right",
            "showgrid": False,
            **({"anchor": "free", "position": 1.0} if third else {}),
        }
    if third:
        layout["yaxis3"] = {
            "title": {"text": third},
            "overlaying": "y",
            "side": "right",
            "anchor": "x",
            "showgrid": False,
        }
    return layout


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


_DEFINITIONS = """
<dl>
<dt>tracking error</dt><dd>The dealer holds, for its users, the BTC their purchases of synthetic
USD brought in (each purchase of X USD at the mark P brings X/P BTC; each sale takes it back),
and the hedge, whose fills are booked at the mark of their moment (a post-only order at its own
price). The tracking error is the value of both less the liability: zero at the start, unmoved
by the price while the short equals the liability, moving with the price on whatever is left
unhedged. Its percentages are of the run's average liability.</dd>
<dt>costs</dt><dd>Fees; funding paid (less received) at the 8-hourly settlements; slippage: a
market order's fills against the mark of that moment (the spread and the depth walked);
transfer and withdrawal fees. Each converted to USD when it happens. The opening of the hedge
before the first tick is not counted. The latency between a decision and its fill is
simulated (the order reaches the book later, at the price the path has then): what the price
did meanwhile is in the tracking error, and shown on its own line.</dd>
<dt>total cost in bps per year</dt><dd>Total cost over the run, over the average liability,
scaled to a year of the run's length.</dd>
<dt>time outside the brackets</dt><dd>The share of ticks at which the hedge ratio (short's
notional over liability) was outside the brackets above, while something was owed.</dd>
<dt>liquidation distance</dt><dd>How far the price must move to liquidate the position, in %
of the mark, at each tick; leverage is notional over equity at the mark.</dd>
<dt>the simulation</dt><dd>The production hedger with the policy named, the liability service,
the simulated exchange in-process with a manual clock. Each one-minute bar is four ticks 15 s
apart (open, low and high in their likely order, close). Funding settles at 00, 08 and 16 UTC
at the funding file's latest rate. Collateral is kept by the built-in funding step (transfers
between the funding and trading accounts, deposits and withdrawals onchain).</dd>
</dl>
"""

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
th { text-align: left; background: #f5f5f5; font-weight: normal; }
td.best { background: #e3f4e3; font-weight: bold; }
.summary td { text-align: left; }
.note { color: #555; font-size: 0.9em; }
pre { white-space: pre-wrap; background: #fafafa; padding: 0.8em; border: 1px solid #eee; }
dt { font-weight: bold; margin-top: 0.6em; }
.fig { width: 100%; }
"""  # the reports' page style (the sweep's too)

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>{style}</style>
<script>{plotly}</script>
</head><body>
<h1>{title}</h1>
<table class="summary">{summary}</table>
<h2>Runs compared</h2>
<p class="note">Best value of each row in green.</p>
<table>{table}</table>
{choice}
<h2>The rules</h2>
{rules}
{figures}
<h2>What the numbers mean</h2>
{definitions}
<script>
{scripts}
</script>
</body></html>
"""
