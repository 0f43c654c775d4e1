"""A minimal Streamlit client that speaks the browser's websocket protocol (no browser).

A browser tab is, to the server, one websocket on ``/_stcore/stream`` carrying
protobufs: the tab sends ``BackMsg`` (``rerun_script`` with a ``ClientState``
holding every widget's current value, plus a ``trigger_value`` for the button
that was clicked); the server answers with ``ForwardMsg`` (``new_session`` at
the start of each run, one ``delta`` per element, ``script_finished`` at the
end). This module does the same with ``websockets`` (a dependency of streamlit
itself) and streamlit's own generated protobuf classes, so one process can hold
dozens of sessions where dozens of Chromiums would not fit on two cores.

What was copied from a real Chromium session (recorded with Playwright's
``page.on("websocket")``, streamlit 1.67):

* the first frame is ``rerun_script`` with empty widget states and a
  ``context_info`` (timezone, locale, url, color scheme);
* each later frame carries *all* widget values the page currently shows,
  keyed by the widget id the server put in the element, plus
  ``page_script_hash`` from ``new_session``; a click adds
  ``{id: <button id>, trigger_value: true}``;
* the subprotocol header is ``streamlit, <xsrf token or PLACEHOLDER_AUTH_TOKEN>[, <session id>]``;
  the third entry is how a tab that lost its websocket asks for its old session back.

Fragments (streamlit >= 1.67, read from the frontend's protocol and
``streamlit/runtime/app_session.py``): every ``Delta`` carries the ``fragment_id`` of
the fragment that drew it. A widget inside a fragment is sent as the browser sends it:
the same full widget state, plus ``rerun_script.fragment_id`` = that widget's fragment,
so the server reruns only that fragment (or, if a callback calls
``st.rerun(scope=[...keys])``, the fragments it names). The reply is a ``new_session``
whose ``metadata.run.fragment_ids`` lists the fragments rerun, their deltas, and
``script_finished`` = ``FINISHED_FRAGMENT_RUN_SUCCESSFULLY``. Only the elements of those
fragments come back, so the client keeps every other widget it already knows.

Widgets this client can read and set: selectbox, multiselect, number_input,
slider, checkbox (and toggle), text_input, button, and ``st.tabs`` with a key
(``Block.TabContainer.id``; its value is the open tab's label). Others are left out of the client state (the server then
keeps their last value), which is enough for pinit's page.

    python -m tests.ws_client --url http://127.0.0.1:8501     # one session: load, open Weights, type a seed, New draw
"""

from __future__ import annotations

import argparse
import asyncio
import http.cookiejar
import re
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlparse

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

FINISHED = ForwardMsg.ScriptFinishedStatus
WIDGET_TYPES = ("selectbox", "multiselect", "number_input", "slider", "checkbox", "text_input", "button")
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
SEED_IN_CAPTION = re.compile(r"tensors(?:\*\*)? · seed (\d+)")


class ProtocolError(RuntimeError):
    """The server closed the stream, timed out, or sent something a browser would not accept."""


@dataclass
class Widget:
    kind: str  # "selectbox", "number_input", ..., "tabs" (st.tabs with a key and on_change)
    id: str
    label: str
    proto: Any  # the element's protobuf (Selectbox, NumberInput, ...; Block.TabContainer for tabs)
    fragment_id: str = ""  # the fragment the element was drawn in (Delta.fragment_id); "" = the page
    tabs: tuple[str, ...] = ()  # for "tabs": the tab labels, in order

    @property
    def key(self) -> str:
        """The user key Streamlit appended to the id (``$$ID-<hash>-<key>``), or 'None'."""
        return self.id.rsplit("-", 1)[-1]

    def state(self, value: Any = None, sent: WidgetState | None = None) -> WidgetState | None:
        """The WidgetState a browser would send for this widget.

        `value` if given; else what this tab last sent for it or the server last set (`sent`:
        _run records a ``set_value`` element's value there when it arrives), as the frontend
        keeps the value a user typed; else the value the element arrived with. An element kept
        from an earlier run (its fragment did not rerun) still carries its old ``set_value``:
        it must not undo what the user typed since, as a browser's box does not.
        """
        p, ws = self.proto, WidgetState(id=self.id)
        if self.kind == "button":
            return None  # a button only appears in the state when clicked (see rerun())
        if value is None and sent is not None:
            return sent
        if self.kind == "tabs":
            # The frontend sends the open tab's label (string_value); before any switch it sends
            # nothing and the server takes the default (or the link's `view`).
            if value is None:
                return None
            ws.string_value = str(value)
            return ws
        if self.kind == "selectbox":
            if value is None:
                value = (
                    p.raw_value
                    if p.HasField("raw_value")
                    else (p.options[p.default] if p.HasField("default") else None)
                )
            if value is None:
                return None
            ws.string_value = str(value)
        elif self.kind == "number_input":
            if value is None:
                value = p.value if p.set_value else p.default
            if p.data_type == type(p).INT:
                ws.int_value = int(value)
            else:
                ws.double_value = float(value)
        elif self.kind == "slider":
            if p.type == type(p).SELECT_SLIDER:
                # st.select_slider sends its option labels (string_array_value); the page's only
                # one is the bins slider, left to the server unless set by label.
                if value is None:
                    return None
                labels = value if isinstance(value, (list, tuple)) else [value]
                ws.string_array_value.data.extend(str(v) for v in labels)
                return ws
            if value is None:
                value = list(p.value) if p.set_value else list(p.default)
            ws.double_array_value.data.extend(
                float(v) for v in (value if isinstance(value, (list, tuple)) else [value])
            )
        elif self.kind == "multiselect":
            if value is None:
                value = list(p.raw_values) if p.set_value else [p.options[i] for i in p.default]
            ws.string_array_value.data.extend(str(v) for v in value)
        elif self.kind == "text_input":
            ws.string_value = str((p.value if p.set_value else p.default) if value is None else value)
        elif self.kind == "checkbox":
            ws.bool_value = bool((p.value if p.set_value else p.default) if value is None else value)
        return ws


@dataclass
class RunResult:
    """One script run as the tab saw it."""

    elapsed: float  # request sent -> script_finished received, seconds
    status: str  # FINISHED_SUCCESSFULLY, ...
    elements: list[tuple[str, Any]] = field(default_factory=list)  # (element type, proto) in arrival order
    bytes_received: int = 0
    fragment_ids: list[str] = field(default_factory=list)  # the fragments this run reran; [] = the whole page
    arrivals: list[float] = field(default_factory=list)  # time.perf_counter() at each element's arrival

    def arrival_of(self, pattern: str) -> float | None:
        """When the first markdown element matching the regex `pattern` arrived (perf_counter), or None."""
        rx = re.compile(pattern)
        for (kind, proto), t in zip(self.elements, self.arrivals):
            if kind == "markdown" and rx.search(proto.body):
                return t
        return None

    def of_type(self, kind: str) -> list[Any]:
        return [p for k, p in self.elements if k == kind]

    @property
    def exceptions(self) -> list[str]:
        return [f"{e.type}: {e.message}" for e in self.of_type("exception")]

    @property
    def error_alerts(self) -> list[str]:
        return [a.body for a in self.of_type("alert") if a.format == a.ERROR]

    def metric(self, label: str) -> str | None:
        for m in self.of_type("metric"):
            if m.label == label:
                return m.body
        return None

    def markdown(self) -> list[str]:
        """The text of every markdown element (st.markdown, st.caption, st.write of text)."""
        return [m.body for m in self.of_type("markdown")]

    def caption_seed(self) -> int | None:
        """The seed the Weights view states in its summary caption ("... tensors · seed 123 · ..."),
        or None when no such caption came in this run (another view is open)."""
        for body in self.markdown():
            m = SEED_IN_CAPTION.search(body)
            if m:
                return int(m[1])
        return None

    @property
    def ok(self) -> bool:
        return (
            self.status in ("FINISHED_SUCCESSFULLY", "FINISHED_FRAGMENT_RUN_SUCCESSFULLY")
            and not self.exceptions
            and not self.error_alerts
        )


def check_loopback(url: str) -> None:
    host = urlparse(url).hostname
    if host not in LOOPBACK:
        raise ValueError(f"refusing {url!r}: the load tools only talk to loopback (127.0.0.1, localhost, ::1)")


class StreamlitSession:
    """One browser tab's worth of protocol: connect, rerun with widget values, read the run back."""

    resume_drain = 0.5  # seconds of quiet that end the flush after a reconnect

    def __init__(self, url: str, timeout: float = 120.0):
        check_loopback(url)
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.ws = None
        self.session_id: str | None = None
        self.page_script_hash = ""
        self.widgets: dict[str, Widget] = {}  # id -> widget, from the last finished run
        self.sent: dict[str, WidgetState] = {}  # id -> the value this tab last sent (what its page shows)
        self.query_string = ""  # the address bar's query: the app may write it (page_info_changed)
        self.cookies: str | None = None  # Cookie header from loading the page (None: not loaded yet)
        self.bytes_received = 0
        self.trace: list[str] | None = None  # set to a list to record every message kind (debugging)
        self.auto_reruns: dict[str, float] = {}  # fragment id -> interval (s): st.fragment(run_every=...)

    # -- connection ---------------------------------------------------------------------

    async def connect(self, resume_session_id: str | None = None) -> RunResult:
        """Open the websocket and do the first run, as a freshly loaded tab does.

        With `resume_session_id`, ask for that session back (what the frontend does after a
        dropped connection); the server resumes it if it is still within its disconnected TTL.
        """
        u = urlparse(self.url)
        ws_url = f"ws://{u.netloc}{u.path}/_stcore/stream"
        if self.cookies is None:
            # Load the page first, as a browser does, and keep its cookies: behind nginx the
            # sticky-session cookie is what pins this tab (and its reconnections) to one replica.
            self.cookies = await asyncio.to_thread(self._load_page)
        # As the frontend does: ["streamlit", <auth/xsrf token or a placeholder>, <last session id>].
        protocols = ["streamlit", "PLACEHOLDER_AUTH_TOKEN"] + ([resume_session_id] if resume_session_id else [])
        self.ws = await asyncio.wait_for(
            websockets.connect(
                ws_url,
                subprotocols=protocols,
                origin=f"http://{u.netloc}",
                additional_headers={"Cookie": self.cookies} if self.cookies else None,
                max_size=256 * 2**20,
                open_timeout=self.timeout,
                ping_interval=None,
            ),
            self.timeout,
        )
        if resume_session_id:
            # A tab that reconnects sends the values it still shows, once the server has flushed
            # what the session produced while it was away.
            return await self._run(self._rerun_msg({}, None), drain=self.resume_drain)
        return await self._run(self._rerun_msg({}, None, fresh=True))  # a fresh tab sends no widget states

    def _load_page(self) -> str:
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        with opener.open(self.url + "/", timeout=self.timeout) as r:
            r.read()
        return "; ".join(f"{c.name}={c.value}" for c in jar)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
            self.ws = None

    def abort(self) -> None:
        """Drop the TCP connection without a websocket close handshake, as a dead network does."""
        if self.ws is not None:
            self.ws.transport.abort()
            self.ws = None

    def _context(self, msg: BackMsg) -> None:
        ci = msg.rerun_script.context_info
        ci.timezone, ci.timezone_offset, ci.locale = "UTC", 0, "en-US"
        ci.url, ci.is_embedded, ci.color_scheme = self.url + "/", False, "light"

    # -- widgets ------------------------------------------------------------------------

    def widget(self, key: str | None = None, label: str | None = None) -> Widget:
        """The widget with user key `key` (e.g. 'seed', 'lesson.next') or, for key-less ones, the label."""
        for w in self.widgets.values():
            if key is not None and w.key == key:
                return w
        for w in self.widgets.values():
            if key is None and label is not None and w.label == label:
                return w
        raise KeyError(f"no widget with key={key!r} label={label!r}; have {[w.key for w in self.widgets.values()]}")

    def has_widget(self, key: str | None = None, label: str | None = None) -> bool:
        try:
            self.widget(key, label)
        except KeyError:
            return False
        return True

    async def rerun(
        self, values: dict[str, Any] | None = None, click: str | None = None, click_key: str | None = None
    ) -> RunResult:
        """Send every widget's shown value, `values` (by key) changed, and a click on a button
        (by `click` label or `click_key` key), as a browser would: scoped to the fragment of the
        widget that changed (or was clicked) when that widget lives in one."""
        return await self._run(self._rerun_msg(values or {}, click, click_key=click_key))

    async def send_rerun(
        self, values: dict[str, Any] | None = None, click: str | None = None, click_key: str | None = None
    ) -> None:
        """Like rerun() but return as soon as the request is sent (the run is not waited for)."""
        if self.ws is None:
            raise ProtocolError("not connected")
        await self.ws.send(self._rerun_msg(values or {}, click, click_key=click_key).SerializeToString())

    # -- the page's own gestures ------------------------------------------------------------

    async def new_draw(self) -> RunResult:
        """Press the sidebar's "New draw" (a fresh random seed)."""
        return await self.rerun(click="New draw")

    async def type_seed(self, seed: int) -> RunResult:
        """Type `seed` into the sidebar's seed box (a text input: the value is sent as text)."""
        return await self.rerun({"seed": str(seed)})

    async def open_tab(self, label: str) -> RunResult:
        """Click the tab `label` (the page's st.tabs, key "view"). The frontend writes a bound
        tab's label into the address bar itself (no page_info_changed), then reruns the page."""
        tabs = self.widget(key="view")
        qs = [(k, v) for k, v in parse_qsl(self.query_string, keep_blank_values=True) if k != "view"]
        if label != tabs.proto.default_tab_label:
            qs.append(("view", label))
        self.query_string = urlencode(qs)
        return await self.rerun({"view": label})

    async def pick_preset(self, preset: str) -> RunResult:
        return await self.rerun({"preset": preset})

    async def lesson_step(self, delta: int) -> RunResult:
        """Press the lesson's Next (+1) or Back (-1)."""
        return await self.rerun(click_key="lesson.next" if delta > 0 else "lesson.prev")

    async def auto_rerun(self, fragment_id: str | None = None) -> RunResult:
        """One tick of a ``st.fragment(run_every=...)`` timer, as the frontend sends it: every widget's
        value, the fragment's id and ``is_auto_rerun``. The server announced the fragment with an
        ``auto_rerun`` message (``self.auto_reruns``); `fragment_id` defaults to the fastest one."""
        if fragment_id is None:
            if not self.auto_reruns:
                raise ProtocolError("the page runs no fragment on a timer")
            fragment_id = min(self.auto_reruns, key=self.auto_reruns.__getitem__)
        msg = self._rerun_msg({}, None)
        msg.rerun_script.fragment_id = fragment_id
        msg.rerun_script.is_auto_rerun = True
        return await self._run(msg)

    async def follow_until(self, done: Any, timeout: float = 30.0, fragment_id: str | None = None) -> RunResult:
        """Tick the page's fastest timer fragment at its interval (the frontend's setInterval: ticks on a
        fixed schedule, a late run does not shift the next) until `done(run)` is true for a run; that run.
        ProtocolError after `timeout` seconds."""
        interval = min(self.auto_reruns.values()) if fragment_id is None else self.auto_reruns[fragment_id]
        start = time.perf_counter()
        tick = 0
        while True:
            run = await self.auto_rerun(fragment_id)
            if done(run):
                return run
            now = time.perf_counter()
            if now - start > timeout:
                raise ProtocolError(f"nothing the caller waited for within {timeout:.0f} s")
            tick = max(tick + 1, int((now - start) / interval))
            await asyncio.sleep(max(0.0, start + tick * interval - now))

    def shown_seed(self) -> int | None:
        """The seed of the weights on screen, as the page shows it in its link (`seed=` in the
        address bar: the page rewrites it after every applied change, page_info_changed).

        Not the sidebar's seed box: after New draw the server sets the box's value in a
        callback that reruns the fragments (st.rerun), and streamlit 1.67 marks the value as
        set (``set_value``) only in the run the rerun interrupts, so the box's element
        arrives without it. None when the link has no whole-number seed."""
        text = dict(parse_qsl(self.query_string)).get("seed", "")
        return int(text) if text.isdigit() else None

    def _rerun_msg(
        self, values: dict[str, Any], click: str | None, fresh: bool = False, click_key: str | None = None
    ) -> BackMsg:
        values = dict(values)
        msg = BackMsg()
        states = msg.rerun_script.widget_states
        states.SetInParent()
        if not fresh:
            changed = [self.widget(key=k) for k in values if self.has_widget(key=k)]
            for w in self.widgets.values():
                st = w.state(values.pop(w.key, None), self.sent.get(w.id))
                if st is not None:
                    states.widgets.append(st)
                    self.sent[w.id] = st
            if values:
                raise KeyError(f"no widgets with keys {sorted(values)}")
            if click is not None or click_key is not None:
                button = self.widget(key=click_key) if click_key is not None else self.widget(label=click)
                states.widgets.append(WidgetState(id=button.id, trigger_value=True))
                changed.append(button)
            # The frontend scopes a rerun to the fragment of the widget that triggered it
            # (a tab switch, a widget outside every fragment: the whole page).
            scopes = {w.fragment_id for w in changed}
            if len(scopes) == 1:
                msg.rerun_script.fragment_id = scopes.pop()
            msg.rerun_script.page_script_hash = self.page_script_hash
        msg.rerun_script.query_string = self.query_string
        self._context(msg)
        return msg

    # -- one run --------------------------------------------------------------------------

    async def _recv(self, timeout: float) -> ForwardMsg:
        try:
            raw = await asyncio.wait_for(self.ws.recv(), timeout)
        except websockets.ConnectionClosed as e:
            raise ProtocolError(f"websocket closed by the server: {e}") from e
        self._nbytes += len(raw)
        fwd = ForwardMsg()
        fwd.ParseFromString(raw)
        return fwd

    async def _drain(self, quiet: float) -> None:
        """Read whatever the server sends until it has been quiet for `quiet` seconds.

        After a reconnect the server first flushes what the session produced while it had no
        connection (the tail of the run the dropped connection interrupted, sometimes with
        that run's own new_session). Those runs are not ours: remember their run ids.
        """
        while True:
            try:
                fwd = await self._recv(quiet)
            except TimeoutError:
                return
            self._note(fwd, "drained")
            if fwd.WhichOneof("type") == "page_info_changed":
                self.query_string = fwd.page_info_changed.query_string
            if fwd.WhichOneof("type") == "new_session":
                self._stale_runs.add(fwd.metadata.run.script_run_id)

    def _note(self, fwd: ForwardMsg, t: float | str) -> None:
        if self.trace is not None:
            kind = fwd.WhichOneof("type")
            self.trace.append(
                f"{t if isinstance(t, str) else f'{t:.3f}'} {kind}"
                + (f" {FINISHED.Name(fwd.script_finished)}" if kind == "script_finished" else "")
                + (f" run={fwd.metadata.run.script_run_id[:8]}" if fwd.metadata.run.script_run_id else "")
            )

    async def _run(self, msg: BackMsg, drain: float = 0.0) -> RunResult:
        """Send `msg` and read until the run it started has finished.

        A run is new_session ... deltas ... script_finished, tagged with a script_run_id.
        Messages of runs that began before our request (a run our rerun interrupted ends
        with FINISHED_EARLY_FOR_RERUN; after a reconnect the server flushes the left-over
        run first) are read and dropped.
        """
        if self.ws is None:
            raise ProtocolError("not connected")
        self._nbytes = 0
        self._stale_runs: set[str] = set()
        if drain:
            await self._drain(drain)
        t0 = time.perf_counter()
        await self.ws.send(msg.SerializeToString())
        elements: list[tuple[str, Any]] = []
        arrivals: list[float] = []
        widgets: dict[str, Widget] = {}
        ours: str | None = None  # the script_run_id of the run our request started
        rerun_fragments: set[str] = set()  # empty: a full run
        deadline = t0 + self.timeout
        while True:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise ProtocolError(f"no script_finished within {self.timeout:.0f} s")
            try:
                fwd = await self._recv(remaining)
            except TimeoutError:
                raise ProtocolError(f"no script_finished within {self.timeout:.0f} s") from None
            self._note(fwd, time.perf_counter() - t0)
            kind = fwd.WhichOneof("type")
            run_id = fwd.metadata.run.script_run_id
            if kind == "new_session":
                ns = fwd.new_session
                if ns.HasField("initialize"):
                    self.session_id = ns.initialize.session_id
                self.page_script_hash = ns.page_script_hash or ns.main_script_hash or self.page_script_hash
                ours = None if run_id in self._stale_runs else run_id
                rerun_fragments = set(fwd.metadata.run.fragment_ids)
                elements.clear()
                arrivals.clear()
                widgets.clear()
            elif kind == "delta" and fwd.delta.WhichOneof("type") == "new_element":
                el = fwd.delta.new_element
                et = el.WhichOneof("type")
                proto = getattr(el, et)
                elements.append((et, proto))
                arrivals.append(time.perf_counter())
                if et in WIDGET_TYPES and proto.id:
                    widgets[proto.id] = Widget(et, proto.id, proto.label, proto, fwd.delta.fragment_id)
            elif kind == "delta" and fwd.delta.WhichOneof("type") == "add_block":
                block = fwd.delta.add_block
                bt = block.WhichOneof("type")
                if bt == "tab_container" and block.tab_container.id:
                    tc = block.tab_container
                    widgets[tc.id] = Widget("tabs", tc.id, "", tc, fwd.delta.fragment_id)
                    self._tabs_id = tc.id
                elif bt == "tab" and getattr(self, "_tabs_id", None) in widgets:
                    t = widgets[self._tabs_id]
                    t.tabs = (*t.tabs, block.tab.label)
                elements.append((bt or "block", block))
                arrivals.append(time.perf_counter())
            elif kind == "auto_rerun":
                self.auto_reruns[fwd.auto_rerun.fragment_id] = fwd.auto_rerun.interval
            elif kind == "stop_auto_rerun":
                for fid in fwd.stop_auto_rerun.fragment_ids:
                    self.auto_reruns.pop(fid, None)
            elif kind == "page_info_changed":
                self.query_string = fwd.page_info_changed.query_string
            elif kind == "ref_hash":
                # Only sent for messages the client said it has cached (cached_message_hashes); we never do.
                raise ProtocolError("server sent a cached-message reference this client never asked for")
            elif kind == "script_finished":
                if ours is None or run_id != ours or fwd.script_finished == FINISHED.FINISHED_EARLY_FOR_RERUN:
                    # The end of a run that began before our request, or one a later rerun replaced.
                    ours = None
                    elements.clear()
                    arrivals.clear()
                    widgets.clear()
                    continue
                if rerun_fragments:
                    # A fragment run sends only its fragments' elements: keep every widget drawn
                    # elsewhere, replace those of the fragments that ran (nested ones included).
                    ran = rerun_fragments | {w.fragment_id for w in widgets.values()}
                    kept = {i: w for i, w in self.widgets.items() if w.fragment_id not in ran}
                    self.widgets = {**kept, **widgets}
                else:
                    self.widgets = widgets or self.widgets
                for w in widgets.values():  # the server set these values: the page now shows them
                    if getattr(w.proto, "set_value", False):
                        st = w.state()
                        if st is not None:
                            self.sent[w.id] = st
                self.bytes_received += self._nbytes
                return RunResult(
                    time.perf_counter() - t0,
                    FINISHED.Name(fwd.script_finished),
                    elements,
                    self._nbytes,
                    sorted(rerun_fragments),
                    arrivals,
                )


# --- a class: one presenter, followers (pinit.dashboard.room) -----------------------------------

CLASS_CODE = re.compile(r"Class \*\*([2-9A-Z]{4})\*\* · (\d+) following")
FOLLOWING_STEP = r"Following the teacher · class \*\*{code}\*\* · step {step} of"


def class_status(run: RunResult) -> tuple[str, int] | None:
    """(class code, followers) as the presenter's row shows them in `run`, or None."""
    for body in run.markdown():
        m = CLASS_CODE.search(body)
        if m:
            return m[1], int(m[2])
    return None


async def open_class(url: str, timeout: float = 180.0) -> tuple[StreamlitSession, str]:
    """A presenter tab (?present=1 on the Lesson) that has pressed "Open a class": (session, code)."""
    s = StreamlitSession(url, timeout=timeout)
    s.query_string = "present=1&view=Lesson&step=1"
    first = await s.connect()
    if not first.ok:
        raise ProtocolError(f"the presenter's page failed: {first.exceptions or first.error_alerts}")
    run = await s.rerun(click_key="room.open")
    status = class_status(run)
    if status is None:
        raise ProtocolError(f"no class code after 'Open a class': {run.markdown()[:5]}")
    return s, status[0]


async def join_class(url: str, code: str, timeout: float = 180.0) -> tuple[StreamlitSession, RunResult]:
    """A student's tab opened on the class link (?room=CODE): (session, its first run)."""
    s = StreamlitSession(url, timeout=timeout)
    s.query_string = f"room={code}"
    return s, await s.connect()


def shows_step(code: str, step: int) -> Any:
    """A predicate on a run: the follower's banner says it is at `step` of class `code`."""
    pattern = FOLLOWING_STEP.format(code=re.escape(code), step=step)
    return lambda run: run.arrival_of(pattern) is not None


async def _demo(url: str) -> None:
    s = StreamlitSession(url)
    first = await s.connect()
    print(
        f"session {s.session_id}: first run {first.elapsed:.2f} s, {first.status}, "
        f"{len(first.of_type('plotly_chart'))} charts, {first.bytes_received:,} bytes"
    )
    print("widgets:", ", ".join(f"{w.kind}:{w.key if w.key != 'None' else w.label}" for w in s.widgets.values()))
    await s.open_tab("Weights")
    run = await s.type_seed(123)
    print(
        f"seed 123 typed: {run.elapsed:.2f} s, {run.status}, fragments {run.fragment_ids}, "
        f"seed shown {run.caption_seed()} (link {s.shown_seed()}), "
        f"exceptions {run.exceptions}, errors {run.error_alerts}"
    )
    run = await s.new_draw()
    print(f"New draw: {run.elapsed:.2f} s, {run.status}, seed shown {run.caption_seed()} (link {s.shown_seed()})")
    await s.close()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", required=True, help="a running dashboard on loopback, e.g. http://127.0.0.1:8501")
    asyncio.run(_demo(ap.parse_args().url))
