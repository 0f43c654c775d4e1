"""A classroom on one server: many sessions re-initializing at once, over Streamlit's websocket protocol.

Starts the dashboard (pinit.serve, on 127.0.0.1; or targets --url), opens
--sessions websocket sessions that each behave like a browser tab (tests/ws_client.py
speaks the same protobufs Chromium does), and has each one re-initialize repeatedly
for --duration seconds: type a new seed, click **Re-initialize**, wait for the run
to finish, think for a moment, again. Every --drop-every-th rerun drops the connection
in the middle of the run, as a student's wifi does, and comes back asking for the old
session; if the reply to that reconnect does not come, the student clicks again.

It prints, and writes as JSON with --json:

* sessions held, reruns done, p50/p95/max time per rerun (request sent ->
  script_finished), first page load p50/p95;
* errors, which must be 0: a run that raised (an exception element or an
  ``st.error``), a run that did not finish, a closed websocket, or a page that shows
  a seed other than the one this session asked for (another session's state), a
  reconnect that got a new session instead of its own;
* lost replies: reconnects whose first reply never came (counted, not errors, when the
  next click works: a Streamlit 1.67 bug under load, see drop_and_resume);
* the server's RSS at start (idle, before the app's first run imports torch), after
  one warm-up session, peak, per session ((peak - warm) / sessions), and after every
  session has closed and Streamlit's disconnected-session TTL has passed;
* the server's CPU seconds per rerun, the load average before the run (the machines
  are shared: read the figures with it).

Bounded: at most 200 sessions and 30 minutes; every rerun has a --timeout; it only
talks to loopback. The server it starts gets ``--server.disconnectedSessionTTL``
(--ttl, default 30 s instead of Streamlit's 120 s) so the after-close figure can be
taken within the run. Not much shorter: under heavy load the server handles a reconnect
seconds late, and a session stored for less than that lag is gone when its tab returns.
Torch's thread count is the page's (torch.set_num_threads(1)); the
server inherits this process's environment (e.g. MALLOC_ARENA_MAX).

    python bench/load_test.py --quick                      # 30 sessions, 20 s (about a minute in all)
    python bench/load_test.py                              # 30 sessions, 120 s
    python bench/load_test.py --sessions 60 --think 2      # a bigger, calmer class
    MALLOC_ARENA_MAX=2 python bench/load_test.py --quick   # the server inherits the environment
    python bench/load_test.py --replicas 2 --quick         # 2 replicas behind nginx (needs nginx)
    python bench/load_test.py --url http://127.0.0.1:8501 --pid 1234   # a server you started
    python bench/load_test.py --url http://127.0.0.1:8080 --pid 11 --pid 12   # replicas behind nginx

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
from tests.ws_client import ProtocolError, StreamlitSession, check_loopback

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


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime + stime
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


# --- the class -------------------------------------------------------------------------


@dataclass
class Figures:
    sessions_requested: int = 0
    sessions_held: int = 0  # connected, and still connected (or cleanly resumed) at the end
    duration_s: float = 0.0
    reruns: int = 0
    rerun_s: list[float] = field(default_factory=list)
    first_load_s: list[float] = field(default_factory=list)
    drops: int = 0  # connections cut mid-run on purpose
    resumed: int = 0  # ...that got their own session back
    lost_replies: list[str] = field(default_factory=list)  # reconnects whose first reply never came
    errors: list[str] = field(default_factory=list)
    bytes_per_rerun: list[int] = field(default_factory=list)


async def student(i: int, url: str, args, figs: Figures, start_at: float, end_at: float, rng: random.Random) -> None:
    """One tab: load the page, then re-initialize with a new seed until end_at."""
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
    n_charts = len(first.of_type("plotly_chart"))
    held = True
    shown_seed = first.metric("Seed")
    k = 0
    try:
        while time.monotonic() < end_at:
            await asyncio.sleep(args.think * rng.uniform(0.5, 1.5))
            if time.monotonic() >= end_at:
                break
            k += 1
            seed = (i + 1) * 1_000_000 + k if args.action == "seed" else None
            values = {"seed": seed} if seed is not None else {}
            if args.drop_every and k % args.drop_every == 0:
                shown_seed = await drop_and_resume(i, s, values, shown_seed, seed, figs, args.reconnect_wait)
                continue
            run = await s.rerun(values, click="Re-initialize")
            figs.reruns += 1
            figs.rerun_s.append(run.elapsed)
            figs.bytes_per_rerun.append(run.bytes_received)
            problems = check_run(run, n_charts, str(seed) if seed is not None else shown_seed)
            if problems:
                figs.errors.append(f"session {i} rerun {k}: {problems}")
            shown_seed = run.metric("Seed")
    except ProtocolError as e:
        figs.errors.append(f"session {i} rerun {k}: {e}")
        held = False
    except Exception as e:
        figs.errors.append(f"session {i} rerun {k}: {type(e).__name__}: {e}")
        held = False
    finally:
        figs.sessions_held += held
        await s.close()


async def drop_and_resume(
    i: int, s: StreamlitSession, values: dict, shown_seed: str | None, seed: int | None, figs: Figures, wait: float
) -> str | None:
    """Ask for a re-init, cut the TCP connection mid-run (no close handshake), reconnect for the old session.

    If the reply to the reconnect does not come within `wait` seconds, the student clicks
    Re-initialize again, as one would; that is counted as a lost reply, and an error only
    if the second click fails too. (Under load, Streamlit 1.67's flush loop can send a
    resumed session's messages to the session's previous, dead websocket: it iterates over a
    snapshot of the active sessions taken before the reconnect. Raised in the review of
    streamlit/streamlit PR #15909.)
    """
    old_id = s.session_id
    await s.send_rerun(values, click="Re-initialize")
    await asyncio.sleep(0.05)
    s.abort()
    figs.drops += 1
    await asyncio.sleep(0.5)
    s.trace = []  # what the server sent after the reconnect, for the record if the reply is lost
    timeout, s.timeout = s.timeout, wait
    try:
        run = await s.connect(resume_session_id=old_id)
    except ProtocolError as e:
        if s.ws is None:
            raise  # could not even reconnect
        figs.lost_replies.append(f"session {i}: {e} after reconnecting; the server sent: {compact(s.trace)}")
        s.timeout = timeout
        run = await s.rerun({}, click="Re-initialize")  # the student clicks again
    finally:
        s.trace = None
        s.timeout = timeout
    if s.session_id == old_id:
        figs.resumed += 1
    else:
        figs.errors.append(f"session {i}: reconnect gave a new session {s.session_id} instead of {old_id}")
    # The interrupted run may or may not have applied the new seed; either way it is this session's own.
    allowed = {shown_seed} | ({str(seed)} if seed is not None else set())
    problems = check_run(run, None, None)
    if run.metric("Seed") not in allowed:
        problems.append(
            f"after reconnecting the page shows seed {run.metric('Seed')}, expected one of {sorted(allowed)}"
        )
    if problems:
        figs.errors.append(f"session {i} resume: {problems}")
    return run.metric("Seed")


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


def check_run(run, n_charts: int | None, seed: str | None) -> list[str]:
    problems = []
    if run.status != "FINISHED_SUCCESSFULLY":
        problems.append(run.status)
    problems += run.exceptions + [f"st.error: {e[:200]}" for e in run.error_alerts]
    if n_charts is not None and len(run.of_type("plotly_chart")) != n_charts:
        problems.append(f"{len(run.of_type('plotly_chart'))} charts, expected {n_charts}")
    if seed is not None and run.metric("Seed") != seed:
        problems.append(f"page shows seed {run.metric('Seed')}, this session asked for {seed}")
    return problems


async def sample_rss(pids: list[int], samples: list[tuple[float, float]], stop: asyncio.Event) -> None:
    while not stop.is_set():
        samples.append((time.monotonic(), rss_mb(pids)))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.2)


async def one_visit(url: str, timeout: float) -> None:
    s = StreamlitSession(url, timeout=timeout)
    await s.connect()
    await s.rerun({}, click="Re-initialize")
    await s.close()


async def run_class(args, url: str, pids: list[int], servers: list[str] | None = None) -> dict:
    """`servers`: each server's own URL (the replicas behind nginx), for warm-up and after-close visits."""
    servers = servers or [url]
    out: dict = {
        "url": url,
        "sessions": args.sessions,
        "duration_s": args.duration,
        "think_s": args.think,
        "action": args.action,
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
    # Every session stops by itself at end_at (each rerun is bounded by --timeout); this is a backstop.
    _done, pending = await asyncio.wait(tasks, timeout=args.ramp + args.duration + 2 * args.timeout + 30)
    for t in pending:
        t.cancel()
        figs.errors.append("a session did not stop in time (cancelled)")
    wall = time.monotonic() - t0
    if pids:
        stop.set()
        await sampler
        out["server_cpu_s_per_rerun"] = (cpu_seconds(pids) - cpu0) / max(1, figs.reruns + figs.drops)
        out["server_cpu_share"] = (cpu_seconds(pids) - cpu0) / wall / (os.cpu_count() or 1)
        out["rss_peak_mb"] = max(r for _, r in samples)
        out["rss_per_session_mb"] = (out["rss_peak_mb"] - out["rss_warm_mb"]) / args.sessions
        out["rss_end_of_run_mb"] = rss_mb(pids)
    out["metrics_at_end"] = server_metrics(servers)
    # After close: wait out the disconnected-session TTL. Streamlit's session store only reaps expired
    # sessions on its next write, so one short visit afterwards stands for "the next student".
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


def report(o: dict) -> str:
    f = lambda v, d=2: "-" if v is None else f"{v:.{d}f}"
    lines = [
        (f"server {o['url']}  cpus: {o['cpus']}  load average before: {o['loadavg_before']:.2f}"),
        (
            f"sessions: {o['sessions_held']} held of {o['sessions']}  duration {o['duration_s']:.0f} s  "
            f"think {o['think_s']} s  action {o['action']}  drop every {o['drop_every'] or '-'}"
        ),
        (
            f"reruns: {o['reruns']} ({o['reruns_per_s']:.1f}/s)  p50 {f(o['rerun_p50_s'])} s  "
            f"p95 {f(o['rerun_p95_s'])} s  max {f(o['rerun_max_s'])} s  bytes/rerun {o['bytes_per_rerun']}"
        ),
        f"first page load: p50 {f(o['first_load_p50_s'])} s  p95 {f(o['first_load_p95_s'])} s",
        (
            f"dropped mid-run: {o['drops']}, resumed their own session: {o['resumed']}; reply to the reconnect "
            f"lost (the next click worked): {o['lost_replies_after_reconnect']}"
        ),
        f"errors: {o['errors']}",
    ]
    lines += [f"  {e}" for e in o["error_samples"]]
    lines += [f"  lost reply: {e[:300]}" for e in o["lost_reply_samples"][:3]]
    if "rss_start_mb" in o:
        lines.append(
            f"server RSS MB: start {o['rss_start_mb']:.0f}  warm {o['rss_warm_mb']:.0f}  peak {o['rss_peak_mb']:.0f}  "
            f"per session {o['rss_per_session_mb']:.1f}  end of run {o['rss_end_of_run_mb']:.0f}  "
            f"after close (TTL {o['ttl_s']} s passed) {f(o.get('rss_after_close_mb'), 0)}"
        )
        lines.append(
            f"server CPU: {o['server_cpu_s_per_rerun']:.3f} s per rerun, "
            f"{100 * o['server_cpu_share']:.0f}% of the machine; client CPU {o['client_cpu_s']:.0f} s"
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


def finish(args, out: dict) -> int:
    print(report(out))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, default=str))
    return 0 if out["errors"] == 0 and out["sessions_held"] == args.sessions else 1


def run_replicas(args) -> int:
    """The same class against N replicas behind nginx (sticky sessions), RSS and CPU summed over them."""
    from deploy.replicas import classroom

    args.ttl = args.ttl if args.ttl is not None else 30
    with classroom(
        args.replicas,
        log_dir=ROOT / "artifacts" / "load_test_replicas",
        overrides={"server.disconnectedSessionTTL": args.ttl},
    ) as c:
        out = asyncio.run(run_class(args, c.url, [p.pid for p in c.replicas], c.replica_urls))
    out["replicas"] = args.replicas
    return finish(args, out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sessions", type=int, default=30, help="concurrent sessions (max %(default)s..200)")
    ap.add_argument("--duration", type=float, default=120.0, help="seconds each session keeps re-initializing")
    ap.add_argument("--quick", action="store_true", help="20 s instead of --duration")
    ap.add_argument(
        "--think",
        type=float,
        default=1.0,
        help="mean seconds between a session's reruns (uniform 0.5x..1.5x); 0 = click as fast as the server answers",
    )
    ap.add_argument("--ramp", type=float, default=5.0, help="seconds over which the sessions open")
    ap.add_argument(
        "--action",
        choices=["seed", "click"],
        default="seed",
        help="seed: new seed + Re-initialize (a cache miss every time); click: Re-initialize only (cache hits)",
    )
    ap.add_argument(
        "--drop-every",
        type=int,
        default=4,
        help="every Nth rerun of a session cuts its connection mid-run and resumes (0: never)",
    )
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds a rerun may take before it is an error")
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
        "--no-after-close",
        dest="after_close",
        action="store_false",
        help="skip waiting out the TTL for the after-close RSS",
    )
    ap.add_argument(
        "--replicas",
        type=int,
        default=0,
        help="start this many replicas behind nginx (deploy/replicas.py) instead of one server",
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
    if not 1 <= args.sessions <= MAX_SESSIONS:
        ap.error(f"--sessions must be within 1..{MAX_SESSIONS}")
    if not 0 < args.duration <= MAX_DURATION:
        ap.error(f"--duration must be within (0, {MAX_DURATION:.0f}] seconds")
    proc = None
    if args.replicas:
        return run_replicas(args)
    if args.url:
        check_loopback(args.url)
        url, pids = args.url.rstrip("/"), args.pid
        args.ttl = (args.ttl if args.ttl is not None else 120) if args.pid else None
    else:
        log = ROOT / "artifacts" / "load_test_server.log"
        log.parent.mkdir(exist_ok=True)
        args.ttl = args.ttl if args.ttl is not None else 30
        proc, url = start_server(args.ttl, log)
        pids = [proc.pid]
    try:
        out = asyncio.run(run_class(args, url, pids))
    finally:
        if proc is not None:
            stop(proc)
    return finish(args, out)


if __name__ == "__main__":
    sys.exit(main())
