"""The server opens its views once at start (pinit.dashboard.warm_views), on loopback only."""

from __future__ import annotations

import os
import time
from pathlib import Path

from pinit import serve
from pinit.dashboard.warm_views import WARM_VIEWS, _open_view, loopback_url, views_to_warm, visitors_running

REPO = Path(__file__).resolve().parents[1]


def test_loopback_url_never_leaves_loopback():
    assert loopback_url("", 8501) == "http://127.0.0.1:8501"
    assert loopback_url("0.0.0.0", 8000, "/pinit/") == "http://127.0.0.1:8000/pinit"
    assert loopback_url("::1", 8000) == "http://[::1]:8000"
    assert loopback_url("192.168.1.20", 8501) is None  # bound to one LAN address only: not warmed


def test_views_to_warm_reads_the_setting():
    assert views_to_warm(None) == views_to_warm("") == WARM_VIEWS
    assert views_to_warm("off") == views_to_warm(" False ") == ()
    assert views_to_warm("Weights, Compare") == ("Weights", "Compare")


def test_the_server_opens_the_views_once_at_start_and_a_first_visit_then_finds_them(tmp_path):
    log_path = tmp_path / "server.log"
    env = {**os.environ, "PINIT_WARM_VIEWS": "Weights,Width (μP)"}
    with log_path.open("w") as log, serve.running(log=log, cwd=REPO, env=env) as (_url, _proc):
        deadline = time.monotonic() + 600
        while log_path.read_text().count("pinit: opened") < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
    text = log_path.read_text()
    assert "pinit: opened 'Weights' once at start: FINISHED_SUCCESSFULLY" in text, text[-3000:]
    assert "pinit: opened 'Width (μP)' once at start: FINISHED_SUCCESSFULLY" in text, text[-3000:]
    assert "missing ScriptRunContext" not in text and "Traceback" not in text, text[-3000:]


def test_streamlits_session_state_that_visitors_running_reads_is_still_there():
    """visitors_running() reads two private attributes; a Streamlit that renamed them would turn the
    yielding off without a sound (it returns False), so check they exist in the installed one."""
    import inspect

    from streamlit.runtime import Runtime
    from streamlit.runtime.app_session import AppSession, AppSessionState
    from streamlit.runtime.session_manager import SessionManager

    assert "self._session_mgr" in inspect.getsource(Runtime.__init__)
    assert "self._state = AppSessionState.APP_NOT_RUNNING" in inspect.getsource(AppSession.__init__)
    assert AppSessionState.APP_IS_RUNNING and hasattr(SessionManager, "list_active_sessions")
    assert visitors_running() is False  # no runtime in this process: no visitor, no error


def test_a_view_being_warmed_stops_for_a_visitor_and_is_warmed_again_after(tmp_path):
    """The warm-up's 4 s run of 'slow' is under way when a visitor's 3 s run starts: the warm-up stops
    its run at once (before the visitor's ends) and opens the view again once the visitor is done."""
    log_path = tmp_path / "server.log"
    env = {**os.environ, "PINIT_WARM_VIEWS": "slow"}
    script = REPO / "tests/fixtures/slow_page.py"
    with (
        log_path.open("w") as log,
        serve.running(script=script, log=log, cwd=REPO, env=env, lesson_worker=True) as (url, _proc),
    ):
        deadline = time.monotonic() + 120
        while "page: slow started" not in log_path.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _open_view(url, "visitor", 60, yield_to_visitors=False) == "FINISHED_SUCCESSFULLY"
        while "pinit: opened" not in log_path.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
    events = [line for line in log_path.read_text().splitlines() if line.startswith(("page:", "pinit: opened"))]
    assert events[:4] == [
        "page: slow started",
        "page: visitor started",
        "page: slow stopped",
        "page: visitor finished",
    ], events
    assert events[4:6] == ["page: slow started", "page: slow finished"], events
    assert events[6].startswith("pinit: opened 'slow' once at start: FINISHED_SUCCESSFULLY"), events
    assert events[6].endswith("after yielding 1x to visitors"), events
