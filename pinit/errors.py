"""The one error type pinit raises for a plan it refuses, and the cap on how many problems it lists."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["MAX_PROBLEMS", "PlanError", "capped", "problem_count"]

MAX_PROBLEMS = 20  # problems listed in full; the rest are counted in one last line


class _More(str):
    """The last line of a capped list, "and N more problems"; it carries N so that re-capping adds up."""

    hidden: int

    def __new__(cls, count: int) -> _More:
        line = super().__new__(cls, f"and {count:,} more problem{'' if count == 1 else 's'}")
        line.hidden = count
        return line


def capped(problems: Iterable[str], limit: int = MAX_PROBLEMS) -> list[str]:
    """The first `limit` problems and, if there were more, one line "and N more problems".

    A file of 50,000 bad rules must not make 50,000 lines of error text (in the page,
    on the CLI's stderr, in memory). Lines from an earlier cap are counted, not listed.
    """
    problems = list(problems)
    real = [p for p in problems if not isinstance(p, _More)]
    hidden = sum(p.hidden for p in problems if isinstance(p, _More)) + max(0, len(real) - limit)
    return real[:limit] + ([_More(hidden)] if hidden else [])


def problem_count(problems: Iterable[str]) -> int:
    """How many problems a (possibly capped) list stands for."""
    return sum(p.hidden if isinstance(p, _More) else 1 for p in problems)


class PlanError(ValueError):
    """A plan (or one rule of it) that pinit refuses, with every problem in words.

    `problems` lists each problem on its own, e.g.
    ``"eye needs a 2-D tensor; layer1.conv1.weight has shape (32, 3, 3, 3)"``; past
    MAX_PROBLEMS the rest are counted in a last line ("and 480 more problems",
    `problem_count` gives the total). ``str(error)`` joins them, one per line.

    Args:
        problems: one problem in words, or all of them.

    Example:
        >>> import pinit
        >>> from torch import nn
        >>> bad = {"rules": {"Linear": {"weight": {"scheme": "uniform", "a": 1, "b": 0}}}}
        >>> try:
        ...     pinit.apply_plan(nn.Linear(2, 2), bad)
        ... except pinit.PlanError as e:
        ...     print(e.problems)
        ['Linear.weight: uniform needs a < b; got a=1, b=0']
    """

    def __init__(self, problems: str | list[str]) -> None:
        self.problems = capped([problems] if isinstance(problems, str) else problems)
        super().__init__("\n".join(self.problems))
