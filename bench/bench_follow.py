"""Follow the teacher: how long from the presenter's Next until every follower's page shows the new step.

One dashboard server (pinit.serve, loopback), one presenter tab that opens a class, N follower tabs
on the class link (tests/ws_client.py: the browser's websocket protocol, no browser). Each follower
ticks its timer fragment as the frontend does (st.fragment(run_every=...): a rerun request every
interval on a fixed schedule, the next tick sent once the last run has finished). For one follower
and one move of the presenter (Next or Back sent at t0) it records:

    banner   the follower's "Following the teacher · ... · step N" line arrived
    drawn    the run that brought step N finished: its metrics, chart and text have all arrived
             (this is "the follower's step changed"; the banner comes first in the same run)
    poll     the follower's tick that saw the move was sent (the wait for the poll; 0 when a
             tick already in flight saw it)
    run      drawn - poll: the server's work for that follower, queued with everyone else's

The presenter walks steps 1 -> 5 and back, `--rounds` times (step 6 hands over and ends following).

    PYTHONPATH=. python bench/bench_follow.py --followers 30 --rounds 2

Before/after in one run: `--baseline DIR` also starts a server from the source tree DIR (e.g. a
`git worktree add /tmp/base main`: its own pinit, the same Python), with its own presenter and
followers, and alternates rounds A (DIR), B (this tree), A, B, ... so both see the same machine
load. Both classes' followers keep polling all the time, each server in its own process.

Prints p50/p95/max over all (move, follower) pairs per server, the same per move, the load
average (the machine is shared: the figures depend on the CPU the servers get), and each server's
CPU use over five idle seconds at the end (followers polling, nobody moving: the poll's price).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pinit.lab import story_cache
from pinit.serve import running
from tests.ws_client import FOLLOWING_STEP, StreamlitSession, join_class, open_class

BANNER = re.compile(FOLLOWING_STEP.format(code="[2-9A-Z]{4}", step=r"(\d)"))


@dataclass
class Seen:
    step: int
    sent: float  # perf_counter when the tick that brought the step was sent
    banner: float  # ... when the banner arrived
    drawn: float  # ... when that run finished


class Follower:
    """A follower tab ticking its poll fragment; records when each step first showed."""

    def __init__(self, session: StreamlitSession, step: int) -> None:
        self.s = session
        self.step = step
        self.seen: list[Seen] = []
        self.changed = asyncio.Event()
        self.stop = False

    async def run(self) -> None:
        interval = min(self.s.auto_reruns.values())
        start = time.perf_counter()
        tick = 0
        while not self.stop:
            sent = time.perf_counter()
            run = await self.s.auto_rerun()
            for (kind, proto), t in zip(run.elements, run.arrivals):
                m = BANNER.search(proto.body) if kind == "markdown" else None
                if m and int(m[1]) != self.step:
                    self.step = int(m[1])
                    self.seen.append(Seen(self.step, sent, t, sent + run.elapsed))
                    self.changed.set()
            now = time.perf_counter()
            tick = max(tick + 1, int((now - start) / interval))
            await asyncio.sleep(max(0.0, start + tick * interval - now))

    async def reached(self, step: int, since: float, timeout: float) -> Seen:
        deadline = time.perf_counter() + timeout
        while True:
            for s in self.seen:
                if s.step == step and s.banner >= since:
                    return s
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), max(0.01, deadline - time.perf_counter()))
            except TimeoutError:
                raise TimeoutError(f"a follower did not reach step {step} in {timeout:.0f} s") from None


def pct(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, max(0, round(q * (len(v) - 1))))]


def ms(x: float) -> str:
    return f"{x * 1000:,.0f}"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far (Linux /proc), seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Class:
    """One server's class: its presenter, its followers' tasks, and what was measured."""

    name: str
    url: str
    pid: int
    presenter: StreamlitSession | None = None
    code: str = ""
    tabs: list[Follower] = field(default_factory=list)
    tasks: list[asyncio.Task] = field(default_factory=list)
    step: int = 1
    pairs: list[tuple[float, float, float, float]] = field(default_factory=list)  # banner, drawn, poll, run
    moves: list[tuple[str, float, float]] = field(default_factory=list)  # "-> N", median drawn, max drawn

    async def open(self, followers: int) -> None:
        self.presenter, self.code = await open_class(self.url, timeout=900)  # a first start computes the lesson
        # Warm the lesson's numbers (computed once per server) before timing: walk 1 -> 5 -> 1 alone.
        for delta in [1] * 4 + [-1] * 4:
            await self.presenter.lesson_step(delta)
        for _ in range(followers):
            s, first = await join_class(self.url, self.code)
            if not first.ok:
                raise SystemExit(f"a follower's page failed: {first.exceptions or first.error_alerts}")
            self.tabs.append(Follower(s, 1))
        self.tasks = [asyncio.create_task(f.run()) for f in self.tabs]

    async def walk(self) -> None:
        """The presenter walks 1 -> 5 -> 1 once; each move waits for every follower."""
        assert self.presenter is not None
        for delta in [1] * 4 + [-1] * 4:
            self.step += delta
            t0 = time.perf_counter()
            await self.presenter.lesson_step(delta)
            seen = await asyncio.gather(*(f.reached(self.step, t0, 60) for f in self.tabs))
            for s in seen:
                self.pairs.append((s.banner - t0, s.drawn - t0, max(0.0, s.sent - t0), s.drawn - max(s.sent, t0)))
            drawn = [s.drawn - t0 for s in seen]
            self.moves.append((f"-> {self.step}", statistics.median(drawn), max(drawn)))
            await asyncio.sleep(0.5)

    async def close(self) -> str:
        assert self.presenter is not None
        run = await self.presenter.rerun()
        for f in self.tabs:
            f.stop = True
        await asyncio.gather(*self.tasks)
        for f in self.tabs:
            await f.s.close()
        await self.presenter.close()
        shown = [m for m in run.markdown() if "following" in m]
        return shown[0] if shown else "(no count shown)"

    async def idle_cpu(self, seconds: float = 5.0) -> float:
        """The server's CPU use (cores) while its followers only poll: the price of the poll."""
        c0, t0 = cpu_seconds(self.pid), time.perf_counter()
        await asyncio.sleep(seconds)
        return (cpu_seconds(self.pid) - c0) / (time.perf_counter() - t0)

    def report(self, row: str, idle: float) -> None:
        print(f"[{self.name}] {len(self.tabs)} followers, class {self.code}; presenter's row: {row!r}")
        print(f"  idle (followers polling, nobody moving): server CPU {idle:.2f} cores")
        for name, med, mx in self.moves:
            print(f"  move {name}: drawn median {ms(med)} ms, slowest {ms(mx)} ms")
        banner, drawn, poll, run = (list(c) for c in zip(*self.pairs))
        print(f"  {len(self.pairs)} (move, follower) pairs, ms:   p50    p95    max")
        for label, v in (("banner", banner), ("drawn", drawn), ("poll wait", poll), ("server run", run)):
            print(f"    {label:<12} {ms(pct(v, 0.5)):>12} {ms(pct(v, 0.95)):>6} {ms(max(v)):>6}")


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


async def bench(servers: list[tuple[str, str, int]], followers: int, rounds: int) -> None:
    classes = [Class(name, url, pid) for name, url, pid in servers]
    for c in classes:
        await c.open(followers)
    await asyncio.sleep(1.0)
    print(f"load average (1, 5, 15 min) at the start: {load()}")
    for _ in range(rounds):
        for c in classes:  # interleaved: A, B, A, B, ...
            await c.walk()
    print(f"load average at the end: {load()}")
    idle = [await c.idle_cpu() for c in classes]
    for c, cpu in zip(classes, idle):
        c.report(await c.close(), cpu)


@contextlib.contextmanager
def server(tree: Path | None):
    """A dashboard server on loopback from this checkout, or from the source tree `tree`."""
    if tree is None:
        with running() as (url, proc):
            yield url, proc.pid
        return
    tree = tree.resolve()
    env = dict(os.environ, PYTHONPATH=str(tree))
    # The story cache holds one code version's stories (pinit.lab.story_cache): the baseline keeps its
    # own folder, or the two servers would evict each other's and recompute minutes of seeds per start.
    folder = story_cache.cache_dir()
    if folder is not None:
        env[story_cache.CACHE_ENV] = str(folder / "baseline")
    with running(script=tree / "pinit" / "dashboard" / "streamlit_app.py", env=env, cwd=tree) as (url, proc):
        yield url, proc.pid


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--followers", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=2, help="walks 1 -> 5 -> 1 of the presenter (per server)")
    ap.add_argument("--url", help="a running dashboard on loopback (default: start one)")
    ap.add_argument("--pid", type=int, help="with --url: that server's process id")
    ap.add_argument("--baseline", type=Path, help="a source tree to compare with, rounds interleaved (see above)")
    args = ap.parse_args()
    if args.url:
        if args.pid is None:
            ap.error("--url needs --pid (the server's process id, for its CPU use)")
        asyncio.run(bench([("this", args.url, args.pid)], args.followers, args.rounds))
        return
    if args.baseline is None:
        with server(None) as (url, pid):
            asyncio.run(bench([("this tree", url, pid)], args.followers, args.rounds))
        return
    with server(args.baseline) as (base, base_pid), server(None) as (this, pid):
        asyncio.run(
            bench([(f"A {args.baseline}", base, base_pid), ("B this tree", this, pid)], args.followers, args.rounds)
        )


if __name__ == "__main__":
    main()
