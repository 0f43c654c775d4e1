"""The lesson's stories on disk, so a server start (or a test run) reads them instead of recomputing.

The lesson measures every number over 20 seeds (training over 5): minutes of one core. The
results are a pure function of pinit's backend code and torch's version, so they are stored
under a key made of both: the sha256 of every ``pinit/**/*.py`` but the page
(``pinit/dashboard``), links and files (``pinit/share``: pinit.lab never imports it) and the
drawing (``*figures*.py``, ``style.py``), and
``torch.__version__``. Any change of that code or of torch is a new key, and files of an
older key are removed when a new one is written, so the folder holds one set of stories.

Where: ``$PINIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/pinit``, else ``~/.cache/pinit``;
``PINIT_CACHE_DIR=off`` turns it off. The folder is the server owner's: nothing a user sends
reaches it (its files are pickles that pinit wrote itself).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import torch

__all__ = ["CACHE_ENV", "cache_dir", "code_key", "load", "store"]

CACHE_ENV = "PINIT_CACHE_DIR"
_PINIT = Path(__file__).resolve().parents[1]


def cache_dir() -> Path | None:
    """The folder stories are kept in, or None when the cache is off."""
    raw = os.environ.get(CACHE_ENV, "").strip()
    if raw.lower() == "off":
        return None
    if raw:
        return Path(raw)
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(base) / "pinit"


@functools.cache
def code_key() -> str:
    """sha256 of the number-computing sources (all pinit/**/*.py but dashboard/, share/, figures, style), torch."""
    h = hashlib.sha256(torch.__version__.encode())
    for path in sorted(_PINIT.rglob("*.py")):
        rel = path.relative_to(_PINIT).as_posix()
        if rel.startswith(("dashboard/", "share/")) or "figures" in path.stem or rel == "style.py":
            continue  # the page, links and files, and the figures compute none of the stories' numbers
        h.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:20]


def _file(name: str, args: tuple[Any, ...]) -> Path | None:
    folder = cache_dir()
    if folder is None:
        return None
    arg_key = hashlib.sha256(repr(args).encode()).hexdigest()[:12]
    return folder / f"lesson-{code_key()}-{name}-{arg_key}.pkl"


def load(name: str, args: tuple[Any, ...]) -> Any:
    """The stored result of story `name(*args)` for this code, or None."""
    path = _file(name, args)
    if path is None or not path.is_file():
        return None
    try:
        with path.open("rb") as f:
            return pickle.load(f)
    except Exception:  # a torn or foreign file: compute it again (and overwrite it)
        return None


def store(name: str, args: tuple[Any, ...], value: Any) -> None:
    """Keep `value` for this code; remove the files of other code versions. Never raises."""
    path = _file(name, args)
    if path is None:
        return
    with contextlib.suppress(OSError, pickle.PicklingError, TypeError, AttributeError):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".pkl")
        with os.fdopen(fd, "wb") as f:
            pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)  # atomic: a reader sees the old file or the whole new one
        for old in path.parent.glob("lesson-*.pkl"):
            if not old.name.startswith(f"lesson-{code_key()}-"):
                old.unlink(missing_ok=True)
