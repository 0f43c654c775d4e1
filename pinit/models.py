"""The networks pinit knows by name, and `build_model` to make one reproducibly.

* `SimpleCNN` is the network the seed article meant to write: three conv blocks
  (conv 3x3, padding 1 -> ReLU -> MaxPool 2) taking 3x32x32 to 128x4x4, then
  fc1 (2048 -> 512) -> ReLU -> fc2 (512 -> 64) -> ReLU -> fc3 (64 -> 10).
* `ArticleSimpleCNN` is the article's listing exactly as printed: `conv2` is added
  to `layer1`, one Linear is named ``'fc2 '`` (trailing space) and one pool
  ``poo13``. It computes the same function; only the names differ, which is the
  lesson "named_parameters() shows the structure you really built".
* `DeepMLP` is a plain stack of equal-width Linear layers with one activation,
  for the classic depth experiments (Glorot & Bengio 2010, He et al. 2015).
* `WideMLP` (25,194,506 parameters) and `VGGStyle` (105,401,930 parameters) are
  scale tests: they take SimpleCNN's input (3x32x32, 10 classes) and show whether
  the dashboard stays fast and small as the model grows ~20x and ~90x.
* `TinyGPT` is a small decoder-only transformer (pre-LayerNorm GPT-2 blocks, tied
  token embedding and output head) for the transformer lab (pinit.lab.transformer).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from .checks import whole_number
from .text import quote

__all__ = [
    "ACTIVATIONS",
    "DEEP_MLP_RANGES",
    "MODELS",
    "ArticleSimpleCNN",
    "DeepMLP",
    "ModelSpec",
    "SimpleCNN",
    "TinyGPT",
    "VGGStyle",
    "WideMLP",
    "build_model",
]


def _conv_block(conv_name: str, in_ch: int, out_ch: int, relu_name: str, pool_name: str) -> nn.Sequential:
    block = nn.Sequential()
    block.add_module(conv_name, nn.Conv2d(in_ch, out_ch, kernel_size=3, stride=1, padding=1))
    block.add_module(relu_name, nn.ReLU())
    block.add_module(pool_name, nn.MaxPool2d(2, 2))
    return block


def _head(fc2_name: str) -> nn.Sequential:
    head = nn.Sequential()
    head.add_module("fc1", nn.Linear(2048, 512))
    head.add_module("fc_relu1", nn.ReLU())
    head.add_module(fc2_name, nn.Linear(512, 64))
    head.add_module("fc_relu2", nn.ReLU())
    head.add_module("fc3", nn.Linear(64, 10))
    return head


class SimpleCNN(nn.Module):
    """The article's CNN as intended: input (B, 3, 32, 32), output (B, 10) logits.

    12 parameters, 1,175,818 values; fc1 alone holds 1,048,576 of them.
    """

    input_shape = (3, 32, 32)
    num_classes = 10

    def __init__(self) -> None:
        super().__init__()
        self.layer1 = _conv_block("conv1", 3, 32, "relu1", "pool1")  # 32x32 -> 16x16
        self.layer2 = _conv_block("conv2", 32, 64, "relu2", "pool2")  # 16x16 -> 8x8
        self.layer3 = _conv_block("conv3", 64, 128, "relu3", "pool3")  # 8x8 -> 4x4
        self.layer4 = _head("fc2")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer3(self.layer2(self.layer1(x)))
        out: torch.Tensor = self.layer4(x.flatten(1))
        return out


class ArticleSimpleCNN(nn.Module):
    """The article's listing as printed, quirks kept (only the mis-indented return is fixed).

    Parameter names: layer1.conv1.*, layer1.conv2.* (conv2 was added to layer1, so
    layer2 holds only ReLU and pool), layer3.conv3.*, layer4.fc1.*, 'layer4.fc2 .*'
    (a trailing space in the module name), layer4.fc3.*. Same shapes and the same
    function as `SimpleCNN`.
    """

    input_shape = (3, 32, 32)
    num_classes = 10

    def __init__(self) -> None:
        super().__init__()
        layer1 = nn.Sequential()
        layer1.add_module("conv1", nn.Conv2d(3, 32, kernel_size=3, stride=1, padding=1))
        layer1.add_module("relu1", nn.ReLU())
        layer1.add_module("pool1", nn.MaxPool2d(2, 2))
        self.layer1 = layer1
        layer2 = nn.Sequential()
        layer1.add_module("conv2", nn.Conv2d(32, 64, kernel_size=3, stride=1, padding=1))  # sic: layer1
        layer2.add_module("relu2", nn.ReLU())
        layer2.add_module("pool2", nn.MaxPool2d(2, 2))
        self.layer2 = layer2
        layer3 = nn.Sequential()
        layer3.add_module("conv3", nn.Conv2d(64, 128, kernel_size=3, stride=1, padding=1))
        layer3.add_module("relu3", nn.ReLU())
        layer3.add_module("poo13", nn.MaxPool2d(2, 2))  # sic: "poo13"
        self.layer3 = layer3
        self.layer4 = _head("fc2 ")  # sic: trailing space

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer3(self.layer2(self.layer1(x)))
        out: torch.Tensor = self.layer4(x.view(x.size(0), -1))
        return out


ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "leaky_relu": lambda: nn.LeakyReLU(0.01),
    "linear": nn.Identity,
}


# DeepMLP's whole-number options, (low, high) inclusive: its constructor, links, plan files and
# the sidebar's widgets all read them from here (ModelSpec.option_ranges).
DEEP_MLP_RANGES: dict[str, tuple[int, int]] = {"depth": (1, 100), "width": (1, 4096)}


class DeepMLP(nn.Module):
    """`depth` Linear layers of `width` units, each followed by `activation`.

    Layers are named ``layers.fc{i}`` and ``layers.act{i}``; the last Linear maps to
    `num_classes` and has no activation after it. Input: (B, in_features).
    """

    def __init__(
        self,
        depth: int = 10,
        width: int = 256,
        activation: str = "relu",
        in_features: int = 256,
        num_classes: int = 10,
    ) -> None:
        super().__init__()
        depth = whole_number("depth", depth, *DEEP_MLP_RANGES["depth"])
        width = whole_number("width", width, *DEEP_MLP_RANGES["width"])
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {quote(activation)}")
        self.depth, self.width, self.activation = depth, width, activation
        self.input_shape = (in_features,)
        self.num_classes = num_classes
        layers = nn.Sequential()
        fan_in = in_features
        for i in range(1, depth + 1):
            out = num_classes if i == depth else width
            layers.add_module(f"fc{i}", nn.Linear(fan_in, out))
            if i < depth:
                layers.add_module(f"act{i}", ACTIVATIONS[activation]())
            fan_in = out
        self.layers = layers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.layers(x.flatten(1))
        return out


class WideMLP(nn.Module):
    """A wide 4-layer MLP on flattened 3x32x32 images: 25,194,506 parameters (~25M, 96 MiB in float32).

    layers.fc1 (3072 -> 4096) -> ReLU -> fc2 (4096 -> 2048) -> ReLU -> fc3 (2048 -> 2048)
    -> ReLU -> fc4 (2048 -> 10); 8 tensors, fc1.weight alone 12,582,912 values.
    A scale test: about 21x SimpleCNN's values in fewer tensors.
    """

    input_shape = (3, 32, 32)
    num_classes = 10

    def __init__(self) -> None:
        super().__init__()
        layers = nn.Sequential()
        widths = [3 * 32 * 32, 4096, 2048, 2048, 10]
        for i, (fan_in, out) in enumerate(zip(widths[:-1], widths[1:]), start=1):
            layers.add_module(f"fc{i}", nn.Linear(fan_in, out))
            if i < len(widths) - 1:
                layers.add_module(f"relu{i}", nn.ReLU())
        self.layers = layers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.layers(x.flatten(1))
        return out


class VGGStyle(nn.Module):
    """VGG-style CNN for 3x32x32 images: 105,401,930 parameters (~100M, 402 MiB in float32).

    Four blocks of two conv 3x3 (padding 1) + ReLU, 64/128/256/512 channels, with a
    MaxPool(2) after blocks 1-3 (32 -> 16 -> 8 -> 4): 4,685,376 conv parameters. Then a
    big head: classifier.fc1 (8192 -> 8192) -> ReLU -> fc2 (8192 -> 4096) -> ReLU -> fc3
    (4096 -> 10): 100,716,554 parameters, fc1.weight alone 67,108,864. 22 tensors.
    A scale test: about 90x SimpleCNN's values.
    """

    input_shape = (3, 32, 32)
    num_classes = 10

    def __init__(self) -> None:
        super().__init__()
        in_ch = 3
        for b, out_ch in enumerate((64, 128, 256, 512), start=1):
            block = nn.Sequential()
            block.add_module("conv1", nn.Conv2d(in_ch, out_ch, kernel_size=3, padding=1))
            block.add_module("relu1", nn.ReLU())
            block.add_module("conv2", nn.Conv2d(out_ch, out_ch, kernel_size=3, padding=1))
            block.add_module("relu2", nn.ReLU())
            if b < 4:
                block.add_module("pool", nn.MaxPool2d(2, 2))
            setattr(self, f"block{b}", block)
            in_ch = out_ch
        head = nn.Sequential()
        head.add_module("fc1", nn.Linear(512 * 4 * 4, 8192))
        head.add_module("relu1", nn.ReLU())
        head.add_module("fc2", nn.Linear(8192, 4096))
        head.add_module("relu2", nn.ReLU())
        head.add_module("fc3", nn.Linear(4096, 10))
        self.classifier = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for b in range(1, 5):  # block1..block4, registered by name in __init__
            block: nn.Module = getattr(self, f"block{b}")
            x = block(x)
        out: torch.Tensor = self.classifier(x.flatten(1))
        return out


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention from four separate Linear layers: q, k, v and proj.

    Separate layers (not one fused qkv matrix) so a plan's override can reach each one:
    ``blocks.0.attn.q.weight`` (μP's zero query), ``blocks.0.attn.proj.weight`` (GPT-2's
    1/sqrt(2 n_layer) residual scaling). softmax(q kᵀ · scale + causal mask) v, with
    `scale` = 1/sqrt(d_head) (Vaswani et al. 2017); μP uses 1/d_head (Yang et al. 2021).
    """

    def __init__(self, d_model: int, n_head: int) -> None:
        super().__init__()
        self.n_head, self.d_head = n_head, d_model // n_head
        self.scale = self.d_head**-0.5
        self.q = nn.Linear(d_model, d_model)
        self.k = nn.Linear(d_model, d_model)
        self.v = nn.Linear(d_model, d_model)
        self.proj = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = (lin(x).view(b, t, self.n_head, self.d_head).transpose(1, 2) for lin in (self.q, self.k, self.v))
        logits = (q @ k.transpose(-2, -1)) * self.scale
        mask = torch.ones(t, t, dtype=torch.bool, device=x.device).triu(1)
        weights = logits.masked_fill(mask, float("-inf")).softmax(dim=-1)
        out: torch.Tensor = self.proj((weights @ v).transpose(1, 2).reshape(b, t, d))
        return out


class MLP(nn.Module):
    """fc1 (d -> 4d) -> GELU -> fc2 (4d -> d); fc2 writes into the residual stream."""

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(d_model, 4 * d_model)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(4 * d_model, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.fc2(self.act(self.fc1(x)))
        return out


class Block(nn.Module):
    """A pre-LayerNorm transformer block (GPT-2): x + attn(ln1(x)), then + mlp(ln2(x))."""

    def __init__(self, d_model: int, n_head: int) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = CausalSelfAttention(d_model, n_head)
        self.ln2 = nn.LayerNorm(d_model)
        self.mlp = MLP(d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        out: torch.Tensor = x + self.mlp(self.ln2(x))
        return out


class TinyGPT(nn.Module):
    """A small GPT: token ids (B, seq_len) in [0, vocab) -> next-token logits (B, seq_len, vocab).

    wte (token embedding) + wpe (position embedding) -> `n_layer` pre-LayerNorm blocks
    (``blocks.{i}.ln1``, ``.attn.q/k/v/proj``, ``.ln2``, ``.mlp.fc1/fc2``) -> ln_f -> head.
    The residual stream is written only by ``attn.proj`` and ``mlp.fc2``: the layers
    GPT-2 scales by 1/sqrt(2 n_layer) (Radford et al. 2019). With `tie_weights` (the
    default, as in GPT-2) head.weight *is* wte.weight: named_parameters() lists it once,
    as ``wte.weight``, and a plan's Embedding rule (not its Linear rule) initializes it.

    Defaults (n_layer 4, d_model 128, n_head 4, vocab 256, seq_len 64) make 0.84M
    parameters: a forward pass of 64 sequences takes well under a second on one core.
    `input_shape`, `input_vocab` and `num_classes` tell pinit's probes what to feed it.
    """

    def __init__(
        self,
        n_layer: int = 4,
        d_model: int = 128,
        n_head: int = 4,
        vocab: int = 256,
        seq_len: int = 64,
        tie_weights: bool = True,
    ) -> None:
        super().__init__()
        for name, value, low, high in (
            ("n_layer", n_layer, 1, 48),
            ("d_model", d_model, 1, 4096),
            ("n_head", n_head, 1, 256),
            ("vocab", vocab, 2, 65536),
            ("seq_len", seq_len, 1, 4096),
        ):
            whole_number(name, value, low, high)
        if d_model % n_head:
            raise ValueError(
                f"d_model ({d_model}) must be divisible by n_head ({n_head}): each head gets d_model / n_head"
            )
        if not isinstance(tie_weights, bool):
            raise ValueError(f"tie_weights must be True or False, got {tie_weights!r}")
        self.n_layer, self.d_model, self.n_head, self.vocab, self.seq_len = n_layer, d_model, n_head, vocab, seq_len
        self.tie_weights = tie_weights
        self.input_shape = (seq_len,)
        self.input_vocab = vocab
        self.num_classes = vocab
        self.wte = nn.Embedding(vocab, d_model)
        self.wpe = nn.Embedding(seq_len, d_model)
        self.blocks = nn.ModuleList(Block(d_model, n_head) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab, bias=False)
        if tie_weights:
            self.head.weight = self.wte.weight

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        t = idx.shape[1]
        if t > self.seq_len:
            raise ValueError(f"TinyGPT takes at most seq_len={self.seq_len} tokens, got {t}")
        x = self.wte(idx) + self.wpe(torch.arange(t, device=idx.device))
        for block in self.blocks:
            x = block(x)
        out: torch.Tensor = self.head(self.ln_f(x))
        return out

    def loss(self, idx: torch.Tensor) -> torch.Tensor:
        """Mean next-token cross-entropy of `idx` against itself shifted by one (ln(vocab) says nothing)."""
        logits = self(idx)
        return F.cross_entropy(logits[:, :-1].reshape(-1, self.vocab), idx[:, 1:].reshape(-1))


@dataclass(frozen=True)
class ModelSpec:
    """A model the dashboard offers: how to build it and which options it takes."""

    name: str
    label: str
    factory: Callable[..., nn.Module]
    description: str
    options: dict[str, Any] = field(default_factory=dict)  # option name -> default
    # The values each option may take, stated once for the constructor, links, plan files and
    # the sidebar's widgets: whole-number options as (low, high), inclusive; the others as choices.
    option_ranges: dict[str, tuple[int, int]] = field(default_factory=dict)
    option_choices: dict[str, tuple[Any, ...]] = field(default_factory=dict)

    def check_option(self, name: str, value: Any) -> Any:
        """`value` if this model takes option `name` with that value; else ValueError in words."""
        if name not in self.options:
            takes = f"its options are {', '.join(self.options)}" if self.options else "it takes no options"
            raise ValueError(f"{self.name} has no option {quote(name)}; {takes}")
        if name in self.option_ranges:
            return whole_number(name, value, *self.option_ranges[name])
        choices = self.option_choices.get(name)
        if choices is not None and (not isinstance(value, str) or value not in choices):
            raise ValueError(f"{name} must be one of {', '.join(map(str, choices))}, got {quote(value)}")
        return value


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "SimpleCNN",
            "SimpleCNN (as intended)",
            SimpleCNN,
            "The article's CNN as meant: 3 conv blocks and 3 Linear layers, 1,175,818 parameters.",
        ),
        ModelSpec(
            "ArticleSimpleCNN",
            "SimpleCNN (article listing, as printed)",
            ArticleSimpleCNN,
            "The listing exactly as printed: look for layer1.conv2 and 'layer4.fc2 ' in the names.",
        ),
        ModelSpec(
            "DeepMLP",
            "Deep MLP",
            DeepMLP,
            "A stack of equal-width Linear layers for vanishing/exploding-signal experiments.",
            {"depth": 10, "width": 256, "activation": "relu"},
            option_ranges=DEEP_MLP_RANGES,
            option_choices={"activation": tuple(ACTIVATIONS)},
        ),
        ModelSpec(
            "WideMLP",
            "Wide MLP (25M parameters, scale test)",
            WideMLP,
            "Four wide Linear layers on flattened 3x32x32 images, 25,194,506 parameters: a scale test.",
        ),
        ModelSpec(
            "VGGStyle",
            "VGG-style CNN (105M parameters, scale test)",
            VGGStyle,
            "Eight conv layers and a big Linear head, 105,401,930 parameters (402 MiB): a scale test.",
        ),
        ModelSpec(
            "TinyGPT",
            "Tiny GPT (transformer lab)",
            TinyGPT,
            "A small decoder-only transformer: pre-LayerNorm blocks, separate q/k/v/proj, tied embedding and head.",
            # tie_weights stays a constructor argument (TinyGPT(tie_weights=False)), not a registered
            # option: the CLI makes a flag of every option, and a bool flag would read "False" as True.
            {"n_layer": 4, "d_model": 128, "n_head": 4, "vocab": 256, "seq_len": 64},
        ),
    )
}


def build_model(name: str, seed: int | None = None, **options: Any) -> nn.Module:
    """Build the registered model `name` with `options`.

    With `seed`, the layers' own constructor init (PyTorch's default) is drawn from
    that seed inside `torch.random.fork_rng`, so the result is reproducible and the
    global RNG is left exactly as it was. Parameters a plan does not reach keep these
    values.

    Args:
        name: a key of ``pinit.MODELS`` ("SimpleCNN", "DeepMLP", ...; ``pinit.load_factory``
            adds your own).
        seed: draw the constructor's init from this seed; None: from the global RNG, as
            building the model by hand would.
        **options: the model's options (``pinit.MODELS[name].options`` holds them with
            their defaults), each checked against its range or choices.

    Returns:
        The model, with its constructor's init.

    Raises:
        ValueError: an unknown name or option, or an option out of its range, in words.

    Example:
        >>> import pinit
        >>> model = pinit.build_model("DeepMLP", seed=0, depth=3, width=64)
        >>> [name for name, _ in model.named_parameters()][:2]
        ['layers.fc1.weight', 'layers.fc1.bias']
        >>> sum(p.numel() for p in pinit.build_model("SimpleCNN").parameters())
        1175818
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {quote(name)}; choose one of {sorted(MODELS)}")
    spec = MODELS[name]
    unknown = set(options) - set(spec.options)
    if unknown:
        allowed = ", ".join(sorted(spec.options)) or "none"
        raise ValueError(
            f"{name} takes no option [{', '.join(quote(k) for k in sorted(unknown)[:20])}]; allowed: {allowed}"
        )
    kwargs = {**spec.options, **options}
    if seed is None:
        return spec.factory(**kwargs)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return spec.factory(**kwargs)
