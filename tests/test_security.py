"""The server settings are what the README says, and nothing a user sends is run as code.

Three kinds of checks:

* .streamlit/config.toml holds the classroom settings (XSRF on, uploads capped,
  no file watching or run-on-save, no usage stats), every key is a real Streamlit
  option of the right type, and Streamlit itself reads the file and reports those
  values (``streamlit config show`` run in the repo, as ``streamlit run`` would be);
  a running server refuses an upload without the XSRF token (403) or over the cap (413).
* No shipped Python (app.py, pinit/, bench/, docs/, deploy/; not tests/,
  whose export tests exec the scripts pinit generates on purpose) calls eval or
  exec, unpickles (pickle.load(s), Unpickler, pandas.read_pickle, numpy.load with
  allow_pickle=True), calls torch.load without weights_only=True, or hands HTML
  to the browser unescaped (unsafe_allow_html=True, components.html).
  The scan walks the syntax tree, so a comment or a string naming eval does not count.
* A crafted link (the page's query parameters are user input too) is ignored part by
  part with a warning, never raised.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / ".streamlit" / "config.toml"

EXPECTED = {
    "server.enableXsrfProtection": True,
    "server.enableCORS": True,
    "server.maxUploadSize": 50,
    "server.runOnSave": False,
    "server.fileWatcherType": "none",
    "server.disconnectedSessionTTL": 120,
    "browser.gatherUsageStats": False,
    "server.headless": True,
    "client.showErrorDetails": "type",
    "client.toolbarMode": "viewer",
    "runner.postScriptGC": False,
}

SKIP_DIRS = {
    "tests",
    ".git",
    ".venv",
    "venv",
    "artifacts",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
    "node_modules",
    "build",
    "dist",
}


def flat_config() -> dict[str, object]:
    data = tomllib.loads(CONFIG.read_text())
    return {f"{section}.{key}": value for section, table in data.items() for key, value in table.items()}


# --- the settings ------------------------------------------------------------------------


def test_config_file_holds_the_classroom_settings():
    cfg = flat_config()
    for key, value in EXPECTED.items():
        assert key in cfg, f"{key} missing from {CONFIG.relative_to(ROOT)}"
        assert cfg[key] == value and type(cfg[key]) is type(value), f"{key} = {cfg[key]!r}, expected {value!r}"


def test_every_key_is_a_real_streamlit_option_of_the_right_type():
    from streamlit import config

    options = config._config_options_template  # the option registry: name -> ConfigOption
    for key, value in flat_config().items():
        assert key in options, f"{key} is not a Streamlit option (typo?): Streamlit would ignore it"
        opt = options[key]
        want = opt.type if opt.type is not None else type(opt.default_val)
        assert isinstance(value, want), f"{key} = {value!r} is not a {want.__name__}"
        assert not opt.deprecated, f"{key} is deprecated in this Streamlit"


def test_streamlit_reads_the_file_and_sees_these_values():
    """`streamlit config show` in the repo prints the settings `streamlit run app.py` starts with."""
    out = subprocess.run(
        [sys.executable, "-m", "streamlit", "config", "show"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    shown: dict[str, str] = {}
    section = None
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif section and "=" in line and not line.startswith("#"):
            k, v = (s.strip() for s in line.split("=", 1))
            shown[f"{section}.{k}"] = v
    # `config show` leaves out hidden options (runner.postScriptGC): ask Streamlit's config for those.
    hidden = [k for k in EXPECTED if k not in shown]
    code = "import sys, streamlit.config as c; [print(repr(c.get_option(k))) for k in sys.argv[1:]]"
    values = subprocess.run(
        [sys.executable, "-c", code, *hidden], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    ).stdout.split()
    for key, value in zip(hidden, values):
        assert value == repr(EXPECTED[key]), f"streamlit sees {key} = {value}, the file says {EXPECTED[key]!r}"
    for key, value in EXPECTED.items():
        if key in hidden:
            continue
        want = str(value).lower() if isinstance(value, bool) else f'"{value}"' if isinstance(value, str) else str(value)
        assert shown.get(key) == want, f"streamlit sees {key} = {shown.get(key)!r}, the file says {want}"


def test_the_running_server_enforces_xsrf_and_the_upload_cap():
    """The settings are in effect, not only in the file: a real server refuses uploads without
    the XSRF token (double-submit: header = cookie) and above maxUploadSize."""
    import asyncio

    from tests.harness import streamlit_server
    from tests.ws_client import StreamlitSession

    async def with_a_session(url: str, check) -> None:
        s = StreamlitSession(url, timeout=90)
        await s.connect()  # uploads go to a connected session (else 400 "Invalid session_id")
        try:
            await asyncio.to_thread(check, s.session_id)
        finally:
            await s.close()

    with streamlit_server() as url:
        asyncio.run(with_a_session(url, lambda session_id: _uploads(url, session_id)))


def _uploads(url: str, session_id: str) -> None:
    import http.client
    import urllib.request
    from urllib.parse import urlparse

    with urllib.request.urlopen(url + "/_stcore/health", timeout=10) as r:
        set_cookie = r.headers["Set-Cookie"]  # the frontend's health check is what sets the XSRF cookie
    assert set_cookie.startswith("_streamlit_xsrf=") and "SameSite=Lax" in set_cookie, set_cookie
    token = set_cookie.split(";")[0].split("=", 1)[1]
    u = urlparse(url)

    def upload(headers: dict[str, str], size: int = 10) -> int:
        b = "pinitboundary"
        body = (
            (
                f'--{b}\r\nContent-Disposition: form-data; name="file"; filename="odd.pt"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            + b"x" * size
            + f"\r\n--{b}--\r\n".encode()
        )
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        conn.request(
            "PUT",
            f"/_stcore/upload_file/{session_id}/f1",
            body=body,
            headers={"Content-Type": f"multipart/form-data; boundary={b}", **headers},
        )
        status = conn.getresponse().status
        conn.close()
        return status

    good = {"X-Xsrftoken": token, "Cookie": f"_streamlit_xsrf={token}"}
    forged = {"X-Xsrftoken": token, "Cookie": "_streamlit_xsrf=2|00000000|" + "0" * 32 + "|1"}
    assert upload({}) == 403  # no token: another site's form post
    assert upload(forged) == 403  # header and cookie disagree
    assert upload(good) == 204
    assert upload(good, size=(EXPECTED["server.maxUploadSize"] + 1) * 2**20) == 413


# --- nothing runs as code -------------------------------------------------------------------


def shipped_python() -> list[Path]:
    files = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if not SKIP_DIRS.intersection(rel.parts[:-1]):
            files.append(path)
    return sorted(files)


def dotted(node: ast.AST) -> str:
    """'torch.load' for the call target torch.load, 'load' for a bare name, '' otherwise."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return ""


def kwarg(call: ast.Call, name: str) -> ast.AST | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def is_true(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def problems_in(source: str, filename: str) -> list[str]:
    tree = ast.parse(source, filename)
    # Names bound by `from X import Y [as Z]`: Z -> X.Y, so `from torch import load` is caught too.
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            for a in node.names:
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    aliases[a.asname] = a.name
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = dotted(node.func)
        head, _, rest = name.partition(".")
        full = aliases.get(head, head) + ("." + rest if rest else "")
        where = f"{filename}:{node.lineno}"
        if full in {"eval", "exec", "builtins.eval", "builtins.exec"}:
            found.append(f"{where}: {full}() runs a string as code")
        elif full in {
            "pickle.load",
            "pickle.loads",
            "pickle.Unpickler",
            "dill.load",
            "dill.loads",
            "cloudpickle.load",
            "cloudpickle.loads",
            "pandas.read_pickle",
            "pd.read_pickle",
            "joblib.load",
            "marshal.load",
            "marshal.loads",
        }:
            found.append(f"{where}: {full}() can run code while unpickling")
        elif full == "torch.load" and not is_true(kwarg(node, "weights_only")):
            found.append(f"{where}: torch.load without weights_only=True can run code while unpickling")
        elif full in {"numpy.load", "np.load"} and is_true(kwarg(node, "allow_pickle")):
            found.append(f"{where}: {full}(allow_pickle=True) can run code")
        elif full in {"yaml.load", "yaml.unsafe_load"} and "Safe" not in ast.unparse(
            kwarg(node, "Loader") or ast.Constant("")
        ):
            found.append(f"{where}: {full} without SafeLoader can build arbitrary objects")
        elif is_true(kwarg(node, "unsafe_allow_html")):
            found.append(f"{where}: unsafe_allow_html=True sends unescaped HTML to every browser")
        elif full.endswith(("components.v1.html", "components.html")):
            found.append(f"{where}: {full} runs arbitrary HTML/JS in the page")
    return found


def test_the_scan_finds_what_it_is_meant_to_find():
    """The checker itself: each bad pattern is caught, the safe spellings pass."""
    bad = """
import pickle, torch
from torch import load as tl
import numpy as np
eval(s); exec(s)
pickle.loads(b); pickle.load(f)
torch.load(f); torch.load(f, weights_only=False); tl(f)
np.load(f, allow_pickle=True)
st.markdown(x, unsafe_allow_html=True)
"""
    assert len(problems_in(bad, "<bad>")) == 9
    good = """
import torch, pickle, numpy as np
torch.load(f, weights_only=True, map_location="cpu")
np.load(f)
model.eval()          # a method called eval is not the builtin
except_ = pickle.UnpicklingError
text = "eval(x)"      # a string is not a call
st.markdown(x)
"""
    assert problems_in(good, "<good>") == []


# The one unpickling pinit does: the lesson's stories that pinit itself computed and wrote into the
# server owner's cache folder (pinit/lab/story_cache.py). No link, upload or plan file reaches that
# folder; a person who can write to it can already run code as the server's user.
OWN_PICKLES = {"pinit/lab/story_cache.py": "pickle.load() can run code while unpickling"}


def test_no_shipped_python_runs_user_input_as_code():
    files = shipped_python()
    assert any(p.name == "app.py" for p in files) and any("pinit" in p.parts for p in files)
    found = []
    for path in files:
        rel = str(path.relative_to(ROOT))
        found += [
            f for f in problems_in(path.read_text(encoding="utf-8"), rel) if not f.endswith(OWN_PICKLES.get(rel, "\0"))
        ]
    assert not found, "\n".join(found)


def test_the_story_cache_reads_only_its_own_folder():
    """The exempted unpickling takes no path from outside: only cache_dir() (the owner's environment)."""
    source = (ROOT / "pinit/lab/story_cache.py").read_text(encoding="utf-8")
    assert len([f for f in problems_in(source, "s") if "unpickling" in f]) == 1
    from pinit.lab import story_cache

    assert "def load(name: str, args: tuple[Any, ...]) -> Any:" in source  # no path parameter
    assert story_cache._file("x", ()) is None or story_cache._file("x", ()).parent == story_cache.cache_dir()


# --- crafted links ---------------------------------------------------------------------------
# A link is user input too: a student pastes one into the class chat and everyone who opens it
# runs app.py's first run on it. Every part that is not valid must be ignored with a warning.


def _token(raw: bytes) -> str:
    import base64
    import zlib

    return base64.urlsafe_b64encode(zlib.compress(raw, 9)).decode().rstrip("=")


HOSTILE_LINKS = {
    "unknown model": {"model": "Nope"},
    "seed not a number": {"seed": "abc"},
    "seed past 2**63": {"seed": "9" * 40},
    "seed negative": {"seed": "-5"},
    "NUL and emoji": {"model": "\U0001f4a5", "seed": "\x00"},
    "plan not base64": {"plan": "%%%garbage"},
    "plan zip bomb": {"plan": _token(b"[" * 5_000_000)},
    "plan names code as a scheme": {"plan": _token(b'{"rules": {"Linear": {"weight": {"scheme": "eval"}}}}')},
    "plan with inf": {"plan": _token(b'{"rules": {"Linear": {"weight": {"scheme": "normal", "std": 1e999}}}}')},
    "options not JSON": {"model": "DeepMLP", "opts": "{bad"},
    "options too big to build": {"model": "DeepMLP", "opts": '{"depth": 1000000000, "width": 1000000000}'},
    "plan nested 1000 deep": {"plan": _token(b"[" * 1000 + b"]" * 1000)},
}


def test_a_crafted_link_is_ignored_in_words_never_raised():
    """Each hostile link gives warnings (the page loads without that part), never an exception.

    The 34-character "plan nested 1000 deep" link used to make json.loads raise RecursionError,
    which decode_plan did not catch: everyone opening it got a traceback instead of the page
    (fixed in pinit/urlstate.py, cf2824e; kept here as a regression check).
    """
    from pinit.share.urlstate import state_from_query

    failures = {}
    for name, params in HOSTILE_LINKS.items():
        try:
            _state, warnings = state_from_query(params)
        except Exception as e:
            failures[name] = f"{type(e).__name__}: {str(e)[:120]}"
            continue
        if not warnings:
            failures[name] = "no warning: the bad part was silently taken or dropped"
    assert not failures, failures
