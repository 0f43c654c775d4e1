"""Shared test settings."""

from __future__ import annotations

import pytest
import torch

from tests.harness import launch_chromium


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


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium driven by Playwright, one per test module (browser and scale-out tests)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch_chromium(p)
        yield b
        b.close()
