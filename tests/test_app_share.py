"""The page's share/export/import paths, driven through AppTest: link, plan files, code, checkpoints."""

from __future__ import annotations

import json
import os

import pytest
import torch
from streamlit.testing.v1 import AppTest

import pinit
from tests.app_driver import errors, goto, plain, preset, settled, start, table
from tests.fixtures.make_fixtures import evil_torch_save

SHARE = "Share and export"


def run(query: dict | None = None, view: str = "Weights") -> AppTest:
    return start(view, rules=True, **(query or {}))


def link_of(at: AppTest) -> dict[str, str]:
    """The link's state (model, plan, seed, opts) as the address bar holds it."""
    return {k: at.query_params[k] for k in ("model", "plan", "seed", "opts") if k in at.query_params}


def warnings(at: AppTest) -> list[str]:
    return [plain(w.value) for w in at.warning]


def weights_of_plan(model: str, plan: dict, seed: int, **options) -> dict[str, torch.Tensor]:
    m = pinit.build_model(model, seed=seed, **options)
    pinit.apply_plan(m, plan, seed)
    return {k: v.clone() for k, v in m.state_dict().items()}


def test_link_reproduces_the_state_in_a_fresh_session():
    a = run()
    preset(a, "Article recipe")
    a.sidebar.text_input(key="seed").input("42").run()
    link = link_of(a)
    assert link["seed"] == "42" and link["model"] == "SimpleCNN"
    b = run(link)
    assert not b.warning
    assert b.sidebar.selectbox(key="Conv2d.weight.scheme").value == "kaiming_normal"
    assert b.sidebar.text_input(key="seed").value == "42"
    ta, tb = table(a), table(b)
    assert (ta["std"] == tb["std"]).all() and (ta["scheme"] == tb["scheme"]).all()


def test_link_with_model_options_reproduces_a_deep_mlp():
    a = run()
    a.sidebar.selectbox(key="model").set_value("DeepMLP").run()
    a.sidebar.slider(key="model.depth").set_value(7).run()
    link = link_of(a)
    assert json.loads(link["opts"])["depth"] == 7
    b = run(link)
    assert len(table(b)) == 14 and (table(a)["std"] == table(b)["std"]).all()


@pytest.mark.parametrize(
    "query, says",
    [
        ({"plan": "not-a-plan!!"}, "plan in the link is damaged"),
        ({"seed": "-3"}, "seed"),
        ({"model": "ResNet9000"}, "ResNet9000"),
        ({"opts": '{"depth": 9999}', "model": "DeepMLP"}, "model options"),
    ],
)
def test_garbage_in_the_link_is_ignored_with_a_warning(query, says):
    at = run(query)
    assert any(says in w for w in warnings(at)), warnings(at)
    assert not at.error and len(table(at)) > 0


def test_share_tab_exports_code_that_reproduces_the_weights_bit_for_bit():
    at = run(view=SHARE)
    at.sidebar.selectbox(key="preset").set_value("Kaiming (He)").run()
    code = next(c.value for c in at.code if "def init_weights" in c.value)
    namespace: dict = {}
    exec(compile(code, "init_weights.py", "exec"), namespace)  # our own exported script, under test
    model = pinit.build_model("SimpleCNN", seed=0)
    namespace["init_weights"](model)
    expected = weights_of_plan("SimpleCNN", pinit.PRESETS["Kaiming (He)"].plan, 0)
    for k, v in model.state_dict().items():
        assert torch.equal(v, expected[k]), k
    labels = [d.label for d in at.get("download_button")]
    assert labels == [
        "Download plan (JSON)",
        "Download script (.py)",
        "Download table (CSV)",
        "Download weights (state_dict .pt)",
    ]


def test_uploaded_plan_file_sets_the_sidebar_and_the_weights():
    at = run(view=SHARE)
    plan = pinit.PRESETS["Xavier (Glorot)"].plan
    data = pinit.plan_to_json(plan, seed=5, model="SimpleCNN").encode()
    at.file_uploader(key="plan_upload").upload("xavier.json", data, "application/json").run()
    assert not at.exception and not at.error
    settled(at)
    assert at.sidebar.selectbox(key="Linear.weight.scheme").value == "xavier_uniform"
    assert at.sidebar.text_input(key="seed").value == "5"
    goto(at, "Weights")
    t = table(at)
    assert set(t.loc[t["type"] == "Linear"].index) >= {"layer4.fc1.weight"}
    assert t.loc["layer4.fc1.weight", "scheme"] == "xavier_uniform"
    expected = weights_of_plan("SimpleCNN", plan, 5)["layer4.fc1.weight"]
    assert t.loc["layer4.fc1.weight", "std"] == pytest.approx(float(expected.std(correction=0)), abs=5e-5)  # 4 decimals


@pytest.mark.parametrize(
    "content, says",
    [
        (b"\xff\xfe\x00 binary", "not UTF-8"),
        (b"rules: yaml?", "not valid JSON"),
        (b'{"rules": {"Linear": {"weight": {"scheme": "glorious"}}}}', "unknown scheme 'glorious'"),
        (b'{"rules": {"Linear": {"weight": {"scheme": "normal", "std": -1}}}}', "std=-1 is out of range"),
        (b'{"rules": {"Conv2d": {"weight": {"scheme": "eye"}}}}', "eye needs a 2-D tensor"),
    ],
)
def test_bad_plan_files_are_refused_in_words_and_change_nothing(content, says):
    at = run(view=SHARE)
    before = link_of(at)
    at.file_uploader(key="plan_upload").upload("bad.json", content, "application/json").run()
    assert not at.exception
    assert errors(at) and "bad.json was not loaded" in errors(at)[0] and says in errors(at)[0], errors(at)
    assert link_of(at) == before
    assert settled(at).sidebar.selectbox(key="Linear.weight.scheme").value == "default"


def test_checkpoint_upload_shows_its_weights_and_counts_nan(tmp_path):
    m = pinit.build_model("SimpleCNN", seed=1)
    with torch.no_grad():
        m.layer4.fc3.weight.fill_(0.25)
        m.layer4.fc3.weight[0, :3] = float("nan")
    at = run(view=SHARE)
    at.file_uploader(key="ckpt_upload").upload("trained.pt", pinit.save_state_dict(m), "application/octet-stream").run()
    assert not at.error, errors(at)
    goto(at, "Weights")
    assert any("trained.pt" in w for w in warnings(at))
    assert any("NaN/Inf" in e and "layer4.fc3.weight: 3" in e for e in errors(at))
    t = table(at)
    assert t.loc["layer4.fc3.weight", "nonfinite"] == 3
    assert t.loc["layer4.fc3.weight", "mean"] == pytest.approx(0.25)
    assert "scheme" not in t.columns  # no plan claims these weights
    at.sidebar.button[0].click().run()  # New draw: the plan's weights again, from a new seed
    assert "scheme" in table(at).columns and not any("trained.pt" in w for w in warnings(at))


def test_malicious_checkpoint_runs_nothing_and_keeps_the_state(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    at = run(view=SHARE)
    goto(at, "Weights")
    before = table(at)["std"].copy()
    goto(at, SHARE)
    at.file_uploader(key="ckpt_upload").upload("evil.pt", evil_torch_save(), "application/octet-stream").run()
    assert not at.exception
    assert errors(at) and "evil.pt was not loaded" in errors(at)[0]
    assert not os.path.exists(tmp_path / "PINIT_PWNED_MARKER.txt")
    goto(at, "Weights")
    assert (table(at)["std"] == before).all()


def test_checkpoint_with_wrong_keys_lists_them():
    other = torch.nn.Linear(3, 2)
    at = run(view=SHARE)
    at.file_uploader(key="ckpt_upload").upload(
        "linear.pt", pinit.save_state_dict(other), "application/octet-stream"
    ).run()
    text = errors(at)[0]
    assert "linear.pt was not loaded" in text and "layer1.conv1.weight" in text


def test_a_link_names_its_preset_in_the_preset_box_or_says_custom():
    a = run()
    preset(a, "Article recipe")
    b = run(link_of(a))
    assert b.sidebar.selectbox(key="preset").value == "Article recipe"
    a.sidebar.selectbox(key="Linear.bias.scheme").set_value("zeros").run()
    c = run(link_of(a))
    assert c.sidebar.selectbox(key="preset").value == "(custom)"
    assert c.sidebar.selectbox(key="Linear.bias.scheme").value == "zeros"
    assert (table(c)["std"] == table(a)["std"]).all()
