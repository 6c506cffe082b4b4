"""What every bulk import shares: the result it reports and validation into batches."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

from hk_core.intake.rejects import RejectedRow
from hk_core.readers import RawRecord
from hk_core.records import RowError, validate

BATCH_ROWS = 20_000
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
    rejects: list[RejectedRow] = field(default_factory=list)  # the refused rows as sent

    def reject(self, errors: Sequence[RowError], record: RawRecord | None = None) -> None:
        self.reject_row(RejectedRow.of(record, errors))

    def reject_row(self, rejected: RejectedRow) -> None:
        self.rejected += 1
        if len(self.rejects) < MAX_ERRORS_KEPT:
            self.rejects.append(rejected)
        for error in rejected.errors:
            if len(self.errors) < MAX_ERRORS_KEPT:
                self.errors.append(error)
            else:
                self.errors_truncated = True

    def as_dict(self, max_errors: int | None = None) -> dict[str, Any]:
        shown = self.errors if max_errors is None else self.errors[:max_errors]
        rejects = self.rejects if max_errors is None else self.rejects[:max_errors]
        return {
            "rows": self.rows,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "errors": [e.as_dict() for e in shown],
            "errors_truncated": self.errors_truncated or len(shown) < len(self.errors),
            "rejects": [r.as_dict() for r in rejects],
        }


def batches(records: Iterable[RawRecord], model, result: ImportResult, build, progress):
    """Validate records and yield lists of (record, db row) of at most BATCH_ROWS (the record
    for a rejects file, should the database refuse the row)."""
    batch: list[tuple[RawRecord, tuple]] = []
    for record in records:
        result.rows += 1
        if record.error is not None:
            result.reject([RowError(record.row, *record.error, line=record.line)], record)
        else:
            instance, errors = validate(
                model, record.fields, record.row, record.line, csv_cells=record.csv_cells
            )
            if errors:
                result.reject(errors, record)
            else:
                result.accepted += 1
                batch.append((record, build(instance, record.fields)))
        if len(batch) >= BATCH_ROWS:
            yield batch
            batch = []
        if progress is not None and result.rows % 1000 == 0:
            progress(result.rows)
    if batch:
        yield batch
    if progress is not None:
        progress(result.rows)


def copy_into_staging(
    conn: psycopg.Connection, table: str, columns: Sequence[str], rows: Iterable[tuple]
) -> None:
    """Empty a session's staging table and COPY ``rows`` into it (inside the caller's
    transaction); the caller then merges the staging table into the real one."""
    conn.execute(f"truncate {table}")
    with conn.cursor().copy(f"copy {table} ({', '.join(columns)}) from stdin") as copy:
        for row in rows:
            copy.write_row(row)
