"""The floor of Streamlit itself, for bench/bench_latency.py: one selectbox whose value is written below it.

Nothing else on the page, so a pick costs one rerun of a two-line script and one
changed text element: whatever a pick takes here (websocket round trip, the rerun,
React re-rendering the page) every Streamlit page pays too. The written value sits
in a container keyed "written" (CSS class ``st-key-written``), which is what the
benchmark watches.

    python -m streamlit run bench/bare_app.py
"""

import streamlit as st

OPTIONS = ["alpha", "beta", "gamma", "delta"]

choice = st.selectbox("Option", OPTIONS, key="option")
with st.container(key="written"):
    st.write(choice)
