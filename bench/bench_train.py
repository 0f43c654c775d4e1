"""Wall time of the Init effects lab's default training run, and what each preset reaches.

The default run: SimpleCNN on 4,000 synthetic gratings (pinit.data, noise 1.0),
pinit.train's defaults (200 SGD steps of 64, lr 0.002, momentum 0.9), then held-out
accuracy on 1,000 other images. The issue asks for at most ~30 s on two cores.

Prints the time of the default run (Kaiming preset) under each intra-op thread count
asked for (torch.set_num_threads is global, so it is set here, in the benchmark, and
never inside pinit), the time of the probes the page runs beside it, then the accuracy
and stop reason per preset. No assertions: these machines are shared and noisy.

    python bench/bench_train.py                         # threads 1 and 2, five presets
    python bench/bench_train.py --threads 2 --presets "Kaiming (He)" "PyTorch default"
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

import pinit
from pinit.lab.data import make_dataset
from pinit.lab.lsuv import lsuv
from pinit.lab.probes import activation_stats, gradient_stats, probe_batch, probe_targets
from pinit.lab.train import evaluate, train

DEFAULT_PRESETS = [
    "Kaiming (He)",
    "Xavier (Glorot)",
    "PyTorch default",
    "Zeros (the symmetry trap)",
    "Too large: N(0, 1)",
]


def run(preset: str | None, data, args) -> tuple[dict, float]:
    """Build, init (preset name, or LSUV when None), train, evaluate: (results, train seconds)."""
    (images, labels), (test_images, test_labels) = data
    model = pinit.build_model("SimpleCNN", seed=args.seed)
    if preset is None:
        lsuv(model, probe_batch(model, 64, seed=args.seed), seed=args.seed)
    else:
        pinit.apply_plan(model, pinit.PRESETS[preset].plan, seed=args.seed)
    t0 = time.perf_counter()
    log = train(model, images, labels, steps=args.steps, batch_size=args.batch_size, seed=args.seed)
    seconds = time.perf_counter() - t0
    result = evaluate(model, test_images, test_labels)
    result.update(
        steps=len(log),
        stop=log.attrs["stop_reason"],
        final_batch_loss=float(log["loss"].iloc[-1]),
        running_accuracy=float(log["running_accuracy"].iloc[-1]),
    )
    return result, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--n-train", type=int, default=4000)
    parser.add_argument("--n-test", type=int, default=1000)
    parser.add_argument("--noise", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--presets", nargs="+", default=DEFAULT_PRESETS)
    parser.add_argument("--no-lsuv", action="store_true", help="skip the LSUV row")
    args = parser.parse_args()

    print(
        f"torch {torch.__version__}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}, "
        f"torch threads at start {torch.get_num_threads()}"
    )
    t0 = time.perf_counter()
    data = (
        make_dataset(args.n_train, seed=args.seed, noise=args.noise),
        make_dataset(args.n_test, seed=args.seed + 1, noise=args.noise),
    )
    print(f"make_dataset({args.n_train} + {args.n_test}): {time.perf_counter() - t0:.2f} s")

    print(f"\nDefault run (Kaiming, {args.steps} steps of {args.batch_size}), wall time by thread count:")
    for threads in args.threads:
        torch.set_num_threads(threads)
        result, seconds = run("Kaiming (He)", data, args)
        print(
            f"  {threads} thread(s): {seconds:6.1f} s train ({seconds / max(result['steps'], 1) * 1000:.0f} ms/step), "
            f"held-out accuracy {result['accuracy']:.3f}, load average now {os.getloadavg()[0]:.2f}"
        )

    torch.set_num_threads(min(args.threads))
    model = pinit.build_model("SimpleCNN", seed=args.seed)
    pinit.apply_plan(model, pinit.PRESETS["Kaiming (He)"].plan, seed=args.seed)
    x, y = probe_batch(model, 64), probe_targets(model, 64)
    for name, fn in (
        ("activation_stats (64 images)", lambda: activation_stats(model, x)),
        ("gradient_stats (64 images)", lambda: gradient_stats(model, x, y)),
        ("lsuv (64 images)", lambda: lsuv(model, x)),
    ):
        t0 = time.perf_counter()
        fn()
        print(f"  {name}: {time.perf_counter() - t0:.2f} s")

    print(f"\nPer preset, {min(args.threads)} thread(s):")
    print(f"  {'init':28s} {'train s':>7s} {'steps':>5s} {'stop':16s} {'held-out acc':>12s} {'loss':>9s}")
    rows = [(p, p) for p in args.presets] + ([] if args.no_lsuv else [("LSUV (orthogonal + rescale)", None)])
    for label, preset in rows:
        result, seconds = run(preset, data, args)
        print(
            f"  {label:28s} {seconds:7.1f} {result['steps']:5d} {result['stop']:16s} "
            f"{result['accuracy']:12.3f} {result['loss']:9.3g}"
        )


if __name__ == "__main__":
    main()
