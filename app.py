"""pinit's dashboard: `streamlit run app.py` (and Streamlit Community Cloud) run this file.

A thin entry: the page lives in the package (pinit/dashboard/page.py), so that
`pip install .` followed by `pinit dashboard` serves the same page without the repo.
`streamlit run app.py -- --model mynets:make_net` adds your own model (repeatable; the
first one is opened), as `pinit dashboard --model mynets:make_net` does.
"""

import sys

if __name__ == "__main__":  # streamlit runs the page as __main__; a spawn child imports it as __mp_main__
    # Imported here, not above: the lesson worker's spawn imports this file, and the page's modules
    # declare Streamlit elements at import, which outside a script run logs "missing ScriptRunContext".
    from pinit.dashboard.page import main
    from pinit.dashboard.sidebar import use_command_line

    use_command_line(sys.argv, script=__file__)
    main()
