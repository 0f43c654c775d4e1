"""Plotly figures of the weights themselves, built from pinit.stats output.

Every figure is built from small arrays (bin counts, one number per parameter), so its
JSON stays a few KB whatever the model's size, and each says in words what it shows:
the parameter's name and shape, measured and expected std, the bins and the range, and
any NaN/Inf or constant tensor (a zero init is a lesson, not an empty chart). The style
(colours, margins, log axes, presenter text) is pinit.style's, shared with the lab's figures.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from .stats import Histogram
from .style import (
    EXPECTED,
    GROW,
    INK,
    MEASURED,
    MUTED,
    SHRINK,
    TICK_COLOR,
    fmt,
    fmt_shape,
    layout,
    legend_below,
    line_trace,
    log_axis,
    margin,
    presenter,
    rgba,
    title,
)

__all__ = [
    "GAIN_FAR",
    "build",
    "fmt",
    "gain_far",
    "gain_text",
    "histogram_figure",
    "histogram_grid_figure",
    "histogram_notes",
    "signal_gain_figure",
    "std_overview_figure",
]

# A parameter no rule reached keeps the constructor's draw, whose scheme pinit does not know
# (PyTorch's default, a Hugging Face post_init, timm's trunc_normal): no law curve, and it says so.
AS_BUILT_NOTE = "as built: no law curve (the constructor's scheme is not known)"


# Whether build() has plotly validate each spec. Off when serving: validation checks and coerces every
# property of every figure on every click, and these specs are ours and fixed. The test suite turns
# it on (tests/conftest.py), so every figure any test draws is validated there.
VALIDATE = False


def build(spec: dict[str, Any], big: bool = False) -> go.Figure:
    """A plotly Figure of a plain spec (presenter-sized text when `big`); validated only when VALIDATE."""
    return go.Figure(presenter(spec) if big else spec, _validate=VALIDATE)


def _nonfinite_text(h: Histogram) -> str:
    s = h.summary
    parts = [f"{n} {label}" for n, label in ((s.nan, "NaN"), (s.posinf, "+Inf"), (s.neginf, "−Inf")) if n]
    return ("not drawn: " + ", ".join(parts)) if parts else ""


def histogram_notes(h: Histogram) -> list[str]:
    """What a histogram cannot show by its bars: a constant tensor, NaN/Inf, no finite value."""
    s = h.summary
    notes = []
    if s.constant:
        notes.append(f"constant: all {s.finite:,} values = {fmt(s.min)}")
    if _nonfinite_text(h):
        notes.append(_nonfinite_text(h))
    if s.finite == 0:
        notes.append("no finite values to draw")
    return notes


def _vline(x: float, color: str, dash: str, xref: str = "x", yref: str = "paper", y1: float = 1) -> dict[str, Any]:
    return dict(type="line", xref=xref, yref=yref, x0=x, x1=x, y0=0, y1=y1, line=dict(color=color, dash=dash, width=1))


def _legend_line(color: str, dash: str, name: str) -> dict[str, Any]:
    """An empty trace that only puts a line style into the legend."""
    return dict(type="scatter", x=[None], y=[None], mode="lines", line=dict(color=color, dash=dash), name=name)


def _law_line(h: Histogram, xaxis: str, yaxis: str, legend: bool, smooth: bool = False) -> dict[str, Any]:
    """The counts the scheme's law expects in each bin, as a line over the measured ones."""
    trace = line_trace(
        h.centers,
        h.expected or [],
        "expected under the scheme's law",
        EXPECTED,
        xaxis=xaxis,
        yaxis=yaxis,
        showlegend=legend,
        legendgroup="expected",
        hovertemplate="expected %{y:.1f}<extra></extra>",
    )
    if smooth:
        trace["line"]["shape"] = "spline"
    return trace


def _bars_and_law(h: Histogram, xaxis: str = "x", yaxis: str = "y", legend: bool = True) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = [
        dict(
            type="bar",
            x=h.centers,
            y=h.counts,
            width=h.width,
            name="measured",
            marker=dict(color=MEASURED),
            customdata=[[a, b] for a, b in zip(h.edges[:-1], h.edges[1:])],
            xaxis=xaxis,
            yaxis=yaxis,
            showlegend=legend,
            legendgroup="measured",
            hovertemplate=f"{h.name}<br>[%{{customdata[0]:.4g}}, %{{customdata[1]:.4g}}]: %{{y}} values<extra></extra>",
        )
    ]
    if h.expected is not None:
        data.append(_law_line(h, xaxis, yaxis, legend, smooth=h.bins > 1))
    return data


def _steps_law_sigmas(h: Histogram, xaxis: str, yaxis: str, legend: bool) -> list[dict[str, Any]]:
    """One panel of the grid, in as few SVG elements as plotly can draw it: the counts as one filled
    step line (not a bar per bin), the law's expected counts as one line, and the ±σ markers as two
    line traces with gaps (not four layout shapes). Same numbers as the bars, a fraction of the
    browser's drawing work."""
    s = h.summary
    edges, counts = list(h.edges), list(h.counts)
    data: list[dict[str, Any]] = [
        dict(
            type="scatter",
            mode="lines",
            x=edges,
            y=counts + counts[-1:],
            line=dict(color=MEASURED, width=1, shape="hv"),
            fill="tozeroy",
            fillcolor=rgba(MEASURED, 0.55),
            name="measured",
            customdata=[[a, b, c] for a, b, c in zip(edges[:-1], edges[1:], counts)] + [[edges[-1], edges[-1], 0]],
            hovertemplate=f"{h.name}<br>[%{{customdata[0]:.4g}}, %{{customdata[1]:.4g}}]: "
            "%{customdata[2]} values<extra></extra>",
            xaxis=xaxis,
            yaxis=yaxis,
            showlegend=legend,
            legendgroup="measured",
        )
    ]
    if h.expected is not None:
        data.append(_law_line(h, xaxis, yaxis, legend))
    if s.finite and not s.constant:
        top = max([*counts, *(h.expected or [0])]) * 1.05 or 1.0
        bottom = 0.5  # half a count: on a log axis 0 would drop the line
        marks = [(s.mean, s.std, MEASURED, "dot", "measured mean ± σ")]
        if h.expected_std:
            marks.append((h.expected_mean or 0.0, h.expected_std, EXPECTED, "dash", "expected ± σ"))
        for mean, std, color, dash, name in marks:
            data.append(
                dict(
                    type="scatter",
                    mode="lines",
                    x=[mean - std, mean - std, None, mean + std, mean + std],
                    y=[bottom, top, None, bottom, top],
                    line=dict(color=color, width=1, dash=dash),
                    name=name,
                    hoverinfo="skip",
                    xaxis=xaxis,
                    yaxis=yaxis,
                    showlegend=legend,
                    legendgroup=name,
                )
            )
    return data


def _sigma_lines(h: Histogram, xref: str = "x", yref: str = "paper", y1: float = 1) -> list[dict[str, Any]]:
    s = h.summary
    if not s.finite or s.constant:
        return []
    lines = [_vline(s.mean + k * s.std, MEASURED, "dot", xref, yref, y1) for k in (-1, 1)]
    if h.expected_std:
        mean = h.expected_mean or 0.0  # set with expected_std (stats.histogram); as in _steps_law_sigmas
        lines += [_vline(mean + k * h.expected_std, EXPECTED, "dash", xref, yref, y1) for k in (-1, 1)]
    return lines


def _subtitle(h: Histogram) -> str:
    s = h.summary
    text = (
        f"measured σ {fmt(s.population_std)}"
        + (f" · expected σ {fmt(h.expected_std)}" if h.expected_std is not None else f" · {AS_BUILT_NOTE}")
        + f" · {h.bins} bins over [{fmt(h.edges[0])}, {fmt(h.edges[-1])}]"
    )
    notes = histogram_notes(h)
    return text + ("<br><b>" + " · ".join(notes) + "</b>" if notes else "")


def histogram_figure(h: Histogram, log_y: bool = False, height: int = 330, big: bool = False) -> go.Figure:
    """Counts per bin, the scheme's expected counts over them, and ±1 std markers.

    Built as one plain spec (shapes rather than add_vline, Streamlit's theme rather than a
    plotly template): plotly's per-call validation, not the data, was most of the cost of a
    page of small charts.
    """
    data = _bars_and_law(h)
    if h.summary.finite and not h.summary.constant:
        data.append(_legend_line(MEASURED, "dot", "measured mean ± σ"))
        if h.expected_std:
            data.append(_legend_line(EXPECTED, "dash", "expected ± σ"))
    spec = dict(
        data=data,
        layout=layout(
            height,
            shapes=_sigma_lines(h),
            title=title(h.name, _subtitle(h), size=14, after=fmt_shape(h.shape)),
            yaxis=dict(title=dict(text="count"), type="log" if log_y else "linear"),
            showlegend=True,
            bargap=0.02,
            margin=margin(l=50, t=75, b=80),
            legend=legend_below(-0.22),
        ),
    )
    return build(spec, big)


GAIN_FAR = 2.0  # a signal gain above ×2 or below ×1/2 is marked: it doubles or halves the signal per layer


def gain_far(gain: float | None) -> bool:
    """True for a signal gain far from ×1 (beyond ×2 or under ×1/2): a few such layers in a row
    and the signal explodes or vanishes (√2, Kaiming's ReLU gain, is not far; 0, a zero init, is)."""
    return gain is not None and math.isfinite(gain) and (gain <= 0 or abs(math.log(gain)) > math.log(GAIN_FAR))


def gain_text(gain: float | None) -> str:
    """ "gain ×44.7" for a panel: what this weight does to its input's RMS (empty when it has none)."""
    if gain is None or not math.isfinite(gain):
        return ""
    return f"gain ×{fmt(gain)}"


def histogram_grid_figure(
    hists: Sequence[Histogram],
    cols: int = 3,
    log_y: bool = False,
    shared_x: bool = False,
    row_height: int = 230,
    big: bool = False,
    gains: Mapping[str, float] | None = None,
    narrow: bool = False,
) -> go.Figure:
    """Several parameters' histograms in one figure, one panel each (one chart for the browser
    to draw instead of one per parameter). Each panel is titled by name and shape with its
    measured and expected σ; a constant or non-finite tensor says so in its panel.
    `shared_x` puts every panel on one x range, so their widths compare at a glance.

    The figure carries its own view switches (plotly buttons above the panels): linear or log
    counts, and own or shared x ranges. They redraw in the browser alone, with no round trip
    to the server: a view-only change answers as fast as the chart can redraw.

    `gains` ({name: signal gain}, stats' √(fan_in · E[w²])) adds what each weight does to the
    signal to its panel's title, in red and bold when far from ×1 (gain_far). `narrow` (a phone)
    puts the two switches on two rows, so neither covers the other."""
    gains = gains or {}
    n = len(hists)
    cols = max(1, min(cols, n))
    rows = max(1, math.ceil(n / cols))
    gap_x, gap_y = 0.06, 0.42 / rows
    width = (1 - gap_x * (cols - 1)) / cols
    height = (1 - gap_y * (rows - 1)) / rows
    lo = min((h.edges[0] for h in hists), default=-1.0)
    hi = max((h.edges[-1] for h in hists), default=1.0)
    data: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    lay: dict[str, Any] = {}
    for i, h in enumerate(hists):
        r, c = divmod(i, cols)
        k = "" if i == 0 else str(i + 1)
        x0 = c * (width + gap_x)
        y1 = 1 - r * (height + gap_y)
        # Clamped to [0, 1]: the last row's bottom is 0 give or take a rounding error, which plotly refuses.
        xd = [max(0.0, round(x0, 6)), min(1.0, round(x0 + width, 6))]
        yd = [max(0.0, round(y1 - height, 6)), min(1.0, round(y1, 6))]
        lay[f"xaxis{k}"] = dict(domain=xd, anchor=f"y{k}", **({"range": [lo, hi]} if shared_x else {}))
        lay[f"yaxis{k}"] = dict(domain=yd, anchor=f"x{k}", type="log" if log_y else "linear")
        data += _steps_law_sigmas(h, f"x{k}", f"y{k}", legend=i == 0)
        s = h.summary
        sub = f"σ {fmt(s.population_std)}" + (
            f" · expected {fmt(h.expected_std)}" if h.expected_std is not None else " · as built: no law"
        )
        g = gains.get(h.name)
        if gain_text(g):
            sub += " · " + (
                f"<span style='color:{EXPECTED}'><b>{gain_text(g)}</b></span>" if gain_far(g) else gain_text(g)
            )
        notes = histogram_notes(h)
        annotations.append(
            dict(
                xref=f"x{k} domain",
                yref=f"y{k} domain",
                x=0,
                y=1.02,
                xanchor="left",
                yanchor="bottom",
                showarrow=False,
                align="left",
                font=dict(color=TICK_COLOR),  # 7:1 on white; the theme's grey was 3.7:1
                text=f"<b>{h.name}</b> {fmt_shape(h.shape)}<br>{sub}"
                + (f"<br><span style='color:{EXPECTED}'><b>{notes[0]}</b></span>" if notes else ""),
            )
        )
    xs, ys = [k for k in lay if k.startswith("xaxis")], [k for k in lay if k.startswith("yaxis")]
    # In pixels: the switches sit above the first row's titles (three lines), the legend below the
    # last row's tick labels, so neither covers a title or the other.
    plot, t, b = row_height * rows, 80 + (34 if narrow else 0), 55
    top, bottom = 1.0 + 50 / plot, -28 / plot
    second = (1.0 + 84 / plot, 0.0, "left") if narrow else (top, 1.0, "right")
    spec = dict(
        data=data,
        layout=layout(
            plot + t + b,
            **lay,
            annotations=annotations,
            bargap=0.02,
            showlegend=True,
            margin=margin(l=45, r=15, t=t, b=b),
            legend=legend_below(bottom),
            updatemenus=[
                _switch(
                    # Log counts labelled at whole decades (1, 10, 100): plotly's own log ticks read
                    # "100, 5, 2, 10, 5, 2, 1". Back to linear, plotly picks its ticks again (None).
                    ("Linear counts", {f"{a}.{k}": v for a in ys for k, v in (("type", "linear"), ("dtick", None))}),
                    ("Log counts", {f"{a}.{k}": v for a in ys for k, v in (("type", "log"), ("dtick", 1))}),
                    active=1 if log_y else 0, x=0, y=top, xanchor="left",
                ),
                _switch(
                    ("Own x ranges", {f"{a}.autorange": True for a in xs}),
                    ("Same x range", {f"{a}.range": [lo, hi] for a in xs}),
                    active=1 if shared_x else 0, x=second[1], y=second[0], xanchor=second[2],
                ),
            ],
        ),
    )  # fmt: skip
    return build(spec, big)


def _switch(
    off: tuple[str, dict[str, Any]],
    on: tuple[str, dict[str, Any]],
    active: int,
    x: float,
    y: float,
    xanchor: str = "right",
) -> dict[str, Any]:
    """Two plotly buttons side by side that relayout the figure in the browser (one is always lit)."""
    return dict(
        type="buttons",
        direction="right",
        active=active,
        showactive=True,
        x=x,
        y=y,
        xanchor=xanchor,
        yanchor="bottom",
        pad=dict(t=0, b=2),
        font=dict(size=11),
        buttons=[dict(label=label, method="relayout", args=[args]) for label, args in (off, on)],
    )


def _bar_height(n: int) -> int:
    return max(260, min(900, 120 + 26 * n))


def std_overview_figure(table: pd.DataFrame, big: bool = False) -> go.Figure:
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
    spec = dict(
        data=data,
        layout=layout(
            _bar_height(len(rows)),
            xaxis=log_axis("", values),
            yaxis=dict(autorange="reversed", categoryorder="array", categoryarray=[r["name"] for r in rows]),
            title=title("Measured vs expected std", sub),
            legend=legend_below(-0.12 if len(rows) > 8 else -0.25),
            margin=margin(l=50, t=75, b=80),
        ),
    )
    return build(spec, big)


_GAIN_TICKS = [0.001, 0.01, 0.1, 0.5, 1, 2, 10, 100, 1000, 10000]


def signal_gain_figure(table: pd.DataFrame, big: bool = False) -> go.Figure:
    """sqrt(fan_in · E[w²]) per weight, drawn as bars diverging from ×1 on a log scale.

    A bar grows right (red) for a layer that multiplies its input's RMS and left (blue) for
    one that shrinks it, so the longest bar is the layer that changes the signal most, in
    either direction (a plain log axis would start every bar at the axis edge, and draw a
    ×0.45 layer longer than a ×0.05 one). Dashed: 1 keeps a linear/tanh signal level, √2 a ReLU one.
    """
    rows = [r for r in table[["name", "signal_gain"]].to_dict("records") if pd.notna(r["signal_gain"])]
    gains = [float(r["signal_gain"]) for r in rows]
    logs = [math.log10(g) if g > 0 else -6.0 for g in gains]
    product = math.prod(gains) if gains else math.nan
    span = max([abs(v) for v in logs] + [math.log10(2)]) * 1.25
    ticks = [t for t in _GAIN_TICKS if abs(math.log10(t)) <= span]
    data = [
        dict(
            type="bar",
            orientation="h",
            y=[r["name"] for r in rows],
            x=logs,
            base=0,
            marker=dict(color=[GROW if v > 0 else SHRINK for v in logs]),
            name="signal gain",
            text=[f"×{fmt(g)}" for g in gains],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{y}: multiplies its input's RMS by %{text}<extra></extra>",
        )
    ]
    spec = dict(
        data=data,
        layout=layout(
            _bar_height(len(rows)) + 30,
            margin=margin(l=50, r=40, t=105, b=40),
            showlegend=False,
            shapes=[_vline(0.0, INK, "solid"), _vline(math.log10(math.sqrt(2)), MUTED, "dash")],
            xaxis=dict(
                range=[-span, span],
                tickvals=[math.log10(t) for t in ticks],
                ticktext=[f"×{t:g}" for t in ticks],
                zeroline=False,
                title=dict(text="← shrinks the signal · multiplies it →"),
            ),
            yaxis=dict(autorange="reversed"),
            title=title(
                "How much each layer scales the signal",
                f"√(fan_in · E[w²]), log scale, bars from ×1; product over layers ×{fmt(product)}.<br>"
                "Dashed: √2 keeps a ReLU signal level. Far from ×1 at every layer, the signal explodes or "
                "vanishes with depth.",
            ),
        ),
    )
    return build(spec, big)
