"""The plotly.js bundle pinit's chart element serves: the cartesian partial bundle, when it fits.

The bundle in pinit/dashboard/static is plotly.js's own "cartesian" build (npm
plotly.js-cartesian-dist-min), used only while the installed plotly package writes figures for
the same plotly.js version; every trace type the dashboard draws through the chart element is in
it, and a figure with another type goes to st.plotly_chart instead of a chart that cannot draw it.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from pathlib import Path

import plotly.graph_objects as go
import pytest
from streamlit.testing.v1 import AppTest

from pinit.dashboard import chart as chart_module
from pinit.dashboard.chart import CARTESIAN_TRACES, PARTIAL, plotlyjs_version, trace_types

STATIC = Path(chart_module.__file__).with_name("static")
NOTE = (STATIC / "PLOTLY-CARTESIAN.txt").read_text()


def test_the_shipped_bundle_is_the_one_its_note_names():
    data = (STATIC / chart_module.CARTESIAN_JS).read_bytes()
    assert hashlib.sha256(data).hexdigest() in NOTE
    assert plotlyjs_version(STATIC / chart_module.CARTESIAN_JS) == re.search(r"plotly\.js v(\S+),", NOTE).group(1)
    assert len(data) < 2_000_000  # the point of it: a third of the full bundle


def test_the_partial_bundle_is_used_exactly_when_plotly_writes_figures_for_its_version():
    import plotly.offline

    assert (plotly.offline.get_plotlyjs_version() == plotlyjs_version(STATIC / chart_module.CARTESIAN_JS)) == PARTIAL


def test_plotlyjs_version_reads_both_headers_and_says_none_otherwise(tmp_path):
    (tmp_path / "a.js").write_text("/**\n* plotly.js v4.1.1\n* Copyright")
    (tmp_path / "b.js").write_text("/**\n* plotly.js (cartesian - minified) v3.0.2\n*")
    (tmp_path / "c.js").write_text("console.log('not plotly')")
    assert plotlyjs_version(tmp_path / "a.js") == "4.1.1"
    assert plotlyjs_version(tmp_path / "b.js") == "3.0.2"
    assert plotlyjs_version(tmp_path / "c.js") is None
    assert plotlyjs_version(tmp_path / "missing.js") is None


def _trace_types_in_source() -> set[str]:
    """Every plotly trace type pinit's code names: go.<Trace>(...) constructors and type="<trace>" in
    dicts, wherever a figure is built (the lesson's, the lab's, the Weights view's, ...)."""
    from plotly.basedatatypes import BaseTraceType

    every = {
        cls().type for name in dir(go) if isinstance(cls := getattr(go, name), type) and issubclass(cls, BaseTraceType)
    }
    found: set[str] = set()
    for path in Path(chart_module.__file__).parents[1].rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "go":
                cls = getattr(go, node.attr, None)
                if isinstance(cls, type) and issubclass(cls, BaseTraceType):
                    found.add(cls().type)
            values = []
            if isinstance(node, ast.Call):
                values = [k.value for k in node.keywords if k.arg == "type"]
            elif isinstance(node, ast.Dict):
                values = [
                    v for k, v in zip(node.keys, node.values) if isinstance(k, ast.Constant) and k.value == "type"
                ]
            found |= {v.value for v in values if isinstance(v, ast.Constant) and v.value in every}
    return found


def test_every_trace_type_pinit_draws_is_in_the_partial_bundle():
    found = _trace_types_in_source()
    assert {"scatter", "bar", "heatmap"} <= found  # the scan sees what is there
    assert found <= CARTESIAN_TRACES, found - CARTESIAN_TRACES


def test_trace_types_default_to_scatter():
    fig = go.Figure([go.Scatter(y=[1, 2]), go.Heatmap(z=[[1]])])
    spec = json.loads(fig.to_json())
    del spec["data"][0]["type"]
    assert trace_types(json.dumps(spec)) == {"scatter", "heatmap"}


def _page_with(kind: str) -> None:
    import plotly.graph_objects as go
    import streamlit as st

    from pinit.dashboard.chart import chart

    trace = go.Scatter3d(x=[0], y=[0], z=[0]) if kind == "3d" else go.Scatter(y=[1, 2])
    chart(st, go.Figure([trace]), key="c")


@pytest.mark.parametrize(("kind", "plotly_chart"), [("3d", 1), ("2d", 0)])
def test_a_trace_type_outside_the_bundle_goes_to_streamlits_own_chart(kind, plotly_chart):
    at = AppTest.from_function(_page_with, kwargs={"kind": kind}).run()
    assert not at.exception
    drawn_by_streamlit = len(at.get("plotly_chart"))
    assert drawn_by_streamlit == (plotly_chart if PARTIAL else 0)
