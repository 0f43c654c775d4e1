"""Deployment helpers: run several replicas of the dashboard behind nginx (see replicas.py)."""
