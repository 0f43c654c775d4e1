"""Follow the teacher: the presenter opens a class, the students' phones follow its lesson step.

The room store (pinit.share.rooms) is one object per server process, shared by every session:
it holds only a step, a version and follower ids, never a session's own state. The presenter's
session keeps the room's secret in its st.session_state (no other session ever sees it), so only
the presenter's clicks move the room. A follower's page polls the store in a small fragment
(`st.fragment(run_every=...)`: one read of the store, nothing drawn) and reruns the page only
when the room's version changed, so thirty idle phones cost the server a few cheap runs a
second. That rerun is the whole page (Streamlit lets a fragment body rerun only itself or the
app); what keeps thirty of them at once cheap is that the step's numbers and its chart are
computed once per server and shared (pinit.lab.lesson, pinit.dashboard.shared_figure).
Following stops at "Your turn" (the hand-over: every phone explores on its own from there), when
the student chooses "Explore on my own", or when the room is gone.

Where the rooms live: in this process (pinit.share.rooms.RoomStore), or, when the environment
names a folder in PINIT_ROOM_STORE, in a SQLite file there that every replica of the server opens
(pinit.share.room_db.SQLiteRoomStore; deploy/replicas.py sets it), so a phone on any replica
follows a presenter on another (docs/CLASSROOM.md).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
import sys
from typing import Any

import streamlit as st

from pinit.share.room_db import ROOM_STORE_ENV, SQLiteRoomStore
from pinit.share.rooms import RoomError, RoomStore, normalise_code

HOST = "room.host"  # the presenter's session: {"code", "secret"}
FOLLOW = "room.follow"  # a follower's session: {"code", "id", "version"}
NOTE = "room.note"  # a one-time message about the class (it ended, it handed over)
POLL_SECONDS = 0.5  # a follower sees a move within this, plus one page run
COUNT_SECONDS = 2.0  # how often the presenter's "N following" refreshes
HAND_OVER_STEP = 6  # "Your turn": the followers are let go
YOUR_TURN = "**Your turn**: the teacher handed over. From here the page is yours: open Weights with a recipe below."


def _open_store() -> RoomStore | SQLiteRoomStore:
    """The rooms' file in the folder $PINIT_ROOM_STORE names (shared by replicas), else this process's memory.

    A folder that cannot hold the file is said in the server's log, and the classes then stay in
    this process (they work for the phones on this replica only)."""
    folder = os.environ.get(ROOM_STORE_ENV, "").strip()
    if folder:
        try:
            if not os.path.isdir(folder):
                raise RoomError(f"the folder {folder!r} does not exist")
            return SQLiteRoomStore(folder, max_step=HAND_OVER_STEP)
        except (RoomError, OSError, sqlite3.Error) as e:
            print(f"pinit: {ROOM_STORE_ENV}={folder!r}: {e}; classes stay in this server process", file=sys.stderr)
    return RoomStore(max_step=HAND_OVER_STEP)


_STORE = _open_store()


def store() -> RoomStore | SQLiteRoomStore:
    """The server's rooms (one object for every session: it holds no session's state)."""
    return _STORE


# --- the follower ------------------------------------------------------------------------------


def join_from_link() -> list[str]:
    """On a tab's first run: follow the class named by `?room=CODE`. Returns warnings in words."""
    raw = st.query_params.get("room")
    if raw is None:
        return []
    code = normalise_code(raw)
    if code is None:
        return [
            f"ignored room={raw[:12]!r} from the link: a class code is 4 letters and digits, such as K7Q2 "
            "(shown under the teacher's QR code)"
        ]
    follower = secrets.token_hex(8)
    state = store().read(code, follower)
    if state is None:
        return [
            f"class {code} is not open on this server (it may have ended); the lesson opens at its start "
            "and you can go through it on your own"
        ]
    st.session_state["step"] = state.step
    st.session_state["view"] = "Lesson"
    if state.step >= HAND_OVER_STEP:  # the class is already at "Your turn": nothing left to follow
        store().leave(code, follower)
        st.session_state[NOTE] = YOUR_TURN
    else:
        st.session_state[FOLLOW] = {"code": code, "id": follower, "version": state.version}
    return []


def following() -> dict[str, Any] | None:
    """The class this tab follows, or None."""
    follow = st.session_state.get(FOLLOW)
    return follow if isinstance(follow, dict) else None


def _stop(note: str | None = None) -> None:
    follow = st.session_state.pop(FOLLOW, None)
    if isinstance(follow, dict):
        store().leave(follow["code"], follow["id"])
    if "room" in st.query_params:
        del st.query_params["room"]  # a reload opens the page on its own, not in the class again
    if note:
        st.session_state[NOTE] = note


@st.fragment(run_every=POLL_SECONDS)
def _poll() -> None:
    """Read the room; rerun the page only when the presenter moved it (or it is gone)."""
    follow = following()
    if follow is None:
        return
    state = store().read(follow["code"], follow["id"])
    if state is None:
        _stop(f"Class {follow['code']} has ended: the lesson is yours to go through.")
        st.rerun()
    if state.version == follow["version"]:
        return
    follow["version"] = state.version
    if state.step != st.session_state.get("step"):
        st.session_state["step"] = state.step
        if state.step >= HAND_OVER_STEP:  # let go before the page runs, so it draws the settings again
            _stop(YOUR_TURN)
        st.rerun()


def _leave() -> None:
    _stop("You left the class: Back, Next, the steps and the settings are yours.")
    st.rerun()  # the whole page: the settings come back


def follower_ui(step: int) -> None:
    """Above the follower's lesson: whom it follows, the poll, and the way out."""
    note = st.session_state.pop(NOTE, None)
    if note == YOUR_TURN:
        st.success(note, icon=":material/school:")
    elif note:
        st.info(note, icon=":material/school:")
    follow = following()
    if follow is None:
        return
    row = st.container(horizontal=True, vertical_alignment="center")
    row.markdown(f"Following the teacher · class **{follow['code']}** · step {step} of {HAND_OVER_STEP}")
    row.button(
        "Explore on my own",
        key="room.leave",
        on_click=_leave,
        help="Stop following the teacher's steps; the lesson stays where it is.",
    )
    _poll()


# --- the presenter -----------------------------------------------------------------------------


def hosting() -> dict[str, str] | None:
    host = st.session_state.get(HOST)
    return host if isinstance(host, dict) else None


def _open_class(step: int) -> None:
    try:
        code, secret = store().create(step)
    except RoomError as e:
        st.session_state[NOTE] = f"No class opened: {e}."
        return
    st.session_state[HOST] = {"code": code, "secret": secret}


def _close_class() -> None:
    host = st.session_state.pop(HOST, None)
    if host:
        with contextlib.suppress(RoomError, PermissionError):  # already expired: nothing to close
            store().close(host["code"], host["secret"])


def push(step: int) -> None:
    """Move the presenter's class to `step` (nothing when this session presents no class)."""
    host = hosting()
    if host is None:
        return
    try:
        store().advance(host["code"], host["secret"], step)
    except (RoomError, PermissionError):  # expired (hours without a move): the class is over
        st.session_state.pop(HOST, None)
        st.session_state[NOTE] = f"Class {host['code']} expired; open a new one for the students to follow."


@st.fragment(run_every=COUNT_SECONDS)
def _count() -> None:
    """How many phones follow, refreshed on a timer (in the QR popover)."""
    host = hosting()
    if host is None:
        return
    try:
        state = store().presenter_read(host["code"], host["secret"])
    except (RoomError, PermissionError):
        st.caption("class over")
        return
    st.markdown(f"Class **{host['code']}** · {state.followers} following")


def button_label() -> tuple[str, str]:
    """The presenter's QR button: (label, icon). With a class: its code and how many follow (as of
    this run; the popover counts live), so the projector's one row of buttons still fits 1024 px."""
    host = hosting()
    if host is None:
        return "QR", ":material/qr_code_2:"
    state = store().read(host["code"])
    return f"{host['code']} · {state.followers if state else 0}", ":material/groups:"


def presenter_ui(step: int) -> None:
    """In the presenter's QR popover: open a class, or how many follow and the way to end it."""
    note = st.session_state.pop(NOTE, None)
    if note:
        st.info(note)
    if hosting() is None:
        st.button(
            "Open a class",
            key="room.open",
            icon=":material/groups:",
            on_click=_open_class,
            args=(step,),
            help="Students who scan the QR code follow your steps on their phones, until 'Your turn'.",
        )
        return
    _count()
    st.button("End class", key="room.close", on_click=_close_class, help="The phones stop following.")


def room_code() -> str | None:
    """The code of the class this session presents (for the students' link), or None."""
    host = hosting()
    return host["code"] if host else None
