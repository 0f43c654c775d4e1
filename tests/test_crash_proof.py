"""No input can crash the server, and a checkpoint counts by what it expands to (issue 17).

* A legacy torch checkpoint whose dict key is a tuple nested 300,000 deep passed pinit's
  scan, then torch.load(weights_only=True) hashed the key recursively in C and the process
  died (SIGSEGV; the CLI exited 139). Each nesting shape is built here by hand as raw pickle
  opcodes, in both the legacy and the zip form, and loaded in a child process, which must
  exit normally with a refusal in words.
* A zip whose end record claims a few entries while its central directory holds thousands:
  Python's zipfile reads every header in the directory's byte range.
* Stride-0 views over one stored float fit any model: a 2.4 kB file became VGGStyle.
"""

from __future__ import annotations

import importlib.util
import io
import os
import pickle
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
from torch import nn

import pinit
from pinit.share import checkpoint_scan
from pinit.share.checkpoint import CheckpointError, load_checkpoint, save_state_dict
from pinit.share.checkpoint_scan import MAX_DEPTH, MAX_ZIP_ENTRIES

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("make_fixtures", ROOT / "tests" / "fixtures" / "make_fixtures.py")
fx = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fx)

DEEP = 300_000  # what the probe used; the scan stops at MAX_DEPTH + 1 whatever the depth


# --- hostile pickles, opcode by opcode ----------------------------------------------------------


def _text(s: str) -> bytes:
    raw = s.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw  # BINUNICODE


def _deep_tuple(n: int = DEEP) -> bytes:
    return b")" + b"\x85" * n  # EMPTY_TUPLE, then TUPLE1 n times: ((((),),),)...


def _inside_out(empty: bytes, wrap: bytes, n: int = DEEP) -> bytes:
    """A container nested n deep, built from the inside out through the memo so the stack stays
    at two values: each level is PUT 0, POP, <new outer around GET 0>."""
    return empty + (b"q\x000" + wrap) * n  # BINPUT 0, POP, then the wrapper reads BINGET 0


SHAPES = {
    # {((((...),),),): None}: torch hashes the key (SIGSEGV before)
    "tuple key": b"\x80\x02}" + _deep_tuple() + b"Ns.",
    # {"w": [[[...]]]}
    "deep list": b"\x80\x02}" + _text("w") + _inside_out(b"]", b"]h\x00a") + b"s.",
    # {"k": {"k": {...}}}
    "deep dict": b"\x80\x02}" + _text("k") + _inside_out(b"}", b"}" + _text("k") + b"h\x00s") + b"s.",
    # {"w": {((((...),),),)}}: a set hashes its items (protocol 4: EMPTY_SET, MARK, ADDITEMS)
    "set": b"\x80\x04}" + _text("w") + b"\x8f(" + _deep_tuple() + b"\x90s.",
    # {"w": frozenset({frozenset({...})})}
    "frozenset": b"\x80\x04}" + _text("w") + _inside_out(b"(\x91", b"(h\x00\x91") + b"s.",
    # OrderedDict([(((((...),),),), None)]): torch calls OrderedDict(pairs) and hashes the key (SIGSEGV before)
    "OrderedDict of pairs": b"\x80\x02ccollections\nOrderedDict\n]" + _deep_tuple() + b"N\x86a\x85R.",
}


def legacy_file(pkl: bytes) -> bytes:
    """A legacy torch.save stream: magic number, protocol version, system info, `pkl`, storage keys."""
    buf = io.BytesIO()
    sys_info = {"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}}
    for part in (0x1950A86A20F9469CFC6C, 1001, sys_info):
        pickle.dump(part, buf, protocol=2)
    buf.write(pkl)
    pickle.dump([], buf, protocol=2)
    return buf.getvalue()


FORMS = {"legacy": legacy_file, "zip": lambda pkl: fx.torch_zip(pkl, {})}


def _child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


_LOAD = """
import sys, torch
from pinit.share.checkpoint import CheckpointError, load_checkpoint
try:
    load_checkpoint(open(sys.argv[1], "rb").read(), torch.nn.Linear(3, 2))
except CheckpointError as e:
    print("REFUSED:", e)
else:
    print("LOADED")
"""


def test_the_tuple_key_fixture_really_crashes_an_unpickler(tmp_path):
    """Control: plain pickle.loads of the tuple-key pickle kills its process (so the tests below
    refuse a real crash, not a harmless file)."""
    path = tmp_path / "key.pkl"
    path.write_bytes(SHAPES["tuple key"])
    child = subprocess.run(
        [sys.executable, "-c", "import pickle, sys; pickle.loads(open(sys.argv[1], 'rb').read())", str(path)],
        capture_output=True,
        timeout=120,
    )
    assert child.returncode != 0, "pickle.loads survived a 300,000-deep tuple key"


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("shape", SHAPES)
def test_deep_nesting_is_refused_in_words_in_a_child_process(tmp_path, shape, form):
    path = tmp_path / "evil.pt"
    path.write_bytes(FORMS[form](SHAPES[shape]))
    child = subprocess.run(
        [sys.executable, "-c", _LOAD, str(path)], capture_output=True, text=True, timeout=300, env=_child_env()
    )
    assert child.returncode == 0, f"exit {child.returncode}: {child.stderr[-2000:]}"
    # A frozenset holding a frozenset is refused at the first level: set items, like dict keys,
    # must be text or numbers. Every other shape is refused at depth MAX_DEPTH + 1.
    words = "uses a container or an object as a dict key or set item" if shape == "frozenset" else "nests containers"
    assert child.stdout.startswith("REFUSED: the file's pickle ") and words in child.stdout, child.stdout[:500]
    assert len(child.stdout) < 500


@pytest.mark.parametrize("form", FORMS)
def test_the_cli_refuses_a_deep_key_with_exit_1_not_a_crash(tmp_path, form):
    path = tmp_path / "evil.pt"
    path.write_bytes(FORMS[form](SHAPES["tuple key"]))
    child = subprocess.run(
        [sys.executable, "-m", "pinit", "--checkpoint", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        env=_child_env(),
    )
    assert child.returncode == 1, f"exit {child.returncode}: {child.stderr[-2000:]}"
    assert "is refused: the file's pickle nests containers more than" in child.stderr
    assert child.stdout == "" and len(child.stderr) < 1_000


def _refused(data: bytes, model: nn.Module, **kw) -> str:
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(data, model, **kw)
    return str(e.value)


@pytest.mark.parametrize(
    "pkl, words",
    [
        (b"\x80\x02}" + _text("k" * 20_000) + b"Ns.", "a dict key of 20,000 characters"),
        (b"\x80\x02}" + b"G?\xf0\x00\x00\x00\x00\x00\x00Ns.", "uses a floating-point number as a dict key"),
        (b"\x80\x02}K\x01K\x02\x86Ns.", "uses a tuple as a dict key"),
        (b"\x80\x02}\x8a\x09" + b"\x01" * 9 + b"Ns.", "uses a whole number over 64 bits as a dict key"),
        (b"\x80\x02}(" + b"K\x01N" * 100_001 + b"u.", "builds a container of 100,001 items or more"),
        # A list put inside a dict, then appended to through the memo: nesting no instruction shows.
        (b"\x80\x02}" + _text("w") + b"]q\x00sh\x00Na.", "changes a container after putting it inside another"),
        (b"\x80\x02ccollections\nOrderedDict\n}\x85R.", "builds an OrderedDict from arguments"),
    ],
)
def test_keys_and_containers_torch_save_never_writes_are_refused(pkl, words):
    for form in FORMS.values():
        assert words in _refused(form(pkl), nn.Linear(3, 2))


def test_nesting_just_inside_the_limit_is_read():
    """The depth bound refuses only what is deeper than MAX_DEPTH: a 90-deep list passes the scan
    and reaches torch.load, which stops at the POP instruction it does not read."""
    pkl = b"\x80\x02}" + _text("w") + _inside_out(b"]", b"]h\x00a", MAX_DEPTH - 10) + b"s."
    assert "torch.load(weights_only=True) stopped at" in _refused(legacy_file(pkl), nn.Linear(3, 2))


# --- a zip whose end record disagrees with its directory (item 4) ----------------------------------


def lying_zip(extra: int, claim: int | None = None) -> bytes:
    """A torch.save zip of nn.Linear(3, 2)'s weights whose central directory gets `extra` more
    headers (names archive/pad/<i>, sizes 0), while its end record keeps the real count (or `claim`)."""
    real = save_state_dict(nn.Linear(3, 2))
    eocd = real.rindex(b"PK\x05\x06")
    _sig, _d, _cd, _n, count, size, offset, _c = struct.unpack_from("<4s4H2LH", real, eocd)
    pads = b"".join(
        struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 0, 0, 0, 0, 0, 0, len(name), 0, 0, 0, 0, 0, 0) + name
        for name in (f"archive/pad/{i}".encode() for i in range(extra))
    )
    directory = real[offset : offset + size] + pads
    claimed = count if claim is None else claim
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, claimed, claimed, len(directory), offset, 0)
    return real[:offset] + directory + end


def _no_zipfile(*_a, **_k):
    raise AssertionError("zipfile opened an archive the scan should have refused")


def test_a_zip_whose_directory_holds_more_than_its_end_record_says_is_refused_before_zipfile_opens_it(monkeypatch):
    data = lying_zip(20_000)
    assert len(data) < 2_000_000  # 1.25 MB
    monkeypatch.setattr(checkpoint_scan.zipfile, "ZipFile", _no_zipfile)
    text = _refused(data, nn.Linear(3, 2))
    assert text.startswith(f"the zip archive's directory holds more than {MAX_ZIP_ENTRIES:,} entries"), text


def test_a_zip_whose_end_record_undercounts_a_small_directory_is_refused(monkeypatch):
    data = lying_zip(50)
    with zipfile.ZipFile(io.BytesIO(data)) as z:  # control: zipfile reads all of them
        count = len(z.infolist())
    assert count > 50
    monkeypatch.setattr(checkpoint_scan.zipfile, "ZipFile", _no_zipfile)
    text = _refused(data, nn.Linear(3, 2))
    said = f"the zip archive's end record says it has {count - 50} entries, but its directory holds {count}"
    assert text.startswith(said), text


def test_an_honest_zip_still_loads_and_a_zero_padding_is_nothing():
    assert load_checkpoint(lying_zip(0), nn.Linear(3, 2)).tensors == 2


# --- a checkpoint counts by what it expands to (item 3) ---------------------------------------------


def stride0_file(model: nn.Module) -> bytes:
    """torch.save of `model`'s state_dict in which every tensor is one stored float viewed with stride 0."""
    one = torch.zeros(1)
    return fx.torch_bytes({k: one.expand(v.shape) for k, v in model.state_dict().items()})


def _no_torch_load(*_a, **_k):
    raise AssertionError("torch.load ran on a file the scan should have refused")


def test_a_stride0_file_for_vggstyle_is_refused_by_what_it_expands_to(monkeypatch):
    with torch.device("meta"):  # the shapes only: nothing of VGGStyle's 440 MB is allocated here
        model = pinit.build_model("VGGStyle")
    data = stride0_file(model)
    assert len(data) < 20_000
    monkeypatch.setattr(torch, "load", _no_torch_load)
    text = _refused(data, model, max_bytes=50 * 2**20)  # the dashboard's upload cap
    need = sum(v.numel() * 4 for v in model.state_dict().values())
    assert text.startswith(f"the file's {len(model.state_dict())} tensors would take {need / 2**20:.1f} MB"), text
    assert "the limit is 100.0 MB" in text and "stride-0" in text


def test_the_expansion_limit_is_what_tensors_hold_not_the_file_size():
    cnn = pinit.build_model("SimpleCNN")
    data = stride0_file(cnn)
    need = sum(v.numel() * 4 for v in cnn.state_dict().values())
    assert load_checkpoint(data, cnn, max_expanded_bytes=need).tensors == 12  # exactly at the limit
    assert "would take" in _refused(data, cnn, max_expanded_bytes=need - 1)
    # A dense file is counted the same way: the limit is on tensors, whatever backs them.
    dense = save_state_dict(cnn)
    assert "would take" in _refused(dense, cnn, max_expanded_bytes=need - 1)
    assert load_checkpoint(dense, cnn).tensors == 12  # default: twice the 200 MB file limit


def test_float16_files_count_at_the_models_item_size():
    model = nn.Linear(100, 100)
    half = fx.torch_bytes({k: v.half() for k, v in model.state_dict().items()})
    need = (100 * 100 + 100) * 4  # held as float32, not the 2 bytes each in the file
    assert load_checkpoint(half, model, max_expanded_bytes=need).tensors == 2
    assert "would take" in _refused(half, model, max_expanded_bytes=need - 1)


def test_a_safetensors_file_counts_by_what_it_expands_to_too():
    pytest.importorskip("safetensors")
    model = nn.Linear(3, 2)
    data = fx.safetensors_bytes(fx.tiny_linear_state())
    assert "would take 0.0 MB (32 bytes)" in _refused(data, model, max_expanded_bytes=31)
    assert load_checkpoint(data, model, max_expanded_bytes=32).tensors == 2


# --- the metrics endpoint is not reachable through the shipped nginx config (item 8) -----------------


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_nginx_answers_404_for_streamlits_metrics_and_passes_the_rest(tmp_path):
    import http.client
    import threading
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from deploy.replicas import find_nginx, render_config

    try:
        nginx = find_nginx()
    except Exception as e:  # no nginx on this machine
        pytest.skip(f"nginx not found: {e}")

    class Upstream(BaseHTTPRequestHandler):  # stands for a Streamlit replica: 200 for every path
        def do_GET(self) -> None:
            body = f"upstream {self.path}".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_a) -> None:
            pass

    upstream = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    port = _free_port()
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        render_config(tmp_path, f"127.0.0.1:{port}", [upstream.server_address[1]]).replace(
            "worker_processes 1;", "worker_processes 1;\ndaemon off;"
        )
    )
    proc = subprocess.Popen(
        [nginx, "-p", str(tmp_path), "-e", str(tmp_path / "error.log"), "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:

        def get(path: str) -> tuple[int, bytes]:
            for _ in range(100):
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                    conn.request("GET", path)
                    r = conn.getresponse()
                    return r.status, r.read()
                except ConnectionRefusedError:
                    time.sleep(0.1)
            raise AssertionError("nginx did not start")

        assert get("/_stcore/health") == (200, b"upstream /_stcore/health")  # control: the proxy works
        for path in ("/_stcore/metrics", "/_stcore/metrics?families=cache_memory_bytes", "//_stcore/metrics"):
            status, body = get(path)
            assert status == 404 and b"upstream" not in body, path
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        upstream.shutdown()


# --- the page: ?step= out of range, a link of only unknown parameters (item 8) ------------------------


@pytest.mark.parametrize("step", ["9" * 5_000, "0", "-1", "7", "٣"])
def test_a_step_that_is_not_a_step_opens_step_1_with_a_warning(step):
    from tests.app_driver import start

    at = start("Lesson", step=step)  # 5,000 digits: an uncaught ValueError before (int() digit limit)
    assert at.segmented_control(key="step").value == 1 and at.query_params["step"] == "1"
    text = " ".join(w.value for w in at.warning)
    assert "is not a step of this lesson (1 to 6); showing step 1" in text.replace("\\", "")
    assert len(text) < 300


def test_a_link_of_only_unknown_parameters_gets_a_warning_on_the_page():
    from tests.app_driver import start

    at = start("Lesson", utm_source="x" * 10_000)
    text = " ".join(w.value for w in at.warning).replace("\\", "")
    assert "Ignored utm_source=" in text and "(10,000 characters) from the link" in text and len(text) < 400
