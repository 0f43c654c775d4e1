"""The server's memory budget and its shared slots: what one job may cost, and who runs next.

A classroom server is one process for the whole room (2 cores, 4-8 GB). Anything a
student can ask for by a link, a plan file or the sidebar (DeepMLP 100 x 4096 is 1.7 G
parameters; TinyGPT at its option limits 9.7 G) is within the model's option ranges,
so the ranges alone cannot keep the server alive. This module holds the one number that
does: `budget_bytes()`, the memory one job (one session's view of one model) may make
the server hold, read from the environment variable PINIT_MEMORY_BUDGET_MB (default
DEFAULT_BUDGET_MB). Every path that builds a model asks `estimate` what it will cost
*before* anything is built, from the model's shapes on the meta device:

* ``weights``  (the Weights view's report, the CSV): the parameters, 4 bytes each, plus
  the report's working copy (`stats.describe` scans a tensor in float64 chunks: at most
  4 Mi values of 8 bytes);
* ``signal``   (Signal flow): parameters, their gradients and the working copies of the
  gradient statistics (3 x 4 bytes a value), plus
  the forward pass on the probe batch counted op by op on the meta device (every
  operator's output, as autograd keeps them for the backward pass) twice: once kept for
  backward, once for the gradients flowing back and the page's per-layer captures;
* ``download`` ("Download weights"): the parameters and their serialized copy
  (torch.save writes the bytes into a buffer before the page sends them).

`admit` turns an estimate over the budget into a sentence saying what was asked, what it
would cost and what is allowed. Models of BIG_MODEL_PARAMS or more are "big": their jobs
take the one big-model slot, a `FairSlot`, so the server builds one at a time.

`FairSlot` is how a shared slot (the big-model slot, the training worker) is fair to a
class: a first-come, first-served line with one place per session (a session asking
again takes its old place, it does not add one), each waiter told its place ("2nd in
line"), and a holder that has run a time slice while others wait goes to the back of the
line (`pause_if_waited`), so no student holds the slot for long while others wait.
`RunGate` is the training worker's admission built on it: one run at a time, the same run
never twice at once (a class pressing the same button trains it once), turns of
TRAIN_SLICE_S seconds.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import threading
import time
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils import _pytree as pytree
from torch.utils._python_dispatch import TorchDispatchMode

from .report import meta_model, parameter_shapes

__all__ = [
    "BIG_MODEL_PARAMS",
    "BUDGET_ENV",
    "DEFAULT_BUDGET_MB",
    "TRAIN_SLICE_S",
    "VIEWS",
    "Cost",
    "FairSlot",
    "RunGate",
    "admit",
    "budget_bytes",
    "estimate",
    "fit_probe",
    "is_big",
    "nth",
    "over_budget",
]

BUDGET_ENV = "PINIT_MEMORY_BUDGET_MB"
# One job may make the server hold 1.5 GiB: VGGStyle (105 M parameters, 402 MiB) fits every
# view, download included (~0.8 GiB), and one such job at a time (the big-model slot) next
# to the page's own ~0.5 GB leaves room for the class on a 4 GB server.
DEFAULT_BUDGET_MB = 1536
_BUDGET_RANGE_MB = (64, 1_048_576)
BIG_MODEL_PARAMS = 10_000_000  # from here a model's jobs take the big-model slot (one at a time)
VIEWS = ("weights", "signal", "download")
_F32, _F64 = 4, 8
_REPORT_CHUNK = 1 << 22  # values the report's scan holds in float64 at once (pinit.stats scans in chunks)


def budget_bytes() -> int:
    """The memory one job may make the server hold: PINIT_MEMORY_BUDGET_MB (MiB), default DEFAULT_BUDGET_MB.

    Read at each call, so a server started with the variable set uses it. ValueError in words
    for a value that is not a whole number of MiB in range."""
    raw = os.environ.get(BUDGET_ENV, "").strip()
    if not raw:
        return DEFAULT_BUDGET_MB * 2**20
    low, high = _BUDGET_RANGE_MB
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ValueError(f"{BUDGET_ENV} must be a whole number of MiB from {low} to {high:,}, got {raw[:40]!r}")
    return int(raw) * 2**20


def size_words(n: float) -> str:
    """Bytes in words a class reads: '402 MiB', '37 GiB'."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            v = n / scale
            return f"{v:,.0f} {unit}" if v >= 10 else f"{v:.1f} {unit}"
    return f"{int(n)} bytes"


def nth(k: int) -> str:
    """1 -> '1st', 2 -> '2nd', 11 -> '11th'."""
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k}{suffix}"


@dataclass(frozen=True)
class Cost:
    """What one view of one model would make the server hold, part by part (bytes)."""

    model: str
    options: Mapping[str, Any]
    view: str
    params: int
    parts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.parts.values())

    def words(self) -> str:
        """'about 6.3 GiB (parameters 6.3 GiB, report 128 MiB)'."""
        shown = ", ".join(f"{k} {size_words(v)}" for k, v in self.parts.items() if v)
        return f"about {size_words(self.total)} ({shown})"


def _options_json(options: Mapping[str, Any] | None) -> str:
    return json.dumps(dict(options or {}), sort_keys=True)


# TorchDispatchMode's __init__ and __init_subclass__ carry no annotations in torch: the two ignores
# below silence `mypy --strict` there (and are not flagged as unused by the default check).
class _CountOutputs(TorchDispatchMode):  # type: ignore[no-untyped-call,unused-ignore]
    """Sum the bytes of every new tensor an operator returns (views and in-place results make none)."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call,unused-ignore]
        self.bytes = 0

    def __torch_dispatch__(
        self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None
    ) -> Any:
        out = func(*args, **(kwargs or {}))
        if not (func.is_view or func._schema.is_mutable):
            for t in pytree.tree_leaves(out):
                if isinstance(t, torch.Tensor):
                    self.bytes += t.numel() * t.element_size()
        return out


@functools.lru_cache(maxsize=256)
def _forward_bytes(model_name: str, options_json: str, n: int) -> int:
    """Bytes of all operator outputs of one forward pass of a batch of `n`, counted on the meta device."""
    model = meta_model(model_name, json.loads(options_json))
    shape = tuple(getattr(model, "input_shape", ()))
    vocab = getattr(model, "input_vocab", None)
    try:
        x = torch.empty((n, *shape), device="meta", dtype=torch.int64 if vocab is not None else torch.float32)
        counter = _CountOutputs()
        with torch.no_grad(), counter:
            model(x)
        return counter.bytes
    except Exception:  # a model that cannot run on the meta device: assume activations as large as its weights
        return n * sum(math.prod(s) for s in parameter_shapes(model_name, json.loads(options_json)).values()) * _F32


@functools.lru_cache(maxsize=256)
def _estimate(model_name: str, options_json: str, view: str, n: int) -> Cost:
    options = json.loads(options_json)
    shapes = parameter_shapes(model_name, options)  # ValueError/TypeError for options that do not build
    params = sum(math.prod(s) for s in shapes.values())
    largest = max((math.prod(s) for s in shapes.values()), default=0)
    parts = {"parameters": params * _F32}
    if view == "weights":
        parts["report"] = min(largest, _REPORT_CHUNK) * _F64
    elif view == "signal":
        parts["gradients"] = params * _F32
        parts["working copies"] = params * _F32
        parts[f"activations of {n} probe inputs"] = 3 * _forward_bytes(model_name, options_json, n)
    elif view == "download":
        parts["serialized copy"] = 2 * params * _F32
    else:
        raise ValueError(f"unknown view {view!r}; the views are {', '.join(VIEWS)}")
    return Cost(model_name, options, view, params, parts)


def estimate(model_name: str, options: Mapping[str, Any] | None = None, view: str = "weights", n: int = 64) -> Cost:
    """What `view` of `model_name` with `options` would cost (`n`: Signal flow's probe batch).

    Nothing is allocated: shapes come from the meta-device model and activations from a
    forward pass on meta tensors. Raises ValueError/TypeError when the options do not build."""
    return _estimate(model_name, _options_json(options), view, int(n))


_VIEW_WORDS = {"weights": "show its weights", "signal": "run Signal flow on it", "download": "download its weights"}


def over_budget(cost: Cost, budget: int | None = None) -> str | None:
    """A sentence when `cost` exceeds the budget: what was asked, what it would cost, what is allowed."""
    budget = budget_bytes() if budget is None else budget
    if cost.total <= budget:
        return None
    opts = ", ".join(f"{k} {v}" for k, v in cost.options.items())
    asked = cost.model + (f" ({opts})" if opts else "")
    return (
        f"{asked} has {cost.params:,} parameters: to {_VIEW_WORDS.get(cost.view, cost.view)} the server would "
        f"need {cost.words()}, and one student's job may use at most {size_words(budget)} of this shared "
        f"server's memory ({BUDGET_ENV}); pick smaller options"
    )


def admit(model_name: str, options: Mapping[str, Any] | None = None, view: str = "weights", n: int = 64) -> str | None:
    """None when `view` of the model fits the budget; else the refusal in words (also for options that do not build)."""
    try:
        cost = estimate(model_name, options, view, n)
    except (ValueError, TypeError) as e:
        return str(e)
    return over_budget(cost)


def fit_probe(model_name: str, options: Mapping[str, Any] | None, sizes: list[int]) -> list[int]:
    """The probe batch sizes among `sizes` whose Signal flow fits the budget (the page offers only those).

    All of them for options that do not build: the view's own call says what is wrong with them."""
    try:
        budget = budget_bytes()
        return [n for n in sizes if estimate(model_name, options, "signal", n).total <= budget]
    except (ValueError, TypeError):
        return list(sizes)


def is_big(model_name: str, options: Mapping[str, Any] | None = None) -> bool:
    """A model of BIG_MODEL_PARAMS or more: its jobs take the big-model slot, one at a time per server.
    False for options that do not build (nothing will be built: the view says why in words)."""
    try:
        return estimate(model_name, options).params >= BIG_MODEL_PARAMS
    except (ValueError, TypeError):
        return False


# --- fair share of a slot -------------------------------------------------------------------


class Superseded(Exception):
    """A waiter whose session asked again: the newer request took its place in line."""


@dataclass(eq=False)
class _Ticket:
    who: Hashable
    thread: int
    cancelled: bool = False


class FairSlot:
    """`slots` holders at a time, the others in one first-come, first-served line, one place per session.

    `turn(who, wait)` waits in line: every `poll` seconds while waiting it calls
    `wait(place)` with the 1-based place in line (on the page an st.* call, so a rerun
    stops the wait and the place is given up). A session (`who`) has at most one place:
    asking again while it waits takes over the old place, and the old waiter raises
    Superseded. A thread that already holds the slot enters again at once (a job inside a
    job). `pause_if_waited(who, wait, slice_s)` is for long holders: after `slice_s`
    seconds of holding while someone waits, the holder goes to the back of the line and
    continues when its turn comes back (its work stays in memory), so with two sessions
    a long run and a short one alternate slices instead of the short one waiting it out.
    """

    def __init__(self, name: str, slots: int = 1, poll: float = 0.5) -> None:
        self.name = name
        self.slots = slots
        self.poll = poll
        self._cond = threading.Condition()
        self._line: list[_Ticket] = []
        self._holders: dict[int, tuple[_Ticket, float]] = {}  # thread id -> (ticket, since)

    # - what a page shows -
    def place(self, who: Hashable) -> int | None:
        """0 while `who` holds the slot, its 1-based place while it waits, None otherwise."""
        with self._cond:
            if any(t.who == who for t, _ in self._holders.values()):
                return 0
            for i, t in enumerate(self._line, start=1):
                if t.who == who:
                    return i
        return None

    def waiting(self) -> int:
        with self._cond:
            return len(self._line)

    def holding(self) -> int:
        with self._cond:
            return len(self._holders)

    # - taking a turn -
    def _enqueue(self, ticket: _Ticket) -> None:
        for i, t in enumerate(self._line):
            if t.who == ticket.who:  # one place per session: the newer request takes it over
                t.cancelled = True
                self._line[i] = ticket
                self._cond.notify_all()
                return
        self._line.append(ticket)

    def _wait_turn(self, ticket: _Ticket, wait: Callable[[int], None]) -> None:
        """Block until `ticket` is first in line and a slot is free, then hold it."""
        try:
            while True:
                with self._cond:
                    if ticket.cancelled:
                        raise Superseded(f"a newer request from the same session took this place for the {self.name}")
                    if self._line and self._line[0] is ticket and len(self._holders) < self.slots:
                        self._line.pop(0)
                        self._holders[ticket.thread] = (ticket, time.monotonic())
                        self._cond.notify_all()
                        return
                    place = self._line.index(ticket) + 1
                wait(place)  # outside the lock: on the page it may raise (a rerun)
                with self._cond:
                    if not ticket.cancelled and ticket.thread not in self._holders:
                        self._cond.wait(self.poll)
        except BaseException:
            with self._cond:
                if ticket in self._line:
                    self._line.remove(ticket)
                    self._cond.notify_all()
            raise

    @contextlib.contextmanager
    def turn(self, who: Hashable, wait: Callable[[int], None] = lambda place: None) -> Iterator[None]:
        me = threading.get_ident()
        with self._cond:
            reentered = me in self._holders
            ticket = _Ticket(who, me)
            if not reentered:
                self._enqueue(ticket)
        if reentered:
            yield
            return
        self._wait_turn(ticket, wait)
        try:
            yield
        finally:
            with self._cond:
                self._holders.pop(me, None)
                self._cond.notify_all()

    def pause_if_waited(self, wait: Callable[[int], None], slice_s: float) -> bool:
        """Called by a holder between steps: after `slice_s` s of holding while others wait, give the
        slot to the first waiter and take a place at the back; return when it is ours again (True if paused)."""
        me = threading.get_ident()
        with self._cond:
            held = self._holders.get(me)
            if held is None or not self._line or time.monotonic() - held[1] < slice_s:
                return False
            ticket = _Ticket(held[0].who, me)
            del self._holders[me]
            self._line.append(ticket)
            self._cond.notify_all()
        try:
            self._wait_turn(ticket, wait)
        except BaseException:
            # turn()'s finally pops a holder that is not there: harmless.
            raise
        return True


BIG_MODEL_SLOT = FairSlot("big-model slot")  # one big model built at a time per server process


TRAIN_SLICE_S = 3.0  # seconds a run trains while others wait before it lets the next run have a turn


class RunGate:
    """Process-wide admission for training runs: at most `slots` at once, never the same run twice at once,
    and turns taken fairly.

    A class pressing the same button at the same moment must not train the same plan
    thirty times over on two shared cores: the first tab trains it, the others wait for
    it and then read it from the cache. Runs of different plans queue for the slots in a
    first-come, first-served line with one place per session (pinit.budget.FairSlot), and
    each waiting tab is told its place ("2nd in line"). A long run does not hold the
    worker while others wait: between steps it calls `share(wait)`, which after
    `slice_s` seconds of training with someone in line hands the worker on and puts the
    run at the back of the line (its model and optimizer wait in memory), so an 800-step
    run and a classmate's 100-step run take turns instead of one waiting out the other.
    While waiting, `wait(message)` is called every `poll` seconds: on the page it is an
    st.* call, so a Stop (a rerun) interrupts the wait as it would a run.
    """

    def __init__(self, slots: int = 1, poll: float = 0.5, slice_s: float = TRAIN_SLICE_S) -> None:
        self._slot = FairSlot("training worker", slots, poll)
        self._lock = threading.Lock()
        self._in_flight: set[str] = set()
        self.poll = poll
        self.slice_s = slice_s

    def place(self, who: Hashable) -> int | None:
        """0 while `who` trains, its place in line while it waits, None otherwise."""
        return self._slot.place(who)

    @contextlib.contextmanager
    def enter(
        self, key: str, wait: Callable[[str], None], done: Callable[[], bool], who: Hashable | None = None
    ) -> Iterator[bool]:
        """Yield True when this caller should train `key` now, False when `done()` came true meanwhile.

        `who` is the caller's session (one place in line each; default: the run's key)."""
        while True:
            if done():
                yield False
                return
            with self._lock:
                if key not in self._in_flight:
                    self._in_flight.add(key)
                    break
            wait("Another tab is training this same plan right now; its result will appear here when it finishes.")
            time.sleep(self.poll)
        try:
            if done():  # finished by another tab just before we claimed it
                yield False
                return
            with self._slot.turn(key if who is None else who, lambda place: wait(_queued(place))):
                yield True
        finally:
            with self._lock:
                self._in_flight.discard(key)

    def share(self, wait: Callable[[str], None]) -> bool:
        """Between two steps of a run holding the worker: after `slice_s` s with others in line, let the
        first of them train and wait for the run's next turn (True if it paused)."""
        return self._slot.pause_if_waited(
            lambda place: wait(f"Paused to let other tabs train: {_queued(place)}"), self.slice_s
        )


def _queued(place: int) -> str:
    ahead = "the run ahead of it is" if place == 1 else f"the {place} runs ahead of it are"
    return (
        f"Queued: {nth(place)} in line for the training worker (one run at a time, in turns of "
        f"{TRAIN_SLICE_S:g} s, keeps the page responsive for everyone); it goes on when {ahead} done or paused."
    )
