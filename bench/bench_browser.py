"""The dashboard in a real browser against a beginner's page, in one run: time to every chart, bytes.

Starts `streamlit run app.py` and `streamlit run bench/beginner_app.py` side by side
(tests/harness.py), drives Debian's Chromium with Playwright, and for each model,
repeat and page (the two pages interleaved) measures:

* navigation -> every chart drawn: from the start of navigation (the page's own
  clock, performance.now() from its time origin) to the last change inside any
  plotly chart, once all of the page's charts are drawn, the script run has
  finished (a ``script_finished`` message on the websocket) and no chart has
  changed for --quiet ms (the quiet wait is not counted);
* Re-initialize -> every chart redrawn: a fresh seed is typed first (pinit; the
  beginner's page draws new weights on every run anyway), then the sidebar button
  "Re-initialize" is pressed, timed the same way;
* preset -> every chart redrawn: choosing another preset in the sidebar;
* bytes received over the websocket in each phase (Playwright's
  page.on("websocket") -> ws.on("framereceived") payload sizes), the page's JS heap,
  and the server's RSS (idle, and peak during the phase).

Every phase has a --timeout (default 120 s); a page that does not finish is reported
as "did not finish" with the bytes it had received, and is not repeated for that
model. pinit's page is opened on the model through its own link format (?model=...
&plan=...&seed=..., as its Share tab writes it) with a new seed per visit, so its
server-wide cache never answers; the beginner's page reads ?model= and ?preset=.

    python bench/bench_browser.py                                  # SimpleCNN, 5 repeats
    python bench/bench_browser.py --models SimpleCNN,WideMLP,VGGStyle --repeats 3

No assertions: read the medians and ratios (the machine is shared).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

import pinit
from tests.harness import chromium_available, launch_chromium, streamlit_server

try:
    from pinit.dashboard.weights import PAGE_SIZE  # histograms pinit's page draws at once
except Exception:
    PAGE_SIZE = 10**9

try:
    from pinit.share.urlstate import state_to_query
except Exception:
    state_to_query = None

PAGES = ("pinit", "beginner")

# Installed before any page script: remembers when anything inside a plotly chart last changed.
OBSERVER_JS = """
window.__chartMut = 0; window.__firstChart = 0;
new MutationObserver(records => {
  for (const r of records) {
    const el = r.target.nodeType === 1 ? r.target : r.target.parentElement;
    if (el && el.closest && el.closest('[data-testid="stPlotlyChart"]')) {
      window.__chartMut = performance.now();
      if (!window.__firstChart) window.__firstChart = window.__chartMut;
      return;
    }
  }
}).observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
// And when websocket frames arrive, on the same clock: the last one is when the server was done.
window.__wsFirst = 0; window.__wsLast = 0;
const NativeWebSocket = window.WebSocket;
window.WebSocket = function (...args) {
  const ws = new NativeWebSocket(...args);
  ws.addEventListener('message', () => {
    window.__wsLast = performance.now();
    if (!window.__wsFirst) window.__wsFirst = window.__wsLast;
  });
  return ws;
};
window.WebSocket.prototype = NativeWebSocket.prototype;
Object.assign(window.WebSocket, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
"""

STATE_JS = """() => ({
  charts: [...document.querySelectorAll('[data-testid="stPlotlyChart"]')]
    .filter(c => c.querySelector('.main-svg')).length,
  last: window.__chartMut, first: window.__firstChart, now: performance.now(),
  wsFirst: window.__wsFirst, wsLast: window.__wsLast,
  running: !!document.querySelector('[data-testid="stStatusWidget"]'),
  exception: [...document.querySelectorAll('[data-testid="stException"]')]
    .map(e => e.innerText.slice(0, 200)).join(' | '),
  heap: (performance.memory && performance.memory.usedJSHeapSize) || 0,
})"""


# --- servers ---------------------------------------------------------------------------------


def server_pid(port: int) -> int | None:
    """The streamlit process listening on `port` (started by the harness for this run)."""
    needle = f"--server.port\0{port}\0".encode()
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes()
        except OSError:
            continue
        if b"streamlit" in cmd and needle in cmd:
            return int(d.name)
    return None


def rss_mb(pid: int | None) -> float:
    if pid is None:
        return float("nan")
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


# --- one page visit ----------------------------------------------------------------------------


class Visit:
    """One browser tab on one page: counts websocket bytes and script runs, waits for charts."""

    def __init__(self, browser, server_pid: int | None, timeout: float, quiet_ms: float):
        self.ctx = browser.new_context(viewport={"width": 1500, "height": 1000})
        self.page = self.ctx.new_page()
        self.page.add_init_script(OBSERVER_JS)
        self.bytes = 0
        self.finished = 0
        self.pid = server_pid
        self.timeout = timeout
        self.quiet = quiet_ms
        self.page.on("websocket", self._on_ws)

    def _on_ws(self, ws) -> None:
        if "/_stcore/stream" in ws.url:
            ws.on("framereceived", self._on_frame)

    def _on_frame(self, payload) -> None:
        data = payload if isinstance(payload, (bytes, bytearray)) else payload.encode()
        self.bytes += len(data)
        try:
            msg = ForwardMsg()
            msg.ParseFromString(bytes(data))
            if msg.WhichOneof("type") == "script_finished":
                self.finished += 1
        except Exception:
            pass

    def state(self) -> dict:
        return self.page.evaluate(STATE_JS)

    def wait_charts(self, n: int, since_ms: float, runs_before: int) -> dict:
        """Wait for n drawn charts, a finished run, a chart change after since_ms and quiet."""
        deadline = time.monotonic() + self.timeout
        peak = rss_mb(self.pid)
        while True:
            self.page.wait_for_timeout(100)  # lets Playwright deliver websocket events
            peak = max(peak, rss_mb(self.pid))
            s = self.state()
            if s["exception"]:
                return {"error": "failed: " + s["exception"].replace("\n", " ")[:160], "server_peak_mb": peak}
            if (
                self.finished > runs_before
                and s["charts"] >= n
                and s["last"] > since_ms
                and not s["running"]
                and s["now"] - s["last"] >= self.quiet
            ):
                return {
                    "ms": s["last"] - since_ms,
                    "first_ms": s["first"] - since_ms if since_ms == 0 else None,
                    "ws_first_ms": s["wsFirst"] - since_ms,
                    "ws_last_ms": s["wsLast"] - since_ms,
                    "heap_mb": s["heap"] / 2**20,
                    "server_peak_mb": peak,
                }
            if time.monotonic() > deadline:
                return {
                    "error": f"did not finish in {self.timeout:.0f} s ({s['charts']} of {n} charts)",
                    "server_peak_mb": peak,
                }

    def wait_run(self, runs_before: int) -> None:
        """Wait for the script run started by the last input to finish (untimed)."""
        deadline = time.monotonic() + self.timeout
        while self.finished <= runs_before and time.monotonic() < deadline:
            self.page.wait_for_timeout(50)
        self.page.wait_for_timeout(200)

    def timed(self, action, n: int) -> dict:
        """Run `action` and wait for every chart: the time from just before it, and the bytes."""
        self.bytes, runs = 0, self.finished
        t0 = self.page.evaluate("window.__wsFirst = 0, performance.now()")
        action()
        r = self.wait_charts(n, t0, runs)
        r["bytes"] = self.bytes
        return r

    def close(self) -> None:
        self.ctx.close()


def open_select(page, label: str, option: str):
    """Open the selectbox labelled `label`; return the locator of `option` in its list.
    (A click can land while focus is leaving the previous input and close the list
    again: then click once more. Untimed: only the click on the option is timed.)"""
    box = page.locator("[data-testid=stSelectbox]").filter(has=page.get_by_text(label, exact=True)).first
    item = page.get_by_role("option", name=option, exact=True)
    for _ in range(5):
        box.click()
        try:
            item.wait_for(state="visible", timeout=3000)
            return item
        except Exception:
            page.keyboard.press("Escape")
    return item


def choose(page, label: str, option: str) -> None:
    open_select(page, label, option).click()


def set_seed(v: Visit, seed: int) -> dict:
    """Type a seed into pinit's sidebar (a rerun that applies nothing yet), wait until the
    page is quiet again; return that rerun's bytes and time to its last websocket frame."""
    v.bytes, runs = 0, v.finished
    box = (
        v.page.locator("[data-testid=stNumberInput]")
        .filter(has=v.page.get_by_text("Seed", exact=True))
        .locator("input")
    )
    box.fill(str(seed))
    t0 = v.page.evaluate("window.__wsFirst = 0, performance.now()")
    box.press("Enter")
    v.wait_run(runs)
    deadline = time.monotonic() + v.timeout
    while time.monotonic() < deadline:  # let the browser finish that rerun before timing the next action
        s = v.state()
        if not s["running"] and s["now"] - max(s["last"], s["wsLast"]) >= v.quiet:
            break
        v.page.wait_for_timeout(100)
    return {"bytes": v.bytes, "ws_last_ms": v.state()["wsLast"] - t0}


def pinit_url(base: str, model: str, preset: str, seed: int) -> str:
    if state_to_query is None:
        return base
    return base + "/?" + urlencode(state_to_query(model, {}, pinit.PRESETS[preset].plan, seed))


def visit(
    kind: str, browser, url: str, pid: int | None, model: str, n_charts: int, seed: int, presets: tuple[str, str], args
) -> dict:
    """Navigate, re-initialize, choose a preset; the figures of each phase."""
    v = Visit(browser, pid, args.timeout, args.quiet)
    out: dict = {"server_idle_mb": rss_mb(pid)}
    phase = "nav"
    try:
        if kind == "pinit":
            target = pinit_url(url, model, presets[0], seed)
        else:
            target = f"{url}/?{urlencode({'model': model, 'preset': presets[0]})}"
        runs = v.finished
        v.page.goto(target, wait_until="commit")
        nav = v.wait_charts(n_charts, 0.0, runs)
        if kind == "pinit" and state_to_query is None and model != "SimpleCNN" and "error" not in nav:
            runs = v.finished
            choose(v.page, "Model", pinit.MODELS[model].label)  # counted in "navigation"
            nav = v.wait_charts(n_charts, 0.0, runs)
        nav["bytes"] = v.bytes
        out["nav"] = nav
        if "error" in nav:
            return out
        phase = "reinit"
        if kind == "pinit":
            out["seed"] = set_seed(v, seed + 1)  # not a re-init: pinit applies nothing until Re-initialize
        out["reinit"] = v.timed(lambda: v.page.get_by_role("button", name="Re-initialize").click(), n_charts)
        if "error" in out["reinit"]:
            return out
        phase = "preset"
        if kind == "pinit":
            set_seed(v, seed + 2)
        item = open_select(v.page, "Preset", presets[1])
        out["preset"] = v.timed(item.click, n_charts)
        return out
    except Exception as e:
        out[phase] = {"error": "failed: " + str(e).splitlines()[0][:160], "bytes": v.bytes}
        return out
    finally:
        v.close()


# --- report -----------------------------------------------------------------------------------------


def med(rows: list[dict], phase: str, key: str) -> float | None:
    vals = [r[phase][key] for r in rows if phase in r and key in r[phase] and r[phase][key] is not None]
    return statistics.median(vals) if vals else None


def failure(rows: list[dict], phase: str) -> str | None:
    for r in rows:
        if phase in r and "error" in r[phase]:
            return r[phase]["error"] + f" (received {r[phase].get('bytes', 0) / 1e6:,.1f} MB)"
    return None


def fmt(x: float | None, unit: str = "ms") -> str:
    if x is None:
        return "—"
    if unit == "ms":
        return f"{x:,.0f}"
    if unit == "kB":
        return f"{x / 1e3:,.1f}"
    return f"{x:,.0f}"


def report(model: str, results: dict[str, list[dict]], n_charts: dict[str, int]) -> dict:
    print(
        f"\n## {model} (pinit {len(results['pinit'])} visits, {n_charts['pinit']} charts; "
        f"beginner {len(results['beginner'])} visits, {n_charts['beginner']} charts)\n"
    )
    print("| phase | figure | pinit | beginner | pinit / beginner |")
    print("|---|---|---:|---:|---:|")
    summary = {}
    for phase, label in (
        ("nav", "navigation -> all charts"),
        ("reinit", "Re-initialize -> all charts"),
        ("preset", "preset -> all charts"),
    ):
        for key, unit, name in (
            ("ws_first_ms", "ms", "first websocket frame (ms)"),
            ("ws_last_ms", "ms", "last websocket frame: server done (ms)"),
            ("ms", "ms", "all charts drawn (ms)"),
            ("bytes", "kB", "websocket bytes (kB)"),
            ("server_peak_mb", "MB", "server RSS peak (MB)"),
            ("heap_mb", "MB", "JS heap (MB)"),
        ):
            a, b = med(results["pinit"], phase, key), med(results["beginner"], phase, key)
            fa, fb = failure(results["pinit"], phase), failure(results["beginner"], phase)
            sa = fmt(a, unit) if a is not None or not fa else "did not finish"
            sb = fmt(b, unit) if b is not None or not fb else "did not finish"
            ratio = f"{a / b:.3f}" if a is not None and b else "—"
            print(f"| {label} | {name} | {sa} | {sb} | {ratio} |")
            summary[(phase, key)] = (a, b)
        if phase == "nav":
            a, b = med(results["pinit"], "nav", "first_ms"), med(results["beginner"], "nav", "first_ms")
            print(f"| {label} | first chart (ms) | {fmt(a)} | {fmt(b)} | {f'{a / b:.3f}' if a and b else '—'} |")
    seed_bytes, seed_ms = med(results["pinit"], "seed", "bytes"), med(results["pinit"], "seed", "ws_last_ms")
    if seed_bytes is not None:
        print(
            f"\npinit, typing a seed (a sidebar rerun that applies nothing): {seed_bytes / 1e3:,.1f} kB received, "
            f"last frame after {seed_ms:,.0f} ms"
        )
    idle = [r["server_idle_mb"] for k in PAGES for r in results[k]]
    print(
        f"\nserver RSS when a visit starts: "
        f"pinit {statistics.median(r['server_idle_mb'] for r in results['pinit']):,.0f} MB, "
        f"beginner {statistics.median(r['server_idle_mb'] for r in results['beginner']):,.0f} MB"
        if idle
        else ""
    )
    for k in PAGES:
        for phase in ("nav", "reinit", "preset"):
            f = failure(results[k], phase)
            if f:
                print(f"{k} {phase}: {f}")
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="SimpleCNN", help="comma-separated names from pinit.MODELS")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per phase before 'did not finish'")
    ap.add_argument("--quiet", type=float, default=750.0, help="ms without chart changes that count as done")
    ap.add_argument(
        "--presets", default="Kaiming (He),Xavier (Glorot)", help="the preset to open with, and the one to choose"
    )
    args = ap.parse_args()
    if not chromium_available():
        sys.exit("Debian's chromium is not installed (/usr/bin/chromium)")
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    presets = tuple(args.presets.split(","))
    assert len(presets) == 2 and all(p in pinit.PRESETS for p in presets), presets
    from playwright.sync_api import sync_playwright

    print(
        f"{args.repeats} visits per page and model, pages interleaved; timeout {args.timeout:.0f} s per phase; "
        f"quiet {args.quiet:.0f} ms; presets {presets[0]!r} -> {presets[1]!r}; load average {os.getloadavg()[0]:.2f}"
    )
    summaries = {}
    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            for model in models:
                with torch.device("meta"):
                    n_tensors = len(list(pinit.build_model(model).parameters()))
                n_charts = {"pinit": 2 + min(n_tensors, PAGE_SIZE), "beginner": n_tensors}
                with contextlib.ExitStack() as stack:  # fresh servers per model: a stuck page dies with its server
                    urls = {
                        "pinit": stack.enter_context(streamlit_server("app.py")),
                        "beginner": stack.enter_context(streamlit_server("bench/beginner_app.py")),
                    }
                    pids = {k: server_pid(int(u.rsplit(":", 1)[1])) for k, u in urls.items()}
                    for k in PAGES:  # warm-up: the first run imports torch and plotly in the server
                        visit(k, browser, urls[k], pids[k], "SimpleCNN", 14 if k == "pinit" else 12, 7, presets, args)
                    results: dict[str, list[dict]] = {k: [] for k in PAGES}
                    for i in range(args.repeats):
                        order = PAGES if i % 2 == 0 else PAGES[::-1]
                        for k in order:
                            if any("error" in r.get(ph, {}) for r in results[k] for ph in ("nav", "reinit", "preset")):
                                continue  # did not finish once: not repeated
                            seed = 10_000 + 100 * i + 10 * models.index(model)
                            results[k].append(
                                visit(k, browser, urls[k], pids[k], model, n_charts[k], seed, presets, args)
                            )
                    summaries[model] = report(model, results, n_charts)
        finally:
            browser.close()
    if len(models) > 1:
        first = summaries[models[0]]
        print(f"\n## Scale (growth against {models[0]}; pinit / beginner)\n")
        print("| model | nav (ms) | growth | Re-initialize (ms) | growth | nav bytes (kB) | growth |")
        print("|---|---|---|---|---|---|---|")

        def pair(s, key, unit="ms"):
            a, b = s.get(key, (None, None))
            return f"{fmt(a, unit)} / {fmt(b, unit) if b is not None else 'did not finish'}"

        def growth(s, key):
            a, b = s.get(key, (None, None))
            a0, b0 = first.get(key, (None, None))
            ga = f"{a / a0:.1f}x" if a and a0 else "—"
            gb = f"{b / b0:.1f}x" if b and b0 else "—"
            return f"{ga} / {gb}"

        for model in models:
            s = summaries[model]
            print(
                f"| {model} | {pair(s, ('nav', 'ms'))} | {growth(s, ('nav', 'ms'))} | {pair(s, ('reinit', 'ms'))} "
                f"| {growth(s, ('reinit', 'ms'))} | {pair(s, ('nav', 'bytes'), 'kB')} | {growth(s, ('nav', 'bytes'))} |"
            )


if __name__ == "__main__":
    main()
