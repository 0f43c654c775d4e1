"""Another student's click time alone and while one student abuses the server (issue 17, item 6).

    PYTHONPATH=$PWD python bench/bench_fairness.py                  # 5 rounds, 12 s of abuse each
    PYTHONPATH=$PWD python bench/bench_fairness.py --rounds 2 --abuse-seconds 8

Starts one dashboard server (pinit.serve.running, loopback only) and drives browser-like
sessions with tests/ws_client.py. The "other student" is one tab on the Weights view
of SimpleCNN picking presets (alternating two). Rounds are interleaved: alone, abuse 1,
alone, abuse 2, alone, abuse 3, ...; each pick under abuse is compared with the median of
the picks alone, and the script prints the medians and their ratio per abuse:

* big-slot   a tab on ``?model=VGGStyle`` (the largest built-in model the memory budget
             admits; a link asking for more is refused) typing new seeds back to back: each
             seed builds 105 M parameters in the big-model slot;
* train-800  a tab pressing Train with 800 SGD steps (three plans): it holds the training
             worker, in turns of pinit.budget.TRAIN_SLICE_S while others wait;
* signal-x8  8 tabs of Signal flow on DeepMLP (depth 100, width 1024, 105 M parameters),
             each typing new seeds back to back.

For train-800 it also times the other student's own default Train (100 steps) and prints
the place in line its progress bar showed. Timings are medians of wall-clock seconds per
click on a shared machine: read the ratios, not the absolute figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pinit.serve import running
from tests.ws_client import StreamlitSession

PRESETS = ("Kaiming (He)", "Xavier (Glorot)")
DEEP = {"depth": 100, "width": 1024}


async def tab(url: str, query: dict[str, str], timeout: float = 600.0) -> StreamlitSession:
    s = StreamlitSession(url, timeout=timeout)
    s.query_string = urlencode(query)
    await s.connect()
    return s


async def picks(victim: StreamlitSession, n: int, flip: list[int]) -> list[float]:
    times = []
    for _ in range(n):
        flip[0] ^= 1
        t = time.perf_counter()
        result = await victim.pick_preset(PRESETS[flip[0]])
        times.append(time.perf_counter() - t)
        if result.exceptions:
            raise RuntimeError(result.exceptions)
    return times


async def seeds_forever(s: StreamlitSession, stop: asyncio.Event, start_seed: int) -> int:
    """Type new seeds back to back until `stop`; returns how many runs finished."""
    done, seed = 0, start_seed
    while not stop.is_set():
        seed += 1
        await s.type_seed(seed)
        done += 1
    return done


async def abuse_big_slot(url: str, stop: asyncio.Event, ready: asyncio.Event, state: dict) -> None:
    s = await tab(url, {"model": "VGGStyle", "view": "Weights"})
    ready.set()
    try:
        state["runs"] = await seeds_forever(s, stop, 1000)
    finally:
        await s.close()


async def abuse_signal(url: str, stop: asyncio.Event, ready: asyncio.Event, state: dict, tabs: int = 8) -> None:
    q = {"model": "DeepMLP", "opts": json.dumps(DEEP, separators=(",", ":")), "view": "Signal flow"}
    sessions = []
    for _ in range(tabs):  # each tab's first run already queues a signal flow
        s = StreamlitSession(url, timeout=900)
        s.query_string = urlencode(q)
        sessions.append(s)
    first = [asyncio.create_task(s.connect()) for s in sessions]
    await asyncio.sleep(2.0)
    ready.set()
    await asyncio.gather(*first)
    try:
        counts = await asyncio.gather(*(seeds_forever(s, stop, 2000 + 100 * i) for i, s in enumerate(sessions)))
        state["runs"] = sum(counts)
    finally:
        for s in sessions:
            await s.close()


async def abuse_train(url: str, stop: asyncio.Event, ready: asyncio.Event, state: dict) -> None:
    s = await tab(url, {"view": "Train"})
    await s.rerun({"train.steps": 800})
    await s.send_rerun(click="Train")  # trains for minutes: the reply is not waited for
    await asyncio.sleep(1.0)
    ready.set()
    await stop.wait()
    # Press Stop (sent only: the replies of the interrupted Train run are still in the stream), else
    # the run goes on training after the tab is gone and the next "alone" figure is not alone.
    await s.send_rerun(click="Stop")
    await asyncio.sleep(3.0)
    await s.close()


async def victim_train(victim_train_tab: StreamlitSession, seed: int) -> tuple[float, list[str]]:
    """Press Train with a new seed (a finished run of the same seed would come from the cache)."""
    await victim_train_tab.type_seed(seed)
    t = time.perf_counter()
    result = await victim_train_tab.rerun(click="Train")
    seconds = time.perf_counter() - t
    lines = [p.text for p in result.of_type("progress") if "in line" in p.text]
    return seconds, lines


async def bench(url: str, rounds: int, abuse_seconds: float, n_picks: int) -> None:
    victim = await tab(url, {"view": "Weights"})
    flip = [0]
    await picks(victim, 2, flip)  # warm the caches of both presets
    trainer = await tab(url, {"view": "Train"})
    await trainer.rerun({"train.steps": 100})
    alone: list[float] = []
    under: dict[str, list[float]] = {"big-slot": [], "train-800": [], "signal-x8": []}
    train_alone: list[float] = []
    train_under: list[float] = []
    places: list[str] = []
    abuses = {"big-slot": abuse_big_slot, "train-800": abuse_train, "signal-x8": abuse_signal}
    for r in range(rounds):
        for name, abuse in abuses.items():
            alone += await picks(victim, n_picks, flip)
            if name == "train-800":
                train_alone.append((await victim_train(trainer, 500 + 2 * r))[0])
            stop, ready, state = asyncio.Event(), asyncio.Event(), {}
            task = asyncio.create_task(abuse(url, stop, ready, state))
            await ready.wait()
            end = time.perf_counter() + abuse_seconds
            while time.perf_counter() < end:
                under[name] += await picks(victim, 1, flip)
            if name == "train-800":
                seconds, lines = await victim_train(trainer, 501 + 2 * r)
                train_under.append(seconds)
                places += lines
            stop.set()
            try:
                await asyncio.wait_for(task, 600)
            except Exception as e:  # an abuser's own session ending badly is not the figure measured
                print(f"  (abuser {name}: {type(e).__name__})")
            a = statistics.median(alone)
            print(
                f"round {r + 1} {name:9} pick alone {a:.2f} s, "
                f"under abuse median {statistics.median(under[name]):.2f} s "
                f"({len(under[name])} picks so far)",
                flush=True,
            )
    a = statistics.median(alone)
    print(f"\nother student's preset pick alone: median {a:.2f} s over {len(alone)} picks")
    for name, ts in under.items():
        m = statistics.median(ts)
        print(f"  under {name:9}: median {m:.2f} s, max {max(ts):.2f} s over {len(ts)} picks  -> ratio {m / a:.2f}")
    if train_alone and train_under:
        ta, tu = statistics.median(train_alone), statistics.median(train_under)
        print(
            f"other student's default Train (100 steps, 3 plans): alone {ta:.1f} s, under train-800 {tu:.1f} s "
            f"-> ratio {tu / ta:.2f}"
        )
        print(f"  its progress bar said: {places[-1][:200] if places else '(no place in line shown)'}")
    await victim.close()
    await trainer.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--abuse-seconds", type=float, default=12.0)
    parser.add_argument("--picks", type=int, default=3, help="picks alone before each abuse")
    args = parser.parse_args(argv)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    (ROOT / "artifacts").mkdir(exist_ok=True)
    with (
        open(ROOT / "artifacts" / "bench-fairness-server.log", "w") as log,
        running(script=ROOT / "app.py", cwd=ROOT, env=env, log=log, timeout=120) as (url, _proc),
    ):
        asyncio.run(bench(url, args.rounds, args.abuse_seconds, args.picks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
