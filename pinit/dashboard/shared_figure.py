"""Charts built once per server process and shared by every tab: `shared(build, *args, **kw)`, `by_value`.

The lesson's stories are computed once per process (pinit.lab.lesson.computed_once: the same
object for every tab), and each step's figure is a pure function of its story and the layout
(presenter mode, phone, height). When a class moves, thirty followers' pages rerun at once and
would each build the same figure and serialise it to the same JSON (step 5's training chart:
tens of milliseconds each, all on the server's one core). Here the first tab builds it and the
others get its JSON text, which pinit.dashboard.chart sends as it is.

`by_value(key, build)` does the same for what is keyed by value rather than by the objects it
is built from: the Weights view's histogram panels of one setup (its canonical key), bins, page and
layout. A class at the default seed picking the same presets gets one build, not one per student,
and a teacher flipping between two presets builds each once (bench/LATENCY.md has what building
and serialising six panels costs a preset pick).

The key of `shared` is the builder, the identity of each story argument and the layout arguments; an entry
keeps its arguments alive and is used only while they are the very objects given (a story
recomputed after a cache clear is a new object: a new entry). Bounded: `MAX_ENTRIES` figures,
the oldest dropped first. The JSON text is immutable, so no tab can change what another sees.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar, cast

T = TypeVar("T")

__all__ = ["MAX_BY_VALUE", "MAX_ENTRIES", "by_value", "shared"]

MAX_ENTRIES = 64  # 6 steps x presenter/plain x phone/desktop, with room for other layouts

_lock = threading.Lock()
_figures: OrderedDict[tuple[Any, ...], tuple[tuple[Any, ...], str]] = OrderedDict()


_PLAIN = (str, int, float, bool, type(None))  # layout arguments: part of the key by value


def _key(build: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    def part(value: Any) -> Any:
        return value if isinstance(value, _PLAIN) else ("id", id(value))

    return (build, tuple(part(a) for a in args), tuple(sorted((k, part(v)) for k, v in kwargs.items())))


def _once(
    store: OrderedDict[Any, Any], bound: int, key: Any, build: Callable[[], Any], fits: Callable[[Any], bool]
) -> Any:
    """`build()`, kept in `store` under `key` and returned to every later caller whose entry `fits`;
    at most `bound` entries, the least recently used dropped first."""
    with _lock:
        if key in store and fits(store[key]):
            store.move_to_end(key)
            return store[key]
    value = build()  # outside the lock: two tabs may build it once each, no harm
    with _lock:
        store[key] = value
        while len(store) > bound:
            store.popitem(last=False)
    return value


def shared(build: Callable[..., Any], *args: Any, **kwargs: Any) -> str:
    """`build(*args, **kwargs).to_json()`, computed once for the same arguments and shared."""
    held = tuple(v for v in (*args, *kwargs.values()) if not isinstance(v, _PLAIN))  # the stories
    entry = _once(
        _figures,
        MAX_ENTRIES,
        _key(build, args, kwargs),
        lambda: (held, build(*args, **kwargs).to_json()),
        fits=lambda hit: len(hit[0]) == len(held) and all(a is b for a, b in zip(hit[0], held)),
    )
    return str(entry[1])


MAX_BY_VALUE = 256  # ~30 kB of JSON each: at most ~8 MB for the whole server
_by_value: OrderedDict[Hashable, Any] = OrderedDict()


def by_value(key: Hashable, build: Callable[[], T]) -> T:
    """`build()`, computed once per server for an equal `key` and shared by every tab.

    The key must say everything the result depends on (a Setup's `key`, the layout), and the
    result must be immutable (JSON text, a tuple of strings): every tab gets the same object.
    At most MAX_BY_VALUE results, the least recently used dropped first."""
    return cast(T, _once(_by_value, MAX_BY_VALUE, key, build, fits=lambda _: True))
