"""The server as `pinit dashboard` starts it: the lesson's worker runs before anyone visits.

The lesson's numbers take the worker several seconds; started at the first visit, the teacher
who opens the page waits for them. pinit.serve starts pinit's page through
pinit.dashboard.launch, which starts the worker first. And the page script runs main() only
as `__main__`: the worker is a spawn child, which imports the parent's main module again (as
`__mp_main__`), and an unguarded page would run there without Streamlit and log "missing
ScriptRunContext" for every element.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from pinit import serve
from tests.ws_client import StreamlitSession

REPO = Path(__file__).resolve().parents[1]


def spawn_children(pid: int) -> list[str]:
    """Command lines of `pid`'s children that multiprocessing spawned (not its resource tracker)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except FileNotFoundError:
                continue
            if "spawn_main" in cmdline:
                found.append(cmdline)
    return found


def test_streamlit_command_launches_pinit_pages_only():
    assert serve.streamlit_command()[2] == "pinit.dashboard.launch"
    assert serve.streamlit_command(script=REPO / "app.py")[2] == "pinit.dashboard.launch"
    assert serve.streamlit_command(script=REPO / "bench" / "bare_app.py")[2] == "streamlit"


def visit(url: str) -> None:
    async def first_run():
        session = StreamlitSession(url)
        try:
            return await session.connect()
        finally:
            await session.close()

    first = asyncio.run(first_run())
    assert first.ok, (first.status, first.exceptions, first.error_alerts)


def test_worker_starts_with_the_server_and_the_page_is_not_run_again(tmp_path):
    log_path = tmp_path / "server.log"
    with log_path.open("w") as log, serve.running(log=log, cwd=REPO) as (url, proc):
        deadline = time.monotonic() + 20
        while not spawn_children(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert spawn_children(proc.pid), "no worker process under the server before the first visit"
        visit(url)
        assert len(spawn_children(proc.pid)) == 1, "the page started a second worker"
    text = log_path.read_text()
    assert "missing ScriptRunContext" not in text, text[-2000:]


def test_plain_streamlit_run_starts_the_worker_at_the_visit_without_running_the_page_in_it(tmp_path):
    """`streamlit run app.py` (Community Cloud): the page starts the worker; its spawn must not run the page."""
    log_path = tmp_path / "server.log"
    with (
        log_path.open("w") as log,
        serve.running(script=REPO / "app.py", log=log, cwd=REPO, lesson_worker=False) as (url, proc),
    ):
        assert not spawn_children(proc.pid)
        visit(url)
        assert len(spawn_children(proc.pid)) == 1
        time.sleep(5)  # the child has imported the page's module by now
    text = log_path.read_text()
    assert "missing ScriptRunContext" not in text, text[-2000:]
