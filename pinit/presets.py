"""Named plans that set every layer type in one click, each with what it teaches.

A view of the recipe registry (pinit.recipes): every recipe marked ``preset``, with its
plan and caption, so a preset's name means the same plan (and colour) as everywhere else.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from .recipes import RECIPES

__all__ = ["PRESETS", "Preset"]


@dataclass(frozen=True)
class Preset:
    name: str
    lesson: str
    plan: dict[str, Any]


PRESETS: dict[str, Preset] = {
    r.name: Preset(r.name, r.caption, copy.deepcopy(dict(r.plan))) for r in RECIPES.values() if r.preset
}
