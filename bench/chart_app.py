"""The Weights view's histogram grid alone, drawn by st.plotly_chart or by pinit's chart element.

For bench/bench_latency.py's chart comparison (``--chart-ab``): the same figures, a preset
picked in a selectbox, and nothing else on the page, so the two chart elements are compared
on what differs. ``?chart=pinit`` uses pinit.dashboard.chart; anything else st.plotly_chart.

    python -m streamlit run bench/chart_app.py
"""

import streamlit as st

from pinit.dashboard.chart import chart
from pinit.figures import histogram_grid_figure
from pinit.presets import PRESETS
from pinit.report import inspect_model
from pinit.setup import Setup


@st.cache_data
def figure_json(preset: str) -> str:
    report = inspect_model(Setup(plan=PRESETS[preset].plan))
    return histogram_grid_figure([h.rebinned(40) for h in report.histograms[:6]], cols=3).to_json()


preset = st.selectbox("Preset", ["Kaiming (He)", "Xavier (Glorot)", "PyTorch default"], key="preset")
spec = figure_json(preset)
if st.query_params.get("chart") == "pinit":
    chart(st, spec, key="grid", config={"displayModeBar": False})
else:
    import plotly.io as pio

    st.plotly_chart(pio.from_json(spec, skip_invalid=True), key="grid", config={"displayModeBar": False})
