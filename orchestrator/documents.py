"""Documents of a lead (and its deal): the rows that link a lead to stored bytes, audited.

The bytes live in the content-addressed store (``hk_core.documents``); here are the
``app.document_objects`` row (one per content) and the ``app.documents`` row (one per upload
or e-signature). Every act is one audit row on the lead's chain (``lead:<lead_id>``), written
in the transaction that makes it: ``document_stored``, ``document_deleted``,
``document_downloaded``, ``document_url_issued``, ``document_quarantined``. Each function runs
in the caller's transaction when there is one (``conn.transaction()`` nests as a savepoint).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import orjson
import psycopg
from psycopg.rows import dict_row

from hk_core.documents import StoredObject
from orchestrator.audit import Auditor

KINDS = (
    "purchase_contract", "assignment_contract", "disclosure", "photo", "identification",
    "other",
)  # fmt: skip
SOURCES = ("upload", "esign")
MAX_FILENAME_CHARS = 255
MAX_SIGNERS = 50

COLUMNS = (
    "document_id", "lead_id", "deal_id", "kind", "filename", "sha256", "signed", "signers",
    "source", "external_id", "uploaded_by", "created_at", "deleted_at", "deleted_by",
)  # fmt: skip
_SELECT = f"""
select {", ".join("d." + name for name in COLUMNS)},
    o.content_type, o.size_bytes, o.storage_key, o.quarantined_at, o.quarantine_reason
from app.documents as d
join app.document_objects as o using (sha256)
"""


class DocumentError(Exception):
    """A request about documents that is refused, with the HTTP status that says why."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def quarantined_detail(doc: dict[str, Any]) -> str:
    return f"document {doc['document_id']} is quarantined: {doc['quarantine_reason']}"


def check_signers(signers: Any) -> list[dict[str, Any]]:
    """Signers as given: a list of JSON objects (name, email, signed_at, … as the source has)."""
    if not isinstance(signers, list) or not all(isinstance(s, dict) for s in signers):
        raise DocumentError(422, "signers: must be a JSON list of objects")
    if len(signers) > MAX_SIGNERS:
        raise DocumentError(422, f"signers: at most {MAX_SIGNERS}")
    return signers


async def record_document(
    conn: psycopg.AsyncConnection,
    auditor: Auditor,
    *,
    obj: StoredObject,
    lead_id: int,
    deal_id: int | None,
    kind: str,
    filename: str | None,
    uploaded_by: str,
    source: str = "upload",
    signed: bool = False,
    signers: Iterable[dict[str, Any]] = (),
    external_id: str | None = None,
) -> dict[str, Any]:
    """Link stored bytes to a lead (and deal); the new document row. The same bytes twice make
    one object and two documents. 404 for a missing lead or deal, 422 for a deal of another
    lead or an unknown kind, 409 if these bytes are quarantined."""
    if kind not in KINDS:
        raise DocumentError(422, f"kind: {kind!r} is not one of {', '.join(KINDS)}")
    if source not in SOURCES:
        raise DocumentError(422, f"source: {source!r} is not one of {', '.join(SOURCES)}")
    if filename is not None and len(filename) > MAX_FILENAME_CHARS:
        raise DocumentError(422, f"filename: at most {MAX_FILENAME_CHARS} characters")
    signer_list = check_signers(list(signers))
    async with conn.transaction():
        cur = await conn.execute("select 1 from app.leads where lead_id = %s", (lead_id,))
        if await cur.fetchone() is None:
            raise DocumentError(404, f"lead {lead_id} not found")
        if deal_id is not None:
            cur = await conn.execute("select lead_id from app.deals where deal_id = %s", (deal_id,))
            row = await cur.fetchone()
            if row is None:
                raise DocumentError(404, f"deal {deal_id} not found")
            if row[0] != lead_id:
                raise DocumentError(422, f"deal {deal_id} is not lead {lead_id}'s deal")
        await conn.execute(
            "insert into app.document_objects (sha256, size_bytes, content_type, storage_key) "
            "values (%s, %s, %s, %s) on conflict (sha256) do nothing",
            (obj.sha256, obj.size_bytes, obj.content_type, obj.storage_key),
        )
        cur = await conn.execute(
            "select quarantine_reason from app.document_objects "
            "where sha256 = %s and quarantined_at is not null",
            (obj.sha256,),
        )
        if (row := await cur.fetchone()) is not None:
            raise DocumentError(409, f"these bytes ({obj.sha256}) are quarantined: {row[0]}")
        cur = await conn.execute(
            "insert into app.documents (sha256, lead_id, deal_id, kind, filename, uploaded_by, "
            "source, signed, signers, external_id) "
            "values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) returning document_id",
            (obj.sha256, lead_id, deal_id, kind, filename, uploaded_by, source, signed,
             orjson.dumps(signer_list).decode(), external_id),
        )  # fmt: skip
        document_id = (await cur.fetchone())[0]  # type: ignore[index]
        await auditor.record(
            conn, chain=f"lead:{lead_id}", actor=uploaded_by, action="document_stored",
            lead_id=lead_id,
            detail={"document_id": document_id, "deal_id": deal_id, "kind": kind,
                    "sha256": obj.sha256, "size_bytes": obj.size_bytes,
                    "content_type": obj.content_type, "filename": filename, "source": source,
                    "signed": signed, "external_id": external_id},
        )  # fmt: skip
        doc = await get_document(conn, document_id)
    assert doc is not None
    return doc


async def get_document(
    conn: psycopg.AsyncConnection, document_id: int, *, include_deleted: bool = True
) -> dict[str, Any] | None:
    """The document with its object's type, size and quarantine; deleted ones too unless not
    asked for (the caller tells 404 from 410 by ``deleted_at``)."""
    where = "" if include_deleted else " and d.deleted_at is null"
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_SELECT + " where d.document_id = %s" + where, (document_id,))
        return await cur.fetchone()


async def list_documents(
    conn: psycopg.AsyncConnection, *, lead_id: int | None = None, deal_id: int | None = None
) -> list[dict[str, Any]]:
    """A lead's or a deal's documents that are not deleted, oldest first."""
    if (lead_id is None) == (deal_id is None):
        raise ValueError("name exactly one of lead_id, deal_id")
    column, value = ("lead_id", lead_id) if lead_id is not None else ("deal_id", deal_id)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            _SELECT + f" where d.{column} = %s and d.deleted_at is null order by d.document_id",
            (value,),
        )
        return await cur.fetchall()


async def delete_document(
    conn: psycopg.AsyncConnection, auditor: Auditor, document_id: int, actor: str
) -> dict[str, Any]:
    """Soft delete (the bytes stay: other documents may share them), audited. 404 if missing,
    410 if already deleted, 409 if signed: signed documents are kept."""
    async with conn.transaction():
        cur = await conn.execute(
            "select lead_id, signed, deleted_at, sha256 from app.documents "
            "where document_id = %s for update",
            (document_id,),
        )
        row = await cur.fetchone()
        if row is None:
            raise DocumentError(404, f"document {document_id} not found")
        lead_id, signed, deleted_at, sha256 = row
        if deleted_at is not None:
            raise DocumentError(410, f"document {document_id} was deleted")
        if signed:
            raise DocumentError(409, f"document {document_id} is signed: signed documents are "
                                "kept (retention)")  # fmt: skip
        await conn.execute(
            "update app.documents set deleted_at = now(), deleted_by = %s where document_id = %s",
            (actor, document_id),
        )
        await auditor.record(
            conn, chain=f"lead:{lead_id}", actor=actor, action="document_deleted",
            lead_id=lead_id, detail={"document_id": document_id, "sha256": sha256},
        )  # fmt: skip
        doc = await get_document(conn, document_id)
    assert doc is not None
    return doc


async def quarantine(
    conn: psycopg.AsyncConnection, auditor: Auditor, sha256: str, reason: str, *,
    actor: str = "document-store",
) -> None:  # fmt: skip
    """Never serve these bytes again; one audit row on each lead that holds them."""
    async with conn.transaction():
        cur = await conn.execute(
            "update app.document_objects set quarantined_at = now(), quarantine_reason = %s "
            "where sha256 = %s and quarantined_at is null returning sha256",
            (reason, sha256),
        )
        if await cur.fetchone() is None:
            return
        cur = await conn.execute(
            "select lead_id, array_agg(document_id order by document_id) from app.documents "
            "where sha256 = %s group by lead_id order by lead_id",
            (sha256,),
        )
        for lead_id, document_ids in await cur.fetchall():
            await auditor.record(
                conn, chain=f"lead:{lead_id}", actor=actor, action="document_quarantined",
                lead_id=lead_id,
                detail={"sha256": sha256, "document_ids": document_ids, "reason": reason},
            )  # fmt: skip


async def record_access(
    conn: psycopg.AsyncConnection, auditor: Auditor, doc: dict[str, Any], *, actor: str,
    action: str, detail: dict[str, Any] | None = None,
) -> None:  # fmt: skip
    """An audit row for a download (``document_downloaded``) or a URL handed out
    (``document_url_issued``)."""
    if action not in ("document_downloaded", "document_url_issued"):
        raise ValueError(f"not a document access: {action}")
    async with conn.transaction():
        await auditor.record(
            conn, chain=f"lead:{doc['lead_id']}", actor=actor, action=action,
            lead_id=doc["lead_id"],
            detail={"document_id": doc["document_id"], "sha256": doc["sha256"], **(detail or {})},
        )  # fmt: skip


def to_json(doc: dict[str, Any]) -> dict[str, Any]:
    def stamp(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "document_id": doc["document_id"],
        "lead_id": doc["lead_id"],
        "deal_id": doc["deal_id"],
        "kind": doc["kind"],
        "filename": doc["filename"],
        "content_type": doc["content_type"],
        "size_bytes": doc["size_bytes"],
        "sha256": doc["sha256"],
        "signed": doc["signed"],
        "signers": doc["signers"],
        "source": doc["source"],
        "external_id": doc["external_id"],
        "uploaded_by": doc["uploaded_by"],
        "created_at": stamp(doc["created_at"]),
        "quarantined": doc["quarantined_at"] is not None,
    }
