"""Classes that follow the teacher across server processes: the room store in one SQLite file.

`RoomStore` (pinit.share.rooms) keeps the rooms in the memory of one process. Behind nginx
(deploy/replicas.py) every browser is pinned to a random replica, so a student's phone is
usually not on the presenter's replica. `SQLiteRoomStore` has the same methods and the same
guarantees, with the rooms in one SQLite file that every replica opens (stdlib sqlite3, WAL
journal: readers never wait for the writer, one writer at a time across processes):

    rooms(code, secret_hash, step, version, touched)       one row per open class
    followers(code, follower, seen)                        one row per phone still polling

* Only the presenter moves a room: the presenter's session holds the secret; the file holds
  only its SHA-256 (a 192-bit random secret needs no salt or slow hash), compared in constant
  time. Whoever reads the file learns codes and steps, not how to move a room.
* Rooms expire `ttl` seconds after the presenter's last create/advance/read; at most
  `max_rooms` open rooms per file (expired rows are deleted when a room is opened or moved).
* At most `max_followers` follower rows per room (the oldest poll dropped first); a follower
  counts while it polled in the last `follower_ttl` seconds, and older rows are deleted.
* Times are wall-clock seconds (time.time): the one clock all processes of the machine share.

Every method is one short transaction (writes take the file's write lock at BEGIN IMMEDIATE,
so two processes creating rooms can never hand out the same code). Thread-safe: one
connection per store object, used under a lock.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .rooms import RoomError, RoomLimits, RoomState

__all__ = ["FILE_NAME", "ROOM_STORE_ENV", "SQLiteRoomStore"]

ROOM_STORE_ENV = "PINIT_ROOM_STORE"  # a folder every replica can write: the rooms' file goes in it
FILE_NAME = "rooms.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS rooms (
    code TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL,
    step INTEGER NOT NULL,
    version INTEGER NOT NULL,
    touched REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS followers (
    code TEXT NOT NULL,
    follower TEXT NOT NULL,
    seen REAL NOT NULL,
    PRIMARY KEY (code, follower)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS followers_by_seen ON followers (code, seen);
"""


def _hash(secret: object) -> str:
    return hashlib.sha256(str(secret).encode()).hexdigest()


class SQLiteRoomStore(RoomLimits):
    """The rooms of every process that opens `path` (a file, or a folder to hold FILE_NAME). The
    bounds: RoomLimits; the clock is wall time (time.time), the one all processes share."""

    def __init__(self, path: str | os.PathLike[str], clock: Callable[[], float] = time.time, **limits: Any) -> None:
        super().__init__(clock=clock, **limits)
        p = Path(path)
        if p.is_dir():
            p = p / FILE_NAME
        if not p.parent.is_dir():
            raise RoomError(f"the rooms' folder {str(p.parent)!r} does not exist (set {ROOM_STORE_ENV} to a folder)")
        self.path = p
        # isolation_level=None: no implicit transactions; each method opens its own.
        self._db = sqlite3.connect(p, timeout=10.0, isolation_level=None, check_same_thread=False)
        with self._lock:
            self._db.execute("PRAGMA busy_timeout = 10000")
            self._db.execute("PRAGMA journal_mode = WAL")  # persistent: set once for the file
            self._db.execute("PRAGMA synchronous = NORMAL")  # a crash may lose the last moves, never the file
            with self._write():
                for statement in filter(str.strip, _SCHEMA.split(";")):
                    self._db.execute(statement)

    def close_db(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (the caller holds self._lock): the file's write lock from the start."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _expire(self, now: float) -> None:
        self._db.execute("DELETE FROM rooms WHERE touched < ?", (now - self.ttl,))
        self._db.execute("DELETE FROM followers WHERE seen < ?", (now - self.follower_ttl,))
        self._db.execute("DELETE FROM followers WHERE code NOT IN (SELECT code FROM rooms)")

    def __len__(self) -> int:
        with self._lock:
            now = self._clock()
            (n,) = self._db.execute("SELECT COUNT(*) FROM rooms WHERE touched >= ?", (now - self.ttl,)).fetchone()
            return int(n)

    def create(self, step: int = 1) -> tuple[str, str]:
        """Open a room at `step`: (code for the students' link, secret for the presenter's session)."""
        step = self._check_step(step)
        secret = secrets.token_urlsafe(24)
        with self._lock, self._write() as db:
            now = self._clock()
            self._expire(now)
            (n,) = db.execute("SELECT COUNT(*) FROM rooms").fetchone()
            if n >= self.max_rooms:
                raise self._full()
            code = self._new_code(
                lambda c: db.execute("SELECT 1 FROM rooms WHERE code = ?", (c,)).fetchone() is not None
            )
            db.execute("INSERT INTO rooms VALUES (?, ?, ?, 1, ?)", (code, _hash(secret), step, now))
            return code, secret

    def _own(self, db: sqlite3.Connection, code: str, secret: str, now: float) -> tuple[int, int]:
        """(step, version) of room `code` if `secret` is its presenter's; RoomError/PermissionError otherwise."""
        row = db.execute(
            "SELECT secret_hash, step, version FROM rooms WHERE code = ? AND touched >= ?", (code, now - self.ttl)
        ).fetchone()
        if row is None:
            raise self._not_open(code)
        if not hmac.compare_digest(row[0].encode(), _hash(secret).encode()):
            raise PermissionError(f"only the presenter of class {code} can move it")
        return int(row[1]), int(row[2])

    def _followers(self, db: sqlite3.Connection, code: str, now: float) -> int:
        (n,) = db.execute(
            "SELECT COUNT(*) FROM followers WHERE code = ? AND seen >= ?", (code, now - self.follower_ttl)
        ).fetchone()
        return int(n)

    def advance(self, code: str, secret: str, step: int) -> RoomState:
        """Move room `code` to `step` (the presenter's secret required); the version grows only on a change."""
        step = self._check_step(step)
        with self._lock, self._write() as db:
            now = self._clock()
            self._expire(now)
            old, version = self._own(db, code, secret, now)
            if old != step:
                version += 1
            db.execute("UPDATE rooms SET step = ?, version = ?, touched = ? WHERE code = ?", (step, version, now, code))
            return RoomState(code, step, version, self._followers(db, code, now))

    def close(self, code: str, secret: str) -> None:
        """End room `code` (presenter only): its followers find it gone and stop following."""
        with self._lock, self._write() as db:
            now = self._clock()
            self._own(db, code, secret, now)
            db.execute("DELETE FROM rooms WHERE code = ?", (code,))
            db.execute("DELETE FROM followers WHERE code = ?", (code,))

    def presenter_read(self, code: str, secret: str) -> RoomState:
        """The room as its presenter sees it (keeps it alive, as a move does)."""
        with self._lock, self._write() as db:
            now = self._clock()
            step, version = self._own(db, code, secret, now)
            db.execute("UPDATE rooms SET touched = ? WHERE code = ?", (now, code))
            return RoomState(code, step, version, self._followers(db, code, now))

    def read(self, code: str, follower: str | None = None) -> RoomState | None:
        """Room `code`'s state, or None when there is no such room. `follower` (an id the
        follower's session chose at random) marks it present; it does not keep the room alive."""
        with self._lock:
            now = self._clock()
            if follower is None:
                row = self._db.execute(
                    "SELECT step, version FROM rooms WHERE code = ? AND touched >= ?", (code, now - self.ttl)
                ).fetchone()
                return None if row is None else RoomState(code, row[0], row[1], self._followers(self._db, code, now))
            with self._write() as db:
                row = db.execute(
                    "SELECT step, version FROM rooms WHERE code = ? AND touched >= ?", (code, now - self.ttl)
                ).fetchone()
                if row is None:
                    return None
                db.execute("INSERT OR REPLACE INTO followers VALUES (?, ?, ?)", (code, str(follower), now))
                # Bounded: keep the max_followers most recent polls of this room.
                db.execute(
                    "DELETE FROM followers WHERE code = ? AND follower IN (SELECT follower FROM followers "
                    "WHERE code = ? ORDER BY seen DESC, follower LIMIT -1 OFFSET ?)",
                    (code, code, self.max_followers),
                )
                return RoomState(code, row[0], row[1], self._followers(db, code, now))

    def leave(self, code: str, follower: str) -> None:
        """A follower stopped following (it chose to explore on its own)."""
        with self._lock, self._write() as db:
            db.execute("DELETE FROM followers WHERE code = ? AND follower = ?", (code, str(follower)))
