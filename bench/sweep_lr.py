"""The learning-rate sweep that chose TrainConfig's lr (pinit.lab.train_config).

For each learning rate, seed and recipe: SimpleCNN from the recipe, trained with the lesson's
and the Train tab's settings (TRAIN_CONFIG: steps, batch size, momentum, data) except the
learning rate, then held-out accuracy on the 500 images it never trained on. Prints, per
(lr, recipe), the median, min and max accuracy over the seeds and how many seeds reach 100 %
(and how many overflowed). The lr to choose is the one whose worst seed is best for the
recipes that should learn (Kaiming, Xavier), without overflowing: a number the lesson shows
must hold on every seed.

    python bench/sweep_lr.py                                  # lr 0.001 0.002 0.003 0.005, seeds 0-4
    python bench/sweep_lr.py --lrs 0.002 0.005 --seeds 0 1 2 3 4 5 6 7
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from pinit.lab.train_config import TRAIN_CONFIG
from pinit.lab.training import train_data, train_run
from pinit.recipes import RECIPES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lrs", type=float, nargs="+", default=[0.001, 0.002, 0.003, 0.005])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--recipes", nargs="+", default=["Kaiming (He)", "Xavier (Glorot)", "PyTorch default"])
    parser.add_argument("--steps", type=int, default=TRAIN_CONFIG.steps)
    args = parser.parse_args()
    torch.set_num_threads(1)
    c = TRAIN_CONFIG
    data = train_data(c.n_train, c.n_test, c.noise)
    print(
        f"SimpleCNN, {args.steps} steps of {c.batch_size}, momentum {c.momentum}, {c.n_train} training images "
        f"(noise {c.noise}), held-out accuracy on {c.n_test}; seeds {args.seeds}"
    )
    print(f"{'lr':>7}  {'recipe':<18} {'median':>7} {'min':>6} {'max':>6}  {'100 %':>6}  overflowed  per seed")
    # lr outermost, recipes and seeds inside: the machine's load drifts over the whole run alike
    for lr in args.lrs:
        for name in args.recipes:
            accs, overflowed = [], 0
            for seed in args.seeds:
                run = train_run(RECIPES[name].plan, seed, args.steps, c.batch_size, lr, data)
                accs.append(run.test_accuracy)
                overflowed += run.stop_reason == "non-finite loss"
            full = sum(a >= 0.999 for a in accs)
            print(
                f"{lr:>7g}  {name:<18} {statistics.median(accs):>7.1%} {min(accs):>6.1%} {max(accs):>6.1%}  "
                f"{full:>2} of {len(accs)}  {overflowed:>10}  {' '.join(f'{a:.0%}' for a in accs)}",
                flush=True,
            )


if __name__ == "__main__":
    main()
