"""pinit.checkpoint: safe loading of uploaded weights, and saving them for download."""

from __future__ import annotations

import importlib.util
import io
import math
import os
import pickle
from pathlib import Path

import pytest
import torch
from torch import nn

import pinit
from pinit.share.checkpoint import (
    DEFAULT_MAX_BYTES,
    CheckpointError,
    LoadedCheckpoint,
    load_checkpoint,
    save_state_dict,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures"
_spec = importlib.util.spec_from_file_location("make_fixtures", FIXTURES / "make_fixtures.py")
fx = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fx)


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_same(model: nn.Module, snap: dict[str, torch.Tensor]) -> None:
    state = model.state_dict()
    assert list(state) == list(snap)
    for k, v in state.items():
        assert torch.equal(v.view(torch.int32), snap[k].view(torch.int32)), f"{k} changed"


def refused(data, model: nn.Module, **kw) -> CheckpointError:
    """load_checkpoint must refuse `data` and leave `model` exactly as it was."""
    before = snapshot(model)
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(data, model, **kw)
    assert isinstance(e.value, ValueError)
    assert e.value.problems and all(isinstance(p, str) and p for p in e.value.problems)
    assert str(e.value) == "\n".join(e.value.problems)
    assert_same(model, before)
    return e.value


@pytest.fixture(scope="module")
def cnn_bytes() -> bytes:
    model = pinit.build_model("SimpleCNN", seed=1)
    pinit.apply_plan(model, pinit.PRESETS["Kaiming (He)"].plan, seed=3)
    return save_state_dict(model)


@pytest.fixture()
def cnn() -> nn.Module:
    return pinit.build_model("SimpleCNN", seed=0)


def small_mlp(width: int = 8) -> nn.Module:
    return pinit.build_model("DeepMLP", seed=0, depth=2, width=width)


# --- accepted -------------------------------------------------------------------------


def test_round_trip_is_bit_exact(cnn_bytes, cnn):
    source = pinit.build_model("SimpleCNN", seed=1)
    pinit.apply_plan(source, pinit.PRESETS["Kaiming (He)"].plan, seed=3)
    info = load_checkpoint(cnn_bytes, cnn)
    assert info == LoadedCheckpoint(format="torch", wrapper=None, stripped_prefix="", tensors=12, nonfinite={})
    assert_same(cnn, snapshot(source))
    # The bytes are a plain state_dict that torch.load(weights_only=True) reads.
    sd = torch.load(io.BytesIO(cnn_bytes), weights_only=True)
    assert list(sd) == [n for n, _ in cnn.named_parameters()]


def test_loaded_weights_are_the_models_own_parameters(cnn_bytes, cnn):
    params_before = [id(p) for p in cnn.parameters()]
    load_checkpoint(cnn_bytes, cnn)
    assert [id(p) for p in cnn.parameters()] == params_before  # copied in place, no new tensors
    assert all(p.requires_grad for p in cnn.parameters())


@pytest.mark.parametrize("wrapper", ["state_dict", "model"])
def test_wrapped_state_dicts_are_accepted(wrapper):
    source = small_mlp()
    data = fx.torch_bytes({wrapper: source.state_dict(), "epoch": 3, "optimizer": {"lr": 0.1}})
    target = pinit.build_model("DeepMLP", seed=5, depth=2, width=8)
    info = load_checkpoint(data, target)
    assert info.wrapper == wrapper and info.tensors == 4
    assert_same(target, snapshot(source))


def test_data_parallel_prefix_is_stripped():
    source = small_mlp()
    data = fx.torch_bytes({"module." + k: v for k, v in source.state_dict().items()})
    target = pinit.build_model("DeepMLP", seed=5, depth=2, width=8)
    assert load_checkpoint(data, target).stripped_prefix == "module."
    assert_same(target, snapshot(source))


def test_committed_tiny_checkpoint_loads():
    model = nn.Linear(3, 2)
    info = load_checkpoint((FIXTURES / "tiny_linear.pt").read_bytes(), model)
    assert info.tensors == 2
    assert model.weight.tolist() == [[0.5, -0.25, 0.125], [1.0, -1.0, 0.0]]
    assert model.bias.tolist() == [0.75, -0.5]


def test_nan_and_inf_are_loaded_and_reported_not_refused():
    source = small_mlp()
    sd = source.state_dict()
    sd["layers.fc1.weight"][0, :3] = torch.tensor([math.nan, math.inf, -math.inf])
    sd["layers.fc2.bias"][1] = math.nan
    target = small_mlp()
    info = load_checkpoint(fx.torch_bytes(sd), target)
    assert info.nonfinite == {"layers.fc1.weight": 3, "layers.fc2.bias": 1}
    assert math.isnan(target.layers.fc1.weight[0, 0].item()) and target.layers.fc1.weight[0, 1].item() == math.inf
    table = pinit.parameter_table(target).set_index("name")
    assert table.loc["layers.fc1.weight", "nonfinite"] == 3
    assert table.loc["layers.fc2.bias", "nonfinite"] == 1
    assert table.loc["layers.fc2.weight", "nonfinite"] == 0


def test_other_float_dtypes_are_converted_to_the_models():
    source = small_mlp()
    data = fx.torch_bytes({k: v.double() for k, v in source.state_dict().items()})
    target = small_mlp(8)
    load_checkpoint(data, target)
    assert all(p.dtype == torch.float32 for p in target.parameters())
    assert_same(target, snapshot(source))


# --- refused --------------------------------------------------------------------------


def test_size_cap_is_checked_before_reading(cnn_bytes, cnn):
    assert DEFAULT_MAX_BYTES == 200 * 1024 * 1024
    e = refused(cnn_bytes, cnn, max_bytes=1_000_000)
    assert e.problems == [f"the file is 4.5 MB ({len(cnn_bytes):,} bytes); the limit is 1.0 MB (1,000,000 bytes)"]
    load_checkpoint(cnn_bytes, cnn, max_bytes=len(cnn_bytes))  # exactly at the cap: fine


def test_empty_file(cnn):
    assert refused(b"", cnn).problems == ["the file is empty (0 bytes)"]


def test_not_bytes(cnn):
    assert "got str" in refused("weights.pt", cnn).problems[0]


@pytest.mark.parametrize("fraction", [0.001, 0.1, 0.5, 0.9, 0.9999])
def test_truncated_files(cnn_bytes, cnn, fraction):
    e = refused(cnn_bytes[: max(1, int(len(cnn_bytes) * fraction))], cnn)
    assert "truncated" in e.problems[0] or "not a readable PyTorch checkpoint" in e.problems[0]


def test_truncated_legacy_format():
    buf = io.BytesIO()
    torch.save(small_mlp().state_dict(), buf, _use_new_zipfile_serialization=False)
    data = buf.getvalue()
    refused(data[: len(data) // 2], small_mlp())
    assert load_checkpoint(data, small_mlp()).tensors == 4  # whole: fine


@pytest.mark.parametrize(
    "data, expected",
    [
        (b"hello, this is a text file\n", "not a readable PyTorch checkpoint"),
        (b"PK\x03\x04" + b"\x00" * 40, "not a readable PyTorch checkpoint"),
        (pickle.dumps({"a": 1}, protocol=2), "not a readable PyTorch checkpoint"),
        (fx.torch_bytes(torch.zeros(3)), "the file holds a tensor of shape (3,), not a state_dict"),
        (fx.torch_bytes([torch.zeros(3)]), "the file holds a list, not a state_dict"),
        (fx.torch_bytes({}), "the file holds an empty dict: no weights to load"),
        (
            fx.torch_bytes({"epoch": 3, "lr": 0.1}),
            "the file is not a dict of tensors ('epoch' holds a int; 'lr' holds a float)",
        ),
        (fx.torch_bytes({"state_dict": [1, 2]}), "has no 'state_dict' or 'model' entry holding one"),
    ],
)
def test_files_that_are_not_checkpoints(data, expected):
    e = refused(data, small_mlp())
    assert any(expected in p for p in e.problems), e.problems


def test_entries_that_are_not_tensors_are_listed():
    sd = dict(small_mlp().state_dict())
    data = fx.torch_bytes({"state_dict": {**sd, "layers.fc1.weight": [1.0, 2.0]}})
    e = refused(data, small_mlp())
    assert "entries that are not tensors: 'layers.fc1.weight'" in e.problems


def test_integer_values_for_float_parameters_are_refused():
    sd = {k: v.to(torch.int64) for k, v in small_mlp().state_dict().items()}
    e = refused(fx.torch_bytes(sd), small_mlp())
    assert len(e.problems) == 4
    assert (
        "layers.fc1.weight: the file has dtype torch.int64; the model needs floating-point values (torch.float32)"
        in e.problems
    )


@pytest.mark.parametrize("make", [fx.evil_pickle, fx.evil_torch_save])
def test_a_pickle_that_would_run_code_is_refused_and_never_run(tmp_path, make):
    # Control: the payload is real; plain pickle.loads does create its file.
    control = tmp_path / "control.txt"
    with open(control.parent / "ctl.pkl", "wb") as f:
        f.write(fx.evil_pickle(str(control)))
    pickle.loads((control.parent / "ctl.pkl").read_bytes())["weight"].close()
    assert control.exists()

    marker = tmp_path / "pwned.txt"
    e = refused(make(str(marker)), small_mlp())
    assert not marker.exists()
    assert e.problems[0].startswith(
        "the file holds Python objects other than tensors and plain containers (it asks to import and call io.open); "
        "unpickling it could run code, so it was not unpickled"
    )


@pytest.mark.parametrize("name", ["evil_open.pkl", "evil_open.pt"])
def test_committed_malicious_fixtures_are_refused(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)  # the fixtures would create MARKER in the working directory
    refused((FIXTURES / name).read_bytes(), small_mlp())
    assert not (tmp_path / fx.MARKER).exists()
    assert os.listdir(tmp_path) == []


def test_missing_keys_are_listed(cnn_bytes, cnn):
    sd = torch.load(io.BytesIO(cnn_bytes), weights_only=True)
    del sd["layer4.fc3.weight"], sd["layer1.conv1.bias"]
    e = refused(fx.torch_bytes(sd), cnn)
    assert e.problems == [
        "missing keys (2), the model has them but the file does not: 'layer1.conv1.bias', 'layer4.fc3.weight'"
    ]
    assert e.missing == ["layer1.conv1.bias", "layer4.fc3.weight"] and e.unexpected == [] and e.mismatched == {}


def test_unexpected_keys_are_listed(cnn_bytes):
    # The article's listing has the same shapes under other names.
    e = refused(cnn_bytes, pinit.build_model("ArticleSimpleCNN"))
    assert e.unexpected == ["layer2.conv2.weight", "layer2.conv2.bias", "layer4.fc2.weight", "layer4.fc2.bias"]
    assert e.missing == ["layer1.conv2.weight", "layer1.conv2.bias", "layer4.fc2 .weight", "layer4.fc2 .bias"]
    assert e.problems[1] == (
        "unexpected keys (4), the file has them but the model does not: "
        "'layer2.conv2.weight', 'layer2.conv2.bias', 'layer4.fc2.weight', 'layer4.fc2.bias'"
    )


def test_shape_mismatches_are_listed():
    data = save_state_dict(small_mlp(width=8))
    e = refused(data, small_mlp(width=16))
    assert e.mismatched == {
        "layers.fc1.weight": ((8, 256), (16, 256)),
        "layers.fc1.bias": ((8,), (16,)),
        "layers.fc2.weight": ((10, 8), (10, 16)),
    }
    assert e.problems == [
        "shape mismatch for layers.fc1.weight: the file has (8, 256), the model needs (16, 256)",
        "shape mismatch for layers.fc1.bias: the file has (8,), the model needs (16,)",
        "shape mismatch for layers.fc2.weight: the file has (10, 8), the model needs (10, 16)",
    ]


def test_every_kind_of_mismatch_at_once():
    sd = dict(small_mlp(width=8).state_dict())
    del sd["layers.fc2.bias"]
    sd["extra.weight"] = torch.zeros(2)
    e = refused(fx.torch_bytes(sd), small_mlp(width=16))
    assert len(e.problems) == 5
    assert e.missing == ["layers.fc2.bias"] and e.unexpected == ["extra.weight"] and len(e.mismatched) == 3


def test_long_key_lists_are_shortened():
    e = refused(save_state_dict(pinit.build_model("DeepMLP", depth=15, width=4)), small_mlp())
    unexpected = [p for p in e.problems if p.startswith("unexpected keys")]
    assert unexpected[0].startswith(
        "unexpected keys (26), the file has them but the model does not: 'layers.fc3.weight'"
    )
    assert unexpected[0].endswith("'layers.fc12.bias' and 6 more")  # 20 names shown
    assert e.unexpected[-1] == "layers.fc15.bias" and len(e.unexpected) == 26


# --- safetensors (optional) -----------------------------------------------------------

HAS_SAFETENSORS = importlib.util.find_spec("safetensors") is not None


@pytest.mark.skipif(not HAS_SAFETENSORS, reason="the optional safetensors package is not installed")
def test_safetensors_file_loads_when_the_package_is_installed():
    model = nn.Linear(3, 2)
    info = load_checkpoint(fx.safetensors_bytes(fx.tiny_linear_state()), model)
    assert info.format == "safetensors"
    assert model.bias.tolist() == [0.75, -0.5]


@pytest.mark.skipif(HAS_SAFETENSORS, reason="safetensors is installed")
def test_safetensors_file_without_the_package_is_refused_in_words():
    e = refused(fx.safetensors_bytes(fx.tiny_linear_state()), nn.Linear(3, 2))
    assert "looks like a .safetensors file, but the optional 'safetensors' package is not installed" in e.problems[0]


# --- refused before anything is allocated (issue 10, item 1) ---------------------------------------
# torch.load(weights_only=True) runs no code, but what it allows can allocate without bound.
# pinit reads the file's structure first; the memory each costs is measured in
# tests/test_memory_budget.py.


def test_a_pickle_that_allocates_through_an_allowed_builtin_is_refused_before_unpickling():
    e = refused(fx.bytearray_bomb(), small_mlp())  # 3 GB before, torch allows builtins.bytearray
    assert e.problems[0].startswith(
        "the file asks to call builtins.bytearray, which a state_dict saved by torch.save never does"
    )
    assert "could run code" not in e.problems[0]


def test_a_compressed_zip_entry_is_refused_before_it_is_inflated():
    e = refused(fx.deflate_bomb(size=2**24), pinit.build_model("SimpleCNN"))  # 2**30 in the budget test
    assert e.problems[0].startswith(
        "the zip entry 'archive/data/0' is compressed; torch.save stores every entry uncompressed"
    )


def test_a_legacy_storage_claiming_more_bytes_than_the_file_holds_is_refused():
    e = refused(fx.legacy_numel_bomb(), pinit.build_model("SimpleCNN"))
    assert e.problems == [
        "the file's storages claim 1,073,741,832 bytes but only 24 follow them: it is truncated or damaged"
    ]


def test_a_zip_storage_claiming_more_than_its_record_is_refused():
    pkl = fx.torch_pickle({"weight": fx._Tensor(fx._Storage("0", 2**20), (2**20,))})
    e = refused(fx.torch_zip(pkl, {"0": bytes(16)}), nn.Linear(3, 2))
    assert e.problems == [
        "a tensor's storage '0' claims 4,194,304 bytes but its record holds 16 bytes: the file is damaged"
    ]


def test_a_pickle_with_too_many_instructions_is_refused():
    from pinit.share.checkpoint_scan import MAX_PICKLE_OPS

    pkl = b"\x80\x02" + b"N0" * (MAX_PICKLE_OPS // 2 + 1) + b"N."  # NONE, POP: the stack stays small
    e = refused(fx.torch_zip(pkl, {}), nn.Linear(3, 2))
    assert e.problems[0].startswith("the file's pickle has more than 1,000,000 instructions")


@pytest.mark.parametrize(
    "names, words",
    [
        (["archive/data.pkl", "archive/data.pkl"], "is not where torch.save puts it"),
        (["archive/data.pkl", "other/data/0"], "is not where torch.save puts it"),
        (["archive/version"], "the zip archive has no data.pkl"),
    ],
)
def test_zip_archives_torch_save_never_writes_are_refused(names, words):
    buf = io.BytesIO()
    import warnings
    import zipfile

    with zipfile.ZipFile(buf, "w") as z, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name"
        for name in names:
            z.writestr(name, fx.torch_pickle({}) if name.endswith(".pkl") else b"3")
    e = refused(buf.getvalue(), nn.Linear(3, 2))
    assert words in e.problems[0], e.problems


def test_a_zip_with_too_many_entries_is_refused_before_its_directory_is_read():
    from pinit.share.checkpoint_scan import MAX_ZIP_ENTRIES

    records = {str(i): b"" for i in range(MAX_ZIP_ENTRIES)}
    e = refused(fx.torch_zip(fx.torch_pickle({}), records), nn.Linear(3, 2))
    assert e.problems[0].startswith(f"the zip archive has {MAX_ZIP_ENTRIES + 3:,} entries")


def _saved_variants():
    """(label, bytes) of what torch.save writes for state_dicts: every registered model (the big
    ones with one-value stand-ins: only the pickle's globals matter), five dtypes, pickle
    protocols 2/4/5, zip and legacy formats, bare and wrapped with an optimizer's state."""
    with torch.device("meta"):
        shapes = {name: pinit.build_model(name).state_dict() for name in pinit.MODELS}
    lin = nn.Linear(3, 2)
    opt = torch.optim.Adam(lin.parameters())
    lin(torch.ones(1, 3)).sum().backward()
    opt.step()
    for name, sd in shapes.items():
        for dtype in (torch.float32, torch.float16, torch.bfloat16, torch.float64, torch.int64):
            small = type(sd)((k, torch.zeros(1, dtype=dtype)) for k in sd)
            small._metadata = sd._metadata  # type: ignore[attr-defined]
            for protocol in (2, 4, 5):
                for zip_format in (True, False):
                    buf = io.BytesIO()
                    torch.save(small, buf, pickle_protocol=protocol, _use_new_zipfile_serialization=zip_format)
                    yield f"{name}-{dtype}-p{protocol}-{'zip' if zip_format else 'legacy'}", buf.getvalue()
    yield (
        "wrapped-with-optimizer",
        fx.torch_bytes({"model": lin.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}),
    )
    yield "named-parameters", fx.torch_bytes(dict(lin.named_parameters()))


def test_everything_torch_save_writes_for_a_state_dict_passes_the_scan():
    """The allowlist is derived from torch.save: if a torch release writes another global for a
    plain state_dict, this fails and names it."""
    from pinit.share.checkpoint import _check_structure
    from pinit.share.checkpoint_scan import ScanError

    failures = {}
    for label, data in _saved_variants():
        try:
            _check_structure(data, DEFAULT_MAX_BYTES)
        except ScanError as e:
            failures[label] = str(e)[:200]
    assert not failures, failures


@pytest.mark.parametrize("zip_format", [True, False])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_real_checkpoints_in_every_format_still_load(zip_format, dtype):
    source = small_mlp()
    buf = io.BytesIO()
    torch.save({k: v.to(dtype) for k, v in source.state_dict().items()}, buf, _use_new_zipfile_serialization=zip_format)
    target = small_mlp()
    assert load_checkpoint(buf.getvalue(), target).tensors == 4
    for k, v in target.state_dict().items():
        assert torch.equal(v, source.state_dict()[k].to(dtype).float())


# --- each refusal names its real cause (issue 10, item 11) -------------------------------------------


def test_a_checkpoint_of_meta_tensors_is_refused_in_words():
    e = refused(fx.meta_checkpoint("SimpleCNN"), pinit.build_model("SimpleCNN"))  # was NotImplementedError
    assert e.problems[0].startswith("the file holds tensors on the 'meta' device: shapes without values")


def test_the_cli_refuses_a_meta_checkpoint_in_words(tmp_path):
    import contextlib

    from pinit.share.cli import main

    path = tmp_path / "meta.pt"
    path.write_bytes(fx.meta_checkpoint("SimpleCNN"))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["--checkpoint", str(path)], out=out, err=err)
    assert code == 1 and "'meta' device" in err.getvalue() and "Traceback" not in err.getvalue()


def _random_files():
    import random

    rng = random.Random(10)
    for i in range(300):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 600)))
        yield data if i % 2 else b"\x80" + data  # half of them start like a pickle
    yield from (
        b"hello, this is a text file\n",
        b"The quick brown fox jumps over the lazy dog. " * 20,
        b"<html><body>hi</body></html>",
        b'{"a": 1}',
        b"\x80\x02cnot a\nname\n.",
        b"\x89PNG\r\n\x1a\n" + bytes(100),
    )


def test_random_bytes_and_text_are_not_called_code():
    """Before, most of these were refused as 'unpickling it could run code', one text as 'KeyError: 101'."""
    wrong = {}
    for data in _random_files():
        e = refused(data, nn.Linear(3, 2))
        text = e.problems[0]
        readable = "not a readable PyTorch checkpoint" in text or "not a readable .safetensors file" in text
        if "could run code" in text or "KeyError" in text or not readable:
            wrong[data[:30]] = text
    assert not wrong, wrong


def test_text_is_said_to_be_text():
    e = refused(b"hello, this is a text file\n", nn.Linear(3, 2))
    assert e.problems == [
        "the file is not a readable PyTorch checkpoint: it is text ('hello, this is a text file\\n'), "
        "not a torch.save() file (a zip archive or a pickle) or a .safetensors file"
    ]


def _safetensors(header: bytes, body: bytes = b"", length: int | None = None) -> bytes:
    import struct

    return struct.pack("<Q", len(header) if length is None else length) + header + body


@pytest.mark.parametrize(
    "data, words",
    [
        (_safetensors(b'{"weight": {}}', length=10**6), "its header says it is 1,000,000 bytes long"),
        (_safetensors(b"{abcdefg"), "its header is not valid JSON"),
        (_safetensors(b'{"e": 1}'), "its entry 'e' is not a tensor description"),
        (
            _safetensors(b'{"weight": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}}', bytes(4)),
            "its entry 'weight' needs bytes 0 to 24 of the data, but the data is 4 bytes long",
        ),
        (
            _safetensors(b'{"weight": {"dtype": "F99", "shape": [1], "data_offsets": [0, 4]}}', bytes(4)),
            "its entry 'weight' has dtype 'F99'",
        ),
    ],
)
def test_a_bad_safetensors_header_gets_its_own_sentence(data, words):
    e = refused(data, nn.Linear(3, 2))
    assert e.problems[0].startswith("the file is not a readable .safetensors file: "), e.problems
    assert words in e.problems[0], e.problems


def test_torch_allowlist_is_asked_through_the_public_api():
    """_torch_allows agrees with torch's own weights_only allowlist, read through
    torch.serialization.get_unsafe_globals_in_checkpoint (no private torch module)."""
    from pinit.share.checkpoint_scan import _torch_allows

    assert _torch_allows("torch._utils", "_rebuild_tensor_v2")
    assert _torch_allows("collections", "OrderedDict")
    assert not _torch_allows("os", "system")
    assert not _torch_allows("builtins", "eval")
    assert not _torch_allows("collections", "OrderedDict\nos")  # no GLOBAL can name it
