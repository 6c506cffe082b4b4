"""Documents over HTTP: upload (streamed), list, read, download, delete (docs/documents.md).

Uploads are parsed as they stream (``serving.uploads``), so a 50 MiB or a 2 GB file costs the
server the same memory. Content is served from a local lake by this process, checked against
its SHA-256 as it goes; from an S3 lake by a short-lived presigned URL (a 307), so the bytes
never pass through the API.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio.to_thread
import orjson
from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse, StreamingResponse
from pydantic import BaseModel, Field

from hk_core.documents import (
    ChecksumMismatch,
    DocumentStore,
    DocumentTooLarge,
    UnsupportedContent,
    content_disposition,
)
from hk_core.settings import Settings
from orchestrator import documents
from orchestrator.audit import Auditor
from serving.deps import OperateKey, State, key_name
from serving.errors import ERROR_RESPONSES, ErrorBody
from serving.state import AppState
from serving.uploads import FRAMING_BYTES, UploadError, receive_upload

router = APIRouter(tags=["documents"])

BIGINT = 2**63 - 1
Id = Annotated[int, Path(ge=1, le=BIGINT)]
# Small enough to read whole and check before the first byte goes out, so a changed file is
# a clean 409 rather than a cut-off download.
VERIFY_FIRST_BYTES = 8 << 20
STREAM_CHUNK_BYTES = 256 * 1024


class DocumentOut(BaseModel):
    document_id: int
    lead_id: int
    deal_id: int | None
    kind: str = Field(description=f"One of {', '.join(documents.KINDS)}")
    filename: str | None = Field(description="As the client named it; the type is not from it")
    content_type: str = Field(description="From the bytes themselves (magic numbers)")
    size_bytes: int
    sha256: str = Field(description="Hex SHA-256 of the bytes: the content's address")
    signed: bool
    signers: list[dict[str, Any]]
    source: str = Field(description="upload | esign")
    external_id: str | None
    uploaded_by: str
    created_at: str
    quarantined: bool = Field(description="Its bytes stopped matching sha256: never served")


class DocumentList(BaseModel):
    documents: list[DocumentOut]


UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "kind"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "PDF, PNG, JPEG, GIF, WebP, TIFF or HEIC, told by "
                            "its bytes; at most HK_DOCUMENT_MAX_BYTES (50 MiB by default)",
                        },
                        "kind": {"type": "string", "enum": list(documents.KINDS)},
                        "signed": {"type": "boolean", "default": False},
                        "signers": {
                            "type": "string",
                            "description": 'A JSON list of objects, e.g. [{"name": "Ana"}]',
                        },
                    },
                },
                "encoding": {"file": {"contentType": "application/octet-stream"}},
            }
        },
    }
}
UPLOAD_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    400: {"model": ErrorBody, "description": "Not a complete multipart/form-data body"},
    404: {"model": ErrorBody, "description": "No such lead or deal"},
    409: {"model": ErrorBody, "description": "These bytes are quarantined"},
    413: {"model": ErrorBody, "description": "The file is larger than the document cap"},
    415: {"model": ErrorBody, "description": "Not multipart, or bytes of no accepted type"},
}
DOCUMENT_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    404: {"model": ErrorBody, "description": "No such document"},
    410: {"model": ErrorBody, "description": "The document was deleted"},
}


def body_limit(settings: Settings) -> int:
    """What the body-size middleware lets through to an upload route: the route itself
    refuses a file over the cap, with a message that names it."""
    return settings.document_max_bytes + 2 * FRAMING_BYTES


@functools.lru_cache(maxsize=4)
def _store_for(root: str, endpoint: str | None, temp_dir: str | None) -> DocumentStore:
    return DocumentStore(root, s3_endpoint_url=endpoint, temp_dir=temp_dir)


def store_of(state: AppState) -> DocumentStore:
    built = DocumentStore.from_settings(state.settings)
    temp = str(built.temp_dir) if built.is_s3 else None
    return _store_for(built.root, built.s3_endpoint_url, temp)


def _auditor(state: AppState) -> Auditor:
    assert state.orchestrator is not None, "the lifespan builds the orchestrator"
    return state.orchestrator.auditor


def _error(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


async def _actor(state: AppState, key_id: int) -> str:
    async with state.pool.connection() as conn:
        return f"api-key:{await key_name(state, conn, key_id)}"


def _parse_fields(fields: dict[str, str]) -> tuple[str, bool, list[dict[str, Any]]]:
    kind = fields.get("kind")
    if kind is None:
        raise documents.DocumentError(422, "kind: required")
    signed_text = fields.get("signed", "false").strip().lower()
    if signed_text not in ("true", "false", "1", "0", "yes", "no", "on", "off", ""):
        raise documents.DocumentError(422, f"signed: {signed_text!r} is not a boolean")
    signed = signed_text in ("true", "1", "yes", "on")
    signers: Any = []
    if fields.get("signers", "").strip():
        try:
            signers = orjson.loads(fields["signers"])
        except orjson.JSONDecodeError:
            raise documents.DocumentError(422, "signers: not JSON") from None
    return kind, signed, documents.check_signers(signers)


async def _upload(
    request: Request, state: AppState, key_id: int, *, lead_id: int | None, deal_id: int | None
) -> Any:
    async with state.pool.connection() as conn:
        if deal_id is not None:
            cur = await conn.execute("select lead_id from app.deals where deal_id = %s", (deal_id,))
            row = await cur.fetchone()
            if row is None:
                return _error(404, f"deal {deal_id} not found")
            lead_id = row[0]
        else:
            cur = await conn.execute("select 1 from app.leads where lead_id = %s", (lead_id,))
            if await cur.fetchone() is None:
                return _error(404, f"lead {lead_id} not found")
    assert lead_id is not None
    cap = state.settings.document_max_bytes
    store = store_of(state)
    try:
        upload = await receive_upload(request, store, max_bytes=cap)
    except DocumentTooLarge:
        return _error(413, f"document larger than the cap of {cap} bytes (HK_DOCUMENT_MAX_BYTES)")
    except UploadError as exc:
        return _error(exc.status, str(exc))
    with upload.pending:
        try:
            kind, signed, signers = _parse_fields(upload.fields)
            if kind not in documents.KINDS:
                raise documents.DocumentError(
                    422, f"kind: {kind!r} is not one of {', '.join(documents.KINDS)}"
                )
        except documents.DocumentError as exc:
            upload.pending.abort()
            return _field_error(exc)
        try:
            obj = await anyio.to_thread.run_sync(upload.pending.commit)
        except UnsupportedContent as exc:
            return _error(415, str(exc))
    actor = await _actor(state, key_id)
    async with state.pool.connection() as conn:
        try:
            doc = await documents.record_document(
                conn, _auditor(state), obj=obj, lead_id=lead_id, deal_id=deal_id, kind=kind,
                filename=upload.filename, uploaded_by=actor, signed=signed, signers=signers,
            )  # fmt: skip
        except documents.DocumentError as exc:
            return _field_error(exc)
    return JSONResponse(documents.to_json(doc), status_code=201)


def _field_error(exc: documents.DocumentError) -> JSONResponse:
    if exc.status == 422:
        field = str(exc).partition(":")[0]
        item = {"loc": ["body", field], "msg": str(exc), "type": "value_error"}
        return JSONResponse({"detail": [item]}, status_code=422)
    return _error(exc.status, str(exc))


@router.post(
    "/v1/deals/{deal_id}/documents",
    status_code=201,
    response_model=DocumentOut,
    summary="Store a document on a deal (multipart: file, kind, signed, signers); audited",
    openapi_extra=UPLOAD_BODY,
    responses=UPLOAD_RESPONSES,
)
async def upload_deal_document(
    deal_id: Id, request: Request, state: State, key_id: OperateKey
) -> Any:
    return await _upload(request, state, key_id, lead_id=None, deal_id=deal_id)


@router.post(
    "/v1/leads/{lead_id}/documents",
    status_code=201,
    response_model=DocumentOut,
    summary="Store a document on a lead (multipart: file, kind, signed, signers); audited",
    openapi_extra=UPLOAD_BODY,
    responses=UPLOAD_RESPONSES,
)
async def upload_lead_document(
    lead_id: Id, request: Request, state: State, key_id: OperateKey
) -> Any:
    return await _upload(request, state, key_id, lead_id=lead_id, deal_id=None)


@router.get(
    "/v1/leads/{lead_id}/documents",
    response_model=DocumentList,
    summary="A lead's documents (not deleted), oldest first",
    responses={404: {"model": ErrorBody, "description": "No such lead"}, **ERROR_RESPONSES},
)
async def list_lead_documents(lead_id: Id, state: State, key_id: OperateKey) -> Any:
    async with state.pool.connection() as conn:
        cur = await conn.execute("select 1 from app.leads where lead_id = %s", (lead_id,))
        if await cur.fetchone() is None:
            return _error(404, f"lead {lead_id} not found")
        docs = await documents.list_documents(conn, lead_id=lead_id)
    return {"documents": [documents.to_json(d) for d in docs]}


@router.get(
    "/v1/deals/{deal_id}/documents",
    response_model=DocumentList,
    summary="A deal's documents (not deleted), oldest first",
    responses={404: {"model": ErrorBody, "description": "No such deal"}, **ERROR_RESPONSES},
)
async def list_deal_documents(deal_id: Id, state: State, key_id: OperateKey) -> Any:
    async with state.pool.connection() as conn:
        cur = await conn.execute("select 1 from app.deals where deal_id = %s", (deal_id,))
        if await cur.fetchone() is None:
            return _error(404, f"deal {deal_id} not found")
        docs = await documents.list_documents(conn, deal_id=deal_id)
    return {"documents": [documents.to_json(d) for d in docs]}


async def _live_document(state: AppState, document_id: int) -> dict[str, Any] | JSONResponse:
    async with state.pool.connection() as conn:
        doc = await documents.get_document(conn, document_id)
    if doc is None:
        return _error(404, f"document {document_id} not found")
    if doc["deleted_at"] is not None:
        return _error(410, f"document {document_id} was deleted")
    return doc


@router.get(
    "/v1/documents/{document_id}",
    response_model=DocumentOut,
    summary="A document's metadata",
    responses=DOCUMENT_RESPONSES,
)
async def get_document(document_id: Id, state: State, key_id: OperateKey) -> Any:
    doc = await _live_document(state, document_id)
    if isinstance(doc, JSONResponse):
        return doc
    return documents.to_json(doc)


async def _quarantine(state: AppState, doc: dict[str, Any], mismatch: ChecksumMismatch) -> str:
    reason = f"its bytes no longer match sha256 {mismatch.sha256} (they hash to {mismatch.actual})"
    # A connection of its own: the quarantine must commit whatever happens to the response.
    async with state.pool.connection() as conn:
        await documents.quarantine(conn, _auditor(state), doc["sha256"], reason)
    return f"document quarantined: {reason}"


@router.get(
    "/v1/documents/{document_id}/content",
    summary="The document's bytes (local lake), or a 307 to a presigned URL (S3 lake); audited",
    response_class=Response,
    responses={
        **DOCUMENT_RESPONSES,
        200: {
            "description": "The bytes, checked against sha256 as they stream",
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        },  # fmt: skip
        307: {"description": "S3 lake: Location is a presigned GET, valid for minutes"},
        409: {"model": ErrorBody, "description": "Quarantined: its bytes no longer match"},
    },
)
async def get_document_content(document_id: Id, state: State, key_id: OperateKey) -> Any:
    doc = await _live_document(state, document_id)
    if isinstance(doc, JSONResponse):
        return doc
    if doc["quarantined_at"] is not None:
        return _error(409, documents.quarantined_detail(doc))
    store = store_of(state)
    actor = await _actor(state, key_id)
    if store.is_s3:
        seconds = state.settings.document_url_seconds
        url = await anyio.to_thread.run_sync(
            functools.partial(
                store.presigned_url, doc["storage_key"], expires_seconds=seconds,
                filename=doc["filename"], content_type=doc["content_type"],
            )
        )  # fmt: skip
        async with state.pool.connection() as conn:
            await documents.record_access(
                conn, _auditor(state), doc, actor=actor, action="document_url_issued",
                detail={"expires_seconds": seconds},
            )  # fmt: skip
        return RedirectResponse(url, status_code=307, headers={"Cache-Control": "no-store"})
    headers = {
        "Content-Disposition": content_disposition(doc["filename"]),
        "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff",
    }
    if doc["size_bytes"] <= VERIFY_FIRST_BYTES:
        try:
            body = await anyio.to_thread.run_sync(
                store.read_verified, doc["storage_key"], doc["sha256"]
            )
        except ChecksumMismatch as mismatch:
            return _error(409, await _quarantine(state, doc, mismatch))
        except FileNotFoundError:
            return _error(409, await _quarantine_missing(state, doc))
        await _downloaded(state, doc, actor)
        return Response(body, media_type=doc["content_type"], headers=headers)
    await _downloaded(state, doc, actor)
    headers["Content-Length"] = str(doc["size_bytes"])
    return StreamingResponse(
        _stream(state, store, doc), media_type=doc["content_type"], headers=headers
    )


async def _downloaded(state: AppState, doc: dict[str, Any], actor: str) -> None:
    async with state.pool.connection() as conn:
        await documents.record_access(
            conn, _auditor(state), doc, actor=actor, action="document_downloaded"
        )


async def _quarantine_missing(state: AppState, doc: dict[str, Any]) -> str:
    reason = "its bytes are missing from the store"
    async with state.pool.connection() as conn:
        await documents.quarantine(conn, _auditor(state), doc["sha256"], reason)
    return f"document quarantined: {reason}"


async def _stream(
    state: AppState, store: DocumentStore, doc: dict[str, Any]
) -> AsyncIterator[bytes]:
    chunks = store.read(doc["storage_key"], doc["sha256"], chunk_bytes=STREAM_CHUNK_BYTES)
    done = b""
    # One chunk held back: the hash is checked only after the last chunk is read, so the last
    # one goes out only once the whole file proved good.
    held: bytes | None = None
    try:
        while True:
            chunk = await anyio.to_thread.run_sync(next, chunks, done)
            if held is not None:
                yield held
            if chunk is done:
                return
            held = chunk
    except ChecksumMismatch as mismatch:
        await _quarantine(state, doc, mismatch)
        # The status and length went out already: failing the response makes uvicorn drop
        # the connection, so the client sees a short body, never bytes passed as good.
        raise
    finally:
        chunks.close()


@router.delete(
    "/v1/documents/{document_id}",
    status_code=204,
    response_class=Response,
    response_model=None,
    summary="Delete a document (soft; audited); signed documents are kept (409)",
    responses={
        **DOCUMENT_RESPONSES,
        409: {"model": ErrorBody, "description": "Signed documents are kept (retention)"},
    },
)
async def delete_document(document_id: Id, state: State, key_id: OperateKey) -> Any:
    actor = await _actor(state, key_id)
    async with state.pool.connection() as conn:
        try:
            await documents.delete_document(conn, _auditor(state), document_id, actor)
        except documents.DocumentError as exc:
            return _error(exc.status, str(exc))
    return Response(status_code=204)
