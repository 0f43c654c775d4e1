"""Classes that follow the teacher: a small in-process store of rooms (no streamlit here).

The anchor is reveal.js's multiplex plugin: the presenter holds a secret, the audience holds
only the room's id, and the presenter's moves are broadcast to the audience. Here a room is

    code (4 letters, e.g. "K7Q2") -> lesson step, version counter, followers' last poll

`create()` gives the presenter the code (for the students' link) and a secret (kept in the
presenter's session only). `advance(code, secret, step)` moves the room and bumps its version;
a wrong secret changes nothing (PermissionError). `read(code, follower)` is what a follower
polls: the room's step and version, and it records that this follower is still there, so the
presenter can see how many follow. A student learns the step and the number of followers,
never who they are.

Bounds, so a forged or forgotten room costs little: at most `max_rooms` rooms, each expiring
`ttl` seconds after the presenter last touched it; at most `max_followers` follower ids per
room (the oldest dropped first), each counted only while it polled in the last
`follower_ttl` seconds. Thread-safe (one lock): every Streamlit session of the server process
calls in from its own script thread.

This store lives in one process. Replicas behind a load balancer share their rooms through
pinit.share.room_db.SQLiteRoomStore instead (same methods, one SQLite file; docs/CLASSROOM.md).
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..checks import is_whole

__all__ = ["ALPHABET", "CODE_LENGTH", "RoomError", "RoomLimits", "RoomState", "RoomStore", "normalise_code"]

# No 0/O, 1/I/L: a code read off a projector is typed without doubt.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 4


class RoomError(ValueError):
    """A room could not be opened or found; the message says why in words."""


def normalise_code(raw: object) -> str | None:
    """The room code in `raw` (a query parameter: any case, spaces around), or None if it is not one."""
    if not isinstance(raw, str):
        return None
    code = raw.strip().upper()
    if len(code) != CODE_LENGTH or any(c not in ALPHABET for c in code):
        return None
    return code


@dataclass(frozen=True)
class RoomState:
    """What anyone who knows the code may see: the step, how often it moved, how many follow."""

    code: str
    step: int
    version: int
    followers: int


@dataclass
class _Room:
    secret: str
    step: int
    version: int
    touched: float  # the presenter's last create/advance/read
    seen: OrderedDict[str, float] = field(default_factory=OrderedDict)  # follower id -> last poll, oldest first


class RoomLimits:
    """What every room store shares (this one in memory, room_db's in a file): its bounds, its
    clock, the step check, the new codes and the words of its refusals."""

    def __init__(
        self,
        max_rooms: int = 100,
        ttl: float = 4 * 3600.0,
        max_followers: int = 500,
        follower_ttl: float = 10.0,
        max_step: int = 6,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_rooms = max_rooms
        self.ttl = ttl
        self.max_followers = max_followers
        self.follower_ttl = follower_ttl
        self.max_step = max_step
        self._clock = clock
        self._lock = threading.Lock()

    def _check_step(self, step: int) -> int:
        if not is_whole(step) or not 1 <= step <= self.max_step:
            raise RoomError(f"a lesson step is a whole number from 1 to {self.max_step}, got {step!r}")
        return step

    def _full(self) -> RoomError:
        return RoomError(
            f"this server already holds {self.max_rooms} open classes (each closes "
            f"{self.ttl / 3600:g} h after its presenter's last move); try again later"
        )

    @staticmethod
    def _new_code(taken: Callable[[str], bool]) -> str:
        """A random code that `taken` says is free (31^4 ≈ 923,000 codes for at most max_rooms rooms:
        a clash is rare)."""
        while True:
            code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
            if not taken(code):
                return code

    @staticmethod
    def _not_open(code: str) -> RoomError:
        return RoomError(f"class {code} is not open on this server (it may have expired)")


class RoomStore(RoomLimits):
    """Rooms of one server process: create, advance (presenter only), read (followers), expire.
    The bounds and the clock: RoomLimits."""

    def __init__(self, **limits: Any) -> None:
        super().__init__(**limits)
        self._rooms: dict[str, _Room] = {}

    def __len__(self) -> int:
        with self._lock:
            self._expire(self._clock())
            return len(self._rooms)

    def _expire(self, now: float) -> None:
        for code in [c for c, r in self._rooms.items() if now - r.touched > self.ttl]:
            del self._rooms[code]

    def create(self, step: int = 1) -> tuple[str, str]:
        """Open a room at `step`: (code for the students' link, secret for the presenter's session)."""
        step = self._check_step(step)
        with self._lock:
            now = self._clock()
            self._expire(now)
            if len(self._rooms) >= self.max_rooms:
                raise self._full()
            code = self._new_code(self._rooms.__contains__)
            secret = secrets.token_urlsafe(24)
            self._rooms[code] = _Room(secret, step, 1, now)
            return code, secret

    def _own(self, code: str, secret: str) -> _Room:
        room = self._rooms.get(code)
        if room is None:
            raise self._not_open(code)
        if not hmac.compare_digest(room.secret.encode(), str(secret).encode()):
            raise PermissionError(f"only the presenter of class {code} can move it")
        return room

    def advance(self, code: str, secret: str, step: int) -> RoomState:
        """Move room `code` to `step` (the presenter's secret required); the version grows only on a change."""
        step = self._check_step(step)
        with self._lock:
            now = self._clock()
            self._expire(now)
            room = self._own(code, secret)
            room.touched = now
            if room.step != step:
                room.step = step
                room.version += 1
            return self._state(code, room, now)

    def close(self, code: str, secret: str) -> None:
        """End room `code` (presenter only): its followers find it gone and stop following."""
        with self._lock:
            self._own(code, secret)
            del self._rooms[code]

    def presenter_read(self, code: str, secret: str) -> RoomState:
        """The room as its presenter sees it (keeps it alive, as a move does)."""
        with self._lock:
            now = self._clock()
            self._expire(now)
            room = self._own(code, secret)
            room.touched = now
            return self._state(code, room, now)

    def read(self, code: str, follower: str | None = None) -> RoomState | None:
        """Room `code`'s state, or None when there is no such room. `follower` (an id the
        follower's session chose at random) marks it present; it does not keep the room alive."""
        with self._lock:
            now = self._clock()
            self._expire(now)
            room = self._rooms.get(code)
            if room is None:
                return None
            if follower is not None:
                room.seen.pop(follower, None)
                room.seen[follower] = now  # newest last
                while len(room.seen) > self.max_followers:
                    room.seen.popitem(last=False)
            return self._state(code, room, now)

    def leave(self, code: str, follower: str) -> None:
        """A follower stopped following (it chose to explore on its own)."""
        with self._lock:
            room = self._rooms.get(code)
            if room is not None:
                room.seen.pop(follower, None)

    def _state(self, code: str, room: _Room, now: float) -> RoomState:
        while room.seen and now - next(iter(room.seen.values())) > self.follower_ttl:
            room.seen.popitem(last=False)  # oldest first: stop at the first one still polling
        return RoomState(code, room.step, room.version, len(room.seen))
