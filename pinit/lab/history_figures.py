"""Figures of weights through training (pinit.lab.history): ridgelines, overlays and update ratios.

TensorBoard's Histograms dashboard, for two plans side by side: each parameter's histogram
at every recorded step, either stacked by step (offset mode, a ridgeline) or on one baseline
(overlay mode), with the scheme's law over step 0. A step slider and a Play button live in
the figure (plotly frames), so moving through the steps redraws in the browser with no
round trip to the server. Every histogram is drawn as a density (count / (numel x bin
width)), so plans with different bins share one axis; the counts in the two overflow bins
(values outside the step-0 range) are written under the chart, never silently dropped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

from ..figures import build
from ..style import (
    A_COLOR,
    B_COLOR,
    EXPECTED,
    INK,
    PLAN_COLORS,
    REFERENCE,
    SECOND,
    fmt,
    fmt_shape,
    lab_layout,
    legend_below,
    line_trace,
    log_axis,
    margin,
    panel_note,
    positive,
    rgba,
    title,
)
from .history import HEALTHY_UPDATE_RATIO, WeightHistory

__all__ = ["MODES", "ridgeline_figure", "update_ratio_figure"]

MODES = ("offset", "overlay")
_COLORS = (A_COLOR, B_COLOR)
_RIDGE = 2.2  # a ridge's tallest peak, in record intervals: neighbours overlap a little, as in TensorBoard


def _densities(h: WeightHistory, name: str) -> tuple[list[int], list[float], dict[int, list[float]], dict[int, int]]:
    """(steps, step-0 edges, {step: density per bin}, {step: values outside the step-0 range})."""
    rows = h.histograms[h.histograms["name"] == name]
    numel = h.numel(name)
    inside = rows[rows["left"].map(math.isfinite) & rows["right"].map(math.isfinite)]
    outside = rows[~(rows["left"].map(math.isfinite) & rows["right"].map(math.isfinite))]
    steps = sorted(int(s) for s in rows["step"].unique())
    first = inside[inside["step"] == steps[0]]
    edges = [*first["left"].tolist(), float(first["right"].iloc[-1])]
    widths = [b - a for a, b in zip(edges[:-1], edges[1:])]
    dens: dict[int, list[float]] = {s: [] for s in steps}
    for step, count in zip(inside["step"].tolist(), inside["count"].tolist()):
        dens[step].append(count / (numel * widths[len(dens[step])]))
    out: dict[int, int] = dict.fromkeys(steps, 0)
    for step, count in zip(outside["step"].tolist(), outside["count"].tolist()):
        out[step] += int(count)
    return steps, edges, dens, out


def _outline(
    edges: Sequence[float], dens: Sequence[float], base: float, scale: float
) -> tuple[list[float], list[float]]:
    """A histogram's outline as a closed polygon standing on y = base: fillable with fill='toself'."""
    xs, ys = [edges[0]], [base]
    for left, right, d in zip(edges[:-1], edges[1:], dens):
        xs += [left, right]
        ys += [base + d * scale, base + d * scale]
    xs.append(edges[-1])
    ys.append(base)
    return xs, ys


def _law(h: WeightHistory, name: str) -> tuple[list[float], list[float]] | None:
    rows = h.laws[h.laws["name"] == name]
    if rows.empty:
        return None
    numel = h.numel(name)
    x = ((rows["left"] + rows["right"]) / 2).tolist()
    y = (rows["expected"] / (numel * (rows["right"] - rows["left"]))).tolist()
    return x, y


def _panel_note(label: str, h: WeightHistory, name: str, out: dict[int, int], steps: list[int]) -> str:
    last = steps[-1]
    numel = h.numel(name)
    std0, std1 = float(h.at(0)[name]["std"]), float(h.at(last)[name]["std"])
    text = f"<b>{label}</b>: σ {fmt(std0)} at step 0 → {fmt(std1)} at step {last}"
    if out.get(last):
        text += f"<br>{out[last]:,} of {numel:,} values outside the step-0 bins at step {last}"
    if h.stop_reason == "non-finite loss":
        text += f"<br>the loss overflowed at step {last + 1}: the run ended"
    elif h.stop_reason == "stopped":
        text += "<br>stopped before the end"
    return text


def _controls(steps: list[int], active: int, big: bool) -> dict[str, Any]:
    """The slider over recorded steps and the Play / Pause buttons, both animating frames in the browser."""
    # redraw False: a frame changes only the x, y of one outline per panel, which plotly moves in place
    # instead of redrawing every ridge at each step (bench/bench_history.py measures the step).
    frame_args = dict(mode="immediate", frame=dict(duration=0, redraw=False), transition=dict(duration=0))
    return dict(
        sliders=[
            dict(
                active=active,
                currentvalue=dict(prefix="step ", font=dict(size=15 if big else 12)),
                pad=dict(t=55, l=10),
                x=0.17,  # clear of the Play / pause buttons at 1024 px
                len=0.83,
                steps=[dict(method="animate", label=str(s), args=[[str(s)], frame_args]) for s in steps],
            )
        ],
        updatemenus=[
            dict(
                type="buttons",
                direction="left",
                showactive=False,
                x=0,
                y=0,
                xanchor="left",
                yanchor="top",
                pad=dict(t=65, r=10),
                buttons=[
                    dict(
                        label="▶ Play",
                        method="animate",
                        # Every frame by name, from step 0: `None` ("all frames") reaches Plotly as [] through
                        # Streamlit's chart element, and Play then does nothing.
                        args=[
                            [str(s) for s in steps],
                            dict(frame=dict(duration=350, redraw=False), mode="immediate", transition=dict(duration=0)),
                        ],
                    ),
                    dict(label="❚❚", method="animate", args=[[None], dict(frame_args, frame=dict(duration=0))]),
                ],
            )
        ],
    )


def ridgeline_figure(
    runs: Sequence[tuple[str, WeightHistory]],
    name: str,
    mode: str = "offset",
    shared_x: bool = True,
    height: int = 520,
    big: bool = False,
) -> go.Figure:
    """One parameter through training, one panel per run, with a step slider and Play.

    offset: each recorded step's density stacked at its step (y = step; step 0 at the bottom
    with the law over it); the slider moves a dark outline onto the chosen step's ridge. overlay: every
    step faint on one baseline, the chosen step bold, step 0 outlined and the law in red.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if not runs:
        raise ValueError("no runs to draw")
    n = len(runs)
    data: list[dict[str, Any]] = []
    frames_data: dict[int, list[dict[str, Any]]] = {}
    frame_traces: list[int] = []
    notes: list[str] = []
    all_steps: set[int] = set()
    lo, hi = math.inf, -math.inf
    shape = runs[0][1].shape(name)
    per_run = []
    for label, h in runs:
        steps, edges, dens, out = _densities(h, name)
        per_run.append((label, h, steps, edges, dens, out))
        all_steps.update(steps)
        lo, hi = min(lo, edges[0]), max(hi, edges[-1])
    slider_steps = sorted(all_steps)
    # One spacing for every panel (the longest run's record interval), so ridges have one height scale
    gap = max(max(slider_steps) / max(len(slider_steps) - 1, 1), 1.0)
    for i, (label, h, steps, edges, dens, out) in enumerate(per_run):
        color = _COLORS[i % len(_COLORS)]
        ax = "" if i == 0 else str(i + 1)
        peak = max((max(d) for d in dens.values()), default=1.0) or 1.0
        law = _law(h, name)
        notes.append(_panel_note(label, h, name, out, steps))
        offset = mode == "offset"
        scale = _RIDGE * gap / peak if offset else 1.0
        lift = 1.0 if offset else 0.0  # offset stands each step's ridge at y = step; overlay puts all on 0

        def outline(step: int) -> tuple[list[float], list[float]]:
            return _outline(edges, dens[step], lift * step, scale)  # noqa: B023 (called in this iteration only)

        def panel(xs: Sequence[Any], ys: Sequence[Any], color: str, name: str | None, **more: Any) -> dict[str, Any]:
            return line_trace(xs, ys, name, color, xaxis=f"x{ax}", yaxis=f"y{ax}", **more)  # noqa: B023

        if offset:
            for k, step in enumerate(reversed(steps)):  # the latest first: earlier ridges are drawn in front
                alpha = 0.25 + 0.6 * (1 - k / max(len(steps) - 1, 1))
                xs, ys = outline(step)
                data.append(
                    panel(
                        xs,
                        ys,
                        rgba(color, min(alpha + 0.2, 1)),
                        f"{label}, step {step}",
                        width=1,
                        fill="toself",
                        fillcolor=rgba(color, alpha * 0.55),
                        showlegend=False,
                        hovertemplate=f"{label}<br>step {step}<extra></extra>",
                    )
                )
        else:
            for k, step in enumerate(steps):
                xs, ys = outline(step)
                faint = rgba(color, 0.12 + 0.3 * k / max(len(steps) - 1, 1))
                data.append(panel(xs, ys, faint, None, width=1, hoverinfo="skip", showlegend=False))
            xs, ys = outline(steps[0])
            data.append(
                panel(
                    xs, ys, REFERENCE, "step 0", width=1.5, dash="dot", legendgroup="step0", showlegend=i == 0,
                    hoverinfo="skip",
                )
            )  # fmt: skip
        if law is not None:
            data.append(
                panel(
                    law[0],
                    [v * scale for v in law[1]],
                    EXPECTED,
                    "step 0 expected under the scheme's law",
                    legendgroup="law",
                    showlegend=i == 0,
                    hoverinfo="skip",
                )
            )
        # The chosen step: one trace per panel moved by the slider (only its x, y change, so plotly moves
        # it without redrawing the figure): a dark outline over its ridge, or filled over the faint steps.
        frame_traces.append(len(data))
        xs, ys = outline(steps[-1])
        chosen = f"{label}: the chosen step"
        if offset:
            data.append(panel(xs, ys, INK, chosen, hoverinfo="skip", showlegend=False))
        else:
            data.append(
                panel(
                    xs,
                    ys,
                    color,
                    chosen,
                    fill="toself",
                    fillcolor=rgba(color, 0.45),
                    hovertemplate=f"{label}<br>density %{{y:.4g}}<extra></extra>",
                )
            )
        for s in slider_steps:
            shown = max((t for t in steps if t <= s), default=steps[0])  # a run that ended early stays there
            fx, fy = outline(shown)
            frames_data.setdefault(s, []).append(dict(x=fx, y=fy))
    pad = (hi - lo) * 0.02 or 0.5
    xr = [lo - pad, hi + pad]
    width = 1.0 / n
    lay = lab_layout(height, margin=margin(t=175 if big else 150, b=165 if big else 150))
    annotations = []
    for i in range(n):
        ax = "" if i == 0 else str(i + 1)
        dom = [i * width + (0.04 if i else 0), (i + 1) * width - (0.04 if i < n - 1 else 0)]
        xaxis: dict[str, Any] = dict(domain=dom, anchor=f"y{ax}", title=dict(text="weight value"))
        if shared_x:
            xaxis["range"] = xr
        lay[f"xaxis{ax}"] = xaxis
        lay[f"yaxis{ax}"] = dict(
            anchor=f"x{ax}",
            title=dict(text="training step" if mode == "offset" else "density"),
            **({"matches": "y"} if i and mode == "offset" else {}),
        )
        annotations.append(panel_note(notes[i], dom[0], 1.02, font=dict(size=12)))
    lay["annotations"] = annotations
    how = (
        "stacked by step (offset), step 0 at the bottom, the chosen step outlined in black"
        if mode == "offset"
        else "every step faint, the chosen step filled, step 0 dotted (overlay)"
    )
    lay["title"] = title(
        f"{name} {fmt_shape(shape)} through training",
        f"density of the values, {how}; red: the scheme's law at step 0"
        + ("<br>both panels on one x axis: untick Same x axis to see each plan's shape" if shared_x and n > 1 else ""),
        size=15,
    )
    lay["showlegend"] = False  # the subtitle says what each line is: a legend would sit on the slider
    lay.update(_controls(slider_steps, len(slider_steps) - 1, big))
    frames = [dict(name=str(s), data=frames_data[s], traces=frame_traces) for s in slider_steps]
    return build(dict(data=data, layout=lay, frames=frames), big=big)


def update_ratio_figure(runs: Sequence[tuple[str, WeightHistory]], height: int = 380, big: bool = False) -> go.Figure:
    """||W_t - W_{t-1}|| / ||W_t-1|| of every weight tensor at each recorded step, one panel per run.

    Log y axis shared by the panels, with the rule-of-thumb band around 1e-3 (half a decade
    each way) where a layer learns at a healthy pace; biases are left out (a zero bias has no
    size to be relative to).
    """
    n = len(runs)
    data: list[dict[str, Any]] = []
    values: list[float] = [HEALTHY_UPDATE_RATIO]
    names = [nm for nm in runs[0][1].names if nm.endswith("weight")]
    annotations = []
    shapes = []
    width = 1.0 / max(n, 1)
    for i, (label, h) in enumerate(runs):
        ax = "" if i == 0 else str(i + 1)
        s = h.stats
        moved = False
        for j, nm in enumerate(nm for nm in h.names if nm.endswith("weight")):
            rows = s[(s["name"] == nm) & (s["step"] > 0)]
            ys = [positive(v) for v in rows["update_ratio"]]
            moved = moved or any(v is not None for v in ys)
            values += [v for v in ys if v is not None]
            data.append(
                line_trace(
                    rows["step"].tolist(),
                    ys,
                    nm,
                    PLAN_COLORS[j % len(PLAN_COLORS)],
                    width=1.5,
                    markers=4,
                    legendgroup=nm,
                    showlegend=i == 0 and nm in names,
                    hovertemplate=f"{label}<br>{nm}<br>step %{{x}}: %{{y:.3g}}<extra></extra>",
                    xaxis=f"x{ax}",
                    yaxis=f"y{ax}",
                )
            )
        dom = [i * width + (0.05 if i else 0), (i + 1) * width - (0.05 if i < n - 1 else 0)]
        shapes.append(
            dict(
                type="rect",
                xref=f"x{ax} domain",
                yref=f"y{ax}",
                x0=0,
                x1=1,
                y0=HEALTHY_UPDATE_RATIO / math.sqrt(10),
                y1=HEALTHY_UPDATE_RATIO * math.sqrt(10),
                fillcolor=rgba(SECOND, 0.15),  # green: where a layer learns at a healthy pace
                line=dict(width=0),
                layer="below",
            )
        )
        text = f"<b>{label}</b>"
        if not moved:
            text += ": no weight moved (every update 0)"
        elif h.stop_reason == "non-finite loss":
            text += f": loss overflowed after step {h.steps_done}"
        annotations.append(panel_note(text, dom[0]))
    y = log_axis("‖ΔW‖ / ‖W‖ per step", values)
    lay = lab_layout(height, margin=margin(l=70, t=95, b=60), legend=legend_below(-0.28))
    for i in range(n):
        ax = "" if i == 0 else str(i + 1)
        dom = [i * width + (0.05 if i else 0), (i + 1) * width - (0.05 if i < n - 1 else 0)]
        last = max((int(h.stats["step"].max()) for _, h in runs[i : i + 1]), default=1)
        lay[f"xaxis{ax}"] = dict(
            domain=dom, anchor=f"y{ax}", title=dict(text="training step"), **({"dtick": 1} if last <= 10 else {})
        )
        lay[f"yaxis{ax}"] = dict(y, anchor=f"x{ax}", **({"matches": "y"} if i else {}))
    lay["shapes"] = shapes
    lay["annotations"] = annotations
    lay["title"] = title(
        "How big is one step? The update ratio of each layer",
        "‖W after − W before‖ / ‖W before‖ of one SGD step; green band: around 0.001, where a layer learns at a "
        "healthy pace",
        size=15,
    )
    return build(dict(data=data, layout=lay), big=big)
