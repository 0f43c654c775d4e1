"""The scheme registry: one `Scheme` record per init scheme.

A record holds the scheme's name (torch.nn.init's function name without the
trailing underscore), its keyword parameters with defaults, ranges and help, the
tensor dimensions it supports, the fill itself (always with a seeded
`torch.Generator`, never the global RNG), the exact law it draws from (so the
expected std and the expected histogram follow), and its formula for display.

Fan facts (torch.nn.init._calculate_fan_in_and_fan_out), for a tensor of >= 2 dims:
    fan_in  = size(1) * prod(size[2:])      fan_out = size(0) * prod(size[2:])
Gains (torch.nn.init.calculate_gain): linear/conv/sigmoid 1, tanh 5/3, relu sqrt(2),
leaky_relu sqrt(2 / (1 + a^2)), selu 3/4.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import torch
from torch.nn import init

from .distributions import Distribution, Mixture, Normal, PointMass, TruncNormal, Uniform, normal_mass
from .errors import PlanError
from .fans import torch_fans
from .text import number
from .threads import single_thread

__all__ = [
    "NONLINEARITIES",
    "SCHEMES",
    "Param",
    "Scheme",
    "TensorInfo",
    "fans",
    "gain",
    "get_scheme",
]

# Every finite number a scheme takes is bounded: a huge std or gain would give inf
# silently in float32, which a dashboard must refuse rather than draw.
_BIG = 1e4

NONLINEARITIES = (
    "linear",
    "relu",
    "leaky_relu",
    "tanh",
    "sigmoid",
    "selu",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
)


def fans(shape: tuple[int, ...]) -> tuple[int, int] | None:
    """(fan_in, fan_out) as torch computes them from the shape, or None for tensors under 2 dims.

    This is what torch's fills use, so a scheme's law follows it; a layer's own fans (HF's
    Conv1D stores (in, out), an Embedding is a lookup) are pinit.fans.layer_fans.
    For a weight of shape (out, in, *kernel): fan_in = in · ∏kernel, fan_out = out · ∏kernel.

    Args:
        shape: the tensor's shape.

    Returns:
        (fan_in, fan_out), or None for a scalar or a vector (a bias has no fans).

    Example:
        >>> import pinit
        >>> pinit.fans((50, 100))  # a Linear(100, 50) weight
        (100, 50)
        >>> pinit.fans((64, 3, 3, 3))  # a Conv2d(3, 64, 3) weight: 3·3·3 in, 64·3·3 out
        (27, 576)
        >>> pinit.fans((64,)) is None
        True
    """
    return torch_fans(shape)


def gain(nonlinearity: str, a: float = 0.0) -> float:
    """The gain a scheme multiplies its std by to keep a signal's scale through `nonlinearity`.

    torch.nn.init.calculate_gain: √2 for ReLU (half of its inputs are zeroed, He et al.
    2015), 5/3 for tanh, √(2 / (1 + a²)) for leaky ReLU, 1 for linear and sigmoid.

    Args:
        nonlinearity: "linear", "conv1d", ..., "sigmoid", "tanh", "relu", "leaky_relu" or "selu".
        a: the negative slope, for leaky_relu only.

    Returns:
        The gain.

    Example:
        >>> import pinit
        >>> round(pinit.gain("relu"), 4)
        1.4142
        >>> round(pinit.gain("tanh"), 4)
        1.6667
        >>> round(pinit.gain("leaky_relu", 0.2), 4)
        1.3868
    """
    # torch types `nonlinearity` as a Literal of its names; an unknown one raises ValueError there.
    return init.calculate_gain(cast(Any, nonlinearity), a if nonlinearity == "leaky_relu" else None)


def _gain_tex(nonlinearity: str, a: float) -> str:
    exact = {"relu": r"\sqrt{2}", "tanh": r"\tfrac{5}{3}", "selu": r"\tfrac{3}{4}"}
    if nonlinearity == "leaky_relu":
        return r"\sqrt{2}" if a == 0 else rf"\sqrt{{2/(1+{_n(a)}^2)}}"
    return exact.get(nonlinearity, "1")


def _n(x: float) -> str:
    """A number for display: 3 significant digits, no trailing noise."""
    if x == 0:
        return "0"
    if float(x).is_integer() and abs(x) < 1e6:
        return str(int(x))
    return number(x)  # the page's one way: 0.02, 1×10⁻⁵ (never 1e-05)


@dataclass(frozen=True)
class Param:
    """One keyword argument of a scheme, named as torch names it.

    Its kind and range are what the sidebar's widgets, the CLI's flags and a plan file's
    checks are built from, so a new scheme's parameters need no code in the views.

    Args:
        name: the keyword, as torch.nn.init names it.
        default: its value when a plan does not give one.
        help: one sentence for the widget and the CLI.
        kind: "float", "int" or "choice".
        low: the smallest allowed value ("float" and "int").
        high: the largest allowed value.
        low_open: True when `low` itself is not allowed (trunc_normal's std).
        choices: the allowed values of a "choice".

    Example:
        >>> import pinit
        >>> a = pinit.get_scheme("uniform").params[0]
        >>> a.name, a.default, a.allowed()
        ('a', 0.0, 'a finite number in [-10000, 10000]')
    """

    name: str
    default: Any
    help: str
    kind: str = "float"  # "float", "int" or "choice"
    low: float = -math.inf  # "float" and "int" parameters: the allowed [low, high]
    high: float = math.inf
    low_open: bool = False  # True: low itself is not allowed (std of trunc_normal)
    choices: tuple[str, ...] = ()

    def allowed(self) -> str:
        """The allowed values in words, for error messages and help."""
        if self.kind == "choice":
            return "one of " + ", ".join(self.choices)
        left = "(" if self.low_open else "["
        kind = "a whole number" if self.kind == "int" else "a finite number"
        return f"{kind} in {left}{_n(self.low)}, {_n(self.high)}]"

    def coerce(self, value: Any) -> Any:
        """`value` checked and converted, or ValueError saying what is allowed."""
        if self.kind == "choice":
            if value not in self.choices:
                raise ValueError(f"{self.name}={value!r} is not allowed; use {self.allowed()}")
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{self.name}={value!r} is not a number; use {self.allowed()}")
        try:
            finite = math.isfinite(value)
        except OverflowError:  # an int too big for a float, e.g. 10**400
            raise ValueError(
                f"{self.name} is a {int(value).bit_length()}-bit integer, out of range; use {self.allowed()}"
            ) from None
        if not finite:
            raise ValueError(f"{self.name}={value} is not finite; use {self.allowed()}")
        if self.kind == "int":
            if float(value) != int(value):
                raise ValueError(f"{self.name}={value} is not a whole number; use {self.allowed()}")
            value = int(value)
        else:
            value = float(value)
        too_low = value <= self.low if self.low_open else value < self.low
        if too_low or value > self.high:
            raise ValueError(f"{self.name}={_n(value)} is out of range; use {self.allowed()}")
        return value


@dataclass(frozen=True)
class TensorInfo:
    """What a scheme needs to know about the tensor it fills.

    `layer_fan_in` is the fan_in of the owning layer's weight: PyTorch's default bias
    init U(+-1/sqrt(fan_in)) depends on it, not on the bias's own (1-D) shape.

    Args:
        shape: the tensor's shape.
        layer_fan_in: the owning layer's fan_in, for a bias; None when not known.

    Example:
        >>> import pinit
        >>> bias = pinit.TensorInfo((50,), layer_fan_in=100)  # the bias of a Linear(100, 50)
        >>> pinit.get_scheme("default").distribution(bias, {})  # U(±1/√100)
        Uniform(low=-0.1, high=0.1)
    """

    shape: tuple[int, ...]
    layer_fan_in: int | None = None

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def fans(self) -> tuple[int, int]:
        """(fan_in, fan_out); ValueError for a tensor under 2 dims, which has none."""
        f = fans(self.shape)
        if f is None:
            raise ValueError(f"a tensor of shape {self.shape} has no fan_in or fan_out (it needs 2 or more dims)")
        return f

    @property
    def fan_in(self) -> int | None:
        f = fans(self.shape)
        return f[0] if f else None

    @property
    def fan_out(self) -> int | None:
        f = fans(self.shape)
        return f[1] if f else None


Fill = Callable[[torch.Tensor, Mapping[str, Any], TensorInfo, torch.Generator], object]  # fills in place
Law = Callable[[TensorInfo, Mapping[str, Any]], Distribution]
Worked = Callable[[TensorInfo, Mapping[str, Any]], str]
Relation = Callable[[Mapping[str, Any]], str | None]
TensorCheck = Callable[[TensorInfo, Mapping[str, Any]], str | None]


@dataclass(frozen=True)
class Scheme:
    """One init scheme: how to fill a tensor, what law it draws from, how to explain it.

    Everything about a scheme lives here, so adding one is one entry in `_SCHEME_LIST`:

    * `fill_fn` fills a tensor; `export_source` is the same fill as Python source for
      the standalone script `pinit.export_code` writes. It is the body of a function of
      ``tensor``, ``p`` (the resolved keywords), ``layer_fan_in`` and ``generator``, may
      use ``torch``, ``init`` (torch.nn.init) and ``math``, and must draw the very same
      numbers as `fill_fn` (tests/test_export.py checks every scheme bit for bit).
    * `relations`: the rule between the scheme's own parameters (uniform's a < b), or
      None; it sees every parameter already in range and returns the problem in words.
    * `extra_check`: what the tensor's shape must satisfy beyond its dims (dirac's groups).

    Example:
        >>> import pinit, torch
        >>> uniform = pinit.get_scheme("uniform")
        >>> uniform.defaults, uniform.resolve({"b": 2})
        ({'a': 0.0, 'b': 1.0}, {'a': 0.0, 'b': 2.0})
        >>> uniform.resolve({"a": 3, "b": 2})
        Traceback (most recent call last):
        ...
        pinit.errors.PlanError: uniform needs a < b; got a=3, b=2
        >>> w = torch.empty(3, 4)
        >>> uniform.fill(w, uniform.resolve({}), pinit.TensorInfo((3, 4)), torch.Generator().manual_seed(0))
        >>> bool(((w >= 0) & (w <= 1)).all()), round(uniform.expected_std((3, 4)), 4)  # (b - a) / √12
        (True, 0.2887)
    """

    name: str
    summary: str
    formula: str  # LaTeX, in terms of fan_in, fan_out, gain and the parameters
    fill_fn: Fill
    law_fn: Law
    worked_fn: Worked
    export_source: str
    params: tuple[Param, ...] = ()
    min_dims: int = 0
    max_dims: int | None = None
    random: bool = True
    paper: str = ""
    extra_check: TensorCheck | None = None
    relations: Relation | None = None

    @property
    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def supports_dims(self, ndim: int) -> bool:
        return ndim >= self.min_dims and (self.max_dims is None or ndim <= self.max_dims)

    def dims_text(self) -> str:
        """The dims this scheme supports, as an adjective for "a ... tensor"."""
        if self.max_dims is None:
            return "any" if self.min_dims == 0 else f"{self.min_dims}-D or higher"
        if self.min_dims == self.max_dims:
            return f"{self.min_dims}-D"
        return f"{self.min_dims}-D to {self.max_dims}-D"

    def resolve(self, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The full keyword set: `params` checked, unnamed ones at their defaults.

        Raises PlanError naming every unknown or out-of-range parameter and any
        constraint between parameters (a < b) that fails.
        """
        params = dict(params or {})
        problems = []
        known = {p.name for p in self.params}
        for key in params:
            if key not in known:
                allowed = ", ".join(sorted(known)) or "no parameters"
                problems.append(f"{self.name} has no parameter {key!r}; it takes {allowed}")
        out = {}
        for p in self.params:
            try:
                out[p.name] = p.coerce(params.get(p.name, p.default))
            except ValueError as e:
                problems.append(f"{self.name}: {e}")
        if not problems and self.relations is not None:
            problem = self.relations(out)
            if problem:
                problems.append(problem)
        if problems:
            raise PlanError(problems)
        return out

    def check_tensor(self, info: TensorInfo, params: Mapping[str, Any]) -> str | None:
        """Why this scheme can't fill a tensor of this shape, or None if it can."""
        if not self.supports_dims(len(info.shape)):
            why = " (fan_in and fan_out need 2 dims)" if self.min_dims == 2 and self.max_dims is None else ""
            return f"{self.name} needs a {self.dims_text()} tensor{why}"
        if self.extra_check is not None:
            return self.extra_check(info, params)
        return None

    def fill(
        self, tensor: torch.Tensor, params: Mapping[str, Any], info: TensorInfo, generator: torch.Generator
    ) -> None:
        """Fill `tensor` in place (call under torch.no_grad()); params already resolved."""
        self.fill_fn(tensor, params, info, generator)

    def distribution(self, info: TensorInfo, params: Mapping[str, Any] | None = None) -> Distribution:
        """The law one entry is drawn from, for this tensor and these parameters."""
        return self.law_fn(info, self.resolve(params))

    def expected_std(
        self, shape: tuple[int, ...], params: Mapping[str, Any] | None = None, layer_fan_in: int | None = None
    ) -> float:
        """Expected std of the entries, from the formula (population std)."""
        return self.distribution(TensorInfo(tuple(shape), layer_fan_in), params).std

    def worked(self, info: TensorInfo, params: Mapping[str, Any] | None = None) -> str:
        """The formula with this tensor's numbers filled in (LaTeX)."""
        return self.worked_fn(info, self.resolve(params))


# --- shared pieces --------------------------------------------------------------------


def _std_tex(expr: str, value: float) -> str:
    return rf"\sigma = {expr} = {_n(value)}"


def _gain_param(default: float = 1.0) -> Param:
    return Param(
        "gain", default, "Multiplies the std; use the gain of the activation that follows.", low=0.0, high=_BIG
    )


_MODE = Param(
    "mode",
    "fan_in",
    "fan_in keeps the forward signal's variance, fan_out the backward gradient's.",
    kind="choice",
    choices=("fan_in", "fan_out"),
)
_NONLIN = Param(
    "nonlinearity",
    "leaky_relu",
    "The activation after this layer; sets the gain (relu: sqrt(2)).",
    kind="choice",
    choices=NONLINEARITIES,
)
_SLOPE = Param(
    "a", 0.0, "Negative slope of the leaky_relu after this layer (only used with leaky_relu).", low=0.0, high=_BIG
)


def _kaiming_std(info: TensorInfo, p: Mapping[str, Any]) -> tuple[float, float, int | None]:
    fan = info.fan_in if p["mode"] == "fan_in" else info.fan_out
    g = gain(p["nonlinearity"], p["a"])
    return (g / math.sqrt(fan) if fan else 0.0), g, fan


def _kaiming_worked(uniform: bool) -> Worked:
    def worked(info: TensorInfo, p: Mapping[str, Any]) -> str:
        std, _g, fan = _kaiming_std(info, p)
        gtex = _gain_tex(p["nonlinearity"], p["a"])
        mode = p["mode"].replace("_", r"\_")
        text = _std_tex(rf"\frac{{{gtex}}}{{\sqrt{{\text{{{mode}}}}}}} = \frac{{{gtex}}}{{\sqrt{{{fan}}}}}", std)
        return text + (rf",\quad \text{{bound}} = \sqrt{{3}}\,\sigma = {_n(math.sqrt(3) * std)}" if uniform else "")

    return worked


def _xavier_std(info: TensorInfo, p: Mapping[str, Any]) -> float:
    fan_in, fan_out = info.fans
    return float(p["gain"]) * math.sqrt(2.0 / (fan_in + fan_out))


def _xavier_worked(uniform: bool) -> Worked:
    def worked(info: TensorInfo, p: Mapping[str, Any]) -> str:
        std = _xavier_std(info, p)
        text = _std_tex(rf"{_n(p['gain'])}\cdot\sqrt{{\frac{{2}}{{{info.fan_in} + {info.fan_out}}}}}", std)
        return text + (rf",\quad \text{{bound}} = \sqrt{{3}}\,\sigma = {_n(math.sqrt(3) * std)}" if uniform else "")

    return worked


def _default_bound(info: TensorInfo) -> float:
    fan_in = info.fan_in if len(info.shape) >= 2 else info.layer_fan_in
    return 1.0 / math.sqrt(fan_in) if fan_in else 0.0


def _default_check(info: TensorInfo, p: Mapping[str, Any]) -> str | None:
    if len(info.shape) < 2 and info.layer_fan_in is None:
        return (
            "default draws a 1-D tensor from its layer's weight fan_in, and this layer has no weight of 2 or more dims"
        )
    return None


def _default_fill(t: torch.Tensor, p: Mapping[str, Any], info: TensorInfo, g: torch.Generator) -> None:
    if t.dim() >= 2:
        # Exactly what nn.Linear / nn.Conv*d reset_parameters() do, but from our generator.
        init.kaiming_uniform_(t, a=math.sqrt(5), generator=g)
    else:
        bound = _default_bound(info)
        init.uniform_(t, -bound, bound, generator=g)


def _default_worked(info: TensorInfo, p: Mapping[str, Any]) -> str:
    b = _default_bound(info)
    fan = info.fan_in if len(info.shape) >= 2 else info.layer_fan_in
    return (
        rf"U\!\left(\pm\frac{{1}}{{\sqrt{{\text{{fan\_in}}}}}}\right) = U(\pm 1/\sqrt{{{fan}}}) = U(\pm {_n(b)}),"
        rf"\quad \sigma = \frac{{{_n(b)}}}{{\sqrt{{3}}}} = {_n(b / math.sqrt(3))}"
    )


def _ones_fraction_law(ones: int, numel: int) -> Distribution:
    p1 = ones / numel if numel else 0.0
    return Mixture(((1 - p1, PointMass(0.0)), (p1, PointMass(1.0))))


def _dirac_ones(info: TensorInfo, groups: int) -> int:
    out_per_group = info.shape[0] // groups
    return groups * min(out_per_group, info.shape[1])


def _dirac_check(info: TensorInfo, p: Mapping[str, Any]) -> str | None:
    if info.shape[0] % p["groups"]:
        return f"dirac needs size(0) divisible by groups; size(0) = {info.shape[0]}, groups = {p['groups']}"
    return None


def _sparse_zero_fraction(info: TensorInfo, sparsity: float) -> float:
    rows = info.shape[0]
    return math.ceil(sparsity * rows) / rows  # torch zeroes ceil(sparsity * rows) entries per column


def _sparse_fill(t: torch.Tensor, sparsity: float, std: float, g: torch.Generator) -> None:
    """torch.nn.init.sparse_'s algorithm with every draw from `g`.

    sparse_ itself picks each column's zero rows with torch.randperm from the global RNG,
    ignoring `generator`, so its result can't be reproduced from a seed and it moves the
    global RNG (tests/test_schemes.py checks that pinit's fill does neither). Same law:
    ceil(sparsity * rows) zeros per column.
    """
    rows, cols = t.shape
    num_zeros = math.ceil(sparsity * rows)
    t.normal_(0, std, generator=g)
    for col in range(cols):
        t[torch.randperm(rows, generator=g)[:num_zeros], col] = 0


# torch's trunc_normal_ is a rejection sampler: when P(a <= X <= b) > 0.3 it redraws
# N(mean, std^2) until every value is inside [a, b]; otherwise it draws U(a, b) and keeps x
# with probability pdf(x) / (max pdf on [a, b]). For an [a, b] reaching far into one tail
# that rate falls towards 0 and the fill's time grows as 1 / rate: N(0, 1) on [1, 100] keeps
# 0.7% of its draws. Below this rate pinit refuses the plan, so a fill of fc1 stays a wait a
# class sits through (the times are in docs/PERFORMANCE.md).
_TRUNC_MIN_ACCEPT = 0.2


def _trunc_acceptance(mean: float, std: float, a: float, b: float) -> float:
    """The fraction of its draws torch's trunc_normal_ keeps, for these parameters."""
    alpha, beta = (a - mean) / std, (b - mean) / std
    mass = normal_mass(alpha, beta)
    if mass > 0.3:
        return mass
    peak = max(alpha, min(0.0, beta))  # where the density on [alpha, beta] is highest
    return mass / ((beta - alpha) * math.exp(-0.5 * peak * peak) / math.sqrt(2 * math.pi))


def _a_below_b(scheme: str) -> Relation:
    """The relation "a < b" between the bounds of `scheme` (uniform, trunc_normal)."""

    def relation(p: Mapping[str, Any]) -> str | None:
        if not p["a"] < p["b"]:
            return f"{scheme} needs a < b; got a={_n(p['a'])}, b={_n(p['b'])}"
        return None

    return relation


def _trunc_relations(p: Mapping[str, Any]) -> str | None:
    """trunc_normal: a < b, the mean near [a, b], and a rejection rate torch can live with."""
    problem = _a_below_b("trunc_normal")(p)
    if problem:
        return problem
    lo, hi = p["a"] - 2 * p["std"], p["b"] + 2 * p["std"]
    if not lo <= p["mean"] <= hi:
        # torch warns and draws wrong values there; refuse instead.
        return (
            f"trunc_normal needs mean within 2 std of [a, b] = [{_n(p['a'])}, {_n(p['b'])}]; "
            f"got mean={_n(p['mean'])}, std={_n(p['std'])}"
        )
    accept = _trunc_acceptance(p["mean"], p["std"], p["a"], p["b"])
    if accept < _TRUNC_MIN_ACCEPT:
        return (
            f"trunc_normal with mean={_n(p['mean'])}, std={_n(p['std'])} "
            f"on [a, b] = [{_n(p['a'])}, {_n(p['b'])}] "
            f"keeps only {accept:.2%} of torch's draws, so a big tensor would take seconds to minutes; "
            f"use an [a, b] where at least {_TRUNC_MIN_ACCEPT:.0%} are kept (narrower, or nearer the mean)"
        )
    return None


def _trunc_law(info: TensorInfo, p: Mapping[str, Any]) -> Distribution:
    return TruncNormal(p["mean"], p["std"], p["a"], p["b"])


def _orthogonal_fill(t: torch.Tensor, p: Mapping[str, Any], info: TensorInfo, g: torch.Generator) -> None:
    """torch's orthogonal_ (QR of a Gaussian matrix, Saxe et al. 2013) on one thread: same bits on any machine."""
    with single_thread():
        init.orthogonal_(t, p["gain"], generator=g)


def _orth_std(info: TensorInfo, p: Mapping[str, Any]) -> float:
    rows = info.shape[0]
    cols = info.numel // rows
    return float(p["gain"]) / math.sqrt(max(rows, cols))


_HE_2015 = "He et al. 2015, Delving Deep into Rectifiers: Surpassing Human-Level Performance on ImageNet Classification"
_XAVIER_SIGMA = r"\sigma = \text{gain}\cdot\sqrt{\tfrac{2}{\text{fan\_in} + \text{fan\_out}}}"

_SCHEME_LIST: tuple[Scheme, ...] = (
    Scheme(
        name="default",
        summary="What nn.Linear / nn.Conv*d draw in reset_parameters(): kaiming_uniform(a=sqrt(5)) for the weight, "
        "which is U(+-1/sqrt(fan_in)) (std 1/sqrt(3 fan_in), not LeCun's 1/sqrt(fan_in)); the bias U(+-1/sqrt(fan_in)) "
        "with the weight's fan_in.",
        formula=r"w \sim U\!\left(-\tfrac{1}{\sqrt{\text{fan\_in}}}, \tfrac{1}{\sqrt{\text{fan\_in}}}\right),\ "
        r"\sigma = \tfrac{1}{\sqrt{3\,\text{fan\_in}}}",
        fill_fn=_default_fill,
        export_source=(
            "if tensor.dim() >= 2:\n"
            "    # What nn.Linear / nn.Conv*d reset_parameters() draw, from our generator.\n"
            "    init.kaiming_uniform_(tensor, a=math.sqrt(5), generator=generator)\n"
            "else:\n"
            "    # A bias: U(+-1/sqrt(fan_in)) with the fan_in of its layer's weight.\n"
            "    if layer_fan_in is None:\n"
            '        raise ValueError("default needs the layer\'s weight (2+ dims) to size a 1-D tensor")\n'
            "    bound = 1.0 / math.sqrt(layer_fan_in) if layer_fan_in else 0.0\n"
            "    init.uniform_(tensor, -bound, bound, generator=generator)"
        ),
        law_fn=lambda info, p: Uniform(-_default_bound(info), _default_bound(info)),
        worked_fn=_default_worked,
        extra_check=_default_check,
        paper="PyTorch's reset_parameters (see pytorch/pytorch#57109)",
    ),
    Scheme(
        name="uniform",
        summary="U(a, b): every value in [a, b) equally likely.",
        formula=r"w \sim U(a, b),\ \sigma = \tfrac{b - a}{\sqrt{12}}",
        params=(
            Param("a", 0.0, "Lower bound.", low=-_BIG, high=_BIG),
            Param("b", 1.0, "Upper bound (must exceed a).", low=-_BIG, high=_BIG),
        ),
        fill_fn=lambda t, p, info, g: init.uniform_(t, p["a"], p["b"], generator=g),
        export_source='init.uniform_(tensor, p["a"], p["b"], generator=generator)',
        law_fn=lambda info, p: Uniform(p["a"], p["b"]),
        relations=_a_below_b("uniform"),
        worked_fn=lambda info, p: _std_tex(
            rf"\frac{{{_n(p['b'])} - ({_n(p['a'])})}}{{\sqrt{{12}}}}", (p["b"] - p["a"]) / math.sqrt(12)
        ),
    ),
    Scheme(
        name="normal",
        summary="N(mean, std^2). The article's Linear recipe is normal(0, 1), whatever the fan_in.",
        formula=r"w \sim \mathcal{N}(\mu, \sigma^2)",
        params=(
            Param("mean", 0.0, "Mean of the normal.", low=-_BIG, high=_BIG),
            Param("std", 1.0, "Standard deviation (0 gives a constant).", low=0.0, high=_BIG),
        ),
        fill_fn=lambda t, p, info, g: init.normal_(t, p["mean"], p["std"], generator=g),
        export_source='init.normal_(tensor, p["mean"], p["std"], generator=generator)',
        law_fn=lambda info, p: Normal(p["mean"], p["std"]),
        worked_fn=lambda info, p: (
            rf"w \sim \mathcal{{N}}({_n(p['mean'])}, {_n(p['std'])}^2),\quad \sigma = {_n(p['std'])}"
        ),
    ),
    Scheme(
        name="trunc_normal",
        summary="N(mean, std^2) redrawn until inside [a, b]; a and b are absolute bounds, not multiples of std, "
        "and the resulting std is smaller than std.",
        formula=r"w \sim \mathcal{N}(\mu, \sigma^2)\ \text{restricted to}\ [a, b]",
        params=(
            Param("mean", 0.0, "Mean before truncation.", low=-_BIG, high=_BIG),
            Param("std", 1.0, "Std before truncation (must be > 0).", low=0.0, low_open=True, high=_BIG),
            Param("a", -2.0, "Lower cut-off (absolute value, not in units of std).", low=-_BIG, high=_BIG),
            Param("b", 2.0, "Upper cut-off (absolute value, not in units of std).", low=-_BIG, high=_BIG),
        ),
        fill_fn=lambda t, p, info, g: init.trunc_normal_(t, p["mean"], p["std"], p["a"], p["b"], generator=g),
        export_source='init.trunc_normal_(tensor, p["mean"], p["std"], p["a"], p["b"], generator=generator)',
        law_fn=_trunc_law,
        relations=_trunc_relations,
        worked_fn=lambda info, p: (
            rf"\mathcal{{N}}({_n(p['mean'])}, {_n(p['std'])}^2)\ \text{{on}}\ [{_n(p['a'])}, {_n(p['b'])}],"
            rf"\quad \sigma = {_n(_trunc_law(info, p).std)}"
        ),
    ),
    Scheme(
        name="constant",
        summary="Every value the same: symmetry is never broken, every unit of the layer computes the same thing.",
        formula=r"w = \text{val}",
        params=(Param("val", 0.0, "The value every entry gets.", low=-_BIG, high=_BIG),),
        fill_fn=lambda t, p, info, g: init.constant_(t, p["val"]),
        export_source='init.constant_(tensor, p["val"])',
        law_fn=lambda info, p: PointMass(p["val"]),
        worked_fn=lambda info, p: rf"w = {_n(p['val'])}\ \text{{everywhere}},\quad \sigma = 0",
        random=False,
    ),
    Scheme(
        name="ones",
        summary="Every value 1 (the usual init of a norm layer's scale).",
        formula=r"w = 1",
        fill_fn=lambda t, p, info, g: init.ones_(t),
        export_source="init.ones_(tensor)",
        law_fn=lambda info, p: PointMass(1.0),
        worked_fn=lambda info, p: r"w = 1\ \text{everywhere},\quad \sigma = 0",
        random=False,
    ),
    Scheme(
        name="zeros",
        summary="Every value 0: right for biases; for weights, the symmetry trap "
        "(no unit can differ from its neighbours).",
        formula=r"w = 0",
        fill_fn=lambda t, p, info, g: init.zeros_(t),
        export_source="init.zeros_(tensor)",
        law_fn=lambda info, p: PointMass(0.0),
        worked_fn=lambda info, p: r"w = 0\ \text{everywhere},\quad \sigma = 0",
        random=False,
    ),
    Scheme(
        name="eye",
        summary="The identity matrix: a Linear layer that passes its input through (2-D only).",
        formula=r"W = I",
        fill_fn=lambda t, p, info, g: init.eye_(t),
        export_source="init.eye_(tensor)",
        law_fn=lambda info, p: _ones_fraction_law(min(info.shape), info.numel),
        worked_fn=lambda info, p: (
            rf"W = I:\ {min(info.shape)}\ \text{{ones among}}\ {info.numel}\ \text{{entries}},"
            rf"\quad \sigma = {_n(_ones_fraction_law(min(info.shape), info.numel).std)}"
        ),
        min_dims=2,
        max_dims=2,
        random=False,
    ),
    Scheme(
        name="dirac",
        summary="The identity convolution: each output channel copies one input channel (3- to 5-D only).",
        formula=r"W[g\cdot\tfrac{out}{groups} + d,\ d,\ \text{centre}] = 1",
        params=(
            Param("groups", 1, "Number of groups; size(0) must be divisible by it.", kind="int", low=1, high=4096),
        ),
        fill_fn=lambda t, p, info, g: init.dirac_(t, p["groups"]),
        export_source='init.dirac_(tensor, p["groups"])',
        law_fn=lambda info, p: _ones_fraction_law(_dirac_ones(info, p["groups"]), info.numel),
        worked_fn=lambda info, p: (
            rf"{_dirac_ones(info, p['groups'])}\ \text{{ones among}}\ {info.numel}\ \text{{entries}},"
            rf"\quad \sigma = {_n(_ones_fraction_law(_dirac_ones(info, p['groups']), info.numel).std)}"
        ),
        min_dims=3,
        max_dims=5,
        random=False,
        extra_check=_dirac_check,
        paper="Zagoruyko & Komodakis 2017, DiracNets: Training Very Deep Neural Networks Without Skip-Connections",
    ),
    Scheme(
        name="xavier_uniform",
        summary="Glorot's normalized init: keeps activation and gradient variance level through tanh/linear layers. "
        "Also known as Glorot uniform.",
        formula=r"w \sim U(\pm\sqrt{3}\,\sigma),\ " + _XAVIER_SIGMA,
        params=(_gain_param(),),
        fill_fn=lambda t, p, info, g: init.xavier_uniform_(t, p["gain"], generator=g),
        export_source='init.xavier_uniform_(tensor, p["gain"], generator=generator)',
        law_fn=lambda info, p: Uniform(-math.sqrt(3) * _xavier_std(info, p), math.sqrt(3) * _xavier_std(info, p)),
        worked_fn=_xavier_worked(uniform=True),
        min_dims=2,
        paper="Glorot & Bengio 2010, Understanding the difficulty of training deep feedforward neural networks",
    ),
    Scheme(
        name="xavier_normal",
        summary="Glorot's init drawn from a normal. Also known as Glorot normal.",
        formula=r"w \sim \mathcal{N}(0, \sigma^2),\ " + _XAVIER_SIGMA,
        params=(_gain_param(),),
        fill_fn=lambda t, p, info, g: init.xavier_normal_(t, p["gain"], generator=g),
        export_source='init.xavier_normal_(tensor, p["gain"], generator=generator)',
        law_fn=lambda info, p: Normal(0.0, _xavier_std(info, p)),
        worked_fn=_xavier_worked(uniform=False),
        min_dims=2,
        paper="Glorot & Bengio 2010, Understanding the difficulty of training deep feedforward neural networks",
    ),
    Scheme(
        name="kaiming_uniform",
        summary="He init, uniform: keeps the variance level through ReLU layers. Also known as He uniform.",
        formula=r"w \sim U(\pm\sqrt{3}\,\sigma),\ \sigma = \frac{\text{gain}}{\sqrt{\text{fan}}}",
        params=(_SLOPE, _MODE, _NONLIN),
        fill_fn=lambda t, p, info, g: init.kaiming_uniform_(t, p["a"], p["mode"], p["nonlinearity"], generator=g),
        export_source='init.kaiming_uniform_(tensor, p["a"], p["mode"], p["nonlinearity"], generator=generator)',
        law_fn=lambda info, p: Uniform(
            -math.sqrt(3) * _kaiming_std(info, p)[0], math.sqrt(3) * _kaiming_std(info, p)[0]
        ),
        worked_fn=_kaiming_worked(uniform=True),
        min_dims=2,
        paper=_HE_2015,
    ),
    Scheme(
        name="kaiming_normal",
        summary="He init, normal: std sqrt(2 / fan_in) for ReLU keeps activations level through 30+ layers. "
        "Also known as He normal.",
        formula=r"w \sim \mathcal{N}(0, \sigma^2),\ \sigma = \frac{\text{gain}}{\sqrt{\text{fan}}}",
        params=(_SLOPE, _MODE, _NONLIN),
        fill_fn=lambda t, p, info, g: init.kaiming_normal_(t, p["a"], p["mode"], p["nonlinearity"], generator=g),
        export_source='init.kaiming_normal_(tensor, p["a"], p["mode"], p["nonlinearity"], generator=generator)',
        law_fn=lambda info, p: Normal(0.0, _kaiming_std(info, p)[0]),
        worked_fn=_kaiming_worked(uniform=False),
        min_dims=2,
        paper=_HE_2015,
    ),
    Scheme(
        name="lecun_normal",
        summary="N(0, 1/fan_in): kaiming_normal with gain 1. "
        "Often confused with PyTorch's default, which is 1/sqrt(3 fan_in).",
        formula=r"w \sim \mathcal{N}(0, \sigma^2),\ \sigma = \frac{1}{\sqrt{\text{fan\_in}}}",
        fill_fn=lambda t, p, info, g: init.kaiming_normal_(t, mode="fan_in", nonlinearity="linear", generator=g),
        export_source=(
            "# LeCun normal: N(0, 1/fan_in), i.e. kaiming_normal with gain 1.\n"
            'init.kaiming_normal_(tensor, mode="fan_in", nonlinearity="linear", generator=generator)'
        ),
        law_fn=lambda info, p: Normal(0.0, 1.0 / math.sqrt(info.fan_in) if info.fan_in else 0.0),
        worked_fn=lambda info, p: _std_tex(
            rf"\frac{{1}}{{\sqrt{{{info.fan_in}}}}}", 1.0 / math.sqrt(info.fan_in) if info.fan_in else 0.0
        ),
        min_dims=2,
        paper="LeCun et al. 1998, Efficient BackProp",
    ),
    Scheme(
        name="orthogonal",
        summary="A (semi-)orthogonal matrix times gain: rows or columns orthonormal, so no direction is amplified.",
        formula=r"W^\top W = \text{gain}^2 I\ \text{(or } W W^\top\text{)},\ "
        r"\sigma = \frac{\text{gain}}{\sqrt{\max(\text{rows}, \text{cols})}}",
        params=(_gain_param(),),
        fill_fn=_orthogonal_fill,
        export_source=(
            "# torch's QR rounds differently on 1 and on 2+ threads: compute it on one, as pinit\n"
            "# does, so the weights do not depend on the machine. set_num_threads acts on this\n"
            "# thread (and threads started later); the caller's count is restored.\n"
            "threads = torch.get_num_threads()\n"
            "torch.set_num_threads(1)\n"
            "try:\n"
            '    init.orthogonal_(tensor, p["gain"], generator=generator)\n'
            "finally:\n"
            "    torch.set_num_threads(threads)"
        ),
        # The entries' RMS is exactly gain/sqrt(max(rows, cols)); their law is only near-normal.
        law_fn=lambda info, p: Normal(0.0, _orth_std(info, p), approximate=True),
        worked_fn=lambda info, p: _std_tex(
            rf"\frac{{{_n(p['gain'])}}}{{\sqrt{{\max({info.shape[0]}, {info.numel // info.shape[0]})}}}}",
            _orth_std(info, p),
        ),
        min_dims=2,
        paper="Saxe et al. 2013, Exact solutions to the nonlinear dynamics of learning in deep linear neural networks",
    ),
    Scheme(
        name="sparse",
        summary="Each column gets ceil(sparsity * rows) zeros, the rest N(0, std^2) (2-D only).",
        formula=r"w = 0\ \text{w.p.}\ s,\ \text{else}\ \mathcal{N}(0, \text{std}^2)",
        params=(
            Param("sparsity", 0.1, "Fraction of each column set to zero.", low=0.0, high=1.0),
            Param("std", 0.01, "Std of the non-zero entries.", low=0.0, high=_BIG),
        ),
        fill_fn=lambda t, p, info, g: _sparse_fill(t, p["sparsity"], p["std"], g),
        export_source=(
            "# torch.nn.init.sparse_'s algorithm, but with every draw from `generator`: sparse_\n"
            "# itself picks the zero rows with torch.randperm from the global RNG (it ignores\n"
            "# `generator` there), so its result could not be reproduced from a seed.\n"
            "if tensor.dim() != 2:\n"
            '    raise ValueError("sparse: only tensors with 2 dimensions are supported")\n'
            "rows, cols = tensor.shape\n"
            'num_zeros = math.ceil(p["sparsity"] * rows)\n'
            'tensor.normal_(0, p["std"], generator=generator)\n'
            "for col in range(cols):\n"
            "    tensor[torch.randperm(rows, generator=generator)[:num_zeros], col] = 0"
        ),
        law_fn=lambda info, p: Mixture(
            (
                (_sparse_zero_fraction(info, p["sparsity"]), PointMass(0.0)),
                (1 - _sparse_zero_fraction(info, p["sparsity"]), Normal(0.0, p["std"])),
            )
        ),
        worked_fn=lambda info, p: (
            rf"{_n(_sparse_zero_fraction(info, p['sparsity']))}\ \text{{zeros}},\quad"
            rf"\sigma = {_n(p['std'])}\sqrt{{1 - {_n(_sparse_zero_fraction(info, p['sparsity']))}}} = "
            rf"{_n(p['std'] * math.sqrt(1 - _sparse_zero_fraction(info, p['sparsity'])))}"
        ),
        min_dims=2,
        max_dims=2,
        paper="Martens 2010, Deep learning via Hessian-free optimization",
    ),
)

SCHEMES: dict[str, Scheme] = {s.name: s for s in _SCHEME_LIST}


def get_scheme(name: str) -> Scheme:
    """The registered scheme `name`, or PlanError listing the known ones.

    Args:
        name: a scheme's name, torch.nn.init's without the trailing underscore
            ("kaiming_normal"), or one of pinit's ("default", "lecun_normal").

    Returns:
        The Scheme: its parameters and defaults, its fill, its law and its formula.

    Raises:
        PlanError: for a name that is not registered, listing the known ones.

    Example:
        >>> import pinit
        >>> he = pinit.get_scheme("kaiming_normal")
        >>> [p.name for p in he.params]
        ['a', 'mode', 'nonlinearity']
        >>> round(he.expected_std((50, 100), {"nonlinearity": "relu"}), 4)  # √2 / √100
        0.1414
    """
    try:
        return SCHEMES[name]
    except (KeyError, TypeError):
        raise PlanError(f"unknown scheme {name!r}; known schemes: {', '.join(SCHEMES)}") from None
