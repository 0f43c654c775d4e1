"""Helpers for the AppTest page tests: open the page, switch views, read charts, tables and numbers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def start(view: str = "Weights", timeout: float = 180, rules: bool = False, **params: str) -> AppTest:
    """A fresh session opened on `view` with the link's `params` (?view=...&model=...), as a new tab would be;
    `rules`: with the sidebar's rules per layer type shown (they are hidden until asked for)."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    at.query_params["view"] = view
    for key, value in params.items():
        at.query_params[key] = value
    if rules:
        at.session_state["show_rules"] = True
    at.run()
    assert not at.exception, at.exception
    return at


def goto(at: AppTest, view: str) -> AppTest:
    """Switch tabs as a click would: the tabs are bound to the "view" query parameter."""
    at.query_params["view"] = view
    at.session_state["view"] = view
    at.run()
    assert not at.exception, at.exception
    return at


def settled(at: AppTest) -> AppTest:
    """A full rerun with no change, so AppTest shows the whole page again. A click that reruns only
    some fragments (a seed typed reruns the view, not the sidebar) leaves AppTest holding only what
    those fragments sent; a browser keeps the rest on screen."""
    at.run()
    assert not at.exception, at.exception
    return at


def preset(at: AppTest, name: str) -> AppTest:
    """Pick a preset in the sidebar (it reruns the view; settled, so the whole page can be read after)."""
    at.sidebar.selectbox(key="preset").set_value(name).run()
    assert not at.exception, at.exception
    return settled(at)


def specs(at: AppTest) -> list[dict]:
    """Every chart's plotly figure: st.plotly_chart's, then pinit's own chart element's (pinit.dashboard.chart)."""
    own = [el for el in at.get("bidi_component") if el.proto.component_name == "pinit_chart"]
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")] + [
        json.loads(json.loads(el.proto.json)["spec"]) for el in own
    ]


def _title(spec: dict) -> str:
    text = spec["layout"].get("title", {}).get("text", "")
    return re.sub(r"<[^>]+>", "", text.split("</b>")[0]).strip()


def charts(at: AppTest) -> dict[str, dict]:
    """Plotly figure specs by title text (the bold part of the title)."""
    return {_title(s): s for s in specs(at)}


def panels(at: AppTest) -> dict[str, dict]:
    """The Weights view's histogram panels by parameter name: {"counts", "expected", "text"} each.

    The distributions are one figure of panels; panel i's traces are on axis x{i} and its title
    (name, shape, σ) is the annotation anchored to that axis's domain."""
    grid = next(
        s for s in specs(at) if any(a.get("xref", "").endswith("domain") for a in s["layout"].get("annotations", []))
    )
    out = {}
    for ann in grid["layout"]["annotations"]:
        axis = ann["xref"].split()[0]  # "x", "x2", ...
        name = re.sub(r"<[^>]+>", "", ann["text"].split("</b>")[0])
        mine = [t for t in grid["data"] if t.get("xaxis", "x") == axis]
        steps = next(t for t in mine if t["name"] == "measured")  # a filled step line: y repeats the last count
        law = next((t for t in mine if t["name"].startswith("expected under")), None)
        out[name] = {"counts": steps["y"][:-1], "expected": law["y"] if law else None, "text": ann["text"]}
    return out


def table(at: AppTest) -> pd.DataFrame:
    """The Weights view's parameter table (opens its Table section)."""
    at.segmented_control(key="weights.show").set_value("Table").run()
    assert not at.exception, at.exception
    return at.dataframe[0].value.set_index("name")


def frame(at: AppTest, column: str) -> pd.DataFrame:
    """The table on the page that has `column` (AppTest does not expose a dataframe's key)."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def plain(markdown: str) -> str:
    """Markdown as a reader sees it: backslash escapes and zero-width spaces removed (the page escapes
    every echoed value, and breaks "://", "www." and "@" so nothing in it becomes a link)."""
    return re.sub(r"\\(.)", r"\1", markdown).replace("\u200b", "")


def errors(at: AppTest) -> list[str]:
    return [plain(e.value) for e in at.error]


def captions(at: AppTest) -> list[str]:
    return [c.value for c in at.caption]


def applied(at: AppTest):
    """The Setup whose weights are on screen."""
    return at.session_state["applied"]


_SUPERSCRIPT_DIGITS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-")


def number_of(text: str) -> float:
    """A number as the page writes it (pinit.text.number: 11,500; 4.3×10⁻⁵; −2; ∞) back to a float."""
    t = str(text).strip().replace(",", "").replace("−", "-").removeprefix("×")
    if t in ("∞", "-∞"):
        return float(t.replace("∞", "inf"))
    if "×10" in t:
        mantissa, exp = t.split("×10")
        return float(mantissa) * 10 ** int(exp.translate(_SUPERSCRIPT_DIGITS))
    return float(t)
