"""Bulk intake: CSV/NDJSON records validated by the contract and COPYed into Postgres.

The CLI (``hk leads import``) and the API (``POST /v1/leads/bulk``) both call ``import_leads``.
Rows are written in batches, each batch its own transaction: a bad row is reported and skipped,
good rows are stored even when a neighbour is bad, and a re-import stores nothing twice.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, BinaryIO

import psycopg

from hk_core.contract import LeadIn, PropertyRecordIn, StageEventIn
from hk_core.pii import PiiHasher
from hk_core.readers import Format, RawRecord, read_records
from hk_core.records import LEAD_INSERT_COLUMNS, LeadRecordBuilder, RowError, validate

BATCH_ROWS = 20_000
CHUNK_ROWS = 2_000
MAX_ERRORS_KEPT = 100_000

Progress = Callable[[int], None]


@dataclass
class ImportResult:
    rows: int = 0
    accepted: int = 0
    rejected: int = 0
    stored: int = 0
    duplicates: int = 0
    errors: list[RowError] = field(default_factory=list)
    errors_truncated: bool = False

    def reject(self, errors: Iterable[RowError]) -> None:
        self.rejected += 1
        for error in errors:
            if len(self.errors) < MAX_ERRORS_KEPT:
                self.errors.append(error)
            else:
                self.errors_truncated = True

    def as_dict(self, max_errors: int | None = None) -> dict[str, Any]:
        shown = self.errors if max_errors is None else self.errors[:max_errors]
        return {
            "rows": self.rows,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "errors": [e.as_dict() for e in shown],
            "errors_truncated": self.errors_truncated or len(shown) < len(self.errors),
        }


def _batches(records: Iterable[RawRecord], model, result: ImportResult, build, progress):
    """Validate records and yield lists of (row, line, db row) of at most BATCH_ROWS."""
    batch: list[tuple[int, int, tuple]] = []
    for record in records:
        result.rows += 1
        if record.error is not None:
            result.reject([RowError(record.row, *record.error, line=record.line)])
        else:
            instance, errors = validate(model, record.fields, record.row, record.line)
            if errors:
                result.reject(errors)
            else:
                result.accepted += 1
                batch.append((record.row, record.line, build(instance, record.fields)))
        if len(batch) >= BATCH_ROWS:
            yield batch
            batch = []
        if progress is not None and result.rows % 1000 == 0:
            progress(result.rows)
    if batch:
        yield batch
    if progress is not None:
        progress(result.rows)


def copy_text(values: tuple) -> str:
    """One row in COPY's text format (tab-separated, ``\\N`` for null, backslash escapes)."""
    out = []
    for value in values:
        if value is None:
            out.append("\\N")
        elif value is True:
            out.append("t")
        elif value is False:
            out.append("f")
        elif isinstance(value, str):
            if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
                value = (
                    value.replace("\\", "\\\\").replace("\t", "\\t")
                    .replace("\n", "\\n").replace("\r", "\\r")
                )  # fmt: skip
            out.append(value)
        elif isinstance(value, datetime):
            out.append(value.isoformat())
        else:
            out.append(str(value))
    return "\t".join(out) + "\n"


@dataclass
class _LeadChunkResult:
    copy_data: bytes
    rows: int
    accepted: int
    errors: list[list[RowError]]


_worker_builder: LeadRecordBuilder | None = None
_worker_now: datetime | None = None


def _init_lead_worker(builder: LeadRecordBuilder, now: datetime) -> None:
    global _worker_builder, _worker_now
    _worker_builder, _worker_now = builder, now


def _validate_lead_chunk(records: list[RawRecord]) -> _LeadChunkResult:
    """Validate and encode a chunk of lead records; runs in a worker process or inline."""
    builder, now = _worker_builder, _worker_now
    assert builder is not None
    lines: list[str] = []
    errors: list[list[RowError]] = []
    for record in records:
        if record.error is not None:
            errors.append([RowError(record.row, *record.error, line=record.line)])
            continue
        lead, row_errors = validate(LeadIn, record.fields, record.row, record.line)
        if row_errors:
            errors.append(row_errors)
            continue
        lines.append(copy_text(builder.row(lead, lead.warnings(record.fields), now)))  # type: ignore[union-attr,arg-type]
    return _LeadChunkResult("".join(lines).encode("utf-8", "surrogateescape"), len(records),
                            len(lines), errors)  # fmt: skip


def _chunks(records: Iterable[RawRecord], size: int) -> Iterator[list[RawRecord]]:
    chunk: list[RawRecord] = []
    for record in records:
        chunk.append(record)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _lead_chunk_results(chunks: Iterator[list[RawRecord]], workers: int, builder, now):
    """Results in input order; with workers > 1 a process pool validates ahead of the COPY."""
    if workers <= 1:
        _init_lead_worker(builder, now)
        yield from map(_validate_lead_chunk, chunks)
        return
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_lead_worker,
                             initargs=(builder, now)) as pool:  # fmt: skip
        pending: deque = deque()
        for chunk in chunks:
            pending.append(pool.submit(_validate_lead_chunk, chunk))
            if len(pending) >= workers * 3:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def import_leads(
    conn: psycopg.Connection,
    stream: BinaryIO,
    fmt: Format,
    hasher: PiiHasher,
    *,
    channel: str = "bulk",
    api_key_id: int | None = None,
    progress: Progress | None = None,
    workers: int = 1,
) -> ImportResult:
    """Import leads; ``workers`` > 1 validates in that many processes (the CLI uses the cores)."""
    result = ImportResult()
    builder = LeadRecordBuilder(hasher, channel=channel, api_key_id=api_key_id)
    columns = ", ".join(LEAD_INSERT_COLUMNS)
    conn.execute(
        f"create temp table if not exists incoming_leads as "
        f"select {columns} from app.leads with no data"
    )
    chunks = _chunks(read_records(stream, fmt), CHUNK_ROWS)
    results = _lead_chunk_results(chunks, workers, builder, datetime.now(UTC))
    pending_rows = 0
    copy_buffer: list[bytes] = []

    def flush() -> None:
        nonlocal pending_rows
        with conn.transaction():
            conn.execute("truncate incoming_leads")
            with conn.cursor().copy(f"copy incoming_leads ({columns}) from stdin") as copy:
                for data in copy_buffer:
                    copy.write(data)
            cur = conn.execute(
                f"insert into app.leads ({columns}) select {columns} from incoming_leads "
                "on conflict (dedup_key) do nothing"
            )
            result.stored += cur.rowcount
        copy_buffer.clear()
        pending_rows = 0

    for chunk in results:
        result.rows += chunk.rows
        result.accepted += chunk.accepted
        for errors in chunk.errors:
            result.reject(errors)
        if chunk.accepted:
            copy_buffer.append(chunk.copy_data)
            pending_rows += chunk.accepted
        if pending_rows >= BATCH_ROWS:
            flush()
        if progress is not None:
            progress(result.rows)
    if pending_rows:
        flush()
    result.duplicates = result.accepted - result.stored
    return result


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
    for batch in _batches(read_records(stream, fmt), StageEventIn, result, build, progress):
        with conn.transaction():
            conn.execute("truncate incoming_events")
            with conn.cursor().copy(
                f"copy incoming_events ({', '.join(_EVENT_COLUMNS)}) from stdin"
            ) as copy:
                for row, line, values in batch:
                    copy.write_row((row, line, *values))
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
            for row, line, n_matches in resolved[1]:
                reason = (
                    f"external_id matches {n_matches} leads; give source as well"
                    if n_matches > 1
                    else "no such lead"
                )
                result.accepted -= 1
                result.reject([RowError(row, "lead_id", reason, line)])
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
    for batch in _batches(read_records(stream, fmt), PropertyRecordIn, result, build, progress):
        with conn.transaction():
            conn.execute("truncate incoming_properties")
            with conn.cursor().copy(
                f"copy incoming_properties (_row, {columns}) from stdin"
            ) as copy:
                for row, _, values in batch:
                    copy.write_row((row, *values))
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
