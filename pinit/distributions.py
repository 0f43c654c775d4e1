"""The distributions init schemes draw from, as small exact objects.

Each has `mean`, `std` (population) and `cdf(x)` / `cdf_left(x)` (P(X <= x) and
P(X < x)), which is all a histogram needs to draw the expected count per bin:
count_i = numel * (F(right_i) - F(left_i)). Point masses (zeros, eye, dirac,
sparse's zeros) are exact, not smoothed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Distribution", "Uniform", "Normal", "TruncNormal", "PointMass", "Mixture", "normal_cdf"]

_SQRT2 = math.sqrt(2.0)


def normal_cdf(z: float) -> float:
    """Phi(z), the standard normal CDF."""
    return 0.5 * (1.0 + math.erf(z / _SQRT2))


def _normal_pdf(z: float) -> float:
    return math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


class Distribution:
    """Base class: subclasses give mean, std and the two CDFs."""

    mean: float
    std: float
    approximate: bool = False  # True where the shape of the law is only approximated (orthogonal)

    def cdf(self, x: float) -> float:  # P(X <= x)
        raise NotImplementedError

    def cdf_left(self, x: float) -> float:  # P(X < x); differs from cdf only at point masses
        return self.cdf(x)

    def bin_probabilities(self, edges: list[float]) -> list[float]:
        """P(X in bin i) for bins [e_i, e_{i+1}), the last one closed, as torch.histc counts."""
        probs = []
        last = len(edges) - 2
        for i in range(len(edges) - 1):
            right = self.cdf(edges[i + 1]) if i == last else self.cdf_left(edges[i + 1])
            probs.append(max(0.0, right - self.cdf_left(edges[i])))
        return probs


@dataclass(frozen=True)
class Uniform(Distribution):
    low: float
    high: float

    @property
    def mean(self) -> float:
        return (self.low + self.high) / 2

    @property
    def std(self) -> float:
        return (self.high - self.low) / math.sqrt(12.0)

    def cdf(self, x: float) -> float:
        if self.high <= self.low:
            return 1.0 if x >= self.low else 0.0
        return min(1.0, max(0.0, (x - self.low) / (self.high - self.low)))


@dataclass(frozen=True)
class Normal(Distribution):
    mu: float
    sigma: float
    approximate: bool = False

    @property
    def mean(self) -> float:
        return self.mu

    @property
    def std(self) -> float:
        return self.sigma

    def cdf(self, x: float) -> float:
        if self.sigma == 0:
            return 1.0 if x >= self.mu else 0.0
        return normal_cdf((x - self.mu) / self.sigma)

    def cdf_left(self, x: float) -> float:
        if self.sigma == 0:
            return 1.0 if x > self.mu else 0.0
        return self.cdf(x)


@dataclass(frozen=True)
class TruncNormal(Distribution):
    """N(mu, sigma^2) restricted to [a, b] (absolute bounds, as torch's trunc_normal_)."""

    mu: float
    sigma: float
    a: float
    b: float

    def _z(self) -> tuple[float, float, float]:
        alpha, beta = (self.a - self.mu) / self.sigma, (self.b - self.mu) / self.sigma
        return alpha, beta, normal_cdf(beta) - normal_cdf(alpha)

    @property
    def mean(self) -> float:
        alpha, beta, z = self._z()
        return self.mu + self.sigma * (_normal_pdf(alpha) - _normal_pdf(beta)) / z

    @property
    def std(self) -> float:
        alpha, beta, z = self._z()
        pa, pb = _normal_pdf(alpha), _normal_pdf(beta)
        var = 1 + (alpha * pa - beta * pb) / z - ((pa - pb) / z) ** 2
        return self.sigma * math.sqrt(max(var, 0.0))

    def cdf(self, x: float) -> float:
        if x <= self.a:
            return 0.0
        if x >= self.b:
            return 1.0
        alpha, _, z = self._z()
        return (normal_cdf((x - self.mu) / self.sigma) - normal_cdf(alpha)) / z


@dataclass(frozen=True)
class PointMass(Distribution):
    value: float

    @property
    def mean(self) -> float:
        return self.value

    @property
    def std(self) -> float:
        return 0.0

    def cdf(self, x: float) -> float:
        return 1.0 if x >= self.value else 0.0

    def cdf_left(self, x: float) -> float:
        return 1.0 if x > self.value else 0.0


@dataclass(frozen=True)
class Mixture(Distribution):
    """sum_k w_k * D_k, weights summing to 1 (e.g. sparse: zeros plus a normal)."""

    parts: tuple[tuple[float, Distribution], ...]

    @property
    def approximate(self) -> bool:  # type: ignore[override]
        return any(d.approximate for _, d in self.parts)

    @property
    def mean(self) -> float:
        return sum(w * d.mean for w, d in self.parts)

    @property
    def std(self) -> float:
        m = self.mean
        second = sum(w * (d.std**2 + d.mean**2) for w, d in self.parts)
        return math.sqrt(max(second - m * m, 0.0))

    def cdf(self, x: float) -> float:
        return sum(w * d.cdf(x) for w, d in self.parts)

    def cdf_left(self, x: float) -> float:
        return sum(w * d.cdf_left(x) for w, d in self.parts)
