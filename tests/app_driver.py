"""Helpers for the AppTest page tests."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def goto(at: AppTest, view: str) -> AppTest:
    """Switch tabs as a click would: the tabs are bound to the "view" query parameter."""
    at.query_params["view"] = view
    at.session_state["view"] = view
    at.run()
    assert not at.exception, at.exception
    return at
