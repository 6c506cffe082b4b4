"""A lead's timeline: stage changes, messages, replies, scores and tasks, newest first.

One query over the tables that hold each kind (nothing is copied into a timeline table, so it
can never disagree with them), paginated by a keyset cursor on (time, kind, id): a page is the
same whatever was added since the first page was read.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

import orjson
import psycopg
from psycopg.rows import dict_row

_TIMELINE_SQL = """
select * from (
    select s.occurred_at as at, 'stage' as kind, s.event_id as id, jsonb_build_object(
        'stage', s.stage, 'from_stage', s.from_stage, 'actor', s.actor, 'reason', s.reason
    ) as data
    from app.stage_events as s where s.lead_id = %(lead)s
    union all
    select m.created_at, 'message', m.message_id, jsonb_build_object(
        'channel', m.channel, 'status', m.status, 'reason', m.status_reason, 'rule', m.rule_id,
        'purpose', m.purpose, 'subject', m.subject, 'body', m.body, 'send_after', m.send_after,
        'sent_at', m.sent_at, 'attempts', m.attempts, 'decisions', m.decisions
    )
    from app.messages as m where m.lead_id = %(lead)s
    union all
    select i.received_at, 'reply', i.inbound_id, jsonb_build_object(
        'channel', 'sms', 'body', i.body, 'opt_out_keyword', i.keyword
    )
    from app.inbound_messages as i where %(lead)s = any(i.lead_ids)
    union all
    select h.scored_at, 'score', extract(epoch from h.scored_at)::bigint, jsonb_build_object(
        'score', h.score, 'model', h.model_name, 'model_version', h.model_version,
        'reasons', h.reason_codes
    )
    from ml.lead_score_history as h where h.lead_id = %(lead)s
    union all
    select t.created_at, 'task', t.task_id, jsonb_build_object(
        'task_kind', t.kind, 'assignee', t.assignee, 'state', t.state, 'created_by', t.created_by
    )
    from app.tasks as t where t.lead_id = %(lead)s
) as entries
where %(after)s::timestamptz is null or (at, kind, id) < (%(after)s, %(kind)s, %(id)s)
order by at desc, kind desc, id desc
limit %(limit)s
"""


def encode_cursor(at: datetime, kind: str, entry_id: int) -> str:
    raw = orjson.dumps([at.isoformat(), kind, entry_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str, int]:
    """Raises ValueError for a cursor this module did not write."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, kind, entry_id = orjson.loads(raw)
        return datetime.fromisoformat(at), str(kind), int(entry_id)
    except Exception as exc:
        raise ValueError("not a cursor from a previous page") from exc


async def timeline(
    conn: psycopg.AsyncConnection, lead_id: int, *, limit: int, cursor: str | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    after: tuple[datetime | None, str | None, int | None] = (None, None, None)
    if cursor:
        after = decode_cursor(cursor)
    params = {
        "lead": lead_id,
        "after": after[0],
        "kind": after[1],
        "id": after[2],
        "limit": limit + 1,
    }
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_TIMELINE_SQL, params)
        rows = await cur.fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    entries = [
        {"at": row["at"], "kind": row["kind"], "id": row["id"], **row["data"]} for row in rows
    ]
    next_cursor = encode_cursor(rows[-1]["at"], rows[-1]["kind"], rows[-1]["id"]) if more else None
    return entries, next_cursor
