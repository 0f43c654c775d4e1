"""Input checks shared by the whole package: one place, one message per kind of mistake.

Each check returns the value it accepted (converted where that is safe) or raises
ValueError that names the argument, echoes what was given and says what is allowed,
as torch.nn.init does ("Only tensors with 2 dimensions are supported").
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["whole_number"]


def whole_number(name: str, value: Any, low: int, high: int) -> int:
    """`value` as an int if it is a whole number (not a bool) in [low, high]; else ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= int(value) <= high:
        raise ValueError(f"{name} must be a whole number from {low} to {high}, got {value!r}")
    return int(value)
