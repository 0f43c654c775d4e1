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

What torch.save writes for state_dicts, for every registered model in
float32/float16/bfloat16/float64/int64, pickle protocols 2, 4 and 5, zip and legacy
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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ..checks import is_whole
from ..text import quote, shorten

__all__ = [
    "ALLOWED_GLOBALS",
    "MAX_CONTAINER_ITEMS",
    "MAX_DEPTH",
    "MAX_KEY_CHARS",
    "MAX_PICKLE_OPS",
    "MAX_ZIP_DIRECTORY_BYTES",
    "MAX_ZIP_ENTRIES",
    "Scan",
    "ScanError",
    "Storage",
    "Tensor",
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
MAX_ZIP_DIRECTORY_BYTES = 4 * 1024 * 1024  # about 100 bytes per entry torch.save writes, 400 allowed

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
    itemsize: int = 1


@dataclass(frozen=True)
class _Global:
    module: str
    name: str


def _torch_allows(module: str, name: str) -> bool:
    """Whether torch.load(weights_only=True) itself would call module.name (so it runs no code).

    Asked of torch's public `torch.serialization.get_unsafe_globals_in_checkpoint`, which
    reads a checkpoint's pickle without running it and lists the globals outside torch's
    allowlist (and the user's `add_safe_globals`): it is handed a minimal checkpoint whose
    pickle names only this global. A name holding a newline cannot be written as a pickle
    GLOBAL, and torch would refuse it: False.
    """
    if "\n" in module or "\n" in name:
        return False
    pkl = b"\x80\x02c" + f"{module}\n{name}\n".encode() + b"."
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", pkl)
        z.writestr("archive/version", "3\n")
    buf.seek(0)
    try:
        from torch.serialization import get_unsafe_globals_in_checkpoint

        return f"{module}.{name}" not in get_unsafe_globals_in_checkpoint(buf)
    except Exception:  # a torch without it, or a name it cannot read: every refusal then says "could run code"
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
    return Storage(key, numel * STORAGE_ITEMSIZE[kind.name], STORAGE_ITEMSIZE[kind.name])


def _depth(value: Any) -> int:
    """How deep a tracked value nests containers: 0 for a number, text, a global or a storage."""
    return value.depth if isinstance(value, (_Tuple, _Box)) else 0


class _Tuple(tuple[Any, ...]):
    """A tuple the pickle builds, with how deeply it nests (its items are tracked values)."""

    depth: int


@dataclass(eq=False)
class _Box:
    """A mutable container (list, dict, set) or a call's result: tracked by identity, not content.

    `items` counts what was put in it; `placed` is set once it is inside another container,
    after which it may not change (so the depth of everything holding it stays true).
    """

    kind: str
    depth: int = 1
    items: int = 0
    placed: bool = False
    tensor: bool = False


@dataclass(frozen=True)
class Tensor:
    """A tensor a pickle builds (_rebuild_tensor_v2): how many values it has and the bytes of each.

    A view may repeat its storage (stride 0) or overlap it, so numel * itemsize is what the
    tensor costs once anything copies it, whatever its storage holds.
    """

    numel: int
    itemsize: int


# What torch.save writes nests about 8 deep (a wrapped state_dict, an optimizer's param_groups);
# torch.load hashes a dict key recursively in C, and a 300,000-deep tuple key kills the process.
MAX_DEPTH = 100
MAX_CONTAINER_ITEMS = 100_000  # one dict entry per tensor: pinit's largest model has 200
MAX_KEY_CHARS = 10_000  # a parameter name is a dotted path of a few dozen characters
MAX_TENSOR_DIMS = 64  # torch itself refuses more dimensions in most operations
_KEY_INT_BITS = 64  # optimizer state is keyed by parameter index


def _check_key(key: Any) -> None:
    """A dict key or set item torch.load will hash: text of bounded length or a 64-bit whole number.

    Tuples, floats and containers are refused: hashing a nested tuple recurses in C without
    a depth check, and crafted tuples and floats can all share one hash (a dict of them
    costs time quadratic in its size).
    """
    if isinstance(key, (str, bytes)):
        if len(key) > MAX_KEY_CHARS:
            raise ScanError(
                f"the file's pickle has a dict key of {len(key):,} characters; a state_dict's keys are parameter "
                f"names, and pinit reads keys of at most {MAX_KEY_CHARS:,}"
            )
        return
    if key is None or key is True or key is False:
        return
    if is_whole(key) and key.bit_length() < _KEY_INT_BITS:
        return
    what = {_Tuple: "a tuple", float: "a floating-point number", int: "a whole number over 64 bits"}.get(
        type(key), "a container or an object"
    )
    raise ScanError(
        f"the file's pickle uses {what} as a dict key or set item; a state_dict's keys are parameter names "
        "(text) and an optimizer's are whole numbers, so pinit reads only those"
    )


class _Machine:
    """Just enough of the pickle machine to see what a pickle calls, declares and builds.

    Literals (numbers, text), tuples of tracked values and globals are tracked; lists, dicts,
    sets and call results are boxes that know only their depth and size. Every value's
    nesting depth is kept as it is built, so a pickle nesting deeper than MAX_DEPTH, a
    container with more than MAX_CONTAINER_ITEMS items, and a key torch.load could not hash
    safely are refused before torch sees them. Nothing is built but those small values, so
    the scan costs O(instructions).
    """

    def __init__(self) -> None:
        self.stack: list[Any] = []
        self.marks: list[int] = []
        self.memo: dict[int, Any] = {}
        self.storages: list[Storage] = []
        self.tensors: list[Tensor] = []

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

    def push(self, value: Any) -> None:
        if len(self.stack) > 2 * MAX_CONTAINER_ITEMS + MAX_DEPTH:
            raise ScanError(
                f"the file's pickle holds more than {2 * MAX_CONTAINER_ITEMS:,} values at once; a state_dict "
                "holds a few per tensor"
            )
        self.stack.append(value)

    @staticmethod
    def _too_deep() -> ScanError:
        return ScanError(
            f"the file's pickle nests containers more than {MAX_DEPTH} deep; a state_dict nests about 8 "
            "(a dict of tensors inside a dict), and torch.load would recurse through every level, which can "
            "crash the server, so the file was refused before torch read it"
        )

    @staticmethod
    def _check_size(n: int) -> None:
        if n > MAX_CONTAINER_ITEMS:
            raise ScanError(
                f"the file's pickle builds a container of {n:,} items or more; pinit reads at most "
                f"{MAX_CONTAINER_ITEMS:,} (a state_dict has one entry per tensor)"
            )

    def _place(self, items: list[Any]) -> int:
        """Mark `items` as inside a new container; returns that container's depth."""
        depth = 0
        for item in items:
            if isinstance(item, _Box):
                item.placed = True
            depth = max(depth, _depth(item))
        if depth + 1 > MAX_DEPTH:
            raise self._too_deep()
        return depth + 1

    def tuple_(self, items: list[Any]) -> None:
        self._check_size(len(items))
        t = _Tuple(items)
        t.depth = self._place(items)
        self.push(t)

    def box(self, kind: str, items: list[Any], keys: Sequence[Any] = ()) -> None:
        n = len(keys) if kind == "dict" else len(items)
        self._check_size(n)
        for key in keys:
            _check_key(key)
        self.push(_Box(kind, self._place(items), n))

    def add(self, items: list[Any], keys: list[Any], kinds: tuple[str, ...]) -> None:
        """APPEND(S), SETITEM(S), ADDITEMS, BUILD: `items` go into the box under them."""
        target = self.top()
        if not isinstance(target, _Box) or target.kind not in kinds:
            raise ScanError("the file's pickle adds items to something that is not a container of that kind")
        if target.placed:
            raise ScanError(
                "the file's pickle changes a container after putting it inside another one, which torch.save "
                "never does (it is how a pickle builds nesting that cannot be seen where it is built)"
            )
        target.items += len(keys) if target.kind == "dict" else len(items)
        self._check_size(target.items)
        for key in keys:
            _check_key(key)
        target.depth = max(target.depth, self._place(items))

    def global_(self, module: Any, name: Any) -> None:
        if not isinstance(module, str) or not isinstance(name, str):
            raise ScanError("the file's pickle computes the name of what it imports, which torch.save never does")
        if not all(part.isidentifier() for part in (*module.split("."), *name.split("."))):
            # Random bytes that happen to hold a GLOBAL opcode: damaged, not an attack on anything.
            raise ScanError(f"{NOT_READABLE}: its pickle is damaged (it names {quote(module + ' ' + name)})")
        if (module, name) not in ALLOWED_GLOBALS:
            raise _refuse_global(module, name)
        self.push(_Global(module, name))

    def call(self, n_args: int) -> None:
        func, *args = self.pop(n_args + 1)
        if not isinstance(func, _Global):
            raise ScanError("the file's pickle calls something that is not one of the allowed names")
        if len(args) != 1 or not isinstance(args[0], _Tuple):  # NEWOBJ_EX's kwargs, or args built in a box
            raise ScanError("the file's pickle calls a function with arguments torch.save never writes")
        (arg_tuple,) = args
        result = _Box("call", self._place([arg_tuple]))
        if func.name == "OrderedDict":
            if arg_tuple:  # torch.save writes OrderedDict() and then its items, never OrderedDict(pairs)
                raise ScanError("the file's pickle builds an OrderedDict from arguments, which torch.save never does")
            result.kind = "dict"
        elif func.name == "_rebuild_tensor_v2":
            self.tensors.append(_tensor_of(arg_tuple))
            result.tensor = True
        self.push(result)

    def step(self, name: str, arg: Any) -> None:
        if name in _REFUSED_OPCODES:
            raise ScanError(f"the file's pickle uses the {name} instruction, which torch.save never writes")
        if name in ("PROTO", "FRAME", "STOP"):
            return
        if name == "MARK":
            if len(self.marks) >= MAX_DEPTH:
                raise self._too_deep()
            self.marks.append(len(self.stack))
        elif name in ("NONE", "NEWTRUE", "NEWFALSE"):
            self.push({"NONE": None, "NEWTRUE": True, "NEWFALSE": False}[name])
        elif name in ("EMPTY_LIST", "EMPTY_DICT", "EMPTY_SET"):
            self.push(_Box(name[6:].lower()))
        elif name == "EMPTY_TUPLE":
            self.tuple_([])
        elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
            self.tuple_(self.pop(int(name[-1])))
        elif name == "TUPLE":
            self.tuple_(self.pop_mark())
        elif name == "LIST":
            self.box("list", self.pop_mark())
        elif name == "DICT":
            items = self.pop_mark()
            self.box("dict", items, items[::2])
        elif name == "FROZENSET":
            items = self.pop_mark()
            self.box("frozenset", items, items)
        elif name == "APPENDS":
            self.add(self.pop_mark(), [], ("list",))
        elif name == "APPEND":
            self.add(self.pop(1), [], ("list",))
        elif name == "SETITEMS":
            items = self.pop_mark()
            self.add(items, items[::2], ("dict",))
        elif name == "SETITEM":
            items = self.pop(2)
            self.add(items, items[:1], ("dict",))
        elif name == "ADDITEMS":
            items = self.pop_mark()
            self.add(items, items, ("set",))
        elif name == "BUILD":  # torch.save: an OrderedDict's _metadata, a Parameter's state
            self.add(self.pop(1), [], ("dict", "call"))
        elif name == "POP_MARK":
            self.pop_mark()
        elif name == "POP":
            self.pop(1)
        elif name == "DUP":
            self.push(self.top())
        elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
            self.memo[int(arg)] = self.top()
        elif name == "MEMOIZE":
            self.memo[len(self.memo)] = self.top()
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            if int(arg) not in self.memo:
                raise ScanError("the file's pickle is damaged (it reads a memo entry it never wrote)")
            self.push(self.memo[int(arg)])
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
            storage = _storage_of(self.pop(1)[0])
            self.storages.append(storage)
            self.push(storage)
        else:  # every other opcode pushes the literal genops decoded (numbers, text, bytes)
            self.push(arg)


def _tensor_of(args: tuple[Any, ...]) -> Tensor:
    """The tensor _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata]) makes."""
    if len(args) not in (6, 7) or not isinstance(args[0], Storage):
        raise ScanError("the file's pickle rebuilds a tensor from arguments torch.save never writes")
    size = args[2]
    if not (isinstance(size, tuple) and all(is_whole(d) and d >= 0 for d in size)):
        raise ScanError("the file's pickle gives a tensor a shape that is not a tuple of whole numbers")
    if len(size) > MAX_TENSOR_DIMS:
        raise ScanError(
            f"the file's pickle gives a tensor {len(size):,} dimensions; pinit reads at most {MAX_TENSOR_DIMS}"
        )
    numel = 1
    for d in size:
        numel *= d
        if numel > 2**63:  # already far past any limit; stop multiplying huge numbers
            break
    return Tensor(numel, args[0].itemsize)


@dataclass
class Scan:
    """What a pickle (or a whole file) declares: its storages and the tensors built over them."""

    storages: list[Storage]
    tensors: list[Tensor]


def scan_pickle(stream: io.BytesIO) -> Scan:
    """Read one pickle from `stream` (left just after its STOP) without unpickling it.

    Returns the storages it declares and the tensors it builds. Raises ScanError naming the
    first thing a state_dict saved by torch.save would not contain: a global outside
    ALLOWED_GLOBALS, an opcode that imports by another route, more than MAX_PICKLE_OPS
    instructions, containers nested deeper than MAX_DEPTH or holding more than
    MAX_CONTAINER_ITEMS, a dict key other than bounded text or a 64-bit number, or a
    damaged pickle.
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
        raise ScanError(f"{NOT_READABLE}: its pickle is damaged or truncated ({shorten(str(e), 120)})") from None
    return Scan(machine.storages, machine.tensors)


# --- zip archives (torch.save since 1.6) ----------------------------------------------------


_EOCD = struct.Struct("<4s4H2LH")  # end of central directory: signature, disks, counts, size, offset, comment
_ZIP64_LOCATOR = 20
_ZIP64_RECORD = struct.Struct("<4sQ2H2L4Q")  # zip64 end record: ..., counts, directory size and offset
_CENTRAL_HEADER = 46  # a central directory header without its name, extra field and comment


def _zip_directory(data: bytes) -> tuple[int, int, int]:
    """(entries claimed, offset, size) of the zip's central directory, from its end record.

    Found the way Python's zipfile finds it (the last 22 bytes, else the last end-record
    signature in the final 64 kB; a zip64 record right before its locator overrides the
    numbers), so the directory checked here is the one zipfile would read.
    """
    eocd = len(data) - _EOCD.size
    if eocd < 0 or data[eocd : eocd + 4] != b"PK\x05\x06":
        eocd = data.rfind(b"PK\x05\x06", max(0, len(data) - _EOCD.size - 65_535))
    if eocd < 0 or eocd + _EOCD.size > len(data):
        raise ScanError(
            f"{NOT_READABLE}: it starts like a zip archive, but the archive's directory is missing "
            "(a truncated or damaged torch.save() file)"
        )
    _sig, _disk, _cd_disk, _on_disk, count, size, offset, _comment = _EOCD.unpack_from(data, eocd)
    end = eocd
    locator = eocd - _ZIP64_LOCATOR
    if locator >= 0 and data[locator : locator + 4] == b"PK\x06\x07":
        record = locator - _ZIP64_RECORD.size
        if record < 0 or data[record : record + 4] != b"PK\x06\x06":
            raise ScanError(f"{NOT_READABLE}: its zip64 end record is missing or damaged")
        *_head, count, size, offset = _ZIP64_RECORD.unpack_from(data, record)
        end = record
    if offset + size != end:
        raise ScanError(
            f"{NOT_READABLE}: the zip archive's end record puts its directory at bytes {offset:,} to "
            f"{offset + size:,}, but the directory must end where the end record starts (byte {end:,})"
        )
    return int(count), int(offset), int(size)


def _walk_directory(data: bytes, offset: int, size: int) -> int:
    """How many entries the central directory really holds, header by header; stops past MAX_ZIP_ENTRIES."""
    pos, end, found = offset, offset + size, 0
    while pos < end:
        if found >= MAX_ZIP_ENTRIES:
            raise ScanError(
                f"the zip archive's directory holds more than {MAX_ZIP_ENTRIES:,} entries (counted header by "
                f"header); torch.save writes one per tensor storage plus five, and pinit reads at most "
                f"{MAX_ZIP_ENTRIES:,}"
            )
        if pos + _CENTRAL_HEADER > end or data[pos : pos + 4] != b"PK\x01\x02":
            raise ScanError(f"{NOT_READABLE}: the zip archive's directory is damaged (entry {found + 1:,})")
        name, extra, comment = struct.unpack_from("<3H", data, pos + 28)
        pos += _CENTRAL_HEADER + name + extra + comment
        found += 1
    if pos != end:
        raise ScanError(f"{NOT_READABLE}: the zip archive's directory is damaged (its last entry runs past its end)")
    return found


def _zip_entries(data: bytes) -> list[zipfile.ZipInfo]:
    """The archive's entries, read by zipfile only after its directory was counted and bounded here.

    The end record's entry count is not trusted: zipfile reads every header in the directory's
    byte range whatever the count says (a 47 MB file whose end record claimed a few entries held
    700,000), so the directory's size is bounded and its headers are walked with struct first.
    """
    count, offset, size = _zip_directory(data)
    if count > MAX_ZIP_ENTRIES:
        raise ScanError(
            f"the zip archive has {count:,} entries; torch.save writes one per tensor storage plus five, "
            f"and pinit reads at most {MAX_ZIP_ENTRIES:,}"
        )
    if size > MAX_ZIP_DIRECTORY_BYTES:
        raise ScanError(
            f"the zip archive's directory is {size:,} bytes; torch.save writes about 100 per entry, and pinit "
            f"reads directories of at most {MAX_ZIP_DIRECTORY_BYTES:,} bytes"
        )
    found = _walk_directory(data, offset, size)
    if found != count:
        raise ScanError(
            f"the zip archive's end record says it has {count:,} entries, but its directory holds {found:,}: "
            "an archive whose directory disagrees with its end record is damaged or forged, so it was refused "
            "before it was opened"
        )
    try:
        return zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, ValueError, struct.error, NotImplementedError) as e:
        raise ScanError(f"{NOT_READABLE}: it is a damaged zip archive ({shorten(str(e), 120)})") from None


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


def check_zip(data: bytes, max_bytes: int) -> list[Tensor]:
    """Refuse a torch.save zip archive whose reading could cost more than its own size.

    The central directory must hold what its end record says, at most MAX_ZIP_ENTRIES
    entries in at most MAX_ZIP_DIRECTORY_BYTES; every entry must be stored uncompressed
    with consistent sizes adding up to at most the file's size and `max_bytes`; data.pkl
    must pass `scan_pickle`; every storage it declares must fit in its data/<key> record.
    Returns the tensors data.pkl builds (what they expand to is checked by the caller).
    """
    entries = _zip_entries(data)
    prefix = _check_entries(entries, len(data), max_bytes)
    by_name = {e.filename: e for e in entries}
    pkl = by_name.get(f"{prefix}/data.pkl")
    if pkl is None:
        raise ScanError(f"{NOT_READABLE}: the zip archive has no data.pkl, so torch.save did not write it")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        pickle_bytes = archive.read(pkl)
    scan = scan_pickle(io.BytesIO(pickle_bytes))
    for storage in scan.storages:
        record = by_name.get(f"{prefix}/data/{storage.key}")
        if record is None or storage.nbytes > record.file_size:
            have = "is missing" if record is None else f"holds {record.file_size:,} bytes"
            raise ScanError(
                f"a tensor's storage {quote(storage.key)} claims {storage.nbytes:,} bytes but its record {have}: "
                "the file is damaged"
            )
    return scan.tensors


# --- legacy torch.save streams (before torch 1.6, or _use_new_zipfile_serialization=False) ---


def _legacy_pickles(stream: io.BytesIO) -> Iterator[Scan]:
    """The scan of each of the five pickles a legacy stream starts with
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


def check_legacy(data: bytes) -> list[Tensor]:
    """Refuse a legacy (pickle-stream) torch.save file whose reading could cost more than its size.

    Each of its five pickles must pass `scan_pickle`, and the storages they declare must
    fit in the bytes after them (torch allocates a storage's declared size before reading it).
    Returns the tensors the pickles build.
    """
    if len(data) < 2 or data[1] not in (2, 3, 4, 5):
        version = f"protocol {data[1]}" if len(data) > 1 else "nothing after it"
        raise ScanError(f"{NOT_READABLE}: it starts like a pickle ({version}), but not one torch.save writes")
    stream = io.BytesIO(data)
    scans = list(_legacy_pickles(stream))
    storages = [s for scan in scans for s in scan.storages]
    left = len(data) - stream.tell()
    need = sum(s.nbytes + 8 for s in {s.key: s for s in storages}.values())
    if need > left:
        raise ScanError(
            f"the file's storages claim {need:,} bytes but only {left:,} follow them: it is truncated or damaged"
        )
    return [t for scan in scans for t in scan.tensors]
