"""Plotly figures for the Init effects lab, built from the lab's plain results (pinit.lab.signal,
compare, depth, training, pictures).

Like pinit.figures, every figure is one plain spec in pinit.style's layout, colours and
title (no plotly template; Streamlit's theme styles it), built from small arrays, and says
in its title and subtitle what it shows: the numbers a student should read off, the scale (log or linear), and anything
that could not be drawn (a std of 0 on a log axis, values that overflowed to inf).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ..figures import build
from ..stats import Histogram
from ..style import (
    A_COLOR,
    B_COLOR,
    FADED,
    MUTED,
    PLAN_COLORS,
    PREDICTED,
    SCHEME_COLORS,
    SECOND,
    fmt,
    lab_layout,
    lab_title,
    legend_below,
    line_trace,
    log_axis,
    margin,
    positive,
    recipe_style,
    reference_line,
)
from ..text import number
from .compare import density
from .signal import RELU_TYPES, SignalFlow

__all__ = [
    "PLAN_COLORS",
    "SCHEME_COLORS",
    "activation_heatmap_figure",
    "activation_std_figure",
    "compare_grad_figure",
    "compare_std_figure",
    "dead_relu_figure",
    "density_overlay_figure",
    "depth_std_figure",
    "filter_grid_figure",
    "gradient_norm_figure",
    "train_curves_figure",
    "weight_heatmap_figure",
]

PRED = PREDICTED


def _names(items: Sequence[str], limit: int = 4) -> str:
    items = list(items)
    return ", ".join(items[:limit]) + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _category_ticks(labels: Sequence[str], limit: int = 24) -> dict[str, Any]:
    """Name every tick of a short x axis; a long one gets numbers only (names are in the hover)."""
    if len(labels) <= limit:
        return dict(tickvals=list(range(1, len(labels) + 1)), ticktext=list(labels), tickangle=-45)
    return dict(title=dict(text="position in the forward pass (hover for the layer)"))


def _category_layout(height: int, text: str, sub: str, yaxis: dict[str, Any], labels: Sequence[str]) -> dict[str, Any]:
    """A chart of one value per layer or parameter (x: _category_ticks). With every tick named (under
    25), the angled names take the bottom margin and the legend goes under them."""
    layout = lab_layout(height, title=lab_title(text, sub), yaxis=yaxis, xaxis=_category_ticks(labels))
    if len(labels) <= 24:
        layout.update(margin=margin(t=90, b=150), legend=legend_below(-0.6))
    return layout


# ------------------------------------------------------------------ signal flow


WEIGHT_TYPES = ("Linear", "Conv2d", "Conv1d", "Conv3d")


def activation_std_figure(flow: SignalFlow, height: int = 430) -> go.Figure:
    """The std of every layer's output in forward order (log y); DeepMLP adds the predicted trend."""
    a = flow.activations
    labels = [f"{r.layer} ({r.type})" for r in a.itertuples()]
    data = [
        line_trace(
            [0] + a["index"].tolist(),
            [positive(flow.input_std)] + [positive(s) for s in a["std"]],
            "every layer's output",
            FADED,
            width=1,
            markers=5,
            marker=dict(size=5, color=MUTED),
            text=["input (probe batch)"] + labels,
            hovertemplate="%{text}: std %{y:.4g}<extra></extra>",
        )
    ]
    w = a[a["type"].isin(WEIGHT_TYPES)]
    data.append(
        line_trace(
            w["index"].tolist(),
            [positive(s) for s in w["std"]],
            "Conv/Linear outputs (measured)",
            A_COLOR,
            markers=8,
            text=[labels[i - 1] for i in w["index"]],
            hovertemplate="%{text}: std %{y:.4g}<extra></extra>",
        )
    )
    values = [flow.input_std] + a["std"].tolist()
    if flow.predicted is not None and len(flow.predicted):
        lin = a[a["type"] == "Linear"]
        pred = flow.predicted["predicted_std"].tolist()[: len(lin)]
        data.append(
            line_trace(
                lin["index"].tolist()[: len(pred)],
                [positive(p) for p in pred],
                "predicted by the scheme (mean-field)",
                PRED,
                dash="dash",
                hovertemplate="predicted std %{y:.4g}<extra></extra>",
            )
        )
        values += pred
    zero = a[(a["std"] == 0)]["layer"].tolist()
    bad = a[a["nonfinite"] > 0]["layer"].tolist()
    last = a.iloc[-1]
    sub = (
        f"Log scale. Logits ({last['layer']}) std <b>{fmt(flow.logits_std)}</b>; input std {fmt(flow.input_std)}. "
        f"Probe batch: {flow.n} N(0, 1) inputs, seed {flow.seed}."
    )
    if zero:
        sub += f"<br>std 0 (off the log axis): {_names(zero)}"
    if bad:
        sub += f"<br><b>overflowed to ±inf/NaN in {_names(bad)}</b>"
    layout = lab_layout(
        height,
        title=lab_title("Activation std, layer by layer", sub),
        yaxis=log_axis("std of the layer's output", values),
        xaxis=dict(range=[-0.5, len(a) + 0.5], **_category_ticks(labels)),
    )
    if len(labels) <= 24:
        layout["xaxis"]["tickvals"] = [0] + layout["xaxis"]["tickvals"]
        layout["xaxis"]["ticktext"] = ["input"] + layout["xaxis"]["ticktext"]
        layout.update(margin=margin(t=90, b=150), legend=legend_below(-0.62))
    return build(dict(data=data, layout=layout))


def _pct(f: float) -> str:
    p = f * 100
    return f"{p:.0f}%" if p >= 10 else f"{number(p, 2)}%"


def activation_heatmap_figure(flow: SignalFlow, mode: str = "std", height: int | None = None) -> go.Figure:
    """Each layer's output histogram as one row of a heatmap (colour: share of the outputs, log scale).

    mode "std": x is value / that layer's own std (the shape of each distribution);
    "raw": x is the value itself on one axis shared by every layer (the scales).
    """
    if mode not in ("std", "raw"):
        raise ValueError(f"mode must be 'std' or 'raw', got {mode!r}")
    a = flow.activations
    edges = flow.std_edges if mode == "std" else flow.raw_edges
    rows = flow.heat_std if mode == "std" else flow.heat_raw
    centers = [(x + y) / 2 for x, y in zip(edges[:-1], edges[1:])]
    # float32 arrays travel as packed binary (plotly's typed arrays): 4 bytes a cell, not a JSON number's text.
    z = np.array(
        [[math.log10(f) if f and f > 0 and math.isfinite(f) else np.nan for f in row] for row in rows], dtype=np.float32
    ).reshape(len(rows), len(edges) - 1)
    pct = [[_pct(f) if f == f else "—" for f in row] for row in rows]  # f == f: not NaN
    labels = [f"{r.index}. {r.layer} ({r.type})" for r in a.itertuples()]
    lo = -4
    ticks = list(range(lo, 1))
    data = [
        dict(
            type="heatmap",
            x=centers,
            y=labels,
            z=z,
            zmin=lo,
            zmax=0,
            colorscale="Viridis",
            customdata=pct,
            hovertemplate="%{y}<br>bin at %{x:.3g}: %{customdata} of the outputs<extra></extra>",
            colorbar=dict(
                title=dict(text="share of<br>outputs"), tickvals=ticks, ticktext=[_pct(10.0**t) for t in ticks], len=0.8
            ),
        )
    ]
    if mode == "std":
        const = [layer for layer, std in zip(a["layer"], a["std"]) if not (std > 0 and math.isfinite(std))]
        outside = max((o for o in flow.std_outside if o == o), default=0.0)
        beyond = (
            f"Beyond ±{edges[-1]:.3g} std: at most {_pct(outside)} of a layer."
            if outside > 0
            else f"Nothing lies beyond ±{edges[-1]:.3g} std."
        )
        sub = (
            "x: each value divided by its own layer's std (the std is in the chart above), so rows show "
            f"shapes, not scales.<br>Blank: no values there. {beyond}"
            + (f" Constant (std 0), not drawn: {_names(const)}." if const else "")
        )
        xtitle = "value ÷ the layer's std"
    else:
        sub = (
            f"x: the value itself, one axis for every layer, [{fmt(edges[0])}, {fmt(edges[-1])}] in "
            f"{len(centers)} bins.<br>A layer whose values all fall in one bin is tiny next to the biggest layer."
        )
        xtitle = "value"
    bad = a[a["nonfinite"] > 0]["layer"].tolist()
    if bad:
        sub += f" NaN/Inf (not binned) in {_names(bad)}."
    h = height or max(340, min(1200, 170 + 22 * len(labels)))
    yaxis = dict(autorange="reversed", automargin=True)
    if len(labels) <= 50:  # name every row; past that, names only in the hover
        yaxis.update(tickmode="array", tickvals=labels, ticktext=labels)
    else:
        yaxis.update(showticklabels=False, title=dict(text=f"{len(labels)} layers, first at the top (hover for names)"))
    layout = lab_layout(
        h,
        title=lab_title("Activation histograms, layers × bins", sub),
        xaxis=dict(title=dict(text=xtitle)),
        yaxis=yaxis,
        margin=margin(t=95, b=50),
    )
    return build(dict(data=data, layout=layout))


def gradient_norm_figure(flow: SignalFlow, height: int = 400) -> go.Figure:
    """The L2 norm of dloss/dw per parameter, weights and biases apart (log y)."""
    g = flow.gradients.reset_index(drop=True)
    g["pos"] = range(1, len(g) + 1)
    data = []
    for kind, color, symbol in (("weight", A_COLOR, "circle"), ("bias", SECOND, "diamond")):
        part = g[[n.endswith("." + kind) or n == kind for n in g["name"]]]
        if len(part):
            data.append(
                line_trace(
                    part["pos"].tolist(),
                    [positive(v) for v in part["grad_norm"]],
                    {"weight": "weights", "bias": "biases"}[kind],
                    color,
                    markers=8,
                    marker=dict(color=color, symbol=symbol, size=8),
                    text=part["name"].tolist(),
                    hovertemplate="%{text}: ‖grad‖ %{y:.4g}<extra></extra>",
                )
            )
    zero = g[g["grad_norm"] == 0]["name"].tolist()
    bad = g[g["grad_nonfinite"] > 0]["name"].tolist()
    sub = (
        f"Log scale. One backward pass of cross-entropy on the probe batch; loss {fmt(flow.loss)} "
        f"(ln {flow.num_classes} = {flow.chance_loss:.3g} for logits that say nothing)."
    )
    if zero:
        sub += f"<br>gradient exactly 0 (off the log axis): {_names(zero)}"
    if bad:
        sub += f"<br><b>NaN/Inf gradient in {_names(bad)}</b>"
    layout = _category_layout(
        height, "Gradient norm per parameter", sub, log_axis("‖dloss/dw‖", g["grad_norm"]), g["name"].tolist()
    )
    return build(dict(data=data, layout=layout))


def dead_relu_figure(flow: SignalFlow, height: int = 360) -> go.Figure:
    """After each ReLU: the share of outputs that are exactly 0, and of units 0 on the whole batch."""
    r = flow.activations[flow.activations["type"].isin(RELU_TYPES)]
    labels = r["layer"].tolist()
    data = [
        dict(
            type="bar",
            x=labels,
            y=r["zero_fraction"].tolist(),
            name="outputs that are exactly 0",
            marker=dict(color=A_COLOR),
            hovertemplate="%{x}: %{y:.1%} of outputs are 0<extra></extra>",
        ),
        dict(
            type="scatter",
            mode="markers",
            x=labels,
            y=r["dead_units"].tolist(),
            name="dead units: 0 for every example in the batch",
            marker=dict(color=PRED, symbol="x", size=11),
            hovertemplate="%{x}: %{y:.1%} of units dead on this batch<extra></extra>",
        ),
    ]
    if len(r):
        worst = r.iloc[r["dead_units"].argmax()]
        sub = (
            f"Dashed line: ½, a healthy ReLU on zero-mean input. Most dead units: {worst['layer']} "
            f"({worst['dead_units']:.0%}).<br>A unit is a channel of a conv output or a feature of a Linear one."
        )
    else:
        sub = "This model has no ReLU: nothing here can die (look for saturation in the heatmap instead)."
    layout = lab_layout(
        height,
        title=lab_title("Dead ReLUs", sub),
        yaxis=dict(range=[0, 1.05], tickformat=".0%", title=dict(text="share")),
        shapes=[reference_line(0.5, "dash")],
        # Names like layer4.fc_relu1 need room: margins that grow to fit them, the legend below them.
        xaxis=dict(tickangle=-35, showticklabels=len(labels) <= 30, automargin=True),
        legend=legend_below(-0.42),
        margin=margin(t=90, b=150),
    )
    return build(dict(data=data, layout=layout))


# ------------------------------------------------------------------ depth lab


def depth_std_figure(
    rows: pd.DataFrame, summary: pd.DataFrame | None = None, title_extra: str = "", height: int = 520
) -> go.Figure:
    """Activation std after each Linear layer of the DeepMLP, per scheme: measured solid, predicted dashed."""
    data, values = [], []
    for i, (key, g) in enumerate(rows.groupby("scheme", sort=False)):
        scheme = str(key)  # the scheme names: strings
        style = recipe_style(scheme, i)
        color = style.colour
        data.append(
            line_trace(
                g["index"].tolist(),
                [positive(v) for v in g["std"]],
                f"{scheme} (measured)",
                color,
                markers=5 if len(g) <= 40 else 0,
                marker=dict(color=color, size=5, symbol=style.marker),
                legendgroup=scheme,
                text=g["layer"].tolist(),
                hovertemplate=f"{scheme}<br>%{{text}}: std %{{y:.4g}}<extra></extra>",
            )
        )
        values += g["std"].tolist()
        if (g["predicted_std"] > 0).any():  # NaN (no formula) or all 0 (zero weights): nothing to draw
            data.append(
                line_trace(
                    g["index"].tolist(),
                    [positive(v) for v in g["predicted_std"]],
                    f"{scheme} (predicted)",
                    color,
                    width=1.5,
                    dash="dash",
                    legendgroup=scheme,
                    text=g["layer"].tolist(),
                    hovertemplate=f"{scheme} predicted<br>%{{text}}: std %{{y:.4g}}<extra></extra>",
                )
            )
            values += g["predicted_std"].tolist()
    sub = "Log scale. Solid: measured on the probe batch. Dashed: what the scheme's formula predicts (mean-field)."
    if summary is not None:
        notes = [f"{scheme}: {note}" for scheme, note in zip(summary["scheme"], summary["note"]) if note]
        if notes:
            sub += "<br>" + "; ".join(notes)
    if title_extra:
        sub += "<br>" + title_extra
    layout = lab_layout(
        height,
        title=lab_title("Activation std vs depth", sub),
        xaxis=dict(title=dict(text="Linear layer (fc1 … fc depth)"), rangemode="tozero"),
        yaxis=log_axis("std of the layer's output", values),
        margin=margin(t=110, b=70),
        legend=legend_below(-0.14),
    )
    return build(dict(data=data, layout=layout))


# ------------------------------------------------------------------ compare


def _step(edges: Sequence[float], dens: Sequence[float]) -> tuple[list[float], list[float]]:
    """A histogram outline: horizontal at each bin's density, vertical at the edges, down to 0 at the ends."""
    xs, ys = [edges[0]], [0.0]
    for left, right, d in zip(edges[:-1], edges[1:], dens):
        xs += [left, right]
        ys += [d, d]
    xs.append(edges[-1])
    ys.append(0.0)
    return xs, ys


def ab_colours(label_a: str, label_b: str) -> tuple[str, str]:
    """Plan A's and plan B's colours: their recipes' (pinit.recipes) when both name different
    recipes ("A: Kaiming (He)", "B: PyTorch default"), else the A and B colours."""
    names = [label.split(": ", 1)[-1] for label in (label_a, label_b)]
    colours = [recipe_style(n, -1).colour for n in names]
    known = all(n in SCHEME_COLORS for n in names)
    return (colours[0], colours[1]) if known and colours[0] != colours[1] else (A_COLOR, B_COLOR)


def density_overlay_figure(a: Histogram, b: Histogram, label_a: str, label_b: str, height: int = 320) -> go.Figure:
    """Two histograms of the same parameter as densities (each integrates to 1), so bin widths may differ."""
    data: list[dict[str, Any]] = []
    peaks = [max(density(h)[1], default=0.0) for h in (a, b) if not h.summary.constant]
    for h, label, color in zip((a, b), (label_a, label_b), ab_colours(label_a, label_b)):
        if h.summary.constant:  # one value: a spike at exactly that value, not a box one bin wide beside it
            v = h.summary.min
            data.append(
                line_trace(
                    [v, v],
                    [0, max(peaks, default=1.0)],
                    f"{label} (every value = {fmt(v)})",
                    color,
                    width=4,
                    markers=10,
                    marker=dict(size=[0, 10], color=color),
                    hovertemplate=f"{label}: all {h.summary.finite:,} values are {fmt(v)}<extra></extra>",
                )
            )
            continue
        xs, ys = _step(*density(h))
        data.append(
            line_trace(
                xs,
                ys,
                label,
                color,
                width=1.5,
                fill="tozeroy",
                opacity=0.5,
                hovertemplate=f"{label}: density %{{y:.4g}}<extra></extra>",
            )
        )
    notes = []
    for h, label in ((a, "A"), (b, "B")):
        if h.summary.constant:
            notes.append(f"{label} constant = {fmt(h.summary.min)} (one spike)")
        if h.summary.nonfinite:
            notes.append(f"{label}: {h.summary.nonfinite} NaN/Inf not drawn")
    if a.counts == b.counts and a.edges == b.edges:
        notes.append("A and B are identical here (same rule, same seed): one outline hides the other")
    sa, sb = a.summary.std, b.summary.std
    ratio = sb / sa if sa > 0 else math.nan
    sub = f"σ A {fmt(sa)} · σ B {fmt(sb)} · B/A {fmt(ratio)}" + (("<br>" + "; ".join(notes)) if notes else "")
    shape = "(" + ", ".join(map(str, a.shape)) + ("," if len(a.shape) == 1 else "") + ")"
    layout = lab_layout(
        height,
        title=lab_title(f"{a.name}</b> {shape}<b>", sub),
        yaxis=dict(title=dict(text="density")),
        xaxis=dict(title=dict(text="weight value")),
        legend=legend_below(-0.3),
    )
    return build(dict(data=data, layout=layout))


def _ab_lines(
    x_labels: Sequence[str], ya: Iterable[Any], yb: Iterable[Any], label_a: str, label_b: str, what: str
) -> list[dict[str, Any]]:
    xs = list(range(1, len(x_labels) + 1))
    return [
        line_trace(
            xs,
            [positive(v) for v in ys],
            label,
            color,
            dash=dash,
            markers=7,
            text=list(x_labels),
            hovertemplate=f"{label}<br>%{{text}}: {what} %{{y:.4g}}<extra></extra>",
        )
        for ys, label, color, dash in zip((ya, yb), (label_a, label_b), ab_colours(label_a, label_b), ("solid", "dot"))
    ]


def compare_std_figure(table: pd.DataFrame, label_a: str, label_b: str, height: int = 420) -> go.Figure:
    labels = [f"{name} ({t})" for name, t in zip(table["layer"], table["type"])]
    data = _ab_lines(labels, table["std_a"], table["std_b"], label_a, label_b, "std")
    last = table.iloc[-1]
    sub = f"Log scale. Logits std: A {fmt(last['std_a'])}, B {fmt(last['std_b'])}. Same probe batch, same seed."
    layout = _category_layout(
        height, "Activation std: A vs B", sub, log_axis("std", list(table["std_a"]) + list(table["std_b"])), labels
    )
    return build(dict(data=data, layout=layout))


def compare_grad_figure(
    table: pd.DataFrame, label_a: str, label_b: str, loss_a: float, loss_b: float, height: int = 420
) -> go.Figure:
    data = _ab_lines(table["name"].tolist(), table["grad_a"], table["grad_b"], label_a, label_b, "‖grad‖")
    sub = f"Log scale. Loss on the probe batch: A {fmt(loss_a)}, B {fmt(loss_b)} (ln 10 = 2.3 says nothing)."
    yaxis = log_axis("‖dloss/dw‖", list(table["grad_a"]) + list(table["grad_b"]))
    layout = _category_layout(height, "Gradient norm: A vs B", sub, yaxis, table["name"].tolist())
    return build(dict(data=data, layout=layout))


# ------------------------------------------------------------------ training


LOSS_CEILING = 100.0  # the loss axis's top (40x ln 10): an exploding run must not flatten the ones that learn


def train_curves_figure(
    logs: Mapping[str, pd.DataFrame],
    metric: str = "loss",
    notes: Mapping[str, str] | None = None,
    total_steps: int | None = None,
    height: int = 420,
) -> go.Figure:
    """Loss (log y, capped at LOSS_CEILING) or running accuracy per step, one line per plan.

    A run whose loss goes above the cap or becomes inf/NaN gets a ✕ on the top edge that says so
    (its first loss and the step it ended), so the runs that learn keep the whole height.
    """
    value = "loss %{y:.4g}" if metric == "loss" else "accuracy %{y:.1%}"
    if metric not in ("loss", "running_accuracy"):
        raise ValueError(f"metric must be 'loss' or 'running_accuracy', got {metric!r}")
    data: list[dict[str, Any]] = []
    values: list[float] = []
    ends: list[str] = []
    for i, (label, log) in enumerate(logs.items()):
        style = recipe_style(label, i)
        color = style.colour
        y = [(positive(v) if metric == "loss" else v) for v in log[metric]]
        data.append(
            line_trace(
                log["step"].tolist(),
                y,
                label,
                color,
                dash=style.dash,
                legendgroup=label,
                hovertemplate=f"{label}<br>step %{{x}}: {value}<extra></extra>",
            )
        )
        if metric != "loss" or not len(log):
            continue
        losses = np.asarray(log["loss"], dtype=float)
        values += [v for v in losses if math.isfinite(v) and 0 < v <= LOSS_CEILING]
        overflowed = not math.isfinite(losses[-1])
        if overflowed or (losses[np.isfinite(losses)] > LOSS_CEILING).any():
            step = int(log["step"].iloc[-1])
            what = f"not finite at step {step}" if overflowed else f"above {LOSS_CEILING:g}"
            data.append(
                dict(
                    type="scatter",
                    mode="markers+text",
                    x=[step],
                    y=[LOSS_CEILING],
                    marker=dict(symbol="x", size=14, color=color),
                    text=[f"  {label}: loss {fmt(losses[0])} at step 1, {what} ↑"],
                    textposition="bottom right",
                    cliponaxis=False,
                    showlegend=False,
                    legendgroup=label,
                    hovertemplate=f"{label}: the loss reached {losses[-1]:.4g}<extra></extra>",
                )
            )
            ends.append(f"{label}: {what}")
    if metric == "loss":
        sub = (
            f"Minibatch cross-entropy, log scale up to {LOSS_CEILING:g}. ln 10 = 2.3 (dotted) is what a network "
            "that knows nothing scores."
        )
        yaxis = log_axis("loss", [min(values + [0.01]) * 0.5, LOSS_CEILING])
        yaxis["range"] = [yaxis["range"][0], math.log10(LOSS_CEILING)]
        shapes = [reference_line(math.log(10))]
        title = "Training loss"
    else:
        sub = "Mean minibatch accuracy over the last 20 steps. 10% (dotted) is chance for 10 classes."
        yaxis = dict(range=[0, 1.02], tickformat=".0%", title=dict(text="accuracy"))
        shapes = [reference_line(0.1)]
        title = "Training accuracy"
    if ends:
        sub += "<br>✕ " + "; ".join(ends)
    if notes:
        sub += "<br>" + "; ".join(f"{k}: {v}" for k, v in notes.items())
    xaxis: dict[str, Any] = dict(title=dict(text="SGD step"))
    if total_steps:
        xaxis["range"] = [0, total_steps + 1]
    # Room for the axis titles ("loss", "accuracy") and the tick labels: nothing is clipped.
    layout = lab_layout(
        height,
        title=lab_title(title, sub),
        yaxis=yaxis,
        xaxis=xaxis,
        shapes=shapes,
        margin=margin(l=80, t=110, b=70),
    )
    return build(dict(data=data, layout=layout))


# ------------------------------------------------------------------ weights as pictures


def filter_grid_figure(image: np.ndarray, title: str, sub: str, height: int | None = None) -> go.Figure:
    """An RGB filter grid (from pinit.lab.pictures.filter_grid) as an image, square pixels, no axes."""
    h, w, _ = image.shape
    data = [
        dict(
            type="image",
            z=np.ascontiguousarray(image, dtype=np.uint8),
            hovertemplate="x %{x}, y %{y}: RGB %{z}<extra></extra>",
        )
    ]
    axis = dict(visible=False, showgrid=False)
    layout = lab_layout(
        height or int(90 + 520 * h / max(w, 1)) + 20,
        margin=margin(l=10, r=10, t=90, b=10),
        title=lab_title(title, sub),
        xaxis=dict(axis, constrain="domain"),
        yaxis=dict(axis, scaleanchor="x", autorange="reversed"),
    )
    return build(dict(data=data, layout=layout))


def weight_heatmap_figure(
    matrix: np.ndarray, name: str, shape: Sequence[int], block: tuple[float, float], how: str, height: int = 520
) -> go.Figure:
    """A (downsampled) weight matrix: rows are output units, columns inputs (fan-in)."""
    r, c = matrix.shape
    finite = matrix[np.isfinite(matrix)]
    z = np.where(np.isfinite(matrix), matrix, np.nan).astype(np.float32)  # packed binary: 4 bytes a cell
    shape_text = "(" + ", ".join(map(str, shape)) + ")"
    exact = block[0] == int(block[0]) and block[1] == int(block[1])
    if block == (1.0, 1.0):
        pooled = "every weight drawn as it is."
    else:
        size = f"{block[0]:.3g} × {block[1]:.3g}" if exact else f"about {block[0]:.3g} × {block[1]:.3g}"
        pooled = f"each cell is the {'mean' if how == 'mean' else 'RMS'} of a block of {size} weights" + (
            " (a mean of many random weights is much smaller than one weight: read the pattern, not the size)."
            if how == "mean"
            else " (the weights' scale)."
        )
    sub = (
        f"{shape_text} shown as {r} × {c}: {pooled}<br>Rows: output units; columns: inputs (fan-in"
        + (", each kernel flattened" if len(shape) > 2 else "")
        + ")."
        + ("" if len(finite) == matrix.size else f" Blank: NaN/Inf ({matrix.size - len(finite)} cells).")
    )
    if how == "mean":
        m = float(np.abs(finite).max()) if len(finite) else 1.0
        trace = dict(colorscale="RdBu", zmid=0, zmin=-m or -1, zmax=m or 1)
    else:
        trace = dict(colorscale="Viridis", zmin=0)
    rows0 = [int(i * block[0]) for i in range(r)]  # the first original row/column of each cell
    cols0 = [int(j * block[1]) for j in range(c)]
    data = [
        dict(
            type="heatmap",
            z=z,
            x=cols0,
            y=rows0,
            colorbar=dict(title=dict(text=how)),
            hovertemplate="output units from %{y}, inputs from %{x}: " + how + " %{z:.4g}<extra></extra>",
            **trace,
        )
    ]
    layout = lab_layout(
        height,
        margin=margin(t=95, b=50),
        title=lab_title(name, sub),
        yaxis=dict(autorange="reversed", title=dict(text="output unit")),
        xaxis=dict(title=dict(text="input (fan-in index)")),
    )
    return build(dict(data=data, layout=layout))
