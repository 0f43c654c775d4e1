"""A classroom on one server: what a click costs the server, and how many students it holds.

Speaks Streamlit's websocket protocol (tests/ws_client.py: the protobufs Chromium
sends, fragment reruns included), so one process can hold a hundred tabs. The page
opens on the Lesson; the other clicks are those of the sidebar and the Weights view.
Three measurements (--scenario; default: all three, one after the other):

* **cpu**: one session on an idle server clicks each kind of click --repeats times:
  a preset pick, a scheme change in the sidebar's rules, a typed seed, New draw, a
  lesson step (next/prev), a tab switch (Lesson <-> Weights). For each click it reads
  the server's CPU time (utime + stime from /proc/PID/stat, the server and every
  descendant: the lesson's worker is a spawned process) before the click and after
  the run's script_finished (plus 50 ms for the tail: the last messages, the
  collector), and prints the median ms per kind. Target: <= 50 ms.
* **classroom**: 100 sessions, each clicking after an exponential think time of mean
  5 s, at random among a preset pick, a lesson step, a typed seed and a tab switch.
  Prints p50/p95 click -> script_finished (target p95 <= 1 s), errors (target 0), RSS
  per session (target <= 3 MB).
* **flatout**: 30 sessions with no think time (target p95 <= 2 s).

`--replicas 2` runs classroom and flatout on 1 and on 2 replicas behind nginx
(deploy/replicas.py, sticky sessions), interleaved, and prints students per core.

Errors, which must be 0: a run that raised (an exception element or an ``st.error``),
a run that did not finish, a closed websocket, a Weights page that shows a seed other
than the one this session set (another session's state), a reconnect that got a new
session instead of its own. Every --drop-every-th click (default 0: never) cuts the
connection in the middle of the run and comes back asking for the old session.

Bounded: at most 200 sessions and 30 minutes per run; every click has a --timeout; it
only talks to loopback. The server it starts gets ``--server.disconnectedSessionTTL``
(--ttl, default 30 s). The load average is printed with every figure: the machines are
shared, read the figures with it.

    python bench/load_test.py                         # cpu, classroom (100 @ 5 s), flatout (30), 60 s each
    python bench/load_test.py --quick                 # the same, 20 s each and 5 repeats per click kind
    python bench/load_test.py --scenario cpu --repeats 20
    python bench/load_test.py --scenario classroom --sessions 60 --think 3
    python bench/load_test.py --replicas 2 --quick    # classroom and flatout on 1 and 2 replicas (needs nginx)
    python bench/load_test.py --url http://127.0.0.1:8501 --pid 1234   # a server you started

Exit status: 0 when every session was held and no error happened, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as `python bench/load_test.py`: the repo's pinit, tests and deploy

from pinit.serve import free_port, stop, streamlit_command, wait_healthy
from tests.ws_client import ProtocolError, RunResult, StreamlitSession, check_loopback

MAX_SESSIONS = 200
MAX_DURATION = 1800.0
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- the server ------------------------------------------------------------------------


def start_server(ttl: int, log_path: Path) -> tuple[subprocess.Popen, str]:
    """The dashboard (pinit.serve's command: the shipped settings) on loopback, with a short session TTL."""
    port = free_port()
    command = streamlit_command(port, overrides={"server.disconnectedSessionTTL": ttl})
    env = dict(os.environ)  # e.g. MALLOC_ARENA_MAX=2 python bench/load_test.py ... reaches the server
    # The command line says "pinit-load-test-server", not "streamlit run": on a shared machine,
    # someone's `pkill -f "streamlit run"` must not end a two-minute measurement half way.
    env["PINIT_LOAD_TEST_ARGV"] = "\x1f".join(command[2:])  # from "streamlit run ..." on
    code = (
        "import os, runpy, sys; sys.argv = os.environ['PINIT_LOAD_TEST_ARGV'].split('\\x1f'); "
        "runpy.run_module(sys.argv[0], run_name='__main__')"
    )
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", code, "pinit-load-test-server"],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, [proc], 60, f"streamlit (see {log_path})")
    except (RuntimeError, TimeoutError):
        stop(proc)
        raise
    return proc, url


def rss_mb(pids: list[int]) -> float:
    """Resident memory of the server processes together (several with replicas behind nginx)."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/statm") as f:
            total += int(f.read().split()[1])
    return total * PAGE_SIZE / 2**20


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it (the lesson's spawned worker, ...)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except OSError:
            continue
    return out


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of the servers and all their live descendants, plus what their reaped
    children used (cutime + cstime)."""
    total = 0
    for root in pids:
        for pid in descendants(root):
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += sum(int(x) for x in fields[11:15])  # utime, stime, cutime, cstime
    return total / CLK_TCK


def server_metrics(urls: list[str]) -> dict[str, float]:
    """Sessions connected/reconnected/disconnected and st.cache_data bytes from /_stcore/metrics, summed."""
    out: dict[str, float] = {"cache_data_bytes": 0.0}
    for url in urls:
        try:
            with urllib.request.urlopen(url + "/_stcore/metrics", timeout=5) as r:
                text = r.read().decode()
        except OSError:
            continue
        for line in text.splitlines():
            m = re.match(r'session_events_total\{type="(\w+)"\} (\S+)', line)
            if m:
                out[f"session_{m[1]}s"] = out.get(f"session_{m[1]}s", 0.0) + float(m[2])
            m = re.match(r'cache_memory_bytes\{cache_type="st_cache_data",[^}]*\} (\S+)', line)
            if m:
                out["cache_data_bytes"] += float(m[1])
    return out


# --- clicks -----------------------------------------------------------------------------

PRESETS = [
    "PyTorch default",
    "Article recipe",
    "Xavier (Glorot)",
    "Kaiming (He)",
    "Too small: N(0, 0.01)",
    "Too large: N(0, 1)",
    "Zeros (the symmetry trap)",
]
SCHEMES = ["kaiming_normal", "xavier_uniform"]  # for the Linear weights' rule (its other keywords keep defaults)
KINDS = ["preset", "scheme", "seed", "new draw", "lesson step", "tab switch"]
CLASS_KINDS = ["preset", "lesson step", "seed", "tab switch"]  # what a student does at classroom pace


@dataclass
class Tab:
    """One student's tab and what its page should show."""

    s: StreamlitSession
    i: int
    view: str = "Lesson"
    step: int = 1
    seed: int | None = 0  # the seed this session set last (None: drawn by New draw, read back)
    k: int = 0

    async def click(self, kind: str, rng: random.Random) -> tuple[str, RunResult]:
        """Do one click of `kind`; a lesson step on another tab opens the Lesson first (that click is a
        tab switch). Returns the kind actually done and its run."""
        s, self.k = self.s, self.k + 1
        if kind == "lesson step" and self.view != "Lesson":
            kind = "tab switch"
        if kind == "tab switch":
            self.view = "Weights" if self.view == "Lesson" else "Lesson"
            return kind, await s.open_tab(self.view)
        if kind == "lesson step":
            delta = 1 if self.step < 3 else -1 if self.step > 5 else rng.choice([1, -1])
            self.step += delta
            return kind, await s.lesson_step(delta)
        if kind == "preset":
            current = s.widget(key="preset").state()
            options = [p for p in PRESETS if current is None or p != current.string_value]
            return kind, await s.pick_preset(rng.choice(options))
        if kind == "seed":
            self.seed = (self.i + 1) * 1_000_000 + self.k
            return kind, await s.type_seed(self.seed)
        if kind == "new draw":
            run = await s.new_draw()
            self.seed = s.shown_seed()
            return kind, run
        if kind == "scheme":
            key = "Linear.weight.scheme"
            if not s.has_widget(key=key):
                await s.rerun({"show_rules": True})
            now = s.widget(key=key).state()
            pick = SCHEMES[1] if now is not None and now.string_value == SCHEMES[0] else SCHEMES[0]
            return kind, await s.rerun({key: pick})
        raise ValueError(kind)

    def problems(self, run: RunResult) -> list[str]:
        out = []
        if run.status not in ("FINISHED_SUCCESSFULLY", "FINISHED_FRAGMENT_RUN_SUCCESSFULLY"):
            out.append(run.status)
        out += run.exceptions + [f"st.error: {e[:200]}" for e in run.error_alerts]
        shown = run.caption_seed()
        if self.view == "Weights" and self.seed is not None and shown is not None and shown != self.seed:
            out.append(f"the page shows seed {shown}, this session set {self.seed}")
        return out


def pick(rng: random.Random, kinds: list[str]) -> str:
    return rng.choice(kinds)


# --- (a) per-click server CPU --------------------------------------------------------------


async def per_click_cpu(url: str, pids: list[int], repeats: int, timeout: float) -> dict:
    """Median server CPU ms per click, per kind of click, over `repeats` clicks each (after 2 warm-ups)."""
    s = StreamlitSession(url, timeout=timeout)
    await s.connect()
    tab = Tab(s, 0)
    rng = random.Random(0)
    # The server computes the lesson's numbers in a worker when it starts: wait until it is quiet
    # (< 10% of a core over 1 s, at most 5 minutes), or that work is counted against the clicks.
    settle_until = time.monotonic() + 300
    while time.monotonic() < settle_until:
        c0 = cpu_seconds(pids)
        await asyncio.sleep(1.0)
        if cpu_seconds(pids) - c0 < 0.1:
            break
    out: dict = {"loadavg_before": os.getloadavg()[0], "repeats": repeats, "kinds": {}}
    idle = []  # the same window with no click: what the server (and the machine's noise) uses anyway
    for _ in range(repeats):
        await asyncio.sleep(0.2)
        c0 = cpu_seconds(pids)
        await asyncio.sleep(0.1)
        idle.append(round(1000 * (cpu_seconds(pids) - c0)))
    out["idle_ms_per_100ms"] = statistics.median(idle)
    for kind in KINDS:
        want = "Lesson" if kind == "lesson step" else "Weights"
        if kind != "tab switch" and tab.view != want:
            await tab.click("tab switch", rng)
        ms, wall, errors = [], [], []
        for n in range(repeats + 2):
            await asyncio.sleep(0.2)  # the previous click's tail (websocket writes, the collector) is done
            c0 = cpu_seconds(pids)
            _, run = await tab.click(kind, rng)
            await asyncio.sleep(0.05)
            c1 = cpu_seconds(pids)
            errors += tab.problems(run)
            if n >= 2:
                ms.append(round(1000 * (c1 - c0)))  # whole ticks: 0.55 - 0.50 is 0.0500000001 in floats
                wall.append(1000 * run.elapsed)
        out["kinds"][kind] = {
            "cpu_ms_median": statistics.median(ms),
            "cpu_ms_max": max(ms),
            "wall_ms_median": statistics.median(wall),
            "fragment_run": bool(run.fragment_ids),
            "errors": errors[:5],
        }
    out["loadavg_after"] = os.getloadavg()[0]
    await s.close()
    return out


def cpu_report(o: dict) -> str:
    lines = [
        f"per-click server CPU (one session, {o['repeats']} clicks per kind, median, /proc ticks of "
        f"{1000 // CLK_TCK} ms; server + its worker processes; load average {o['loadavg_before']:.2f} before, "
        f"{o['loadavg_after']:.2f} after; target <= 50 ms)",
        f"  {'click':<14}{'CPU ms':>8}{'max':>8}{'wall ms':>9}  run",
        f"  {'(idle 100 ms)':<14}{o['idle_ms_per_100ms']:>8.0f}",
    ]
    for kind, r in o["kinds"].items():
        lines.append(
            f"  {kind:<14}{r['cpu_ms_median']:>8.0f}{r['cpu_ms_max']:>8.0f}{r['wall_ms_median']:>9.0f}  "
            f"{'fragments' if r['fragment_run'] else 'whole page'}"
            + ("  <= 50 ms" if r["cpu_ms_median"] <= 50 else "  OVER 50 ms")
            + (f"  ERRORS {r['errors']}" if r["errors"] else "")
        )
    return "\n".join(lines)


# --- (b), (c) the class --------------------------------------------------------------------


@dataclass
class Figures:
    sessions_requested: int = 0
    sessions_held: int = 0  # connected, and still connected (or cleanly resumed) at the end
    duration_s: float = 0.0
    reruns: int = 0
    rerun_s: list[float] = field(default_factory=list)
    by_kind: dict[str, list[float]] = field(default_factory=dict)
    first_load_s: list[float] = field(default_factory=list)
    drops: int = 0  # connections cut mid-run on purpose
    resumed: int = 0  # ...that got their own session back
    lost_replies: list[str] = field(default_factory=list)  # reconnects whose first reply never came
    errors: list[str] = field(default_factory=list)
    bytes_per_rerun: list[int] = field(default_factory=list)


async def student(i: int, url: str, args, figs: Figures, start_at: float, end_at: float, rng: random.Random) -> None:
    """One tab: load the page (the Lesson), then click at random until end_at, thinking an exponential
    time of mean --think between clicks (0: none)."""
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    s = StreamlitSession(url, timeout=args.timeout)
    try:
        first = await s.connect()
    except Exception as e:
        figs.errors.append(f"session {i}: page load failed: {type(e).__name__}: {e}")
        return
    figs.first_load_s.append(first.elapsed)
    if not first.ok:
        figs.errors.append(f"session {i}: first run {first.status} {first.exceptions} {first.error_alerts}")
    tab = Tab(s, i)
    held = True
    try:
        while time.monotonic() < end_at:
            if args.think:
                await asyncio.sleep(rng.expovariate(1 / args.think))
            if time.monotonic() >= end_at:
                break
            if args.drop_every and (tab.k + 1) % args.drop_every == 0:
                await drop_and_resume(tab, figs, args.reconnect_wait)
                continue
            kind, run = await tab.click(pick(rng, CLASS_KINDS), rng)
            figs.reruns += 1
            figs.rerun_s.append(run.elapsed)
            figs.by_kind.setdefault(kind, []).append(run.elapsed)
            figs.bytes_per_rerun.append(run.bytes_received)
            problems = tab.problems(run)
            if problems:
                figs.errors.append(f"session {i} click {tab.k} ({kind}): {problems}")
    except ProtocolError as e:
        figs.errors.append(f"session {i} click {tab.k}: {e}")
        held = False
    except Exception as e:
        figs.errors.append(f"session {i} click {tab.k}: {type(e).__name__}: {e}")
        held = False
    finally:
        figs.sessions_held += held
        await s.close()


async def drop_and_resume(tab: Tab, figs: Figures, wait: float) -> None:
    """Type a new seed, cut the TCP connection mid-run (no close handshake), reconnect for the old session.

    If the reply to the reconnect does not come within `wait` seconds, the student clicks
    again, as one would; that is counted as a lost reply, and an error only if the second
    click fails too. (Under load, Streamlit 1.67's flush loop can send a resumed session's
    messages to the session's previous, dead websocket. Raised in the review of
    streamlit/streamlit PR #15909.)
    """
    s, i = tab.s, tab.i
    old_id = s.session_id
    tab.k += 1
    seed = (i + 1) * 1_000_000 + tab.k
    await s.send_rerun({"seed": str(seed)})
    await asyncio.sleep(0.05)
    s.abort()
    figs.drops += 1
    await asyncio.sleep(0.5)
    s.trace = []
    timeout, s.timeout = s.timeout, wait
    try:
        await s.connect(resume_session_id=old_id)
    except ProtocolError as e:
        if s.ws is None:
            raise
        figs.lost_replies.append(f"session {i}: {e} after reconnecting; the server sent: {compact(s.trace)}")
    finally:
        s.trace = None
        s.timeout = timeout
    if s.session_id == old_id:
        figs.resumed += 1
    else:
        figs.errors.append(f"session {i}: reconnect gave a new session {s.session_id} instead of {old_id}")
    tab.seed = seed
    run = await s.type_seed(seed)  # the seed box still says `seed`: the page must show it
    problems = tab.problems(run)
    if problems:
        figs.errors.append(f"session {i} resume: {problems}")


def compact(trace: list[str] | None) -> str:
    """'delta x12' instead of twelve lines."""
    out: list[list] = []
    for t in trace or []:
        what = t.split(" ", 1)[1] if " " in t else t
        if out and out[-1][0] == what:
            out[-1][1] += 1
        else:
            out.append([what, 1])
    return ", ".join(f"{w} x{n}" if n > 1 else w for w, n in out) or "nothing"


async def sample_rss(pids: list[int], samples: list[tuple[float, float]], stop: asyncio.Event) -> None:
    while not stop.is_set():
        samples.append((time.monotonic(), rss_mb(pids)))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.2)


async def one_visit(url: str, timeout: float) -> None:
    """A tab that opens the Lesson and the Weights view once (imports and the lesson's numbers warm)."""
    s = StreamlitSession(url, timeout=timeout)
    await s.connect()
    await s.open_tab("Weights")
    await s.close()


async def run_class(args, url: str, pids: list[int], servers: list[str] | None = None) -> dict:
    """`servers`: each server's own URL (the replicas behind nginx), for warm-up and after-close visits."""
    servers = servers or [url]
    out: dict = {
        "url": url,
        "sessions": args.sessions,
        "duration_s": args.duration,
        "think_s": args.think,
        "drop_every": args.drop_every,
        "ttl_s": args.ttl,
        "cpus": os.cpu_count(),
        "loadavg_before": os.getloadavg()[0],
    }
    if pids:
        out["rss_start_mb"] = rss_mb(pids)
    for server in servers:  # imports torch, plotly, pandas: a fixed cost, not a per-session one
        await one_visit(server, args.timeout)
    if pids:
        out["rss_warm_mb"] = rss_mb(pids)
        cpu0 = cpu_seconds(pids)
    figs = Figures(sessions_requested=args.sessions, duration_s=args.duration)
    samples: list[tuple[float, float]] = []
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample_rss(pids, samples, stop)) if pids else None
    rng = random.Random(args.rng_seed)
    t0 = time.monotonic()
    end_at = t0 + args.ramp + args.duration
    tasks = [
        asyncio.create_task(
            student(i, url, args, figs, t0 + args.ramp * i / args.sessions, end_at, random.Random(rng.random()))
        )
        for i in range(args.sessions)
    ]
    _done, pending = await asyncio.wait(tasks, timeout=args.ramp + args.duration + 2 * args.timeout + 30)
    for t in pending:
        t.cancel()
        figs.errors.append("a session did not stop in time (cancelled)")
    wall = time.monotonic() - t0
    out["loadavg_after"] = os.getloadavg()[0]
    if pids:
        stop.set()
        await sampler
        used = cpu_seconds(pids) - cpu0
        out["server_cpu_s_per_rerun"] = used / max(1, figs.reruns + figs.drops)
        out["server_cpu_share"] = used / wall / (os.cpu_count() or 1)
        out["server_cores_used"] = used / wall
        out["rss_peak_mb"] = max(r for _, r in samples)
        out["rss_per_session_mb"] = (out["rss_peak_mb"] - out["rss_warm_mb"]) / args.sessions
        out["rss_end_of_run_mb"] = rss_mb(pids)
    out["metrics_at_end"] = server_metrics(servers)
    if pids and args.ttl is not None and args.after_close:
        await asyncio.sleep(args.ttl + 2)
        try:
            for server in servers:
                await one_visit(server, args.timeout)
            await asyncio.sleep(3)
            out["rss_after_close_mb"] = rss_mb(pids)
            out["metrics_after_close"] = server_metrics(servers)
        except (OSError, ProtocolError) as e:
            figs.errors.append(f"after close: the server did not answer: {type(e).__name__}: {e}")
    r = sorted(figs.rerun_s)
    fl = sorted(figs.first_load_s)
    out.update(
        {
            "sessions_held": figs.sessions_held,
            "reruns": figs.reruns,
            "reruns_per_s": figs.reruns / max(1e-9, wall),
            "rerun_p50_s": pct(r, 50),
            "rerun_p95_s": pct(r, 95),
            "rerun_max_s": r[-1] if r else None,
            "by_kind": {k: (len(v), pct(sorted(v), 50), pct(sorted(v), 95)) for k, v in figs.by_kind.items()},
            "first_load_p50_s": pct(fl, 50),
            "first_load_p95_s": pct(fl, 95),
            "bytes_per_rerun": statistics.median(figs.bytes_per_rerun) if figs.bytes_per_rerun else None,
            "drops": figs.drops,
            "resumed": figs.resumed,
            "lost_replies_after_reconnect": len(figs.lost_replies),
            "lost_reply_samples": figs.lost_replies[:5],
            "errors": len(figs.errors),
            "error_samples": figs.errors[:20],
            "client_cpu_s": time.process_time(),
        }
    )
    return out


def pct(xs: list[float], p: float) -> float | None:
    if not xs:
        return None
    k = (len(xs) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def report(o: dict, title: str = "") -> str:
    f = lambda v, d=2: "-" if v is None else f"{v:.{d}f}"
    lines = [
        f"{title}server {o['url']}  cpus: {o['cpus']}  load average: {o['loadavg_before']:.2f} before, "
        f"{o.get('loadavg_after', 0):.2f} after",
        (
            f"sessions: {o['sessions_held']} held of {o['sessions']}  duration {o['duration_s']:.0f} s  "
            f"think {o['think_s']} s (exponential)  drop every {o['drop_every'] or '-'}"
        ),
        (
            f"clicks: {o['reruns']} ({o['reruns_per_s']:.1f}/s)  click -> script_finished p50 {f(o['rerun_p50_s'])} s  "
            f"p95 {f(o['rerun_p95_s'])} s  max {f(o['rerun_max_s'])} s  bytes/click {o['bytes_per_rerun']}"
        ),
        "  by kind (n, p50 s, p95 s): "
        + "; ".join(f"{k} {n}, {f(a)}, {f(b)}" for k, (n, a, b) in sorted(o["by_kind"].items())),
        f"first page load: p50 {f(o['first_load_p50_s'])} s  p95 {f(o['first_load_p95_s'])} s",
    ]
    if o["drops"]:
        lines.append(
            f"dropped mid-run: {o['drops']}, resumed their own session: {o['resumed']}; reply to the reconnect "
            f"lost (the next click worked): {o['lost_replies_after_reconnect']}"
        )
    lines.append(f"errors: {o['errors']}")
    lines += [f"  {e}" for e in o["error_samples"]]
    lines += [f"  lost reply: {e[:300]}" for e in o["lost_reply_samples"][:3]]
    if "rss_start_mb" in o:
        lines.append(
            f"server RSS MB: start {o['rss_start_mb']:.0f}  warm {o['rss_warm_mb']:.0f}  peak {o['rss_peak_mb']:.0f}  "
            f"per session {o['rss_per_session_mb']:.2f}  end of run {o['rss_end_of_run_mb']:.0f}  "
            f"after close (TTL {o['ttl_s']} s passed) {f(o.get('rss_after_close_mb'), 0)}"
        )
        lines.append(
            f"server CPU: {1000 * o['server_cpu_s_per_rerun']:.0f} ms per click, {o['server_cores_used']:.2f} cores "
            f"({100 * o['server_cpu_share']:.0f}% of the machine); client CPU {o['client_cpu_s']:.0f} s"
        )
    m = o.get("metrics_at_end", {})
    lines.append(
        f"st.cache_data bytes at end {m.get('cache_data_bytes', 0):,.0f}"
        + (
            f", after close {o['metrics_after_close'].get('cache_data_bytes', 0):,.0f}"
            if "metrics_after_close" in o
            else ""
        )
        + f"; sessions connected {m.get('session_connects', 0):.0f}, "
        f"reconnected {m.get('session_reconnects', 0):.0f}"
    )
    return "\n".join(lines)


def students_per_core(o: dict, think: float) -> float | None:
    """Students one core serves at this pace: a student asks for cpu_per_click every `think` seconds,
    so a core that is busy at most half the time (room for bursts: the lesson makes a class click
    together) serves 0.5 * think / cpu_per_click of them."""
    c = o.get("server_cpu_s_per_rerun")
    return None if not c or not think else 0.5 * think / c


# --- scenarios -----------------------------------------------------------------------------

SCENARIOS = {  # name -> (sessions, think s); --sessions / --think override
    "classroom": (100, 5.0),
    "flatout": (30, 0.0),
}


def scenario_args(args, name: str):
    a = argparse.Namespace(**vars(args))
    sessions, think = SCENARIOS[name]
    a.sessions = args.sessions or sessions
    a.think = args.think if args.think is not None else think
    return a


@contextlib.contextmanager
def one_server(args, tag: str = ""):
    """(url, pids) of a server: --url's, or one started here."""
    if args.url:
        yield args.url.rstrip("/"), args.pid
        return
    log = ROOT / "artifacts" / f"load_test_server{tag}.log"
    log.parent.mkdir(exist_ok=True)
    proc, url = start_server(args.ttl, log)
    try:
        yield url, [proc.pid]
    finally:
        stop(proc)


def run_replicas(args, scenarios: list[str]) -> int:
    """Each scenario on 1 and on `args.replicas` replicas behind nginx (sticky sessions), interleaved."""
    from deploy.replicas import classroom

    bad = 0
    results: dict[tuple[str, int], dict] = {}
    for name in scenarios:
        a = scenario_args(args, name)
        for n in (1, args.replicas):
            with classroom(
                n,
                log_dir=ROOT / "artifacts" / f"load_test_replicas{n}",
                overrides={"server.disconnectedSessionTTL": args.ttl},
            ) as c:
                o = asyncio.run(run_class(a, c.url, [p.pid for p in c.replicas], c.replica_urls))
            o["replicas"] = n
            results[(name, n)] = o
            print(report(o, f"[{name}, {n} replica{'s' if n > 1 else ''} behind nginx] "), flush=True)
            print(flush=True)
            bad += o["errors"] > 0 or o["sessions_held"] != a.sessions
    print("side by side (load average before each run in brackets):")
    print(
        f"  {'run':<11}{'replicas':>9}{'clicks/s':>10}{'p50 s':>8}{'p95 s':>8}{'errors':>8}"
        f"{'MB/session':>12}{'ms CPU/click':>14}{'students/core':>15}"
    )
    for (name, n), o in results.items():
        spc = students_per_core(o, SCENARIOS["classroom"][1])
        print(
            f"  {name:<11}{n:>9}{o['reruns_per_s']:>10.1f}{o['rerun_p50_s'] or 0:>8.2f}{o['rerun_p95_s'] or 0:>8.2f}"
            f"{o['errors']:>8}{o['rss_per_session_mb']:>12.2f}{1000 * o['server_cpu_s_per_rerun']:>14.0f}"
            f"{spc or 0:>15.0f}  [{o['loadavg_before']:.2f}]"
        )
    print("students/core: at a click every 5 s, a core kept at most half busy (0.5 * 5 s / CPU per click).")
    if args.json:
        args.json.write_text(json.dumps({f"{k[0]}-{k[1]}": v for k, v in results.items()}, indent=2, default=str))
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--scenario",
        choices=["all", "cpu", "classroom", "flatout"],
        default="all",
        help="cpu: per-click server CPU; classroom: 100 sessions @ 5 s; flatout: 30 sessions, no think time",
    )
    ap.add_argument("--sessions", type=int, default=None, help="override the scenario's sessions (max 200)")
    ap.add_argument("--duration", type=float, default=60.0, help="seconds each session keeps clicking")
    ap.add_argument("--quick", action="store_true", help="20 s instead of --duration, 5 repeats per click kind")
    ap.add_argument(
        "--think",
        type=float,
        default=None,
        help="override the scenario's mean think time (exponential) between a session's clicks; 0 = none",
    )
    ap.add_argument("--repeats", type=int, default=15, help="clicks per kind for the per-click CPU figure")
    ap.add_argument("--ramp", type=float, default=5.0, help="seconds over which the sessions open")
    ap.add_argument(
        "--drop-every",
        type=int,
        default=0,
        help="every Nth click of a session cuts its connection mid-run and resumes (0: never)",
    )
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds a click may take before it is an error")
    ap.add_argument(
        "--reconnect-wait",
        type=float,
        default=30.0,
        help="seconds to wait for the reply after a reconnect before clicking again (a lost reply)",
    )
    ap.add_argument(
        "--ttl",
        type=int,
        default=None,
        help="server.disconnectedSessionTTL: set on the server this starts (default 30); with --url, "
        "the server's own value (default 120), waited out before the after-close RSS",
    )
    ap.add_argument(
        "--after-close",
        dest="after_close",
        action="store_true",
        help="wait out the TTL after the class for the after-close RSS",
    )
    ap.add_argument(
        "--replicas",
        type=int,
        default=0,
        help="run classroom and flatout on 1 and on this many replicas behind nginx (deploy/replicas.py)",
    )
    ap.add_argument("--url", help="use this running server (loopback only) instead of starting one")
    ap.add_argument(
        "--pid",
        type=int,
        action="append",
        default=[],
        help="with --url: the server's pid, for RSS and CPU figures (repeat for replicas: summed)",
    )
    ap.add_argument("--rng-seed", type=int, default=0)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)
    if args.quick:
        args.duration = 20.0
        args.repeats = min(args.repeats, 5)
    if args.sessions is not None and not 1 <= args.sessions <= MAX_SESSIONS:
        ap.error(f"--sessions must be within 1..{MAX_SESSIONS}")
    if not 0 < args.duration <= MAX_DURATION:
        ap.error(f"--duration must be within (0, {MAX_DURATION:.0f}] seconds")
    if not 1 <= args.repeats <= 200:
        ap.error("--repeats must be within 1..200")
    if args.url:
        check_loopback(args.url)
        args.ttl = (args.ttl if args.ttl is not None else 120) if args.pid else None
    else:
        args.ttl = args.ttl if args.ttl is not None else 30
    scenarios = ["classroom", "flatout"] if args.scenario == "all" else [args.scenario]
    if args.replicas:
        scenarios = [x for x in scenarios if x != "cpu"]
        if not scenarios:
            ap.error("--replicas runs classroom and flatout; --scenario cpu is one server's figure")
        return run_replicas(args, scenarios)
    bad = 0
    everything: dict = {}
    if args.scenario in ("all", "cpu"):
        with one_server(args, "-cpu") as (url, pids):
            if not pids:
                ap.error("the per-click CPU needs the server's pid (--pid) with --url")
            asyncio.run(one_visit(url, args.timeout))
            o = asyncio.run(per_click_cpu(url, pids, args.repeats, args.timeout))
        print(cpu_report(o), flush=True)
        print(flush=True)
        everything["cpu"] = o
        bad += any(r["errors"] for r in o["kinds"].values())
    for name in [x for x in scenarios if x != "cpu"]:
        a = scenario_args(args, name)
        with one_server(args, f"-{name}") as (url, pids):
            o = asyncio.run(run_class(a, url, pids))
        spc = students_per_core(o, SCENARIOS["classroom"][1])
        print(report(o, f"[{name}: {a.sessions} sessions, think {a.think} s, 1 process] "), flush=True)
        if spc:
            print(f"students per core (a click every 5 s, a core at most half busy): {spc:.0f}")
        print(flush=True)
        everything[name] = o
        bad += o["errors"] > 0 or o["sessions_held"] != a.sessions
    if args.json:
        args.json.write_text(json.dumps(everything, indent=2, default=str))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
