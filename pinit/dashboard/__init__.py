"""The dashboard's Streamlit views, one module per part of the page (page.py composes them; app.py only starts it).

Only these modules and app.py import streamlit; every number comes from pinit.
"""
