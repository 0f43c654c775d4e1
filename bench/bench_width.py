"""Time of the width view's default coord check (widths 128..2048, 3 Adam steps, SP and μP) on one torch thread.

The page runs both parametrizations for one click; the budget is 30 s on a 2-core machine.
Prints the median over --repeats runs of each, their sum, and the slopes a student reads off.
No assertions: these machines are shared and noisy, so read the numbers.

    python bench/bench_width.py
    python bench/bench_width.py --repeats 5 --widths 128,256,512,1024,2048,4096
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch

from pinit.lab.width import coord_check, coord_slopes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--widths", default="128,256,512,1024,2048")
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    widths = [int(w) for w in args.widths.split(",")]
    total = 0.0
    for p in ("sp", "mup"):
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            df = coord_check(widths=widths, parametrization=p, optimizer="adam", steps=args.steps, seed=0)
            times.append(time.perf_counter() - t0)
        median = statistics.median(times)
        total += median
        slopes = coord_slopes(df)
        last = slopes[slopes["step"] == args.steps].set_index("layer")["slope"]
        print(f"{p:>3}: median {median:6.2f} s over {args.repeats} runs (min {min(times):.2f}, max {max(times):.2f})")
        print(
            "     slope of log2 l1 vs log2 width at the last step: "
            + ", ".join(f"{k} {v:+.2f}" for k, v in last.items())
        )
    print(f"SP + μP for widths {widths}: {total:.2f} s on 1 thread (budget 30 s)")


if __name__ == "__main__":
    main()
