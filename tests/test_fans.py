"""pinit.fans: each layer type's own fan_in / fan_out, checked against fans worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import pinit
from pinit.fans import layer_fans, register_fans, registered_fans, torch_fans, unregister_fans


def test_torch_rule_for_linear_and_conv():
    assert layer_fans(nn.Linear(20, 7), "weight", (7, 20)) == (20, 7)
    # Conv2d(3 -> 8, 5x5): fan_in 3*25 = 75, fan_out 8*25 = 200
    assert layer_fans(nn.Conv2d(3, 8, 5), "weight", (8, 3, 5, 5)) == (75, 200)
    assert layer_fans(nn.Linear(20, 7), "bias", (7,)) is None
    assert torch_fans((7,)) is None


def test_embedding_is_a_lookup():
    # each output value is one weight: fan_in 1; each token writes dim = 16 values
    assert layer_fans(nn.Embedding(100, 16), "weight", (100, 16)) == (1, 16)


def test_multihead_attention_in_proj_is_three_projections():
    mha = nn.MultiheadAttention(8, 2)
    assert mha.in_proj_weight.shape == (24, 8)
    assert layer_fans(mha, "in_proj_weight", (24, 8)) == (8, 8)  # q, k, v: each 8 -> 8
    assert layer_fans(mha.out_proj, "weight", (8, 8)) == (8, 8)


@pytest.mark.parametrize(("cls", "gates"), [(nn.LSTM, 4), (nn.GRU, 3), (nn.RNN, 1)])
def test_recurrent_weights_are_per_gate(cls, gates):
    rnn = cls(10, 6)
    assert rnn.weight_ih_l0.shape == (gates * 6, 10)
    assert layer_fans(rnn, "weight_ih_l0", (gates * 6, 10)) == (10, 6)
    assert layer_fans(rnn, "weight_hh_l0", (gates * 6, 6)) == (6, 6)


class StoredInOut(nn.Module):
    """A user's layer that stores its weight (in, out), like HF's Conv1D."""

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_in, n_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight


class SubStored(StoredInOut):
    pass


def test_a_users_layer_type_is_registered_and_used_by_the_table():
    layer = StoredInOut(64, 192)
    assert layer_fans(layer, "weight", (64, 192)) == (192, 64)  # torch's rule, wrong for this layer
    register_fans(StoredInOut, lambda m, slot, shape: (shape[0], shape[1]) if slot == "weight" else None)
    try:
        assert layer_fans(layer, "weight", (64, 192)) == (64, 192)
        assert layer_fans(SubStored(4, 5), "weight", (4, 5)) == (4, 5)  # a subclass follows its base
        model = nn.Sequential(layer)
        row = pinit.parameter_table(model).iloc[0]
        assert (row["fan_in"], row["fan_out"]) == (64, 192)
        w = layer.weight.detach()
        assert row["signal_gain"] == pytest.approx(math.sqrt(64 * w.pow(2).mean().item()), rel=1e-5)
    finally:
        unregister_fans(StoredInOut)
    assert layer_fans(layer, "weight", (64, 192)) == (192, 64)
    assert "torch.nn.modules.sparse.Embedding" in registered_fans()
    unregister_fans(nn.Embedding)  # pinit's own rules cannot be removed
    assert layer_fans(nn.Embedding(3, 4), "weight", (3, 4)) == (1, 4)


def test_register_fans_refuses_nonsense():
    with pytest.raises(ValueError, match="a class or its 'module.Class' name"):
        register_fans("Conv1D", lambda m, s, sh: None)
    with pytest.raises(ValueError, match="must be a function"):
        register_fans(StoredInOut, 3)  # type: ignore[arg-type]


def test_gpt2_conv1d_fans_and_signal_gain():
    transformers = pytest.importorskip("transformers")
    config = transformers.GPT2Config(n_layer=2, n_embd=64, n_head=4, n_positions=32, vocab_size=100)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = transformers.GPT2LMHeadModel(config)
    rows = pinit.parameter_table(model).set_index("name")
    row = rows.loc["transformer.h.0.attn.c_attn.weight"]
    assert row["shape"] == "(64, 192)"
    assert (row["fan_in"], row["fan_out"]) == (64, 192)  # (in, out) storage: fan_in 64, not 192
    w = model.transformer.h[0].attn.c_attn.weight.detach()
    assert row["signal_gain"] == pytest.approx(math.sqrt(64 * w.pow(2).mean().item()), rel=1e-5)
    assert row["signal_gain"] == pytest.approx(math.sqrt(64) * 0.02, rel=0.05)  # HF's N(0, 0.02)
    mlp = rows.loc["transformer.h.0.mlp.c_fc.weight"]
    assert (mlp["fan_in"], mlp["fan_out"]) == (64, 256)
    wte = rows.loc["transformer.wte.weight"]
    assert (wte["fan_in"], wte["fan_out"]) == (1, 64)
