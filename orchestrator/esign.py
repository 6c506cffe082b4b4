"""Signed documents from the e-signature provider (DocuSeal's ``form.completed`` webhook).

A delivery is handled in three steps, so that a replay or a failure never leaves half a result:

1. ``parse_completed`` reads the payload (after the route checked the shared secret): the
   event id (``form.completed:<submitter id>``: DocuSeal sends one event per signer), the deal
   (``metadata.deal_id``, set by whoever created the submission), the signer and the document
   URLs. Anything missing is a ``EsignError`` naming the field.
2. ``fetch_documents`` (blocking; run off the event loop) downloads each signed PDF, but only from
   ``HK_ESIGN_BASE_URL``'s origin (a payload cannot point the API at any other URL), streaming
   it into the content-addressed store with a size cap; it must be a PDF by its bytes, and the
   stored object is read back and hashed before it counts (when the provider names a SHA-256,
   that too must match). Storing first is safe: an object is keyed by its hash, so a replay or
   a retry stores nothing new, and an object no row links to is never served.
3. ``record_completion`` runs in one transaction: the ``app.webhook_events`` row (unique by
   provider and event id: a replay finds it and changes nothing), the ``app.documents`` rows
   linked to the deal, and the lead's move offer_made → under_contract once the whole
   submission is signed. A lead already past offer_made is not moved back or forward.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import psycopg
from psycopg.rows import dict_row

from hk_core.documents import (
    ChecksumMismatch,
    DocumentStore,
    DocumentTooLarge,
    StoredObject,
    UnsupportedContent,
)
from hk_core.settings import Settings
from orchestrator import funnel
from orchestrator.audit import Auditor
from orchestrator.documents import record_document

PROVIDER = "docuseal"
ACTOR = "webhook:docuseal"
COMPLETED = "form.completed"
DEFAULT_KIND = "purchase_contract"
KINDS = ("purchase_contract", "assignment_contract", "disclosure", "other")
MAX_DOCUMENTS = 20
CHUNK = 1 << 16


class EsignError(Exception):
    """A delivery that cannot be used: ``status`` is the HTTP answer, the message names why."""

    def __init__(self, status: int, message: str, *, field: str | None = None):
        super().__init__(message)
        self.status = status
        self.field = field


@dataclass(frozen=True)
class SignedFile:
    name: str
    url: str
    sha256: str | None = None


@dataclass(frozen=True)
class Completion:
    event_id: str
    event_type: str
    deal_id: int
    kind: str
    submitter: dict[str, Any]
    submission_id: int | str | None
    submission_completed: bool
    files: tuple[SignedFile, ...] = field(default=())


def secret_matches(sent: str | None, secret: str) -> bool:
    """Constant time, whatever the length or content of what was sent."""
    if sent is None:
        return False
    return hmac.compare_digest(
        hashlib.sha256(sent.encode()).digest(), hashlib.sha256(secret.encode()).digest()
    )


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise EsignError(422, f"{name}: expected a positive integer", field=name)
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or not 1 <= value <= 2**63 - 1:
        raise EsignError(422, f"{name}: expected a positive integer, got {value!r}", field=name)
    return value


def parse_completed(body: bytes) -> Completion:
    """The parts of a DocuSeal ``form.completed`` payload this platform uses."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise EsignError(422, f"body: not JSON ({exc})", field="body") from None
    if not isinstance(payload, dict):
        raise EsignError(422, "body: expected a JSON object", field="body")
    event_type = payload.get("event_type")
    if not isinstance(event_type, str) or not event_type:
        raise EsignError(422, "event_type: required", field="event_type")
    data = payload.get("data")
    if not isinstance(data, dict):
        raise EsignError(422, "data: expected an object", field="data")
    submitter_id = _positive_int(data.get("id"), "data.id")
    event_id = f"{event_type}:{submitter_id}"
    if event_type != COMPLETED:
        return Completion(event_id, event_type, 0, DEFAULT_KIND, {}, None, False)
    raw_submission = data.get("submission")
    submission: dict[str, Any] = raw_submission if isinstance(raw_submission, dict) else {}
    metadata: dict[str, Any] = {}
    for source in (submission.get("metadata"), data.get("metadata")):
        if isinstance(source, dict):
            metadata.update(source)
    if "deal_id" not in metadata:
        raise EsignError(
            422, "data.metadata.deal_id: required (set it when creating the submission)",
            field="data.metadata.deal_id",
        )  # fmt: skip
    deal_id = _positive_int(metadata["deal_id"], "data.metadata.deal_id")
    kind = metadata.get("document_kind", DEFAULT_KIND)
    if kind not in KINDS:
        raise EsignError(
            422, f"data.metadata.document_kind: one of {', '.join(KINDS)}",
            field="data.metadata.document_kind",
        )  # fmt: skip
    documents = data.get("documents")
    if not isinstance(documents, list) or not documents:
        raise EsignError(
            422, "data.documents: at least one signed document", field="data.documents"
        )
    if len(documents) > MAX_DOCUMENTS:
        raise EsignError(422, f"data.documents: at most {MAX_DOCUMENTS}", field="data.documents")
    files = []
    for index, document in enumerate(documents):
        name = f"data.documents[{index}]"
        if not isinstance(document, dict) or not isinstance(document.get("url"), str):
            raise EsignError(422, f"{name}.url: required", field=f"{name}.url")
        sha = document.get("sha256") or document.get("checksum")
        if sha is not None and (
            not isinstance(sha, str)
            or len(sha) != 64
            or not all(c in "0123456789abcdef" for c in sha)
        ):
            raise EsignError(422, f"{name}.sha256: 64 lowercase hex digits", field=f"{name}.sha256")
        file_name = document.get("name") if isinstance(document.get("name"), str) else None
        files.append(SignedFile((file_name or f"signed-{index + 1}")[:255], document["url"], sha))
    signer = {
        key: data[key]
        for key in ("email", "name", "role", "completed_at")
        if isinstance(data.get(key), str)
    }
    signer["submitter_id"] = submitter_id
    status = submission.get("status")
    return Completion(
        event_id=event_id, event_type=event_type, deal_id=deal_id, kind=kind, submitter=signer,
        submission_id=submission.get("id") or data.get("submission_id"),
        # Older payloads carry no submission object: a completed form is then taken as the
        # submission's completion (a single signer).
        submission_completed=status is None or status == "completed",
        files=tuple(files),
    )  # fmt: skip


def _same_origin(url: str, base: str) -> bool:
    a, b = urlsplit(url), urlsplit(base)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port) and a.scheme in (
        "http",
        "https",
    )


def fetch_documents(
    completion: Completion, settings: Settings, store: DocumentStore
) -> list[tuple[SignedFile, StoredObject]]:
    """Download and store each signed PDF (blocking): the stored objects, in payload order."""
    base = settings.esign_base_url
    if not base:
        raise EsignError(503, "HK_ESIGN_BASE_URL is not set: signed documents cannot be fetched")
    stored = []
    timeout = httpx.Timeout(settings.esign_fetch_timeout_seconds)
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        for index, signed in enumerate(completion.files):
            name = f"data.documents[{index}].url"
            if not _same_origin(signed.url, base):
                raise EsignError(
                    422, f"{name}: not on HK_ESIGN_BASE_URL's origin ({base})", field=name
                )
            stored.append((signed, _fetch_one(client, signed, name, settings, store)))
    return stored


def _fetch_one(
    client: httpx.Client, signed: SignedFile, name: str, settings: Settings, store: DocumentStore
) -> StoredObject:
    try:
        with client.stream("GET", signed.url) as response:
            if response.status_code != 200:
                # The provider's problem, maybe passing: 502, so that it retries the delivery.
                raise EsignError(502, f"{name}: the provider answered {response.status_code}")
            with store.begin(max_bytes=settings.esign_max_document_bytes) as pending:
                for chunk in response.iter_bytes(CHUNK):
                    pending.write(chunk)
                obj = pending.commit()
    except httpx.HTTPError as exc:
        raise EsignError(502, f"{name}: fetching failed ({type(exc).__name__})") from None
    except DocumentTooLarge as exc:
        raise EsignError(422, f"{name}: {exc}", field=name) from None
    except UnsupportedContent as exc:
        raise EsignError(422, f"{name}: {exc}", field=name) from None
    if obj.content_type != "application/pdf":
        raise EsignError(422, f"{name}: a signed document must be a PDF, got {obj.content_type}")
    if signed.sha256 is not None and signed.sha256 != obj.sha256:
        raise EsignError(
            422, f"{name}: the document's SHA-256 is {obj.sha256}, the payload says {signed.sha256}",
            field=name,
        )  # fmt: skip
    try:
        store.verify(obj.storage_key, obj.sha256)
    except ChecksumMismatch as exc:
        raise EsignError(502, f"{name}: the stored copy does not hash back ({exc})") from None
    return obj


@dataclass(frozen=True)
class Outcome:
    replay: bool
    status: int
    body: dict[str, Any]


async def seen(conn: psycopg.AsyncConnection, event_id: str) -> Outcome | None:
    """The answer already given to this event, if it was delivered before."""
    cur = await conn.execute(
        "select outcome, detail from app.webhook_events where provider = %s and event_id = %s",
        (PROVIDER, event_id),
    )
    row = await cur.fetchone()
    if row is None:
        return None
    return Outcome(True, 200, {"event_id": event_id, "outcome": row[0], **row[1]})


async def check_deal(conn: psycopg.AsyncConnection, deal_id: int) -> None:
    """Refuse an unknown deal before anything is fetched (``record_completion`` checks again)."""
    cur = await conn.execute("select 1 from app.deals where deal_id = %s", (deal_id,))
    if await cur.fetchone() is None:
        raise EsignError(
            422, f"data.metadata.deal_id: no deal {deal_id}", field="data.metadata.deal_id"
        )


async def record_ignored(conn: psycopg.AsyncConnection, completion: Completion) -> Outcome:
    """An event type this platform does not act on: recorded once, answered 200."""
    detail = {"reason": f"event type {completion.event_type} is not acted on"}
    earlier = await _claim(conn, completion, "ignored", detail)
    if earlier is not None:
        return earlier
    return Outcome(False, 200, {"event_id": completion.event_id, "outcome": "ignored", **detail})


async def _claim(
    conn: psycopg.AsyncConnection, completion: Completion, outcome: str, detail: dict[str, Any]
) -> Outcome | None:
    """Insert the event row; the earlier answer when another delivery got there first."""
    cur = await conn.execute(
        "insert into app.webhook_events (provider, event_id, event_type, outcome, detail) "
        "values (%s, %s, %s, %s, %s) on conflict (provider, event_id) do nothing "
        "returning webhook_event_id",
        (
            PROVIDER,
            completion.event_id,
            completion.event_type,
            outcome,
            orjson.dumps(detail).decode(),
        ),
    )
    if await cur.fetchone() is not None:
        return None
    earlier = await seen(conn, completion.event_id)
    assert earlier is not None
    return earlier


async def record_completion(
    conn: psycopg.AsyncConnection,
    auditor: Auditor,
    completion: Completion,
    stored: list[tuple[SignedFile, StoredObject]],
) -> Outcome:
    """In one transaction: the event, the documents on the deal, the stage move."""
    async with conn.transaction():
        cur = await conn.cursor(row_factory=dict_row).execute(
            "select deal_id, lead_id from app.deals where deal_id = %s for no key update",
            (completion.deal_id,),
        )
        deal = await cur.fetchone()
        if deal is None:
            raise EsignError(
                422, f"data.metadata.deal_id: no deal {completion.deal_id}",
                field="data.metadata.deal_id",
            )  # fmt: skip
        lead_id = deal["lead_id"]
        # Claimed first and filled in below: a concurrent replay waits on this row's insert,
        # then finds it and answers as this delivery did.
        earlier = await _claim(conn, completion, "stored", {})
        if earlier is not None:
            return earlier
        documents = []
        for signed, obj in stored:
            row = await record_document(
                conn, auditor, obj=obj, lead_id=lead_id, deal_id=completion.deal_id,
                kind=completion.kind, filename=signed.name, uploaded_by=ACTOR, source="esign",
                signed=True, signers=[completion.submitter], external_id=completion.event_id,
            )  # fmt: skip
            documents.append(row["document_id"])
        stage = await funnel.current_stage(conn, lead_id)
        moved = None
        if completion.submission_completed and stage == "offer_made":
            move = await funnel.move_stage(
                conn, lead_id, "under_contract", actor=ACTOR,
                reason=f"contract signed (DocuSeal submission {completion.submission_id})",
            )  # fmt: skip
            moved = move.stage
        detail = {
            "deal_id": completion.deal_id, "lead_id": lead_id, "documents": documents,
            "stage": moved or stage, "moved": moved is not None,
        }  # fmt: skip
        await conn.execute(
            "update app.webhook_events set detail = %s where provider = %s and event_id = %s",
            (orjson.dumps(detail).decode(), PROVIDER, completion.event_id),
        )
        return Outcome(False, 201, {"event_id": completion.event_id, "outcome": "stored", **detail})
