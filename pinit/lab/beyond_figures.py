"""Plotly figures for the "Beyond SimpleCNN" views: transformer, width (coord check) and spectra.

Same style as pinit.lab.figures (pinit.style's lab_layout and colours): one plain dict
spec per figure (no template; Streamlit's theme styles it), built from small arrays the
backend already binned, with a title and a subtitle that give the numbers a student should
read off, log axes where the data spans decades, and anything that could not be drawn
said in words.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ..figures import build
from ..style import (
    EXPECTED,
    MEASURED,
    MUTED,
    PLAN_COLORS,
    SECOND,
    fmt,
    lab_layout,
    lab_title,
    legend_at_bottom,
    line_trace,
    log_axis,
    margin,
    positive,
    rgba,
)
from .spectra import Spectrum, mp_density, tail_verdict
from .transformer import TransformerReport

__all__ = ["attention_figure", "coord_check_figure", "residual_figure", "spectrum_figure"]

# The law over the spectrum is what a formula predicts; its edges are context; the fitted tail is a second fit.
MP_COLOR, EDGE_COLOR, TAIL_COLOR = EXPECTED, MUTED, SECOND


def _preset_line(label: str, i: int, x: list[Any], y: list[Any], **more: Any) -> dict[str, Any]:
    """One preset's line with dots, in its plan colour (the i-th)."""
    return line_trace(x, [positive(v) for v in y], label, PLAN_COLORS[i % len(PLAN_COLORS)], markers=7, **more)


# ------------------------------------------------------------------------------ transformer


def residual_figure(reports: Mapping[str, TransformerReport], height: int = 440) -> go.Figure:
    """The residual stream's std entering block 1 and after every block, one line per preset (log y)."""
    data, values, parts = [], [], []
    for i, (label, r) in enumerate(reports.items()):
        df = r.residual
        data.append(
            _preset_line(
                label,
                i,
                df["index"].tolist(),
                df["std"].tolist(),
                text=df["layer"].tolist(),
                hovertemplate=f"{label}<br>%{{text}}: std %{{y:.4g}}<extra></extra>",
            )
        )
        values += df["std"].tolist()
        growth = df["std"].iloc[-1] / df["std"].iloc[1] if len(df) > 1 else math.nan
        parts.append(f"{label}: <b>{fmt(df['std'].iloc[-1])}</b> at the top (×{fmt(growth)} from block 1)")
    n_layer = len(next(iter(reports.values())).residual) - 1 if reports else 0
    sub = "Log scale. " + "; ".join(parts) + f".<br>√{n_layer} = {fmt(math.sqrt(max(n_layer, 1)))}: the growth"
    sub += " of a stream to which every block adds the same variance."
    layout = lab_layout(
        height,
        title=lab_title("Residual stream std, block by block", sub),
        xaxis=dict(
            title=dict(text="blocks applied (0 = token + position embeddings)"),
            tickvals=list(range(n_layer + 1)),
            range=[-0.3, n_layer + 0.3],
        ),
        yaxis=log_axis("std of the residual stream", values),
    )
    return build(dict(data=data, layout=layout))


def attention_figure(reports: Mapping[str, TransformerReport], height: int = 400) -> go.Figure:
    """Attention logits' std per layer (log y), one line per preset; the entropy ratio is in the hover and subtitle."""
    data, values, parts = [], [], []
    scale = ""
    for i, (label, r) in enumerate(reports.items()):
        a = r.attention
        scale = r.scale
        data.append(
            _preset_line(
                label,
                i,
                list(range(1, len(a) + 1)),
                a["logit_std"].tolist(),
                customdata=[f"{e:.4f}" for e in a["entropy_ratio"]],
                text=a["layer"].tolist(),
                hovertemplate=f"{label}<br>%{{text}}: logit std %{{y:.3g}}, entropy %{{customdata}} of uniform"
                "<extra></extra>",
            )
        )
        values += a["logit_std"].tolist()
        zero = bool((a["logit_std"] == 0).all())
        parts.append(
            f"{label}: logit std {fmt(a['logit_std'].mean())}"
            + (" (all 0: off the log axis)" if zero else "")
            + f", entropy {a['entropy_ratio'].mean():.4f} of uniform"
        )
    sub = f"Scale {scale}. Log y. " + "; ".join(parts) + ".<br>Entropy 1.0000 of uniform: every token attends"
    sub += " equally to all earlier ones."
    n = max((len(r.attention) for r in reports.values()), default=1)
    layout = lab_layout(
        height,
        title=lab_title("Attention logits at init, layer by layer", sub),
        xaxis=dict(title=dict(text="block"), tickvals=list(range(1, n + 1)), range=[0.7, n + 0.3]),
        yaxis=log_axis("std of q·k·scale", values),
    )
    return build(dict(data=data, layout=layout))


# ------------------------------------------------------------------------------ width


def coord_check_figure(
    df: pd.DataFrame, slopes: pd.DataFrame, label: str, height: int = 400, narrow: bool = False
) -> go.Figure:
    """l1 = mean |x| of every layer against width (log-log), one panel per step, one line per layer.

    `narrow` (a phone): two panels a row, each 180 px tall, every other width named on the x axis,
    and the legend under the last row; side by side, four panels of 80 px ran their axis titles
    into each other and into the legend."""
    steps = sorted(df["step"].unique())
    layers = list(dict.fromkeys(df["layer"]))
    k = len(steps)
    cols = min(2, k) if narrow else k
    rows = -(-k // max(cols, 1))
    gap = 0.1 if narrow else 0.04
    w = (1 - gap * (cols - 1)) / max(cols, 1)
    row_px, row_gap_px, legend_px = 180, 60, 24 * -(-len(layers) // 2)
    if narrow:
        plot_px = rows * row_px + (rows - 1) * row_gap_px
        height = 110 + plot_px + 55 + legend_px
    # Two lines of subtitle and no more: a smaller top margin than the lab's, so the plots sit under the text.
    layout = lab_layout(height, margin=margin(t=72, b=70))
    if narrow:
        layout["margin"] = margin(t=110, b=55 + legend_px)
        layout["legend"] = legend_at_bottom()
    data = []
    y_all = df["l1"].tolist()
    yaxis = log_axis("l1 = mean |x|", y_all)
    widths = sorted(df["width"].unique())
    named = widths[::2] if narrow else widths
    for j, step in enumerate(steps):
        ax = "" if j == 0 else str(j + 1)
        col, row = j % cols, j // cols
        layout[f"xaxis{ax}"] = dict(
            domain=[col * (w + gap), col * (w + gap) + w],
            type="log",
            tickvals=named,
            ticktext=[str(v) for v in named],
            title=dict(text=f"width (step {step})" if step else "width (init)"),
            anchor=f"y{ax}",
        )
        layout[f"yaxis{ax}"] = dict(yaxis, anchor=f"x{ax}", **({} if j == 0 else {"matches": "y", "title": None}))
        if narrow:
            # Row 0 at the top; the domain in the plot area's fraction, a gap for each row's x axis title.
            top = 1 - row * (row_px + row_gap_px) / plot_px
            layout[f"yaxis{ax}"]["domain"] = [max(0.0, round(top - row_px / plot_px, 6)), min(1.0, round(top, 6))]
        if col if narrow else j:  # the y axis is shared: named on the left of a row only
            layout[f"yaxis{ax}"]["showticklabels"] = False
        g = df[df["step"] == step]
        for i, layer in enumerate(layers):
            rows = g[g["layer"] == layer].sort_values("width")
            data.append(
                _preset_line(
                    layer,
                    i,
                    rows["width"].tolist(),
                    rows["l1"].tolist(),
                    marker=dict(size=6, color=PLAN_COLORS[i % len(PLAN_COLORS)]),
                    legendgroup=layer,
                    showlegend=j == 0,
                    xaxis=f"x{ax}",
                    yaxis=f"y{ax}",
                    hovertemplate=f"{layer}, step {step}<br>width %{{x}}: l1 %{{y:.4g}}<extra></extra>",
                )
            )
    last = slopes[slopes["step"] == steps[-1]]
    worst = last.loc[last["slope"].abs().idxmax()] if len(last) else None
    sub = (
        f"Slope of log l1 vs log width at step {steps[-1]}: "
        + ", ".join(f"{r.layer.split('.')[-1]} {r.slope:+.2f}" for r in last.itertuples())
        + " (0: flat; 1: doubles with the width)."
    )
    if worst is not None:
        sub += (
            f"<br>{worst['layer']}: l1 {fmt(worst['l1_min_width'])} at width {widths[0]}, "
            f"{fmt(worst['l1_max_width'])} at {widths[-1]}. Log-log axes."
        )
    layout["title"] = lab_title(f"Coord check: {label}", sub)
    return build(dict(data=data, layout=layout))


# ------------------------------------------------------------------------------ spectra


def spectrum_figure(s: Spectrum, log: bool = False, height: int = 440) -> go.Figure:
    """The ESD of WᵀW/N as a density histogram, the Marchenko–Pastur law over it, its edges marked.

    `log`: log-log axes over log-spaced bins, with the fitted power-law tail λ^(−α) from x_min.
    """
    lo, hi = s.lam_minus, s.lam_plus
    total = max(len(s.evals), 1)
    if log:
        edges = np.asarray(s.log_edges)
        counts = np.asarray(s.log_counts, dtype=float)
    else:
        edges = np.asarray(s.edges)
        counts = np.asarray(s.counts, dtype=float)
    widths = np.diff(edges)
    density = counts / total / widths
    centers = (edges[:-1] + edges[1:]) / 2
    data: list[dict[str, Any]] = [
        dict(
            type="bar",
            x=centers.tolist(),
            y=[positive(d) if log else float(d) for d in density],
            width=widths.tolist(),
            name=f"ESD: {len(s.evals)} eigenvalues of WᵀW/N",
            marker=dict(color=rgba(MEASURED, 0.75)),
            customdata=counts.astype(int).tolist(),
            hovertemplate="λ ≈ %{x:.4g}: %{customdata} eigenvalues<extra></extra>",
        )
    ]
    if s.sigma2 > 0 and hi > lo:
        grid = np.linspace(lo, hi, 400)[1:-1] if not log else np.geomspace(max(lo, hi * 1e-4), hi, 400)[1:-1]
        mp = mp_density(grid, s.q, s.sigma2)
        data.append(
            line_trace(
                grid.tolist(),
                [positive(v) if log else float(v) for v in mp],
                f"Marchenko–Pastur, q = {fmt(s.q)}, σ² = {fmt(s.sigma2)}",
                MP_COLOR,
                hovertemplate="MP density %{y:.4g} at λ %{x:.4g}<extra></extra>",
            )
        )
    t = s.tail
    if log and math.isfinite(t.alpha) and t.plausible:  # no tail line where an exponential fits better
        x = np.geomspace(t.xmin, max(float(s.evals[-1]), t.xmin * 1.01), 50)
        # ρ(λ) = (n_tail/M)(α−1)/x_min (λ/x_min)^(−α): the fitted tail, as a density over all M eigenvalues.
        y = (t.n_tail / total) * (t.alpha - 1) / t.xmin * (x / t.xmin) ** (-t.alpha)
        data.append(
            line_trace(
                x.tolist(),
                y.tolist(),
                f"power-law tail, α = {fmt(t.alpha)} (from x_min = {fmt(t.xmin)})"
                + ("" if tail_verdict(t) == "power law" else "; an exponential fits as well"),
                TAIL_COLOR,
                dash="dash",
                hoverinfo="skip",
            )
        )
    shapes = []
    for edge, what in ((lo, "λ₋"), (hi, "λ₊")):
        if s.sigma2 > 0 and (edge > 0 or not log):
            shapes.append(
                dict(
                    type="line",
                    xref="x",
                    yref="paper",
                    x0=edge,
                    x1=edge,
                    y0=0,
                    y1=1,
                    line=dict(color=EDGE_COLOR, dash="dot", width=1.5),
                    # Upright above the line: plotly turns a vertical line's label on its side, half hidden.
                    label=dict(text=what, textposition="end", textangle=0, yanchor="bottom", font=dict(size=13)),
                )
            )
    lam_min, lam_max = float(s.evals[0]), float(s.evals[-1])
    sub = (
        f"{s.rows} × {s.cols}, q = {fmt(s.q)}, σ² = {fmt(s.sigma2)}. MP edges λ₋ = {fmt(lo)}, λ₊ = {fmt(hi)}; "
        f"measured λ_min = {fmt(lam_min)}, λ_max = {fmt(lam_max)}."
    )
    if s.distinct == 1:
        sub += f"<br><b>One value</b>: every singular value is {fmt(s.svals[0], 4)} (λ = {fmt(lam_max)})."
    else:
        sub += (
            f"<br><b>{s.n_outliers}</b> eigenvalue(s) above λ₊ + 5 Tracy–Widom scales; "
            f"KS distance to MP {fmt(s.mp_ks)}; tail α = {fmt(t.alpha)}"
            + (f" ({t.note})" if t.note else f" over the top {t.n_tail}")
            + "."
        )
    xaxis: dict[str, Any] = dict(title=dict(text="λ = s² / N"))
    if log:
        pos = [v for v in s.evals if v > 0]
        xaxis = log_axis("λ = s² / N", pos + ([hi] if hi > 0 else []))
        ymax = [v for v in density if v > 0]
        yaxis = log_axis("density", ymax)
    else:
        xaxis["range"] = [0, float(edges[-1])]
        yaxis = dict(title=dict(text="density"), rangemode="tozero")
    layout = lab_layout(
        height,
        bargap=0,
        title=lab_title(f"Spectrum of {s.name or 'W'}", sub),
        xaxis=xaxis,
        yaxis=yaxis,
        shapes=shapes,
    )
    return build(dict(data=data, layout=layout))
