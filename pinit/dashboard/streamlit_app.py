"""The script `pinit dashboard` hands to `streamlit run` (app.py at the repo's top is its twin)."""

from pinit.dashboard.page import main

if __name__ == "__main__":  # streamlit runs the page as __main__; a spawn child imports it as __mp_main__
    main()
