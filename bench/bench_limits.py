"""The measured costs behind pinit's limits (docs/PERFORMANCE.md, "Measured costs behind pinit's limits").

Some constants stand on a cost: the two-pass std instead of torch.std_mean, the trunc_normal
acceptance pinit refuses below (_TRUNC_MIN_ACCEPT), the SVD time estimate (svd_seconds), the
LSUV budget (LSUV_BUDGET), plotly's validation off when serving. Their comments say what and
why; this prints the figures, on one torch thread as the page runs, medians of interleaved
runs (A, B, A, B, ...) where two ways are compared.

    python bench/bench_limits.py                      # all, the quick sizes
    python bench/bench_limits.py --only std,svd --repeats 7
    python bench/bench_limits.py --big                # adds 8192 x 8192 svdvals and a 67M-value std
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable

import torch

from pinit import figures
from pinit.lab.depth import LSUV_BUDGET, lsuv_cost
from pinit.lab.spectra import svd_seconds
from pinit.schemes import _TRUNC_MIN_ACCEPT, _trunc_acceptance
from pinit.stats import _std_mean, histogram


def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def interleaved(a: Callable[[], object], b: Callable[[], object], repeats: int) -> tuple[list[float], list[float]]:
    """Times of a and b, alternating which goes first (A, B, B, A, ...), after one warm-up each."""
    a(), b()
    ta, tb = [], []
    for i in range(repeats):
        for which in "ab" if i % 2 == 0 else "ba":
            (ta if which == "a" else tb).append(timed(a if which == "a" else b))
    return ta, tb


def ms(xs: list[float]) -> str:
    return f"{statistics.median(xs) * 1e3:,.0f} ms"


def bench_std(repeats: int, big: bool) -> None:
    n = 67_108_864 if big else 16_777_216
    x = torch.randn(n, generator=torch.Generator().manual_seed(0))
    lo, hi = float(x.min()), float(x.max())
    two_pass, welford = interleaved(lambda: _std_mean(x, lo, hi), lambda: torch.std_mean(x), repeats)
    ratio = statistics.median(welford) / statistics.median(two_pass)
    print(f"std of {n:,} float32 values: pinit's two-pass {ms(two_pass)}, torch.std_mean {ms(welford)}: ×{ratio:.1f}")


def bench_svd(repeats: int, big: bool) -> None:
    sizes = [(4608, 512), (2048, 2048)] + ([(8192, 8192)] if big else [])
    for rows, cols in sizes:
        w = torch.randn(rows, cols, generator=torch.Generator().manual_seed(0))
        times = [timed(lambda w=w: torch.linalg.svdvals(w)) for _ in range(1 if rows * cols > 2**25 else repeats)]
        est = svd_seconds(rows, cols)
        got = statistics.median(times)
        print(f"svdvals {rows} × {cols}: {got:.2f} s, svd_seconds estimates {est:.2f} s (×{est / got:.2f})")


def _bounds_for(rate: float) -> tuple[float, float]:
    """[1, b] in N(0, 1)'s upper tail where torch's trunc_normal_ keeps about `rate` of its draws
    (its rejection branch: U(a, b) kept with probability pdf(x) / pdf(a); wider keeps fewer)."""
    lo, hi = 1.0, 100.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _trunc_acceptance(0.0, 1.0, 1.0, mid) > rate else (lo, mid)
    return 1.0, lo


def bench_trunc(repeats: int, big: bool) -> None:
    t = torch.empty(512, 2048)  # SimpleCNN's fc1
    rates = [0.5, _TRUNC_MIN_ACCEPT] + ([0.05] if big else [])  # [1, 100] (0.7%) is too slow to wait for
    for rate in rates:
        a, b = _bounds_for(rate)
        times = [timed(lambda a=a, b=b: torch.nn.init.trunc_normal_(t, 0.0, 1.0, a, b)) for _ in range(repeats)]
        kept = _trunc_acceptance(0.0, 1.0, a, b)
        print(f"trunc_normal_ on 512 × 2048, N(0, 1) on [{a:g}, {b:.3f}], keeps {kept:.1%}: {ms(times)}")


def bench_lsuv(repeats: int, big: bool) -> None:
    from pinit.lab.depth import _deep_mlp
    from pinit.lab.lsuv import lsuv
    from pinit.lab.probes import probe_batch

    for depth, width, n in [(50, 256, 128), (100, 256, 128)]:
        cost = lsuv_cost(depth, width, n)

        def run(depth: int = depth, width: int = width, n: int = n) -> None:
            model = _deep_mlp(depth, width, "relu")
            lsuv(model, probe_batch(model, n, 0), tol=0.01, max_iters=10, seed=0)

        times = [timed(run) for _ in range(repeats)]
        print(
            f"LSUV on DeepMLP depth {depth}, width {width}, n {n}: lsuv_cost {cost:.2g} "
            f"({cost / LSUV_BUDGET:.0%} of LSUV_BUDGET): {ms(times)}"
        )


def bench_validate(repeats: int, big: bool) -> None:
    h = histogram(torch.randn(512, 2048, generator=torch.Generator().manual_seed(0)), bins=40, name="fc1.weight")

    def build(validate: bool) -> None:
        figures.VALIDATE = validate
        try:
            figures.histogram_figure(h)
        finally:
            figures.VALIDATE = False

    on, off = interleaved(lambda: build(True), lambda: build(False), max(repeats, 5) * 4)
    print(f"histogram_figure: validated {ms(on)}, not validated {ms(off)} (what serving does)")


BENCHES = {"std": bench_std, "svd": bench_svd, "trunc": bench_trunc, "lsuv": bench_lsuv, "validate": bench_validate}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(BENCHES), help=f"comma-separated, of {', '.join(BENCHES)}")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--big", action="store_true", help="the long sizes too")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, 1 thread, load average {', '.join(f'{x:.1f}' for x in _load())}")
    for name in args.only.split(","):
        BENCHES[name.strip()](args.repeats, args.big)


def _load() -> tuple[float, ...]:
    try:
        import os

        return os.getloadavg()
    except OSError:
        return (math.nan,)


if __name__ == "__main__":
    main()
