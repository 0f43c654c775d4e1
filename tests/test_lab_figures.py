"""pinit.lab.figures: the lab's charts carry the numbers they claim, say what they cannot draw, and stay small."""

from __future__ import annotations

import base64
import json
import math
import re

import numpy as np
import pandas as pd
import pytest
import torch

import pinit
from pinit.lab.compare import compare_activations
from pinit.lab.depth import depth_summary, depth_sweep
from pinit.lab.figures import (
    activation_heatmap_figure,
    activation_std_figure,
    compare_std_figure,
    dead_relu_figure,
    density_overlay_figure,
    depth_std_figure,
    filter_grid_figure,
    gradient_norm_figure,
    train_curves_figure,
    weight_heatmap_figure,
)
from pinit.lab.pictures import filter_grid, weight_pictures
from pinit.lab.signal import signal_flow
from pinit.setup import Setup


def spec(fig) -> dict:
    s = json.loads(fig.to_json())
    assert len(fig.to_json()) < 200_000  # small arrays only, whatever the model
    return s


def arr(v) -> np.ndarray:
    """A plotly array as numpy: a plain list, or a packed typed array {"dtype", "bdata", "shape"}."""
    if isinstance(v, dict):
        shape = tuple(int(x) for x in str(v.get("shape", "-1")).split(","))
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"])).reshape(shape)
    return np.array(v, dtype=float)


def subtitle(s: dict) -> str:
    return s["layout"]["title"]["subtitle"]["text"]


@pytest.fixture(scope="module")
def mlp():
    return signal_flow(
        Setup("DeepMLP", {"depth": 8, "width": 64, "activation": "relu"}, pinit.PRESETS["Xavier (Glorot)"].plan), 32
    )


@pytest.fixture(scope="module")
def cnn():
    return {
        name: signal_flow(Setup("SimpleCNN", plan=pinit.PRESETS[name].plan), 16)
        for name in ("Article recipe", "Zeros (the symmetry trap)")
    }


def test_activation_std_figure_plots_every_layer_and_the_prediction(mlp):
    s = spec(activation_std_figure(mlp))
    every, weights, predicted = s["data"]
    assert every["x"][0] == 0 and every["y"][0] == pytest.approx(mlp.input_std)
    assert every["y"][1:] == pytest.approx(mlp.activations["std"].tolist())
    assert weights["y"] == pytest.approx(mlp.activations.query("type == 'Linear'")["std"].tolist())
    assert predicted["line"]["dash"] == "dash"
    assert predicted["y"] == pytest.approx(mlp.predicted["predicted_std"].tolist())
    assert s["layout"]["yaxis"]["type"] == "log"
    assert f"std <b>{mlp.logits_std:.3g}</b>" in subtitle(s)


def test_activation_std_figure_names_what_a_log_axis_cannot_show(cnn):
    s = spec(activation_std_figure(cnn["Zeros (the symmetry trap)"]))
    assert "std 0 (off the log axis): layer1.conv1" in subtitle(s)
    assert all(y is None for y in s["data"][0]["y"][1:])
    art = spec(activation_std_figure(cnn["Article recipe"]))
    assert re.search(r"std <b>(9,\d{3}|1\d,\d{3})</b>", subtitle(art))  # ~10,000 at n=16, never 1.04e+04
    assert art["layout"]["xaxis"]["ticktext"][:2] == ["input", "layer1.conv1 (Conv2d)"]


def test_heatmap_rows_are_layers_and_colour_is_log_share(mlp):
    s = spec(activation_heatmap_figure(mlp, "std"))
    z = arr(s["data"][0]["z"])
    assert z.shape == (len(mlp.activations), len(mlp.std_edges) - 1)
    row = mlp.heat_std[0]
    assert z[0][~np.isnan(z[0])].tolist() == pytest.approx([math.log10(f) for f in row if f > 0], rel=1e-6)
    assert s["data"][0]["y"][0] == "1. layers.fc1 (Linear)"
    raw = spec(activation_heatmap_figure(mlp, "raw"))
    assert "one axis for every layer" in subtitle(raw)
    with pytest.raises(ValueError, match="mode must be"):
        activation_heatmap_figure(mlp, "log")


def test_gradient_and_dead_relu_figures(cnn, mlp):
    zeros = cnn["Zeros (the symmetry trap)"]
    s = spec(gradient_norm_figure(zeros))
    assert "gradient exactly 0 (off the log axis): layer1.conv1.weight" in subtitle(s)
    assert f"loss {zeros.loss:.3g}" in subtitle(s)
    d = spec(dead_relu_figure(mlp))
    relu = mlp.activations[mlp.activations["type"] == "ReLU"]
    assert d["data"][0]["y"] == pytest.approx(relu["zero_fraction"].tolist())
    assert d["data"][1]["y"] == pytest.approx(relu["dead_units"].tolist())
    assert d["layout"]["yaxis"]["range"] == [0, 1.05]
    tanh = signal_flow(Setup("DeepMLP", {"depth": 3, "width": 8, "activation": "tanh"}), 8)
    assert "no ReLU" in subtitle(spec(dead_relu_figure(tanh)))


def test_depth_figure_solid_measured_dashed_predicted_and_notes():
    rows, _ = depth_sweep(50, 128, "relu", ["Kaiming (He)", "N(0, 1)", "LSUV"])
    summary = depth_summary(rows)
    s = spec(depth_std_figure(rows, summary, "DeepMLP: 50 layers"))
    names = [t["name"] for t in s["data"]]
    assert names == [
        "Kaiming (He) (measured)",
        "Kaiming (He) (predicted)",
        "N(0, 1) (measured)",
        "N(0, 1) (predicted)",
        "LSUV (measured)",
    ]  # LSUV has no formula: no dashed line
    assert s["data"][1]["line"]["dash"] == "dash" and "dash" not in s["data"][0]["line"]
    assert s["data"][0]["y"] == pytest.approx(rows.query("scheme == 'Kaiming (He)'")["std"].tolist())
    assert "N(0, 1): overflowed to ±inf from fc" in subtitle(s)
    assert s["data"][2]["y"][-1] is None  # inf/NaN left as a gap, not drawn


def test_density_overlay_and_compare_curves(cnn):
    a, b = cnn["Article recipe"], cnn["Zeros (the symmetry trap)"]
    g = torch.Generator().manual_seed(0)
    ha = pinit.histogram(torch.randn(5000, generator=g), 30, "w")
    hb = pinit.histogram(torch.randn(5000, generator=g) * 3, 50, "w")
    s = spec(density_overlay_figure(ha, hb, "A", "B"))
    for trace in s["data"]:
        xs, ys = trace["x"], trace["y"]
        area = sum((x1 - x0) * y0 for x0, x1, y0 in zip(xs[:-1], xs[1:], ys[:-1]))
        assert area == pytest.approx(1.0)
    assert "B/A 3" in subtitle(s) or "B/A 2.9" in subtitle(s)
    t = compare_activations(a, b)
    c = spec(compare_std_figure(t, "A", "B"))
    assert c["data"][0]["y"] == pytest.approx(t["std_a"].tolist())
    assert all(y is None for y in c["data"][1]["y"])  # zeros: std 0 everywhere, off the log axis


def test_train_curves_cap_the_loss_axis_and_mark_a_run_that_overflows():
    ok = pd.DataFrame(
        {"step": [1, 2, 3], "loss": [2.3, 2.0, 1.5], "accuracy": [0.1, 0.2, 0.3], "running_accuracy": [0.1, 0.15, 0.2]}
    )
    bad = pd.DataFrame(
        {
            "step": [1, 2, 3],
            "loss": [1e7, 1e21, math.nan],
            "accuracy": [0.1, 0.1, 0.1],
            "running_accuracy": [0.1, 0.1, 0.1],
        }
    )
    s = spec(train_curves_figure({"Kaiming": ok, "N(0, 1)": bad}, "loss", total_steps=200))
    marks = [t for t in s["data"] if t.get("mode") == "markers+text"]
    # The ✕ sits on the top edge (loss 100), not at 1e21: the run that learns keeps the whole height.
    assert len(marks) == 1 and marks[0]["x"] == [3] and marks[0]["y"] == [100.0]
    assert "loss 1×10⁷ at step 1, not finite at step 3" in marks[0]["text"][0]
    assert "N(0, 1): not finite at step 3" in subtitle(s)
    assert s["layout"]["xaxis"]["range"] == [0, 201]
    low, high = s["layout"]["yaxis"]["range"]
    assert high == pytest.approx(2.0) and low < math.log10(1.5)  # 1.5 (Kaiming's last loss) is on the axis
    assert s["layout"]["margin"]["l"] >= 80  # room for the axis title: "loss", not "los"
    acc = spec(train_curves_figure({"Kaiming": ok}, "running_accuracy"))
    assert acc["data"][0]["y"] == [0.1, 0.15, 0.2] and acc["layout"]["yaxis"]["tickformat"] == ".0%"


def test_filter_grid_and_weight_heatmap_figures():
    pics = weight_pictures(Setup("SimpleCNN", plan=pinit.PRESETS["Kaiming (He)"].plan))
    img, _ = filter_grid(pics["rgb_weight"], "global")
    s = spec(filter_grid_figure(img, "conv1", "one scale"))
    assert s["data"][0]["type"] == "image" and (arr(s["data"][0]["z"]) == img).all()
    assert s["layout"]["yaxis"]["scaleanchor"] == "x"
    m = pics["matrices"]["layer4.fc1.weight"]
    h = spec(weight_heatmap_figure(m["mean"], "layer4.fc1.weight", m["shape"], m["block"], "mean"))
    assert (arr(h["data"][0]["z"]) == m["mean"]).all() and h["data"][0]["zmid"] == 0
    assert h["data"][0]["y"][:3] == [0, 4, 8] and h["data"][0]["x"][:3] == [0, 16, 32]  # first unit/input per cell
    assert "block of 4 × 16 weights" in subtitle(h)
    r = spec(weight_heatmap_figure(m["rms"], "layer4.fc1.weight", m["shape"], m["block"], "rms"))
    assert "the weights' scale" in subtitle(r) and r["data"][0]["colorscale"]
