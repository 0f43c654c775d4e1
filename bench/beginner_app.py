"""A beginner's version of the dashboard, for bench/bench_browser.py to compare against.

What a first attempt looks like: build the model, apply the chosen preset, then one
plotly express histogram of the raw values per parameter. No caching, no server-side
binning: every rerun redraws the weights (from the global RNG, so each run shows a
new draw) and sends every value to the browser.

It uses pinit's models and presets, so both pages show the same network and init.
Benchmark hook (this page only, never app.py): the model comes from the query
parameter ``?model=NAME`` or the environment variable PINIT_BEGINNER_MODEL
(default SimpleCNN), and ``?preset=NAME`` picks the starting preset.

    streamlit run bench/beginner_app.py -- then open http://localhost:8501/?model=WideMLP
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import plotly.express as px
import streamlit as st
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pinit

st.set_page_config(page_title="weights (beginner's page)", layout="wide")

model_name = st.query_params.get("model", os.environ.get("PINIT_BEGINNER_MODEL", "SimpleCNN"))
if model_name not in pinit.MODELS:
    st.error(f"unknown model {model_name!r}")
    st.stop()
if "preset" not in st.session_state:
    st.session_state["preset"] = st.query_params.get("preset", "PyTorch default")

with st.sidebar:
    preset = st.selectbox("Preset", list(pinit.PRESETS), key="preset")
    st.button("Re-initialize", type="primary")

st.title(f"{model_name} weights")
model = pinit.build_model(model_name)
pinit.apply_plan(model, pinit.PRESETS[preset].plan, seed=int(torch.randint(0, 2**62, (1,))))
for name, p in model.named_parameters():
    st.plotly_chart(px.histogram(x=p.detach().flatten().numpy(), title=f"{name} {tuple(p.shape)}"))
