"""Load weights someone uploaded, safely, and save a model's weights for download.

`load_checkpoint` reads a state_dict with ``torch.load(weights_only=True)``, which
builds only tensors and plain containers and refuses any pickle that would import or
call anything else (a checkpoint that tries to run code is refused, never run). Before
that, the file's structure is read without unpickling anything (checkpoint_scan): what
torch allows can still allocate gigabytes from a few bytes (``builtins.bytearray(2**30)``,
a deflate-compressed zip entry), so only what torch.save writes for a state_dict passes,
and no input costs much more memory than its own size. The whole file is checked against
the model before one value is copied: on any problem it raises CheckpointError listing
every problem, and the model is left unchanged.

Accepted: a bare state_dict ({name: tensor}); the wrappers {"state_dict": ...} and
{"model": ...} (other keys beside them, such as "epoch" or "optimizer", are ignored);
keys all prefixed "module." (as nn.DataParallel saves them). NaN and Inf values are
loaded as they are (the parameter table counts them); they are not refused.
A .safetensors file is read too, if the optional `safetensors` package is installed.
"""

from __future__ import annotations

import io
import json
import math
import pickle
import re
import struct
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .. import checks
from ..errors import capped
from ..text import quote, shorten
from .checkpoint_scan import ScanError, Tensor, check_legacy, check_zip

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_EXPANDED_BYTES",
    "CheckpointError",
    "LoadedCheckpoint",
    "load_checkpoint",
    "save_state_dict",
]

DEFAULT_MAX_BYTES = 200 * 1024 * 1024  # 200 MiB: far above SimpleCNN's 4.7 MB, far below a server's memory
# What a checkpoint's tensors may take once loaded. A dense file expands to its own size, or
# twice it (float16 values held as float32); a stride-0 view over one stored float fits a model
# of any size, so the file size alone bounds nothing. Unless given, the bound is twice the file
# limit, and never more than this.
DEFAULT_MAX_EXPANDED_BYTES = 2 * DEFAULT_MAX_BYTES

_WRAPPERS = ("state_dict", "model")
_NOT_SAFETENSORS = "the file is not a readable .safetensors file"
_SAFETENSORS_MAX_HEADER = 1_000_000
_SAFETENSORS_ITEMSIZE = {
    "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1,
    "U16": 2, "U32": 4, "U64": 8, "F8_E4M3": 1, "F8_E5M2": 1,
}  # fmt: skip
_ZIP_MAGIC = b"PK\x03\x04"  # what torch.load itself tests (torch.serialization._is_zipfile)
_PICKLE_MAGIC = b"\x80"  # a pickle's PROTO opcode: the start of a legacy torch.save stream


class CheckpointError(ValueError):
    """A checkpoint pinit refuses; `problems` lists each problem in words.

    Past MAX_PROBLEMS the rest are counted in a last line ("and 180 more problems");
    ``str(error)`` joins them, one per line. The model it was meant for is unchanged.
    For a state_dict that does not fit the model, `missing`, `unexpected` and
    `mismatched` (name -> (file shape, model shape)) hold the same facts as data.
    """

    def __init__(
        self,
        problems: str | list[str],
        missing: list[str] | None = None,
        unexpected: list[str] | None = None,
        mismatched: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] | None = None,
    ) -> None:
        self.problems = capped([problems] if isinstance(problems, str) else problems)
        self.missing = list(missing or [])
        self.unexpected = list(unexpected or [])
        self.mismatched = dict(mismatched or {})
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class LoadedCheckpoint:
    """What `load_checkpoint` loaded.

    format: "torch" or "safetensors"; wrapper: None for a bare state_dict, else the
    key it was found under ("state_dict" or "model"); stripped_prefix: "module." if
    that prefix was removed, else ""; tensors: how many entries were copied;
    nonfinite: entry name -> count of NaN/Inf values, for entries that have any.
    """

    format: str
    wrapper: str | None
    stripped_prefix: str
    tensors: int
    nonfinite: dict[str, int] = field(default_factory=dict)


def _mb(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB"


def _looks_like_safetensors(data: bytes) -> bool:
    """An 8-byte header length, then the JSON header's "{" (checked in full by _check_safetensors)."""
    return len(data) >= 10 and data[8:9] == b"{"


def _safetensors_problem(name: str, entry: Any, data_len: int) -> str | None:
    """Why one header entry is not a tensor description that fits the data, or None."""
    if not (isinstance(entry, dict) and {"dtype", "shape", "data_offsets"} <= set(entry)):
        return f"its entry {quote(name)} is not a tensor description (an object with dtype, shape and data_offsets)"
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if dtype not in _SAFETENSORS_ITEMSIZE:
        return f"its entry {quote(name)} has dtype {quote(dtype)}; known: {', '.join(_SAFETENSORS_ITEMSIZE)}"
    if not (isinstance(shape, list) and all(checks.is_whole(d) and d >= 0 for d in shape)):
        return f"its entry {quote(name)} has shape {quote(shape)}; a shape is a list of whole numbers >= 0"
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(checks.is_whole(o) for o in offsets)):
        return f"its entry {quote(name)} has data_offsets {quote(offsets)}; they are [begin, end]"
    begin, end = offsets
    if not 0 <= begin <= end <= data_len:
        return (
            f"its entry {quote(name)} needs bytes {begin:,} to {end:,} of the data, "
            f"but the data is {data_len:,} bytes long"
        )
    if end - begin != math.prod(shape) * _SAFETENSORS_ITEMSIZE[dtype]:
        return (
            f"its entry {quote(name)} has shape {quote(shape)} of {dtype}, which is not the {end - begin:,} bytes "
            "it spans"
        )
    return None


def _check_safetensors(data: bytes) -> list[Tensor]:
    """Refuse, in words, a .safetensors file whose header is not what the format says.

    The safetensors package would say "Error while deserializing" or fail elsewhere with a
    bare KeyError; each case gets its own sentence here. The header is at most 1 MB (about
    8,000 tensors), so parsing it costs little whatever the file claims. Returns the tensors
    it describes.
    """
    (size,) = struct.unpack("<Q", data[:8])
    if size > len(data) - 8 or size > _SAFETENSORS_MAX_HEADER:
        raise CheckpointError(
            f"{_NOT_SAFETENSORS}: its header says it is {size:,} bytes long, but "
            + (
                f"the file has only {len(data) - 8:,} bytes after the length"
                if size > len(data) - 8
                else "pinit reads headers up to 1 MB"
            )
        )
    try:
        header = json.loads(data[8 : 8 + size].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise CheckpointError(f"{_NOT_SAFETENSORS}: its header is not valid JSON ({shorten(str(e), 120)})") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{_NOT_SAFETENSORS}: its header is not a JSON object")
    data_len = len(data) - 8 - size
    problems = [
        p
        for name, entry in header.items()
        if name != "__metadata__"
        if (p := _safetensors_problem(name, entry, data_len))
    ]
    if problems:
        raise CheckpointError([f"{_NOT_SAFETENSORS}: {p}" for p in problems])
    return [
        Tensor(math.prod(entry["shape"]), _SAFETENSORS_ITEMSIZE[entry["dtype"]])
        for name, entry in header.items()
        if name != "__metadata__"
    ]


def _not_a_checkpoint(data: bytes) -> CheckpointError:
    """The refusal of a file that is neither a torch.save file nor a .safetensors file, saying what it looks like."""
    head = data[:40]
    try:
        text = head.decode("utf-8")
        what = f"it is text ({quote(text, 40)})" if text.isprintable() or text.strip().isprintable() else None
    except UnicodeDecodeError:
        what = None
    if what is None:
        what = f"it starts with the bytes {head[:8].hex(' ')}"
    return CheckpointError(
        f"the file is not a readable PyTorch checkpoint: {what}, "
        "not a torch.save() file (a zip archive or a pickle) or a .safetensors file"
    )


def _read_safetensors(data: bytes) -> dict[str, Any]:
    try:
        from safetensors.torch import load as st_load  # optional dependency
    except ImportError:
        raise CheckpointError(
            "the file looks like a .safetensors file, but the optional 'safetensors' package is not installed; "
            "install it (pip install safetensors) or upload a torch.save() state_dict (.pt/.pth)"
        ) from None
    try:
        return st_load(data)
    except Exception as e:  # safetensors raises its own SafetensorError
        raise CheckpointError(f"the .safetensors file could not be read: {shorten(str(e), 200)}") from None


def _check_structure(data: bytes, max_bytes: int) -> list[Tensor]:
    """Refuse, before torch.load, a torch.save file whose reading could cost more than its size.

    A zip archive (torch.save since 1.6) or a legacy pickle stream is read opcode by opcode
    and entry by entry (pinit.share.checkpoint_scan); ScanError says why in words. Returns
    the tensors the file builds.
    """
    if data.startswith(_ZIP_MAGIC):
        return check_zip(data, max_bytes)
    return check_legacy(data)


def _check_expansion(tensors: list[Tensor], model: nn.Module, size: int, limit: int) -> None:
    """Refuse a file whose tensors would take more than `limit` bytes once pinit holds them.

    Each tensor counts numel x itemsize, at the larger of its own item size and the model's
    (pinit converts to the model's dtype and keeps a copy), however little storage backs it:
    a view with stride 0 over one stored float fits any shape, so a 2.4 kB file could
    become VGGStyle's 440 MB. Checked before torch.load, so nothing is materialised.
    """
    held = max((v.element_size() for v in model.state_dict().values() if v.is_floating_point()), default=4)
    need = sum(t.numel * max(t.itemsize, held) for t in tensors)
    if need > limit:
        raise CheckpointError(
            f"the file's {len(tensors):,} tensors would take {_mb(need)} ({need:,} bytes) once loaded, from a "
            f"file of {size:,} bytes; the limit is {_mb(limit)}. A tensor that repeats or overlaps its stored values "
            "(a stride-0 view) counts by the values it shows, not the bytes it stores."
        )


def _read_torch(data: bytes) -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "Detected pickle protocol 4": the error below is what matters
            return torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as e:
        msg = str(e)
        if "Weights only load failed" in msg and "GLOBAL" not in msg:
            # Not an import (checkpoint_scan refused those): an instruction weights_only does not read.
            reason = re.search(r"WeightsUnpickler error: \s*(.+)", msg)
            raise CheckpointError(
                f"the file is not a readable PyTorch checkpoint: torch.load(weights_only=True) stopped at "
                f"something a state_dict never holds ({shorten(reason.group(1) if reason else msg, 120)})"
            ) from None
        if "Weights only load failed" in msg:
            found = re.search(r"GLOBAL ([\w.]+)", msg)
            what = f" (it asks to import and call {shorten(found.group(1), 120)})" if found else ""
            raise CheckpointError(
                "the file holds Python objects other than tensors and plain containers"
                f"{what}; unpickling it could run code, so it was not unpickled: pinit loads checkpoints "
                "only with torch.load(weights_only=True). Save plain weights with "
                "torch.save(model.state_dict(), path)."
            ) from None
        raise CheckpointError(
            f"the file is not a PyTorch checkpoint (unpickling failed: {shorten(msg, 200)})"
        ) from None
    except EOFError:
        raise CheckpointError("the file ends too early: it is truncated or not a PyTorch checkpoint") from None
    except RuntimeError as e:
        msg = str(e)
        if "central directory" in msg:
            why = "it is a truncated or damaged torch.save() file (the zip archive's index is missing)"
        elif "not a ZIP archive" in msg or "magic number" in msg:
            why = "it is neither a torch.save() zip archive nor a legacy torch.save() pickle"
        else:
            why = shorten(msg.split(". ")[0], 200)
        raise CheckpointError(f"the file is not a readable PyTorch checkpoint: {why}") from None
    except Exception as e:  # anything else torch.load can throw on garbage: KeyError, ValueError, ...
        raise CheckpointError(
            f"the file is not a readable PyTorch checkpoint ({type(e).__name__}: {shorten(str(e), 200)})"
        ) from None


def _describe(x: Any) -> str:
    if isinstance(x, torch.Tensor):
        return f"a tensor of shape {quote(tuple(x.shape))}"
    if isinstance(x, Mapping):
        return f"a dict with {len(x)} entries"
    return f"a {type(x).__name__}"


def _unwrap(obj: Any) -> tuple[Mapping[str, Any], str | None]:
    if not isinstance(obj, Mapping):
        raise CheckpointError(
            f"the file holds {_describe(obj)}, not a state_dict; pinit expects a dict of parameter name -> tensor, "
            "as torch.save(model.state_dict(), path) writes it"
        )
    if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return obj, None
    for key in _WRAPPERS:
        inner = obj.get(key)
        if isinstance(inner, Mapping):
            return inner, key
    if not obj:
        raise CheckpointError("the file holds an empty dict: no weights to load")
    bad = [f"{quote(k)} holds {_describe(v)}" for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    shown = "; ".join(bad[:5]) + (f"; and {len(bad) - 5} more" if len(bad) > 5 else "")
    raise CheckpointError(
        f"the file is not a dict of tensors ({shown}), and it has no 'state_dict' or 'model' entry holding one"
    )


def _strip_prefix(sd: Mapping[str, Any], expected: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    prefix = "module."
    keys = [k for k in sd if isinstance(k, str)]
    if keys and all(k.startswith(prefix) for k in keys) and not any(k.startswith(prefix) for k in expected):
        return {k[len(prefix) :]: v for k, v in sd.items()}, prefix
    return dict(sd), ""


def _list(names: list[Any], limit: int = 20, chars: int = 500) -> str:
    """At most `limit` names, quoted, and no more than about `chars` characters of them; then how many more."""
    shown: list[str] = []
    for n in names[:limit]:
        if shown and sum(map(len, shown)) + 2 * len(shown) > chars:
            break
        shown.append(quote(n))
    rest = len(names) - len(shown)
    return ", ".join(shown) + (f" and {rest} more" if rest else "")


def load_checkpoint(
    data: bytes, model: nn.Module, max_bytes: int = DEFAULT_MAX_BYTES, max_expanded_bytes: int | None = None
) -> LoadedCheckpoint:
    """Copy the weights in `data` (the bytes of a checkpoint file) into `model`.

    Guarantees: nothing in the file is executed (torch.load weights_only=True); no file
    can crash the process (nesting, container and key sizes are bounded before torch reads
    it); reading it costs memory of the order of its size (its structure is checked first,
    see the module docstring), and its tensors may expand to at most `max_expanded_bytes`
    (default: twice `max_bytes`, at most DEFAULT_MAX_EXPANDED_BYTES) counted at the
    model's item size; the model is changed only if every check passes, and then every entry of its
    state_dict is overwritten; otherwise CheckpointError (a ValueError) lists every
    problem: over `max_bytes`, empty, truncated or not a checkpoint, a pickle that
    would run code, not a dict of tensors, missing keys, unexpected keys, shape
    mismatches, non-floating values for floating parameters. NaN/Inf are loaded and
    reported in the result's `nonfinite`.

    Args:
        data: the file's bytes (torch.save's zip or legacy pickle, or .safetensors).
        model: the model to load into; changed only if the whole file fits it.
        max_bytes: refuse a larger file before reading it.
        max_expanded_bytes: the most its tensors may take once loaded.

    Returns:
        A LoadedCheckpoint: the format, the wrapper key it was found under ("state_dict",
        "model"), the prefix stripped from its keys ("module."), how many tensors, and
        which entries hold NaN/Inf.

    Raises:
        CheckpointError: every problem found, in words; the model is unchanged.

    Example:
        >>> import pinit
        >>> from torch import nn
        >>> model = nn.Linear(4, 2)
        >>> pinit.load_checkpoint(pinit.save_state_dict(nn.Linear(4, 2)), model)
        LoadedCheckpoint(format='torch', wrapper=None, stripped_prefix='', tensors=2, nonfinite={})
        >>> pinit.load_checkpoint(pinit.save_state_dict(nn.Linear(3, 2)), model)
        Traceback (most recent call last):
        ...
        pinit.share.checkpoint.CheckpointError: shape mismatch for weight: the file has (2, 3), the model needs (2, 4)
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise CheckpointError(f"a checkpoint is the file's bytes, got {type(data).__name__}")
    size = len(data) if not isinstance(data, memoryview) else data.nbytes
    if size > max_bytes:
        raise CheckpointError(
            f"the file is {_mb(size)} ({size:,} bytes); the limit is {_mb(max_bytes)} ({max_bytes:,} bytes)"
        )
    if size == 0:
        raise CheckpointError("the file is empty (0 bytes)")
    data = bytes(data)
    limit = min(DEFAULT_MAX_EXPANDED_BYTES, 2 * max_bytes) if max_expanded_bytes is None else max_expanded_bytes

    if data.startswith(_ZIP_MAGIC) or (data.startswith(_PICKLE_MAGIC) and not _looks_like_safetensors(data)):
        try:
            tensors = _check_structure(data, max_bytes)
        except ScanError as e:
            raise CheckpointError(str(e)) from None
        _check_expansion(tensors, model, size, limit)
        fmt, obj = "torch", _read_torch(data)
    elif _looks_like_safetensors(data):
        _check_expansion(_check_safetensors(data), model, size, limit)
        fmt, obj = "safetensors", _read_safetensors(data)
    else:
        raise _not_a_checkpoint(data)
    sd, wrapper = _unwrap(obj)
    expected = model.state_dict()
    sd, prefix = _strip_prefix(sd, expected)

    problems: list[str] = []
    non_str = [k for k in sd if not isinstance(k, str)]
    if non_str:
        problems.append(f"state_dict keys must be parameter names (text); found {_list(non_str)}")
    not_tensors = [k for k, v in sd.items() if isinstance(k, str) and not isinstance(v, torch.Tensor)]
    if not_tensors:
        problems.append(f"entries that are not tensors: {_list(not_tensors)}")
    missing = [k for k in expected if k not in sd]
    if missing:
        problems.append(f"missing keys ({len(missing)}), the model has them but the file does not: {_list(missing)}")
    unexpected = [k for k in sd if isinstance(k, str) and k not in expected]
    if unexpected:
        problems.append(
            f"unexpected keys ({len(unexpected)}), the file has them but the model does not: {_list(unexpected)}"
        )
    converted: dict[str, torch.Tensor] = {}
    mismatched: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {}
    nonfinite: dict[str, int] = {}
    for k, target in expected.items():
        v = sd.get(k)
        if not isinstance(v, torch.Tensor):
            continue
        if v.device.type == "meta":
            problems.append(f"{k}: a tensor on the 'meta' device has a shape but no values to load")
            continue
        if v.layout != torch.strided:
            problems.append(f"{k}: a {v.layout} tensor; only dense tensors can be loaded")
            continue
        if tuple(v.shape) != tuple(target.shape):
            mismatched[k] = (tuple(v.shape), tuple(target.shape))
            problems.append(
                f"shape mismatch for {k}: the file has {quote(tuple(v.shape))}, the model needs {tuple(target.shape)}"
            )
            continue
        if target.is_floating_point() and not v.is_floating_point():
            problems.append(
                f"{k}: the file has dtype {v.dtype}; the model needs floating-point values ({target.dtype})"
            )
            continue
        converted[k] = v.to(device=target.device, dtype=target.dtype)
        if converted[k].is_floating_point():
            bad = converted[k].numel() - int(torch.isfinite(converted[k]).sum())
            if bad:
                nonfinite[k] = bad
    if problems:
        raise CheckpointError(problems, missing, unexpected, mismatched)

    with torch.no_grad():
        for k, target in expected.items():
            target.copy_(converted[k])
    return LoadedCheckpoint(fmt, wrapper, prefix, len(converted), nonfinite)


def save_state_dict(model: nn.Module) -> bytes:
    """The bytes of ``torch.save(model.state_dict())``, for a download.

    Guarantee: `load_checkpoint` of these bytes into a model of the same
    architecture reproduces every entry bit for bit; the bytes load with
    torch.load(weights_only=True).

    Args:
        model: any nn.Module.

    Returns:
        The checkpoint file's bytes.

    Example:
        >>> import pinit, torch
        >>> from torch import nn
        >>> a, b = nn.Linear(4, 2), nn.Linear(4, 2)
        >>> pinit.load_checkpoint(pinit.save_state_dict(a), b).tensors
        2
        >>> torch.equal(a.weight, b.weight)
        True
    """
    buf = io.BytesIO()
    torch.save({k: v.detach().cpu().clone() for k, v in model.state_dict().items()}, buf)
    return buf.getvalue()
