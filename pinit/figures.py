"""Plotly figures built from pinit.stats output (the one module that imports plotly).

Every figure is built from small arrays (bin counts, one number per parameter), so
its JSON stays a few KB whatever the model's size. Each says in words what it
shows: the title names the parameter and shape, the subtitle gives measured and
expected std, the bins and the range, and any NaN/Inf or constant tensor.
"""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go

from .stats import Histogram

__all__ = ["fmt", "histogram_figure", "signal_gain_figure", "std_overview_figure"]

MEASURED = "#1f77b4"
EXPECTED = "#d62728"
# No plotly template: Streamlit's theme styles the charts, and a template costs ~10 ms a figure.
_LAYOUT = dict(
    margin=dict(l=50, r=20, t=75, b=80),
    legend=dict(orientation="h", yanchor="top", y=-0.22, xanchor="left", x=0, font=dict(size=11)),
    bargap=0.02,
)


def fmt(x: float | None) -> str:
    """A number for a chart: 3 significant digits, or an em dash for missing."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{x:.3g}"


def _nonfinite_text(h: Histogram) -> str:
    s = h.summary
    parts = [f"{n} {label}" for n, label in ((s.nan, "NaN"), (s.posinf, "+Inf"), (s.neginf, "−Inf")) if n]
    return ("not drawn: " + ", ".join(parts)) if parts else ""


def _vline(x: float, color: str, dash: str) -> dict:
    return dict(type="line", xref="x", yref="paper", x0=x, x1=x, y0=0, y1=1, line=dict(color=color, dash=dash, width=1))


def _legend_line(color: str, dash: str, name: str) -> dict:
    """An empty trace that only puts a line style into the legend."""
    return dict(type="scatter", x=[None], y=[None], mode="lines", line=dict(color=color, dash=dash), name=name)


def histogram_figure(h: Histogram, log_y: bool = False, height: int = 330) -> go.Figure:
    """Counts per bin, the scheme's expected counts over them, and ±1 std markers.

    Built as one plain spec (shapes rather than add_vline, Streamlit's theme rather
    than a plotly template): plotly's per-call validation, not the data, was most of
    the cost of a page of small charts.
    """
    s = h.summary
    data = [
        dict(
            type="bar",
            x=h.centers,
            y=h.counts,
            width=h.width,
            name="measured",
            marker=dict(color=MEASURED),
            customdata=[[a, b] for a, b in zip(h.edges[:-1], h.edges[1:])],
            hovertemplate="[%{customdata[0]:.4g}, %{customdata[1]:.4g}]: %{y} values<extra></extra>",
        )
    ]
    if h.expected is not None:
        data.append(
            dict(
                type="scatter",
                x=h.centers,
                y=h.expected,
                mode="lines",
                line=dict(color=EXPECTED, width=2, shape="spline" if h.bins > 1 else "linear"),
                name=f"expected under {h.scheme}{' (approx.)' if h.expected_is_approximate else ''}",
                hovertemplate="expected %{y:.1f}<extra></extra>",
            )
        )
    shapes = []
    if s.finite and not s.constant:
        shapes += [_vline(s.mean + sign * s.std, MEASURED, "dot") for sign in (-1, 1)]
        data.append(_legend_line(MEASURED, "dot", "measured mean ± σ"))
        if h.expected_std:
            shapes += [_vline(h.expected_mean + sign * h.expected_std, EXPECTED, "dash") for sign in (-1, 1)]
            data.append(_legend_line(EXPECTED, "dash", "expected ± σ"))
    notes = []
    if s.constant:
        notes.append(f"constant: all {s.finite:,} values = {fmt(s.min)}")
    if _nonfinite_text(h):
        notes.append(_nonfinite_text(h))
    if s.finite == 0:
        notes.append("no finite values to draw")
    subtitle = (
        f"measured σ {fmt(s.std)}"
        + (f" · expected σ {fmt(h.expected_std)}" if h.expected_std is not None else " · untouched by the plan")
        + f" · {h.bins} bins over [{fmt(h.edges[0])}, {fmt(h.edges[-1])}]"
    )
    if notes:
        subtitle += "<br><b>" + " · ".join(notes) + "</b>"
    shape = "(" + ", ".join(map(str, h.shape)) + ("," if len(h.shape) == 1 else "") + ")"
    layout = dict(
        _LAYOUT,
        height=height,
        shapes=shapes,
        title=dict(
            text=f"<b>{h.name}</b> {shape}", subtitle=dict(text=subtitle, font=dict(size=11)), font=dict(size=14)
        ),
        yaxis=dict(title=dict(text="count"), type="log" if log_y else "linear"),
        showlegend=True,
    )
    return go.Figure(dict(data=data, layout=layout))


_LOG_TICKS = [10.0**e * m for e in range(-6, 5) for m in (1, 3)]


def _log_axis(title: str, values: list[float]) -> dict:
    """A log axis with ticks at 1 and 3 per decade only, ranged to the data."""
    vals = [v for v in values if v and v > 0 and math.isfinite(v)] or [1.0]
    lo, hi = math.log10(min(vals)) - 0.25, math.log10(max(vals)) + 0.35
    ticks = [t for t in _LOG_TICKS if lo <= math.log10(t) <= hi]
    return dict(type="log", title=title, range=[lo, hi], tickvals=ticks, ticktext=[f"{t:g}" for t in ticks])


def _bar_height(n: int) -> int:
    return max(260, min(900, 120 + 26 * n))


def std_overview_figure(table: pd.DataFrame) -> go.Figure:
    """Measured std (bars) against the scheme's expected std (diamonds), per parameter, log scale.

    Parameters with std 0 (constant inits) cannot sit on a log axis; the subtitle lists them.
    """
    rows = table.to_dict("records")
    positive = [r for r in rows if r["std"] > 0]
    zero = [r["name"] for r in rows if not r["std"] > 0]
    data = [
        dict(
            type="bar",
            orientation="h",
            y=[r["name"] for r in positive],
            x=[r["std"] for r in positive],
            name="measured σ",
            marker=dict(color=MEASURED),
            hovertemplate="%{y}: σ %{x:.4g}<extra></extra>",
        )
    ]
    values = [r["std"] for r in positive]
    if "expected_std" in table:
        exp = [r for r in positive if r["expected_std"] > 0]
        values += [r["expected_std"] for r in exp]
        data.append(
            dict(
                type="scatter",
                mode="markers",
                y=[r["name"] for r in exp],
                x=[r["expected_std"] for r in exp],
                name="expected σ (formula)",
                hovertemplate="%{y}: expected σ %{x:.4g}<extra></extra>",
                marker=dict(symbol="diamond", size=11, color=EXPECTED, line=dict(color="white", width=1)),
            )
        )
    sub = "Log scale. Each bar should reach its red diamond."
    if zero:
        shown = ", ".join(zero[:4]) + (f" and {len(zero) - 4} more" if len(zero) > 4 else "")
        sub += f"<br>σ = 0 (constant, off a log axis): {shown}"
    layout = dict(
        _LAYOUT,
        height=_bar_height(len(rows)),
        xaxis=_log_axis("", values),
        yaxis=dict(autorange="reversed", categoryorder="array", categoryarray=[r["name"] for r in rows]),
        title=dict(text="<b>Measured vs expected std</b>", subtitle=dict(text=sub, font=dict(size=11))),
    )
    layout["legend"] = dict(_LAYOUT["legend"], y=-0.12 if len(rows) > 8 else -0.25)
    return go.Figure(dict(data=data, layout=layout))


def signal_gain_figure(table: pd.DataFrame) -> go.Figure:
    """sqrt(fan_in · E[w²]) per weight: how much each layer scales its input's RMS (log scale).

    1 keeps a linear/tanh signal level; sqrt(2) makes up for a ReLU halving the variance.
    """
    rows = [r for r in table[["name", "signal_gain"]].to_dict("records") if pd.notna(r["signal_gain"])]
    gains = [r["signal_gain"] for r in rows]
    product = math.prod(gains) if gains else math.nan
    data = [
        dict(
            type="bar",
            orientation="h",
            y=[r["name"] for r in rows],
            x=gains,
            marker=dict(color=MEASURED),
            name="signal gain",
            text=[f"×{g:.3g}" for g in gains],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{y}: multiplies its input's RMS by %{x:.3g}<extra></extra>",
        )
    ]
    layout = dict(
        _LAYOUT,
        margin=dict(l=50, r=20, t=105, b=40),
        height=_bar_height(len(table)) + 30,
        showlegend=False,
        shapes=[_vline(x, "#555", "dash") for x in (1.0, math.sqrt(2))],
        xaxis=_log_axis("", [g for g in gains if g > 0] + [1.0, math.sqrt(2)]),
        yaxis=dict(autorange="reversed"),
        title=dict(
            text="<b>How much each layer scales the signal</b>",
            subtitle=dict(
                text=f"√(fan_in · E[w²]), log scale; product over layers ×{product:.3g}.<br>"
                "Dashed lines: 1 keeps a linear/tanh signal level, √2 a ReLU one. Far from them at "
                "every layer,<br>the signal explodes or vanishes with depth.",
                font=dict(size=11),
            ),
        ),
    )
    return go.Figure(dict(data=data, layout=layout))
