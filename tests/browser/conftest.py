"""Fixtures for real-browser tests: one dashboard server per module, Debian's Chromium."""

from __future__ import annotations

import os

import pytest

from tests.harness import ARTIFACTS, chromium_available, streamlit_server


def pytest_collection_modifyitems(config, items):
    if chromium_available():
        return
    if os.environ.get("CI"):
        # In CI the browser tests must run: .ci/run installs Debian's chromium.
        raise pytest.UsageError("CI is set but /usr/bin/chromium is missing: install Debian's chromium package")
    skip = pytest.mark.skip(reason="Debian's chromium is not installed (apt-get install -y chromium)")
    for item in items:
        if "browser" in str(item.fspath):
            item.add_marker(skip)


@pytest.fixture(scope="module")
def server_url():
    with streamlit_server() as url:
        yield url


@pytest.fixture
def shots():
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
