"""Watch a forward pass: every probe in the lab records module outputs the same way.

`capture_outputs(model)` registers a forward hook (`nn.Module.register_forward_hook`)
on each module to watch, puts the model in eval mode, and yields the list the hooks
fill, in call order, while the caller runs the forward pass (with or without grad) in
the block. Every hook is removed and every module's own mode restored in `finally`
blocks, even if the pass raises: the model leaves exactly as it came (as torchinfo's
summary does).

`switched_mode(model, training)` is the mode switch alone (training and evaluation
runs), `probe_mode(model)` the probes' mode (eval, with batch norm on the batch's own
statistics as the first training step sees it), and `leaves(model)` the modules without
children. By default the probes describe
every module call inside which no other module ran: the leaves, and a module such as
nn.MultiheadAttention that computes with its children's parameters without calling them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

__all__ = ["Captured", "capture_outputs", "first_tensor", "leaves", "model_output", "probe_mode", "switched_mode"]


def leaves(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, module) of every module without children, in registration order ("(model)" for a leaf model)."""
    return [(name or "(model)", m) for name, m in model.named_modules() if next(m.children(), None) is None]


def first_tensor(output: Any) -> torch.Tensor | None:
    """The output itself, or the first floating tensor inside a tuple/list/dict output."""
    if isinstance(output, torch.Tensor):
        return output if output.is_floating_point() else None
    items = output.values() if isinstance(output, Mapping) else output if isinstance(output, (tuple, list)) else ()
    for item in items:
        t = first_tensor(item)
        if t is not None:
            return t
    return None


def model_output(output: Any) -> tuple[torch.Tensor, str]:
    """The tensor a probe treats as a model's output, and which it is, in words.

    A tensor is itself; a Hugging Face ModelOutput (or any object or dict with ``logits``)
    gives its ``logits``; otherwise the first floating tensor of a tuple, list or dict.
    ValueError in words when there is none.
    """
    if isinstance(output, torch.Tensor):
        return output, "the model's output"
    logits = output.get("logits") if isinstance(output, Mapping) else getattr(output, "logits", None)
    if isinstance(logits, torch.Tensor):
        return logits, f"the .logits of the model's {type(output).__name__}"
    t = first_tensor(output)
    if t is None:
        raise ValueError(
            f"the model returned a {type(output).__name__} with no floating-point tensor in it; pinit's probes "
            f"need a tensor, an object with .logits, or a tuple/list/dict holding one"
        )
    return t, f"the first floating tensor of the model's {type(output).__name__}"


_BATCH_NORMS = (nn.modules.batchnorm._BatchNorm,)  # BatchNorm1d/2d/3d, SyncBatchNorm, LazyBatchNorm


@contextlib.contextmanager
def probe_mode(model: nn.Module, batch_stats: bool = True) -> Iterator[nn.Module]:
    """The probes' mode for the block: eval (dropout off: a probe is deterministic), except that with
    `batch_stats` every batch norm layer normalizes by the batch's own mean and variance, as in the
    first training step. At init a batch norm's running statistics are mean 0 and variance 1, so in
    eval mode it passes the signal through unchanged and hides what it does in training. The running
    statistics a training-mode pass updates are put back afterwards, as is every module's mode."""
    norms = [m for m in model.modules() if batch_stats and isinstance(m, _BATCH_NORMS)]
    saved = [{k: b.clone() for k, b in m.named_buffers(recurse=False) if b is not None} for m in norms]
    with switched_mode(model, training=False):
        for m in norms:
            m.train(True)
        try:
            yield model
        finally:
            with torch.no_grad():
                for m, buffers in zip(norms, saved):
                    for k, b in buffers.items():
                        getattr(m, k).copy_(b)


@contextlib.contextmanager
def switched_mode(model: nn.Module, training: bool) -> Iterator[nn.Module]:
    """Every module in train (`training`) or eval mode for the block; each module's own mode after it."""
    modes = {m: m.training for m in model.modules()}
    model.train(training)
    try:
        yield model
    finally:
        for m, was_training in modes.items():
            m.train(was_training)


@dataclass(frozen=True)
class Captured:
    """One call of a watched module: its name, the module, and what `keep` made of its output."""

    name: str
    module: nn.Module
    value: Any


class _Stop(Exception):
    """Raised by a hook to end the forward pass once the output of interest is in."""


def _detach(t: torch.Tensor) -> torch.Tensor:
    return t.detach()


@contextlib.contextmanager
def capture_outputs(
    model: nn.Module,
    modules: Iterable[tuple[str, nn.Module]] | None = None,
    keep: Callable[[torch.Tensor], Any] = _detach,
    stop_early: bool = False,
    batch_stats: bool = True,
    inputs_of: Iterable[tuple[str, nn.Module]] = (),
    training: bool = False,
) -> Iterator[list[Captured]]:
    """Record the outputs of `modules` (default: every module call inside which no other
    module was called: the leaves, and modules such as nn.MultiheadAttention that use their
    children's parameters without calling them) during the block, in call order.

    Usage::

        with capture_outputs(model) as calls, torch.no_grad():
            model(x)
        [(c.name, c.value.std()) for c in calls]

    A module called twice gives two entries. Each output (for a tuple/list/dict output,
    its first floating tensor; calls without one are skipped) is passed through `keep`
    inside the hook, so a caller that only needs numbers never holds the tensors:
    ``keep=lambda t: float(t.std())``. The default keeps the tensor, detached (not copied:
    a later in-place module, like ReLU(inplace=True), would change it; compute in `keep`).

    The model runs in `probe_mode`: eval mode (dropout off, so probes are deterministic), with
    batch norm on the batch's own statistics as the first training step sees them (running
    statistics restored afterwards); `batch_stats=False` puts batch norm in eval mode too.
    `stop_early`: end the forward pass right after the first recorded output (the block's
    pass is cut short, not failed), for a caller that needs one layer's output only.
    `inputs_of`: modules whose input (the first floating tensor of the call's arguments) is
    recorded too, under the given name, just before the module runs (a residual stream's
    state entering its first block is no module's output).
    `training`: run the block in training mode instead (`switched_mode(model, True)`: dropout on,
    batch norm on the batch's statistics and updating its running ones, as a training step does),
    for a caller that records the outputs of training steps; `batch_stats` is then moot.
    """
    calls: list[Captured] = []
    stop = _Stop()

    def record(name: str, module: nn.Module, output: Any) -> None:
        t = first_tensor(output)
        if t is None:
            return
        calls.append(Captured(name, module, keep(t)))
        if stop_early:
            raise stop

    def input_hook_for(name: str) -> Callable[[nn.Module, Any], None]:
        def hook(module: nn.Module, args: Any) -> None:
            record(name, module, args)

        return hook

    def hook_for(name: str) -> Callable[[nn.Module, Any, Any], None]:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            record(name, module, output)

        return hook

    # Default: the calls of modules inside which no other module ran ("called leaves"). That is
    # every leaf, and also a module whose children only hold parameters it uses itself:
    # nn.MultiheadAttention computes with out_proj.weight and never calls out_proj.
    started: list[int] = []  # per open call: the call count when it began
    count = 0

    def pre(module: nn.Module, args: Any) -> None:
        nonlocal count
        count += 1
        started.append(count)

    def post_for(name: str) -> Callable[[nn.Module, Any, Any], None]:
        def post(module: nn.Module, args: Any, output: Any) -> None:
            if started.pop() == count:  # no module was called within this one
                record(name, module, output)

        return post

    handles = []
    with switched_mode(model, True) if training else probe_mode(model, batch_stats):
        try:
            handles += [m.register_forward_pre_hook(input_hook_for(name)) for name, m in inputs_of]
            if modules is None:
                for name, m in model.named_modules():
                    handles.append(m.register_forward_pre_hook(pre))
                    handles.append(m.register_forward_hook(post_for(name or "(model)")))
            else:
                handles += [m.register_forward_hook(hook_for(name)) for name, m in modules]
            yield calls
        except _Stop as e:
            if e is not stop:  # another capture's signal: not ours to swallow
                raise
        finally:
            for h in handles:
                h.remove()
