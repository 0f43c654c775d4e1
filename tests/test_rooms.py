"""The room store behind "follow the teacher": only the presenter moves a room; rooms and followers are bounded."""

from __future__ import annotations

import threading

import pytest

from pinit.share.rooms import ALPHABET, CODE_LENGTH, RoomError, RoomStore, normalise_code


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_presenter_moves_the_room_and_followers_read_it():
    store = RoomStore()
    code, secret = store.create()
    assert len(code) == CODE_LENGTH and set(code) <= set(ALPHABET)
    first = store.read(code, "a")
    assert first is not None and (first.step, first.version, first.followers) == (1, 1, 1)
    moved = store.advance(code, secret, 2)
    assert (moved.step, moved.version) == (2, 2)
    assert store.advance(code, secret, 2).version == 2  # the same step again is no change
    now = store.read(code, "b")
    assert now is not None and (now.step, now.version, now.followers) == (2, 2, 2)


def test_a_wrong_secret_changes_nothing():
    store = RoomStore()
    code, secret = store.create()
    other_code, other_secret = store.create()
    for bad in ("", "guess", other_secret, secret[:-1]):
        with pytest.raises(PermissionError, match="only the presenter"):
            store.advance(code, bad, 4)
    with pytest.raises(PermissionError):
        store.close(code, other_secret)
    state = store.read(code)
    assert state is not None and (state.step, state.version) == (1, 1)
    assert store.read(other_code) is not None


def test_bad_steps_and_codes_are_refused_in_words():
    store = RoomStore()
    code, secret = store.create()
    for step in (0, 7, -1, True, 2.0):
        with pytest.raises(RoomError, match="from 1 to 6"):
            store.advance(code, secret, step)  # type: ignore[arg-type]
    with pytest.raises(RoomError, match="not open"):
        store.advance("ZZZZ" if code != "ZZZZ" else "YYYY", secret, 2)
    assert normalise_code(" k7q2 ") == "K7Q2"
    for raw in ("K7Q", "K7Q22", "K0Q2", "K7Q!", "", None, 1234):
        assert normalise_code(raw) is None


def test_rooms_expire_after_the_presenters_last_touch():
    clock = Clock()
    store = RoomStore(ttl=60, clock=clock)
    code, secret = store.create()
    clock.t += 50
    store.advance(code, secret, 3)
    clock.t += 50
    assert store.read(code, "a") is not None  # 50 s after the last move
    clock.t += 11  # a follower's poll does not keep the room alive
    assert store.read(code) is None
    with pytest.raises(RoomError):
        store.advance(code, secret, 4)
    assert len(store) == 0


def test_the_number_of_rooms_is_bounded():
    clock = Clock()
    store = RoomStore(max_rooms=3, ttl=60, clock=clock)
    for _ in range(3):
        store.create()
    with pytest.raises(RoomError, match="already holds 3 open classes"):
        store.create()
    clock.t += 61
    store.create()  # the expired ones made room
    assert len(store) == 1


def test_followers_are_counted_while_they_poll_and_bounded_per_room():
    clock = Clock()
    store = RoomStore(max_followers=5, follower_ttl=10, clock=clock)
    code, secret = store.create()
    for i in range(8):
        store.read(code, f"f{i}")
    state = store.presenter_read(code, secret)
    assert state.followers == 5  # the oldest three dropped
    clock.t += 6
    store.read(code, "f7")
    clock.t += 6
    assert store.presenter_read(code, secret).followers == 1  # only f7 polled in the last 10 s
    store.leave(code, "f7")
    assert store.presenter_read(code, secret).followers == 0


def test_close_ends_the_room():
    store = RoomStore()
    code, secret = store.create()
    store.close(code, secret)
    assert store.read(code) is None


def test_concurrent_moves_and_reads_keep_the_version_consistent():
    store = RoomStore()
    code, secret = store.create()
    errors: list[BaseException] = []

    def presenter() -> None:
        for i in range(1, 601):
            store.advance(code, secret, 1 + i % 6)

    def follower(n: int) -> None:
        try:
            last = 0
            for _ in range(600):
                s = store.read(code, f"f{n}")
                assert s is not None and s.version >= last
                last = s.version
        except BaseException as e:  # reported below: an assert in a thread would pass silently
            errors.append(e)

    threads = [threading.Thread(target=presenter)] + [threading.Thread(target=follower, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    final = store.read(code)
    assert final is not None and final.version == 601 and final.step == 1  # each of the 600 moves changed the step
