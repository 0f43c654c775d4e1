"""The server opens its views once at start (pinit.dashboard.warm_views), on loopback only."""

from __future__ import annotations

import os
import time
from pathlib import Path

from pinit import serve
from pinit.dashboard.warm_views import WARM_VIEWS, loopback_url, views_to_warm

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
