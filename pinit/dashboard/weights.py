"""The Weights view: overview charts, the parameter table, the worked formula, one histogram per tensor."""

from __future__ import annotations

import streamlit as st

import pinit
from pinit.figures import histogram_figure, signal_gain_figure, std_overview_figure
from pinit.report import InitReport

# Histograms drawn at once: Chromium's drawing of many charts is most of a page's wait
# (~70-100 ms each here), and 12 keeps a 100M-parameter model's page as light as SimpleCNN's.
PAGE_SIZE = 12


def view_controls() -> tuple[int, bool]:
    c1, c2 = st.columns([1, 1])
    bins = c1.slider(
        "Histogram bins", 10, 200, 40, step=10, key="bins", help="Only changes the view: the weights are not re-drawn."
    )
    log_y = c2.toggle("Log-scale counts", key="log_y", help="Shows the tails of heavy or truncated laws.")
    return bins, log_y


def metrics_ui(report: InitReport) -> None:
    t = report.table
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Parameters", f"{report.total_params:,}")
    m2.metric("Tensors", len(t))
    m3.metric("Seed", "—" if report.seed is None else report.seed)
    m4.metric(
        "Non-finite values", int(t["nonfinite"].sum()), help="NaN or ±Inf entries: counted, never dropped silently."
    )


def overview_ui(report: InitReport) -> None:
    a, b = st.columns(2)
    a.plotly_chart(std_overview_figure(report.table), key="overview_std")
    b.plotly_chart(signal_gain_figure(report.table), key="overview_gain")


def table_ui(report: InitReport) -> None:
    st.subheader("Parameters")
    num = st.column_config.NumberColumn
    st.dataframe(
        report.table,
        hide_index=True,
        column_config={
            "numel": num("numel", format="localized"),
            "mean": num("mean", format="%.4f"),
            "std": num("std", format="%.4f"),
            "min": num("min", format="%.4f"),
            "max": num("max", format="%.4f"),
            "expected_std": num(
                "expected std", format="%.4f", help="From the scheme's formula and this tensor's shape."
            ),
            "std_ratio": num("std / expected", format="%.3f", help="1.000 means the draw matches the formula."),
            "signal_gain": num(
                "signal gain",
                format="%.3g",
                help="sqrt(fan_in · E[w²]): how much the layer scales "
                "its input's RMS. 1 keeps it level; √2 makes up for a ReLU; 45 is the article's fc1.",
            ),
            "nonfinite": num("NaN/Inf", help="Entries that are NaN or ±Inf (left out of mean/std/min/max)."),
        },
    )


def formula_ui(report: InitReport) -> None:
    st.subheader("The formula, with this layer's numbers")
    if not report.formulas:
        st.info("No scheme reached any parameter here, so there is no formula to fill in.")
        return
    name = st.selectbox("Parameter", list(report.formulas), key="formula_param")
    row = report.table.set_index("name").loc[name]
    scheme = pinit.SCHEMES[row["scheme"]]
    fans = f" (fan_in {row['fan_in']}, fan_out {row['fan_out']})" if str(row["fan_in"]) != "<NA>" else ""
    st.markdown(f"**{name}** {row['shape']}: `{scheme.name}`{fans}" + (f" · {scheme.paper}" if scheme.paper else ""))
    st.latex(report.formulas[name])
    st.caption(f"Measured σ = {row['std']:.4g} on this draw.")


def histograms_ui(report: InitReport, log_y: bool) -> None:
    st.subheader("Every parameter's distribution")
    st.caption(
        "Bars: measured counts per bin. Red: expected counts under the scheme's law. "
        "Dotted: measured mean ± σ; dashed: expected."
    )
    hists = report.histograms
    if len(hists) > PAGE_SIZE:
        pages = (len(hists) + PAGE_SIZE - 1) // PAGE_SIZE
        page = st.number_input(f"Page (of {pages}, {PAGE_SIZE} charts each)", 1, pages, 1, key="hist_page")
        hists = hists[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    cols = st.columns(2)
    for i, h in enumerate(hists):
        cols[i % 2].plotly_chart(histogram_figure(h, log_y=log_y), key=f"hist.{h.name}")


def weights_view(make_report) -> None:
    """The whole view; `make_report(bins)` returns the InitReport to show."""
    bins, log_y = view_controls()
    report = make_report(bins)
    metrics_ui(report)
    overview_ui(report)
    table_ui(report)
    formula_ui(report)
    histograms_ui(report, log_y)
