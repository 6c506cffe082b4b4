"""Storing one validated lead: what POST /v1/leads and the lead webhooks share.

Same row (hk_core/records.py), same warnings, same dedup key, same single statement: the
automations see a new lead through the trigger on app.leads (migration 0007), so any lead
stored here gets exactly what an API lead gets, whichever door it came through.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from hk_core.contract import LeadCreated, LeadIn
from hk_core.records import LEAD_INSERT_COLUMNS, LeadRecordBuilder

INSERT_LEAD = (
    f"insert into app.leads ({', '.join(LEAD_INSERT_COLUMNS)}) "
    f"values ({', '.join(['%s'] * len(LEAD_INSERT_COLUMNS))}) "
    "on conflict (dedup_key) do nothing returning lead_id"
)


@dataclass(frozen=True, slots=True)
class PreparedLead:
    """A lead ready to insert: its app.leads row and the warnings it carries."""

    row: tuple
    warnings: list[str]


@dataclass(frozen=True, slots=True)
class StoredLead:
    status: int  # 201 stored now, 200 the same lead was already stored
    lead_id: int

    @property
    def created(self) -> bool:
        return self.status == 201


def prepare_lead(
    builder: LeadRecordBuilder, lead: LeadIn, raw: Callable[[], dict[str, Any]]
) -> PreparedLead:
    """``raw`` gives the fields as sent; it is only called for a lead that may have warnings
    (the common lead skips reading its input twice)."""
    warnings = lead.warnings(raw()) if lead.may_have_warnings() else []
    return PreparedLead(builder.row(lead, warnings), warnings)


async def store_lead(conn: psycopg.AsyncConnection, lead: PreparedLead) -> StoredLead:
    """Insert the lead unless its dedup key is taken. In autocommit this is one round trip
    for a new lead; inside the caller's transaction it commits with the caller's writes."""
    cur = await conn.execute(INSERT_LEAD, lead.row)
    inserted = await cur.fetchone()
    if inserted is not None:
        return StoredLead(201, inserted[0])
    cur = await conn.execute("select lead_id from app.leads where dedup_key = %s", (lead.row[0],))
    existing = await cur.fetchone()
    assert existing is not None
    return StoredLead(200, existing[0])


def created_body(stored: StoredLead, warnings: list[str]) -> bytes:
    """The LeadCreated answer for a stored lead."""
    body = LeadCreated(lead_id=stored.lead_id, created=stored.created, warnings=warnings)
    return body.model_dump_json().encode()
