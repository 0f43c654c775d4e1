"""Fail unless this Python imports exactly the versions ci/floors.txt pins (run in the floors venv).

A venv made with --system-site-packages also sees the newer system packages; this makes
sure pip really put the floors in front of them before the smoke tests run.
"""

from __future__ import annotations

import importlib
import re
import sys
from importlib.metadata import version
from pathlib import Path

FLOORS = Path(__file__).with_name("floors.txt")


def pins() -> dict[str, str]:
    return {m[1]: m[2] for m in re.finditer(r"^([A-Za-z0-9_.-]+)==(\S+)", FLOORS.read_text(), re.MULTILINE)}


def main() -> int:
    wrong = []
    for name, pinned in pins().items():
        module = importlib.import_module(name)  # it imports, beside the others
        got = version(name)
        print(f"{name} {got} ({Path(module.__file__ or '?').parent})")
        if got != pinned:
            wrong.append(f"{name} {got}, not the floor {pinned}")
    if wrong:
        print("not the floors: " + "; ".join(wrong), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
