"""What lesson.claims() costs, cold and warm, on one thread.

Cold (``PINIT_CACHE_DIR=off``): every story the warm-up worker computes (lesson.STORIES, in its
order: the lesson's numbers, then the Spectra view's trained layer), timed one by one in a fresh
process, as a server without a cache pays it once at start. The worker (lesson.start_warming) runs
them on one core (torch.set_num_threads(1)), so the first student waits at most for the steps
before theirs.

Warm: a fresh process whose cache folder holds the stories (pinit.lab.story_cache) asks for
claims(): it reads the pickles instead of computing. Repeated `--warm-repeats` times, median;
also the second call in the same process (the in-memory result).

    python bench/bench_claims.py --table                 # cold once, warm 5 times (default cache folder)
    python bench/bench_claims.py --cold-repeats 0        # warm only
    python bench/bench_claims.py --cache /tmp/pinit-cache

Prints each story's wall time, the totals, the load average before and after (and with --table,
the claims table). The cold runs always have the cache off, whatever PINIT_CACHE_DIR says.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

COLD = """
import json, time, torch
torch.set_num_threads(1)
from pinit.lab import lesson
times = []
for name, args in lesson.STORIES:
    t = time.perf_counter()
    lesson.story(name)(*args)
    times.append((f"{name}{args}", time.perf_counter() - t))
print(json.dumps(times))
"""

WARM = """
import json, time
t0 = time.perf_counter()
import torch
torch.set_num_threads(1)
from pinit.lab import lesson, spectra
t1 = time.perf_counter()
table = lesson.claims()
t2 = time.perf_counter()
lesson.claims()
t3 = time.perf_counter()
spectra.trained_tail()
t4 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "claims": t2 - t1, "again": t3 - t2, "trained_tail": t4 - t3}))
"""


def _run(code: str, cache: str) -> str:
    env = {**os.environ, "PINIT_CACHE_DIR": cache, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold-repeats", type=int, default=1)
    parser.add_argument("--warm-repeats", type=int, default=5)
    parser.add_argument("--cache", default=os.environ.get("PINIT_CACHE_DIR", ""), help="the warm cache folder")
    parser.add_argument("--table", action="store_true", help="print the claims table at the end (from --cache)")
    a = parser.parse_args()
    print(f"load average before: {os.getloadavg()}", flush=True)
    for i in range(a.cold_repeats):
        times = json.loads(_run(COLD, "off"))
        for name, seconds in times:
            print(f"cold {i + 1}: {name}: {seconds:.1f} s", flush=True)
        lesson_total = sum(s for n, s in times if not n.startswith("trained_tail"))
        print(
            f"cold {i + 1}: claims() (every lesson story): {lesson_total:.1f} s; with the trained layer: "
            f"{sum(s for _, s in times):.1f} s; load average {os.getloadavg()}",
            flush=True,
        )
    if a.warm_repeats:
        first = json.loads(_run(WARM, a.cache))  # fills the cache if it was empty: not counted
        runs = [json.loads(_run(WARM, a.cache)) for _ in range(a.warm_repeats)]
        for key in ("import", "claims", "again", "trained_tail"):
            values = [r[key] for r in runs]
            print(
                f"warm ({a.warm_repeats} fresh processes, median, min–max): {key}: "
                f"{1000 * statistics.median(values):,.1f} ms ({1000 * min(values):,.1f}–{1000 * max(values):,.1f})"
            )
        if first["claims"] > 5.0:  # it found no stories on disk
            print(f"(the first warm process computed the stories: {first['claims']:.1f} s; not counted)")
    print(f"load average after: {os.getloadavg()}")
    if not a.table:
        return
    sys.path.insert(0, str(ROOT))
    import pandas as pd

    os.environ["PINIT_CACHE_DIR"] = a.cache
    from pinit.lab import lesson

    with pd.option_context("display.width", 250, "display.max_colwidth", 90, "display.max_rows", 100):
        print(lesson.claims().to_string())


if __name__ == "__main__":
    main()
