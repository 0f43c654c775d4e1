"""Spectra of weight matrices: singular values, the ESD, the Marchenko–Pastur law and a power-law tail α.

Normalization. A weight W is taken as a matrix of `rows` × `cols` (a conv kernel (out, in,
k, ...) reshaped to out × in·∏k). With N = max(rows, cols), M = min(rows, cols) and the
aspect ratio q = M / N ∈ (0, 1], the empirical spectral density (ESD) is the distribution of
the M eigenvalues of the M × M matrix WᵀW / N (or WWᵀ / N): λ_i = s_i² / N, s_i the singular
values (``torch.linalg.svdvals``).

Marchenko–Pastur (Marchenko & Pastur 1967). For W with iid entries of mean 0 and variance σ²,
as N → ∞ with q fixed, the ESD tends to

    ρ(λ) = √((λ₊ − λ)(λ − λ₋)) / (2π σ² q λ)   on [λ₋, λ₊],   λ± = σ² (1 ± √q)².

σ² here is the measured variance of the entries. At finite size the extreme eigenvalues
fluctuate around the edges on the Tracy–Widom scale ~σ² N^(−2/3) (Johnstone 2001; see
`edge_fluctuation`). Orthogonal init (Saxe et al. 2013) has every s_i equal to its gain, so
its ESD is one spike at gain²/N; a constant init is rank one (one eigenvalue, the rest 0).

Power-law tail (Martin & Mahoney 2021, "Implicit self-regularization in deep neural
networks"; WeightWatcher). Trained layers grow eigenvalues above λ₊ and a heavy tail
ρ(λ) ∝ λ^(−α) for λ ≥ x_min. α is the maximum-likelihood fit α = 1 + n / Σ ln(λ_i / x_min)
over the n eigenvalues ≥ x_min, with x_min the candidate (every eigenvalue but the largest)
that minimizes the Kolmogorov–Smirnov distance D between the tail and the fitted law
(Clauset, Shalizi & Newman 2009): exactly WeightWatcher 0.7.7's default fit (``WWFit``).
α is scale-free, so the 1/N above does not change it.

Why not the `powerlaw` package: WeightWatcher's own default fit no longer calls it (it
reimplements these lines), and it would add scipy, mpmath and matplotlib to a runtime that
has none of them, for ~20 lines of numpy. tests/test_spectra.py checks α against
WeightWatcher itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..checks import whole_number
from ..models import build_model
from ..plan import apply_plan
from ..presets import PRESETS
from ..text import number
from .lesson import LESSON_TRAIN, TRAIN_SEEDS, computed_once
from .train import evaluate, train
from .train_config import TrainConfig
from .training import train_data

__all__ = [
    "MIN_TAIL_EIGENVALUES",
    "PLAUSIBLE_P",
    "Spectrum",
    "TailFit",
    "TrainedTail",
    "edge_fluctuation",
    "mp_cdf",
    "mp_density",
    "mp_edges",
    "power_vs_exponential",
    "spectra_table",
    "spectrum",
    "svd_seconds",
    "tail_alpha",
    "tail_verdict",
    "trained_tail",
    "weight_matrices",
    "weight_matrix",
]

MIN_TAIL_EIGENVALUES = 20  # WeightWatcher switches to another estimator below 20 eigenvalues; pinit gives none


def weight_matrix(t: torch.Tensor) -> torch.Tensor:
    """`t` as a rows × cols matrix: a 2-D tensor as it is, (out, in, k, ...) as out × in·∏k."""
    if t.dim() < 2:
        raise ValueError(f"a spectrum needs a tensor of 2 or more dims, got shape {tuple(t.shape)}")
    return t.detach().reshape(t.shape[0], -1)


def weight_matrices(model: nn.Module) -> dict[str, tuple[int, ...]]:
    """{parameter name: shape} of every parameter with 2 or more dims, in named_parameters order."""
    return {n: tuple(p.shape) for n, p in model.named_parameters() if p.dim() >= 2}


def mp_edges(q: float, sigma2: float) -> tuple[float, float]:
    """(λ₋, λ₊) = σ² (1 ∓ √q)² for aspect ratio q = M/N ≤ 1."""
    return sigma2 * (1 - math.sqrt(q)) ** 2, sigma2 * (1 + math.sqrt(q)) ** 2


def mp_density(x: np.ndarray, q: float, sigma2: float) -> np.ndarray:
    """ρ(λ) = √((λ₊ − λ)(λ − λ₋)) / (2π σ² q λ) on [λ₋, λ₊], 0 elsewhere (q ≤ 1: no mass at 0)."""
    lo, hi = mp_edges(q, sigma2)
    x = np.asarray(x, dtype=float)
    inside = (x > lo) & (x < hi) & (x > 0)
    out = np.zeros_like(x)
    xi = x[inside]
    out[inside] = np.sqrt((hi - xi) * (xi - lo)) / (2 * math.pi * sigma2 * q * xi)
    return out


def mp_cdf(x: np.ndarray, q: float, sigma2: float, grid: int = 4001) -> np.ndarray:
    """The MP law's CDF at `x`, by the trapezoid rule on `grid` points over [λ₋, λ₊] (normalized to 1)."""
    lo, hi = mp_edges(q, sigma2)
    # Chebyshev-spaced points: the density has square-root edges, where equal steps lose accuracy.
    t = np.cos(np.linspace(math.pi, 0, grid))
    g = lo + (hi - lo) * (t + 1) / 2
    d = mp_density(g, q, sigma2)
    c = np.concatenate([[0.0], np.cumsum((d[1:] + d[:-1]) / 2 * np.diff(g))])
    c /= c[-1] if c[-1] > 0 else 1.0
    cdf: np.ndarray = np.interp(np.asarray(x, dtype=float), g, c, left=0.0, right=1.0)
    return cdf


def edge_fluctuation(n: int, m: int, sigma2: float) -> dict[str, float]:
    """Centring and Tracy–Widom scale of λ_max and λ_min for an iid N(0, σ²) n × m matrix, λ = s²/max(n, m).

    Largest (Johnstone 2001, real case): μ = (√(N−1) + √M)², s = (√(N−1) + √M)(1/√(N−1) + 1/√M)^(1/3),
    divided by N and times σ²; (λ_max − μ)/s tends to Tracy–Widom TW₁ (mean −1.21, std 1.27).
    Smallest, for M < N (Feldheim & Sodin 2010; Ma 2012): μ = (√N − √M)², s = (√N − √M)(1/√M − 1/√N)^(1/3),
    likewise scaled. Both scales are ~σ² N^(−2/3).
    """
    big, small = max(n, m), min(n, m)
    a, b = math.sqrt(big - 1), math.sqrt(small)
    out = {
        "max_center": sigma2 * (a + b) ** 2 / big,
        "max_scale": sigma2 * (a + b) * (1 / a + 1 / b) ** (1 / 3) / big,
    }
    a = math.sqrt(big)
    out["min_center"] = sigma2 * (a - b) ** 2 / big
    out["min_scale"] = sigma2 * (a - b) * max(1 / b - 1 / a, 0.0) ** (1 / 3) / big
    return out


@dataclass(frozen=True)
class TailFit:
    """A power-law fit of the largest eigenvalues: α, x_min, how many points the tail has, KS distance D,
    and the likelihood-ratio test of that power law against an exponential tail on the same points.

    ``loglik_ratio``: R = Σ ln p_power(λ) − ln p_exp(λ) over the tail (R > 0 favours the power law);
    ``p_value``: Vuong's two-sided p for R's sign (Clauset, Shalizi & Newman 2009, appendix C);
    ``plausible``: False where the exponential fits significantly better (R < 0, p < PLAUSIBLE_P):
    then the spectrum has no power-law tail to read an α from (a random matrix's spectrum ends at
    the Marchenko-Pastur edge), and α is only the estimator's output.
    """

    alpha: float
    xmin: float
    n_tail: int
    D: float
    note: str = ""
    loglik_ratio: float = math.nan
    p_value: float = math.nan

    @property
    def plausible(self) -> bool:
        if not math.isfinite(self.alpha) or not math.isfinite(self.loglik_ratio):
            return False
        return not (self.loglik_ratio < 0 and self.p_value < PLAUSIBLE_P)


PLAUSIBLE_P = 0.1  # Clauset et al. 2009: a sign of R with p < 0.1 is taken as real


def power_vs_exponential(tail: np.ndarray, alpha: float, xmin: float) -> tuple[float, float]:
    """(R, p): the log-likelihood ratio of the power law p(x) = (α−1)/x_min · (x/x_min)^(−α) against
    the exponential p(x) = μ e^(−μ(x − x_min)) (μ by maximum likelihood, 1/(mean(x) − x_min)) on the
    tail x ≥ x_min, and Vuong's p = erfc(|R| / (σ √(2n))), σ the std of the pointwise log ratios
    (Clauset, Shalizi & Newman 2009, "Power-law distributions in empirical data", eq. C.6).
    """
    x = np.asarray(tail, dtype=np.float64)
    n = len(x)
    gap = float(np.mean(x)) - xmin
    if n < 2 or gap <= 0 or not alpha > 1:
        return math.nan, math.nan
    mu = 1.0 / gap
    log_power = math.log((alpha - 1) / xmin) - alpha * np.log(x / xmin)
    log_exp = math.log(mu) - mu * (x - xmin)
    ratios = log_power - log_exp
    r = float(np.sum(ratios))
    sigma = float(np.std(ratios))
    p = math.erfc(abs(r) / (sigma * math.sqrt(2 * n))) if sigma > 0 else 0.0
    return r, p


def tail_verdict(fit: TailFit) -> str:
    """What the likelihood-ratio test says, in three words a page can count: "power law" (R > 0 with
    p < PLAUSIBLE_P), "exponential" (R < 0 with p < PLAUSIBLE_P), "undecided" (p ≥ PLAUSIBLE_P: the
    test cannot tell them apart, so a power law is not rejected, nor shown), or "no fit"."""
    if not (math.isfinite(fit.alpha) and math.isfinite(fit.loglik_ratio) and math.isfinite(fit.p_value)):
        return "no fit"
    if fit.p_value >= PLAUSIBLE_P:
        return "undecided"
    return "power law" if fit.loglik_ratio > 0 else "exponential"


def tail_alpha(evals: np.ndarray) -> TailFit:
    """α of ρ(λ) ∝ λ^(−α) over λ ≥ x_min, x_min by minimum KS distance (Clauset et al. 2009), as WeightWatcher,
    with the likelihood-ratio test against an exponential tail (`power_vs_exponential`).

    For each candidate x_min = λ_(i) (ascending, all but the largest): α_i = 1 + n_i / Σ_{j≥i} ln(λ_j / λ_i),
    D_i = max_j |1 − (λ_j / λ_i)^(1−α_i) − j/n_i| (1 where α_i ≤ 1); the fit is the i of least D_i.
    Only positive, finite eigenvalues are used; fewer than 20 give NaN with a note.
    """
    x = np.sort(np.asarray(evals, dtype=np.float64))
    x = x[np.isfinite(x) & (x > 0)]
    n = len(x)
    if n < MIN_TAIL_EIGENVALUES:
        return TailFit(math.nan, math.nan, 0, math.nan, f"{n} positive eigenvalues: too few for a tail fit (< 20)")
    logs = np.log(x)
    suffix = np.cumsum(logs[::-1])[::-1]  # suffix[i] = Σ_{j ≥ i} ln λ_j
    best = (math.inf, 0, math.nan)
    for i in range(n - 1):
        nt = n - i
        denom = suffix[i] - nt * logs[i]
        if denom <= 0:
            continue
        alpha = 1 + nt / denom
        if alpha <= 1:
            continue
        d = float(np.max(np.abs(1 - (x[i:] / x[i]) ** (1 - alpha) - np.arange(nt) / nt)))
        if d < best[0]:
            best = (d, i, alpha)
    d, i, alpha = best
    if not math.isfinite(d):
        return TailFit(math.nan, math.nan, 0, math.nan, "no candidate x_min gave a power law with α > 1")
    r, p = power_vs_exponential(x[i:], float(alpha), float(x[i]))
    fit = TailFit(float(alpha), float(x[i]), n - i, d, "", r, p)
    if not fit.plausible:
        fit = TailFit(
            fit.alpha,
            fit.xmin,
            fit.n_tail,
            fit.D,
            f"no power-law tail: an exponential fits the top {n - i} eigenvalues better (log-likelihood ratio "
            f"{number(r)}, p = {number(p, 2)})",
            r,
            p,
        )
    return fit


@dataclass(frozen=True)
class Spectrum:
    """One weight matrix's spectrum, as plain data (cacheable): see the module docstring for λ and MP.

    ``svals`` descending; ``evals`` = svals² / N ascending; ``sigma2`` the entries' measured variance;
    ``lam_minus``/``lam_plus`` the MP edges for (q, sigma2); ``edge_margin`` 5 Tracy–Widom scales
    (λ_max of an iid matrix exceeds λ₊ + edge_margin with probability well under 1e-3);
    ``n_outliers`` the eigenvalues above λ₊ + edge_margin; ``mp_ks`` the KS distance between the
    ESD and the MP law (≈ 0 for iid entries; near 1 for one spike); ``distinct`` the number of
    distinct singular values (relative gap > 1e-4); ``counts``/``edges`` the ESD binned on
    [0, max(λ_max, λ₊)·1.05], ``log_counts``/``log_edges`` on log-spaced bins; ``tail`` the α fit.
    """

    name: str
    shape: tuple[int, ...]
    rows: int
    cols: int
    q: float
    sigma2: float
    svals: np.ndarray
    evals: np.ndarray
    lam_minus: float
    lam_plus: float
    edge_margin: float
    n_outliers: int
    mp_ks: float
    distinct: int
    counts: list[int]
    edges: list[float]
    log_counts: list[int]
    log_edges: list[float]
    tail: TailFit

    @property
    def n(self) -> int:
        return max(self.rows, self.cols)

    @property
    def m(self) -> int:
        return min(self.rows, self.cols)


def _distinct(svals: np.ndarray, rel: float = 1e-4) -> int:
    s = np.sort(svals)
    if len(s) == 0:
        return 0
    scale = max(float(s[-1]), 1e-300)
    return int(1 + np.sum(np.diff(s) > rel * scale))


def spectrum(t: torch.Tensor, name: str = "", bins: int = 60) -> Spectrum:
    """The spectrum of one weight tensor (conv kernels reshaped to out × in·∏k); see `Spectrum`.

    Cost: one ``torch.linalg.svdvals`` of the rows × cols matrix, O(N·M²) for N ≥ M: a
    square matrix twice as wide costs eight times as much (svd_seconds estimates it;
    docs/PERFORMANCE.md has the measured times).
    """
    bins = whole_number("bins", bins, 5, 500)
    w = weight_matrix(t)
    rows, cols = w.shape
    if not torch.isfinite(w).all():
        raise ValueError(f"{name or 'the tensor'} has NaN or Inf entries: its singular values are undefined")
    big, small = max(rows, cols), min(rows, cols)
    q = small / big
    w64 = w.double()
    sigma2 = float(w64.var(unbiased=False)) if w.numel() > 1 else 0.0
    work = w if w.dtype in (torch.float32, torch.float64) else w.float()
    svals = torch.linalg.svdvals(work).double().numpy()
    evals = np.sort(svals**2 / big)
    lo, hi = mp_edges(q, sigma2)
    margin = 5 * edge_fluctuation(rows, cols, sigma2)["max_scale"] if sigma2 > 0 else 0.0
    # σ² = 0 (a constant matrix): every positive eigenvalue is an outlier; 1e-9·λ_max keeps rounding zeros out.
    n_out = int(np.sum(evals > hi + margin + 1e-9 * float(evals[-1])))
    ks = float(np.max(np.abs(mp_cdf(evals, q, sigma2) - (np.arange(1, small + 1) / small)))) if sigma2 > 0 else 1.0
    top = max(float(evals[-1]), hi) * 1.05 or 1.0
    counts, edges = np.histogram(evals, bins=bins, range=(0.0, top))
    pos = evals[evals > 0]
    if len(pos):
        lo_log = math.log10(float(pos[0])) - 0.05
        hi_log = math.log10(max(float(pos[-1]), hi if hi > 0 else float(pos[-1]))) + 0.05
        log_counts, log_edges = np.histogram(pos, bins=np.logspace(lo_log, hi_log, bins + 1))
    else:
        log_counts, log_edges = np.zeros(bins, dtype=int), np.logspace(-1, 0, bins + 1)
    return Spectrum(
        name,
        tuple(t.shape),
        rows,
        cols,
        q,
        sigma2,
        np.sort(svals)[::-1].copy(),
        evals,
        lo,
        hi,
        margin,
        n_out,
        ks,
        _distinct(svals),
        counts.astype(int).tolist(),
        edges.tolist(),
        log_counts.astype(int).tolist(),
        log_edges.tolist(),
        tail_alpha(evals),
    )


def spectra_table(model: nn.Module, names: list[str] | None = None, bins: int = 60) -> pd.DataFrame:
    """One row per weight matrix (or the `names` given): shape, q, σ², MP edges, extreme λ, outliers, α."""
    params = dict(model.named_parameters())
    names = list(weight_matrices(model)) if names is None else names
    rows = []
    for name in names:
        if name not in params:
            raise ValueError(f"{name!r} is not a parameter of {type(model).__name__}")
        s = spectrum(params[name], name, bins)
        rows.append(
            {
                "name": name,
                "matrix": f"{s.rows} × {s.cols}",
                "q": s.q,
                "sigma2": s.sigma2,
                "lam_minus": s.lam_minus,
                "lam_plus": s.lam_plus,
                "lam_min": float(s.evals[0]),
                "lam_max": float(s.evals[-1]),
                "n_outliers": s.n_outliers,
                "mp_ks": s.mp_ks,
                "distinct": s.distinct,
                "alpha": s.tail.alpha,
                "tail_plausible": s.tail.plausible,
            }
        )
    return pd.DataFrame(rows)


# Seconds per unit of N·M² work: svdvals of 8192 × 8192 float32 on one core, as measured in
# docs/PERFORMANCE.md. The estimate only decides whether the page asks before an SVD.
_SVD_SECONDS_PER_FLOP = 76 / 8192**3


def svd_seconds(rows: int, cols: int) -> float:
    """A rough estimate of ``torch.linalg.svdvals``' time for a rows × cols matrix on one core: ~N·M² work."""
    big, small = max(rows, cols), min(rows, cols)
    return _SVD_SECONDS_PER_FLOP * big * small * small


# --- a trained layer as the contrast: the lesson's training runs, their fc1 before and after ------------

TRAINED_PRESET = "Kaiming (He)"  # the lesson's init that learns (100 % on every seed of step 5)
TRAINED_LAYER = "layer4.fc1.weight"  # SimpleCNN's fc1, 512 × 2048: the matrix the Spectra view opens on


@dataclass(frozen=True)
class TrainedTail:
    """One weight matrix of SimpleCNN before and after the lesson's training, once per seed.

    The runs are the lesson's step 5 (pinit.lab.lesson.training_story): `preset` applied to
    SimpleCNN built from each seed, trained with `settings` (pinit.lab.train_config.TRAIN_CONFIG,
    the Train tab's configuration) on the same synthetic gratings in the seed's order. Per seed,
    in the order of `seeds`: ``init`` and ``trained`` the tail fits (`tail_alpha`: α, x_min, the
    likelihood-ratio test against an exponential, `plausible`), ``outliers_init`` and
    ``outliers_trained`` the eigenvalues above λ₊ plus five Tracy-Widom widths, ``change``
    ‖W_trained − W_init‖ / ‖W_init‖ (Frobenius), ``test_accuracy`` held out. ``spectrum`` is the
    first seed's trained matrix in full, for the chart. Nothing here promises a tail: a few
    hundred small SGD steps may move the matrix too little to grow one, and the fit says so.
    """

    preset: str
    layer: str
    settings: TrainConfig
    seeds: tuple[int, ...]
    init: tuple[TailFit, ...]
    trained: tuple[TailFit, ...]
    outliers_init: tuple[int, ...]
    outliers_trained: tuple[int, ...]
    change: tuple[float, ...]
    test_accuracy: tuple[float, ...]
    spectrum: Spectrum

    @property
    def plausible_init(self) -> int:
        """On how many seeds the init's tail is a plausible power law."""
        return sum(f.plausible for f in self.init)

    @property
    def plausible_trained(self) -> int:
        """On how many seeds the trained matrix's tail is a plausible power law."""
        return sum(f.plausible for f in self.trained)

    def table(self) -> pd.DataFrame:
        """One row per seed: the tail test's verdict (`tail_verdict`), α, R and p before and after
        training, the outliers above λ₊, how far training moved the matrix and the held-out accuracy."""
        rows = []
        for i, seed in enumerate(self.seeds):
            row: dict[str, Any] = {"seed": seed}
            for when, fit, outliers in (
                ("init", self.init[i], self.outliers_init[i]),
                ("trained", self.trained[i], self.outliers_trained[i]),
            ):
                row[f"{when}: tail"] = tail_verdict(fit)
                row[f"{when}: α"] = fit.alpha
                row[f"{when}: R"] = fit.loglik_ratio
                row[f"{when}: p"] = fit.p_value
                row[f"{when}: outliers"] = outliers
            row["moved"] = self.change[i]
            row["held-out accuracy"] = self.test_accuracy[i]
            rows.append(row)
        return pd.DataFrame(rows)


@computed_once
def trained_tail(
    preset: str = TRAINED_PRESET, layer: str = TRAINED_LAYER, seeds: tuple[int, ...] = TRAIN_SEEDS
) -> TrainedTail:
    """SimpleCNN under `preset`, trained as the lesson trains it (build from the seed, apply the plan,
    pinit.lab.train.train with LESSON_TRAIN, the same data), once per seed; `layer`'s spectrum and
    tail fit before and after. Computed once per server and kept on disk (pinit.lab.story_cache):
    a click never retrains.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    if not seeds:
        raise ValueError("trained_tail needs at least one seed")
    c = LESSON_TRAIN
    (images, labels), (test_images, test_labels) = train_data(c.n_train, c.n_test, c.noise)
    init, trained, out_init, out_trained, change, accuracy = [], [], [], [], [], []
    first: Spectrum | None = None
    for seed in seeds:
        model = build_model("SimpleCNN", seed=seed)
        apply_plan(model, PRESETS[preset].plan, seed)
        params = dict(model.named_parameters())
        if layer not in params or params[layer].dim() < 2:
            matrices = ", ".join(weight_matrices(model))
            raise ValueError(f"{layer!r} is not a weight matrix of SimpleCNN; choose one of {matrices}")
        w0 = params[layer].detach().clone()
        before = spectrum(w0, layer)
        train(model, images, labels, steps=c.steps, batch_size=c.batch_size, lr=c.lr, seed=seed, momentum=c.momentum)
        w1 = params[layer].detach().clone()
        after = spectrum(w1, layer)
        first = first or after
        init.append(before.tail)
        trained.append(after.tail)
        out_init.append(before.n_outliers)
        out_trained.append(after.n_outliers)
        change.append(float(torch.linalg.norm((w1 - w0).double()) / torch.linalg.norm(w0.double())))
        accuracy.append(float(evaluate(model, test_images, test_labels)["accuracy"]))
    assert first is not None  # seeds is not empty
    return TrainedTail(
        preset,
        layer,
        c,
        tuple(seeds),
        tuple(init),
        tuple(trained),
        tuple(out_init),
        tuple(out_trained),
        tuple(change),
        tuple(accuracy),
        first,
    )
