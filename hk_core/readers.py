"""Reading CSV and NDJSON records from a byte stream, one row at a time, with row numbers."""

from __future__ import annotations

import codecs
import csv
import io
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, Literal

import orjson

from hk_core.parsing import slug

Format = Literal["csv", "ndjson"]
_CSV_FIELD_LIMIT = 1_000_000


@dataclass(slots=True)
class RawRecord:
    row: int  # 1 = the first data row
    line: int  # physical line where the record starts (the CSV header is line 1)
    fields: dict[str, Any] | None
    error: tuple[str, str] | None = None  # (field, reason) when the row could not be read
    # What was sent, for the rejects file: an NDJSON line's object or a line's text; for CSV,
    # ``header`` is the header row as sent (one list shared by all rows) and the values are
    # ``fields``' in column order, so a row is not sent twice to a worker process. Only when two
    # headers fold to one name (or a row could not be split) are the values kept in ``sent``.
    sent: list[str] | dict[str, Any] | str | None = None
    header: list[str] | None = None

    def sent_values(self) -> list[str] | dict[str, Any] | str | None:
        if self.sent is None and self.header is not None and self.fields is not None:
            return list(self.fields.values())
        return self.sent

    @property
    def csv_cells(self) -> bool:
        """From a CSV file, where placeholders such as "N/A" in a text column mean empty."""
        return self.header is not None


def detect_format(name: str | None, content_type: str | None = None) -> Format | None:
    content_type = (content_type or "").split(";")[0].strip().lower()
    if content_type in ("text/csv", "application/csv"):
        return "csv"
    if content_type in (
        "application/x-ndjson",
        "application/ndjson",
        "application/jsonl",
        "application/x-jsonlines",
        "application/jsonlines",
    ):
        return "ndjson"
    if name:
        lower = name.lower()
        if lower.endswith((".csv", ".csv.txt")):
            return "csv"
        if lower.endswith((".ndjson", ".jsonl")):
            return "ndjson"
    return None


class CountingReader(io.RawIOBase):
    """Wraps a binary stream and counts the bytes read (for progress bars)."""

    def __init__(self, raw: BinaryIO):
        self._raw = raw
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        data = self._raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.bytes_read += n
        return n


def _text_lines(stream: BinaryIO) -> Iterator[str]:
    # utf-8-sig drops the byte-order mark spreadsheets write. Undecodable bytes become lone
    # surrogates, so a row in a legacy encoding can be re-read without failing its neighbours.
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")  # type: ignore[arg-type]
    try:
        yield from text
    finally:
        text.detach()


def header_name(column: str) -> str:
    """'First Name' -> 'first_name', so that hand-made spreadsheets meet the contract."""
    return slug(column)


def sniff_delimiter(header_line: str) -> str:
    """Comma unless the header is plainly split by semicolons (European spreadsheets), tabs or
    pipes (database exports)."""
    counts = {d: header_line.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > counts[","] else ","


def read_csv(stream: BinaryIO) -> Iterator[RawRecord]:
    csv.field_size_limit(_CSV_FIELD_LIMIT)
    lines = _counted(_text_lines(stream))
    first = next(lines, None)
    if first is None:
        return
    reader = csv.reader(itertools.chain([first], lines), delimiter=sniff_delimiter(first))
    try:
        header = next(reader)
    except StopIteration:
        return
    columns = [header_name(c) for c in header]
    row = 0
    sent_header = header
    keep_values = len(set(columns)) != len(columns)
    start_line = lines.count + 1
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            row += 1
            error = ("_record", f"unreadable CSV: {exc}")
            yield RawRecord(row, start_line, None, error, None, sent_header)
            start_line = lines.count + 1
            continue
        if not values or all(v == "" for v in values):
            start_line = lines.count + 1
            continue
        row += 1
        if not _is_utf8(values):
            values = [_legacy_text(v) for v in values]
        if len(values) > len(columns):
            error = ("_record", f"{len(values)} values for {len(columns)} columns")
            yield RawRecord(row, start_line, None, error, values, sent_header)
        else:
            fields = dict(zip(columns, values, strict=False))
            sent = values if keep_values else None
            yield RawRecord(row, start_line, fields, None, sent, sent_header)
        start_line = lines.count + 1


def _legacy_text(value: str) -> str:
    """A value that was not UTF-8, read as Windows-1252 (what Excel on Windows writes): "José"
    saved the old way still arrives as "José" rather than losing the row."""
    return value.encode("utf-8", "surrogateescape").decode("cp1252", "replace")


def _is_utf8(values: list[str]) -> bool:
    try:
        "".join(values).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class _counted:
    """An iterator over lines that knows how many it has handed out."""

    def __init__(self, lines: Iterator[str]):
        self._lines = lines
        self.count = 0

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.count += 1
        return line


def read_ndjson(stream: BinaryIO) -> Iterator[RawRecord]:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    row = 0
    for line_no, raw_line in enumerate(stream, start=1):
        if line_no == 1 and raw_line.startswith(codecs.BOM_UTF8):
            raw_line = raw_line[3:]
        if not raw_line.strip():
            continue
        row += 1
        try:
            decoder.decode(raw_line, final=True)
            value = orjson.loads(raw_line)
        except (UnicodeDecodeError, orjson.JSONDecodeError) as exc:
            text = raw_line.decode("utf-8", "replace").rstrip("\r\n")
            yield RawRecord(row, line_no, None, ("_record", f"not a JSON object: {exc}"), text)
            continue
        if not isinstance(value, dict):
            text = raw_line.decode("utf-8").rstrip("\r\n")
            yield RawRecord(row, line_no, None, ("_record", "not a JSON object"), text)
            continue
        yield RawRecord(row, line_no, {header_name(k): v for k, v in value.items()}, None, value)


def read_records(stream: BinaryIO, fmt: Format) -> Iterator[RawRecord]:
    return read_csv(stream) if fmt == "csv" else read_ndjson(stream)
