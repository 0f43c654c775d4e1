"""Server work per re-initialize: pinit's path against a beginner's, measured in one run.

pinit's path: build the model, apply the plan, parameter table, binned histograms,
plotly figures serialized to JSON (what Streamlit sends). The beginner's path: the
same model and init, then one plotly express histogram of the raw values per
parameter. Prints the median of each stage over --repeats runs, the ratio, and
the bytes of figure JSON per page. No assertions: these machines are shared and
noisy, so read the ratios.

    python bench/bench_reinit.py                 # SimpleCNN, Kaiming preset
    python bench/bench_reinit.py --repeats 15 --preset "Article recipe"
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import plotly.express as px  # noqa: E402
import torch  # noqa: E402

import pinit  # noqa: E402
from pinit.figures import histogram_figure, signal_gain_figure, std_overview_figure  # noqa: E402
from pinit.stats import describe  # noqa: E402


def pinit_page(model_name: str, plan: dict, seed: int, bins: int) -> tuple[dict[str, float], int]:
    t = {}
    t0 = time.perf_counter()
    model = pinit.build_model(model_name, seed=seed)
    pinit.apply_plan(model, plan, seed)
    t["re-initialize"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    table, hists = describe(model, plan, bins)
    t["table+histograms"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    figs = [histogram_figure(h) for h in hists] + [std_overview_figure(table), signal_gain_figure(table)]
    payload = sum(len(f.to_json()) for f in figs)
    t["figures+json"] = time.perf_counter() - t0
    t["total"] = sum(t.values())
    return t, payload


def beginner_page(model_name: str, plan: dict, seed: int) -> tuple[dict[str, float], int]:
    t = {}
    t0 = time.perf_counter()
    model = pinit.build_model(model_name, seed=seed)
    pinit.apply_plan(model, plan, seed)
    t["re-initialize"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    figs = [px.histogram(x=p.detach().flatten().numpy(), title=n) for n, p in model.named_parameters()]
    payload = sum(len(f.to_json()) for f in figs)
    t["figures+json"] = time.perf_counter() - t0
    t["total"] = sum(t.values())
    return t, payload


def medians(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="SimpleCNN", choices=list(pinit.MODELS))
    ap.add_argument("--preset", default="Kaiming (He)", choices=list(pinit.PRESETS))
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--bins", type=int, default=40)
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's own)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    plan = pinit.PRESETS[args.preset].plan
    pinit_page(args.model, plan, 0, args.bins)  # warm-up: imports, allocator, plotly templates
    beginner_page(args.model, plan, 0)
    ours, theirs = [], []
    for i in range(args.repeats):  # interleaved, so both see the same machine load
        ours.append(pinit_page(args.model, plan, i, args.bins))
        theirs.append(beginner_page(args.model, plan, i))
    mo, mt = medians([r for r, _ in ours]), medians([r for r, _ in theirs])
    bo, bt = ours[0][1], theirs[0][1]
    print(f"model {args.model}, preset {args.preset!r}, {args.repeats} runs, torch threads {torch.get_num_threads()}")
    print(f"{'stage':<16}{'pinit (ms)':>12}{'beginner (ms)':>15}")
    for k in mo:
        print(f"{k:<16}{mo[k] * 1e3:>12.1f}{(mt[k] * 1e3 if k in mt else float('nan')):>15.1f}")
    print(f"server time ratio pinit/beginner: {mo['total'] / mt['total']:.3f}")
    print(f"figure JSON per page: pinit {bo / 1e3:.1f} KB, beginner {bt / 1e6:.2f} MB, ratio {bo / bt:.4f}")


if __name__ == "__main__":
    main()
