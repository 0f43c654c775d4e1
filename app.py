"""pinit's dashboard: `streamlit run app.py` (and Streamlit Community Cloud) run this file.

A thin entry: the page lives in the package (pinit/dashboard/page.py), so that
`pip install .` followed by `pinit dashboard` serves the same page without the repo.
"""

from pinit.dashboard.page import main

if __name__ == "__main__":  # streamlit runs the page as __main__; a spawn child imports it as __mp_main__
    main()
