"""The distributions init schemes draw from, as small exact objects.

Each has `mean`, `std` (population) and `cdf(x)` / `cdf_left(x)` (P(X <= x) and
P(X < x)), which is all a histogram needs to draw the expected count per bin:
count_i = numel * (F(right_i) - F(left_i)). Point masses (zeros, eye, dirac,
sparse's zeros) are exact, not smoothed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Distribution", "Mixture", "Normal", "PointMass", "TruncNormal", "Uniform", "normal_cdf", "normal_mass"]

_SQRT2 = math.sqrt(2.0)


def normal_cdf(z: float) -> float:
    """Phi(z), the standard normal CDF."""
    return 0.5 * (1.0 + math.erf(z / _SQRT2))


def _normal_pdf(z: float) -> float:
    return math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


# Nodes and weights of 20-point Gauss-Legendre quadrature on [-1, 1] (numpy's, as plain floats).
_GL_X, _GL_W = (tuple(float(v) for v in a) for a in np.polynomial.legendre.leggauss(20))
# On intervals narrower than this (in units of sigma) the normal's density is smooth
# enough for 20-point Gauss-Legendre to be exact to double precision, while the closed
# forms below cancel catastrophically: differences of CDFs lose all digits, and the
# truncated normal's variance formula (a sum of O(1) terms that is O(width^2)) is 24%
# off at width 0.003 and divides by zero at 1e-17.
_NARROW = 1.0


def _narrow_moments(lo: float, hi: float) -> tuple[float, float, float]:
    """Integrals of phi(t), (t - c) phi(t) and (t - c)^2 phi(t) over narrow [lo, hi], c its midpoint."""
    c, h = (lo + hi) / 2, (hi - lo) / 2
    m0 = m1 = m2 = 0.0
    for x, w in zip(_GL_X, _GL_W):
        u = h * x
        f = w * _normal_pdf(c + u)
        m0 += f
        m1 += f * u
        m2 += f * u * u
    return h * m0, h * m1, h * m2


def normal_mass(lo: float, hi: float) -> float:
    """P(lo <= Z <= hi) for a standard normal Z, accurate for narrow intervals and in the tails."""
    if hi - lo <= _NARROW:
        return _narrow_moments(lo, hi)[0]
    if lo >= 0:
        return 0.5 * (math.erfc(lo / _SQRT2) - math.erfc(hi / _SQRT2))
    if hi <= 0:
        return 0.5 * (math.erfc(-hi / _SQRT2) - math.erfc(-lo / _SQRT2))
    return 0.5 * (math.erf(hi / _SQRT2) - math.erf(lo / _SQRT2))


class Distribution:
    """The law one entry of a tensor is drawn from: its mean, std and CDF, exactly.

    Base class: subclasses give mean, std and the two CDFs. A scheme's law
    (``Scheme.distribution``) gives the expected std of a parameter and the count each
    histogram bin should hold, so a chart can set what was drawn against what should be.

    Example:
        Kaiming uniform for ReLU on a Linear(100, 50) weight: U(±√(6 / fan_in)), whose std
        √2 / √fan_in is the same as Kaiming normal's.

        >>> import pinit
        >>> law = pinit.get_scheme("kaiming_uniform").distribution(
        ...     pinit.TensorInfo((50, 100)), {"nonlinearity": "relu"})
        >>> round(law.high, 4), round(law.std, 4)  # √(6/100), √(2/100)
        (0.2449, 0.1414)
        >>> [round(p, 3) for p in law.bin_probabilities([-0.3, -0.1, 0.1, 0.3])]
        [0.296, 0.408, 0.296]
    """

    approximate: bool = False  # True where the shape of the law is only approximated (orthogonal)

    @property
    def mean(self) -> float:
        raise NotImplementedError

    @property
    def std(self) -> float:  # population std
        raise NotImplementedError

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
        return alpha, beta, normal_mass(alpha, beta)

    def _standard_moments(self) -> tuple[float, float]:
        """Mean and variance of the standardized variable (X - mu) / sigma."""
        alpha, beta, z = self._z()
        if beta - alpha <= _NARROW:
            m0, m1, m2 = _narrow_moments(alpha, beta)
            shift = m1 / m0
            return (alpha + beta) / 2 + shift, m2 / m0 - shift * shift
        pa, pb = _normal_pdf(alpha), _normal_pdf(beta)
        # z * pdf(z) is 0 at z = +-inf (a bound more than ~1e308 sigma away, e.g. sigma = 5e-324)
        apa, bpb = (0.0 if math.isinf(alpha) else alpha * pa), (0.0 if math.isinf(beta) else beta * pb)
        return (pa - pb) / z, 1 + (apa - bpb) / z - ((pa - pb) / z) ** 2

    @property
    def mean(self) -> float:
        return self.mu + self.sigma * self._standard_moments()[0]

    @property
    def std(self) -> float:
        return self.sigma * math.sqrt(max(self._standard_moments()[1], 0.0))

    def cdf(self, x: float) -> float:
        if x <= self.a:
            return 0.0
        if x >= self.b:
            return 1.0
        alpha, _, z = self._z()
        return min(1.0, normal_mass(alpha, (x - self.mu) / self.sigma) / z)


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
