"""Input checks shared by the whole package: one place, one message per kind of mistake.

Each check returns the value it accepted (converted where that is safe) or raises
ValueError that names the argument, echoes what was given (pinit.text.quote: short,
whatever its size) and says what is allowed, as torch.nn.init does ("Only tensors with 2
dimensions are supported"). A caller that promises another error type (plan.py promises
PlanError) catches the ValueError and re-raises its own with the same words.

`bool` is refused wherever a number is asked for: True is an int to Python, but
``seed=True`` or ``depth=True`` is always a mistake.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .text import quote

__all__ = ["MAX_SEED", "finite_number", "is_number", "is_whole", "seed", "seed_text", "whole_number"]

MAX_SEED = 2**63 - 1  # torch.Generator.manual_seed takes any 64-bit value; pinit keeps 63 bits everywhere


def is_whole(value: Any) -> bool:
    """True for an int or numpy integer, never for a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_number(value: Any) -> bool:
    """True for an int, float or numpy number, never for a bool (finite or not)."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def whole_number(name: str, value: Any, low: int, high: int | None = None) -> int:
    """`value` as an int if it is a whole number (not a bool) in [low, high] (no upper bound if high is None)."""
    if not is_whole(value) or not low <= int(value) or (high is not None and int(value) > high):
        allowed = f"from {low} to {high}" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be a whole number {allowed}, got {quote(value)}")
    return int(value)


def seed(value: Any, name: str = "seed", note: str = "") -> int:
    """`value` as a seed: a whole number from 0 to MAX_SEED, the one range every part of pinit takes.

    `note` is added to the allowed range in the message (plan files say " (or null)").
    """
    if not is_whole(value) or not 0 <= int(value) <= MAX_SEED:
        raise ValueError(f"{name} must be a whole number from 0 to {MAX_SEED}{note}, got {quote(value)}")
    return int(value)


def seed_text(text: str, name: str = "seed") -> int:
    """A seed written as text (a link's ``seed=``, the CLI's ``--seed``): ASCII digits only, 0 to MAX_SEED.

    Stricter than int(): no sign, spaces, underscores, superscript or non-Latin digits
    ("²".isdigit() is True, and int("١٢") is 12), and never converts more than 19 digits.
    """
    digits = str(text)
    if not (0 < len(digits) <= len(str(MAX_SEED)) and digits.isascii() and digits.isdigit()):
        raise ValueError(f"{name} must be a whole number from 0 to {MAX_SEED} written in digits 0-9, got {quote(text)}")
    return seed(int(digits), name)


def _range_words(low: float, high: float, low_open: bool) -> str:
    if low > -math.inf and high < math.inf:
        return f" from {low:g} to {high:g}"
    if low > -math.inf:
        return f" {'>' if low_open else '>='} {low:g}"
    if high < math.inf:
        return f" <= {high:g}"
    return ""


def finite_number(
    name: str,
    value: Any,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_open: bool = False,
    what: str | None = None,
) -> float:
    """`value` as a float if it is a finite number (not a bool) in [low, high] ((low, high] with low_open).

    `what` replaces the allowed values in the message ("a positive finite number").
    """
    try:
        ok = is_number(value) and math.isfinite(float(value))
    except OverflowError:  # an int too big for a float
        ok = False
    if ok:
        v = float(value)
        ok = (v > low if low_open else v >= low) and v <= high
    if not ok:
        allowed = what or f"a finite number{_range_words(low, high, low_open)}"
        raise ValueError(f"{name} must be {allowed}, got {quote(value)}")
    return float(value)
