"""Beyond SimpleCNN, part 3: μP's coordinate check (pinit.lab.width), and a peer test against microsoft/mup.

mup is a test-only dependency installed with ``pip install --no-deps mup==1.0.0`` (.ci/run): its
setup.py requires torchvision (PyPI's wheel is built for a CUDA torch and fails beside this CPU torch)
and seaborn (plots), neither of which its coord check imports. Its real runtime imports are numpy,
pandas, torch and yaml (PyYAML, in the dev extra).
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import torch

import pinit
from pinit.lab.width import coord_check, coord_mlp, coord_slopes, param_roles
from pinit.models import DeepMLP

T = 5.0  # mean within T·SE over seeds: above Student's t 99.9% quantile for 4 degrees of freedom (8.6 is 99.99%)


def test_param_roles_follow_mups_table():
    roles = param_roles(coord_mlp, 256, 64)
    r = {name: (role.role, role.init_mult, role.lr_mult["adam"], role.lr_mult["sgd"]) for name, role in roles.items()}
    assert r["layers.fc1.weight"] == ("input", 1.0, 1.0, 4.0)  # (256 -> width): fan_out grows
    assert r["layers.fc1.bias"] == ("vector", 1.0, 1.0, 4.0)  # fc1's fan_in (256) is finite: bias as drawn
    assert r["layers.fc2.weight"] == ("hidden", 1.0, 0.25, 1.0)  # square: SGD lr · m_out / m_in = 1
    assert r["layers.fc2.bias"] == ("vector", 2.0, 1.0, 4.0)  # U(±1/√fan_in) made width-free: × √4
    assert r["layers.fc3.weight"] == ("output", 0.5, 0.25, 0.25)  # MuReadout without its multiplier
    assert r["layers.fc3.bias"] == ("finite", 2.0, 1.0, 1.0)


def test_bad_arguments_are_refused_in_words():
    with pytest.raises(ValueError, match="parametrization must be one of sp, mup, got 'ntk'"):
        coord_check(parametrization="ntk")
    with pytest.raises(ValueError, match="optimizer must be one of adam, sgd"):
        coord_check(optimizer="lion")
    with pytest.raises(ValueError, match="widths must be a non-empty list"):
        coord_check(widths=[])
    with pytest.raises(ValueError, match=r"lr must be a number in \(0, 10\]"):
        coord_check(lr=-1.0)
    with pytest.raises(ValueError, match="returned a int, not a torch.nn.Module"):
        coord_check(lambda w: 3, widths=[8])


def _slopes(parametrization: str, seeds=range(5), widths=(128, 256, 512, 1024)) -> dict[tuple[int, str], list[float]]:
    out: dict[tuple[int, str], list[float]] = {}
    for seed in seeds:
        df = coord_check(widths=list(widths), parametrization=parametrization, steps=2, seed=seed, n=32)
        for row in coord_slopes(df).itertuples():
            out.setdefault((row.step, row.layer), []).append(row.slope)
    return out


def test_sp_blows_up_with_width_after_adam_steps_and_mup_stays_flat():
    """At init every hidden layer's l1 has a width-free expectation (fan_in-scaled init) in both: slope 0
    within T·SE. After Adam steps, SP's logits grow like a power of width (measured slope 0.8: one Adam step
    moves every weight by ~lr, and a layer sums fan_in such moves), μP's hidden layers stay flat; "flat" here
    is |slope| < 0.1, i.e. less than a 1.32x change over the 8x range of widths, against SP's ~5x."""
    sp, mup = _slopes("sp"), _slopes("mup")
    for layer in ("layers.fc1", "layers.act1", "layers.fc2", "layers.act2"):
        for table in (sp, mup):
            v = np.array(table[(0, layer)])
            assert abs(v.mean()) < T * v.std(ddof=1) / math.sqrt(len(v)) + 1e-3, (layer, v)
    for step in (1, 2):
        logits_sp = np.array(sp[(step, "layers.fc3")])
        assert logits_sp.mean() > 0.5, logits_sp  # measured 0.81 at step 1
        for layer in ("layers.fc2", "layers.act2"):
            assert abs(np.mean(mup[(step, layer)])) < 0.1
            diff = np.array(sp[(step, layer)]) - np.array(mup[(step, layer)])
            assert diff.mean() > T * diff.std(ddof=1) / math.sqrt(len(diff)), (step, layer, diff)
        assert np.mean(mup[(step, "layers.fc3")]) < 0.1  # μP's readout: var 1/fan_in², never growing with width


def test_coord_check_is_reproducible_and_leaves_the_global_rng_alone():
    state = torch.random.get_rng_state()
    a = coord_check(widths=[32, 64], steps=1, seed=3)
    b = coord_check(widths=[32, 64], steps=1, seed=3)
    assert torch.equal(state, torch.random.get_rng_state())
    assert a.equals(b) and list(a.columns) == ["width", "step", "layer", "type", "l1"]
    assert len(a) == 2 * 2 * 5  # widths x steps (0, 1) x 5 leaf modules (3 Linear, 2 ReLU)


def test_default_page_budget_runs_on_one_thread():
    """The page's default: widths 128..2048, 3 Adam steps, both parametrizations (bench/bench_width.py times it)."""
    for p in ("sp", "mup"):
        df = coord_check(parametrization=p)
        assert sorted(df["width"].unique()) == [128, 256, 512, 1024, 2048] and df["step"].max() == 3


# --- the peer test: microsoft/mup's own coord check --------------------------------------------------


def _mup():
    try:
        import mup
        from mup.coord_check import get_coord_data
    except Exception as e:
        if os.environ.get("CI"):
            pytest.fail(f"mup must be importable in CI (.ci/run installs it with --no-deps): {type(e).__name__}: {e}")
        pytest.skip(f"mup is not installed or does not import with this torch ({type(e).__name__}: {e})")
    return mup, get_coord_data


WIDTHS = [64, 128, 256, 512]


def _mup_models(mup, parametrization: str, seed: int) -> dict:
    """The same DeepMLP(depth 3) for mup: fc3 becomes a MuReadout carrying the same initial weights."""

    def lazy(width: int):
        def build():
            torch.manual_seed(seed)  # the same stream pinit's coord_check seeds for every width
            model = DeepMLP(depth=3, width=width)
            if parametrization == "mup":
                readout = mup.MuReadout(width, 10)
                with torch.no_grad():
                    readout.weight.copy_(model.layers.fc3.weight)
                    readout.bias.copy_(model.layers.fc3.bias)
                model.layers.fc3 = readout
                with torch.device("meta"):
                    base, delta = DeepMLP(depth=3, width=WIDTHS[0]), DeepMLP(depth=3, width=2 * WIDTHS[0])
                mup.set_base_shapes(model, base, delta=delta)
            return model

        return build

    return {w: lazy(w) for w in WIDTHS}


@pytest.mark.parametrize("parametrization", ["sp", "mup"])
@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_coord_check_agrees_with_mups_get_coord_data(parametrization, optimizer):
    """Same model, widths, seeds and batch: pinit's l1 equals mup's.

    SP, and μP with SGD: bit for bit (the same float32 operations; the readout's multiplier m is a
    power of 2 here, so W·√m·(x/m) and (W/√m)·x round alike). μP with Adam: mup's readout
    gradient is m times smaller before Adam divides it by its RMS, so the two differ only through
    Adam's eps = 1e-8, which changes an update by at most eps/|g| of itself; the readout's gradients
    are ≥ 1e-4 in RMS here, so the outputs can move by ~1e-4 relative at most (measured 3e-6).
    """
    mup, get_coord_data = _mup()
    for seed in (0, 1):
        probe = DeepMLP(depth=3, width=WIDTHS[0])
        x, y = pinit.probe_batch(probe, 32, seed), pinit.probe_targets(probe, 32, seed)
        ours = coord_check(
            widths=WIDTHS, parametrization=parametrization, optimizer=optimizer, steps=3, seed=seed, inputs=x, targets=y
        )
        theirs = get_coord_data(
            _mup_models(mup, parametrization, seed),
            [(x, y)],
            optimizer=optimizer,
            mup=parametrization == "mup",
            nsteps=4,  # mup records t = 1..4 before each update: pinit's steps 0..3
            cuda=False,
            show_progress=False,
        )
        theirs = theirs.assign(step=theirs["t"] - 1).rename(columns={"module": "layer"})
        both = ours.merge(
            theirs[["width", "step", "layer", "l1"]], on=["width", "step", "layer"], suffixes=("", "_mup")
        )
        assert len(both) == len(ours) == len(WIDTHS) * 4 * 5
        rel = (both["l1"] / both["l1_mup"] - 1).abs().max()
        if parametrization == "sp" or optimizer == "sgd":
            assert rel == 0.0, rel
        else:
            assert rel < 1e-4, rel
        # The same trend: slopes in width agree to the same precision.
        ours_s = coord_slopes(both[["width", "step", "layer", "l1"]])
        theirs_s = coord_slopes(both[["width", "step", "layer", "l1_mup"]].rename(columns={"l1_mup": "l1"}))
        assert np.allclose(ours_s["slope"], theirs_s["slope"], atol=1e-3)
