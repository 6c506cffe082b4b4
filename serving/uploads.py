"""A multipart/form-data upload read as it streams: the file part goes to a PendingObject.

Starlette's ``request.form()`` spools a file into a SpooledTemporaryFile and hands it over
only when the whole body is in; here python_multipart parses ``request.stream()`` chunk by
chunk and the file's bytes go straight into the document store's spool (hashed on the way),
written off the event loop in batches of about a MiB. The other fields are small and kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from hk_core.documents import DocumentStore, DocumentTooLarge, PendingObject

FILE_FIELD = "file"
MAX_FIELD_BYTES = 64 * 1024
MAX_FIELDS = 16
# Buffered before one hop to the worker thread: fewer hops, still constant memory.
WRITE_BATCH_BYTES = 1 << 20
# Multipart framing and the small fields around the file, on top of the document cap.
FRAMING_BYTES = 1 << 20


class UploadError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass
class Upload:
    """A body read to its end: the file spooled (not committed) and the other fields."""

    pending: PendingObject
    filename: str | None
    fields: dict[str, str] = field(default_factory=dict)


class _Parts:
    def __init__(self, pending: PendingObject) -> None:
        self.pending = pending
        self.headers: dict[bytes, bytes] = {}
        self.header_field = b""
        self.header_value = b""
        self.name: str | None = None
        self.in_file = False
        self.seen_file = False
        self.filename: str | None = None
        self.value = bytearray()
        self.fields: dict[str, str] = {}
        self.batch: list[bytes] = []
        self.batch_bytes = 0
        self.ended = False
        self.error: UploadError | None = None

    def callbacks(self) -> Any:
        return {
            "on_part_begin": self.part_begin,
            "on_header_field": self.header_field_data,
            "on_header_value": self.header_value_data,
            "on_header_end": self.header_end,
            "on_headers_finished": self.headers_finished,
            "on_part_data": self.part_data,
            "on_part_end": self.part_end,
            "on_end": self.end,
        }

    def part_begin(self) -> None:
        self.headers, self.name, self.in_file = {}, None, False
        self.value = bytearray()

    def header_field_data(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def header_value_data(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def header_end(self) -> None:
        self.headers[self.header_field.lower()] = self.header_value
        self.header_field, self.header_value = b"", b""

    def headers_finished(self) -> None:
        disposition, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        if disposition != b"form-data" or b"name" not in options:
            self.fail(422, "a multipart part has no Content-Disposition: form-data; name=…")
            return
        self.name = options[b"name"].decode("utf-8", "replace")
        if self.name == FILE_FIELD:
            if self.seen_file:
                self.fail(422, "file: send one file per request")
                return
            self.in_file = self.seen_file = True
            raw = options.get(b"filename")
            self.filename = raw.decode("utf-8", "replace") if raw else None
        elif len(self.fields) >= MAX_FIELDS:
            self.fail(422, f"at most {MAX_FIELDS} form fields")

    def part_data(self, data: bytes, start: int, end: int) -> None:
        if self.error is not None:
            return
        if self.in_file:
            self.batch.append(bytes(data[start:end]))
            self.batch_bytes += end - start
        else:
            self.value += data[start:end]
            if len(self.value) > MAX_FIELD_BYTES:
                self.fail(422, f"{self.name}: a form field is at most {MAX_FIELD_BYTES} bytes")

    def part_end(self) -> None:
        if self.error is None and self.name is not None and not self.in_file:
            try:
                self.fields[self.name] = self.value.decode()
            except UnicodeDecodeError:
                self.fail(422, f"{self.name}: not UTF-8 text")
        self.in_file = False

    def end(self) -> None:
        self.ended = True

    def fail(self, status: int, message: str) -> None:
        if self.error is None:
            self.error = UploadError(status, message)

    def take_batch(self) -> list[bytes]:
        batch, self.batch, self.batch_bytes = self.batch, [], 0
        return batch


def boundary_of(content_type: str | None) -> bytes:
    kind, options = parse_options_header(content_type or "")
    if kind != b"multipart/form-data":
        raise UploadError(415, "send the document as multipart/form-data (fields file, kind)")
    boundary = options.get(b"boundary")
    if not boundary or len(boundary) > 200:
        raise UploadError(400, "multipart/form-data without a usable boundary")
    return boundary


async def receive_upload(request: Request, store: DocumentStore, *, max_bytes: int) -> Upload:
    """The upload read to its end. A body cut off, malformed or over ``max_bytes`` raises
    (UploadError, DocumentTooLarge) and leaves nothing behind: the spool is removed."""
    boundary = boundary_of(request.headers.get("content-type"))
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes + FRAMING_BYTES:
        raise DocumentTooLarge(max_bytes)
    pending = await anyio.to_thread.run_sync(lambda: store.begin(max_bytes=max_bytes))
    try:
        parts = _Parts(pending)
        parser = MultipartParser(boundary, parts.callbacks())
        try:
            async for chunk in request.stream():
                if not chunk:
                    continue
                try:
                    parser.write(chunk)
                except Exception as exc:  # python_multipart's errors name the byte at fault
                    raise UploadError(400, f"not a valid multipart body: {exc}") from None
                if parts.error is not None:
                    raise parts.error
                if parts.batch_bytes >= WRITE_BATCH_BYTES:
                    await anyio.to_thread.run_sync(pending.write_all, parts.take_batch())
        except ClientDisconnect:
            raise UploadError(400, "the upload was cut off before its end") from None
        if not parts.ended:
            raise UploadError(400, "the multipart body ended before its closing boundary")
        if parts.batch:
            await anyio.to_thread.run_sync(pending.write_all, parts.take_batch())
        if not parts.seen_file:
            raise UploadError(422, "file: required (a multipart part named file)")
        return Upload(pending, parts.filename, parts.fields)
    except BaseException:
        # Inline, not in a thread: a cancelled task could not await one, and unlink is quick.
        pending.abort()
        raise
