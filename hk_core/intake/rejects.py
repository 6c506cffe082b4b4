"""Refused rows as they were sent, with their reasons: a file a person fixes and imports again.

A CSV rejects file has the input's own header and each refused row's values as sent, followed
by ``reject_row``, ``reject_line`` and ``reject_reasons`` ("field: reason; field: reason"). The
import ignores columns it does not know, so the fixed file is imported as it is. The NDJSON
form is each refused object with the same three keys added (``reject_reasons`` a list); a line
that was no JSON object comes back as its text under ``reject_original_line``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from hk_core.readers import RawRecord
from hk_core.records import RowError

REJECT_COLUMNS = ("reject_row", "reject_line", "reject_reasons")


@dataclass(slots=True)
class RejectedRow:
    """One refused input row: where it was, what was sent, and every reason."""

    row: int
    line: int | None
    errors: list[RowError] = field(default_factory=list)
    sent: list[str] | dict[str, Any] | str | None = None
    header: list[str] | None = None

    @classmethod
    def of(cls, record: RawRecord | None, errors: Sequence[RowError]) -> RejectedRow:
        first = errors[0]
        if record is None:
            return cls(first.row, first.line, list(errors))
        return cls(record.row, record.line, list(errors), record.sent_values(), record.header)

    def reasons(self) -> str:
        return "; ".join(f"{e.field}: {e.reason}" for e in self.errors)

    def record(self) -> dict[str, Any] | None:
        """The row as sent, by the sender's own column names (None for an unreadable line)."""
        if isinstance(self.sent, dict):
            return self.sent
        if isinstance(self.sent, list) and self.header is not None:
            named = dict(zip(self.header, self.sent, strict=False))
            named.update({f"extra_{i}": v for i, v in enumerate(self.sent[len(self.header) :], 1)})
            return named
        return None

    def as_dict(self) -> dict[str, Any]:
        original = self.sent if isinstance(self.sent, str) else None
        return {
            "row": self.row,
            "line": self.line,
            "record": self.record(),
            "original_line": original,
            "reasons": [{"field": e.field, "reason": e.reason} for e in self.errors],
        }


def write_rejects_csv(path: Path, rejects: Iterable[RejectedRow]) -> None:
    rejects = list(rejects)
    header = next((r.header for r in rejects if r.header is not None), [])
    width = max([len(header), *(len(r.sent) for r in rejects if isinstance(r.sent, list))])
    columns = [*header, *(f"extra_{i}" for i in range(1, width - len(header) + 1))]
    with path.open("w", newline="", encoding="utf-8", errors="surrogateescape") as out:
        writer = csv.writer(out)
        writer.writerow([*columns, *REJECT_COLUMNS])
        for reject in rejects:
            values = reject.sent if isinstance(reject.sent, list) else []
            padded = [*values, *([""] * (width - len(values)))]
            writer.writerow([*padded, reject.row, reject.line, reject.reasons()])


def write_rejects_ndjson(path: Path, rejects: Iterable[RejectedRow]) -> None:
    with path.open("wb") as out:
        for reject in rejects:
            marks = {"reject_row": reject.row, "reject_line": reject.line,
                     "reject_reasons": [f"{e.field}: {e.reason}" for e in reject.errors]}  # fmt: skip
            if isinstance(reject.sent, dict):
                body = {**reject.sent, **marks}
            else:
                body = {**marks, "reject_original_line": reject.sent}
            out.write(orjson.dumps(body) + b"\n")
