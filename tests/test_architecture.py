"""The import rules of CONTRIBUTING.md, checked on the source (ast) and on a fresh interpreter.

* Nothing in pinit outside pinit/dashboard imports streamlit: a teacher can use pinit from
  a notebook or a script without a server.
* Only the figure modules import plotly (pinit/figures.py, pinit/lab/figures.py and any
  pinit/lab/*figures*.py): the lab returns plain values and never draws.
* `import pinit` loads neither.
* No test module imports a browser-only package (playwright) at its top level: CI's floors
  step collects every test file under `-m smoke` in a venv without playwright.
* No test edits sys.path: tests import the repo's packages as packages (tests.harness,
  tests.ws_client, deploy.replicas), and bench may import tests, never the other way.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PINIT = ROOT / "pinit"


def imported_roots(path: Path) -> set[str]:
    """Top-level names of every module `path` imports (import x.y, from x.y import z, __import__("x"))."""
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", getattr(node.func, "attr", None)) in ("__import__", "import_module")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            roots.add(node.args[0].value.split(".")[0])
    return roots


def modules() -> list[Path]:
    return sorted(PINIT.rglob("*.py"))


def is_figure_module(path: Path) -> bool:
    rel = path.relative_to(PINIT)
    return rel == Path("figures.py") or (rel.parent == Path("lab") and "figures" in rel.stem)


def test_the_scan_sees_every_kind_of_import(tmp_path):
    src = tmp_path / "m.py"
    src.write_text(
        "import streamlit as st\nfrom plotly import graph_objects\nimport os.path\n"
        "from . import sibling\nx = __import__('pandas')\ny = importlib.import_module('numpy.linalg')\n"
    )
    assert imported_roots(src) == {"streamlit", "plotly", "os", "pandas", "numpy"}


def test_only_the_dashboard_imports_streamlit():
    offenders = [
        str(p.relative_to(ROOT))
        for p in modules()
        if "streamlit" in imported_roots(p) and not p.is_relative_to(PINIT / "dashboard")
    ]
    assert offenders == [], f"streamlit imported outside pinit/dashboard: {offenders}"


def test_only_the_figure_modules_import_plotly():
    figure_modules = [p for p in modules() if is_figure_module(p)]
    assert {str(p.relative_to(PINIT)) for p in figure_modules} >= {"figures.py", "lab/figures.py"}
    offenders = [
        str(p.relative_to(ROOT)) for p in modules() if "plotly" in imported_roots(p) and not is_figure_module(p)
    ]
    assert offenders == [], f"plotly imported outside the figure modules: {offenders}"


def test_importing_the_backend_loads_neither_streamlit_nor_plotly():
    code = (
        "import sys\n"
        "for module in ('pinit', 'pinit.lab', 'pinit.share.export', 'pinit.share.cli', 'pinit.serve'):\n"
        "    __import__(module)\n"
        "    print(module, sorted(m for m in sys.modules if m.split('.')[0] in ('streamlit', 'plotly')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    lines = out.stdout.splitlines()
    assert len(lines) == 5 and all(line.endswith(" []") for line in lines), out.stdout


def test_no_test_edits_sys_path():
    offenders = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr == "path" and getattr(node.value, "id", None) == "sys":
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == [], f"tests must import packages, not edit sys.path: {offenders}"


def top_level_imported_roots(path: Path) -> set[str]:
    """Roots imported by `path`'s module-level statements (not inside a function or class)."""
    roots = set()
    for node in ast.parse(path.read_text(encoding="utf-8"), str(path)).body:
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_no_test_module_imports_playwright_at_collection():
    offenders = [
        str(p.relative_to(ROOT))
        for p in sorted((ROOT / "tests").rglob("*.py"))
        if "playwright" in top_level_imported_roots(p)
    ]
    assert offenders == [], f"import playwright inside the functions that drive the browser: {offenders}"


def test_the_core_never_reaches_up_into_share_lab_or_dashboard():
    """The arrows run one way: dashboard -> lab, share -> the core (pinit/*.py). Setup and the text
    helpers live in the core, so no core module imports share/ or lab/ (the public API's
    pinit/__init__.py and the `python -m pinit` entry excepted: they gather every layer)."""
    found = []
    for path in sorted(PINIT.glob("*.py")):
        if path.name in ("__init__.py", "__main__.py"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                module = ("." * node.level) + (node.module or "")
                names = {a.name for a in node.names}
                if module.lstrip(".").split(".")[0] in ("share", "lab", "dashboard") and node.level:
                    found.append(f"{path.name}: from {module}")
                elif node.level == 1 and not node.module and names & {"share", "lab", "dashboard"}:
                    found.append(f"{path.name}: from . import {names}")
                elif (node.module or "").startswith(("pinit.share", "pinit.lab", "pinit.dashboard")):
                    found.append(f"{path.name}: from {node.module}")
    assert found == [], found
