"""The dashboard's Streamlit views, one module per part of the page (app.py composes them).

Only these modules and app.py import streamlit; every number comes from pinit.
"""
