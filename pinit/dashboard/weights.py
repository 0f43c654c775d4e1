"""The Weights view: every parameter's distribution, and on demand the overview, the table, the formula.

One section at a time (a segmented control), because every element sent is one the
browser must draw: the distributions are one plotly figure of panels, a page of them at a
time. The histograms are binned once on the server at BASE_BINS and merged for fewer bins,
so the bins slider changes only the drawing; the log scale and a shared x range are
switches inside the figure, redrawn by the browser with no round trip at all.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

import pinit
from pinit.figures import gain_far, histogram_grid_figure, signal_gain_figure, std_overview_figure
from pinit.report import InitReport
from pinit.stats import Histogram
from pinit.style import fmt

from .chart import chart, chart_name
from .common import escape
from .shared_figure import by_value
from .sidebar import is_phone

BASE_BINS = 200  # one scan per tensor; every bin count offered divides it
BIN_CHOICES = [10, 20, 25, 40, 50, 100, 200]
PAGE_SIZE = 6  # panels per page: two rows of three on a projector, one column of six on a phone
NO_MODE_BAR = {"displayModeBar": False}  # plotly's toolbar printed over the charts' titles on a phone
SECTIONS = ["Distributions", "Overview", "Table", "Formula"]


def controls_ui(report: InitReport) -> tuple[str, int, int]:
    # One row of the control (as wide as its four segments) and the summary in the rest: a
    # half-width column was narrower than the segments at 1024 px with the sidebar open, and
    # hid "Formula" behind a scroll. A row that does not fit wraps the summary below instead.
    row = st.container(horizontal=True, vertical_alignment="center")
    section = row.segmented_control(
        "Show", SECTIONS, key="weights.show", default=SECTIONS[0], required=True, label_visibility="collapsed"
    )
    with row.container(width="stretch"):
        summary_line(report)
    if section != "Distributions":
        return section, 40, 1
    c1, c2 = st.columns([1, 1], vertical_alignment="center")
    bins = c1.select_slider(
        "Bins", BIN_CHOICES, value=40, key="bins", help="Only changes the drawing: the weights are not re-drawn."
    )
    pages = max(1, -(-len(report.histograms) // PAGE_SIZE))
    page = 1
    if pages > 1:
        if st.session_state.get("hist_page", 1) > pages:
            st.session_state["hist_page"] = 1
        with c2:
            page = st.pagination(pages, key="hist_page")
    # Log counts and a shared x range are switches in the chart itself: they redraw in the browser.
    return section, bins, page


def summary_line(report: InitReport) -> None:
    t = report.table
    bad = int(t["nonfinite"].sum())
    seed = "" if report.seed is None else f" · seed {report.seed}"
    lesson = ""
    if report.plan is not None:
        from .sidebar import preset_caption

        lesson = "  \n" + preset_caption(st.session_state.get("preset", ""))
    st.caption(
        f"**{report.total_params:,}** parameters in **{len(t)}** tensors{seed} · "
        + (f":red[**{bad:,} NaN/Inf values**] (counted, never dropped)" if bad else "no NaN/Inf values")
        + lesson
    )


def gains_of(report: InitReport) -> dict[str, float]:
    """{weight name: signal gain} (stats' √(fan_in · E[w²])); biases and 1-D tensors have none."""
    t = report.table
    if "signal_gain" not in t:
        return {}
    return {str(n): float(g) for n, g in zip(t["name"], t["signal_gain"]) if g == g and g is not None}


def panel_order(hists: list[Histogram], gains: dict[str, float]) -> list[Histogram]:
    """The histograms with the weights whose gain is far from ×1 first (in model order), then the rest
    in model order: the parameter a lesson is about (the article's fc1, ×45) opens on page 1, and a
    change of scheme that makes or mends such a layer changes what page 1 shows."""
    far = [h for h in hists if gain_far(gains.get(h.name))]
    return far + [h for h in hists if not gain_far(gains.get(h.name))]


def grid_name(hists: list[Histogram], gains: dict[str, float], page: int) -> str:
    """The histogram panels' accessible name: each parameter with its measured σ, the σ its law
    expects and its signal gain, the numbers a sighted student reads off the panels."""

    def one(h: Histogram) -> str:
        expected = f", expected {fmt(h.expected_std)}" if h.expected_std is not None else ""
        gain = f", gain ×{fmt(gains[h.name])}" if h.name in gains else ""
        return f"{h.name} σ {fmt(h.summary.std)}{expected}{gain}"

    return f"Histograms of the weights, page {page}: " + "; ".join(one(h) for h in hists) + "."


def grid_parts(report: InitReport, bins: int, page: int, big: bool, phone: bool) -> tuple[str, str, str]:
    """The histogram panels of a page as (figure JSON, accessible name, the lead of the caption)."""
    gains = gains_of(report)
    ordered = panel_order(report.histograms, gains)
    hists = ordered[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    shown = [h.rebinned(bins) for h in hists]
    fig = histogram_grid_figure(shown, cols=1 if phone else 3, big=big, gains=gains, narrow=phone)
    far = [h.name for h in ordered if gain_far(gains.get(h.name))]
    lead = (
        f"**{len(far)} of {len(gains)} weights change the signal more than ×2 per layer** (red gain), shown first: "
        + ", ".join(f"{escape(name)} ×{fmt(gains[name])}" for name in far[:3])
        + (" and more" if len(far) > 3 else "")
        + ". "
        if far
        else ""
    )
    return fig.to_json(), grid_name(hists, gains, page), lead


def distributions_ui(report: InitReport, bins: int, page: int, big: bool, key: str | None = None) -> None:
    """The panels and their caption. `key`: what the report is of, by value (a Setup's key), so the
    panels are built once per server for everyone shown the same weights; None builds them here."""
    phone = is_phone()
    if key is None:
        spec, label, lead = grid_parts(report, bins, page, big, phone)
    else:
        spec, label, lead = by_value(
            ("weights.grid", key, bins, page, big, phone), lambda: grid_parts(report, bins, page, big, phone)
        )
    chart(st, spec, key="weights.grid", config=NO_MODE_BAR, label=label)
    st.caption(
        lead + "**gain ×g**: √(fan_in · E[w²]), how much the layer multiplies its input's RMS; ×1 keeps the signal "
        "level (×√2 ≈ 1.41 with a ReLU after it), red beyond ×2 or under ×0.5. Bars: measured counts per bin. Red "
        "line: the counts the scheme's law predicts. Dotted: measured mean ± σ; dashed: expected. σ is the "
        "population std, like the law's. The switches above the panels (log counts, one x range) redraw in your "
        "browser."
    )


def _num(v: object) -> float | None:
    """A table cell as a float, or None when it is missing (None, NaN, pandas' NA)."""
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return f if f == f else None


def overview_ui(report: InitReport, big: bool) -> None:
    a, b = st.columns(2)
    # pinit's chart element, as the histograms: named for a screen reader by its title, its subtitle and
    # the numbers its bars draw (the same as the Table section's).
    t = report.table
    stds = "; ".join(
        f"{n} σ {fmt(s)}" + (f", expected {fmt(_num(e))}" if _num(e) is not None else "")
        for n, s, e in zip(t["name"], t["std"], t["expected_std"])
    )
    gains = "; ".join(f"{n} ×{fmt(g)}" for n, g in gains_of(report).items())
    std_fig, gain_fig = std_overview_figure(t, big=big), signal_gain_figure(t, big=big)
    label = f"{chart_name(std_fig)}. {stds}."
    chart(a, std_fig, key="overview_std", config=NO_MODE_BAR, label=label)
    chart(b, gain_fig, key="overview_gain", config=NO_MODE_BAR, label=f"{chart_name(gain_fig)}. {gains or 'none'}.")


def table_ui(report: InitReport) -> None:
    num = st.column_config.NumberColumn
    shown = report.table.copy()
    # At the 4 decimals shown, a mean of -0.00003 printed "-0.0000": what rounds to zero there is shown as 0.
    for col in ("mean", "min", "max"):
        if col in shown:
            shown[col] = shown[col].where(shown[col].abs() >= 5e-5, 0.0)
    st.dataframe(
        shown,
        hide_index=True,
        column_config={
            "numel": num("numel", format="localized"),
            "mean": num("mean", format="%.4f"),
            "std": num("std", format="%.4f", help="Population std (divides by n), as the law's σ is."),
            "min": num("min", format="%.4f"),
            "max": num("max", format="%.4f"),
            "expected_std": num(
                "expected std", format="%.4f", help="From the scheme's formula and this tensor's shape."
            ),
            "std_ratio": num("std / expected", format="%.3f", help="1.000 means the draw matches the formula."),
            "signal_gain": num(
                "signal gain",
                format="%.3g",
                help="√(fan_in · E[w²]): how much the layer scales its input's RMS. 1 keeps it level; "
                "√2 makes up for a ReLU; 45 is the article's fc1.",
            ),
            "nonfinite": num("NaN/Inf", help="Entries that are NaN or ±Inf (left out of mean/std/min/max)."),
        },
    )


def formula_ui(report: InitReport) -> None:
    if not report.formulas:
        st.info("No scheme reached any parameter here, so there is no formula to fill in.")
        return
    name = st.selectbox("Parameter", list(report.formulas), key="formula_param")
    row = report.table.set_index("name").loc[name]
    scheme = pinit.SCHEMES[str(row["scheme"])]  # a scheme name (str() for the stubs' Series | DataFrame row)
    fans = f" (fan_in {row['fan_in']}, fan_out {row['fan_out']})" if str(row["fan_in"]) != "<NA>" else ""
    st.markdown(f"**{name}** {row['shape']}: `{scheme.name}`{fans}" + (f" · {scheme.paper}" if scheme.paper else ""))
    st.latex(report.formulas[name])
    st.caption(f"Measured σ = {fmt(float(str(row['std'])), 4)} on this draw.")


def weights_view(make_report: Callable[[int], InitReport], big: bool = False, key: str | None = None) -> None:
    """The whole view; `make_report(bins)` returns the InitReport to show. `big`: presenter mode.
    `key`: the shown weights by value (a Setup's key), when every tab with that key sees the same
    weights (not an uploaded checkpoint): their panels are then built once per server."""
    report = make_report(BASE_BINS)
    section, bins, page = controls_ui(report)
    if section == "Distributions":
        distributions_ui(report, bins, page, big, key)
    elif section == "Overview":
        overview_ui(report, big)
    elif section == "Table":
        table_ui(report)
    else:
        formula_ui(report)
