"""A lesson chart built once per server process and shared by every tab: `shared(build, *args, **kw)`.

The lesson's stories are computed once per process (pinit.lab.lesson.computed_once: the same
object for every tab), and each step's figure is a pure function of its story and the layout
(presenter mode, phone, height). When a class moves, thirty followers' pages rerun at once and
would each build the same figure and serialise it to the same JSON (step 5's training chart:
tens of milliseconds each, all on the server's one core). Here the first tab builds it and the
others get its JSON text, which pinit.dashboard.chart sends as it is.

The key is the builder, the identity of each story argument and the layout arguments; an entry
keeps its arguments alive and is used only while they are the very objects given (a story
recomputed after a cache clear is a new object: a new entry). Bounded: `MAX_ENTRIES` figures,
the oldest dropped first. The JSON text is immutable, so no tab can change what another sees.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

__all__ = ["MAX_ENTRIES", "shared"]

MAX_ENTRIES = 64  # 6 steps x presenter/plain x phone/desktop, with room for other layouts

_lock = threading.Lock()
_figures: OrderedDict[tuple[Any, ...], tuple[tuple[Any, ...], str]] = OrderedDict()


_PLAIN = (str, int, float, bool, type(None))  # layout arguments: part of the key by value


def _key(build: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    def part(value: Any) -> Any:
        return value if isinstance(value, _PLAIN) else ("id", id(value))

    return (build, tuple(part(a) for a in args), tuple(sorted((k, part(v)) for k, v in kwargs.items())))


def shared(build: Callable[..., Any], *args: Any, **kwargs: Any) -> str:
    """`build(*args, **kwargs).to_json()`, computed once for the same arguments and shared."""
    key = _key(build, args, kwargs)
    held = tuple(v for v in (*args, *kwargs.values()) if not isinstance(v, _PLAIN))  # the stories
    with _lock:
        hit = _figures.get(key)
        if hit is not None and len(hit[0]) == len(held) and all(a is b for a, b in zip(hit[0], held)):
            _figures.move_to_end(key)
            return hit[1]
    spec = build(*args, **kwargs).to_json()  # outside the lock: two tabs may build it once each, no harm
    with _lock:
        _figures[key] = (held, spec)
        while len(_figures) > MAX_ENTRIES:
            _figures.popitem(last=False)
    return spec
