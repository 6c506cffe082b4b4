"""Stored documents: content-addressed bytes under ``<lake root>/documents/<sha[:2]>/<sha256>``.

A write is a :class:`PendingObject`: chunks are hashed as they arrive and spooled to a temp
file, so memory stays constant whatever the size; :meth:`PendingObject.commit` checks the
first bytes against the types we accept (by content, never by the file's name) and stores the
bytes once: an object that already exists is not written again.

Local root: the temp file lives in ``documents/.tmp`` (the target's filesystem), and commit
is an atomic rename, so a reader never sees half a file. S3 root: the key is the hash, which
is known only once the last byte arrived, so the bytes are spooled locally first (under
``<home>/tmp/documents``) and then sent with a checksum S3 verifies: one PUT with
``ChecksumSHA256`` up to :data:`PART_BYTES`, else a multipart upload with
``ChecksumAlgorithm="SHA256"`` and each part's SHA-256, aborted on any failure.

S3 goes through botocore's synchronous client rather than s3fs: the upload is already off the
event loop (the API runs it in a worker thread), multipart checksums and presigned GETs with
a Content-Disposition are plain botocore calls, and botocore is the client s3fs brings in
anyway (through aiobotocore), so no new package is installed. boto3 adds nothing needed here.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import tempfile
import time
import urllib.parse
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hk_core.settings import Settings

PREFIX = "documents"
CHUNK_BYTES = 1 << 20
# S3 parts are at least 5 MiB (but the last); 8 MiB parts reach 80 GB within 10,000 parts.
PART_BYTES = 8 << 20
# Enough of the head to tell every accepted type apart.
SNIFF_BYTES = 16
TEMP_PREFIX = ".tmp-"
# Spools older than this belong to no live upload (see DocumentStore.sweep_spools).
SPOOL_MAX_AGE_SECONDS = 24 * 3600


class DocumentTooLarge(Exception):
    def __init__(self, max_bytes: int):
        super().__init__(f"document larger than the cap of {max_bytes} bytes")
        self.max_bytes = max_bytes


class UnsupportedContent(Exception):
    """The bytes are none of the accepted types; the message says what they look like."""


class ChecksumMismatch(Exception):
    def __init__(self, sha256: str, actual: str):
        super().__init__(f"stored bytes hash to {actual}, not to {sha256}")
        self.sha256 = sha256
        self.actual = actual


@dataclass(frozen=True)
class StoredObject:
    sha256: str
    size_bytes: int
    content_type: str
    storage_key: str


ACCEPTED_TYPES = (
    "application/pdf", "image/png", "image/jpeg", "image/gif", "image/webp", "image/tiff",
    "image/heic",
)  # fmt: skip
_HEIC_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1")


def sniff_content_type(head: bytes) -> str | None:
    """The accepted type the first bytes announce (magic numbers only), else None."""
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "image/tiff"
    if head[4:8] == b"ftyp" and head[8:12] in _HEIC_BRANDS:
        return "image/heic"
    return None


def describe_head(head: bytes) -> str:
    """What unaccepted bytes look like, for a 415 message."""
    if not head:
        return "an empty file"
    if head.startswith(b"PK\x03\x04"):
        return "a ZIP archive (or an Office document)"
    if head.startswith(b"\x1f\x8b"):
        return "gzip data"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return "an old Office (OLE) document"
    if head.lstrip().startswith((b"<", b"{", b"[")) or _is_text(head):
        return "text"
    return f"binary data starting {head[:8].hex(' ')}"


def _is_text(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        # Cut mid-character at the end of the head is still text.
        try:
            head[:-3].decode("utf-8")
        except UnicodeDecodeError:
            return False
    return all(b >= 0x20 or b in b"\t\r\n" for b in head)


def storage_key_for(sha256: str) -> str:
    return f"{PREFIX}/{sha256[:2]}/{sha256}"


def content_disposition(filename: str | None, *, inline: bool = False) -> str:
    """A Content-Disposition value safe for any name: an ASCII fallback plus RFC 5987 UTF-8."""
    kind = "inline" if inline else "attachment"
    if not filename:
        return kind
    fallback = "".join(c if 0x20 <= ord(c) < 0x7F and c not in '"\\' else "_" for c in filename)
    quoted = urllib.parse.quote(filename, safe="")
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quoted}"


class DocumentStore:
    """Where documents' bytes live: a local folder or an S3 prefix (the lake root's)."""

    def __init__(
        self, root: str, *, s3_endpoint_url: str | None = None, temp_dir: str | None = None
    ) -> None:
        self.root = root.rstrip("/")
        self.is_s3 = self.root.startswith("s3://")
        self.s3_endpoint_url = s3_endpoint_url
        if self.is_s3:
            bucket, _, prefix = self.root.removeprefix("s3://").partition("/")
            self.bucket = bucket
            self.prefix = prefix.strip("/")
            self.temp_dir = Path(temp_dir or Path(tempfile.gettempdir()) / "hk-documents")
        else:
            self.temp_dir = Path(temp_dir or Path(self.root) / PREFIX / ".tmp")
        self._client: Any = None

    @classmethod
    def from_settings(cls, settings: Settings) -> DocumentStore:
        root = settings.lake_root
        temp = None if not root.startswith("s3://") else str(settings.home / "tmp" / "documents")
        return cls(root, s3_endpoint_url=settings.s3_endpoint_url, temp_dir=temp)

    # -- paths and clients

    def _local_path(self, storage_key: str) -> Path:
        return Path(self.root) / storage_key

    def _s3_key(self, storage_key: str) -> str:
        return f"{self.prefix}/{storage_key}" if self.prefix else storage_key

    @property
    def s3(self) -> Any:
        if self._client is None:
            import botocore.session
            from botocore.config import Config

            config = Config(
                signature_version="s3v4",
                # We send SHA-256 ourselves; no second (CRC) checksum on top.
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
                s3={"addressing_style": "path"} if self.s3_endpoint_url else None,
                retries={"max_attempts": 3, "mode": "standard"},
            )
            self._client = botocore.session.get_session().create_client(
                "s3", endpoint_url=self.s3_endpoint_url, config=config
            )
        return self._client

    # -- writing

    def begin(self, *, max_bytes: int) -> PendingObject:
        self.temp_dir.mkdir(parents=True, exist_ok=True)
        return PendingObject(self, max_bytes)

    def sweep_spools(self, *, older_than_seconds: float = SPOOL_MAX_AGE_SECONDS) -> int:
        """Remove spool files left by a process that died mid-upload: those not written to for
        ``older_than_seconds``. A live upload writes its spool as the body arrives, and no
        request stays open that long, so a live one is never taken. Returns how many."""
        if not self.temp_dir.is_dir():
            return 0
        cutoff = time.time() - older_than_seconds
        removed = 0
        for path in self.temp_dir.glob(TEMP_PREFIX + "*"):
            with contextlib.suppress(FileNotFoundError):
                if path.is_file() and path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
        return removed

    def exists(self, sha256: str) -> bool:
        key = storage_key_for(sha256)
        if not self.is_s3:
            return self._local_path(key).is_file()
        from botocore.exceptions import ClientError

        try:
            self.s3.head_object(Bucket=self.bucket, Key=self._s3_key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def _put_local(self, spool: Path, storage_key: str) -> None:
        target = self._local_path(storage_key)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(spool, target)
        # The rename is durable once the folder entry is on disk.
        fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _put_s3(self, spool: Path, obj: StoredObject) -> None:
        key = self._s3_key(obj.storage_key)
        with open(spool, "rb") as file:
            if obj.size_bytes <= PART_BYTES:
                body = file.read()
                self.s3.put_object(
                    Bucket=self.bucket, Key=key, Body=body, ContentType=obj.content_type,
                    ChecksumSHA256=_b64(hashlib.sha256(body).digest()),
                )  # fmt: skip
                return
            upload = self.s3.create_multipart_upload(
                Bucket=self.bucket, Key=key, ContentType=obj.content_type,
                ChecksumAlgorithm="SHA256",
            )  # fmt: skip
            upload_id = upload["UploadId"]
            try:
                parts = []
                number = 1
                while part := file.read(PART_BYTES):
                    checksum = _b64(hashlib.sha256(part).digest())
                    sent = self.s3.upload_part(
                        Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number,
                        Body=part, ChecksumSHA256=checksum,
                    )  # fmt: skip
                    parts.append(
                        {"PartNumber": number, "ETag": sent["ETag"], "ChecksumSHA256": checksum}
                    )
                    number += 1
                self.s3.complete_multipart_upload(
                    Bucket=self.bucket, Key=key, UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                )  # fmt: skip
            except BaseException:
                with contextlib.suppress(Exception):
                    self.s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
                raise

    # -- reading

    def _chunks(self, storage_key: str, chunk_bytes: int) -> Iterator[bytes]:
        if not self.is_s3:
            with open(self._local_path(storage_key), "rb") as file:
                while chunk := file.read(chunk_bytes):
                    yield chunk
            return
        body = self.s3.get_object(Bucket=self.bucket, Key=self._s3_key(storage_key))["Body"]
        try:
            yield from body.iter_chunks(chunk_bytes)
        finally:
            body.close()

    def read(
        self, storage_key_or_obj: str | StoredObject, expected_sha256: str, *,
        chunk_bytes: int = CHUNK_BYTES,
    ) -> Generator[bytes, None, None]:  # fmt: skip
        """The stored bytes in chunks; ChecksumMismatch after the last if they do not hash to
        ``expected_sha256`` (the caller has then already used the chunks: it must undo that)."""
        key = (
            storage_key_or_obj.storage_key
            if isinstance(storage_key_or_obj, StoredObject)
            else storage_key_or_obj
        )
        digest = hashlib.sha256()
        for chunk in self._chunks(key, chunk_bytes):
            digest.update(chunk)
            yield chunk
        actual = digest.hexdigest()
        if actual != expected_sha256:
            raise ChecksumMismatch(expected_sha256, actual)

    def verify(self, storage_key: str, expected_sha256: str) -> None:
        """Read the whole object without keeping it; ChecksumMismatch if it changed."""
        for _ in self.read(storage_key, expected_sha256):
            pass

    def read_verified(self, storage_key: str, expected_sha256: str) -> bytes:
        """A small object whole, only if it hashes right (ChecksumMismatch otherwise)."""
        return b"".join(self.read(storage_key, expected_sha256))

    def presigned_url(
        self, storage_key: str, *, expires_seconds: int, filename: str | None,
        content_type: str | None = None,
    ) -> str:  # fmt: skip
        if not self.is_s3:
            raise ValueError("presigned URLs exist only for an S3 document store")
        params: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": self._s3_key(storage_key),
            "ResponseContentDisposition": content_disposition(filename),
        }
        if content_type:
            params["ResponseContentType"] = content_type
        return str(
            self.s3.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_seconds)
        )


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


class PendingObject:
    """One upload in progress: ``write`` chunks, then ``commit`` (or ``abort``)."""

    def __init__(self, store: DocumentStore, max_bytes: int) -> None:
        self.store = store
        self.max_bytes = max_bytes
        self.size_bytes = 0
        self.head = b""
        self._digest = hashlib.sha256()
        fd, name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=store.temp_dir)
        self.spool_path = Path(name)
        self._file: IO[bytes] | None = os.fdopen(fd, "wb")
        self._done = False

    def write(self, chunk: bytes) -> None:
        if self._file is None:
            raise RuntimeError("this upload was already committed or aborted")
        self.size_bytes += len(chunk)
        if self.size_bytes > self.max_bytes:
            self.abort()
            raise DocumentTooLarge(self.max_bytes)
        if len(self.head) < SNIFF_BYTES:
            self.head += chunk[: SNIFF_BYTES - len(self.head)]
        self._digest.update(chunk)
        self._file.write(chunk)

    def write_all(self, chunks: list[bytes]) -> None:
        for chunk in chunks:
            self.write(chunk)

    def commit(self) -> StoredObject:
        if self._file is None:
            raise RuntimeError("this upload was already committed or aborted")
        content_type = sniff_content_type(self.head)
        if content_type is None:
            self.abort()
            raise UnsupportedContent(
                f"the bytes look like {describe_head(self.head)}, not one of the accepted "
                f"types ({', '.join(ACCEPTED_TYPES)})"
            )
        sha256 = self._digest.hexdigest()
        obj = StoredObject(sha256, self.size_bytes, content_type, storage_key_for(sha256))
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None
            if not self.store.exists(sha256):
                if self.store.is_s3:
                    self.store._put_s3(self.spool_path, obj)
                else:
                    self.store._put_local(self.spool_path, obj.storage_key)
        finally:
            self.abort()
        return obj

    def abort(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        with contextlib.suppress(FileNotFoundError):
            self.spool_path.unlink()
        self._done = True

    def __enter__(self) -> PendingObject:
        return self

    def __exit__(self, *exc: object) -> None:
        # After commit there is nothing left to remove; without one, nothing is kept.
        self.abort()
