"""Bulk lead import: validation (in worker processes for big files) and COPY into app.leads."""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import BinaryIO

import psycopg

from hk_core.contract import LeadIn
from hk_core.intake import common
from hk_core.intake.common import ImportResult, Progress
from hk_core.intake.rejects import RejectedRow
from hk_core.pii import PiiHasher
from hk_core.readers import Format, RawRecord, read_records
from hk_core.records import LEAD_INSERT_COLUMNS, LeadRecordBuilder, RowError, validate

CHUNK_ROWS = 2_000


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
    rejects: list[RejectedRow]


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
    rejects: list[RejectedRow] = []
    for record in records:
        if record.error is not None:
            error = RowError(record.row, *record.error, line=record.line)
            rejects.append(RejectedRow.of(record, [error]))
            continue
        lead, row_errors = validate(
            LeadIn, record.fields, record.row, record.line, csv_cells=record.csv_cells
        )
        if row_errors:
            rejects.append(RejectedRow.of(record, row_errors))
            continue
        lines.append(copy_text(builder.row(lead, lead.warnings(record.fields), now)))  # type: ignore[union-attr,arg-type]
    return _LeadChunkResult("".join(lines).encode("utf-8", "surrogateescape"), len(records),
                            len(lines), rejects)  # fmt: skip


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
        for rejected in chunk.rejects:
            result.reject_row(rejected)
        if chunk.accepted:
            copy_buffer.append(chunk.copy_data)
            pending_rows += chunk.accepted
        if pending_rows >= common.BATCH_ROWS:
            flush()
        if progress is not None:
            progress(result.rows)
    if pending_rows:
        flush()
    result.duplicates = result.accepted - result.stored
    return result
