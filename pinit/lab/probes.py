"""Probes: what an init does to the signal going forward and the gradient coming back.

* `probe_batch` / `probe_targets`: a fixed, seeded N(0, 1) input batch and random labels,
  drawn from a local `torch.Generator` (the global RNG is never touched).
* `activation_stats`: one row per leaf-module call, in forward order, with the output's
  mean, std, fraction of exact zeros and a histogram binned here (counts and edges only).
* `gradient_stats`: one row per parameter after one backward pass of cross-entropy.
* `predicted_std_trend`: the std each Linear layer's output should have, from the
  mean-field variance recursion (LeCun et al. 1998; Glorot & Bengio 2010; He et al. 2015;
  Poole et al. 2016), to draw beside the measured one.

The probes run the model in `probe_mode`: eval mode (dropout off, so they are
deterministic), with batch norm normalizing by the batch's own statistics as the first
training step does (`batch_stats=False`: batch norm on its running statistics, which at
init pass the signal through unchanged). Buffers, each module's own mode and the .grad
fields are restored afterwards (gradients are taken with torch.autograd.grad, which never
writes .grad).

Any model: its output may be a tensor, a Hugging Face ModelOutput (its ``.logits``), a
tuple or a dict (the first floating tensor); `capture.model_output` says which. Its input
is ``model.input_shape`` (with ``input_vocab`` for token ids) when set, else inferred from
the first layer (`infer_input`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from .. import checks
from ..checks import whole_number
from ..plan import InitPlan, assignments
from ..stats import MAX_BINS, histogram, summarize
from .capture import Captured, capture_outputs, leaves, model_output, probe_mode

__all__ = [
    "ACTIVATION_COLUMNS",
    "DEFAULT_IMAGE_SIZE",
    "DEFAULT_SEQ_LEN",
    "MAX_PROBE",
    "activation_second_moment",
    "activation_stats",
    "activation_table",
    "describe_output",
    "gradient_stats",
    "infer_input",
    "num_classes",
    "predicted_std_trend",
    "probe_batch",
    "probe_targets",
]

MAX_PROBE = 4096  # the largest probe batch: activations of SimpleCNN at n=4096 take ~1 GB


def _check_n(n: Any) -> int:
    return whole_number("n", n, 1, MAX_PROBE)


def _check_seed(seed: Any) -> int:
    return checks.seed(seed)


def _model_attr(model: nn.Module, attr: str, what: str) -> Any:
    value = getattr(model, attr, None)
    if value is None:
        raise ValueError(
            f"{type(model).__name__} has no `{attr}` attribute, so pinit cannot tell {what}; "
            f"set model.{attr} or build the tensor yourself"
        )
    return value


# An image model's side when it says none (no input_shape, image_size or timm input_size). Small, because
# the probe runs a forward and a backward pass on every Signal flow: 64 images of 224x224 through a
# ResNet-18 are 12x the work of 64x64, which a ResNet takes as well (its pooling adapts).
DEFAULT_IMAGE_SIZE = 64
DEFAULT_SEQ_LEN = 16  # token ids per sequence for a model that reads tokens and says no length


_INPUT_LAYERS = (nn.Embedding, nn.Conv1d, nn.Conv2d, nn.Linear)


def _first_layer(model: nn.Module) -> tuple[str, nn.Module] | None:
    """The first input-reading layer (Embedding, Conv1d, Conv2d, Linear) in named_modules order, else
    the first module holding parameters (a ViT's class token sits before its patch Conv2d)."""
    first = None
    for name, m in model.named_modules():
        if isinstance(m, _INPUT_LAYERS):
            return name or "(model)", m
        if first is None and next(m.parameters(recurse=False), None) is not None:
            first = (name or "(model)", m)
    return first


def _image_side(model: nn.Module) -> int | None:
    """The image side a model declares: ``image_size`` / ``img_size`` on it or its ``config`` (Hugging Face,
    torchvision's ViT), or the ``input_size`` of timm's ``pretrained_cfg``."""
    side = _config_int(model, "image_size", "img_size")
    if side is not None:
        return side
    cfg = getattr(model, "pretrained_cfg", None) or getattr(model, "default_cfg", None)
    size = cfg.get("input_size") if isinstance(cfg, Mapping) else None
    return int(size[-1]) if isinstance(size, (tuple, list)) and size and isinstance(size[-1], int) else None


def _config_int(model: nn.Module, *names: str) -> int | None:
    """An int attribute of the model or of its Hugging Face style ``config``."""
    for owner in (model, getattr(model, "config", None)):
        for n in names:
            v = getattr(owner, n, None)
            if isinstance(v, int) and not isinstance(v, bool) and v > 0:
                return v
            if isinstance(v, (tuple, list)) and v and all(isinstance(i, int) for i in v):
                return int(v[0])
    return None


def infer_input(model: nn.Module) -> tuple[tuple[int, ...], int | None, str]:
    """(shape of one example, vocabulary or None, how it was found) for `probe_batch`.

    ``model.input_shape`` (and ``model.input_vocab`` for token ids) when set. Otherwise the
    first Embedding, Conv1d, Conv2d or Linear (named_modules order) decides: an Embedding reads token
    ids (``DEFAULT_SEQ_LEN`` of them, ids below its num_embeddings); a Conv2d reads images
    (in_channels x S x S, S from ``model.image_size``, ``model.config.image_size`` or timm's
    ``pretrained_cfg["input_size"]``, else ``DEFAULT_IMAGE_SIZE``, 64); a Conv1d reads
    (in_channels, DEFAULT_SEQ_LEN); a Linear reads vectors of in_features. Anything else:
    ValueError asking for ``input_shape``.
    """
    shape = getattr(model, "input_shape", None)
    if shape is not None:
        vocab = getattr(model, "input_vocab", None)
        return tuple(int(d) for d in shape), None if vocab is None else int(vocab), "model.input_shape"
    first = _first_layer(model)
    name, layer = first if first is not None else ("", None)
    if isinstance(layer, nn.Embedding):
        seq = min(DEFAULT_SEQ_LEN, _config_int(model, "n_positions", "max_position_embeddings") or DEFAULT_SEQ_LEN)
        return (seq,), layer.num_embeddings, f"token ids: its first layer {name} is an Embedding"
    if isinstance(layer, nn.Conv2d):
        side = _image_side(model) or DEFAULT_IMAGE_SIZE
        shape = (layer.in_channels, side, side)
        return shape, None, f"images {'x'.join(map(str, shape))}: its first layer {name} is a Conv2d"
    if isinstance(layer, nn.Conv1d):
        return (layer.in_channels, DEFAULT_SEQ_LEN), None, f"sequences: its first layer {name} is a Conv1d"
    if isinstance(layer, nn.Linear):
        return (layer.in_features,), None, f"vectors: its first layer {name} is a Linear"
    what = f"its first layer {name} is a {type(layer).__name__}" if layer is not None else "it has no parameters"
    raise ValueError(
        f"{type(model).__name__} has no `input_shape` attribute and pinit cannot infer its input ({what}); "
        f"set model.input_shape = (C, H, W) or (features,) or (seq_len,) (with model.input_vocab for token ids) "
        f"in your factory"
    )


def probe_batch(model: nn.Module, n: int = 64, seed: int = 0) -> torch.Tensor:
    """A fixed batch of shape (n, *input shape) with entries iid N(0, 1), or token ids.

    The input shape is `infer_input`'s: ``model.input_shape`` when set, else inferred from
    the first layer. Drawn from a `torch.Generator` seeded with `seed`, so the same
    (shape, n, seed) gives the same tensor and the global RNG is untouched. Unit variance
    inputs are the assumption of every variance argument (E[x^2] = 1 at the first layer).
    A model that reads token ids (an Embedding first, like TinyGPT, or an integer
    ``input_vocab`` attribute) gets int64 ids uniform in [0, vocab).

    Args:
        model: the model the batch is for.
        n: the batch size, 1 to MAX_PROBE.
        seed: the generator's seed.

    Returns:
        A float32 tensor of shape (n, *input shape), or int64 token ids.

    Example:
        >>> import pinit
        >>> x = pinit.probe_batch(pinit.build_model("SimpleCNN"), n=8)
        >>> x.shape, x.dtype
        (torch.Size([8, 3, 32, 32]), torch.float32)
        >>> pinit.probe_batch(pinit.build_model("TinyGPT"), n=2).dtype
        torch.int64
    """
    shape, vocab, _ = infer_input(model)
    g = torch.Generator().manual_seed(_check_seed(seed))
    if vocab is not None:
        return torch.randint(0, int(vocab), (_check_n(n), *shape), generator=g)
    return torch.randn((_check_n(n), *shape), generator=g)


def num_classes(model: nn.Module) -> int:
    """``model.num_classes``, else the out_features of the last Linear (named_modules order): the head."""
    classes = getattr(model, "num_classes", None)
    if classes is not None:
        return int(classes)
    heads = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if heads:
        return int(heads[-1].out_features)
    return int(_model_attr(model, "num_classes", "how many classes it predicts"))


def probe_targets(model: nn.Module, n: int = 64, seed: int = 0) -> torch.Tensor:
    """n class labels (int64), uniform over range(classes), from a seeded generator.

    classes is ``model.num_classes``, else the out_features of the model's last Linear
    (named_modules order; the head of a classifier or a language model). Uses a generator
    seeded with `seed + 1` so the labels are not drawn from the same stream as
    `probe_batch(model, n, seed)`.

    Args:
        model: the model the labels are for.
        n: how many, 1 to MAX_PROBE.
        seed: the seed of the matching probe_batch.

    Returns:
        An int64 tensor of shape (n,).

    Example:
        >>> import pinit
        >>> y = pinit.probe_targets(pinit.build_model("SimpleCNN"), n=1000)
        >>> y.shape, y.dtype, int(y.min()), int(y.max())
        (torch.Size([1000]), torch.int64, 0, 9)
    """
    classes = num_classes(model)
    g = torch.Generator().manual_seed((_check_seed(seed) + 1) % 2**63)
    return torch.randint(0, classes, (_check_n(n),), generator=g)


def activation_stats(model: nn.Module, inputs: torch.Tensor, bins: int = 40, batch_stats: bool = True) -> pd.DataFrame:
    """Run `inputs` through `model` once and describe every leaf module's output.

    One row per call of a module with no children (Conv2d, ReLU, MaxPool2d, Linear,
    ...), in the order the forward pass calls them; a module called twice gives two rows.
    Columns:

    - ``layer`` (name from named_modules; "(model)" for a model that is itself a leaf),
      ``type`` (class name), ``depth`` (1-based call index), ``shape`` (output shape)
    - ``mean``, ``std`` (unbiased), ``min``, ``max`` over the finite entries,
      ``rms`` = sqrt(mean^2 + std^2) (what variance recursions predict),
      ``zero_fraction`` (exact zeros / all entries: dead ReLUs, zero init)
    - ``nonfinite`` (NaN and +-Inf entries: counted, never binned), ``constant``
    - ``counts`` and ``edges``: `bins` equal bins over the output's own [min, max]
      (torch.histc; a constant output gets a one-unit range with v in the middle of a bin).

    ``df.attrs["input_std"]`` and ``["input_mean"]`` describe `inputs`, for ratios.
    Runs under torch.no_grad() in `probe_mode` (eval; batch norm on the batch's statistics
    unless `batch_stats` is False); modes and buffers restored and hooks removed even if
    the forward pass raises. For a tuple output the first floating tensor is described.
    """
    whole_number("bins", bins, 1, MAX_BINS)
    if not isinstance(inputs, torch.Tensor):
        raise ValueError(f"inputs must be a torch tensor, got {type(inputs).__name__}")
    keep = lambda t: describe_output(t, bins)
    with capture_outputs(model, keep=keep, batch_stats=batch_stats) as calls, torch.no_grad():
        model(inputs)
    return activation_table(calls, inputs)


ACTIVATION_COLUMNS = [
    "layer",
    "type",
    "depth",
    "shape",
    "mean",
    "std",
    "rms",
    "min",
    "max",
    "zero_fraction",
    "nonfinite",
    "constant",
    "counts",
    "edges",
]


def describe_output(t: torch.Tensor, bins: int) -> dict[str, Any]:
    """One module output's numbers: activation_stats' columns from ``shape`` to ``edges``."""
    t = t.detach()
    h = histogram(t, bins)
    s = h.summary
    return {
        "shape": tuple(t.shape),
        "mean": s.mean,
        "std": s.std,
        "rms": math.sqrt(s.mean**2 + s.std**2) if s.finite else math.nan,
        "min": s.min,
        "max": s.max,
        "zero_fraction": float((t == 0).sum()) / max(t.numel(), 1),
        "nonfinite": s.nonfinite,
        "constant": s.constant,
        "counts": h.counts,
        "edges": h.edges,
    }


def activation_table(calls: list[Captured], inputs: torch.Tensor) -> pd.DataFrame:
    """activation_stats' table from captured calls whose values are `describe_output` dicts."""
    rows = [
        {"layer": c.name, "type": type(c.module).__name__, "depth": i, **c.value} for i, c in enumerate(calls, start=1)
    ]
    df = pd.DataFrame(rows, columns=ACTIVATION_COLUMNS)
    s = summarize(inputs)
    df.attrs.update(input_mean=s.mean, input_std=s.std)
    return df


def gradient_stats(
    model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, batch_stats: bool = True
) -> pd.DataFrame:
    """One row per parameter (named_parameters order): the gradient of one cross-entropy pass.

    loss = mean over the batch of cross_entropy(model(inputs), targets); the gradient
    dloss/dw is taken with torch.autograd.grad, so the model's .grad fields and
    parameters are exactly as before. Columns: ``name``, ``shape``, ``grad_mean``,
    ``grad_std`` (unbiased; 0 for one entry), ``grad_norm`` (L2), ``grad_nonfinite``,
    ``weight_std``, ``grad_to_weight`` = grad_std / weight_std (NaN where weight_std is 0:
    a constant tensor has no scale to compare with). A parameter the loss does not use
    has gradient 0; one with requires_grad=False gets NaN. ``df.attrs["loss"]`` is the loss.

    The logits are `capture.model_output`'s (a ModelOutput's .logits, a tuple's first
    tensor); a sequence model's (B, T, C) logits are taken at the last position, T - 1
    (the next-token prediction). ``df.attrs["output"]`` says which. Runs in `probe_mode`
    (see the module docstring), modes and buffers restored.
    """
    if not isinstance(inputs, torch.Tensor) or not isinstance(targets, torch.Tensor):
        raise ValueError("inputs and targets must be torch tensors")
    if targets.dim() != 1 or targets.dtype != torch.int64 or targets.shape[0] != inputs.shape[0]:
        raise ValueError(
            f"targets must be int64 class indices of shape ({inputs.shape[0]},), "
            f"got {targets.dtype} of shape {tuple(targets.shape)}"
        )
    named = list(model.named_parameters())
    trainable = [p for _, p in named if p.requires_grad]
    with torch.enable_grad(), probe_mode(model, batch_stats):
        logits, which = model_output(model(inputs))
        if logits.dim() > 2 and logits.shape[0] == inputs.shape[0]:
            logits, which = logits[:, -1], f"{which}, at the last position"
        if logits.dim() != 2 or not 0 <= int(targets.min()) <= int(targets.max()) < logits.shape[1]:
            raise ValueError(
                f"targets must lie in 0..{logits.shape[-1] - 1} for logits of shape "
                f"{tuple(logits.shape)}, got {int(targets.min())}..{int(targets.max())}"
            )
        loss = F.cross_entropy(logits, targets)
        grads = torch.autograd.grad(loss, trainable, allow_unused=True) if trainable else ()
    by_id = {id(p): g for p, g in zip(trainable, grads)}
    rows = []
    for name, p in named:
        w = summarize(p)
        row: dict[str, Any] = {"name": name, "shape": tuple(p.shape), "weight_std": w.std}
        if not p.requires_grad:
            row.update(grad_mean=math.nan, grad_std=math.nan, grad_norm=math.nan, grad_nonfinite=0)
        else:
            g = by_id[id(p)]
            g = torch.zeros_like(p) if g is None else g.detach()
            s = summarize(g)
            row.update(
                grad_mean=s.mean,
                grad_std=s.std,
                grad_norm=float(torch.linalg.vector_norm(g.double())),
                grad_nonfinite=s.nonfinite,
            )
        row["grad_to_weight"] = row["grad_std"] / w.std if w.std > 0 else math.nan
        rows.append(row)
    columns = ["name", "shape", "grad_mean", "grad_std", "grad_norm", "grad_nonfinite", "weight_std", "grad_to_weight"]
    df = pd.DataFrame(rows, columns=columns)
    df.attrs["loss"] = float(loss.detach())
    df.attrs["output"] = which
    return df


# ---------------------------------------------------------------- predicted trend

_EXACT = {nn.Identity: 1.0, nn.Dropout: 1.0, nn.ReLU: 0.5}  # E[phi(y)^2] / q, exact for these
_ELEMENTWISE = (
    nn.Identity,
    nn.Dropout,
    nn.ReLU,
    nn.LeakyReLU,
    nn.Tanh,
    nn.Sigmoid,
    nn.GELU,
    nn.SiLU,
    nn.ELU,
    nn.SELU,
    nn.CELU,
    nn.Softplus,
    nn.Mish,
    nn.Hardtanh,
    nn.ReLU6,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.Softsign,
    nn.Tanhshrink,
)
_HERMITE_X, _HERMITE_W = np.polynomial.hermite.hermgauss(121)


def activation_second_moment(activation: nn.Module, q: float) -> float:
    """E[phi(y)^2] for y ~ N(0, q): the second moment the next layer receives.

    Exact for Identity and Dropout in eval mode (q), ReLU (q / 2) and LeakyReLU(a)
    ((1 + a^2) q / 2); for a smooth phi (tanh, sigmoid, ...) the Gaussian integral by
    121-point Gauss-Hermite quadrature,
    E[phi(y)^2] = sum_i w_i phi(sqrt(2 q) x_i)^2 / sqrt(pi).
    tanh passes almost all of a small signal (tanh'(0) = 1, so the ratio tends to 1
    as q -> 0) but only 0.394 of a unit-variance one: saturation.
    """
    if not isinstance(activation, _ELEMENTWISE):
        raise ValueError(
            f"{type(activation).__name__} is not an elementwise activation pinit knows: "
            f"use one of {', '.join(c.__name__ for c in _ELEMENTWISE)}"
        )
    if not q >= 0:
        raise ValueError(f"q must be a variance >= 0, got {q!r}")
    for cls, ratio in _EXACT.items():
        if type(activation) is cls:
            return ratio * q
    if type(activation) is nn.LeakyReLU:
        return (1.0 + activation.negative_slope**2) / 2 * q
    y = torch.tensor(math.sqrt(2 * q) * _HERMITE_X, dtype=torch.float64)
    with torch.no_grad():
        phi2 = activation(y).double().pow(2).numpy()
    return float((_HERMITE_W * phi2).sum() / math.sqrt(math.pi))


def predicted_std_trend(
    model: nn.Module, plan: InitPlan | Mapping[str, Any] | None = None, input_std: float = 1.0
) -> pd.DataFrame:
    """The output std each Linear layer of a chain (like DeepMLP) should have.

    For y = W x + b with W's entries iid, zero-mean and independent of x (LeCun et al.
    1998; Glorot & Bengio 2010, eq. 5; He et al. 2015, eq. 7)::

        E[y^2] = fan_in * E[w^2] * E[x^2] + E[b^2],   x = phi(y_prev),
        E[x^2] = activation_second_moment(phi, E[y_prev^2])   (y_prev taken as Gaussian),

    starting from E[x^2] = input_std^2 at the first layer (probe_batch's inputs). With
    equal widths and zero biases the per-layer variance multiplier is
    fan_in * E[w^2] * E[phi(y)^2] / E[y^2]: ReLU + He (E[w^2] = 2/fan_in): 1;
    ReLU + Xavier (1/fan_in when fan_in = fan_out): 1/2, so the std falls by 2^(-1/2)
    per layer; tanh + Xavier: between 0.39 (at E[y^2] = 1) and 1 (small signals), so
    it settles into a slow decline; tanh + U(+-1/sqrt(fan_in)) (E[w^2] = 1/(3 fan_in)):
    at most 1/3. Taking pre-activations as Gaussian is the mean-field approximation
    (Poole et al. 2016), good for wide layers; a finite net wanders around this line by
    a few percent per layer.

    E[w^2] and E[b^2] come from the plan's law for each parameter the plan reaches,
    else from the tensor itself (``source`` column: "plan" or "measured"). A weight whose
    mean is more than 10% of its RMS (constant, ones, a normal with a mean) breaks the
    zero-mean assumption: that layer and every later one get NaN and a ``note``.

    Returns one row per Linear: ``layer``, ``fan_in``, ``weight_m2`` (E[w^2]),
    ``bias_m2``, ``activation_in`` (the activation applied to this layer's input),
    ``multiplier`` (E[y^2] / E[y_prev^2]; for the first layer against input_std^2) and
    ``predicted_std`` = sqrt(E[y^2]), ``source``, ``note``. Leaf modules are taken in
    registration order, which must be the forward order (true for nn.Sequential chains);
    a module other than Linear and elementwise activations raises ValueError, as do two
    activations in a row (the second would not see a Gaussian input).
    """
    checks.finite_number("input_std", input_std, low=0, low_open=True, what="a positive finite number")
    laws: dict[str, Any] = {}
    if plan is not None:
        for a in assignments(model, plan):
            if a.rule is not None:
                laws[a.name] = a.rule.scheme_obj.distribution(a.info, a.rule.params)
    names = {id(p): n for n, p in model.named_parameters()}

    def moments(p: torch.Tensor | None) -> tuple[float, float, str]:
        """(E[v^2], E[v], source) of a parameter: its law's if the plan reaches it, else measured."""
        if p is None:
            return 0.0, 0.0, "none"
        law = laws.get(names.get(id(p), ""))
        if law is not None:
            return law.std**2 + law.mean**2, law.mean, "plan"
        v = p.detach().double()
        return float(v.pow(2).mean()), float(v.mean()), "measured"

    rows = []
    q = float(input_std) ** 2  # E[y^2] of the previous layer (the input at first)
    act: nn.Module | None = None  # the activation between the previous Linear and the next
    note = ""
    for name, module in leaves(model):
        if isinstance(module, nn.Linear):
            w2, w_mean, source = moments(module.weight)
            b2, _, _ = moments(module.bias)
            if not note and w2 > 0 and w_mean**2 > 0.01 * w2:
                note = f"{name}.weight has mean {w_mean:.3g}, not ~0: the variance recursion does not apply"
            if note:
                new_q = math.nan
            else:
                x2 = q if act is None else activation_second_moment(act, q)
                new_q = module.in_features * w2 * x2 + b2
            rows.append(
                {
                    "layer": name,
                    "fan_in": module.in_features,
                    "weight_m2": w2,
                    "bias_m2": b2,
                    "activation_in": "none" if act is None else type(act).__name__,
                    "multiplier": new_q / q if q > 0 else math.nan,
                    "predicted_std": math.sqrt(new_q) if not math.isnan(new_q) else math.nan,
                    "source": source,
                    "note": note,
                }
            )
            q, act = new_q, None
        elif isinstance(module, _ELEMENTWISE):
            if isinstance(module, (nn.Identity, nn.Dropout)):
                continue  # passes the signal on unchanged (dropout in eval mode)
            if act is not None:
                raise ValueError(
                    f"predicted_std_trend needs at most one activation between Linear layers; "
                    f"{name} ({type(module).__name__}) follows {type(act).__name__}"
                )
            act = module
        else:
            raise ValueError(
                f"predicted_std_trend handles chains of Linear layers and elementwise activations "
                f"(like DeepMLP); {name} is a {type(module).__name__}"
            )
    return pd.DataFrame(
        rows,
        columns=[
            "layer",
            "fan_in",
            "weight_m2",
            "bias_m2",
            "activation_in",
            "multiplier",
            "predicted_std",
            "source",
            "note",
        ],
    )
