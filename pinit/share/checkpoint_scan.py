"""Look inside a checkpoint file before torch.load reads it: refuse, in words, what would cost memory.

torch.load(weights_only=True) runs no code, but what it allows can still allocate without
bound before pinit sees the result: a 54-byte pickle calling ``builtins.bytearray(2**30)``
three times takes 3 GB, and a torch zip whose ``data/0`` record is deflate-compressed
inflates 1 MB into 1 GiB. So pinit reads the file's structure first, allocating nothing
that grows faster than the file itself:

* a torch.save zip archive: its directory (every entry stored uncompressed, as torch.save
  writes them, with sizes that add up within the limit), then its ``data.pkl``;
* a legacy (pre-zip) torch.save stream: its five pickles, then the raw storage bytes;
* every pickle opcode by opcode (`pickletools.genops`, which builds nothing): only the
  globals a state_dict saved by torch.save holds (ALLOWED_GLOBALS), a bounded number of
  instructions, and storages no larger than the bytes that back them.

What torch.save writes for state_dicts, measured on torch 2.13 for every registered model,
in float32/float16/bfloat16/float64/int64, pickle protocols 2, 4 and 5, zip and legacy
formats, bare and wrapped with an optimizer's state: ``collections.OrderedDict``,
``torch._utils._rebuild_tensor_v2`` and the typed storages (``torch.FloatStorage``, ...).
``torch._utils._rebuild_parameter`` is added for a dict of nn.Parameters
(``torch.save(dict(model.named_parameters()))``). tests/test_checkpoint.py re-derives the
list on the installed torch and fails if torch.save starts writing something else.
"""

from __future__ import annotations

import io
import pickletools
import struct
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..checks import is_whole
from .text import quote

__all__ = [
    "ALLOWED_GLOBALS",
    "MAX_PICKLE_OPS",
    "MAX_ZIP_ENTRIES",
    "ScanError",
    "Storage",
    "check_legacy",
    "check_zip",
    "scan_pickle",
]

# Typed storage classes torch.save names in a storage's persistent id, with their item size.
STORAGE_ITEMSIZE = {
    "FloatStorage": 4,
    "DoubleStorage": 8,
    "HalfStorage": 2,
    "BFloat16Storage": 2,
    "LongStorage": 8,
    "IntStorage": 4,
    "ShortStorage": 2,
    "CharStorage": 1,
    "ByteStorage": 1,
    "BoolStorage": 1,
    "ComplexFloatStorage": 8,
    "ComplexDoubleStorage": 16,
}

ALLOWED_GLOBALS = frozenset(
    {
        ("collections", "OrderedDict"),
        ("torch._utils", "_rebuild_tensor_v2"),
        ("torch._utils", "_rebuild_parameter"),
    }
    | {("torch", name) for name in STORAGE_ITEMSIZE}
)

MAX_PICKLE_OPS = 1_000_000  # SimpleCNN's state_dict takes 549, DeepMLP(depth=100)'s 7,633
MAX_ZIP_ENTRIES = 10_000  # one per storage plus five; pinit's largest model has 200 tensors

# Opcodes torch.save never writes that would make a pickle import or build things by other
# routes than GLOBAL/STACK_GLOBAL + REDUCE (the extension registry, INST/OBJ, text persistent
# ids, out-of-band buffers).
_REFUSED_OPCODES = frozenset({"EXT1", "EXT2", "EXT4", "INST", "OBJ", "PERSID", "NEXT_BUFFER", "READONLY_BUFFER"})


NOT_READABLE = "the file is not a readable PyTorch checkpoint"


class ScanError(Exception):
    """The file is refused; the message says why in words (load_checkpoint makes it a CheckpointError)."""


@dataclass(frozen=True)
class Storage:
    """A storage a pickle declares (its persistent id): the record key and its size in bytes."""

    key: str
    nbytes: int


@dataclass(frozen=True)
class _Global:
    module: str
    name: str


_OPAQUE = object()  # a value the scan does not track (a container, a call's result, a storage)


def _torch_allows(module: str, name: str) -> bool:
    """Whether torch.load(weights_only=True) itself would call module.name (so it runs no code)."""
    try:
        from torch._weights_only_unpickler import _get_allowed_globals

        return f"{module}.{name}" in _get_allowed_globals()
    except Exception:  # a private torch API: without it every refusal says "could run code"
        return False


def _refuse_global(module: str, name: str) -> ScanError:
    full = f"{module}.{name}"
    if (module, name) == ("torch._utils", "_rebuild_meta_tensor_no_storage"):
        return ScanError(
            "the file holds tensors on the 'meta' device: shapes without values (a model built under "
            "torch.device('meta') was saved), so there are no weights to load; save a model whose "
            "parameters hold numbers"
        )
    if _torch_allows(module, name):
        return ScanError(
            f"the file asks to call {full}, which a state_dict saved by torch.save never does; such calls "
            "can allocate memory without limit, so the file was refused before anything was unpickled. "
            "pinit reads only tensors, their storages and plain containers."
        )
    return ScanError(
        f"the file holds Python objects other than tensors and plain containers (it asks to import and call "
        f"{full}); unpickling it could run code, so it was not unpickled: pinit loads checkpoints only with "
        "torch.load(weights_only=True). Save plain weights with torch.save(model.state_dict(), path)."
    )


def _storage_of(pid: Any) -> Storage:
    """The storage a persistent id declares: ('storage', <torch.XStorage>, key, location, numel[, view])."""
    if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"):
        raise ScanError("the file's pickle refers to data in a way torch.save never writes (a malformed storage id)")
    kind, key, _location, numel = pid[1:5]
    if not isinstance(kind, _Global) or kind.name not in STORAGE_ITEMSIZE:
        raise ScanError("the file's pickle names a storage type torch.save does not write")
    if not isinstance(key, str) or not is_whole(numel) or numel < 0:
        raise ScanError("the file's pickle declares a storage with a bad key or size")
    return Storage(key, numel * STORAGE_ITEMSIZE[kind.name])


class _Machine:
    """Just enough of the pickle machine to see which globals are called and which storages declared.

    Literals (numbers, text, tuples of them) and globals are tracked; every other value is
    opaque. Nothing is built but those small values, so the scan costs O(instructions).
    """

    def __init__(self) -> None:
        self.stack: list[Any] = []
        self.marks: list[int] = []
        self.memo: dict[int, Any] = {}
        self.storages: list[Storage] = []

    def pop(self, n: int = 1) -> list[Any]:
        if n > len(self.stack) or (self.marks and len(self.stack) - n < self.marks[-1]):
            raise ScanError("the file's pickle is damaged (it takes more values than it put on its stack)")
        out = self.stack[len(self.stack) - n :]
        del self.stack[len(self.stack) - n :]
        return out

    def pop_mark(self) -> list[Any]:
        if not self.marks:
            raise ScanError("the file's pickle is damaged (a MARK is missing)")
        start = self.marks.pop()
        out = self.stack[start:]
        del self.stack[start:]
        return out

    def top(self) -> Any:
        if not self.stack:
            raise ScanError("the file's pickle is damaged (its stack is empty where a value is needed)")
        return self.stack[-1]

    def global_(self, module: Any, name: Any) -> None:
        if not isinstance(module, str) or not isinstance(name, str):
            raise ScanError("the file's pickle computes the name of what it imports, which torch.save never does")
        if not all(part.isidentifier() for part in (*module.split("."), *name.split("."))):
            # Random bytes that happen to hold a GLOBAL opcode: damaged, not an attack on anything.
            raise ScanError(f"{NOT_READABLE}: its pickle is damaged (it names {quote(module + ' ' + name)})")
        if (module, name) not in ALLOWED_GLOBALS:
            raise _refuse_global(module, name)
        self.stack.append(_Global(module, name))

    def call(self, n_args: int) -> None:
        func = self.pop(n_args + 1)[0]
        if not isinstance(func, _Global):
            raise ScanError("the file's pickle calls something that is not one of the allowed names")
        self.stack.append(_OPAQUE)

    def step(self, name: str, arg: Any) -> None:
        if name in _REFUSED_OPCODES:
            raise ScanError(f"the file's pickle uses the {name} instruction, which torch.save never writes")
        if name in ("PROTO", "FRAME", "STOP"):
            return
        if name == "MARK":
            self.marks.append(len(self.stack))
        elif name in ("NONE", "NEWTRUE", "NEWFALSE"):
            self.stack.append({"NONE": None, "NEWTRUE": True, "NEWFALSE": False}[name])
        elif name in ("EMPTY_LIST", "EMPTY_DICT", "EMPTY_SET"):
            self.stack.append(_OPAQUE)
        elif name == "EMPTY_TUPLE":
            self.stack.append(())
        elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
            self.stack.append(tuple(self.pop(int(name[-1]))))
        elif name == "TUPLE":
            self.stack.append(tuple(self.pop_mark()))
        elif name in ("LIST", "DICT", "FROZENSET"):
            self.pop_mark()
            self.stack.append(_OPAQUE)
        elif name in ("APPENDS", "SETITEMS", "ADDITEMS", "POP_MARK"):
            self.pop_mark()
        elif name in ("APPEND", "POP", "BUILD"):
            self.pop(1)
        elif name == "SETITEM":
            self.pop(2)
        elif name == "DUP":
            self.stack.append(self.top())
        elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
            self.memo[int(arg)] = self.top()
        elif name == "MEMOIZE":
            self.memo[len(self.memo)] = self.top()
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            if int(arg) not in self.memo:
                raise ScanError("the file's pickle is damaged (it reads a memo entry it never wrote)")
            self.stack.append(self.memo[int(arg)])
        elif name == "GLOBAL":
            module, _, attr = str(arg).partition(" ")
            self.global_(module, attr)
        elif name == "STACK_GLOBAL":
            module, attr = self.pop(2)
            self.global_(module, attr)
        elif name == "REDUCE" or name == "NEWOBJ":
            self.call(1)
        elif name == "NEWOBJ_EX":
            self.call(2)
        elif name == "BINPERSID":
            self.storages.append(_storage_of(self.pop(1)[0]))
            self.stack.append(_OPAQUE)
        else:  # every other opcode pushes the literal genops decoded (numbers, text, bytes)
            self.stack.append(arg)


def scan_pickle(stream: io.BytesIO) -> list[Storage]:
    """Read one pickle from `stream` (left just after its STOP) without unpickling it.

    Returns the storages it declares. Raises ScanError naming the first thing a state_dict
    saved by torch.save would not contain: a global outside ALLOWED_GLOBALS, an opcode that
    imports by another route, more than MAX_PICKLE_OPS instructions, or a damaged pickle.
    """
    machine = _Machine()
    ops = 0
    try:
        for opcode, arg, _pos in pickletools.genops(stream):
            ops += 1
            if ops > MAX_PICKLE_OPS:
                raise ScanError(
                    f"the file's pickle has more than {MAX_PICKLE_OPS:,} instructions; a state_dict needs "
                    "about 40 per tensor, so this is far more than any model pinit loads"
                )
            machine.step(opcode.name, arg)
    except ScanError:
        raise
    except (ValueError, struct.error, UnicodeDecodeError, EOFError) as e:  # genops on damaged or truncated bytes
        raise ScanError(f"{NOT_READABLE}: its pickle is damaged or truncated ({e})") from None
    return machine.storages


# --- zip archives (torch.save since 1.6) ----------------------------------------------------


def _zip_entry_count(data: bytes) -> int | None:
    """The entry count in the zip's end-of-central-directory record (zip64 aware); None if not found."""
    end = data.rfind(b"PK\x05\x06", max(0, len(data) - 22 - 65_535))
    if end < 0 or end + 22 > len(data):
        return None
    (count,) = struct.unpack_from("<H", data, end + 10)
    if count != 0xFFFF:
        return int(count)
    locator = end - 20
    if locator < 0 or data[locator : locator + 4] != b"PK\x06\x07":
        return None
    (record,) = struct.unpack_from("<Q", data, locator + 8)
    if record + 40 > len(data) or data[record : record + 4] != b"PK\x06\x06":
        return None
    (count64,) = struct.unpack_from("<Q", data, record + 32)
    return int(count64)


def _zip_entries(data: bytes) -> list[zipfile.ZipInfo]:
    count = _zip_entry_count(data)
    if count is None:
        raise ScanError(
            f"{NOT_READABLE}: it starts like a zip archive, but the archive's directory is missing "
            "(a truncated or damaged torch.save() file)"
        )
    if count > MAX_ZIP_ENTRIES:
        raise ScanError(
            f"the zip archive has {count:,} entries; torch.save writes one per tensor storage plus five, "
            f"and pinit reads at most {MAX_ZIP_ENTRIES:,}"
        )
    try:
        return zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, ValueError, struct.error, NotImplementedError) as e:
        raise ScanError(f"{NOT_READABLE}: it is a damaged zip archive ({e})") from None


def _check_entries(entries: list[zipfile.ZipInfo], size: int, max_bytes: int) -> str:
    """Check every entry's compression and size; returns the archive's top directory ("archive")."""
    if not entries:
        raise ScanError(f"{NOT_READABLE}: the zip archive is empty")
    prefix = entries[0].filename.split("/", 1)[0]
    names: set[str] = set()
    total = 0
    for e in entries:
        if e.compress_type != zipfile.ZIP_STORED:
            raise ScanError(
                f"the zip entry {quote(e.filename)} is compressed; torch.save stores every entry uncompressed, and "
                "pinit does not inflate entries, because a compressed entry can grow a small file into "
                "gigabytes. Save the weights again with torch.save(model.state_dict(), path)."
            )
        if e.file_size != e.compress_size or e.file_size > max_bytes:
            raise ScanError(f"the zip entry {quote(e.filename)} declares an inconsistent or too large size")
        if not e.filename.startswith(prefix + "/") or e.filename in names:
            raise ScanError(
                f"the zip entry {quote(e.filename)} is not where torch.save puts it "
                "(all entries in one folder, each once)"
            )
        names.add(e.filename)
        total += e.file_size
    if total > min(size, max_bytes):
        raise ScanError(
            f"the zip archive's entries add up to {total:,} bytes, more than the file's {size:,} bytes "
            f"(or the limit of {max_bytes:,}): it is damaged"
        )
    return prefix


def check_zip(data: bytes, max_bytes: int) -> None:
    """Refuse a torch.save zip archive whose reading could cost more than its own size.

    Every entry must be stored uncompressed with consistent sizes adding up to at most
    the file's size and `max_bytes`; data.pkl must pass `scan_pickle`; every storage it
    declares must fit in its data/<key> record.
    """
    entries = _zip_entries(data)
    prefix = _check_entries(entries, len(data), max_bytes)
    by_name = {e.filename: e for e in entries}
    pkl = by_name.get(f"{prefix}/data.pkl")
    if pkl is None:
        raise ScanError(f"{NOT_READABLE}: the zip archive has no data.pkl, so torch.save did not write it")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        pickle_bytes = archive.read(pkl)
    for storage in scan_pickle(io.BytesIO(pickle_bytes)):
        record = by_name.get(f"{prefix}/data/{storage.key}")
        if record is None or storage.nbytes > record.file_size:
            have = "is missing" if record is None else f"holds {record.file_size:,} bytes"
            raise ScanError(
                f"a tensor's storage {quote(storage.key)} claims {storage.nbytes:,} bytes but its record {have}: "
                "the file is damaged"
            )


# --- legacy torch.save streams (before torch 1.6, or _use_new_zipfile_serialization=False) ---


def _legacy_pickles(stream: io.BytesIO) -> Iterator[list[Storage]]:
    """The storages of each of the five pickles a legacy stream starts with
    (magic number, protocol version, system info, the object, the storage keys)."""
    for i in range(5):
        if stream.tell() >= len(stream.getbuffer()):
            if i == 1:
                raise ScanError(
                    f"{NOT_READABLE}: it is a plain pickle, not a torch.save() file (save weights with "
                    "torch.save(model.state_dict(), path))"
                )
            raise ScanError(f"{NOT_READABLE}: it ends too early (a truncated legacy torch.save() file)")
        yield scan_pickle(stream)


def check_legacy(data: bytes) -> None:
    """Refuse a legacy (pickle-stream) torch.save file whose reading could cost more than its size.

    Each of its five pickles must pass `scan_pickle`, and the storages they declare must
    fit in the bytes after them (torch allocates a storage's declared size before reading it).
    """
    if len(data) < 2 or data[1] not in (2, 3, 4, 5):
        version = f"protocol {data[1]}" if len(data) > 1 else "nothing after it"
        raise ScanError(f"{NOT_READABLE}: it starts like a pickle ({version}), but not one torch.save writes")
    stream = io.BytesIO(data)
    storages = [s for found in _legacy_pickles(stream) for s in found]
    left = len(data) - stream.tell()
    need = sum(s.nbytes + 8 for s in {s.key: s for s in storages}.values())
    if need > left:
        raise ScanError(
            f"the file's storages claim {need:,} bytes but only {left:,} follow them: it is truncated or damaged"
        )
