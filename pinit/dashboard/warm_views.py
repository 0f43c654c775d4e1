"""The server opens its own views once, at start, so a student's first open of a tab reads caches.

What a view computes for the default setup at the default seed (Signal flow's probes, Compare's
two reports, Width's μP sweep, Share's exports, ...) is the same for every student. The page
caches it process-wide by value (st.cache_data), but the first session to open the tab pays
for it: seconds on a shared server. Here the server pays instead, before the class arrives:
once it answers its health check, `warm` opens each of WARM_VIEWS as a fresh tab does (one
websocket on /_stcore/stream, a `rerun_script` with the view in the query string, read until
the run finishes), one view after the other, on loopback. Those runs fill the same caches a
student's first open reads.

It is the page's own code path, so nothing is computed twice or differently; a view that fails
here fails for nobody (the student's open computes it as before).

Visitors come first: the teacher often opens the page the moment the server answers, and a
warm-up run beside that first visit would halve the CPU it gets. So each view waits until no
visitor's run has been in progress for QUIET seconds, and a view being warmed when a visitor's
run starts is stopped (Streamlit's stop_script, as the page's Stop does) and tried again later.
PINIT_WARM_VIEWS=off turns it off, and a comma-separated list of tab labels there replaces
WARM_VIEWS; a server bound to one non-loopback address is not warmed (nothing here leaves
loopback).
"""

from __future__ import annotations

import os
import sys
import threading
import time
import urllib.request
from collections.abc import Sequence
from urllib.parse import urlencode

__all__ = ["WARM_ENV", "WARM_VIEWS", "loopback_url", "start", "views_to_warm", "visitors_running", "warm"]

WARM_ENV = "PINIT_WARM_VIEWS"
# The tabs whose first open computes what is the same for everyone, most visited first.
WARM_VIEWS = ("Weights", "Signal flow", "Compare", "Width (μP)", "Share and export")
_LOOPBACK = {"", "0.0.0.0", "::", "127.0.0.1", "localhost", "::1"}


def loopback_url(address: str | None, port: int, base: str = "") -> str | None:
    """The server's URL on loopback, or None when it listens on one other address only."""
    address = (address or "").strip()
    if address not in _LOOPBACK:
        return None
    host = "[::1]" if address == "::1" else "127.0.0.1"
    base = "/" + base.strip("/") if base.strip("/") else ""
    return f"http://{host}:{port}{base}"


QUIET = 1.0  # seconds without a visitor's run before a view is warmed
YIELDED = "YIELDED_TO_A_VISITOR"
_MAX_YIELDS = 5  # then the view is left to the students' first open


def visitors_running(own: str | None = None) -> bool:
    """Whether a session other than `own` (the warm-up's) is running the page right now.

    Reads Streamlit's session manager (Runtime._session_mgr, AppSession._state: private, checked by
    tests/test_warm_views.py against the installed Streamlit); False when they cannot be read,
    so a Streamlit that renamed them warms as before, without yielding."""
    try:
        from streamlit.runtime import Runtime
        from streamlit.runtime.app_session import AppSessionState

        sessions = Runtime.instance()._session_mgr.list_active_sessions()
        return any(s.session.id != own and s.session._state == AppSessionState.APP_IS_RUNNING for s in sessions)
    except Exception:
        return False


def _wait_for_quiet(limit: float = 120.0) -> None:
    """Until no visitor's run has been in progress for QUIET seconds (at most `limit` seconds)."""
    deadline, quiet_since = time.monotonic() + limit, time.monotonic()
    while time.monotonic() < deadline:
        if visitors_running():
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= QUIET:
            return
        time.sleep(0.1)


def _open_view(url: str, view: str, timeout: float, yield_to_visitors: bool = True) -> str:
    """One fresh tab's first run of `view`: the script's finishing status, or YIELDED when a visitor's
    run started meanwhile and this one was stopped for it."""
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    from websockets.sync.client import connect

    msg = BackMsg()
    msg.rerun_script.query_string = urlencode({"view": view})
    ci = msg.rerun_script.context_info
    ci.timezone, ci.timezone_offset, ci.locale = "UTC", 0, "en-US"
    ci.url, ci.is_embedded, ci.color_scheme = url + "/", False, "light"
    early = ForwardMsg.ScriptFinishedStatus.Value("FINISHED_EARLY_FOR_RERUN")
    with connect(
        url.replace("http://", "ws://", 1) + "/_stcore/stream",
        subprotocols=["streamlit", "PLACEHOLDER_AUTH_TOKEN"],  # type: ignore[list-item]
        max_size=256 * 2**20,
        open_timeout=timeout,
        close_timeout=1,
    ) as ws:
        ws.send(msg.SerializeToString())
        deadline = time.monotonic() + timeout
        own, stopped = None, False
        while True:
            try:
                raw = ws.recv(timeout=min(0.1, max(0.01, deadline - time.monotonic())))
            except TimeoutError:
                if time.monotonic() > deadline:
                    raise
                if yield_to_visitors and not stopped and own is not None and visitors_running(own):
                    stop = BackMsg()
                    stop.stop_script = True
                    ws.send(stop.SerializeToString())
                    stopped = True
                continue
            fwd = ForwardMsg()
            fwd.ParseFromString(raw if isinstance(raw, bytes) else raw.encode())
            kind = fwd.WhichOneof("type")
            if kind == "new_session":
                own = fwd.new_session.initialize.session_id
            elif kind == "script_finished" and fwd.script_finished != early:
                return YIELDED if stopped else ForwardMsg.ScriptFinishedStatus.Name(fwd.script_finished)


def warm(url: str, views: Sequence[str] = WARM_VIEWS, timeout: float = 300.0) -> dict[str, str]:
    """Open each of `views` once, one after the other: {view: "<status> in <s> s" or what went wrong}."""
    out = {}
    for view in views:
        t0 = time.perf_counter()
        try:
            yields = 0
            while True:
                _wait_for_quiet()
                status = _open_view(url, view, timeout)
                if status != YIELDED or yields == _MAX_YIELDS:
                    break
                yields += 1
            after = f" after yielding {yields}x to visitors" if yields else ""
            out[view] = f"{status} in {time.perf_counter() - t0:.1f} s{after}"
        except Exception as e:  # a view that fails here is computed by the student's open, as before
            out[view] = f"not warmed: {type(e).__name__}: {e}"
    return out


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def views_to_warm(setting: str | None) -> tuple[str, ...]:
    """WARM_VIEWS, none for "off" (or 0, no, false), or the comma-separated labels given."""
    setting = (setting or "").strip()
    if setting.lower() in ("off", "0", "no", "false"):
        return ()
    return tuple(v.strip() for v in setting.split(",") if v.strip()) or WARM_VIEWS


def _run(startup_timeout: float, views: tuple[str, ...]) -> None:
    from streamlit import config
    from streamlit.runtime import Runtime

    deadline = time.monotonic() + startup_timeout
    while time.monotonic() < deadline:
        # Once the runtime exists, the command line's flags are in the config; the port is re-read
        # on every try, as Streamlit writes there the one it bound if it had to pick another.
        if Runtime.exists():
            url = loopback_url(
                config.get_option("server.address"),
                int(config.get_option("server.port")),
                config.get_option("server.baseUrlPath") or "",
            )
            if url is None:
                return
            if _healthy(url):
                for view, outcome in warm(url, views).items():
                    print(f"pinit: opened {view!r} once at start: {outcome}", file=sys.stderr, flush=True)
                return
        time.sleep(0.25)


def start(startup_timeout: float = 120.0) -> threading.Thread | None:
    """In the server's process, before Streamlit starts: warm WARM_VIEWS in a thread once the server answers."""
    views = views_to_warm(os.environ.get(WARM_ENV))
    if not views:
        return None
    thread = threading.Thread(target=_run, args=(startup_timeout, views), name="pinit-warm-views", daemon=True)
    thread.start()
    return thread
