"""Plotly figures for the lesson (pinit.lab.lesson's results): one full-width chart per step.

Each step's chart must read from the back of a classroom: few lines, the numbers that
matter written on the chart, and the same fixed axis across the steps a class compares
(the article's recipe and Kaiming share one log axis, so "level" looks level). With
``big=True`` the text is enlarged for a projector (pinit.style.presenter).
"""

from __future__ import annotations

import copy
import math
from typing import Any

import plotly.graph_objects as go

from ..figures import build
from ..style import (
    EXPECTED,
    FADED,
    LABEL_BACKGROUND,
    PHONE_WIDTH,
    REFERENCE,
    WIDE_WIDTH,
    fit_width,
    fmt,
    layout,
    legend_below,
    legend_right,
    line_trace,
    log_axis,
    margin,
    positive,
    presenter,
    recipe_style,
    title,
)
from .lesson import DepthStory, SignalTrace, SymmetryStory, TrainingStory, spread_text

__all__ = ["depth_story_figure", "signal_trace_figure", "symmetry_story_figure", "training_story_figure"]

# One fixed axis for steps 1 and 2: from below the input's RMS to above the article's logits.
SIGNAL_AXIS = (0.3, 3e4)
LOSS_CEILING = 100.0  # the training chart's top: 40x ln 10


def _finish(
    spec: dict[str, Any], big: bool, narrow: bool = False, heading: str | None = None, big_sub: str | None = None
) -> go.Figure:
    """The figure, presenter-sized when `big`, laid out for a phone's width when `narrow` (else a
    projector's): its title (`heading` in bold when given) and subtitle wrap instead of being cut,
    and its legend sits under the plot, never on the data (pinit.style.fit_width).

    A phone's wrapped titles and legend rows, and a projector's larger text, need wider margins:
    the figure grows by as much, so its plot area is never smaller than on the page (on a phone it
    was a 90 px strip; in presenter mode 103 px against 137). To keep the projector's step on one
    screen, presenter mode also spends less height on what is not data: the legend stands to the
    right of the plot (the plot is wide, the screen is short), and `big_sub` (the subtitle without
    the numbers the metrics above the chart already show in large type) replaces the subtitle.
    """
    if heading is not None:
        spec["layout"]["title"]["text"] = f"<b>{heading}</b>"
    if big or narrow:
        plain = fit_width({"layout": copy.deepcopy(spec["layout"]), "data": spec["data"]}, WIDE_WIDTH)["layout"]
        if big:
            if big_sub is not None:
                spec["layout"]["title"]["subtitle"]["text"] = big_sub
            presenter(spec)
        fit_width(spec, PHONE_WIDTH if narrow else WIDE_WIDTH)
        if big and not narrow:
            legend_right(spec)
        m, m0 = spec["layout"]["margin"], plain["margin"]
        spec["layout"]["height"] += max(0, m["t"] + m["b"] - m0["t"] - m0["b"])
    else:
        fit_width(spec, WIDE_WIDTH)
    return build(spec)


def _trace_lines(trace: SignalTrace, color: str, faded: bool) -> list[dict[str, Any]]:
    label = trace.preset  # the subtitle says it is the median of the seeds
    lines: list[dict[str, Any]] = [
        dict(
            type="scatter",
            mode="lines+markers",
            x=list(trace.layers),
            y=[positive(v) for v in trace.rms],
            name=label if not faded else f"{trace.preset} (step 1)",
            line=dict(color=FADED if faded else color, width=2 if faded else 4, dash="dot" if faded else "solid"),
            marker=dict(size=7 if faded else 11, color=FADED if faded else color),
            hovertemplate="%{x}: RMS %{y:.3g}<extra>" + trace.preset + "</extra>",
        )
    ]
    if not faded:  # every seed's value as a small dot: the spread behind the median
        xs = [layer for _ in trace.rms_by_seed for layer in trace.layers]
        ys = [positive(v) for seed_rms in trace.rms_by_seed for v in seed_rms]
        lines.append(
            dict(
                type="scatter",
                mode="markers",
                x=xs,
                y=ys,
                name="each seed",
                showlegend=False,
                marker=dict(size=5, color=color, opacity=0.35),
                hoverinfo="skip",
            )
        )
    return lines


def signal_trace_figure(
    trace: SignalTrace,
    reference: SignalTrace | None = None,
    big: bool = False,
    height: int = 360,
    annotate: str | None = None,
    narrow: bool = False,
    heading: str | None = None,
) -> go.Figure:
    """The signal's RMS after each Conv2d/Linear layer of SimpleCNN on one fixed log axis.

    The gain of layer `annotate` (default: the layer with the largest gain, the article's fc1:
    ×45) is written on the chart at that layer; `reference` (the previous step's plan) is drawn
    faded behind, so a class sees before and after.
    """
    color = recipe_style(trace.preset).colour
    data = (_trace_lines(reference, color, faded=True) if reference is not None else []) + _trace_lines(
        trace, color, faded=False
    )
    data.append(
        dict(
            type="scatter",
            mode="lines",
            x=[trace.layers[0], trace.layers[-1]],
            y=[1, 1],
            name="the input's RMS (1)",
            line=dict(color=REFERENCE, dash="dash", width=1),
            hoverinfo="skip",
        )
    )
    gains = [g if math.isfinite(g) else 0.0 for g in trace.gains]
    k = trace.layers.index(annotate) if annotate in trace.layers else max(range(len(gains)), key=lambda i: gains[i])
    gain_text = spread_text(trace.gain_by_seed(trace.layers[k]), prefix="×").split(" (")[0]
    annotations = [
        dict(
            x=trace.layers[k],
            y=math.log10(positive(trace.rms[k]) or 1.0),
            text=f"<b>{gain_text}</b> at {trace.layers[k]}",
            showarrow=True,
            arrowhead=2,
            # Up-left of the point, where the rising line has not been yet; with the faded plan drawn
            # above (step 2), to the right and just above, between the level line and the faded one.
            ax=-70 if reference is None else 70,
            ay=-35 if reference is None else -16,
            font=dict(size=15, color=color),
            bgcolor=LABEL_BACKGROUND,
        )
    ]
    sub = (
        f"RMS of each layer's output on 64 probe images, median of {len(trace.seeds)} seeds (dots: each seed) · "
        f"logits std {spread_text(trace.logits_std_by_seed).split(' (')[0]} · "
        f"loss at init {spread_text(trace.loss_by_seed).split(' (')[0]} (ln 10 = 2.30) · same log axis in steps 1 and 2"
    )
    # On a projector the logits std and the loss are the metrics above the chart, in large type.
    big_sub = f"64 probe images, median of {len(trace.seeds)} seeds (dots: each seed) · one log axis for steps 1 and 2"
    spec = dict(
        data=data,
        layout=layout(
            height,
            title=title(f"{trace.preset}: how big the signal is after each layer", sub),
            xaxis=dict(type="category"),
            yaxis=log_axis("RMS of the layer's output", [], fixed=SIGNAL_AXIS),
            annotations=annotations,
            legend=legend_below(size=12),  # under the plot (fit_width places it)
            margin=margin(l=70, t=64, b=36),
        ),
    )
    return _finish(spec, big, narrow, heading, big_sub)


def _decades(axis: dict[str, Any]) -> dict[str, Any]:
    """A log axis labelled at whole decades written one way, 10ᵏ (1, 10⁻³, 10⁻⁶), not 0.001 beside 10⁻⁶."""
    sup = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
    exps = [round(math.log10(t)) for t in axis["tickvals"]]
    if all(math.isclose(t, 10.0**e) for t, e in zip(axis["tickvals"], exps)):
        axis["ticktext"] = ["1" if e == 0 else "10" if e == 1 else "10" + str(e).translate(sup) for e in exps]
    return axis


def depth_story_figure(
    story: DepthStory, big: bool = False, height: int = 360, narrow: bool = False, heading: str | None = None
) -> go.Figure:
    """The std after each of `depth` ReLU layers per scheme: measured (solid, median over seeds)
    and the mean-field prediction (dashed); the legend gives each one's factor per layer."""
    data: list[dict[str, Any]] = []
    values: list[float] = []
    layers = list(range(1, story.depth + 1))
    for scheme in story.schemes:
        color = recipe_style(scheme).colour
        measured, predicted = story.std[scheme], story.predicted[scheme]
        values += [v for v in measured if positive(v)] + [v for v in predicted if positive(v)]
        data.append(
            line_trace(
                layers,
                [positive(v) for v in measured],
                scheme,
                color,
                width=4,
                legendgroup=scheme,
                hovertemplate=f"{scheme}<br>layer %{{x}}: std %{{y:.3g}}<extra></extra>",
            )
        )
        data.append(
            line_trace(
                layers,
                [positive(v) for v in predicted],
                None,
                color,
                dash="dash",
                showlegend=False,
                legendgroup=scheme,
                hoverinfo="skip",
            )
        )
        dependent = story.input_std[scheme]
        values += [v for v in dependent if positive(v)]
        data.append(
            line_trace(
                layers,
                [positive(v) for v in dependent],
                None,
                color,
                dash="dot",
                markers=5,
                marker=dict(color=color, size=5, symbol=recipe_style(scheme).marker),  # the recipe's second cue
                showlegend=False,
                legendgroup=scheme,
                hovertemplate=f"{scheme}<br>layer %{{x}}: the input's part %{{y:.3g}}<extra></extra>",
            )
        )
    sub = (
        f"DeepMLP, {story.depth} Linear layers of {story.width}, {story.activation}; solid: measured (median of "
        f"{len(story.seeds)} seeds), dashed: the formula, dotted: the part that depends on the input · log scale"
    )
    big_sub = (
        f"{story.width} wide, {story.activation} · solid: measured (median of {len(story.seeds)} seeds) · "
        "dashed: formula · dotted: the input's part"
    )
    spec = dict(
        data=data,
        layout=layout(
            height,
            title=title(f"{story.depth} ReLU layers deep: which init keeps the signal?", sub),
            xaxis=dict(title=dict(text="layer"), range=[0.5, story.depth + 0.5]),
            # Ten decades in a plot under 200 px tall: a label every two or three decades, not ten on top
            # of each other.
            yaxis=_decades(log_axis("std of the layer's output", values, max_labels=5)),
            legend=legend_below(size=12),  # under the plot (fit_width places it)
            margin=margin(l=70, t=64, b=36),
        ),
    )
    return _finish(spec, big, narrow, heading, big_sub)


def symmetry_story_figure(
    story: SymmetryStory, big: bool = False, height: int = 340, narrow: bool = False, heading: str | None = None
) -> go.Figure:
    """Distinct units in each hidden layer after `steps` SGD steps, per scheme, against the width."""
    data: list[dict[str, Any]] = []
    for scheme in story.schemes:
        after = story.distinct_after[scheme]
        data.append(
            dict(
                type="bar",
                x=list(story.layers),
                y=list(after),
                name=scheme,
                marker=dict(color=recipe_style(scheme).colour),
                text=[str(v) for v in after],
                textposition="outside",
                cliponaxis=False,
                hovertemplate=f"{scheme}<br>%{{x}}: %{{y}} distinct units of {story.width}<extra></extra>",
            )
        )
    data.append(
        dict(
            type="scatter",
            mode="lines",
            x=[None],
            y=[None],
            name=f"width: {story.width} units",
            line=dict(color=REFERENCE, dash="dash", width=1),
        )
    )
    sub = (
        f"DeepMLP, {story.depth} layers of {story.width} units, {story.activation}; after {story.steps} SGD steps · "
        "1 = every unit is a copy of one"
    )
    spec = dict(
        data=data,
        layout=layout(
            height,
            title=title("How many different units does each layer have?", sub),
            barmode="group",
            xaxis=dict(title=dict(text="hidden layer")),
            yaxis=dict(title=dict(text="distinct units"), range=[0, story.width * 1.2]),
            # The width line is named in the legend, under the plot: a label on the line sat on a bar's "64".
            shapes=[
                dict(
                    type="line",
                    xref="paper",
                    x0=0,
                    x1=1,
                    y0=story.width,
                    y1=story.width,
                    line=dict(color=REFERENCE, dash="dash", width=1),
                )
            ],
            margin=margin(l=70, t=64, b=50),
        ),
    )
    return _finish(spec, big, narrow, heading)


def training_story_figure(
    story: TrainingStory,
    big: bool = False,
    height: int = 360,
    frames: int = 12,
    narrow: bool = False,
    heading: str | None = None,
) -> go.Figure:
    """Each plan's training loss per step (log y), with a ▶ Replay button that redraws the runs
    from step 1 in the browser (plotly frames: no work on the server). ✕ marks an overflow."""
    names = list(story.runs)
    logs = {n: story.runs[n].log for n in names}
    steps = max(len(log) for log in logs.values())
    # A run whose loss leaves the axis (above LOSS_CEILING, or inf) gets a ✕ on the top edge that says
    # what happened: written beside the ✕ on a wide chart; on a phone's narrow one two lines of text
    # there sat on the dashed ln 10 line, so there the legend under the plot says it.
    gone: dict[str, tuple[str, str]] = {}  # name: (its loss at step 1, what happened)
    for n in names:
        run, log = story.runs[n], logs[n]
        above = [v for v in log["loss"] if math.isfinite(v) and v > LOSS_CEILING]
        if run.stop_reason == "non-finite loss" or above:
            what = f"overflowed at step {run.steps_done}" if run.stop_reason == "non-finite loss" else "off the chart"
            gone[n] = (fmt(log["loss"].iloc[0]), what)
    label = {n: f"{n}: loss {gone[n][0]} at step 1" if narrow and n in gone else n for n in names}

    def lines(upto: int) -> list[dict[str, Any]]:
        out = []
        for n in names:
            log = logs[n][logs[n]["step"] <= upto]
            ys = [positive(v) for v in log["loss"]]
            out.append(
                dict(
                    type="scatter",
                    mode="lines",
                    x=log["step"].tolist(),
                    y=ys,
                    name=label[n],
                    line=dict(color=recipe_style(n).colour, width=3, dash=recipe_style(n).dash),
                    hovertemplate=f"{n}<br>step %{{x}}: loss %{{y:.3g}}<extra></extra>",
                )
            )
        return out

    data = lines(steps)
    # The axis stops at LOSS_CEILING: a run whose loss is in the thousands (then inf) would squeeze the
    # runs that learn into a flat line at the bottom. Its ✕ sits on the top edge and says what happened.
    for n, (first, what) in gone.items():
        log = logs[n]
        data.append(
            dict(
                type="scatter",
                mode="markers" if narrow else "markers+text",
                x=[int(log["step"].iloc[-1])],
                y=[LOSS_CEILING],
                marker=dict(symbol="x", size=16, color=recipe_style(n).colour),
                name=f"{n}: {what} ↑",
                showlegend=narrow,
                text=None if narrow else [f"  {n}: loss {first} at step 1, {what} ↑"],
                textposition="bottom right",
                hoverinfo="skip",
                cliponaxis=False,
            )
        )
    values = [v for log in logs.values() for v in log["loss"] if positive(v) and v <= LOSS_CEILING]
    cut = [max(1, round(steps * (i + 1) / frames)) for i in range(frames)]
    anim_frames = [dict(name=str(c), data=lines(c), traces=list(range(len(names)))) for c in cut]
    c = story.settings
    sub = (
        f"SimpleCNN on synthetic gratings, seed {story.seeds[0]} of {len(story.seeds)}: SGD lr {c.lr:g}, "
        f"momentum {c.momentum:g}, batch {c.batch_size}, {c.steps} steps · "
        "dashed: ln 10 = 2.30, a network that knows nothing · log scale"
    )
    big_sub = (
        f"seed {story.seeds[0]} of {len(story.seeds)} · SGD lr {c.lr:g}, momentum {c.momentum:g}, batch "
        f"{c.batch_size} · dashed: ln 10 = 2.30, knowing nothing"
    )
    spec = dict(
        data=data,
        frames=anim_frames,
        layout=layout(
            height,
            title=title("Training from each init: the loss at every step", sub),
            xaxis=dict(title=dict(text="SGD step"), range=[0, steps + 1]),
            yaxis=log_axis("training loss", [], fixed=(min(values + [0.01]) * 0.5, LOSS_CEILING)),
            shapes=[
                dict(
                    type="line",
                    xref="paper",
                    x0=0,
                    x1=1,
                    y0=math.log(10),
                    y1=math.log(10),
                    line=dict(color=EXPECTED, dash="dash", width=1),
                )
            ],
            updatemenus=[
                dict(
                    type="buttons",
                    showactive=False,
                    # Inside the plot's bottom left, where no run is (every loss starts at ln 10 or above and
                    # falls later, to the right): above the plot it sat on the wrapped subtitle, at the
                    # top right on the overflow's label.
                    x=0.01,
                    y=0.03,
                    xanchor="left",
                    yanchor="bottom",
                    buttons=[
                        dict(
                            label="▶ Replay",
                            method="animate",
                            args=[
                                None,
                                dict(
                                    frame=dict(duration=250, redraw=False),
                                    fromcurrent=False,
                                    transition=dict(duration=0),
                                    mode="immediate",
                                ),
                            ],
                        )
                    ],
                )
            ],
            margin=margin(l=70, t=64, b=50),
        ),
    )
    return _finish(spec, big, narrow, heading, big_sub)
