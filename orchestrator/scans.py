"""Periodic scans: the events no insert causes (no contact for N days) and the watched thresholds."""

from __future__ import annotations

import psycopg

from orchestrator.funnel import OPEN_STAGES
from orchestrator.queue import DISPATCH, defer
from orchestrator.rules import RulesFile

# A lead's last contact: when it reached us, or the last text/email sent, reply received or
# stage move made by a person or an automation. A lead imported today with a year-old
# received_at has been "in contact" since today: the scan must not text a whole old list.
_NO_CONTACT_SQL = """
with candidates as (
    select l.lead_id, greatest(
        l.ingested_at,
        (select max(m.sent_at) from app.messages as m where m.lead_id = l.lead_id),
        (select max(i.received_at) from app.inbound_messages as i where l.lead_id = any(i.lead_ids)),
        (select max(s.occurred_at) from app.stage_events as s
            where s.lead_id = l.lead_id and s.actor is not null)
    ) as last_contact
    from app.leads as l
    where l.ingested_at < now() - make_interval(days => %(days)s)
),
quiet as (
    select c.lead_id, c.last_contact
    from candidates as c
    where c.last_contact < now() - make_interval(days => %(days)s)
        and coalesce((
            select s.stage from app.stage_events as s where s.lead_id = c.lead_id
            order by s.occurred_at desc, s.event_id desc limit 1
        ), 'new') = any(%(open)s)
        and not exists (
            select 1 from app.automation_events as e
            where e.lead_id = c.lead_id and e.kind = 'no_contact'
                and (e.payload ->> 'days')::int = %(days)s and e.occurred_at > c.last_contact
        )
)
insert into app.automation_events (lead_id, kind, payload)
select lead_id, 'no_contact', jsonb_build_object('days', %(days)s, 'since', last_contact)
from quiet
"""


async def no_contact_events(conn: psycopg.AsyncConnection, rules: RulesFile) -> int:
    """Write a no_contact event per (lead, N) once per quiet spell; returns how many."""
    written = 0
    async with conn.transaction():
        for days in rules.no_contact_days:
            cur = await conn.execute(_NO_CONTACT_SQL, {"days": days, "open": list(OPEN_STAGES)})
            written += cur.rowcount
        if written:
            await defer(conn, DISPATCH)
    return written


async def sync_thresholds(conn: psycopg.AsyncConnection, rules: RulesFile) -> None:
    """Make the thresholds the database watches those of the rules this worker runs."""
    async with conn.transaction():
        await conn.execute("delete from app.score_thresholds")
        for threshold in rules.thresholds:
            await conn.execute("insert into app.score_thresholds values (%s)", (threshold,))
