"""The one error type pinit raises for a plan it refuses."""

from __future__ import annotations

__all__ = ["PlanError"]


class PlanError(ValueError):
    """A plan (or one rule of it) that pinit refuses, with every problem in words.

    `problems` lists each problem on its own, e.g.
    ``"eye needs a 2-D tensor; layer1.conv1.weight has shape (32, 3, 3, 3)"``;
    ``str(error)`` joins them, one per line.
    """

    def __init__(self, problems: str | list[str]) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))
