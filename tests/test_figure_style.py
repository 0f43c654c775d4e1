"""One figure style: colours, margins and legends are defined in pinit/style.py and nowhere else.

A figure module (pinit/figures.py, pinit/lab/*figures*.py) takes its colours (MEASURED, EXPECTED,
REFERENCE, rgba(...)), its margins (style.margin, style.layout, style.lab_layout) and its legend
(style.legend_below) from pinit.style, so a chart's look changes in one place. Checked on the
source (ast), like tests/test_architecture.py's import rules.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.test_architecture import PINIT, ROOT, is_figure_module, modules

NOT_YET: set[str] = set()  # every figure module is checked
STYLED = ("margin", "legend")
COLOUR = re.compile(r"^\s*(#[0-9a-fA-F]{3,8}|rgba?\(.*\))\s*$")


def _is_dict(node: ast.AST) -> bool:
    return isinstance(node, ast.Dict) or (
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict"
    )


def style_offences(source: str, name: str = "<src>") -> list[str]:
    """Each place in `source` that writes a colour literal or builds a margin or legend dict itself."""
    found = []
    for node in ast.walk(ast.parse(source, name)):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and COLOUR.match(node.value):
            found.append(f"{name}:{line}: colour {node.value!r}")
        elif isinstance(node, ast.keyword) and node.arg in STYLED and _is_dict(node.value):
            found.append(f"{name}:{node.value.lineno}: {node.arg}=dict(...)")
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value in STYLED and _is_dict(value):
                    found.append(f"{name}:{line}: {{{key.value!r}: dict}}")
        elif isinstance(node, ast.Assign) and _is_dict(node.value):
            for target in node.targets:
                if (
                    isinstance(target, ast.Subscript)
                    and isinstance(target.slice, ast.Constant)
                    and target.slice.value in STYLED
                ):
                    found.append(f"{name}:{line}: [{target.slice.value!r}] = dict(...)")
        elif isinstance(node, ast.ImportFrom) and node.level and (node.module or "").endswith("figures"):
            private = [a.name for a in node.names if a.name.startswith("_")]
            if private:
                found.append(f"{name}:{line}: private names from {node.module}: {private}")
    return found


def figure_modules() -> list[Path]:
    return [p for p in modules() if is_figure_module(p) and str(p.relative_to(PINIT)) not in NOT_YET]


@pytest.mark.parametrize(
    "source",
    [
        'line = dict(color="#555")',
        "fill = 'rgba(44, 160, 44, 0.15)'",
        "layout(300, margin=dict(l=10, r=10, t=90, b=10))",
        "layout(300, legend={'y': -0.2})",
        "spec = {'margin': {'t': 80}}",
        "lay['legend'] = dict(lay['legend'], y=-0.28)",
        "from .figures import PLAN_COLORS, _title",
    ],
)
def test_the_scan_finds_each_kind_of_private_style(source):
    assert len(style_offences(source)) == 1, source


@pytest.mark.parametrize(
    "source",
    [
        "line = dict(color=EXPECTED)",
        "fill = rgba(SECOND, 0.15)",
        "layout(300, margin=margin(l=10, r=10, t=90, b=10), legend=legend_below(-0.3))",
        "text = f\"<span style='color:{EXPECTED}'>far</span>\"",
        "label = '#3 of 10'",
        "from .figures import PLAN_COLORS",
    ],
)
def test_the_scan_passes_style_taken_from_pinit_style(source):
    assert style_offences(source) == [], source


def test_every_figure_module_takes_its_style_from_pinit_style():
    checked = {str(p.relative_to(PINIT)) for p in figure_modules()}
    assert {"figures.py", "lab/figures.py", "lab/beyond_figures.py", "lab/history_figures.py"} <= checked
    found = [o for p in figure_modules() for o in style_offences(p.read_text("utf-8"), str(p.relative_to(ROOT)))]
    assert found == [], "define colours, margins and legends in pinit/style.py:\n" + "\n".join(found)


def test_no_figure_module_defines_its_own_layout_defaults():
    """A module-level `_LAYOUT`/`LAYOUT` dict is a second style: lab_layout() or layout() is the one."""
    found = []
    for path in figure_modules():
        for node in ast.parse(path.read_text("utf-8")).body:
            if isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = [t.id for t in targets if isinstance(t, ast.Name)]
                found += [f"{path.relative_to(ROOT)}: {n}" for n in names if "LAYOUT" in n.upper()]
    assert found == [], found


def test_the_style_pieces():
    from pinit.style import LAB_MARGIN, MARGIN, lab_layout, legend_below, line_trace, margin, panel_note, rgba

    assert rgba("#1f77b4", 0.5) == "rgba(31, 119, 180, 0.50)"
    assert margin(t=95) == dict(MARGIN, t=95) and margin() is not MARGIN
    with pytest.raises(ValueError, match="l, r, t and b"):
        margin(top=95)
    lay = lab_layout(300, title={"text": "x"})
    lay["margin"]["t"] = 1  # a figure that changes its own margins leaves the shared ones alone
    assert LAB_MARGIN["t"] == 90 and lab_layout(300)["margin"]["t"] == 90 and lay["legend"]["y"] == -0.2
    assert legend_below(-0.3, size=12) == dict(
        orientation="h", yanchor="top", y=-0.3, xanchor="left", x=0, font=dict(size=12)
    )
    plain = line_trace([1, 2], [3, 4], "a", "#000000")
    assert plain["mode"] == "lines" and "marker" not in plain and plain["line"] == dict(color="#000000", width=2)
    dotted = line_trace(range(2), (3, 4), None, "#000000", dash="dot", markers=6, xaxis="x2")
    assert dotted["mode"] == "lines+markers" and dotted["marker"] == dict(size=6, color="#000000")
    assert (
        dotted["line"]["dash"] == "dot" and dotted["x"] == [0, 1] and "name" not in dotted and dotted["xaxis"] == "x2"
    )
    assert panel_note("A", 0.5, font=dict(size=12))["font"] == dict(size=12)
