"""The script `pinit dashboard` hands to `streamlit run` (app.py at the repo's top is its twin)."""

from pinit.dashboard.page import main

main()
