"""Follow the teacher through nginx: a presenter on one replica, phones on both, one class.

deploy/replicas.py names one SQLite file to every replica (PINIT_ROOM_STORE), so the class
a presenter opens on its replica is the class a phone pinned to the other replica joins,
follows and is counted in. Protocol level (tests/ws_client.py), all on 127.0.0.1 through
nginx; which replica each tab reached is read from nginx's access log (its cookie).
"""

from __future__ import annotations

import asyncio
import time

from deploy.replicas import COOKIE
from tests.scaleout.test_nginx_replicas import keys_on_each_replica, upstreams_by_key
from tests.ws_client import StreamlitSession, class_status, join_class, open_class, shows_step

PER_REPLICA = 2  # pinned followers on each replica


def replica_of(cls, session: StreamlitSession) -> str:
    """The upstream (replica) nginx sent this tab to: its cookie's key in the access log."""
    assert session.cookies is not None
    key = dict(p.strip().split("=", 1) for p in session.cookies.split(";") if "=" in p)[COOKIE]
    for _ in range(20):
        ups = upstreams_by_key(cls.access_log).get(key)
        if ups:
            assert len(ups) == 1, f"tab {key} reached several replicas: {ups}"
            return next(iter(ups))
        time.sleep(0.1)  # nginx writes its log line after the response
    raise AssertionError(f"no access-log line for key {key}")


def test_phones_on_every_replica_follow_a_presenter_on_one(cls):
    keys = keys_on_each_replica(cls)  # replica -> a cookie value that nginx hashes to it
    assert (cls.run_dir / "rooms").is_dir()

    async def the_class() -> None:
        presenter, code = await open_class(cls.url, timeout=300)
        home = replica_of(cls, presenter)
        tabs: list[tuple[str, StreamlitSession]] = []
        for replica, key in keys.items():
            for i in range(PER_REPLICA):
                s = StreamlitSession(cls.url, timeout=300)
                s.cookies = f"{COOKIE}={key}"  # as a phone that got this cookie from nginx before
                s.query_string = f"room={code}"
                first = await s.connect()
                assert first.ok, first.exceptions or first.error_alerts
                warnings = [a.body for a in first.of_type("alert")]
                assert not any("not open" in w for w in warnings), warnings
                assert shows_step(code, 1)(first), f"follower {i} on {replica}: {first.markdown()[:4]}"
                tabs.append((replica, s))
        extra, first = await join_class(cls.url, code, timeout=300)  # a phone nginx places itself
        assert first.ok and shows_step(code, 1)(first)
        tabs.append((replica_of(cls, extra), extra))
        on = {replica_of(cls, s) for _, s in tabs}
        assert on == set(keys) and len(on) == 2  # phones on both replicas
        assert any(r != home for r, _ in tabs)  # some phones are not on the presenter's replica

        for step, delta in ((2, +1), (3, +1), (2, -1)):
            run = await presenter.lesson_step(delta)
            assert run.ok and f"step={step}" in presenter.query_string
            reached = await asyncio.gather(*(s.follow_until(shows_step(code, step), timeout=120) for _, s in tabs))
            assert all(r.ok for r in reached)

        status = class_status(await presenter.rerun())
        assert status == (code, len(tabs))  # the presenter counts the phones of both replicas

        # A phone on another replica than the presenter's cannot move the class: its address asks for
        # step 5 and it has no Back/Next; the others stay at step 2.
        rogue = next(s for r, s in tabs if r != home)
        assert not rogue.has_widget(key="lesson.next")
        rogue.query_string = f"room={code}&step=5"
        await rogue.rerun()
        for _ in range(3):  # a second and a half of polls: no page reran to another step
            for _, s in tabs:
                run = await s.auto_rerun()
                assert not any(shows_step(code, n)(run) for n in (1, 3, 4, 5))
            await asyncio.sleep(0.5)
        late = StreamlitSession(cls.url, timeout=300)  # a phone joining now, on the rogue's replica
        late.cookies = f"{COOKIE}={keys[next(r for r, s in tabs if s is rogue)]}"
        late.query_string = f"room={code}"
        assert shows_step(code, 2)(await late.connect())
        await late.close()
        assert "step=2" in presenter.query_string

        for _, s in tabs:
            await s.close()
        await presenter.close()

    asyncio.run(the_class())
