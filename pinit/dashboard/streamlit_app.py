"""The script `pinit dashboard` hands to `streamlit run` (app.py at the repo's top is its twin).

Its arguments after ``--`` (`--model PKG.MODULE:FACTORY`, repeatable) are the server
owner's own models: loaded once per server process, the first one opened by default.
Streamlit runs this file as ``__main__`` on every run of every session.
"""

import sys

if __name__ == "__main__":  # streamlit runs the page as __main__; a spawn child imports it as __mp_main__
    # Imported here, not above: the lesson worker's spawn imports this file, and the page's modules
    # declare Streamlit elements at import, which outside a script run logs "missing ScriptRunContext".
    from pinit.dashboard.page import main
    from pinit.dashboard.sidebar import use_command_line

    use_command_line(sys.argv, script=__file__)
    main()
