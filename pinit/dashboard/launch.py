"""The server process of `pinit dashboard`: the lesson's worker first, then `streamlit run`.

`streamlit run` executes nothing of the page until the first visitor connects, and the
lesson's numbers take the worker (pinit.lab.lesson.start_warming) several seconds over five
seeds. Started here, in the server's own process before Streamlit's command line takes over,
the worker computes them while the teacher is still opening the page: the page's own call to
start_warming() finds it running and waits for its results instead of starting it then.
Beside it, pinit.dashboard.warm_views opens the views whose first open is the same for every
student once the server answers, so a student's first open of those tabs reads caches.

`python -m pinit.dashboard.launch run SCRIPT [streamlit flags]` takes the arguments of
`python -m streamlit`; pinit.serve builds that command for pinit's page.
"""

from __future__ import annotations


def main() -> None:
    """Start the lesson's worker and the views' warm-up, then hand the command line to Streamlit's."""
    from pinit.dashboard import warm_views
    from pinit.lab import lesson

    lesson.start_warming()
    warm_views.start()
    from streamlit.web.cli import main as streamlit_main

    streamlit_main(prog_name="streamlit")


if __name__ == "__main__":  # not in the worker: spawn re-imports this module as __mp_main__
    main()
