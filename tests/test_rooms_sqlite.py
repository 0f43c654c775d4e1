"""The rooms in one SQLite file (pinit.share.room_db): what replicas behind nginx share.

Two store objects on one file stand for two replicas: a move made through one is what the
other reads; only the presenter's secret moves a room (the file holds its hash, not the
secret); rooms expire; rooms and follower rows are bounded. The same contract is checked on
the in-process RoomStore, so the two cannot drift apart.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from pinit.share.room_db import FILE_NAME, ROOM_STORE_ENV, SQLiteRoomStore
from pinit.share.rooms import ALPHABET, CODE_LENGTH, RoomError, RoomStore
from tests.test_rooms import race


class Clock:
    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t


def rows(folder: Path, table: str) -> int:
    with sqlite3.connect(folder / FILE_NAME) as db:
        return db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


@pytest.fixture(params=["memory", "sqlite"])
def make(request, tmp_path):
    """make(**limits) -> a store of either kind (the contract both keep)."""

    def build(**kw):
        return RoomStore(**kw) if request.param == "memory" else SQLiteRoomStore(tmp_path, **kw)

    return build


# --- the contract, on both stores ---------------------------------------------------------------


def test_contract_moves_reads_and_counts(make):
    store = make()
    code, secret = store.create()
    assert len(code) == CODE_LENGTH and set(code) <= set(ALPHABET)
    first = store.read(code, "a")
    assert first is not None and (first.step, first.version, first.followers) == (1, 1, 1)
    assert (store.advance(code, secret, 2).step, store.advance(code, secret, 2).version) == (2, 2)
    now = store.read(code, "b")
    assert now is not None and (now.step, now.version, now.followers) == (2, 2, 2)
    store.leave(code, "a")
    assert store.presenter_read(code, secret).followers == 1
    assert store.read("ZZZZ" if code != "ZZZZ" else "YYYY") is None


def test_contract_wrong_secret_bad_step_close(make):
    store = make()
    code, secret = store.create()
    _, other_secret = store.create()
    for bad in ("", "guess", other_secret, secret[:-1]):
        with pytest.raises(PermissionError, match="only the presenter"):
            store.advance(code, bad, 4)
        with pytest.raises(PermissionError):
            store.close(code, bad)
    for step in (0, 7, True, 2.0):
        with pytest.raises(RoomError, match="from 1 to 6"):
            store.advance(code, secret, step)
    state = store.read(code)
    assert state is not None and (state.step, state.version) == (1, 1)
    store.close(code, secret)
    assert store.read(code) is None
    with pytest.raises(RoomError, match="not open"):
        store.advance(code, secret, 2)


def test_contract_expiry_and_bounds(make):
    clock = Clock()
    store = make(max_rooms=3, ttl=60, max_followers=5, follower_ttl=10, clock=clock)
    code, secret = store.create()
    for i in range(8):
        clock.t += 0.01  # polls in order: the oldest three are the ones dropped
        store.read(code, f"f{i}")
    assert store.presenter_read(code, secret).followers == 5
    clock.t += 6
    store.read(code, "f7")
    clock.t += 6
    assert store.presenter_read(code, secret).followers == 1  # only f7 polled in the last 10 s
    store.create()
    store.create()
    with pytest.raises(RoomError, match="already holds 3 open classes"):
        store.create()
    clock.t += 50
    store.advance(code, secret, 3)
    clock.t += 11  # the other two: 61 s untouched
    assert len(store) == 1
    store.create()  # their places are free again
    clock.t += 38
    assert store.read(code, "x") is not None  # 49 s after the presenter's last move
    clock.t += 12  # a follower's poll does not keep the room alive
    assert store.read(code) is None
    with pytest.raises(RoomError):
        store.advance(code, secret, 4)


# --- what only the shared file does -------------------------------------------------------------


def test_two_stores_on_one_file_see_each_others_moves(tmp_path):
    presenter_side, student_side = SQLiteRoomStore(tmp_path), SQLiteRoomStore(tmp_path / FILE_NAME)
    code, secret = presenter_side.create()
    assert student_side.read(code, "phone-1") is not None
    assert student_side.read(code, "phone-2") is not None
    state = presenter_side.advance(code, secret, 3)
    assert (state.step, state.version, state.followers) == (3, 2, 2)  # followers counted across replicas
    seen = student_side.read(code, "phone-1")
    assert seen is not None and (seen.step, seen.version) == (3, 2)
    student_side.advance(code, secret, 4)  # the presenter's session may sit on either replica
    assert presenter_side.presenter_read(code, secret).step == 4
    presenter_side.close(code, secret)
    assert student_side.read(code) is None


def test_a_wrong_secret_through_another_store_changes_nothing_and_the_file_holds_no_secret(tmp_path):
    a, b = SQLiteRoomStore(tmp_path), SQLiteRoomStore(tmp_path)
    code, secret = a.create()
    with pytest.raises(PermissionError):
        b.advance(code, secret + "x", 5)
    with pytest.raises(PermissionError):
        b.close(code, "")
    state = a.read(code)
    assert state is not None and (state.step, state.version) == (1, 1)
    for f in tmp_path.iterdir():  # the database, its WAL and shared-memory files
        assert secret.encode() not in f.read_bytes()


def test_expired_rows_are_deleted_from_the_file(tmp_path):
    clock = Clock()
    a = SQLiteRoomStore(tmp_path, ttl=60, follower_ttl=10, clock=clock)
    codes = [a.create()[0] for _ in range(5)]
    for i, code in enumerate(codes):
        a.read(code, f"f{i}")
    assert (rows(tmp_path, "rooms"), rows(tmp_path, "followers")) == (5, 5)
    clock.t += 61
    a.create()  # opening a room sweeps the expired ones and their followers
    assert (rows(tmp_path, "rooms"), rows(tmp_path, "followers")) == (1, 0)


def test_follower_rows_per_room_are_bounded_in_the_file(tmp_path):
    clock = Clock()
    a = SQLiteRoomStore(tmp_path, max_followers=20, clock=clock)
    code, _ = a.create()
    for i in range(300):  # a forged flood of follower ids
        clock.t += 0.001
        a.read(code, f"forged-{i}")
    assert rows(tmp_path, "followers") == 20


def test_a_missing_folder_is_refused_in_words(tmp_path):
    with pytest.raises(RoomError, match="does not exist"):
        SQLiteRoomStore(tmp_path / "nowhere" / "deeper")


def _create_many(folder: str, n: int, out) -> None:
    store = SQLiteRoomStore(folder, max_rooms=1000)
    out.put([store.create()[0] for _ in range(n)])


def test_two_processes_creating_rooms_never_share_a_code(tmp_path):
    ctx = multiprocessing.get_context("fork")  # no re-import of torch in the children
    out = ctx.Queue()
    procs = [ctx.Process(target=_create_many, args=(str(tmp_path), 60, out)) for _ in range(2)]
    for p in procs:
        p.start()
    codes = out.get(timeout=60) + out.get(timeout=60)
    for p in procs:
        p.join(30)
    assert len(codes) == 120 and len(set(codes)) == 120
    assert rows(tmp_path, "rooms") == 120


def test_threads_of_two_stores_keep_the_version_consistent(tmp_path):
    race(SQLiteRoomStore(tmp_path), SQLiteRoomStore(tmp_path), moves=200, followers=3)


def test_the_page_uses_the_shared_file_when_the_environment_names_a_folder(tmp_path, monkeypatch, capsys):
    from pinit.dashboard import room

    monkeypatch.setenv(ROOM_STORE_ENV, str(tmp_path))
    shared = room._open_store()
    assert isinstance(shared, SQLiteRoomStore) and shared.path == tmp_path / FILE_NAME
    monkeypatch.setenv(ROOM_STORE_ENV, str(tmp_path / "missing"))
    fallback = room._open_store()
    assert isinstance(fallback, RoomStore)
    assert "does not exist" in capsys.readouterr().err  # said in the server's log
    monkeypatch.delenv(ROOM_STORE_ENV)
    assert isinstance(room._open_store(), RoomStore)
