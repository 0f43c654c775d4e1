"""What a person waits for after a click on pinit's page, in Chromium, against two references measured in the same run.

The references, interleaved with pinit's samples (A, B, A, B, ...) in one run:

* a bare Streamlit page (bench/bare_app.py: one selectbox whose value is written below it):
  picking another option until the written value has changed and the run has finished
  is the floor of Streamlit itself;
* TensorBoard drawing the same 12 histograms (SimpleCNN's 12 parameters under pinit's
  "PyTorch default" preset at seed 0, written to an event file at bench time) in its
  Histograms dashboard: the reference for navigation.

What is measured, for each sample
---------------------------------
Clock: the page's own ``performance.now()`` (origin: the start of the navigation that
loaded the document), so no Python or CDP round trip is inside a figure.

Start: for an interaction, the ``timeStamp`` of the first trusted ``pointerdown``,
``mousedown`` or ``keydown`` after the bench arms the page, that is the press of the
mouse or key that triggers the change (untimed preparation, such as opening a
selectbox's list or typing a seed before Enter, comes before arming). For navigation,
0: the navigation start (each navigation starts from about:blank, so it loads a new
document).

End: the later of
  (a) the moment the last change of any VISIBLE chart (TensorBoard: of any of its 12
      charts, visible or not) was rendered: a MutationObserver
      (installed before any page script, also inside shadow roots, which is where
      TensorBoard draws) stamps every change inside a chart, and the stamp is moved to
      the end of the frame that rendered it (requestAnimationFrame, then a posted
      message: after that frame's style, layout and paint); and
  (b) the arrival in the page of the websocket message ``script_finished`` of the run
      (full or fragment) the action started (Streamlit's ForwardMsg protobuf, decoded
      from Playwright's copy of each frame and matched by index to the page's own
      arrival times; it arrives when the page's main thread gets to it, so it is when
      the page knows the run is over). TensorBoard has no such message: (a) alone.
A chart is a ``[data-testid=stPlotlyChart]`` (drawn once it holds a ``.main-svg``), on the
bare page the written value (drawn once its text is the option picked), on TensorBoard a
``vz-histogram-timeseries`` (drawn once its ``g.histogram path.outline`` has a path).
Visible: at least 20 px of it on screen in both directions at the end (Element.checkVisibility
for hidden tabs and the like).

Done (when the bench stops waiting; the quiet period is not part of the figure): the run
has finished, Streamlit's running indicator is gone, no HTTP request is pending (a chart's
script chunk, say), nothing in the document changed and no websocket message arrived for
--quiet ms (default 750), and then every visible chart is drawn (TensorBoard: all 12) and
the bare page shows the option picked. While the page works the bench polls only
timestamps (every 50 ms, nothing that forces a layout); charts and visibility are read once
it is quiet. Every wait is bounded by --timeout (default 60 s): a page that does not get
there is reported as "did not finish" and that scenario stops repeating; nothing hangs.

Also recorded per sample: the time every chart on the page (visible or not) was drawn,
when the main thread was free again (the end of the last long task, PerformanceObserver,
or of the last chart change if later), websocket bytes received after the start, how many
charts are on the page / visible / visible and changed, and the kind of run (full or
fragment). An interaction that changes no visible chart (today's page shows a changed seed
or scheme only after "Re-initialize") is timed to the end of its run and flagged so.

Not measured: what the person sees between the press and the end (a spinner, stale
elements), input delay before the press reaches the page, and anything after the end
(a click during a long task waits; see "main thread free").

The scenarios are the table SCENARIOS below: a name, the widget (found by its label, as a
person finds it) and what is done with it, and the tab to open first if the page has it.
Each scenario gets a fresh tab on pinit's page: it opens the page, opens that tab and the
sidebar if the widget sits in a collapsed one (untimed, waited for), does one untimed
warm-up action, then --repeats timed ones, each followed by one timed pick on the bare
page (alternating which goes first); the bare page keeps one tab for the whole run. A
widget missing on the page is reported "not on this page", not an error, so the same
bench runs on today's page and on a rewritten one.

Setup (TensorBoard is a bench-only dependency; it does not pull torch):

    pip install -e '.[bench]'           # or: pip install tensorboard
    # if its protobuf ever conflicts with streamlit's, use a venv and point the bench at it:
    python -m venv /tmp/tb-venv && /tmp/tb-venv/bin/pip install tensorboard
    python bench/bench_latency.py --tensorboard /tmp/tb-venv/bin/tensorboard

    python bench/bench_latency.py                                   # every scenario, 7 repeats, 1280x720
    python bench/bench_latency.py --scenarios preset,view-only --repeats 11 --json artifacts/latency.json
    python bench/bench_latency.py --pinit-url http://127.0.0.1:8501  # a page already running (loopback only)

Without TensorBoard the bench says how to install it and measures the rest. Only loopback
traffic: servers listen on 127.0.0.1 and Chromium's proxy is a closed local port, so a
request to any other host fails at once (the bench counts and prints such requests).
No assertions: read the medians and ratios (the machine is shared and noisy).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from pinit.serve import free_port, stop
from tests.harness import ARTIFACTS, CHROMIUM, CHROMIUM_FLAGS, chromium_available, streamlit_server

# --- the scenarios: adapt labels and choices here when the page changes ----------------------------------
# Widgets are found by their label, as a person finds them; how each kind is driven is in "driving widgets" below.


@dataclass(frozen=True)
class Select:  # pick the next of `choices` that is not the one shown, in the selectbox labelled `label`
    label: str
    choices: tuple[str, ...]


@dataclass(frozen=True)
class Press:  # press the button labelled `label`; `setup` first (untimed, waited for), e.g. a change to apply
    label: str
    setup: Any = None


@dataclass(frozen=True)
class TypeEnter:  # type a number no earlier sample used in the number/text input `label` (untimed), Enter (timed)
    label: str


@dataclass(frozen=True)
class Toggle:  # flip the toggle (or checkbox) labelled `label`
    label: str


@dataclass(frozen=True)
class ChartSwitch:  # press a plotly button inside a chart, labels[i % 2]: a view switch the browser applies alone
    labels: tuple[str, str]


@dataclass(frozen=True)
class Walk:  # press `forward` until it is disabled (the last step), then `back` until that is, and so on
    forward: str
    back: str


@dataclass(frozen=True)
class FirstOf:  # the first of `widgets` that the page has
    widgets: tuple[Any, ...]


@dataclass(frozen=True)
class Scenario:
    what: str  # what a person does, for the table
    widget: Any  # Select / Press / TypeEnter / Toggle / ChartSwitch / Walk / FirstOf; None: navigation
    target: float | None  # the bound on pinit / reference (None: the issue sets none)
    tab: str | None = None  # open this tab first (untimed) if the page has it and it is not open
    before: Any = None  # done once, untimed, after opening the tab (e.g. show the sidebar's rules)


SCENARIOS: dict[str, Scenario] = {
    # Reference: TensorBoard on the same 12 histograms (the bare page's navigation and cold navigations are extra).
    "navigation": Scenario("open the page (warm: visited before in the same context)", None, 1.0),
    # The others: reference the bare page's pick, interleaved.
    "preset": Scenario(
        "pick another preset", Select("Preset", ("Kaiming (He)", "Xavier (Glorot)")), 3.0, tab="Weights"
    ),
    "scheme": Scenario(
        "change one slot's scheme",
        Select("Conv2d weight", ("kaiming_normal", "xavier_uniform", "orthogonal")),
        3.0,
        tab="Weights",
        before=Toggle("Show the rules per layer type"),
    ),
    "seed": Scenario("a new draw", FirstOf((Press("New draw"), TypeEnter("Seed"))), None, tab="Weights"),
    # Today's page applies a changed seed or scheme only on "Re-initialize": what a new draw costs there.
    "reinit": Scenario("re-initialize after typing a seed", Press("Re-initialize", setup=TypeEnter("Seed")), None),
    "view-only": Scenario(
        "flip a view-only widget",
        FirstOf((ChartSwitch(("Log counts", "Linear counts")), Toggle("Log-scale counts"), Toggle("Log counts"))),
        2.0,
        tab="Weights",
    ),
    "lesson-step": Scenario("a step of the lesson", Walk("Next", "Back"), 2.0, tab="Lesson"),
}
BARE_PICK = Select("Option", ("beta", "alpha"))  # bench/bare_app.py's selectbox

# What counts as a chart on each page: (CSS selector, selector of what a drawn chart holds; None: its text).
PINIT_CHARTS = (("[data-testid='stPlotlyChart']", ".main-svg"),)
BARE_CHARTS = ((".st-key-written [data-testid='stMarkdownContainer']", None),)
TB_CHARTS = (("vz-histogram-timeseries", "g.histogram path.outline[d]"),)
# One section of 12 cards, which TensorBoard draws all at once (with a section per tag it draws those on screen).
TB_TAG_PREFIX = "SimpleCNN/"
TB_BINS = 40  # pinit's default number of bins

POLL_MS = 50
RUN_DONE = {"FINISHED_SUCCESSFULLY", "FINISHED_FRAGMENT_RUN_SUCCESSFULLY", "FINISHED_WITH_COMPILE_ERROR"}
_WALKING: dict = {}  # Walk -> the label it presses now
_NUMBERS = itertools.count(1000 + int(time.time()) % 100_000 * 100)  # TypeEnter's values


# --- driving widgets ------------------------------------------------------------------------------------------


def on_screen(el) -> bool:
    """Laid out, and its middle right of the window's left edge (a collapsed sidebar's widgets sit left of
    it). Its height on the page is not checked: scrolling brings it in."""
    box = el.bounding_box()
    return bool(box) and box["width"] >= 1 and box["height"] >= 1 and box["x"] + box["width"] / 2 >= 0


def find(w, page):
    """The widget's element on the page (an on-screen one if there are several), or None ("not on this page")."""
    if isinstance(w, FirstOf):
        return next((e for x in w.widgets if (e := find(x, page)) is not None), None)
    if isinstance(w, Walk):
        return find(Press(w.forward), page)
    if isinstance(w, Select):
        loc = page.locator("[data-testid=stSelectbox]").filter(has=page.get_by_text(w.label, exact=True))
    elif isinstance(w, Press):  # by its text: a button's accessible name may carry an icon or a shortcut too
        loc = page.locator("button").filter(has=page.get_by_text(w.label, exact=True))
    elif isinstance(w, TypeEnter):
        loc = (
            page.locator("[data-testid=stNumberInput], [data-testid=stTextInput]")
            .filter(has=page.get_by_text(w.label, exact=True))
            .locator("input")
        )
    elif isinstance(w, Toggle):
        loc = page.locator("[data-testid=stCheckbox]").filter(has=page.get_by_text(w.label, exact=True))
    elif isinstance(w, ChartSwitch):
        loc = page.locator("[data-testid=stPlotlyChart] .updatemenu-button").filter(has_text=w.labels[0])
    else:
        raise TypeError(f"unknown widget {w!r}")
    found = loc.all()
    return next((el for el in found if on_screen(el)), found[0] if found else None)


def resolve(w, page):
    """A FirstOf becomes the first of its widgets the page has; None if the page has none."""
    if isinstance(w, FirstOf):
        return next((x for x in w.widgets if find(x, page) is not None), None)
    return w if find(w, page) is not None else None


def describe(w) -> str:
    if isinstance(w, Select):
        return f"pick {' / '.join(repr(c) for c in w.choices)} in the selectbox {w.label!r}"
    if isinstance(w, Press):
        return (f"{describe(w.setup)} (untimed), then " if w.setup else "") + f"press the button {w.label!r}"
    if isinstance(w, TypeEnter):
        return f"type a new value in {w.label!r} and press Enter"
    if isinstance(w, Toggle):
        return f"flip the toggle {w.label!r}"
    if isinstance(w, ChartSwitch):
        return f"press the chart's own button {w.labels[0]!r}, then {w.labels[1]!r} (no round trip to the server)"
    if isinstance(w, Walk):
        return f"press {w.forward!r}, or {w.back!r} back to the start once {w.forward!r} is disabled"
    return " or ".join(describe(x) for x in w.widgets)


def prepare(w, page, i: int, settle: Callable) -> tuple[Callable[[], None], str | None]:
    """Everything before the timed input (untimed); returns (the timed input, the text expected after it)."""
    if isinstance(w, Walk):
        label = _WALKING.get(w, w.forward)
        button = find(Press(label), page)
        if button is None or not button.is_enabled():  # the end of the walk: turn round
            label = _WALKING[w] = w.back if label == w.forward else w.forward
        w = Press(label)
    if isinstance(w, Press) and w.setup is not None and find(w.setup, page) is not None:
        fire, _ = prepare(w.setup, page, i, settle)
        settle(fire)
    el = find(w, page)
    el.scroll_into_view_if_needed()
    if isinstance(w, Select):
        shown = el.inner_text().splitlines()[1:]  # the label, then the value shown
        n = len(w.choices)
        choice = next(c for k in range(n) if (c := w.choices[(i + k) % n]) not in shown)
        item = page.get_by_role("option", name=choice, exact=True)
        for _ in range(5):  # a click can land while focus leaves the previous widget and close the list again
            el.click()
            try:
                item.wait_for(state="visible", timeout=3000)
                break
            except Exception:
                page.keyboard.press("Escape")
        return item.click, choice
    if isinstance(w, Press):
        return el.click, None
    if isinstance(w, TypeEnter):
        el.fill(str(next(_NUMBERS)))  # a value no earlier sample of this run used: never a cached draw
        return lambda: el.press("Enter"), None
    if isinstance(w, Toggle):
        return el.locator("label").first.click, None
    if isinstance(w, ChartSwitch):
        label = w.labels[i % 2] if i >= 0 else w.labels[0]
        button = page.locator("[data-testid=stPlotlyChart] .updatemenu-button").filter(has_text=label).first
        return button.click, None
    raise TypeError(f"cannot drive {w!r}")


# --- in the page --------------------------------------------------------------------------------------------

INIT_JS = """
(() => {
  const CHARTS = %(charts)s, NEED = %(need)s;
  const SEL = CHARTS.map(c => c[0]).join(', ');
  const S = window.__lat = {t0: null, armed: false, expect: null, lastAny: 0, lastWs: 0, ws: [],
                            longEnd: 0, firstAll: 0, roots: []};
  const last = new WeakMap();  // chart -> when its last change was rendered
  const OPTS = {subtree: true, childList: true, attributes: true, characterData: true};
  const all = () => {
    const out = [...document.querySelectorAll(SEL)];
    for (const r of S.roots) if (r.host.isConnected) out.push(...r.querySelectorAll(SEL));
    return out;
  };
  const isDrawn = el => {
    const spec = CHARTS.find(c => el.matches(c[0]));
    if (!spec || spec[1] === null) {
      const t = el.textContent.trim();
      return t !== '' && (S.expect === null || t === S.expect);
    }
    return !!(el.querySelector(spec[1]) || (el.shadowRoot && el.shadowRoot.querySelector(spec[1])));
  };
  const visible = el => {
    const r = el.getBoundingClientRect();
    const h = Math.min(r.bottom, innerHeight) - Math.max(r.top, 0);
    const w = Math.min(r.right, innerWidth) - Math.max(r.left, 0);
    if (h < 20 || w < 20) return false;
    return el.checkVisibility ? el.checkVisibility({visibilityProperty: true}) : true;
  };
  const chartOf = node => {
    let el = node instanceof ShadowRoot ? node.host : node.nodeType === 1 ? node : node.parentElement;
    if (!el && node.parentNode instanceof ShadowRoot) el = node.parentNode.host;
    while (el) {
      const c = el.closest(SEL);
      if (c) return c;
      const r = el.getRootNode();
      el = r instanceof ShadowRoot ? r.host : null;
    }
    return null;
  };
  // A change is stamped when it happens, then again after the frame that rendered it.
  const dirty = new Set();
  let pending = false;
  const mc = new MessageChannel();
  mc.port1.onmessage = () => {
    pending = false;
    const t = performance.now();
    for (const c of dirty) last.set(c, t);
    dirty.clear();
    if (NEED && !S.firstAll && all().filter(isDrawn).length >= NEED) S.firstAll = t;
  };
  const mark = c => {
    const t = performance.now();
    last.set(c, t);
    dirty.add(c);
    if (!pending) { pending = true; requestAnimationFrame(() => mc.port2.postMessage(0)); }
  };
  const observer = new MutationObserver(records => {
    S.lastAny = performance.now();
    for (const r of records) {
      const c = chartOf(r.target);
      if (c) { mark(c); continue; }
      for (const n of r.addedNodes) {
        if (n.nodeType !== 1) continue;
        if (n.matches(SEL)) mark(n); else for (const m of n.querySelectorAll(SEL)) mark(m);
      }
    }
  });
  observer.observe(document, OPTS);
  const attach = Element.prototype.attachShadow;  // TensorBoard draws inside shadow roots: watch those too
  Element.prototype.attachShadow = function (...args) {
    const root = attach.apply(this, args);
    S.roots.push(root);
    observer.observe(root, OPTS);
    return root;
  };
  for (const type of ['pointerdown', 'mousedown', 'keydown'])
    addEventListener(type, e => { if (S.armed && S.t0 === null && e.isTrusted) S.t0 = e.timeStamp; }, true);
  try {
    new PerformanceObserver(list => {
      for (const e of list.getEntries()) S.longEnd = Math.max(S.longEnd, e.startTime + e.duration);
    }).observe({type: 'longtask'});
  } catch (e) {}
  const Native = window.WebSocket;  // arrival time of every message on Streamlit's stream, in order
  window.WebSocket = function (...args) {
    const ws = new Native(...args);
    if (String(args[0]).includes('/_stcore/stream')) {
      const times = [];
      S.ws.push(times);
      ws.addEventListener('message', () => { const t = performance.now(); times.push(t); S.lastWs = t; });
    }
    return ws;
  };
  window.WebSocket.prototype = Native.prototype;
  Object.assign(window.WebSocket, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
  S.arm = expect => { S.armed = true; S.t0 = null; S.expect = expect; return performance.now(); };
  // Polled while the page works: timestamps and two selectors, nothing that forces a layout.
  S.state = () => ({now: performance.now(), t0: S.t0, lastAny: S.lastAny, lastWs: S.lastWs,
                    running: !!document.querySelector('[data-testid="stStatusWidget"]'),
                    exception: [...document.querySelectorAll('[data-testid="stException"]')]
                      .map(e => e.textContent.slice(0, 200)).join(' | ')});
  // Asked only once the page is quiet (it reads layout).
  S.charts = () => {
    let n = 0, vis = 0, visUndrawn = 0, drawn = 0;
    for (const el of all()) {
      n++;
      const d = isDrawn(el);
      if (d) drawn++;
      if (visible(el)) { vis++; if (!d) visUndrawn++; }
    }
    return {n, vis, visUndrawn, drawn};
  };
  S.final = () => ({charts: all().map(el => ({vis: visible(el), drawn: isDrawn(el), t: last.get(el) || 0})),
                    ws: S.ws, longEnd: S.longEnd, firstAll: S.firstAll});
})();
"""


# --- one browser tab on one page --------------------------------------------------------------------------


@dataclass
class Tab:
    """A tab on one page (pinit, bare or TensorBoard): navigates, acts, waits, measures."""

    browser: Any
    charts: tuple
    args: argparse.Namespace
    streamlit: bool = True
    need: int = 0  # charts that must be drawn, visible or not (TensorBoard: 12)
    sockets: list = field(default_factory=list)  # per stream websocket of this document: [(bytes, run status)]
    outside: list = field(default_factory=list)  # requests to anything but loopback (blocked)
    inflight: set = field(default_factory=set)  # HTTP requests not answered yet (e.g. a chart's script chunk)

    def __post_init__(self):
        w, h = self.args.viewport
        self.ctx = self.browser.new_context(viewport={"width": w, "height": h})
        self.ctx.set_default_timeout(min(self.args.timeout, 30) * 1000)
        self.page = self.ctx.new_page()
        self.page.add_init_script(INIT_JS % {"charts": json.dumps(self.charts), "need": self.need})
        self.page.on("websocket", self._on_ws)
        self.page.on("request", self._on_request)
        self.page.on("requestfinished", self._on_done)
        self.page.on("requestfailed", self._on_done)

    def _on_request(self, request) -> None:
        if request.resource_type != "websocket":
            self.inflight.add(request)
        host = urlparse(request.url).hostname
        if request.url.startswith(("http:", "https:", "ws:", "wss:")) and host not in ("127.0.0.1", "localhost", "::1"):
            self.outside.append(request.url)

    def _on_done(self, request) -> None:
        self.inflight.discard(request)

    def _on_ws(self, ws) -> None:
        if "/_stcore/stream" not in ws.url:
            return
        frames: list = []
        self.sockets.append(frames)

        def on_frame(payload) -> None:
            data = payload if isinstance(payload, (bytes, bytearray)) else payload.encode()
            status = None
            try:
                msg = ForwardMsg()
                msg.ParseFromString(bytes(data))
                if msg.WhichOneof("type") == "script_finished":
                    status = ForwardMsg.ScriptFinishedStatus.Name(msg.script_finished)
            except Exception:
                pass
            frames.append((len(data), status))

        ws.on("framereceived", on_frame)

    def close(self) -> None:
        self.ctx.close()

    # -- waiting and measuring --

    def _frame_counts(self) -> list[int]:
        return [len(f) for f in self.sockets]

    def _run_done_since(self, counts: list[int]) -> bool:
        for k, frames in enumerate(self.sockets):
            start = counts[k] if k < len(counts) else 0
            if any(status in RUN_DONE for _, status in frames[start:]):
                return True
        return False

    def wait(self, counts: list[int], fallback_t0: float, navigation: bool = False, run: bool = True) -> dict:
        """Wait until done (see the module's docstring); measure from the input event (or fallback_t0)."""
        deadline = time.monotonic() + self.args.timeout
        while True:
            self.page.wait_for_timeout(POLL_MS)  # also lets Playwright deliver websocket events
            s = self.page.evaluate("() => window.__lat && window.__lat.state()")
            if s is None:
                if time.monotonic() > deadline:
                    return {"error": f"did not finish in {self.args.timeout:.0f} s (no document)"}
                continue
            if s["exception"]:
                return {"error": "exception on the page: " + s["exception"].replace("\n", " ")[:160]}
            t0 = s["t0"] if s["t0"] is not None else fallback_t0
            quiet = (
                (not self.streamlit or not run or self._run_done_since(counts))
                and not s["running"]
                and not self.inflight
                and s["now"] - max(s["lastAny"], s["lastWs"], t0) >= self.args.quiet
            )
            if quiet:
                c = self.page.evaluate("() => window.__lat.charts()")
                if c["visUndrawn"] == 0 and c["drawn"] >= self.need:
                    return self._measure(counts, t0, s, navigation)
            if time.monotonic() > deadline:
                c = self.page.evaluate("() => window.__lat.charts()")
                return {
                    "error": f"did not finish in {self.args.timeout:.0f} s "
                    f"({c['drawn']} of {c['n']} charts drawn, {c['visUndrawn']} visible ones not drawn, "
                    f"run finished: {self._run_done_since(counts)}, requests pending: {len(self.inflight)})"
                }

    def _measure(self, counts: list[int], t0: float, s: dict, navigation: bool) -> dict:
        f = self.page.evaluate("() => window.__lat.final()")
        runs, run_end, nbytes = [], None, 0
        for k, frames in enumerate(self.sockets):
            times = f["ws"][k] if k < len(f["ws"]) else []
            start = counts[k] if k < len(counts) else 0
            for i, (size, status) in enumerate(frames[start:], start):
                if i >= len(times) or times[i] < t0:
                    continue
                nbytes += size
                if status:
                    runs.append(status)
                    if status in RUN_DONE:
                        run_end = times[i] if run_end is None else max(run_end, times[i])
        charts = f["charts"]
        vis_changes = [c["t"] for c in charts if c["vis"] and c["t"] > t0]
        all_changes = [c["t"] for c in charts if c["t"] > t0]
        ends = [x for x in (run_end, max(vis_changes, default=None)) if x is not None]
        ends_all = [x for x in (run_end, max(all_changes, default=None)) if x is not None]
        if not ends_all:
            return {"error": "nothing changed and no run finished"}
        end_all = max(ends_all)
        visible_ms = max(ends) - t0 if ends else None
        return {
            # the figure: visible charts (Streamlit pages); every chart when some must be drawn (TensorBoard's 12)
            "ms": end_all - t0 if self.need else visible_ms,
            "visible_ms": visible_ms,
            "all_ms": end_all - t0,
            "run_ms": None if run_end is None else run_end - t0,
            "busy_ms": max(end_all, f["longEnd"]) - t0,
            "first_all_ms": f["firstAll"] - t0 if f["firstAll"] > t0 else None,
            "charts": len(charts),
            "visible": sum(c["vis"] for c in charts),
            "changed": len(vis_changes),
            "ws_bytes": nbytes,
            "runs": runs,
            "start": "navigation start"
            if navigation
            else "input event"
            if s["t0"] is not None
            else "before the action",
        }

    # -- what a person does --

    def navigate(self, url: str) -> dict:
        """From about:blank to `url`: a new document; timed from its navigation start."""
        self.page.goto("about:blank")
        self.sockets.clear()
        try:
            self.page.goto(url, wait_until="commit", timeout=self.args.timeout * 1000)
        except Exception as e:
            return {"error": "navigation failed: " + str(e).splitlines()[0][:160]}
        return self.wait([], 0.0, navigation=True)

    def quiet(self) -> None:
        """Wait (bounded) until nothing changes, no request is pending and no run is in progress."""
        deadline = time.monotonic() + self.args.timeout
        start = self.page.evaluate("() => performance.now()")
        while time.monotonic() < deadline:
            self.page.wait_for_timeout(POLL_MS)
            s = self.page.evaluate("() => window.__lat.state()")
            last = max(s["lastAny"], s["lastWs"], start)
            if not s["running"] and not self.inflight and s["now"] - last >= self.args.quiet:
                return

    def settle(self, fire: Callable[[], None]) -> dict:
        counts = self._frame_counts()
        fallback = self.page.evaluate("() => window.__lat.arm(null)")
        fire()
        return self.wait(counts, fallback)

    def act(self, widget, i: int) -> dict:
        try:
            fire, expect = prepare(widget, self.page, i, self.settle)
            counts = self._frame_counts()
            fallback = self.page.evaluate("e => window.__lat.arm(e)", expect)
            fire()
        except Exception as e:
            return {"error": "could not act: " + str(e).splitlines()[0][:160]}
        # A chart's own switch never reaches the server: there is no run to wait for, only the redraw.
        return self.wait(counts, fallback, run=not isinstance(widget, ChartSwitch))


def ensure_visible(tab: Tab, widget) -> None:
    """Open Streamlit's sidebar if the widget (or its setup) is hidden in a collapsed one (untimed)."""
    widgets = [widget, *([widget.setup] if isinstance(widget, Press) and widget.setup else [])]
    if all(on_screen(find(w, tab.page)) for w in widgets):
        return
    for sel in ("[data-testid=stExpandSidebarButton]", "[data-testid=stSidebarCollapsedControl] button"):
        b = tab.page.locator(sel)
        if b.count() and b.first.is_visible():
            b.first.click()
            tab.quiet()
            return


def open_tab(tab: Tab, label: str) -> bool:
    """Open the page's tab `label` if it has one and it is not open (untimed; waits for any rerun)."""
    t = tab.page.get_by_role("tab", name=label, exact=True)
    if not t.count():
        return False
    if t.first.get_attribute("aria-selected") != "true":
        t.first.click()
        tab.quiet()
    return True


# --- TensorBoard ----------------------------------------------------------------------------------------

TB_HELP = (
    "TensorBoard is not installed: it is skipped. Install it (a bench-only dependency; it does not pull torch) "
    "with `pip install -e '.[bench]'` or `pip install tensorboard`; if its protobuf conflicts with streamlit's, "
    "`python -m venv /tmp/tb-venv && /tmp/tb-venv/bin/pip install tensorboard` and pass "
    "--tensorboard /tmp/tb-venv/bin/tensorboard."
)

# Runs with the Python that has tensorboard (this one, or a venv's): tensorboard's own summary API, no torch.
TB_WRITER = """
import sys, time
import numpy as np
from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.plugins.histogram.summary_v2 import histogram_pb
from tensorboard.summary.writer.event_file_writer import EventFileWriter
data, logdir, prefix, bins = np.load(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
writer = EventFileWriter(logdir)
for name in data.files:
    summary = histogram_pb(prefix + name, data[name], buckets=bins)
    writer.add_event(Event(wall_time=time.time(), step=0, summary=summary))
writer.close()
print(len(data.files))
"""


def tensorboard_binary(arg: str | None) -> Path | None:
    for cand in (arg, os.environ.get("PINIT_TENSORBOARD"), shutil.which("tensorboard"), "/tmp/tb-venv/bin/tensorboard"):
        if cand and Path(cand).is_file():
            return Path(cand)
    return None


def tensorboard_python(binary: Path) -> str:
    """The Python that can import tensorboard: this one, or the venv's next to the binary."""
    if importlib.util.find_spec("tensorboard") is not None:
        return sys.executable
    return str(binary.parent / "python")


def write_event_file(logdir: Path, python: str) -> list[str]:
    """SimpleCNN's 12 parameters under "PyTorch default" at seed 0, one histogram each, at step 0."""
    import numpy as np
    import torch

    import pinit

    model = pinit.build_model("SimpleCNN", seed=0)
    pinit.apply_plan(model, pinit.PRESETS["PyTorch default"].plan, 0)
    tensors = {n: p.detach().to(torch.float32).numpy() for n, p in model.named_parameters()}
    npz = logdir.parent / "params.npz"
    np.savez(npz, **tensors)
    subprocess.run(
        [python, "-c", TB_WRITER, str(npz), str(logdir), TB_TAG_PREFIX, str(TB_BINS)],
        check=True,
        timeout=120,
        capture_output=True,
    )
    return list(tensors)


@contextlib.contextmanager
def tensorboard_server(binary: Path, logdir: Path, tags: int, timeout: float = 90.0) -> Iterator[str]:
    """`tensorboard` on loopback, reading `logdir` once; yields its URL once its `tags` histograms are listed."""
    port = free_port()
    ARTIFACTS.mkdir(exist_ok=True)
    argv = [str(binary), "--logdir", str(logdir), "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--load_fast=false", "--reload_interval", "0"]
    with open(ARTIFACTS / f"tensorboard-{port}.log", "w") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"tensorboard exited with {proc.returncode} (see {log.name})")
                try:
                    with urllib.request.urlopen(url + "/data/plugin/histograms/tags", timeout=2) as r:
                        if sum(len(t) for t in json.load(r).values()) >= tags:
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"tensorboard did not list {tags} histograms in {timeout:.0f} s")
                time.sleep(0.3)
            yield url
        finally:
            stop(proc)


# --- running the scenarios ------------------------------------------------------------------------------


@dataclass
class Targets:
    pinit: str
    bare: str
    tensorboard: str | None


def run_navigation(browser, targets: Targets, args, tb_need: int) -> dict:
    """Warm navigations interleaved (pinit, bare, TensorBoard, rotating), then cold ones (a fresh context each)."""
    kinds = {
        "pinit": (targets.pinit, PINIT_CHARTS, True, 0),
        "bare": (targets.bare, BARE_CHARTS, True, 0),
    }
    if targets.tensorboard:
        kinds["tensorboard"] = (targets.tensorboard + "/#histograms", TB_CHARTS, False, tb_need)
    out: dict = {k: [] for k in kinds} | {f"{k} cold": [] for k in kinds}
    tabs = {k: Tab(browser, charts, args, streamlit=st, need=need) for k, (_, charts, st, need) in kinds.items()}
    try:
        failed: set[str] = set()
        for k, tab in tabs.items():  # the first visit fills the cache (and TensorBoard's server has read its data)
            first = tab.navigate(kinds[k][0])
            out[f"{k} first visit"] = first
            if "error" in first:
                failed.add(k)
                out[k].append(first)  # so the table says "did not finish"
        order = list(kinds)
        for i in range(args.repeats):
            for k in order[i % len(order) :] + order[: i % len(order)]:
                if k in failed:
                    continue
                r = tabs[k].navigate(kinds[k][0])
                out[k].append(r)
                if "error" in r:
                    failed.add(k)
        for k, tab in tabs.items():
            out[f"{k} outside requests"] = tab.outside
    finally:
        for tab in tabs.values():
            tab.close()
    for i in range(args.cold_repeats):
        for k in order[i % len(order) :] + order[: i % len(order)]:
            url, charts, st, need = kinds[k]
            tab = Tab(browser, charts, args, streamlit=st, need=need)
            try:
                out[f"{k} cold"].append(tab.navigate(url))
            finally:
                tab.close()
    return out


def run_interaction(browser, name: str, sc: Scenario, targets: Targets, bare: Tab, counter: list[int], args) -> dict:
    """One pinit tab for this scenario; its samples interleaved with the bare page's picks."""
    tab = Tab(browser, PINIT_CHARTS, args)
    try:
        first = tab.navigate(targets.pinit)
        if "error" in first:
            return {"status": "page did not load", "error": first["error"]}
        in_tab = f" (in the tab {sc.tab!r})" if sc.tab and open_tab(tab, sc.tab) else ""
        if sc.before is not None and find(sc.before, tab.page) is not None:
            ensure_visible(tab, sc.before)
            fire, _ = prepare(sc.before, tab.page, 0, tab.settle)
            tab.settle(fire)
        widget = resolve(sc.widget, tab.page)
        if widget is None:
            return {"status": "not on this page", "does": describe(sc.widget) + in_tab}
        ensure_visible(tab, widget)
        out: dict = {"status": "ok", "does": describe(widget) + in_tab, "pinit": [], "bare": []}
        warm = [tab.act(widget, -1), bare.act(BARE_PICK, counter[0])]  # untimed: the first of each in a tab
        counter[0] += 1
        out["warm-up"] = warm
        if "error" in warm[0]:
            out["status"], out["error"] = "did not finish", warm[0]["error"]
            return out
        for i in range(args.repeats):
            sides = ["pinit", "bare"] if i % 2 == 0 else ["bare", "pinit"]
            for side in sides:
                if side == "pinit":
                    r = tab.act(widget, i)
                    out["pinit"].append(r)
                else:
                    r = bare.act(BARE_PICK, counter[0])
                    counter[0] += 1
                    out["bare"].append(r)
            if any("error" in r for r in out["pinit"][-1:] + out["bare"][-1:]):
                break  # a page that did not finish is not repeated: its state is unknown
        out["outside requests"] = tab.outside
        return out
    finally:
        tab.close()


def run_chart_ab(browser, args) -> None:
    """The two chart elements on the same figures (bench/chart_app.py), preset picks interleaved with the bare page.

    A: st.plotly_chart; B: pinit.dashboard.chart (one Plotly.react per new figure). One server,
    one tab each, A, B, bare, rotating; prints medians, min-max and the ratios to the bare page.
    """
    pick = Select("Preset", ("Kaiming (He)", "Xavier (Glorot)"))
    with streamlit_server("bench/chart_app.py") as url, streamlit_server("bench/bare_app.py") as bare_url:
        tabs = {
            "st.plotly_chart": (Tab(browser, PINIT_CHARTS, args), url + "/?chart=plotly", pick),
            "pinit chart": (Tab(browser, PINIT_CHARTS, args), url + "/?chart=pinit", pick),
            "bare": (Tab(browser, BARE_CHARTS, args), bare_url, BARE_PICK),
        }
        out: dict[str, list[dict]] = {k: [] for k in tabs}
        try:
            for tab, u, _ in tabs.values():
                first = tab.navigate(u)
                if "error" in first:
                    sys.exit(f"{u} did not load: {first['error']}")
            for tab, _, w in tabs.values():  # untimed: the first pick of each (the server's cache)
                tab.act(resolve(w, tab.page), -1)
            order = list(tabs)
            for i in range(args.repeats):
                for k in order[i % 3 :] + order[: i % 3]:
                    tab, _, w = tabs[k]
                    out[k].append(tab.act(resolve(w, tab.page), i))
        finally:
            for tab, _, _ in tabs.values():
                tab.close()
    bare = med(out["bare"], "ms")
    print(f"\npreset pick on bench/chart_app.py, medians of {args.repeats}, load {os.getloadavg()[0]:.2f} at the end\n")
    print("| chart element | ms (min-max) | / bare | charts changed |\n|---|---:|---:|---|")
    for k, samples in out.items():
        m = med(samples, "ms")
        ok = [x for x in samples if "error" not in x]
        rng = f"{min(x['ms'] for x in ok):,.0f}-{max(x['ms'] for x in ok):,.0f}" if ok else "-"
        print(f"| {k} | {ms(m)} ({rng}) | {ratio(m, bare)} | {charts_cell(samples)} |")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=1, default=str))


# --- report ----------------------------------------------------------------------------------------------


def med(samples: list[dict], key: str) -> float | None:
    vals = [s[key] for s in samples if "error" not in s and s.get(key) is not None]
    return statistics.median(vals) if vals else None


def first_error(samples: list[dict]) -> str | None:
    return next((s["error"] for s in samples if "error" in s), None)


def ms(x: float | None) -> str:
    return "—" if x is None else f"{x:,.0f}"


def cell(samples: list[dict], key: str = "ms") -> str:
    x = med(samples, key)
    if x is None:
        err = first_error(samples)
        return "did not finish" if err else "—"
    return ms(x) + ("*" if first_error(samples) else "")


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a is not None and b else "—"


def charts_cell(samples: list[dict]) -> str:
    ok = [s for s in samples if "error" not in s]
    if not ok:
        return "—"
    return (
        f"{statistics.median(s['visible'] for s in ok):.0f} / "
        f"{statistics.median(s['changed'] for s in ok):.0f} / {statistics.median(s['charts'] for s in ok):.0f}"
    )


def run_kind(samples: list[dict]) -> str:
    kinds = set()
    for s in samples:
        for r in s.get("runs", []):
            kinds.add("fragment" if "FRAGMENT" in r else "full" if r in RUN_DONE else None)
    kinds.discard(None)
    return " + ".join(sorted(kinds)) or "—"


def kb(samples: list[dict]) -> str:
    x = med(samples, "ws_bytes")
    return "—" if x is None else f"{x / 1e3:,.1f}"


def target_cells(a: float | None, b: float | None, target: float | None, ref: str) -> tuple[str, str]:
    if target is None:
        return "—", "—"
    text = f"≤ {target:g}x {ref}" if target != 1 else f"≤ {ref}"
    if a is None or not b:
        return text, "—"
    return text, "yes" if a / b <= target else "no"


def report(results: dict) -> str:
    lines = [
        "| what a person waits for | pinit (ms) | reference | reference (ms) | pinit / reference | target | met "
        "| pinit, all charts drawn (ms) | pinit, main thread free (ms) | charts visible / changed / on page "
        "| run | websocket kB | n |",
        "|---|---:|---|---:|---:|---|---|---:|---:|---|---|---:|---:|",
    ]

    def row(label, p, ref_name, r, target, ref_short, with_target=True):
        a, b = med(p, "ms"), med(r, "ms") if r is not None else None
        t, met = target_cells(a, b, target, ref_short) if with_target else ("—", "—")
        n = f"{sum('error' not in s for s in p)}" + (f" / {sum('error' not in s for s in r)}" if r else "")
        lines.append(
            f"| {label} | {cell(p)} | {ref_name} | {cell(r) if r is not None else '—'} | {ratio(a, b)} | {t} | {met} "
            f"| {cell(p, 'all_ms')} | {cell(p, 'busy_ms')} | {charts_cell(p)} | {run_kind(p)} | {kb(p)} | {n} |"
        )

    for name, res in results.items():
        sc = SCENARIOS[name]
        if name == "navigation":
            tb = res.get("tensorboard")
            tb_name = "TensorBoard, same 12 histograms" if tb is not None else "TensorBoard: not installed"
            row("open the page, warm", res["pinit"], tb_name, tb if tb is not None else [], sc.target, "TensorBoard")
            row("open the page, warm", res["pinit"], "bare page, warm", res["bare"], None, "", with_target=False)
            row(
                "open the page, cold (fresh context)",
                res["pinit cold"],
                "TensorBoard, cold" if tb is not None else "TensorBoard: not installed",
                res.get("tensorboard cold", []),
                None,
                "",
                with_target=False,
            )
            continue
        label = f"{name}: {sc.what}"
        if res["status"] != "ok":
            lines.append(
                f"| {label} | {res['status']} | | | | {target_cells(None, None, sc.target, 'bare')[0]} | | | | | | | |"
            )
            continue
        row(label, res["pinit"], "bare page: pick an option", res["bare"], sc.target, "bare")
    return "\n".join(lines)


def spread(samples: list[dict]) -> str:
    vals = [s["ms"] for s in samples if "error" not in s and s.get("ms") is not None]
    return f"{min(vals):,.0f}–{max(vals):,.0f}" if vals else "—"


def notes(results: dict, meta: dict, outside: list[str]) -> str:
    out = []
    nav = results.get("navigation")
    if nav and nav.get("tensorboard"):
        tb = nav["tensorboard"]
        out.append(
            f"TensorBoard: all 12 drawn first at {ms(med(tb, 'first_all_ms'))} ms, "
            f"last change at {ms(med(tb, 'ms'))} ms (median); at {meta['viewport']} its charts "
            f"visible / changed / on page: {charts_cell(tb)}, and the visible ones were drawn at "
            f"{ms(med(tb, 'visible_ms'))} ms."
        )
    for name, res in results.items():
        if name == "navigation":
            ranges = ", ".join(f"{k} {spread(res[k])}" for k in res if k in ("pinit", "bare", "tensorboard"))
            out.append(f"navigation, warm, min–max (ms): {ranges}.")
            for k in ("pinit", "bare", "tensorboard"):
                err = first_error([res.get(f"{k} first visit", {}), *res.get(k, []), *res.get(f"{k} cold", [])])
                if err:
                    out.append(f"navigation, {k}: {err}")
            continue
        if res.get("does"):
            ok = [s for s in res.get("pinit", []) if "error" not in s]
            unchanged = (
                " No visible chart changed: the figure is the run alone."
                if ok and not any(s["changed"] for s in ok)
                else ""
            )
            ranges = f" Min–max (ms): pinit {spread(res['pinit'])}, bare {spread(res['bare'])}." if ok else ""
            out.append(f"{name}: {res['does']}.{unchanged}{ranges}")
        for k in ("pinit", "bare"):
            err = first_error(res.get(k, []))
            if err:
                out.append(f"{name}, {k}: {err}")
        if res.get("error"):
            out.append(f"{name}: {res['status']}: {res['error']}")
    outside = sorted(
        set(outside)
        | {u for res in results.values() for k, v in res.items() if k.endswith("outside requests") for u in v}
    )
    if outside:
        out.append(f"Requests to other hosts (blocked, never reached): {len(outside)}, e.g. {outside[0]}")
    return "\n".join(f"- {line}" for line in out)


def versions() -> dict:
    out = {"python": sys.version.split()[0]}
    for mod in ("streamlit", "plotly", "torch", "playwright"):
        try:
            from importlib.metadata import version

            out[mod] = version(mod)
        except Exception:
            out[mod] = None
    try:
        out["git"] = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except Exception:
        out["git"] = None
    return out


def viewport(text: str) -> tuple[int, int]:
    w, h = text.lower().split("x")
    return int(w), int(h)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenarios", default=",".join(SCENARIOS), help=f"comma-separated, of: {', '.join(SCENARIOS)}")
    ap.add_argument("--repeats", type=int, default=7, help="samples per scenario and page (default 7)")
    ap.add_argument("--cold-repeats", type=int, default=3, help="cold navigations per page (a fresh context each)")
    ap.add_argument("--viewport", type=viewport, default=(1280, 720), help="WIDTHxHEIGHT (default 1280x720)")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per sample before 'did not finish'")
    ap.add_argument("--quiet", type=float, default=750.0, help="ms without changes that count as done (not counted)")
    ap.add_argument("--app", default="app.py", help="the page script to start, under the repo (default app.py)")
    ap.add_argument("--pinit-url", help="measure a pinit page already running at this loopback URL instead")
    ap.add_argument("--tensorboard", help="the tensorboard binary (default: $PINIT_TENSORBOARD, PATH, /tmp/tb-venv)")
    ap.add_argument("--json", help="write the raw figures (every sample) to this file")
    ap.add_argument(
        "--chart-ab",
        action="store_true",
        help="only compare the two chart elements (st.plotly_chart, pinit.dashboard.chart) on bench/chart_app.py",
    )
    args = ap.parse_args()
    names = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        sys.exit(f"unknown scenarios {unknown}; known: {', '.join(SCENARIOS)}")
    if args.pinit_url and urlparse(args.pinit_url).hostname not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("--pinit-url must be a loopback address")
    if not chromium_available():
        sys.exit(f"Chromium is not installed ({CHROMIUM}); `apt-get install chromium`")
    from playwright.sync_api import sync_playwright

    if args.chart_ab:
        print(f"load average {os.getloadavg()[0]:.2f}; chart elements A/B, {args.repeats} repeats", file=sys.stderr)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_FLAGS, "--proxy-server=127.0.0.1:9"])
            try:
                run_chart_ab(browser, args)
            finally:
                browser.close()
        return
    tb_binary = tensorboard_binary(args.tensorboard) if "navigation" in names else None
    if "navigation" in names and tb_binary is None:
        print(TB_HELP, file=sys.stderr)
    meta = {
        "command": " ".join(["python", Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "load_average_start": os.getloadavg(),
        "viewport": "x".join(map(str, args.viewport)),
        "repeats": args.repeats,
        "cold_repeats": args.cold_repeats,
        "quiet_ms": args.quiet,
        "timeout_s": args.timeout,
        "versions": versions(),
        "tensorboard": str(tb_binary) if tb_binary else None,
    }
    print(
        f"load average {meta['load_average_start'][0]:.2f}; viewport {meta['viewport']}; {args.repeats} repeats, "
        f"interleaved; quiet {args.quiet:.0f} ms; timeout {args.timeout:.0f} s",
        file=sys.stderr,
    )
    results: dict[str, dict] = {}
    with contextlib.ExitStack() as stack:
        pinit_url = args.pinit_url or stack.enter_context(streamlit_server(args.app))
        bare_url = stack.enter_context(streamlit_server("bench/bare_app.py"))
        tb_url, tb_need = None, 0
        if tb_binary is not None:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pinit-tb-")))
            try:
                tags = write_event_file(tmp / "SimpleCNN", tensorboard_python(tb_binary))
                tb_url = stack.enter_context(tensorboard_server(tb_binary, tmp, len(tags)))
                tb_need = len(tags)
                meta["tensorboard_version"] = subprocess.run(
                    [tensorboard_python(tb_binary), "-c", "import tensorboard; print(tensorboard.__version__)"],
                    capture_output=True,
                    text=True,
                    timeout=60,
                ).stdout.strip()
            except Exception as e:
                print(f"TensorBoard could not be started, so it is skipped: {e}", file=sys.stderr)
        targets = Targets(pinit_url, bare_url, tb_url)
        p = stack.enter_context(sync_playwright())
        # The proxy is a closed local port: Chromium reaches loopback directly and nothing else at all.
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_FLAGS, "--proxy-server=127.0.0.1:9"])
        stack.callback(browser.close)
        meta["chromium"] = browser.version
        bare = Tab(browser, BARE_CHARTS, args)
        stack.callback(bare.close)
        warm = bare.navigate(bare_url)
        if "error" in warm:
            sys.exit(f"the bare page did not load: {warm['error']}")
        counter = [0]
        for name in names:
            sc = SCENARIOS[name]
            print(f"{name} ...", file=sys.stderr, flush=True)
            if sc.widget is None:
                results[name] = run_navigation(browser, targets, args, tb_need)
            else:
                results[name] = run_interaction(browser, name, sc, targets, bare, counter, args)
        outside = list(bare.outside)
    meta["load_average_end"] = os.getloadavg()
    table = report(results)
    print(
        f"\nChromium {meta['chromium']}, streamlit {meta['versions']['streamlit']}, "
        f"plotly {meta['versions']['plotly']}, TensorBoard {meta.get('tensorboard_version') or 'not measured'}; "
        f"viewport {meta['viewport']}; medians of {args.repeats} interleaved samples (cold: {args.cold_repeats}); "
        f"load average {meta['load_average_start'][0]:.2f} at the start, "
        f"{meta['load_average_end'][0]:.2f} at the end.\n"
    )
    print(table)
    print()
    print(notes(results, meta, outside))
    print(
        "- pinit (ms): from the press to the last visible chart drawn and the run finished; reference: the same "
        "for the bare page's written value, and TensorBoard's 12 histograms. * = some samples did not finish. "
        "n = samples (pinit / reference)."
    )
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"meta": meta, "results": results}, indent=1, default=str))
        print(f"\nraw figures: {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
