"""Shared test settings."""

from __future__ import annotations

import pytest
import torch


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
