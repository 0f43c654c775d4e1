"""pinit.lab.capture: the one forward-capture helper every probe uses."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import pinit
from pinit.lab import signal
from pinit.lab.capture import capture_outputs, leaves, switched_mode
from pinit.setup import Setup


def net(inplace: bool = False) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.ReLU(inplace=inplace), nn.Linear(8, 2))


def hooks_left(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) for m in model.modules())


def test_outputs_in_call_order_in_eval_mode_and_everything_restored() -> None:
    model = net().train()
    model[1].eval()  # a module with its own mode: restored as it was, not to the parent's
    x = torch.randn(3, 4, generator=torch.Generator().manual_seed(1))
    with capture_outputs(model) as calls, torch.no_grad():
        assert not any(m.training for m in model.modules())  # dropout off while capturing
        y = model(x)
    assert [c.name for c in calls] == ["0", "1", "2", "3"]
    assert [type(c.module).__name__ for c in calls] == ["Linear", "Dropout", "ReLU", "Linear"]
    assert torch.equal(calls[-1].value, y)
    assert torch.equal(calls[0].value, model[0](x).detach())
    assert hooks_left(model) == 0
    assert [m.training for m in model] == [True, False, True, True] and model.training


def test_keep_runs_in_the_hook_so_an_inplace_activation_cannot_change_it() -> None:
    model = net(inplace=True)
    x = -torch.ones(2, 4)
    with capture_outputs(model, keep=lambda t: float(t.min())) as calls, torch.no_grad():
        model(x)
    by_name = {c.name: c.value for c in calls}
    assert by_name["0"] < 0  # the Linear's own output, before the in-place ReLU overwrote it
    assert by_name["2"] == 0.0


def test_a_module_called_twice_gives_two_entries_and_chosen_modules_only() -> None:
    lin = nn.Linear(3, 3)
    model = nn.Sequential(lin, nn.Tanh(), lin)
    with capture_outputs(model, [("shared", lin)], keep=lambda t: tuple(t.shape)) as calls, torch.no_grad():
        model(torch.zeros(5, 3))
    assert [(c.name, c.value) for c in calls] == [("shared", (5, 3)), ("shared", (5, 3))]


def test_hooks_and_modes_are_restored_when_the_pass_raises() -> None:
    model = net().train()
    with pytest.raises(RuntimeError), capture_outputs(model):
        model(torch.zeros(2, 5))  # wrong width
    assert hooks_left(model) == 0 and all(m.training for m in model.modules())


def test_stop_early_ends_the_pass_after_the_first_output() -> None:
    model = net()
    seen = []
    model[3].register_forward_hook(lambda m, a, o: seen.append("last layer ran"))
    with capture_outputs(model, [("first", model[0])], stop_early=True) as calls, torch.no_grad():
        model(torch.zeros(2, 4))
        seen.append("not reached: the pass was cut short")
    assert len(calls) == 1 and seen == []
    assert hooks_left(model) == 1  # only the test's own hook is left


def test_a_stop_from_an_inner_capture_does_not_end_the_outer_one() -> None:
    model = net()
    with capture_outputs(model) as outer, torch.no_grad():
        with capture_outputs(model, [("0", model[0])], stop_early=True) as inner:
            model(torch.zeros(1, 4))
        model(torch.zeros(1, 4))
    assert len(inner) == 1
    assert [c.name for c in outer] == ["0", "0", "1", "2", "3"]  # the cut pass, then a full one


def test_tuple_outputs_give_their_first_floating_tensor() -> None:
    class Pair(nn.Module):
        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return x.argmax(1), x * 2

    model = Pair()
    with capture_outputs(model) as calls:
        model(torch.ones(2, 2))
    assert [c.name for c in calls] == ["(model)"] and torch.equal(calls[0].value, torch.full((2, 2), 2.0))
    assert leaves(model) == [("(model)", model)]


def test_switched_mode_restores_each_modules_own_mode() -> None:
    model = net().eval()
    model[1].train()
    with switched_mode(model, training=True):
        assert all(m.training for m in model.modules())
    assert [m.training for m in model] == [False, True, False, False] and not model.training


def test_signal_flow_runs_the_forward_pass_once(monkeypatch) -> None:
    built = []
    real = signal.fresh_model

    def counting_build(*args, **kwargs):
        model = real(*args, **kwargs)
        calls = []
        model.register_forward_hook(lambda m, a, o: calls.append(1))
        built.append(calls)
        return model

    monkeypatch.setattr(signal, "fresh_model", counting_build)
    flow = signal.signal_flow(Setup("SimpleCNN", plan=pinit.PRESETS["Kaiming (He)"].plan), n=8)
    assert built == [[1]]  # one forward pass gives the activations, the loss and the gradients
    assert len(flow.activations) == 14 and len(flow.gradients) == 12


def test_inputs_of_records_the_input_before_the_module_runs():
    """A watched input comes in call order ahead of the same module's output, equal to what it received."""
    torch.manual_seed(0)
    first, second = nn.Linear(3, 4), nn.Linear(4, 2)
    model = nn.Sequential(first, nn.Tanh(), second)
    x = torch.randn(5, 3)
    with capture_outputs(model, [("2", second)], inputs_of=[("into 2", second)]) as calls, torch.no_grad():
        model(x)
    assert [c.name for c in calls] == ["into 2", "2"]
    with torch.no_grad():
        assert torch.equal(calls[0].value, torch.tanh(first(x)))
        assert torch.equal(calls[1].value, second(torch.tanh(first(x))))
