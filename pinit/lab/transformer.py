"""The transformer lab: what init does to a small GPT (pinit.models.TinyGPT) at step 0.

Presets, as plain plan dicts built from the model's options (`transformer_presets`):

* **PyTorch default**: Linear U(±1/√fan_in) with its default bias, Embedding N(0, 1),
  LayerNorm weight 1, bias 0 (what the constructors draw). With the head tied to the
  embedding, the logits get std ~√d_model: a loss far above ln(vocab) at step 0.
* **GPT-2** (Radford et al. 2019, as nanoGPT writes it): every Linear and Embedding weight
  N(0, 0.02²), biases 0, LayerNorm 1 and 0, and the two layers that write into the
  residual stream (``attn.proj`` and ``mlp.fc2``) N(0, (0.02/√(2·n_layer))²).
* **N(0, 0.02) without the scaling**: the same, residual projections unscaled.
* **μP's choices** (Yang et al. 2021, "Tensor Programs V", §D.2): the GPT-2 init with the
  query weights zero (attention is uniform at init, whatever the width) and a zero readout
  (only possible with an untied head: tied to the embedding, zeroing it would zero the
  tokens; the preset says so). μP's attention scale 1/d_head instead of 1/√d_head is an
  architecture choice, not an init: `attention_stats(..., scale="1/d_head")` shows it.

Why the residual scaling: with pre-LayerNorm blocks each block adds
f(LN(x)) to the stream x, and LN(x) has unit variance whatever the scale of x, so every
block adds a roughly independent contribution of the same variance c::

    var(x_L) ≈ var(x_0) + L·c        (x_L: the stream after L blocks)

so the stream's std grows like √L. Scaling the two residual projections by 1/√(2·n_layer)
divides c by 2·n_layer (each block has 2 of them), so var(x_n_layer) ≈ var(x_0) + c/2 for
every depth: the stream at the top stays level as the model gets deeper.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch
from torch import nn

from ..checks import whole_number
from ..models import CausalSelfAttention, TinyGPT
from ..setup import Setup
from .capture import capture_outputs
from .probes import probe_batch

__all__ = [
    "ATTENTION_SCALES",
    "GPT2_STD",
    "TransformerPreset",
    "TransformerReport",
    "attention_stats",
    "gpt2_plan",
    "layernorm_summary",
    "mup_plan",
    "pytorch_default_plan",
    "residual_projections",
    "residual_stream_std",
    "transformer_presets",
    "transformer_report",
]

GPT2_STD = 0.02
ATTENTION_SCALES = ("1/sqrt(d_head)", "1/d_head")

_LN = {"weight": {"scheme": "ones"}, "bias": {"scheme": "zeros"}}


def _n_layer(n_layer: Any) -> int:
    return whole_number("n_layer", n_layer, 1, 48)


def residual_projections(n_layer: int) -> list[str]:
    """The weights that write into the residual stream: blocks.{i}.attn.proj and blocks.{i}.mlp.fc2."""
    return [f"blocks.{i}.{layer}.weight" for i in range(_n_layer(n_layer)) for layer in ("attn.proj", "mlp.fc2")]


def pytorch_default_plan() -> dict[str, Any]:
    """What TinyGPT's constructors draw, as a plan: Linear default, Embedding N(0, 1), LayerNorm 1 and 0."""
    return {
        "rules": {
            "Linear": {"weight": {"scheme": "default"}, "bias": {"scheme": "default"}},
            "Embedding": {"weight": {"scheme": "normal", "mean": 0.0, "std": 1.0}},
            "LayerNorm": dict(_LN),
        },
        "overrides": {},
    }


def gpt2_plan(n_layer: int, scaled: bool = True, std: float = GPT2_STD) -> dict[str, Any]:
    """GPT-2's init: N(0, std²) weights, zero biases, LayerNorm 1/0; residual projections std/√(2·n_layer).

    With `scaled=False` the residual projections keep N(0, std²) like every other weight.
    """
    n_layer = _n_layer(n_layer)
    normal = {"scheme": "normal", "mean": 0.0, "std": float(std)}
    plan: dict[str, Any] = {
        "rules": {
            "Linear": {"weight": dict(normal), "bias": {"scheme": "zeros"}},
            "Embedding": {"weight": dict(normal)},
            "LayerNorm": dict(_LN),
        },
        "overrides": {},
    }
    if scaled:
        small = {"scheme": "normal", "mean": 0.0, "std": float(std) / math.sqrt(2 * n_layer)}
        plan["overrides"] = {name: dict(small) for name in residual_projections(n_layer)}
    return plan


def mup_plan(n_layer: int, tie_weights: bool = True) -> tuple[dict[str, Any], str]:
    """GPT-2's init plus μP's zero query and, for an untied head, zero readout: (plan, note in words)."""
    plan = gpt2_plan(n_layer)
    for i in range(_n_layer(n_layer)):
        plan["overrides"][f"blocks.{i}.attn.q.weight"] = {"scheme": "zeros"}
        plan["overrides"][f"blocks.{i}.attn.q.bias"] = {"scheme": "zeros"}
    if tie_weights:
        note = (
            "The head is tied to the token embedding (one tensor, wte.weight), so the readout cannot be zero "
            "without zeroing every token: this preset zeros the query only."
        )
    else:
        plan["overrides"]["head.weight"] = {"scheme": "zeros"}
        note = "Zero query and zero readout: the logits are exactly 0 at step 0 (loss ln(vocab))."
    return plan, note


@dataclass(frozen=True)
class TransformerPreset:
    label: str
    plan: dict[str, Any]
    lesson: str


def transformer_presets(n_layer: int, tie_weights: bool = True) -> dict[str, TransformerPreset]:
    """The lab's presets for a TinyGPT of `n_layer` blocks, as plain plan dicts (see the module docstring)."""
    n_layer = _n_layer(n_layer)
    mup, note = mup_plan(n_layer, tie_weights)
    factor = math.sqrt(2 * n_layer)
    presets = [
        TransformerPreset(
            "GPT-2",
            gpt2_plan(n_layer),
            f"N(0, 0.02²) everywhere, residual projections N(0, (0.02/√{2 * n_layer} = {GPT2_STD / factor:.4f})²): "
            "each block adds 1/(2·n_layer) of the variance it would add unscaled, so the top of the stream "
            "is the same at any depth.",
        ),
        TransformerPreset(
            "N(0, 0.02), no residual scaling",
            gpt2_plan(n_layer, scaled=False),
            "Every block adds the same variance to the residual stream, so its std grows like √(blocks).",
        ),
        TransformerPreset(
            "PyTorch default",
            pytorch_default_plan(),
            "nn.Embedding draws N(0, 1); tied to the head, that makes logits of std ~√d_model at step 0.",
        ),
        TransformerPreset("μP: zero query (+ zero readout)", mup, note),
    ]
    return {p.label: p for p in presets}


# ------------------------------------------------------------------------------ measurements


def _as_double(t: torch.Tensor) -> torch.Tensor:
    """A captured output detached and in float64, for the statistics (a copy: later in-place ops can't touch it)."""
    return t.detach().double()


def _blocks(model: nn.Module) -> list[nn.Module]:
    blocks = getattr(model, "blocks", None)
    if not isinstance(blocks, (nn.ModuleList, nn.Sequential)) or len(blocks) == 0:
        raise ValueError(
            f"{type(model).__name__} has no `blocks` list of residual blocks; residual_stream_std needs a model "
            "like pinit.TinyGPT whose forward runs x = block(x) for each block in model.blocks"
        )
    return list(blocks)


@torch.no_grad()
def residual_stream_std(model: nn.Module, inputs: torch.Tensor) -> pd.DataFrame:
    """The std of the residual stream entering the first block and after each block.

    One row per point: ``index`` (0 = the embeddings entering blocks.0, i = after block i),
    ``layer`` ("embeddings", "blocks.0", ...), ``std`` (over every entry of the (B, T, d)
    stream, unbiased), ``var`` = std², ``ratio`` = std / std after the first block (the law
    of the module docstring: √((var_0 + L·c) / (var_0 + c)) without residual scaling).
    Runs in eval mode under no_grad; the model's modes are restored.
    """
    blocks = _blocks(model)
    with capture_outputs(
        model,
        [(f"blocks.{i}", b) for i, b in enumerate(blocks)],
        keep=_as_double,
        batch_stats=False,
        inputs_of=[("embeddings", blocks[0])],
    ) as calls:
        model(inputs)
    seen = [c.value for c in calls]
    stds = [float(t.std()) for t in seen]
    rows = [
        {
            "index": i,
            "layer": "embeddings" if i == 0 else f"blocks.{i - 1}",
            "std": s,
            "var": s * s,
            "ratio": s / stds[1] if len(stds) > 1 and stds[1] > 0 else math.nan,
        }
        for i, s in enumerate(stds)
    ]
    return pd.DataFrame(rows, columns=["index", "layer", "std", "var", "ratio"])


def _scale_value(scale: str, d_head: int) -> float:
    if scale not in ATTENTION_SCALES:
        raise ValueError(f"scale must be one of {', '.join(ATTENTION_SCALES)}, got {scale!r}")
    return d_head**-0.5 if scale == "1/sqrt(d_head)" else 1.0 / d_head


@torch.no_grad()
def attention_stats(model: nn.Module, inputs: torch.Tensor, scale: str = "1/sqrt(d_head)") -> pd.DataFrame:
    """Per attention layer at init: the std of the attention logits and the attention entropy.

    Logits ``q·k · scale`` for every (batch, head, query i, key j ≤ i) pair, with q and k
    the layer's own query and key outputs and `scale` 1/√d_head (Vaswani et al. 2017) or
    1/d_head (μP, Yang et al. 2021, which keeps the logits O(1) as d_head grows once q and
    k become correlated in training). For q, k entries of std σ_q, σ_k, independent:
    std(logit) = σ_q·σ_k·√d_head·scale. Entropy of softmax over the causal keys,
    H_i = −Σ_j p_ij ln p_ij, averaged over batch, heads and positions, next to the most it
    can be, the mean of ln(i + 1) (uniform attention). Columns: ``layer``, ``logit_std``,
    ``q_std``, ``k_std``, ``entropy``, ``max_entropy``, ``entropy_ratio`` (entropy / max).
    """
    layers = [(name, m) for name, m in model.named_modules() if isinstance(m, CausalSelfAttention)]
    if not layers:
        raise ValueError(
            f"{type(model).__name__} has no pinit CausalSelfAttention layers (separate q, k, v, proj): "
            "attention_stats reads their q and k outputs"
        )
    watched = [(f"{name}.{part}", getattr(attn, part)) for name, attn in layers for part in ("q", "k")]
    with capture_outputs(model, watched, keep=_as_double, batch_stats=False) as calls:
        model(inputs)
    captured = {c.name: c.value for c in calls}
    rows = []
    for name, attn in layers:
        q, k = captured[f"{name}.q"], captured[f"{name}.k"]
        b, t, _ = q.shape
        qh = q.view(b, t, attn.n_head, attn.d_head).transpose(1, 2)
        kh = k.view(b, t, attn.n_head, attn.d_head).transpose(1, 2)
        logits = (qh @ kh.transpose(-2, -1)) * _scale_value(scale, attn.d_head)
        causal = torch.ones(t, t, dtype=torch.bool).tril()
        p = logits.masked_fill(~causal, float("-inf")).softmax(dim=-1)
        entropy = -(p * torch.log(p.clamp_min(1e-300))).masked_fill(~causal, 0.0).sum(dim=-1)
        max_entropy = float(torch.log(torch.arange(1, t + 1, dtype=torch.float64)).mean())
        h = float(entropy.mean())
        rows.append(
            {
                "layer": name,
                "logit_std": float(logits[..., causal].std()),
                "q_std": float(q.std()),
                "k_std": float(k.std()),
                "entropy": h,
                "max_entropy": max_entropy,
                "entropy_ratio": h / max_entropy if max_entropy > 0 else math.nan,
            }
        )
    return pd.DataFrame(
        rows, columns=["layer", "logit_std", "q_std", "k_std", "entropy", "max_entropy", "entropy_ratio"]
    )


def layernorm_summary(model: nn.Module) -> pd.DataFrame:
    """One row per LayerNorm: ``layer``, ``weight_mean``, ``weight_std``, ``bias_mean``, ``bias_std``, ``default``.

    ``default`` is True when the weight is exactly 1 and the bias exactly 0 (PyTorch's and
    GPT-2's init): then LayerNorm's output has mean 0 and std 1 per token at step 0.
    """
    rows = []
    for name, m in model.named_modules():
        if not isinstance(m, nn.LayerNorm):
            continue
        w = m.weight.detach().double() if m.weight is not None else torch.ones(1, dtype=torch.float64)
        b = m.bias.detach().double() if m.bias is not None else torch.zeros(1, dtype=torch.float64)
        rows.append(
            {
                "layer": name,
                "weight_mean": float(w.mean()),
                "weight_std": float(w.std()) if w.numel() > 1 else 0.0,
                "bias_mean": float(b.mean()),
                "bias_std": float(b.std()) if b.numel() > 1 else 0.0,
                "default": bool((w == 1).all() and (b == 0).all()),
            }
        )
    return pd.DataFrame(rows, columns=["layer", "weight_mean", "weight_std", "bias_mean", "bias_std", "default"])


# ------------------------------------------------------------------------------ one call for a page


@dataclass(frozen=True)
class TransformerReport:
    """Everything the transformer view shows for one (options, plan, seed): plain data, cacheable."""

    options: Mapping[str, Any]
    seed: int
    n: int
    scale: str
    residual: pd.DataFrame
    attention: pd.DataFrame
    layernorm: pd.DataFrame
    loss: float
    logits_std: float

    @property
    def chance_loss(self) -> float:
        return math.log(int(self.options["vocab"]))


def transformer_report(setup: Setup, n: int = 16, scale: str = "1/sqrt(d_head)") -> TransformerReport:
    """Build the setup's TinyGPT (constructor init from its seed), apply its plan, and measure it on
    `n` random token sequences.

    ``loss`` is the mean next-token cross-entropy on those (random) tokens: ln(vocab) for
    logits that say nothing, far above it for large logits. ValueError when the setup's model
    is not TinyGPT; PlanError / ValueError for a plan or options that do not fit.
    """
    n = whole_number("n", n, 1, 256)
    _scale_value(scale, 1)
    if setup.model != "TinyGPT":
        raise ValueError(f"transformer_report measures TinyGPT; the setup's model is {setup.model!r}")
    seed = setup.seed
    model = setup.build()
    assert isinstance(model, TinyGPT)
    x = probe_batch(model, n, seed)
    with torch.no_grad():
        logits = model(x)
        loss = float(model.loss(x))
    opts = {k: getattr(model, k) for k in ("n_layer", "d_model", "n_head", "vocab", "seq_len")}
    return TransformerReport(
        opts,
        int(seed),
        n,
        scale,
        residual_stream_std(model, x),
        attention_stats(model, x, scale),
        layernorm_summary(model),
        loss,
        float(logits.double().std()),
    )
