"""The shared domain of the Hidden Key platform: settings, lead contract, Postgres access, PII.

Imports no Dagster and no FastAPI.
"""
