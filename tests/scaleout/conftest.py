"""Scale-out tests: two replicas of the dashboard behind nginx (deploy/), driven by Chromium.

They need nginx and Debian's chromium. Locally a missing one skips them; in CI (the CI
variable is set) it fails them, so they are never skipped silently: .ci/run installs
both (apt-get install -y chromium nginx).
"""

from __future__ import annotations

import os

import pytest

from deploy.replicas import classroom, find_nginx
from tests.harness import ARTIFACTS, chromium_available

MISSING = {
    "nginx": lambda: find_nginx() is not None,
    "chromium": chromium_available,
}


@pytest.fixture(scope="session", autouse=True)
def _needs_nginx_and_chromium():
    missing = [name for name, present in MISSING.items() if not present()]
    if not missing:
        return
    what = " and ".join(missing)
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but {what} is missing: .ci/run must apt-get install -y {' '.join(missing)}")
    pytest.skip(f"{what} not installed (apt-get install -y {' '.join(missing)})")


@pytest.fixture(scope="module")
def cls():
    """Two replicas sharing one cookie secret, behind nginx with sticky sessions, all on loopback."""
    with classroom(2, log_dir=ARTIFACTS / "scaleout") as c:
        yield c
