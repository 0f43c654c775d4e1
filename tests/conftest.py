"""Shared test settings, and the markers every test gets by where it lives and what it starts.

* ``browser``: everything under tests/browser (Debian's Chromium).
* ``server``: everything under tests/scaleout, every test using a fixture that starts a
  server (``server_url``, ``server``, ``cls``), and every test whose own code starts one
  (``streamlit_server(``, ``running(``, ``classroom(``).
* ``slow``: the tests listed in SLOW, measured with ``pytest --durations=40``.
* ``smoke``: the page under AppTest (tests/test_app*.py) and the figures' specs: what .ci/run
  also runs on the lowest versions pyproject.toml allows (ci/floors.txt).

``pytest -m "not browser and not server and not slow"`` is the fast suite.
"""

from __future__ import annotations

import inspect
import os
import re
from pathlib import Path

import pytest
import torch
from hypothesis import settings

from tests.harness import launch_chromium

# The servers tests start do not open their own views at start (pinit.dashboard.warm_views): each
# test sees the page as its first visitor would, and two cores are not spent warming unused tabs.
os.environ.setdefault("PINIT_WARM_VIEWS", "off")

# Hypothesis loads its own "ci" profile when CI is set (derandomized: the same examples on every
# run). HYPOTHESIS_PROFILE=thorough runs 50x more random examples, to hunt before a release.
settings.register_profile("thorough", max_examples=5000, deadline=None)
if os.environ.get("HYPOTHESIS_PROFILE"):
    settings.load_profile(os.environ["HYPOTHESIS_PROFILE"])

TESTS = Path(__file__).resolve().parent
SERVER_FIXTURES = {"server_url", "server", "cls"}
STARTS_A_SERVER = re.compile(r"\b(streamlit_server|running|classroom)\(")  # harness, pinit.serve, deploy
SMOKE_FILES = ("test_app*.py", "test_lab_figures.py")
# Tests that took over ~2.5 s in two runs of `pytest --durations=40` on the shared 2-core
# machine (load average 6 to 11, so about half that on an idle one). The browser and
# server tests are marked by the rules above.
SLOW = {
    "tests/test_app_lab.py::test_signal_flow_shows_exploding_logits_for_the_article_recipe_and_order_one_for_kaiming",
    "tests/test_app_lab.py::test_train_two_plans_marks_the_exploding_one_and_caches_finished_runs",
    "tests/test_app_lab.py::test_depth_lab_glorot_zero_init_and_lsuv_presets",
    "tests/test_app_lab.py::test_depth_lab_he_preset_kaiming_stays_level_xavier_decays",
    "tests/test_app_lab.py::test_compare_article_recipe_against_kaiming",
    "tests/test_classic_results.py::test_good_init_trains_and_bad_inits_do_not",
    "tests/test_cli.py::test_help_in_a_real_subprocess_teaches_the_plan_format",
    "tests/test_properties.py::test_a_random_plan_gives_finite_weights_or_a_plan_error_and_nothing_else",
    "tests/test_experiments.py::test_train_run_exploding_init_ends_cleanly_kaiming_completes",
}


def _starts_a_server(item: pytest.Item) -> bool:
    callspec = getattr(item, "callspec", None)
    parametrized = set(callspec.params) if callspec else set()  # a parameter named `cls` is no fixture
    if SERVER_FIXTURES & (set(getattr(item, "fixturenames", ())) - parametrized):
        return True
    try:
        source = inspect.getsource(item.function)  # type: ignore[attr-defined]
    except (AttributeError, OSError, TypeError):
        return False
    return STARTS_A_SERVER.search(source) is not None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        path = Path(item.path)
        rel = path.relative_to(TESTS.parent).as_posix() if path.is_relative_to(TESTS.parent) else path.name
        parts = path.relative_to(TESTS).parts if path.is_relative_to(TESTS) else ()
        if parts[:1] == ("browser",):
            item.add_marker(pytest.mark.browser)
        if parts[:1] == ("scaleout",) or _starts_a_server(item):
            item.add_marker(pytest.mark.server)
        if f"{rel}::{item.name.split('[')[0]}" in SLOW:
            item.add_marker(pytest.mark.slow)
        if len(parts) == 1 and any(path.match(pattern) for pattern in SMOKE_FILES):
            item.add_marker(pytest.mark.smoke)


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    """One intra-op thread for the whole run (restored afterwards), as the page runs it
    (app.py): on a shared 2-core machine two OpenMP threads spin against the other load
    and run 5-15x slower. Session scope, so it is in force before any module fixture."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="session", autouse=True)
def validated_figures():
    """plotly validates every figure the tests draw (the server skips it: pinit.figures.VALIDATE)."""
    import pinit.figures

    pinit.figures.VALIDATE = True
    yield
    pinit.figures.VALIDATE = False


@pytest.fixture(scope="module")
def playwright_driver():
    """Playwright, one per test module (its browser and its device descriptors)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright_driver):
    """Debian's Chromium driven by Playwright, one per test module (browser and scale-out tests)."""
    b = launch_chromium(playwright_driver)
    yield b
    b.close()


@pytest.fixture(scope="module")
def playwright_devices(playwright_driver):
    """Playwright's device descriptors (viewport, user agent, touch), e.g. "iPhone 13"."""
    return playwright_driver.devices
