"""The Dagster code location of the Hidden Key platform (see ``definitions.py``)."""
