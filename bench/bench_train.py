"""Wall time of the Train tab's three plans on one core: the run as it was (NCHW) against train_run.

What is timed is what the Train tab does after a click, per plan: build SimpleCNN, apply
the plan, evaluate at init, train TRAIN_CONFIG's steps, evaluate again (pinit.lab.training's
train_run). "before" is that same experiment in the layout the code used before
(contiguous NCHW weights and images, kept below as `before_run`); "after" is train_run
itself (channels_last, data from the process-wide train_data cache). The two are run
interleaved, before/after then after/before, round after round, on one intra-op thread
(as the page runs), and the medians printed with the load average of each round: these
machines are shared, so read the load average with the figure.

Both must train the same thing: the bench prints each plan's held-out accuracy under both
and the largest relative difference of any step's loss (float rounding of a different summation
order inside the convolutions, nothing else).

    python bench/bench_train.py                    # 3 rounds, the lesson's three plans
    python bench/bench_train.py --rounds 5 --plans "Kaiming (He)" "Article recipe" "Xavier (Glorot)"
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

import pinit
from pinit.lab.data import make_dataset
from pinit.lab.pictures import first_rgb_conv
from pinit.lab.train import evaluate, train
from pinit.lab.training import TRAIN_CONFIG, train_data, train_run

PLANS = ["Kaiming (He)", "PyTorch default", "Article recipe"]  # the lesson's (pinit.lab.lesson.LESSON_TRAIN_PLANS)


def before_run(plan: dict, seed: int, data) -> dict:
    """train_run as it was: NCHW model and images, otherwise the same calls."""
    (images, labels), (test_images, test_labels) = data
    model = pinit.build_model("SimpleCNN", seed=seed)
    pinit.apply_plan(model, plan, seed)
    init = evaluate(model, test_images, test_labels)
    conv = first_rgb_conv(model)
    _ = dict(model.named_parameters())[conv].detach().numpy().copy()
    c = TRAIN_CONFIG
    log = train(model, images, labels, steps=c.steps, batch_size=c.batch_size, lr=c.lr, seed=seed)
    result = evaluate(model, test_images, test_labels)
    return {"log": log, "accuracy": result["accuracy"], "init": init["accuracy"]}


def after_run(plan: dict, seed: int, data) -> dict:
    c = TRAIN_CONFIG
    run = train_run(plan, seed, c.steps, c.batch_size, c.lr, data)
    return {"log": run.log, "accuracy": run.test_accuracy, "init": run.init_test_accuracy}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plans", nargs="+", default=PLANS)
    args = parser.parse_args()
    torch.set_num_threads(1)  # as the page (pinit.dashboard.page) and the lesson's worker run
    c = TRAIN_CONFIG
    print(
        f"torch {torch.__version__}, {os.cpu_count()} CPUs, 1 intra-op thread; TRAIN_CONFIG: {c.steps} steps of "
        f"{c.batch_size}, {c.n_train} + {c.n_test} images; plans: {', '.join(args.plans)}"
    )
    t0 = time.perf_counter()
    nchw = (
        make_dataset(c.n_train, seed=0, noise=c.noise),
        make_dataset(c.n_test, seed=1, noise=c.noise),
    )
    print(f"drawing the data (once per process now, train_data is cached): {time.perf_counter() - t0:.2f} s")
    nhwc = train_data(c.n_train, c.n_test, c.noise)
    plans = {name: pinit.PRESETS[name].plan for name in args.plans}
    ways = {"before (NCHW)": (before_run, nchw), "after (train_run)": (after_run, nhwc)}
    times: dict[str, list[float]] = {w: [] for w in ways}
    results: dict[str, dict[str, dict]] = {w: {} for w in ways}
    for i in range(args.rounds):
        order = list(ways) if i % 2 == 0 else list(reversed(ways))
        for way in order:
            fn, data = ways[way]
            load = os.getloadavg()[0]
            t0 = time.perf_counter()
            for name, plan in plans.items():
                results[way][name] = fn(plan, args.seed, data)
            seconds = time.perf_counter() - t0
            times[way].append(seconds)
            print(f"  round {i + 1}: {way:18s} {len(plans)} plans {seconds:6.1f} s   (load average {load:.2f})")
    print(f"\nmedian over {args.rounds} rounds, {len(plans)} plans, one core:")
    for way, ts in times.items():
        print(f"  {way:18s} {statistics.median(ts):6.1f} s   (min {min(ts):.1f}, max {max(ts):.1f})")
    a, b = (statistics.median(ts) for ts in times.values())
    print(f"  after / before: {b / a:.2f}; load average now {os.getloadavg()[0]:.2f}")
    print(f"\nthe same training under both (seed {args.seed}), before/after:")
    before, after = results.values()
    for name in plans:
        x, y = before[name], after[name]
        lx, ly = x["log"]["loss"], y["log"]["loss"]
        both = lx.apply(math.isfinite) & ly.apply(math.isfinite) if len(lx) == len(ly) else None
        diff = float(((lx - ly) / lx.abs())[both].abs().max()) if both is not None and both.any() else math.nan
        print(
            f"  {name:22s} steps {len(x['log'])}/{len(y['log'])}  held-out accuracy {x['accuracy']:.3f}/"
            f"{y['accuracy']:.3f}  at init {x['init']:.3f}/{y['init']:.3f}  largest relative loss difference {diff:.2g}"
        )


if __name__ == "__main__":
    main()
