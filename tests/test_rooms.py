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


def race(presenter_store, reader_store, moves: int, followers: int) -> None:
    """The presenter moves a room `moves` times in one thread while `followers` threads read it from
    `reader_store` (the same store, or another opening the same file): every read sees a version no
    older than the last, and the end state is the last move's."""
    code, secret = presenter_store.create()
    errors: list[BaseException] = []

    def presenter() -> None:
        for i in range(1, moves + 1):
            presenter_store.advance(code, secret, 1 + i % 6)

    def follower(n: int) -> None:
        try:
            last = 0
            for _ in range(moves):
                s = reader_store.read(code, f"f{n}")
                assert s is not None and s.version >= last
                last = s.version
        except BaseException as e:  # reported below: an assert in a thread would pass silently
            errors.append(e)

    threads = [threading.Thread(target=presenter)]
    threads += [threading.Thread(target=follower, args=(n,)) for n in range(followers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    final = reader_store.read(code)
    assert final is not None and final.version == moves + 1 and final.step == 1 + moves % 6  # each move changed it


def test_concurrent_moves_and_reads_keep_the_version_consistent():
    store = RoomStore()
    race(store, store, moves=600, followers=4)


# --- the address students can reach, short links, QR codes that never raise ---------------------


def test_student_base_prefers_the_public_url_then_a_reachable_browser_host_then_the_lan():
    from pinit import serve

    assert serve.student_base("127.0.0.1", 8501) is None  # loopback: no phone can open it
    assert serve.student_base("localhost", 8501, "http://127.0.0.1:8501/") is None
    assert serve.student_base("0.0.0.0", 8501, None, "https://pinit.example.org/") == "https://pinit.example.org/"
    assert serve.student_base("127.0.0.1", 8501, "http://class.example:8080/?x=1") == "http://class.example:8080/"
    assert serve.student_base("192.168.4.7", 8501) == "http://192.168.4.7:8501/"
    lan = serve.lan_address()
    if lan is not None:  # found without sending a packet (a UDP socket's connect())
        assert not serve.is_loopback(lan)
        assert serve.student_base("0.0.0.0", 8502, "http://127.0.0.1:8502/") == f"http://{lan}:8502/"


def test_public_url_from_the_script_arguments_or_the_environment_and_checked():
    from pinit import serve

    assert serve.public_url(["--public-url", "https://a.example/pinit/"], {}) == "https://a.example/pinit/"
    assert serve.public_url(["--public-url=http://10.0.0.5:8501"], {}) == "http://10.0.0.5:8501/"
    assert serve.public_url([], {serve.PUBLIC_URL_ENV: "https://b.example"}) == "https://b.example/"
    assert serve.public_url([], {}) is None
    for bad in ("ftp://x", "pinit.example.org", "http://", "https://a.example/?q=1", "http://a:99999"):
        with pytest.raises(ValueError, match="--public-url"):
            serve.check_public_url(bad)


def test_pinit_dashboard_passes_the_public_url_to_the_page_and_refuses_a_bad_one():
    import io

    from pinit.share.cli import main

    out, err = io.StringIO(), io.StringIO()
    assert main(["dashboard", "--public-url", "https://pinit.example.org", "--print-command"], out, err) == 0
    assert out.getvalue().rstrip().endswith("-- --public-url https://pinit.example.org/")
    out, err = io.StringIO(), io.StringIO()
    assert main(["dashboard", "--public-url", "pinit.example.org", "--print-command"], out, err) == 2
    assert "must be an http:// or https:// address" in err.getvalue() and not out.getvalue()


def test_the_default_state_is_no_query_and_every_short_link_reads_back():
    import pinit
    from pinit.dashboard.share import DEFAULT_SETUP
    from pinit.share.urlstate import short_query, state_from_query

    assert short_query(DEFAULT_SETUP, DEFAULT_SETUP) == {}
    for preset in pinit.PRESETS:
        for model in ("SimpleCNN", "DeepMLP"):
            setup = DEFAULT_SETUP.replace(model=model, options={}, seed=7)
            setup = setup.replace(plan=pinit.InitPlan.from_dict(pinit.PRESETS[preset].plan))
            back, warnings = state_from_query(short_query(setup, DEFAULT_SETUP), DEFAULT_SETUP)
            assert not warnings and back.key == setup.key


def test_qr_codes_are_low_versions_for_a_class_and_a_long_link_gets_words_not_an_exception():
    import random

    import segno

    from pinit.dashboard.share import qr_or_none

    assert segno.make_qr("http://192.168.100.200:8501/?room=K7Q2", error="m").version <= 3
    assert segno.make_qr("http://192.168.100.200:8501/?step=2", error="m").version <= 3
    png = qr_or_none("http://192.168.100.200:8501/?room=K7Q2", 320)
    assert png is not None and png.startswith(b"\x89PNG")
    rng = random.Random(0)
    token = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") for _ in range(3680))
    assert qr_or_none(f"http://192.168.1.2:8501/?plan={token}", 320) is None  # segno would raise DataOverflowError
    assert qr_or_none("http://h/?" + "x" * 1200, 320) is None  # fits version 31: too fine to scan off a screen


# --- a class over the browser's protocol: one presenter, thirty followers ---------------------------

FOLLOWERS = 30


def _alerts(run) -> list[str]:
    return [a.body for a in run.of_type("alert")]


def test_thirty_followers_follow_the_presenter_and_none_can_move_the_room():
    import asyncio
    import dataclasses

    from pinit.serve import running
    from tests.ws_client import class_status, join_class, open_class, shows_step

    async def the_class(url: str) -> None:
        presenter, code = await open_class(url)
        tabs = []
        for _ in range(FOLLOWERS):
            s, first = await join_class(url, code)
            assert first.ok, first.exceptions or first.error_alerts
            assert shows_step(code, 1)(first)
            assert s.auto_reruns  # the page asked for its poll fragment to tick
            tabs.append(s)
        run = await presenter.lesson_step(+1)
        assert run.ok and "step=2" in presenter.query_string
        reached = await asyncio.gather(*(s.follow_until(shows_step(code, 2), timeout=120) for s in tabs))
        assert all(r.ok for r in reached)
        status = class_status(await presenter.rerun())
        assert status == (code, FOLLOWERS)  # the presenter sees how many follow

        # A follower tries to drive. Its page has no Back/Next: it forges the presenter's Next (the
        # widget's id, taken from the presenter's page) and asks for step 5 in its address.
        rogue, others = tabs[0], tabs[1:]
        assert not rogue.has_widget(key="lesson.next")
        # Scoped to the rogue's own view fragment (a request naming a fragment it does not have is dropped).
        forged = dataclasses.replace(
            presenter.widget(key="lesson.next"), fragment_id=rogue.widget(key="room.leave").fragment_id
        )
        for _ in range(2):
            rogue.widgets[forged.id] = forged  # each run of its view replaces the rogue's widgets
            await rogue.lesson_step(+1)
        rogue.query_string = "room=" + code + "&step=5"
        await rogue.rerun()
        for s in others[:5]:
            for _ in range(4):  # two seconds of polls: the room has not moved
                run = await s.auto_rerun()
                assert not any(shows_step(code, n)(run) for n in (3, 4))
                await asyncio.sleep(0.5)
        again = await presenter.rerun()
        assert "step=2" in presenter.query_string and class_status(again) is not None

        # The hand-over: at "Your turn" every follower is let go with the lesson's last step.
        for _ in range(4):
            await presenter.lesson_step(+1)
        assert "step=6" in presenter.query_string
        handed = await asyncio.gather(
            *(s.follow_until(lambda r: any("Your turn" in a for a in _alerts(r)), timeout=120) for s in others)
        )
        for run in handed:
            assert not any("Following the teacher" in m for m in run.markdown())
            assert any(b.label.startswith("Open Weights") for b in run.of_type("button"))
        for s in [presenter, *tabs]:
            await s.close()

    with running() as (url, _):
        asyncio.run(the_class(url))


def test_a_public_url_given_to_the_page_is_the_students_link_and_never_carries_presenter_mode():
    import asyncio

    from pinit.serve import running
    from tests.ws_client import StreamlitSession

    async def presenter(url: str) -> list[str]:
        s = StreamlitSession(url)
        s.query_string = "present=1&view=Lesson&step=1"
        first = await s.connect()
        assert first.ok, first.exceptions or first.error_alerts
        run = await s.rerun(click_key="room.open")
        await s.close()
        return [c.code_text for r in (first, run) for c in r.of_type("code")]

    with running(script_args=["--public-url", "https://class.example/pinit"]) as (url, _):
        first_link, class_link = asyncio.run(presenter(url))
    assert first_link == "https://class.example/pinit/?step=1"  # the default state: no model, plan or seed
    assert class_link.startswith("https://class.example/pinit/?room=") and len(class_link) == len(
        "https://class.example/pinit/?room=K7Q2"
    )
