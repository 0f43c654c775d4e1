"""Docstrings and comments say what and why; measured times and version stamps live elsewhere.

A time in a comment ("560 ms against 130 ms", "~11 s") is true of one machine on one day and
silently goes stale; two such comments in one file came to disagree. Measured figures belong
in what a benchmark prints (bench/) and in docs/PERFORMANCE.md, which say how they were got.
So no docstring or comment in pinit/ states a duration, a speed-up, or the version of a
dependency that it was checked on ("torch 2.13"). Allowed: a setting written with its unit
("poll every 0.5 s", "a 30 s timeout"), and a compatibility fact ("before torch 1.6").
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterator
from pathlib import Path

import pytest

PINIT = Path(__file__).resolve().parents[1] / "pinit"

_UNIT = r"(?:ns|µs|us|ms|s|secs?|seconds?|min|mins|minutes?|h|hours?)"
DURATION = re.compile(rf"(?<![\w.])[~≈]?\s?\d[\d,]*(?:\.\d+)?\s?{_UNIT}\b", re.IGNORECASE)
SPEEDUP = re.compile(r"\d+(?:\.\d+)?\s?[x×]\s+(?:faster|slower|quicker|the time)\b", re.IGNORECASE)
# A duration is a measurement when the line says it was timed or compares it; it is a setting
# when it says how long something may or will take ("every", "after", "timeout").
MEASURED = re.compile(
    r"\b(?:took|takes?|taking|measured|timed|costs?|ran|runs? in|against|median|faster|slower|on one core)\b|~|≈",
    re.IGNORECASE,
)
SETTING = re.compile(
    r"\b(?:every|after|timeout|time-?out|limit|at most|up to|within|interval|wait(?:s|ing)? up to|poll|ttl|deadline)\b",
    re.IGNORECASE,
)
_DEPS = r"(?:torch|pytorch|streamlit|plotly|pandas|numpy|python|chromium|playwright|safetensors|nginx)"
VERSION = re.compile(rf"(?<!before )(?<!since )(?<!until )(?<!>= )\b{_DEPS}\s+v?\d+\.\d+", re.IGNORECASE)


def rotting(line: str) -> str | None:
    """Why `line` (of a comment or docstring) would go stale, or None."""
    if SPEEDUP.search(line):
        return "a speed-up"
    if DURATION.search(line) and (MEASURED.search(line) or not SETTING.search(line)):
        return "a measured time"
    if VERSION.search(line):
        return "a version stamp"
    return None


def prose(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of every comment and every docstring line in `path`."""
    source = path.read_text(encoding="utf-8")
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            yield tok.start[0], tok.string
    for node in ast.walk(ast.parse(source, str(path))):
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                first = node.body[0].lineno
                for k, line in enumerate(doc.splitlines()):
                    yield first + k, line


@pytest.mark.parametrize(
    "line",
    [
        "# 4x slower on one core (560 ms against 130 ms for 67M values)",
        "# a template costs ~10 ms a figure",
        "builds the lesson (~11 s) at server start",
        "# svdvals of 8192 x 8192 took 76 s",
        "(4.6 s on 1 thread)",
        "measured on torch 2.13 for every scheme",
        "# What GFM's autolinker (which Streamlit 1.67 applies) starts",
        "# a full redraw took 1.5 seconds",
    ],
)
def test_a_measured_time_or_a_version_stamp_is_found(line):
    assert rotting(line) is not None, line


@pytest.mark.parametrize(
    "line",
    [
        "# poll every 0.5 s until the page answers",
        "# a 30 s timeout: a click that waits longer is a fault",
        "# legacy torch.save streams (before torch 1.6)",
        "O(N·M²) for N ≥ M: a square matrix twice as wide costs eight times as much",
        "VGGStyle (105 M parameters, 402 MiB in float32)",
        "sigma = gain / sqrt(fan_in), He et al. 2015",
        "# steps 1 and 2 share one axis",
    ],
)
def test_settings_formulas_and_sizes_are_not(line):
    assert rotting(line) is None, line


def test_no_docstring_or_comment_in_pinit_carries_a_timing_or_a_version_stamp():
    found = [
        f"{path.relative_to(PINIT.parent)}:{n}: {why}: {text.strip()}"
        for path in sorted(PINIT.rglob("*.py"))
        for n, text in prose(path)
        if (why := rotting(text))
    ]
    assert found == [], "put measured figures in bench/ output or docs/PERFORMANCE.md:\n" + "\n".join(found)
