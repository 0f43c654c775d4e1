"""ci/floors.txt pins every dependency at the floor pyproject.toml declares (torch excepted: see there)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def test_floors_file_pins_each_dependency_at_its_declared_floor():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    declared = {}
    for dep in deps:
        name = re.match(r"[A-Za-z0-9_.-]+", dep)[0]
        floor = re.search(r">=\s*([\w.]+)", dep)
        assert floor, f"{dep!r} has no floor (>=)"
        declared[name] = floor[1]
    pinned = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", (ROOT / "ci" / "floors.txt").read_text(), re.MULTILINE))
    assert set(pinned) == set(declared) - {"torch"}
    for name, version in pinned.items():
        assert Version(version) == Version(declared[name]), (name, version, declared[name])  # 1.66 == 1.66.0
