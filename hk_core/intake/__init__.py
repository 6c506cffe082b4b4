"""Bulk intake: CSV/NDJSON records validated by the contract and COPYed into Postgres.

The CLI (``hk leads import`` …) and the API (``POST /v1/leads/bulk``) both call these functions.
Rows are written in batches, each batch its own transaction: a bad row is reported and skipped,
good rows are stored even when a neighbour is bad, and a re-import stores nothing twice.
"""

from hk_core.intake.common import ImportResult
from hk_core.intake.leads import copy_text, import_leads
from hk_core.intake.reference import import_property_records, import_stage_events

__all__ = [
    "ImportResult",
    "copy_text",
    "import_leads",
    "import_property_records",
    "import_stage_events",
]
