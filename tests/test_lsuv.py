"""pinit.lsuv: layer-sequential unit-variance init (Mishkin & Matas 2015)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import pinit
from pinit.lab.lsuv import lsuv
from pinit.lab.probes import activation_stats, probe_batch


def small_cnn() -> nn.Module:
    torch.manual_seed(0)  # only the constructor's init, which lsuv overwrites anyway
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(16 * 4 * 4, 10),
    )


def test_lsuv_log_and_unit_variance() -> None:
    model = pinit.build_model("DeepMLP", depth=8, width=128, activation="tanh")
    x = probe_batch(model, 64)
    log = lsuv(model, x, tol=0.02)
    assert list(log.columns) == ["layer", "type", "iterations", "initial_std", "final_std", "converged"]
    assert log["layer"].tolist() == [f"layers.fc{i}" for i in range(1, 9)]
    assert log["converged"].all()
    # fc1: orthonormal rows on N(0, 1) inputs already give std ~1 (measured 1.007): no division.
    # Later layers see tanh-squashed inputs; with zero bias the output is linear in W, so one
    # division lands on std 1 up to rounding.
    assert log["iterations"].tolist() == [0] + [1] * 7
    assert log["final_std"].iloc[0] == log["initial_std"].iloc[0]
    assert abs(log["final_std"].iloc[0] ** 2 - 1) < 0.02
    assert log["final_std"].iloc[1:].tolist() == pytest.approx([1.0] * 7, abs=1e-5)
    stds = activation_stats(model, x).query("type == 'Linear'")["std"]
    assert stds.tolist() == pytest.approx(log["final_std"].tolist(), rel=1e-5)


def test_lsuv_orthogonal_pre_init_zero_bias_and_seeding() -> None:
    a = pinit.build_model("DeepMLP", depth=3, width=32, activation="relu")
    b = pinit.build_model("DeepMLP", depth=3, width=32, activation="relu")
    x = probe_batch(a, 50)
    state = torch.get_rng_state()
    lsuv(a, x, seed=5)
    lsuv(b, x, seed=5)
    assert torch.equal(torch.get_rng_state(), state)
    for (_, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        assert torch.equal(p, q)
    for i in (1, 2, 3):
        fc = getattr(a.layers, f"fc{i}")
        assert torch.count_nonzero(fc.bias) == 0
        w = fc.weight.detach().double()
        # orthogonal then scaled by one number: the rows (or columns) stay orthogonal with equal norms
        gram = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
        assert torch.allclose(
            gram, gram[0, 0] * torch.eye(gram.shape[0], dtype=torch.float64), atol=1e-5 * float(gram[0, 0])
        )
    c = pinit.build_model("DeepMLP", depth=3, width=32, activation="relu")
    lsuv(c, x, seed=6)
    assert not torch.equal(c.layers.fc1.weight, a.layers.fc1.weight)


def test_lsuv_on_convolutions_and_modes_restored() -> None:
    model = small_cnn().train()
    x = torch.randn(16, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    log = lsuv(model, x, tol=0.1)
    assert log["type"].tolist() == ["Conv2d", "Conv2d", "Linear"]
    assert log["converged"].all()
    assert model.training and all(m.training for m in model.modules())
    assert all(not m._forward_hooks for m in model.modules())
    stats = activation_stats(model, x)
    for std in stats[stats["type"].isin(["Conv2d", "Linear"])]["std"]:
        assert abs(std**2 - 1) < 0.1


def test_lsuv_reports_a_layer_it_cannot_rescale() -> None:
    model = pinit.build_model("DeepMLP", depth=3, width=8, activation="relu")
    log = lsuv(model, torch.zeros(4, 256))  # zero input, zero bias: every output is exactly 0
    assert not log["converged"].any()
    assert (log["iterations"] == 0).all() and (log["final_std"] == 0).all()
    assert torch.isfinite(model.layers.fc1.weight).all()


class _Squashed(nn.Linear):
    """A Linear whose output is 3 tanh(W x): its std is not proportional to W, so LSUV iterates."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 3 * torch.tanh(super().forward(x))


def test_lsuv_iterates_when_one_division_is_not_enough_and_stops_at_max_iters() -> None:
    x = 4 * torch.randn(256, 16, generator=torch.Generator().manual_seed(0))
    model = _Squashed(16, 16)
    log = lsuv(model, x, tol=0.01, max_iters=10)
    row = log.iloc[0]
    assert row["type"] == "_Squashed"
    assert row["initial_std"] > 2  # 3 tanh of a std-4 signal: mostly saturated
    assert row["converged"] and 2 <= row["iterations"] <= 10
    assert abs(row["final_std"] ** 2 - 1) < 0.01
    capped = lsuv(_Squashed(16, 16), x, tol=0.01, max_iters=1).iloc[0]
    assert capped["iterations"] == 1 and not capped["converged"]


def test_lsuv_skips_layers_the_forward_pass_never_calls() -> None:
    class Spare(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.used = nn.Linear(4, 4)
            self.spare = nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.used(x)

    log = lsuv(Spare(), torch.randn(8, 4, generator=torch.Generator().manual_seed(0)))
    assert log["layer"].tolist() == ["used"]


@pytest.mark.parametrize("tol", [0, -0.1, math.nan, math.inf, "0.1", True])
def test_lsuv_refuses_bad_tol(tol) -> None:
    with pytest.raises(ValueError, match="tol must be a finite number > 0"):
        lsuv(nn.Linear(2, 2), torch.zeros(1, 2), tol=tol)


@pytest.mark.parametrize("max_iters", [0, -1, 1.5, True, None])
def test_lsuv_refuses_bad_max_iters(max_iters) -> None:
    with pytest.raises(ValueError, match="max_iters must be a whole number >= 1"):
        lsuv(nn.Linear(2, 2), torch.zeros(1, 2), max_iters=max_iters)


def test_lsuv_needs_a_layer_to_rescale() -> None:
    with pytest.raises(ValueError, match="ReLU has no Linear or Conv layer"):
        lsuv(nn.ReLU(), torch.zeros(1, 2))


def test_lsuv_gives_the_same_bits_on_1_2_and_4_threads() -> None:
    """The orthogonal start and every rescaling are independent of torch's thread count."""
    before = torch.get_num_threads()
    results = []
    try:
        for threads in (1, 2, 4):
            torch.set_num_threads(threads)
            model = pinit.build_model("SimpleCNN", seed=0)
            log = lsuv(model, probe_batch(model, 32), tol=0.01, seed=3)
            assert torch.get_num_threads() == threads
            results.append((log, {n: p.detach().clone() for n, p in model.named_parameters()}))
    finally:
        torch.set_num_threads(before)
    (log1, weights1), rest = results[0], results[1:]
    for log, weights in rest:
        assert log.equals(log1)
        for name, w in weights1.items():
            assert torch.equal(w.view(torch.int32), weights[name].view(torch.int32)), name
