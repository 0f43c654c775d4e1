"""pinit/checks.py is the one place that checks whole numbers, seeds and finite numbers.

The `isinstance(x, bool) or not isinstance(x, int)` idiom was repeated in nine helpers
with different messages, bounds and error types; now every module of pinit (but the
dashboard and schemes.py, owned elsewhere) calls pinit.checks, and each caller keeps its
public error type (PlanError where it promised PlanError, ValueError elsewhere).
"""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pytest

import pinit
from pinit import checks
from pinit.errors import PlanError
from pinit.plan import MAX_SEED

ROOT = Path(__file__).resolve().parents[1]
OWNED_ELSEWHERE = {"pinit/schemes.py", "pinit/checks.py"}


def bool_idioms(source: str) -> list[int]:
    """Lines of `isinstance(x, bool) or ...` (or `... or isinstance(x, bool)`) conditions."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or):
            for v in node.values:
                if (
                    isinstance(v, ast.Call)
                    and getattr(v.func, "id", None) == "isinstance"
                    and len(v.args) == 2
                    and getattr(v.args[1], "id", None) == "bool"
                ):
                    lines.append(node.lineno)
    return lines


def test_no_module_repeats_the_whole_number_idiom():
    found = []
    for path in sorted((ROOT / "pinit").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel in OWNED_ELSEWHERE or rel.startswith("pinit/dashboard/"):
            continue
        found += [f"{rel}:{line}" for line in bool_idioms(path.read_text(encoding="utf-8"))]
    assert not found, "use pinit.checks instead of repeating the check: " + ", ".join(found)


def test_whole_number():
    assert checks.whole_number("n", 3, 1, 5) == 3
    assert checks.whole_number("n", np.int64(4), 1, 5) == 4
    assert checks.whole_number("n", 10**9, 1) == 10**9
    for bad in (True, 2.0, "3", None, 0, 6):
        with pytest.raises(ValueError, match=r"n must be a whole number from 1 to 5, got"):
            checks.whole_number("n", bad, 1, 5)
    with pytest.raises(ValueError, match="n must be a whole number >= 1, got 0"):
        checks.whole_number("n", 0, 1)


def test_seed_is_one_range_everywhere():
    assert checks.MAX_SEED == MAX_SEED == 2**63 - 1
    assert checks.seed(0) == 0 and checks.seed(MAX_SEED) == MAX_SEED
    for bad in (-1, MAX_SEED + 1, True, 1.0, "3", None):
        with pytest.raises(ValueError, match=f"seed must be a whole number from 0 to {MAX_SEED}, got"):
            checks.seed(bad)
    with pytest.raises(ValueError, match="got an integer of 16610 bits"):
        checks.seed(10**5000)  # repr() of it would itself raise


def test_finite_number():
    assert checks.finite_number("std", 2, low=0) == 2.0
    for bad in (math.nan, math.inf, True, "1", None, -1.0):
        with pytest.raises(ValueError, match="std must be a finite number >= 0, got"):
            checks.finite_number("std", bad, low=0)
    with pytest.raises(ValueError, match="tol must be a finite number > 0, got 0"):
        checks.finite_number("tol", 0, low=0, low_open=True)
    with pytest.raises(ValueError, match="noise must be a finite number from 0 to 100, got 101"):
        checks.finite_number("noise", 101, 0, 100)


@pytest.mark.parametrize(
    "call, error",
    [
        (lambda: pinit.apply_plan(pinit.build_model("DeepMLP", depth=2, width=4), {}, seed=-1), PlanError),
        (lambda: pinit.param_seed(True, "w"), PlanError),
        (lambda: pinit.probe_batch(pinit.build_model("SimpleCNN"), seed=-1), ValueError),
        (lambda: pinit.make_dataset(10, seed=MAX_SEED + 1), ValueError),
        (lambda: pinit.build_model("DeepMLP", depth=True), ValueError),
    ],
)
def test_callers_keep_their_error_types(call, error):
    with pytest.raises(error, match="must be a whole number"):
        call()
