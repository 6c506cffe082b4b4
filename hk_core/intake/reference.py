"""Bulk import of stage events and county property records."""

from __future__ import annotations

from typing import BinaryIO

import psycopg

from hk_core.contract import PropertyRecordIn, StageEventIn
from hk_core.intake.common import ImportResult, Progress, batches, copy_into_staging
from hk_core.readers import Format, read_records
from hk_core.records import RowError

_EVENT_COLUMNS = ("_row", "_line", "lead_id", "source", "external_id", "stage", "occurred_at")


def import_stage_events(
    conn: psycopg.Connection, stream: BinaryIO, fmt: Format, *, progress: Progress | None = None
) -> ImportResult:
    """Stage events name their lead by lead_id or (source, external_id); unknown leads are
    rejected by row, and an event already recorded is not recorded twice."""
    result = ImportResult()

    def build(event: StageEventIn, raw: dict) -> tuple:
        return (event.lead_id, event.source, event.external_id, event.stage, event.occurred_at)

    conn.execute(
        "create temp table if not exists incoming_events (_row bigint, _line bigint, "
        "lead_id bigint, source text, external_id text, stage text, occurred_at timestamptz)"
    )
    for batch in batches(read_records(stream, fmt), StageEventIn, result, build, progress):
        with conn.transaction():
            copy_into_staging(
                conn, "incoming_events", _EVENT_COLUMNS,
                ((record.row, record.line, *values) for record, values in batch),
            )  # fmt: skip
            resolved = conn.execute(
                """
                with matched as (
                    select i._row, i._line, i.stage, i.occurred_at, i.lead_id as given_id,
                           coalesce(by_id.lead_id, by_ext.lead_id) as lead_id,
                           coalesce(by_ext.n, 0) as n_matches
                    from incoming_events as i
                    left join app.leads as by_id on by_id.lead_id = i.lead_id
                    left join lateral (
                        select min(l.lead_id) as lead_id, count(*) as n
                        from app.leads as l
                        where i.lead_id is null
                          and l.external_id = i.external_id
                          and (i.source is null or l.source = i.source)
                    ) as by_ext on true
                ),
                inserted as (
                    insert into app.stage_events (lead_id, stage, occurred_at)
                    select lead_id, stage, occurred_at from matched
                    where lead_id is not null and (given_id is not null or n_matches = 1)
                    on conflict (lead_id, stage, occurred_at) do nothing
                    returning 1
                )
                select (select count(*) from inserted),
                       coalesce(array_agg(array[_row, _line, n_matches] order by _row)
                                filter (where lead_id is null
                                        or (given_id is null and n_matches <> 1)), '{}')
                from matched
                """
            ).fetchone()
            assert resolved is not None
            result.stored += resolved[0]
            by_row = {record.row: record for record, _ in batch}
            for row, line, n_matches in resolved[1]:
                reason = (
                    f"external_id matches {n_matches} leads; give source as well"
                    if n_matches > 1
                    else "no such lead"
                )
                result.accepted -= 1
                result.reject([RowError(row, "lead_id", reason, line)], by_row.get(row))
    result.duplicates = result.accepted - result.stored
    return result


_PROPERTY_COLUMNS = tuple(PropertyRecordIn.model_fields)


def import_property_records(
    conn: psycopg.Connection, stream: BinaryIO, fmt: Format, *, progress: Progress | None = None
) -> ImportResult:
    """County records are upserted by APN: a re-import of a newer roll updates them in place."""
    result = ImportResult()
    columns = ", ".join(_PROPERTY_COLUMNS)

    def build(record: PropertyRecordIn, raw: dict) -> tuple:
        return tuple(getattr(record, name) for name in _PROPERTY_COLUMNS)

    conn.execute(
        f"create temp table if not exists incoming_properties as "
        f"select 0::bigint as _row, {columns} from app.property_records with no data"
    )
    updates = ", ".join(f"{c} = excluded.{c}" for c in _PROPERTY_COLUMNS if c != "apn")
    changed = " or ".join(
        f"app.property_records.{c} is distinct from excluded.{c}" for c in _PROPERTY_COLUMNS
    )
    for batch in batches(read_records(stream, fmt), PropertyRecordIn, result, build, progress):
        with conn.transaction():
            copy_into_staging(
                conn, "incoming_properties", ("_row", *_PROPERTY_COLUMNS),
                ((record.row, *values) for record, values in batch),
            )  # fmt: skip
            # The last row for an APN in a file wins; unchanged records are not rewritten.
            cur = conn.execute(
                f"""
                insert into app.property_records ({columns})
                select distinct on (apn) {columns} from incoming_properties order by apn, _row desc
                on conflict (apn) do update set {updates}, imported_at = now() where {changed}
                """
            )
            result.stored += cur.rowcount
    result.duplicates = result.accepted - result.stored
    return result
