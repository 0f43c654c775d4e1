"""The Beyond-SimpleCNN views (transformer, width, spectra) rendered alone with AppTest: chart data and text."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from pinit.lab.transformer import gpt2_plan
from tests.app_driver import specs


def _render(view: str, cfg: dict) -> None:
    """The script AppTest runs: one view, given a configuration (as page.py will call it)."""
    import importlib

    import torch

    from pinit.setup import Setup

    torch.set_num_threads(1)
    module = importlib.import_module(f"pinit.dashboard.{view}")
    getattr(module, f"{view}_view")(Setup(cfg["model"], cfg["options"], cfg["plan"], cfg["seed"]))


def run(view: str, cfg: dict) -> AppTest:
    at = AppTest.from_function(_render, args=(view, cfg), default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    return at


def charts(at: AppTest) -> dict[str, dict]:
    out = {}
    for spec in specs(at):  # st.plotly_chart's and pinit's chart element's
        out[spec["layout"]["title"]["text"].split("</b>")[0].removeprefix("<b>")] = spec
    return out


def look_fors(at: AppTest) -> list[str]:
    return [c.value for c in at.caption if c.value.startswith("**What to look for:**")]


def cfg_of(model: str, plan: dict, seed: int = 0, **options) -> dict:
    return {"model": model, "options": options, "plan": plan, "seed": seed}


def test_transformer_view_draws_the_residual_stream_and_attention():
    at = run("transformer", cfg_of("TinyGPT", gpt2_plan(4), n_layer=4, d_model=128, n_head=4, vocab=256, seq_len=64))
    figs = charts(at)
    assert set(figs) == {"Residual stream std, block by block", "Attention logits at init, layer by layer"}
    residual = {t["name"]: t["y"] for t in figs["Residual stream std, block by block"]["data"]}
    gpt2, plain = residual["GPT-2"], residual["N(0, 0.02), no residual scaling"]
    assert len(gpt2) == 5 and gpt2[0] == pytest.approx(plain[0])  # the same embeddings
    assert plain[-1] / plain[1] > 1.6 and gpt2[-1] / gpt2[1] < 1.6  # measured ×1.97 and ×1.43
    assert "√4 = 2" in figs["Residual stream std, block by block"]["layout"]["title"]["subtitle"]["text"]
    assert len(look_fors(at)) == 2
    assert any("Why GPT-2 scales its residual projections" in i.value for i in at.info)
    # Adding the applied plan (TinyGPT in the sidebar) and more blocks.
    at.multiselect(key="tx.presets").set_value(["N(0, 0.02), no residual scaling", "Applied plan (Settings)"]).run()
    at.select_slider(key="tx.n_layer").set_value(16).run()
    assert not at.exception
    residual = {t["name"]: t["y"] for t in charts(at)["Residual stream std, block by block"]["data"]}
    assert len(residual["Applied plan (Settings)"]) == 17
    assert residual["N(0, 0.02), no residual scaling"][-1] / residual["N(0, 0.02), no residual scaling"][1] > 3


def test_transformer_view_on_another_model_says_so_and_still_runs():
    at = run("transformer", cfg_of("SimpleCNN", {}))
    assert any("not a transformer" in c.value for c in at.caption)
    at.radio(key="tx.scale").set_value("1/d_head").run()
    att = charts(at)["Attention logits at init, layer by layer"]
    assert "Scale 1/d_head" in att["layout"]["title"]["subtitle"]["text"]
    assert max(att["data"][0]["y"]) < 0.02  # 0.05 / √32 ≈ 0.009


def test_width_view_shows_sp_blowing_up_and_mup_flat():
    at = run("width", cfg_of("SimpleCNN", {}))
    figs = charts(at)
    sp = figs["Coord check: standard parametrization (PyTorch default init, one lr)"]
    mup = figs["Coord check: μP (init and per-layer lr)"]
    for fig in (sp, mup):
        xs = {tuple(t["x"]) for t in fig["data"]}
        assert xs == {(128, 256, 512, 1024, 2048)}
    logits = next(t for t in sp["data"] if t["name"] == "layers.fc3" and t["xaxis"] == "x4")["y"]  # step 3
    assert logits[-1] / logits[0] > 4  # measured 0.76 / 0.098
    hidden = next(t for t in mup["data"] if t["name"] == "layers.fc2" and t["xaxis"] == "x4")["y"]
    assert max(hidden) / min(hidden) < 1.1
    table = at.dataframe[0].value.set_index("layer")
    assert (
        table.loc["layers.fc3", "SP slope at step 3"] > 0.5 and abs(table.loc["layers.fc2", "μP slope at step 3"]) < 0.1
    )
    assert len(look_fors(at)) == 1 and "SP's lines rise" in look_fors(at)[0]


def test_spectra_view_shows_mp_edges_and_the_orthogonal_spike():
    plan = {"rules": {"Linear": {"weight": {"scheme": "orthogonal", "gain": 1.0}}}}
    at = run("spectra", cfg_of("SimpleCNN", plan))
    at.selectbox(key="spec.name").set_value("layer4.fc1.weight").run()
    assert not at.exception
    fig = next(iter(charts(at).values()))
    sub = fig["layout"]["title"]["subtitle"]["text"]
    assert "512 × 2048, q = 0.25" in sub and "<b>One value</b>: every singular value is 1" in sub
    bars = fig["data"][0]
    assert sum(1 for y in bars["y"] if y > 0) == 1  # one spike
    # Back to PyTorch's default on fc1: a Marchenko–Pastur bulk, no outliers.
    at2 = run("spectra", cfg_of("SimpleCNN", {}))
    at2.selectbox(key="spec.name").set_value("layer4.fc1.weight").run()
    fig = next(iter(charts(at2).values()))
    names = [t["name"] for t in fig["data"]]
    assert names[1].startswith("Marchenko–Pastur, q = 0.25")
    assert "<b>0</b> eigenvalue(s) above λ₊" in fig["layout"]["title"]["subtitle"]["text"]
    assert {s["label"]["text"] for s in fig["layout"]["shapes"]} == {"λ₋", "λ₊"}
    metrics = {m.label: m.value for m in at2.metric}
    assert metrics["Singular values"] == "512" and metrics["Outliers above λ₊"] == "0"
    assert len(look_fors(at2)) == 1


def test_spectra_view_asks_before_a_big_svd():
    at = run("spectra", cfg_of("VGGStyle", {}))
    at.selectbox(key="spec.name").set_value("classifier.fc1.weight").run()
    assert not at.exception and not specs(at)
    assert "8192 × 8192" in at.warning[0].value and "about 76 s" in at.warning[0].value
    assert at.button(key="spec.compute")
