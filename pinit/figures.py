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

__all__ = ["histogram_figure", "std_overview_figure", "signal_gain_figure", "fmt"]

MEASURED = "#1f77b4"
EXPECTED = "#d62728"
_LAYOUT = dict(
    template="plotly_white",
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


def histogram_figure(h: Histogram, log_y: bool = False, height: int = 330) -> go.Figure:
    """Counts per bin, the scheme's expected counts over them, and ±1 std markers."""
    s = h.summary
    fig = go.Figure()
    fig.add_bar(
        x=h.centers,
        y=h.counts,
        width=[h.width] * h.bins,
        name="measured",
        marker_color=MEASURED,
        customdata=list(zip(h.edges[:-1], h.edges[1:])),
        hovertemplate="[%{customdata[0]:.4g}, %{customdata[1]:.4g}]: %{y} values<extra></extra>",
    )
    if h.expected is not None:
        fig.add_scatter(
            x=h.centers,
            y=h.expected,
            mode="lines",
            line=dict(color=EXPECTED, width=2, shape="spline" if h.bins > 1 else "linear"),
            name=f"expected under {h.scheme}{' (approx.)' if h.expected_is_approximate else ''}",
            hovertemplate="expected %{y:.1f}<extra></extra>",
        )
    if s.finite and not s.constant:
        for sign in (-1, 1):
            fig.add_vline(x=s.mean + sign * s.std, line=dict(color=MEASURED, dash="dot", width=1))
            if h.expected_std:
                fig.add_vline(x=h.expected_mean + sign * h.expected_std, line=dict(color=EXPECTED, dash="dash", width=1))
    if s.finite and not s.constant:
        fig.add_scatter(x=[None], y=[None], mode="lines", line=dict(color=MEASURED, dash="dot"), name="measured mean ± σ")
        if h.expected_std:
            fig.add_scatter(x=[None], y=[None], mode="lines", line=dict(color=EXPECTED, dash="dash"), name="expected ± σ")
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
    fig.update_layout(
        **_LAYOUT,
        height=height,
        title=dict(text=f"<b>{h.name}</b> {shape}", subtitle=dict(text=subtitle, font=dict(size=11)), font=dict(size=14)),
        yaxis_title="count",
        yaxis_type="log" if log_y else "linear",
        showlegend=True,
    )
    return fig


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
    positive = table[table["std"] > 0]
    zero = table[~(table["std"] > 0)]
    fig = go.Figure()
    fig.add_bar(y=positive["name"], x=positive["std"], orientation="h", name="measured σ", marker_color=MEASURED,
                hovertemplate="%{y}: σ %{x:.4g}<extra></extra>")
    values = list(positive["std"])
    if "expected_std" in table:
        exp = positive[positive["expected_std"] > 0]
        values += list(exp["expected_std"])
        fig.add_scatter(y=exp["name"], x=exp["expected_std"], mode="markers", name="expected σ (formula)",
                        marker=dict(symbol="diamond", size=11, color=EXPECTED, line=dict(color="white", width=1)),
                        hovertemplate="%{y}: expected σ %{x:.4g}<extra></extra>")
    sub = "Log scale. Each bar should reach its red diamond."
    if len(zero):
        shown = ", ".join(zero["name"][:4]) + (f" and {len(zero) - 4} more" if len(zero) > 4 else "")
        sub += f"<br>σ = 0 (constant, off a log axis): {shown}"
    fig.update_layout(**_LAYOUT, height=_bar_height(len(table)), xaxis=_log_axis("", values),
                      yaxis=dict(autorange="reversed", categoryorder="array", categoryarray=list(table["name"])),
                      title=dict(text="<b>Measured vs expected std</b>", subtitle=dict(text=sub, font=dict(size=11))))
    fig.update_layout(legend=dict(y=-0.06 if len(table) > 8 else -0.15))
    return fig


def signal_gain_figure(table: pd.DataFrame) -> go.Figure:
    """sqrt(fan_in · E[w²]) per weight: how much each layer scales its input's RMS (log scale).

    1 keeps a linear/tanh signal level; sqrt(2) makes up for a ReLU halving the variance.
    """
    w = table[table["signal_gain"].notna()]
    gains = [g for g in w["signal_gain"] if g > 0]
    fig = go.Figure()
    fig.add_bar(y=w["name"], x=w["signal_gain"], orientation="h", marker_color=MEASURED, name="signal gain",
                text=[f"×{g:.3g}" for g in w["signal_gain"]], textposition="outside", cliponaxis=False,
                hovertemplate="%{y}: multiplies its input's RMS by %{x:.3g}<extra></extra>")
    for x in (1.0, math.sqrt(2)):
        fig.add_vline(x=x, line=dict(color="#555", dash="dash", width=1))
    product = math.prod(w["signal_gain"]) if len(w) else math.nan
    fig.update_layout(
        **{**_LAYOUT, "margin": dict(l=50, r=20, t=105, b=40)}, height=_bar_height(len(table)) + 30, showlegend=False,
        xaxis=_log_axis("", gains + [1.0, math.sqrt(2)]),
        yaxis=dict(autorange="reversed"),
        title=dict(text="<b>How much each layer scales the signal</b>",
                   subtitle=dict(text=f"√(fan_in · E[w²]), log scale; product over layers ×{product:.3g}.<br>"
                                      "Dashed lines: 1 keeps a linear/tanh signal level, √2 a ReLU one. Far from them at "
                                      "every layer,<br>the signal explodes or vanishes with depth.", font=dict(size=11))),
    )
    return fig
