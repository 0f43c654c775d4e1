"""Compare: plan A against plan B on the same model, seed and probe batch."""

from __future__ import annotations

import math

import pandas as pd

from ..stats import Histogram
from .signal import SignalFlow

__all__ = ["compare_activations", "compare_gradients", "density"]


def compare_activations(a: SignalFlow, b: SignalFlow) -> pd.DataFrame:
    """Per layer output: std under A and B and their ratio B/A (NaN where A's std is 0)."""
    left = a.activations[["index", "layer", "type", "std"]].rename(columns={"std": "std_a"})
    right = b.activations[["index", "layer", "std"]].rename(columns={"std": "std_b"})
    df = left.merge(right, on=["index", "layer"], how="left")  # same model: same layers, forward order kept
    df["ratio"] = [sb / sa if sa > 0 else math.nan for sa, sb in zip(df["std_a"], df["std_b"])]
    return df


def compare_gradients(a: SignalFlow, b: SignalFlow) -> pd.DataFrame:
    """Per parameter: gradient norm under A and B and their ratio B/A."""
    left = a.gradients[["name", "grad_norm", "weight_std"]].rename(
        columns={"grad_norm": "grad_a", "weight_std": "weight_std_a"}
    )
    right = b.gradients[["name", "grad_norm", "weight_std"]].rename(
        columns={"grad_norm": "grad_b", "weight_std": "weight_std_b"}
    )
    df = left.merge(right, on="name", how="left")  # same model: same parameters, named_parameters order kept
    df["grad_ratio"] = [gb / ga if ga > 0 else math.nan for ga, gb in zip(df["grad_a"], df["grad_b"])]
    df["weight_std_ratio"] = [sb / sa if sa > 0 else math.nan for sa, sb in zip(df["weight_std_a"], df["weight_std_b"])]
    return df


def density(h: Histogram) -> tuple[list[float], list[float]]:
    """(edges, density) of a histogram: count / (finite values · bin width), so it integrates to 1.

    Densities of histograms with different bin widths can be overlaid; raw counts cannot.
    """
    finite, width = h.summary.finite, h.width
    if finite == 0 or not width > 0:
        return list(h.edges), [0.0] * len(h.counts)
    return list(h.edges), [c / (finite * width) for c in h.counts]
