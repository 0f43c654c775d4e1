"""A layer's own fan_in and fan_out, per layer type: the conventions torch's shape rule gets wrong.

torch.nn.init reads fans off a tensor's shape (``_calculate_fan_in_and_fan_out``):
fan_in = size(1) * prod(size[2:]), fan_out = size(0) * prod(size[2:]). That is right for
Linear (out, in) and Conv (out, in/groups, *k), and it is what torch's fills use, so a
scheme's expected std keeps that rule (pinit.schemes.TensorInfo). But some layers store
their weight another way, and the parameter table's fan_in, fan_out and signal gain
(sqrt(fan_in E[w^2]), the factor by which the layer scales its input's RMS; LeCun et al.
1998) must describe the layer, not the storage:

* Hugging Face's ``transformers.pytorch_utils.Conv1D`` (GPT-2's c_attn, c_fc, c_proj)
  stores (in, out) and computes x @ W: fan_in = size(0), fan_out = size(1). GPT-2's
  c_attn (64, 192) has fan_in 64 (torch's rule says 192).
* ``nn.Embedding`` (num, dim) is a lookup: each output value is one weight (a one-hot
  input of norm 1), so fan_in = 1 and fan_out = dim; its signal gain is the weight's RMS.
* ``nn.MultiheadAttention.in_proj_weight`` (3E, E) stacks the q, k and v projections:
  each reads E inputs and writes E outputs, so fan_in = E, fan_out = E (not 3E).
* ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN`` ``weight_ih_l*`` and ``weight_hh_l*`` stack 4, 3
  and 1 gates: fan_in = size(1), fan_out = size(0) / gates.

A user's own layer type joins with `register_fans(layer_type, rule)`; every other tensor
falls back to torch's shape rule. `layer_fans(module, slot, shape)` is what the table
(pinit.stats) asks.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from torch import nn

__all__ = ["FanRule", "layer_fans", "register_fans", "registered_fans", "torch_fans", "unregister_fans"]

# (module, slot, shape) -> (fan_in, fan_out), or None to fall back to torch's shape rule.
FanRule = Callable[[nn.Module, str, tuple[int, ...]], "tuple[int, int] | None"]


def torch_fans(shape: tuple[int, ...]) -> tuple[int, int] | None:
    """(fan_in, fan_out) by torch's shape rule, or None for a tensor under 2 dims (it has none)."""
    if len(shape) < 2:
        return None
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def _conv1d_hf(module: nn.Module, slot: str, shape: tuple[int, ...]) -> tuple[int, int] | None:
    return (shape[0], shape[1]) if slot == "weight" and len(shape) == 2 else None


def _embedding(module: nn.Module, slot: str, shape: tuple[int, ...]) -> tuple[int, int] | None:
    return (1, shape[1]) if slot == "weight" and len(shape) == 2 else None


def _attention(module: nn.Module, slot: str, shape: tuple[int, ...]) -> tuple[int, int] | None:
    if slot == "in_proj_weight" and len(shape) == 2 and shape[0] % 3 == 0:
        return shape[1], shape[0] // 3
    return None


def _gates(count: int) -> FanRule:
    def rule(module: nn.Module, slot: str, shape: tuple[int, ...]) -> tuple[int, int] | None:
        if slot.startswith(("weight_ih_l", "weight_hh_l")) and len(shape) == 2 and shape[0] % count == 0:
            return shape[1], shape[0] // count
        return None

    return rule


# Keyed by the layer class's qualified name ("module.Class"), so a library's layer (HF's Conv1D)
# is known without importing the library; a subclass inherits its base's rule (MRO order).
_RULES: dict[str, FanRule] = {
    "transformers.pytorch_utils.Conv1D": _conv1d_hf,
    "torch.nn.modules.sparse.Embedding": _embedding,
    "torch.nn.modules.activation.MultiheadAttention": _attention,
    "torch.nn.modules.rnn.LSTM": _gates(4),
    "torch.nn.modules.rnn.GRU": _gates(3),
    "torch.nn.modules.rnn.RNN": _gates(1),
}
_BUILTIN = frozenset(_RULES)


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def register_fans(layer_type: type[nn.Module] | str, rule: FanRule) -> None:
    """Teach pinit the fans of `layer_type` (a class, or its "module.Class" name).

    `rule(module, slot, shape)` returns (fan_in, fan_out) for the parameter `slot` of
    `module`, or None to use torch's shape rule for that slot. Subclasses of
    `layer_type` follow it too, unless they have a rule of their own.

    Args:
        layer_type: the layer's class, or its "module.Class" name.
        rule: (module, slot, shape) -> (fan_in, fan_out), or None for torch's shape rule.

    Raises:
        ValueError: `layer_type` is not a class or a dotted name, or `rule` is not callable.

    Example:
        A layer that stores its weight as (in, out), like Hugging Face's Conv1D, where
        torch's shape rule reads dim 1 as the inputs:

        >>> import pinit, torch
        >>> from torch import nn
        >>> from pinit.fans import unregister_fans
        >>> class InOut(nn.Module):
        ...     def __init__(self, n_in, n_out):
        ...         super().__init__()
        ...         self.weight = nn.Parameter(torch.empty(n_in, n_out))
        >>> pinit.layer_fans(InOut(100, 50), "weight", (100, 50))  # torch's rule: wrong way round
        (50, 100)
        >>> pinit.register_fans(InOut, lambda module, slot, shape: (shape[0], shape[1]) if slot == "weight" else None)
        >>> pinit.layer_fans(InOut(100, 50), "weight", (100, 50))
        (100, 50)
        >>> unregister_fans(InOut)
    """
    key = layer_type if isinstance(layer_type, str) else _qualname(layer_type)
    if not isinstance(key, str) or "." not in key:
        raise ValueError(f"layer_type must be a class or its 'module.Class' name, got {layer_type!r}")
    if not callable(rule):
        raise ValueError(f"rule must be a function (module, slot, shape) -> (fan_in, fan_out) or None, got {rule!r}")
    _RULES[key] = rule


def unregister_fans(layer_type: type[nn.Module] | str) -> None:
    """Forget a rule added by `register_fans` (pinit's own rules stay)."""
    key = layer_type if isinstance(layer_type, str) else _qualname(layer_type)
    if key not in _BUILTIN:
        _RULES.pop(key, None)


def registered_fans() -> list[str]:
    """The layer types with a fan rule, as "module.Class" names."""
    return list(_RULES)


def layer_fans(module: nn.Module, slot: str, shape: tuple[int, ...]) -> tuple[int, int] | None:
    """(fan_in, fan_out) of parameter `slot` of `module` as the layer uses it; None under 2 dims.

    The fans a layer-aware scheme (Kaiming, Xavier, LeCun) should use: torch's shape rule
    (pinit.fans) unless the layer type has a rule of its own (register_fans). An
    Embedding is a lookup: each output reads one row, so its fan_in is 1.

    Args:
        module: the layer that holds the parameter.
        slot: the parameter's name in the layer ("weight", "bias", "in_proj_weight").
        shape: the parameter's shape.

    Returns:
        (fan_in, fan_out), or None for a scalar or a vector.

    Example:
        >>> import pinit
        >>> from torch import nn
        >>> pinit.layer_fans(nn.Linear(100, 50), "weight", (50, 100))
        (100, 50)
        >>> pinit.layer_fans(nn.Embedding(1000, 64), "weight", (1000, 64))  # torch's rule: (64, 1000)
        (1, 64)
    """
    for cls in type(module).__mro__:
        rule = _RULES.get(_qualname(cls))
        if rule is not None:
            found = rule(module, slot, tuple(shape))
            if found is not None:
                return int(found[0]), int(found[1])
            break
    return torch_fans(tuple(shape))
