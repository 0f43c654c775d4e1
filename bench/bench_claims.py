"""What lesson.claims() costs: each story the warm-up worker computes, timed in its order, on one thread.

The worker (lesson.start_warming) runs these once per server process, in this order, on one
core (torch.set_num_threads(1)), so the first student waits at most for the steps before
theirs. Prints each story's wall time and the total, then the claims table itself.

    python bench/bench_claims.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd
import torch

from pinit.lab import lesson


def main() -> None:
    torch.set_num_threads(1)
    start = time.perf_counter()
    for name, args in lesson.STORIES:
        t = time.perf_counter()
        lesson.story(name)(*args)
        print(f"{name}{args}: {time.perf_counter() - t:.1f} s", flush=True)
    print(f"total: {time.perf_counter() - start:.1f} s")
    with pd.option_context("display.width", 250, "display.max_colwidth", 90, "display.max_rows", 100):
        print(lesson.claims().to_string())


if __name__ == "__main__":
    main()
