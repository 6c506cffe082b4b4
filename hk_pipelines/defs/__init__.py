"""One sub-package per domain (``intake/``, ``enrichment/``, ``warehouse/``, ``ml/`` …), each
holding assets.py, resources.py, checks.py, schedules.py and sensors.py as it needs, and a
module-level ``defs = dg.Definitions(...)`` that ``definitions.py`` picks up."""
