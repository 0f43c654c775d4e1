"""Numbers about parameters: the parameter table and server-side histograms.

Histograms are binned here (torch.histc) and carry counts and edges only, so what
a page sends never grows with the model. Non-finite values are counted, not
dropped silently; a constant tensor is flagged (a zero init is a lesson, not an
empty chart). Given a plan, each histogram also carries the expected count per bin
under the scheme's exact law: numel * (F(right) - F(left)).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch
from torch import nn

from .checks import whole_number
from .distributions import Distribution
from .plan import Assignment, InitPlan, assignments
from .style import fmt_shape

__all__ = [
    "MAX_BINS",
    "Histogram",
    "TensorSummary",
    "bins_for",
    "describe",
    "histogram",
    "parameter_histograms",
    "parameter_table",
    "summarize",
]

MAX_BINS = 500


@dataclass(frozen=True)
class TensorSummary:
    """mean/std/min/max over the finite entries, and how many entries were not finite.

    Args:
        numel: how many entries the tensor has.
        mean: the mean of the finite entries.
        std: their unbiased std (0 for a single one).
        min: the smallest finite entry.
        max: the largest finite entry.
        nan: how many entries are NaN.
        posinf: how many are +Inf.
        neginf: how many are -Inf.

    Example:
        >>> import pinit, torch
        >>> s = pinit.summarize(torch.tensor([0.0, 2.0, float("inf")]))
        >>> s.finite, s.nonfinite, s.mean
        (2, 1, 1.0)
    """

    numel: int
    mean: float
    std: float
    min: float
    max: float
    nan: int
    posinf: int
    neginf: int

    @property
    def nonfinite(self) -> int:
        return self.nan + self.posinf + self.neginf

    @property
    def finite(self) -> int:
        return self.numel - self.nonfinite

    @property
    def population_std(self) -> float:
        """sqrt(mean((x - mean)^2)) over the finite entries (divides by n, not n - 1): the σ a law
        describes, so this is the number to hold against a scheme's expected std (an unbiased
        std of eye(3)'s 9 entries reads 1.06 times the law's σ; this one reads 1)."""
        n = self.finite
        return self.std * math.sqrt((n - 1) / n) if n > 1 else (0.0 if n == 1 else math.nan)

    @property
    def constant(self) -> bool:
        """All finite entries equal (and there is at least one)."""
        return self.finite > 0 and self.min == self.max


def _scan(t: torch.Tensor) -> tuple[torch.Tensor, TensorSummary]:
    """The finite entries (flattened) and their summary, in as few passes as possible.

    The common case costs one aminmax and one std/mean (see _std_mean): a finite min
    and max mean there is no NaN (it would propagate) and no Inf, so no mask is built.
    """
    flat = t.detach().reshape(-1)
    numel = flat.numel()
    if numel == 0:
        return flat, TensorSummary(0, math.nan, math.nan, math.nan, math.nan, 0, 0, 0)
    nan = posinf = neginf = 0
    lo, hi = (float(x) for x in torch.aminmax(flat))
    if not (math.isfinite(lo) and math.isfinite(hi)):
        nan = int(torch.isnan(flat).sum())
        posinf = int((flat == math.inf).sum())
        neginf = int((flat == -math.inf).sum())
        flat = flat[torch.isfinite(flat)]
        if flat.numel() == 0:
            return flat, TensorSummary(numel, math.nan, math.nan, math.nan, math.nan, nan, posinf, neginf)
        lo, hi = (float(x) for x in torch.aminmax(flat))
    std, mean = _std_mean(flat, lo, hi)
    return flat, TensorSummary(numel, mean, std, lo, hi, nan, posinf, neginf)


_CHUNK = 1 << 20  # 4 MiB of float32: stays in cache, and only a few dozen kernel calls per 100M values


def _std_mean(v: torch.Tensor, lo: float, hi: float) -> tuple[float, float]:
    """Unbiased std and mean of `v` (finite, non-empty, flat), whose min and max are lo, hi.

    Small tensors: torch.std_mean in float64, for exact-looking numbers. Big ones: the
    corrected two-pass algorithm (Chan, Golub & LeVeque 1983) in float32 chunks, with
    d = x - shift, shift = the float32 mean: var = (sum d^2 - (sum d)^2 / n) / (n - 1),
    the sums of chunks added in float64. torch.std_mean on a float32 tensor runs
    Welford with float64 accumulators, one division per value, so it is several times
    slower (docs/PERFORMANCE.md) and no more accurate (both within 1e-7 of float64 on
    normal, uniform, sparse and offset U(100, 100.001) tensors). Spreads
    under 1e-10 or values past 1e15 (where d^2 would underflow or overflow in float32)
    and constant tensors keep torch.std_mean.
    """
    n = v.numel()
    if n == 1:
        return 0.0, float(v[0])
    if n <= 65536:
        std, mean = torch.std_mean(v.double())
        return float(std), float(mean)
    if not (hi - lo > 1e-10 and max(-lo, hi) < 1e15):
        std, mean = torch.std_mean(v)
        return float(std), float(mean)
    work = torch.float64 if v.dtype == torch.float64 else torch.float32
    shift = v.mean(dtype=work)
    buf = torch.empty(min(_CHUNK, n), dtype=work)
    s1 = s2 = 0.0
    for chunk in torch.split(v, _CHUNK):
        d = buf[: chunk.numel()]
        if chunk.dtype == work:
            torch.sub(chunk, shift, out=d)
        else:
            d.copy_(chunk).sub_(shift)
        s1 += float(d.sum())
        s2 += float(d.mul_(d).sum())
    var = max(s2 - s1 * s1 / n, 0.0) / (n - 1)
    return math.sqrt(var), float(shift) + s1 / n


def summarize(t: torch.Tensor) -> TensorSummary:
    """mean, std (unbiased; 0 for a single value), min, max of the finite entries.

    One pass over the tensor also counts what it cannot summarize: NaN, +Inf and -Inf.

    Args:
        t: any tensor (a parameter, an activation), of any dtype and shape.

    Returns:
        A TensorSummary: numel, mean, std, min, max, nan, posinf, neginf.

    Example:
        >>> import pinit, torch
        >>> pinit.summarize(torch.tensor([1.0, 2.0, 3.0, float("nan")]))
        TensorSummary(numel=4, mean=2.0, std=1.0, min=1.0, max=3.0, nan=1, posinf=0, neginf=0)
    """
    return _scan(t)[1]


@dataclass(frozen=True)
class Histogram:
    """A binned tensor: counts over `bins` equal bins from edges[0] to edges[-1].

    Bins are [e_i, e_{i+1}), the last closed. `expected` is the count per bin the
    scheme's law predicts (None when no plan reached the tensor); `expected_std` and
    `expected_mean` come from the same law.
    """

    name: str
    shape: tuple[int, ...]
    counts: list[int]
    edges: list[float]
    summary: TensorSummary
    scheme: str | None = None
    expected: list[float] | None = None
    expected_mean: float | None = None
    expected_std: float | None = None
    expected_is_approximate: bool = False

    @property
    def bins(self) -> int:
        return len(self.counts)

    @property
    def centers(self) -> list[float]:
        return [(a + b) / 2 for a, b in zip(self.edges[:-1], self.edges[1:])]

    @property
    def width(self) -> float:
        return self.edges[1] - self.edges[0]

    def rebinned(self, bins: int) -> Histogram:
        """The same histogram with at most `bins` bins, made by adding up neighbouring bins.

        Exact (no rescan of the tensor): the new bin count is the largest divisor of the
        current one that is <= `bins`, so every new bin is a whole group of old ones; expected
        counts are added up the same way. A view can offer 10 to 200 bins from one 200-bin scan.
        """
        target = max(d for d in range(1, self.bins + 1) if self.bins % d == 0 and d <= max(bins, 1))
        if target == self.bins:
            return self
        k = self.bins // target
        counts = [sum(self.counts[i : i + k]) for i in range(0, self.bins, k)]
        edges = self.edges[::k]
        expected = None if self.expected is None else [sum(self.expected[i : i + k]) for i in range(0, self.bins, k)]
        return dataclasses.replace(self, counts=counts, edges=edges, expected=expected)


def histogram(t: torch.Tensor, bins: int = 40, name: str = "", law: Any = None, scheme: str | None = None) -> Histogram:
    """Bin the finite entries of `t` into `bins` equal bins over [min, max].

    A constant tensor gets a one-unit-wide range around its value so its single spike
    is visible (2**-15 |value| wide past 32768, so rounding can't close it), with the
    value in the middle of its bin.

    Args:
        t: any tensor; NaN and Inf are counted in its summary, not binned.
        bins: how many equal bins.
        name: the name the histogram carries (a parameter's).
        law: a pinit.distributions.Distribution (``Scheme.distribution``): adds the count
            each bin should hold under it (``expected``) and its std (``expected_std``).
        scheme: the name of the scheme the law is of, carried along for labels.

    Returns:
        A Histogram: counts, edges, the summary, and the expected counts under `law`.

    Example:
        >>> import pinit, torch
        >>> h = pinit.histogram(torch.arange(10.0), bins=5)
        >>> h.counts, h.edges
        ([2, 2, 2, 2, 2], [0.0, 1.8, 3.6, 5.4, 7.2, 9.0])
        >>> w = torch.randn(1000, generator=torch.Generator().manual_seed(0))
        >>> law = pinit.get_scheme("normal").distribution(pinit.TensorInfo((1000,)), {"std": 1.0})
        >>> h = pinit.histogram(w, bins=10, law=law)
        >>> h.expected_std, round(h.summary.std, 1)
        (1.0, 1.0)
        >>> sum(h.counts), round(sum(h.expected))  # the law's count beyond the drawn range is small
        (1000, 999)
    """
    values, summary = _scan(t)
    return _histogram(values, summary, tuple(t.shape), bins, name, law, scheme)


def _histogram(
    values: torch.Tensor,
    summary: TensorSummary,
    shape: tuple[int, ...],
    bins: int,
    name: str,
    law: Any,
    scheme: str | None,
) -> Histogram:
    whole_number("bins", bins, 1, MAX_BINS)
    if summary.finite == 0:
        lo, hi = -0.5, 0.5
    elif summary.constant:
        # One unit wide; wider where +-0.5 would be lost to rounding (|value| > 32768).
        half = max(0.5, abs(summary.min) * 2.0**-16)
        # With an even bin count the value would fall on the middle edge and be drawn as a bar
        # beside it; half a bin to the left puts it in the middle of its bin.
        shift = half / bins if bins % 2 == 0 else 0.0
        lo, hi = summary.min - half - shift, summary.max + half - shift
    else:
        lo, hi = summary.min, summary.max
    if summary.finite:
        # float32 binning rounds float64 values and overflows past 3.4e38 (hi - lo = inf
        # drops every count): bin in float64 there.
        wide = values.dtype == torch.float64 or max(abs(lo), abs(hi)) > 1e38
        binned = torch.histc(values.double() if wide else values.float(), bins=bins, min=lo, max=hi)
        counts: list[int] = binned.to(torch.int64).tolist()
    else:
        counts = [0] * bins
    step = (hi - lo) / bins
    edges = [lo + i * step for i in range(bins)] + [hi]
    expected = exp_mean = exp_std = None
    approx = False
    if law is not None:
        expected = [summary.finite * p for p in law.bin_probabilities(edges)]
        exp_mean, exp_std, approx = law.mean, law.std, law.approximate
    return Histogram(name, shape, counts, edges, summary, scheme, expected, exp_mean, exp_std, approx)


def _law(a: Assignment) -> Distribution | None:
    return a.rule.scheme_obj.distribution(a.info, a.rule.params) if a.rule is not None else None


def bins_for(numel: int, requested: int) -> int:
    """At most `requested` bins, and no more than ceil(2 sqrt(n)): 40 bins for a 10-value bias
    would show noise, not a shape. Where the cap bites, the count is the largest divisor of
    `requested` under it (a 864-value tensor asked for 200 bins gets 50, not 59), so a view can
    merge the bins down to any divisor of `requested` exactly (Histogram.rebinned)."""
    cap = math.ceil(2 * math.sqrt(max(numel, 1)))
    if requested <= cap:
        return max(1, requested)
    divisors = [d for d in range(2, cap + 1) if requested % d == 0]
    return divisors[-1] if divisors else max(1, min(requested, cap))


def _signal_gain(s: TensorSummary, fan_in: int | None) -> float:
    """sqrt(fan_in * E[w^2]): the factor by which a layer scales its input's RMS
    (pre-activation, for independent unit-variance inputs). 1 keeps the scale, sqrt(2)
    makes up for a ReLU halving the variance; N(0, 1) on fc1 (fan_in 2048) gives 45."""
    if not fan_in or s.finite == 0:
        return math.nan
    return math.sqrt(fan_in * (s.population_std**2 + s.mean**2))  # E[w^2] is a population moment


def _row(a: Assignment, s: TensorSummary, law: Any, with_plan: bool) -> dict[str, Any]:
    row = {
        "name": a.name,
        "layer": a.layer,
        "type": a.layer_type,
        "shape": fmt_shape(a.info.shape),
        "numel": a.info.numel,
        "fan_in": a.fans[0] if a.fans else None,  # the layer's own fans (pinit.fans), not the storage's
        "fan_out": a.fans[1] if a.fans else None,
        "mean": s.mean,
        "std": s.population_std,  # like with like: the law's σ is a population std
        "min": s.min,
        "max": s.max,
        "nonfinite": s.nonfinite,
        "signal_gain": _signal_gain(s, a.fans[0] if a.fans else None),
    }
    if with_plan:
        row["scheme"] = a.rule.scheme if a.rule else "untouched"
        row["expected_std"] = law.std if law is not None else math.nan
        row["std_ratio"] = s.population_std / law.std if law is not None and law.std > 0 else math.nan
    return row


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    for col in ("fan_in", "fan_out"):
        if col in df:
            df[col] = df[col].astype("Int64")
    return df


def describe(
    model: nn.Module, plan: InitPlan | Mapping[str, Any] | None = None, bins: int | None = 40
) -> tuple[pd.DataFrame, list[Histogram]]:
    """The parameter table and the histograms in one pass over each tensor.

    `bins=None` skips the histograms. Each histogram gets `bins_for(numel, bins)` bins.
    """
    rows, hists = [], []
    for a in assignments(model, plan or {}):
        values, s = _scan(a.param)
        law = _law(a)
        rows.append(_row(a, s, law, plan is not None))
        if bins is not None:
            hists.append(
                _histogram(
                    values,
                    s,
                    a.info.shape,
                    bins_for(a.info.numel, bins),
                    a.name,
                    law,
                    a.rule.scheme if a.rule else None,
                )
            )
    return _frame(rows), hists


def parameter_histograms(
    model: nn.Module, plan: InitPlan | Mapping[str, Any] | None = None, bins: int = 40
) -> list[Histogram]:
    """One Histogram per parameter, in named_parameters() order, with `bins_for` bins.

    Args:
        model: any nn.Module.
        plan: the plan the model was initialized by: each parameter it reaches gets its
            scheme's law (expected counts and std). None: histograms only.
        bins: bins for a large tensor; a small one gets fewer (`bins_for`: a bias of 10
            values is not spread over 40 bins).

    Returns:
        One Histogram per parameter.

    Example:
        >>> import pinit
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Linear(100, 50), nn.ReLU(), nn.Linear(50, 10))
        >>> plan = {"rules": {"Linear": {"weight": {"scheme": "kaiming_normal", "nonlinearity": "relu"}}}}
        >>> model = pinit.apply_plan(model, plan, seed=0)
        >>> hists = pinit.parameter_histograms(model, plan)
        >>> [(h.name, h.bins, h.expected_std and round(h.expected_std, 3)) for h in hists]
        [('0.weight', 40, 0.141), ('0.bias', 10, None), ('2.weight', 40, 0.2), ('2.bias', 5, None)]
    """
    return describe(model, plan, bins)[1]


def parameter_table(model: nn.Module, plan: InitPlan | Mapping[str, Any] | None = None) -> pd.DataFrame:
    """One row per parameter (named_parameters order).

    Columns: name, layer, type, shape, numel, fan_in, fan_out (empty under 2 dims),
    mean, std, min, max, nonfinite, signal_gain (weights only); with a plan also
    scheme (or "untouched"), expected_std and std_ratio (measured / expected).
    signal_gain is √(fan_in · E[w²]): what the layer multiplies its input's RMS by
    (√2 keeps a ReLU signal level, He et al. 2015).

    Args:
        model: any nn.Module.
        plan: the plan the model was initialized by, for the expected std; None: none.

    Returns:
        A DataFrame, one row per parameter.

    Example:
        >>> import pinit
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Linear(100, 50), nn.ReLU(), nn.Linear(50, 10))
        >>> plan = {"rules": {"Linear": {"weight": {"scheme": "kaiming_normal", "nonlinearity": "relu"},
        ...                              "bias": {"scheme": "zeros"}}}}
        >>> table = pinit.parameter_table(pinit.apply_plan(model, plan, seed=0), plan)
        >>> print(table[["name", "scheme", "expected_std", "std"]].round(2).to_string())
               name          scheme  expected_std   std
        0  0.weight  kaiming_normal          0.14  0.14
        1    0.bias           zeros          0.00  0.00
        2  2.weight  kaiming_normal          0.20  0.20
        3    2.bias           zeros          0.00  0.00
        >>> round(float(table.loc[0, "signal_gain"]), 1)  # √(100 · 2/100) = √2
        1.4
    """
    return describe(model, plan, None)[0]
