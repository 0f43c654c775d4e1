"""Follow the teacher: how long from the presenter's Next until every follower's page shows the new step.

One dashboard server (pinit.serve, loopback), one presenter tab that opens a class, N follower tabs
on the class link (tests/ws_client.py: the browser's websocket protocol, no browser). Each follower
ticks its timer fragment as the frontend does (st.fragment(run_every=...): a rerun request every
interval on a fixed schedule); the page reruns when the room moved. The latency of one follower for
one move is: the presenter's Next sent -> the follower's "step N" banner received. The presenter
walks steps 1 -> 5 and back, `--rounds` times (step 6 hands over and ends following).

    PYTHONPATH=. python bench/bench_follow.py --followers 30 --rounds 2

Prints p50/p95/max over all (move, follower) pairs, and the same per move.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pinit.serve import running
from tests.ws_client import FOLLOWING_STEP, StreamlitSession, join_class, open_class

BANNER = re.compile(FOLLOWING_STEP.format(code="[2-9A-Z]{4}", step=r"(\d)"))


class Follower:
    """A follower tab ticking its poll fragment; records when each step first showed."""

    def __init__(self, session: StreamlitSession, step: int) -> None:
        self.s = session
        self.step = step
        self.seen: list[tuple[int, float]] = []  # (step, perf_counter of the banner's arrival)
        self.changed = asyncio.Event()
        self.stop = False

    async def run(self) -> None:
        interval = min(self.s.auto_reruns.values())
        start = time.perf_counter()
        tick = 0
        while not self.stop:
            run = await self.s.auto_rerun()
            for (kind, proto), t in zip(run.elements, run.arrivals):
                m = BANNER.search(proto.body) if kind == "markdown" else None
                if m and int(m[1]) != self.step:
                    self.step = int(m[1])
                    self.seen.append((self.step, t))
                    self.changed.set()
            now = time.perf_counter()
            tick = max(tick + 1, int((now - start) / interval))
            await asyncio.sleep(max(0.0, start + tick * interval - now))

    async def reached(self, step: int, since: float, timeout: float) -> float:
        deadline = time.perf_counter() + timeout
        while True:
            for s, t in self.seen:
                if s == step and t >= since:
                    return t - since
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), max(0.01, deadline - time.perf_counter()))
            except TimeoutError:
                raise TimeoutError(f"a follower did not reach step {step} in {timeout:.0f} s") from None


def pct(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, max(0, round(q * (len(v) - 1))))]


async def bench(url: str, followers: int, rounds: int) -> None:
    presenter, code = await open_class(url)
    # Warm the lesson's numbers (computed once per server) before timing: walk 1 -> 5 -> 1 alone.
    for delta in [1] * 4 + [-1] * 4:
        await presenter.lesson_step(delta)
    tabs = []
    for _ in range(followers):
        s, first = await join_class(url, code)
        if not first.ok:
            raise SystemExit(f"a follower's page failed: {first.exceptions or first.error_alerts}")
        tabs.append(Follower(s, 1))
    tasks = [asyncio.create_task(f.run()) for f in tabs]
    await asyncio.sleep(1.0)
    all_lat: list[float] = []
    per_move: list[tuple[str, float, float]] = []
    step = 1
    for _ in range(rounds):
        for delta in [1] * 4 + [-1] * 4:
            step += delta
            t0 = time.perf_counter()
            await presenter.lesson_step(delta)
            lat = await asyncio.gather(*(f.reached(step, t0, 60) for f in tabs))
            all_lat += lat
            per_move.append((f"-> {step}", statistics.median(lat), max(lat)))
            await asyncio.sleep(0.5)
    run = await presenter.rerun()
    for f in tabs:
        f.stop = True
    await asyncio.gather(*tasks)
    shown = [m for m in run.markdown() if "following" in m]
    print(f"{followers} followers, class {code}; presenter's row: {shown[:1]}")
    for name, med, mx in per_move:
        print(f"  move {name}: median {med * 1000:.0f} ms, slowest {mx * 1000:.0f} ms")
    print(
        f"Next -> follower's step shown, {len(all_lat)} (move, follower) pairs: "
        f"p50 {pct(all_lat, 0.5) * 1000:.0f} ms, p95 {pct(all_lat, 0.95) * 1000:.0f} ms, "
        f"max {max(all_lat) * 1000:.0f} ms"
    )
    for f in tabs:
        await f.s.close()
    await presenter.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--followers", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=2, help="walks 1 -> 5 -> 1 of the presenter")
    ap.add_argument("--url", help="a running dashboard on loopback (default: start one)")
    args = ap.parse_args()
    if args.url:
        asyncio.run(bench(args.url, args.followers, args.rounds))
        return
    with running() as (url, _):
        asyncio.run(bench(url, args.followers, args.rounds))


if __name__ == "__main__":
    main()
