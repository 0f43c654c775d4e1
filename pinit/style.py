"""One figure style for every chart pinit draws: colours, number and shape formats, layout, axes.

Plain data only (no plotly import): the figure modules (pinit.figures and pinit.lab's
figures, beyond_figures, history_figures and lesson_figures) build plain plotly specs from
these pieces, so every chart has the same colours, margins, legend, title/subtitle and log
axes, and `presenter()` can enlarge the text of any of them for a projector. No figure
module writes a colour, a margin or a legend of its own (tests/test_figure_style.py).
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Iterable
from typing import Any

from .recipes import FALLBACK, RECIPES, RecipeStyle, recipe_style
from .text import number

__all__ = [
    "A_COLOR",
    "B_COLOR",
    "CAPTION_COLOR",
    "EXPECTED",
    "FADED",
    "GROW",
    "INK",
    "LABEL_BACKGROUND",
    "LAB_MARGIN",
    "MARGIN",
    "MEASURED",
    "MUTED",
    "PHONE_WIDTH",
    "PLAN_COLORS",
    "PREDICTED",
    "PRESENTER_FONT",
    "PRESENTER_MIN",
    "REFERENCE",
    "SCHEME_COLORS",
    "SECOND",
    "SHRINK",
    "TICK_COLOR",
    "WIDE_WIDTH",
    "RecipeStyle",
    "fit_width",
    "fmt",
    "fmt_number",
    "fmt_shape",
    "for_phone",
    "lab_layout",
    "lab_title",
    "layout",
    "legend_at_bottom",
    "legend_below",
    "legend_right",
    "line_trace",
    "log_axis",
    "margin",
    "panel_note",
    "positive",
    "presenter",
    "recipe_style",
    "reference_line",
    "rgba",
    "text_px",
    "title",
    "wrap",
]

MEASURED = "#1f77b4"
EXPECTED = "#d62728"  # what a formula predicts: the scheme's law, the mean-field trend
PREDICTED = EXPECTED
A_COLOR, B_COLOR = "#0072B2", "#E69F00"  # Okabe-Ito blue and orange
FADED = "#b8b8b8"
GROW, SHRINK = "#d62728", "#1f77b4"  # a layer that multiplies the signal up / down
SECOND = "#2ca02c"  # a second measured series beside MEASURED: biases beside weights, a fitted tail
INK = "#222222"  # the one mark to look at among faint ones (the chosen step's outline), a zero line
REFERENCE = "#555555"  # a reference line to read against: chance loss, a healthy ½, step 0
MUTED = "#7f7f7f"  # context that should not compete with the data: an edge, a secondary reference
LABEL_BACKGROUND = "rgba(255, 255, 255, 0.85)"  # behind a label that sits over lines: they show through, faintly
# Plans and recipes: one colour, dash and marker per recipe, from the registry (pinit.recipes,
# Okabe-Ito colours); any other label (a custom plan) takes the fallback colours in turn.
PLAN_COLORS = list(FALLBACK)
SCHEME_COLORS = {**{r.label: r.colour for r in RECIPES.values()}, **{r.name: r.colour for r in RECIPES.values()}}

BASE_FONT = 12
PRESENTER_FONT = 17  # chart text on a projector: 16-18 px reads from the back of a room
PRESENTER_MIN = 16  # no text smaller than this in presenter mode, charts included
# Text greys with at least 4.5:1 contrast on white (WCAG AA), for ticks and captions: plotly's and
# Streamlit's own tick grey (#808495) is 3.7:1.
TICK_COLOR = "#555867"  # 7.0:1 on white
CAPTION_COLOR = "#5c5f6b"  # 6.3:1 on white
_LOG_TICKS = [10.0**e for e in range(-45, 46)]


def fmt(x: float | None, digits: int = 3) -> str:
    """A number for a chart, a label or a sentence: pinit.text.number, the page's one way."""
    return number(x, digits)


def fmt_number(x: float | None) -> str:
    """A headline number a class reads aloud (11,500; 1.2×10⁷): the same as fmt, kept as a name."""
    return number(x)


def fmt_shape(shape: Iterable[int]) -> str:
    """(512, 2048) and (10,): a shape as Python prints a tuple."""
    dims = [str(int(d)) for d in shape]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def positive(v: Any) -> float | None:
    """A value for a log axis: None (a gap in the line) unless positive and finite."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if f > 0 and math.isfinite(f) else None


def title(text: str, sub: str = "", size: int = 15, after: str = "") -> dict[str, Any]:
    """A bold title (then `after`, not bold) with a smaller subtitle that carries the numbers to read off."""
    out: dict[str, Any] = dict(
        text=f"<b>{text}</b>" + (f" {after}" if after else ""),
        font=dict(size=size),
        # At the very top of the figure: no empty band between the chart and what is above it.
        y=1,
        yref="container",
        yanchor="top",
        pad=dict(t=6),
    )
    if sub:
        out["subtitle"] = dict(text=sub, font=dict(size=max(size - 3, 10)))
    return out


def rgba(hex_color: str, alpha: float) -> str:
    """A "#rrggbb" colour with transparency `alpha` (0 to 1), as plotly's "rgba(r, g, b, a)"."""
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r}, {g}, {b}, {alpha:.2f})"


MARGIN = dict(l=60, r=20, t=80, b=60)  # px: room for a title over a one-line subtitle, and the x axis
# The lab's charts: a title over a subtitle of up to three lines, and an axis title under the ticks.
LAB_MARGIN = dict(MARGIN, t=90, b=70)
LEGEND_FONT = 11


def margin(**sides: int) -> dict[str, int]:
    """A figure's margins in px: MARGIN with the given sides (l, r, t, b) changed."""
    unknown = set(sides) - set(MARGIN)
    if unknown:
        raise ValueError(f"margin sides are l, r, t and b, got {sorted(unknown)}")
    return dict(MARGIN, **sides)


def legend_below(y: float = -0.18, size: float = LEGEND_FONT, **more: Any) -> dict[str, Any]:
    """A horizontal legend under the plot, its top `y` plot heights below the x axis (in the bottom
    margin, clear of the tick labels), left-aligned, in `size` px: a legend inside the plot sits on
    the data. (fit_width places it for a given width, keeping its font.)"""
    return dict(orientation="h", yanchor="top", y=y, xanchor="left", x=0, font=dict(size=size), **more)


def legend_at_bottom(size: float = LEGEND_FONT) -> dict[str, Any]:
    """A horizontal legend standing on the figure's bottom edge (container coordinates), left-aligned,
    in `size` px: under whatever the bottom margin holds above it (x axis titles, tick names), for
    a figure that sizes that margin itself (a phone's panels; fit_width places one so too)."""
    return dict(orientation="h", yref="container", y=0, yanchor="bottom", xanchor="left", x=0, font=dict(size=size))


def layout(height: int, **overrides: Any) -> dict[str, Any]:
    """The shared layout: no plotly template (Streamlit's theme styles the chart, and a template
    is extra work on every figure), margins that leave room for titles, a horizontal legend below."""
    base: dict[str, Any] = dict(height=height, margin=margin(), legend=legend_below(), font=dict(size=BASE_FONT))
    base.update(overrides)
    return base


def lab_layout(height: int, **overrides: Any) -> dict[str, Any]:
    """layout() for the lab's charts (pinit.lab.figures, beyond_figures, history_figures), whose
    subtitles carry the numbers to read off on up to three lines: LAB_MARGIN, the legend lower."""
    return layout(height, **{"margin": dict(LAB_MARGIN), "legend": legend_below(-0.2), **overrides})


def lab_title(text: str, sub: str = "") -> dict[str, Any]:
    """A lab chart's title: title() one size smaller, so a long subtitle keeps to few lines."""
    return title(text, sub, size=14)


def line_trace(
    x: Iterable[Any],
    y: Iterable[Any],
    name: str | None,
    color: str,
    width: float = 2,
    dash: str | None = None,
    markers: float = 0,
    **more: Any,
) -> dict[str, Any]:
    """A scatter trace drawn as a line in one colour (with dots of size `markers` when given);
    `more` sets any other trace property (hovertemplate, legendgroup, xaxis, ...)."""
    trace: dict[str, Any] = dict(
        type="scatter",
        mode="lines+markers" if markers else "lines",
        x=list(x),
        y=list(y),
        line=dict(color=color, width=width, **({"dash": dash} if dash else {})),
    )
    if name is not None:
        trace["name"] = name
    if markers:
        trace["marker"] = dict(size=markers, color=color)
    trace.update(more)
    return trace


def panel_note(text: str, x: float, y: float = 1.0, **more: Any) -> dict[str, Any]:
    """A left-aligned note standing on the top edge of a panel that starts at paper `x` (a layout
    annotation, no arrow): which run or plan the panel shows, and what to read in it."""
    return (
        dict(
            text=text,
            xref="paper",
            yref="paper",
            x=x,
            y=y,
            xanchor="left",
            yanchor="bottom",
            align="left",
            showarrow=False,
        )
        | more
    )


def reference_line(y: float, dash: str = "dot", color: str = REFERENCE) -> dict[str, Any]:
    """A thin horizontal line across the plot at `y` (a layout shape): a level to read the data against."""
    return dict(type="line", xref="paper", x0=0, x1=1, y0=y, y1=y, line=dict(color=color, dash=dash, width=1))


def log_axis(
    label: str, values: Iterable[Any], fixed: tuple[float, float] | None = None, max_labels: int = 10
) -> dict[str, Any]:
    """A log axis ranged to the data (or to `fixed` = (low, high)), labelled at whole decades
    (at most `max_labels`), or at 1-2-5 steps when the range is under 2.5 decades."""
    if fixed is not None:
        lo, hi = math.log10(fixed[0]), math.log10(fixed[1])
    else:
        vals = [v for v in (positive(x) for x in values) if v is not None] or [1.0]
        lo, hi = math.log10(min(vals)), math.log10(max(vals))
        span = hi - lo
        lo, hi = lo - max(0.15, 0.05 * span), hi + max(0.25, 0.05 * span)
    step = max(1, math.ceil((hi - lo) / max_labels))
    ticks = [t for t in _LOG_TICKS if lo <= math.log10(t) <= hi and round(math.log10(t)) % step == 0]
    if hi - lo < 2.5:  # a narrow range: more ticks per decade, so more than one is labelled
        per = (1, 2, 5) if hi - lo >= 1 else (1, 1.5, 2, 3, 5, 7)
        ticks = [t * m for t in _LOG_TICKS for m in per if lo <= math.log10(t * m) <= hi]
    return dict(
        type="log",
        title=dict(text=label),
        range=[lo, hi],
        tickvals=ticks,
        ticktext=[_tick(t) for t in ticks],
    )


def _tick(t: float) -> str:
    """A log axis label: 0.001 to 10,000 written out, a power of ten beyond (10⁵, 10⁻⁶), never 1e5."""
    e = round(math.log10(t))
    if 1e-3 <= t < 1e5 or not math.isclose(t, 10.0**e):
        return number(t)
    return "10" + str(e).translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))


PHONE_WIDTH, WIDE_WIDTH = 358, 900  # px a chart gets: on a 390 px phone; on a 1024 px projector's main column
_CHAR = 0.56  # the mean width of a character of plotly's sans-serif text, in font sizes
_TAG = re.compile(r"<[^>]+>")


def text_px(text: str, font: float) -> float:
    """About how wide `text` (plotly's HTML-ish markup stripped) is at `font` px."""
    return len(_TAG.sub("", text)) * _CHAR * font


def wrap(text: str, width_px: float, font: float) -> str:
    """`text` broken with <br> at spaces so no line is wider than `width_px` at `font` px (a plotly
    title does not wrap by itself: it is cut at the chart's edge). Existing <br> are kept."""
    chars = max(12, int(width_px / (_CHAR * font)))
    out = []
    for line in text.split("<br>"):
        words, cur = line.split(" "), ""
        for w in words:
            if cur and len(_TAG.sub("", cur + " " + w)) > chars:
                out.append(cur)
                cur = w
            else:
                cur = f"{cur} {w}" if cur else w
        out.append(cur)
    return "<br>".join(out)


def _size(font: Any, default: float) -> float:
    return float((font or {}).get("size") or default)


def _fit_title(lay: dict[str, Any], width: int) -> int | None:
    """Wrap the layout's title and subtitle to `width` px (in place); the top margin their lines take,
    or None without a title."""
    t = lay.get("title")
    if not isinstance(t, dict):
        return None
    base = _size(lay.get("font"), BASE_FONT)
    tf = _size(t.get("font"), base + 3)
    t["text"] = wrap(t.get("text", ""), width - 10, tf)
    if "<br>" in t["text"]:  # plotly lifts a title of several lines above the figure's top edge: pad it down
        t["pad"] = dict(t.get("pad") or {}, t=6 + 0.7 * tf)
    top = (t["text"].count("<br>") + 1) * tf * 1.3 + 8
    sub = t.get("subtitle")
    if isinstance(sub, dict) and sub.get("text"):
        sf = _size(sub.get("font"), base)
        sub["text"] = wrap(sub["text"], width - 10, sf)
        top += (sub["text"].count("<br>") + 1) * sf * 1.3 + 4
    return max(int(top + 10), 30)


def fit_width(spec: dict[str, Any], width: int = WIDE_WIDTH) -> dict[str, Any]:
    """Title, subtitle and legend laid out for a chart `width` px wide (in place; returns the spec).

    The title and subtitle wrap instead of running off the chart, and the top margin holds
    their lines. The legend goes under the plot, anchored to the figure's bottom edge, and the
    bottom margin holds the x axis's ticks and title plus the legend's rows (counted for this
    width): plotly grows a margin for one thing at a time, so a legend placed by itself sits
    on the axis title or, inside the plot, on the data.
    """
    lay = spec.setdefault("layout", {})
    base = _size(lay.get("font"), BASE_FONT)
    margin = dict(lay.get("margin") or {})
    inner = width - margin.get("l", 60) - margin.get("r", 20)
    top = _fit_title(lay, width)
    if top is not None:
        margin["t"] = top
    legend = dict(lay.get("legend") or {})
    lf = _size(legend.get("font"), base)
    names = [
        str(d.get("name", ""))
        for d in spec.get("data", [])
        if d.get("showlegend", True) is not False and d.get("name") and lay.get("showlegend", True) is not False
    ]
    rows, used = (1 if names else 0), 0.0
    for name in names:
        w = text_px(name, lf) + 40  # the symbol and the gap plotly puts before and after the text
        if used and used + w > inner:
            rows, used = rows + 1, 0.0
        used += w
    xaxis = lay.get("xaxis") or {}
    tf = _size(xaxis.get("tickfont"), base)
    tick = tf * 1.3 + 8
    angle = xaxis.get("tickangle")
    if isinstance(angle, (int, float)) and angle % 180 and xaxis.get("showticklabels", True) is not False:
        # Angled names (one per layer) reach down by their length times the sine of the angle.
        labels = xaxis.get("ticktext") or [
            x for d in spec.get("data", []) for x in (d.get("x") or []) if isinstance(x, str)
        ]
        if labels:
            tick += max(text_px(str(label), tf) for label in labels) * abs(math.sin(math.radians(angle)))
    axis_title = xaxis.get("title") or {}
    has_title = bool(axis_title.get("text")) if isinstance(axis_title, dict) else bool(axis_title)
    below = tick + (base * 1.3 + 10 if has_title else 0)
    if names:
        lay["legend"] = dict(
            legend, orientation="h", yref="container", y=0, yanchor="bottom", xanchor="left", x=0, bgcolor=None
        )
        lay["legend"].pop("bgcolor")
    margin["b"] = int(below + rows * (lf * 1.35 + 6) + 10)
    lay["margin"] = margin
    return spec


def for_phone(spec: dict[str, Any]) -> dict[str, Any]:
    """A one-plot figure spec laid out for a phone (in place; returns it): fit_width at PHONE_WIDTH,
    so its title and subtitle wrap instead of being cut at both edges of a 390 px screen and its
    legend sits under the x axis's title, not on it; the figure grows by the margins that takes, so
    its plot area is as tall as the figure's own layout gave it. A figure of several panels gets only
    its title wrapped (and the room for it): its panels are its own layout."""
    lay = spec.setdefault("layout", {})
    before = dict(lay.get("margin") or {})
    t0, b0 = before.get("t", 100), before.get("b", 80)  # plotly's own defaults where the figure set none
    if any(k.startswith(("xaxis", "yaxis")) and k not in ("xaxis", "yaxis") for k in lay):
        top = _fit_title(lay, PHONE_WIDTH)  # panels: only the title, which no panel layout wraps
        if top is not None and top > t0:
            lay["margin"] = dict(before, t=top)
            if lay.get("height"):
                lay["height"] = int(lay["height"] + top - t0)
        return spec
    fit_width(spec, PHONE_WIDTH)
    m = lay["margin"]
    if lay.get("height"):
        lay["height"] = int(lay["height"] + max(0, m["t"] + m["b"] - t0 - b0))
    return spec


def legend_right(spec: dict[str, Any]) -> None:
    """Move a fitted spec's legend (if any) from under the plot to its right, outside the data: one
    entry a row, the right margin as wide as the longest name, the bottom margin without its rows."""
    lay = spec["layout"]
    names = [str(d.get("name", "")) for d in spec["data"] if d.get("showlegend", True) is not False and d.get("name")]
    if not names or lay.get("showlegend", True) is False:
        return
    bare = fit_width({"layout": dict(copy.deepcopy(lay), showlegend=False), "data": spec["data"]}, WIDE_WIDTH)
    legend = lay["legend"]
    size = float((legend.get("font") or {}).get("size") or 16)
    lay["legend"] = dict(
        legend, orientation="v", xref="paper", x=1.02, xanchor="left", yref="paper", y=1, yanchor="top"
    )
    lay["margin"] = dict(
        lay["margin"], b=bare["layout"]["margin"]["b"], r=int(max(text_px(n, size) for n in names) + 60)
    )


def presenter(spec: dict[str, Any], size: int = PRESENTER_FONT) -> dict[str, Any]:
    """A figure spec with its text enlarged for a projector (in place; returns it).

    Base text `size` px, titles +3, every other text (ticks, legends, subtitles, axis titles,
    buttons, labels) at least PRESENTER_MIN (16 px, read from the back of a room), ticks in
    TICK_COLOR (4.5:1 on white), and the margins grown to keep the larger labels inside the chart.
    """
    lay = spec.setdefault("layout", {})
    lay["font"] = dict(lay.get("font", {}), size=size)
    t = lay.get("title")
    if isinstance(t, dict):
        t["font"] = dict(t.get("font", {}), size=size + 3)
        if isinstance(t.get("subtitle"), dict):
            t["subtitle"]["font"] = dict(t["subtitle"].get("font", {}), size=max(size - 1, PRESENTER_MIN))
    lay["legend"] = dict(lay.get("legend") or {})
    lay["legend"]["font"] = dict(lay["legend"].get("font", {}), size=max(size - 1, PRESENTER_MIN))
    m = lay.get("margin")
    if isinstance(m, dict):
        lay["margin"] = dict(m, l=max(m.get("l", 60), 75), t=max(m.get("t", 80), 86), b=max(m.get("b", 60), 70))
    for key, axis in lay.items():
        if key.startswith(("xaxis", "yaxis")) and isinstance(axis, dict):
            axis["tickfont"] = dict(axis.get("tickfont", {}), size=max(size - 1, PRESENTER_MIN), color=TICK_COLOR)
            if isinstance(axis.get("title"), dict):
                axis["title"]["font"] = dict(axis["title"].get("font", {}), size=size)
    for menu in lay.get("updatemenus", []) or []:
        menu["font"] = dict(menu.get("font", {}), size=max(size - 1, PRESENTER_MIN))
    for ann in lay.get("annotations", []) or []:
        ann["font"] = dict(ann.get("font", {}), size=max(ann.get("font", {}).get("size", BASE_FONT), size - 1))
    for trace in spec.get("data", []) or []:
        if isinstance(trace, dict) and trace.get("text") is not None:  # bar and marker labels
            trace["textfont"] = dict(trace.get("textfont") or {}, size=max(size - 1, PRESENTER_MIN))
    return spec
