"""Documents on real parts: uploads streamed through the real API into a local lake and into S3
(moto's server), typed by their bytes, capped, cut off, tampered with, deleted and audited."""

from __future__ import annotations

import base64
import hashlib
import os
import random
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from lake_fixtures import make_bucket

from hk_core.documents import DocumentStore, sniff_content_type, storage_key_for
from hk_core.settings import get_settings
from serving.app import create_app
from serving.background import BackgroundServer

CAP = 12 << 20
LEAD = {"source": "web_form", "first_name": "Ana", "phone": "512-555-0199",
        "property_street": "9 Elm St", "property_state": "TX", "property_zip": "78702"}  # fmt: skip
TO_OFFER = ("contacted", "qualified", "appointment_set", "offer_made")
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64)


@dataclass
class DocsApi:
    base: str
    store: DocumentStore

    def temp_files(self) -> list[Path]:
        return list(self.store.temp_dir.glob(".tmp-*")) if self.store.temp_dir.is_dir() else []


@pytest.fixture(scope="module", params=["local", "s3"])
def docs_api(request, database_url, tmp_path_factory) -> Iterator[DocsApi]:
    home = tmp_path_factory.mktemp("docs-home")
    update: dict = {"home": home, "document_max_bytes": CAP, "lake_url": str(home / "lake")}
    if request.param == "s3":
        endpoint = request.getfixturevalue("moto_s3")
        update |= {"lake_url": f"s3://{make_bucket(endpoint)}/lake", "s3_endpoint_url": endpoint}
    get_settings.cache_clear()
    settings = get_settings().model_copy(update=update)
    with BackgroundServer(create_app(settings, migrate=False)) as base:
        yield DocsApi(base, DocumentStore.from_settings(settings))


def _empty_store(store: DocumentStore) -> None:
    for key in _stored_keys(store):
        if store.is_s3:
            store.s3.delete_object(Bucket=store.bucket, Key=key)
        else:
            os.unlink(key)


@pytest.fixture
def api(docs_api, api_key) -> Iterator[httpx.Client]:
    """A client of the documents API over an empty store (``db`` empties the tables)."""
    _empty_store(docs_api.store)
    with httpx.Client(base_url=docs_api.base, headers={"X-API-Key": api_key}, timeout=60) as c:
        yield c


@pytest.fixture
def local_api(docs_api, api) -> httpx.Client:
    if docs_api.store.is_s3:
        pytest.skip("the API serves bytes itself only from a local lake")
    return api


def pdf_bytes(size: int, seed: int = 0) -> bytes:
    return b"%PDF-1.7\n" + random.Random(seed).randbytes(size - 9)


def _lead(client: httpx.Client) -> int:
    response = client.post("/v1/leads", json={**LEAD, "external_id": uuid.uuid4().hex})
    assert response.status_code == 201, response.text
    return response.json()["lead_id"]


def _deal(client: httpx.Client) -> tuple[int, int]:
    lead_id = _lead(client)
    for stage in TO_OFFER:
        response = client.post(f"/v1/leads/{lead_id}/stage", json={"stage": stage})
        assert response.status_code == 200, response.text
    return lead_id, client.get(f"/v1/leads/{lead_id}/deal").json()["deal_id"]


def _upload(client, path: str, content: bytes, *, filename="contract.pdf", kind="other",
            **fields) -> httpx.Response:  # fmt: skip
    data = {"kind": kind, **{k: str(v) for k, v in fields.items()}}
    return client.post(path, data=data, files={"file": (filename, content)})


def _audit_actions(db, lead_id: int) -> list[str]:
    rows = db.execute(
        "select action from app.task_audit where chain = %s order by audit_id", (f"lead:{lead_id}",)
    ).fetchall()
    return [r[0] for r in rows if r[0].startswith("document_")]


def _objects(db) -> int:
    return db.execute("select count(*) from app.document_objects").fetchone()[0]


def _stored_keys(store: DocumentStore) -> list[str]:
    if not store.is_s3:
        root = Path(store.root) / "documents"
        return sorted(str(p) for p in root.rglob("*") if p.is_file() and ".tmp" not in p.parts)
    listed = store.s3.list_objects_v2(Bucket=store.bucket, Prefix=store.prefix + "/documents/")
    return sorted(o["Key"] for o in listed.get("Contents", []))


def _content(client: httpx.Client, docs_api: DocsApi, document_id: int) -> httpx.Response:
    response = client.get(f"/v1/documents/{document_id}/content")
    if not docs_api.store.is_s3:
        return response
    assert response.status_code == 307, response.text
    location = response.headers["location"]
    assert location.startswith(docs_api.store.s3_endpoint_url)
    assert "X-Amz-Expires=300" in location
    return httpx.get(location, timeout=60)


@pytest.mark.parametrize("size", [200_000, 9 << 20], ids=["small", "multipart"])
def test_round_trip_is_byte_identical_and_audited(docs_api, api, db, size):
    lead_id = _lead(api)
    content = pdf_bytes(size, seed=size)
    response = _upload(api, f"/v1/leads/{lead_id}/documents", content, filename="Offer é.pdf",
                       kind="disclosure")  # fmt: skip
    assert response.status_code == 201, response.text
    doc = response.json()
    assert doc["content_type"] == "application/pdf"
    assert doc["size_bytes"] == size and doc["lead_id"] == lead_id and doc["deal_id"] is None
    assert doc["filename"] == "Offer é.pdf" and doc["kind"] == "disclosure"
    assert doc["uploaded_by"] == "api-key:tests" and doc["signed"] is False
    assert api.get(f"/v1/documents/{doc['document_id']}").json() == doc

    got = _content(api, docs_api, doc["document_id"])
    assert got.status_code == 200
    assert got.content == content
    assert got.headers["content-type"] == "application/pdf"
    assert "Offer%20%C3%A9.pdf" in got.headers["content-disposition"]
    issued = "document_url_issued" if docs_api.store.is_s3 else "document_downloaded"
    assert _audit_actions(db, lead_id) == ["document_stored", issued]
    assert docs_api.temp_files() == []


def test_same_bytes_twice_one_object_two_documents(docs_api, api, db):
    lead_id, deal_id = _deal(api)
    content = pdf_bytes(50_000, seed=7)
    first = _upload(api, f"/v1/deals/{deal_id}/documents", content, kind="purchase_contract")
    second = _upload(api, f"/v1/leads/{lead_id}/documents", content, filename="again.pdf")
    assert (first.status_code, second.status_code) == (201, 201), second.text
    assert first.json()["sha256"] == second.json()["sha256"]
    assert first.json()["deal_id"] == deal_id and first.json()["lead_id"] == lead_id
    assert _objects(db) == 1 and len(_stored_keys(docs_api.store)) == 1
    listed = api.get(f"/v1/leads/{lead_id}/documents").json()["documents"]
    assert [d["filename"] for d in listed] == ["contract.pdf", "again.pdf"]
    on_deal = api.get(f"/v1/deals/{deal_id}/documents").json()["documents"]
    assert [d["document_id"] for d in on_deal] == [first.json()["document_id"]]


def test_type_comes_from_the_bytes_not_the_name(docs_api, api, db):
    lead_id = _lead(api)
    png = _upload(api, f"/v1/leads/{lead_id}/documents", PNG, filename="scan.pdf", kind="photo")
    assert png.status_code == 201, png.text
    assert png.json()["content_type"] == "image/png"

    text = _upload(api, f"/v1/leads/{lead_id}/documents", b"hello, I am a PDF\n" * 100)
    assert text.status_code == 415
    assert "look like text" in text.json()["detail"]
    assert _objects(db) == 1 and len(_stored_keys(docs_api.store)) == 1
    assert docs_api.temp_files() == []


def test_refused_fields_store_nothing(docs_api, api, db):
    lead_id = _lead(api)
    bad_kind = _upload(api, f"/v1/leads/{lead_id}/documents", PNG, kind="selfie")
    assert bad_kind.status_code == 422 and bad_kind.json()["detail"][0]["loc"] == ["body", "kind"]
    bad_signers = _upload(api, f"/v1/leads/{lead_id}/documents", PNG, signers="{not json")
    assert bad_signers.status_code == 422
    no_file = api.post(f"/v1/leads/{lead_id}/documents", data={"kind": "other"},
                       files={"other": ("x", b"y")})  # fmt: skip
    assert no_file.status_code == 422 and "file: required" in no_file.text
    assert _upload(api, "/v1/leads/999999/documents", PNG).status_code == 404
    assert _upload(api, "/v1/deals/999999/documents", PNG).status_code == 404
    assert api.post(f"/v1/leads/{lead_id}/documents", json={"kind": "other"}).status_code == 415
    assert _objects(db) == 0 and _stored_keys(docs_api.store) == []
    assert docs_api.temp_files() == []


def test_over_the_cap_is_413_and_nothing_is_stored(docs_api, api, db):
    lead_id = _lead(api)
    boundary = "capboundary"

    def chunked_body() -> Iterator[bytes]:
        # No Content-Length: the cap must hold while the body streams.
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"kind\"\r\n\r\nother\r\n"
               f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
               f"filename=\"big.pdf\"\r\n\r\n%PDF-1.7\n").encode()  # fmt: skip
        block = random.Random(3).randbytes(1 << 20)
        for _ in range(CAP // len(block) + 2):
            yield block
        yield f"\r\n--{boundary}--\r\n".encode()

    response = api.post(
        f"/v1/leads/{lead_id}/documents", content=chunked_body(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )  # fmt: skip
    assert response.status_code == 413
    assert f"cap of {CAP} bytes" in response.json()["detail"]
    # A declared length over the cap is refused before a byte of the body is read.
    with _raw_post(docs_api, api, f"/v1/leads/{lead_id}/documents", boundary,
                   CAP + (3 << 19)) as sock:  # fmt: skip
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert f"cap of {CAP} bytes".encode() in answer
    assert _objects(db) == 0 and _stored_keys(docs_api.store) == []
    assert docs_api.temp_files() == []


def _raw_post(docs_api: DocsApi, api: httpx.Client, path: str, boundary: str,
              length: int) -> socket.socket:  # fmt: skip
    """A socket that sent a POST's headers declaring ``length`` bytes, and no body yet."""
    host, port = docs_api.base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=60)
    sock.sendall(
        (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
         f"X-API-Key: {api.headers['X-API-Key']}\r\n"
         f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
         f"Content-Length: {length}\r\n\r\n").encode()
    )  # fmt: skip
    return sock


def _wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, f"never saw {what}"
        time.sleep(0.02)


def test_upload_cut_off_halfway_leaves_no_object_no_row_no_temp_file(docs_api, api, db):
    lead_id = _lead(api)
    boundary = "cutboundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"kind\"\r\n\r\nother\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"cut.pdf\"\r\n\r\n%PDF-1.7\n").encode()  # fmt: skip
    file_bytes = 4 << 20
    total = len(head) + file_bytes + len(f"\r\n--{boundary}--\r\n")
    with _raw_post(docs_api, api, f"/v1/leads/{lead_id}/documents", boundary, total) as sock:
        sock.sendall(head)
        sock.sendall(random.Random(5).randbytes(file_bytes // 2))
        # The server is spooling this upload; then the client goes away.
        _wait_for(lambda: docs_api.temp_files(), "the upload's temp file")
    _wait_for(lambda: not docs_api.temp_files(), "the temp file removed")
    assert _objects(db) == 0 and _stored_keys(docs_api.store) == []
    assert db.execute("select count(*) from app.documents").fetchone()[0] == 0
    assert _audit_actions(db, lead_id) == []
    # The server is fine afterwards.
    assert _upload(api, f"/v1/leads/{lead_id}/documents", PNG).status_code == 201


def _tamper(store: DocumentStore, sha256: str) -> None:
    path = Path(store.root) / storage_key_for(sha256)
    with open(path, "r+b") as file:
        file.seek(os.path.getsize(path) - 1)
        last = file.read(1)
        file.seek(-1, os.SEEK_END)
        file.write(bytes([last[0] ^ 0xFF]))


@pytest.mark.parametrize("size", [100_000, 9 << 20], ids=["checked-first", "streamed"])
def test_tampered_bytes_are_quarantined(docs_api, local_api, db, size):
    lead_id = _lead(local_api)
    doc = _upload(local_api, f"/v1/leads/{lead_id}/documents", pdf_bytes(size, seed=11)).json()
    _tamper(docs_api.store, doc["sha256"])
    url = f"/v1/documents/{doc['document_id']}/content"
    if size <= 8 << 20:
        response = local_api.get(url)
        assert response.status_code == 409
        detail = response.json()["detail"]
        assert detail.startswith("document quarantined: its bytes no longer match sha256 ")
        assert doc["sha256"] in detail
    else:
        # The headers went out before the last byte was read: the stream is cut, never
        # completed with bad bytes.
        with pytest.raises(httpx.RemoteProtocolError):
            local_api.get(url)
    reason = db.execute(
        "select quarantine_reason from app.document_objects where sha256 = %s", (doc["sha256"],)
    ).fetchone()[0]
    assert reason.startswith(f"its bytes no longer match sha256 {doc['sha256']}")
    again = local_api.get(url)
    assert again.status_code == 409 and reason in again.json()["detail"]
    assert local_api.get(f"/v1/documents/{doc['document_id']}").json()["quarantined"] is True
    assert "document_quarantined" in _audit_actions(db, lead_id)


def test_signed_documents_are_kept_unsigned_ones_deleted(docs_api, api, db):
    lead_id, deal_id = _deal(api)
    signers = '[{"name": "Ana", "email": "ana@example.com"}]'
    signed = _upload(api, f"/v1/deals/{deal_id}/documents", pdf_bytes(30_000, seed=1),
                     kind="purchase_contract", signed="true", signers=signers).json()  # fmt: skip
    assert signed["signed"] is True and signed["signers"] == [
        {"name": "Ana", "email": "ana@example.com"}
    ]
    plain = _upload(api, f"/v1/deals/{deal_id}/documents", PNG, kind="photo").json()

    refused = api.delete(f"/v1/documents/{signed['document_id']}")
    assert refused.status_code == 409
    assert "signed documents are kept (retention)" in refused.json()["detail"]
    assert api.delete(f"/v1/documents/{plain['document_id']}").status_code == 204
    assert api.get(f"/v1/documents/{plain['document_id']}").status_code == 410
    assert api.get(f"/v1/documents/{plain['document_id']}/content").status_code == 410
    assert api.delete(f"/v1/documents/{plain['document_id']}").status_code == 410
    assert api.get("/v1/documents/999999").status_code == 404
    listed = api.get(f"/v1/deals/{deal_id}/documents").json()["documents"]
    assert [d["document_id"] for d in listed] == [signed["document_id"]]
    assert _audit_actions(db, lead_id) == ["document_stored", "document_stored",
                                           "document_deleted"]  # fmt: skip
    deleted_by = db.execute(
        "select deleted_by from app.documents where document_id = %s", (plain["document_id"],)
    ).fetchone()[0]
    assert deleted_by == "api-key:tests"


@pytest.mark.parametrize("size", [1000, (8 << 20) * 2 + 5], ids=["put", "multipart"])
def test_s3_is_sent_a_sha256_of_every_body_it_stores(moto_s3, tmp_path, size):
    """moto stores what it is sent without checking checksums, so the test checks that each
    PUT and each part carried the SHA-256 of its own bytes (real S3 refuses a mismatch)."""
    store = DocumentStore(f"s3://{make_bucket(moto_s3)}/lake", s3_endpoint_url=moto_s3,
                          temp_dir=str(tmp_path / "spool"))  # fmt: skip
    sent: list[tuple[str, bool]] = []

    def check(request, **_) -> None:
        if request.method == "PUT" and request.body:
            body = request.body if isinstance(request.body, bytes) else request.body.read()
            if hasattr(request.body, "seek"):
                request.body.seek(0)
            claimed = request.headers.get("x-amz-checksum-sha256", b"")
            claimed = claimed.decode() if isinstance(claimed, bytes) else claimed
            expected = base64.b64encode(hashlib.sha256(body).digest()).decode()
            sent.append((request.url, claimed == expected))

    store.s3.meta.events.register("before-send.s3.*", check)
    content = pdf_bytes(size, seed=size)
    with store.begin(max_bytes=size) as pending:
        for start in range(0, size, 1 << 20):
            pending.write(content[start : start + (1 << 20)])
        obj = pending.commit()
    assert obj.sha256 == hashlib.sha256(content).hexdigest()
    assert sent and all(ok for _, ok in sent), sent
    assert len(sent) == (1 if size <= 8 << 20 else 3)
    assert b"".join(store.read(obj, obj.sha256)) == content
    # Stored once: the same bytes again are not sent again.
    sent.clear()
    with store.begin(max_bytes=size) as pending:
        pending.write(content)
        assert pending.commit() == obj
    assert sent == [] and list(tmp_path.joinpath("spool").iterdir()) == []


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"%PDF-1.4\n", "application/pdf"),
        (b"\x89PNG\r\n\x1a\n\x00", "image/png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
        (b"GIF89a\x01\x00", "image/gif"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"II*\x00\x08\x00", "image/tiff"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00", "image/heic"),
        (b"PK\x03\x04", None),
        (b"%PD", None),
        (b"", None),
    ],
)
def test_sniff_content_type_reads_magic_numbers(head, expected):
    assert sniff_content_type(head) == expected


def test_record_document_for_an_esignature_in_the_callers_transaction(db, settings, tmp_path):
    """The seam the e-signature webhook uses: store the bytes, then record them as signed,
    inside a transaction of the caller's that can still roll back."""
    import asyncio

    from task_fixtures import insert_leads

    from orchestrator.audit import Auditor, audit_key
    from orchestrator.documents import DocumentError, delete_document, record_document

    lead_id, other_lead = insert_leads(db, 2)
    store = DocumentStore(str(tmp_path / "lake"))
    with store.begin(max_bytes=1 << 20) as pending:
        pending.write(pdf_bytes(5000, seed=9))
        obj = pending.commit()
    auditor = Auditor(audit_key(settings))
    signers = [{"name": "Ana", "email": "ana@example.com", "signed_at": "2026-12-06T10:00:00Z"}]

    async def go() -> tuple[dict, list[int]]:
        import psycopg

        async with await psycopg.AsyncConnection.connect(settings.database_url) as conn:
            async with conn.transaction():
                doc = await record_document(
                    conn, auditor, obj=obj, lead_id=lead_id, deal_id=None,
                    kind="purchase_contract", filename="signed.pdf", uploaded_by="esign:acme",
                    source="esign", signed=True, signers=signers, external_id="env-1",
                )  # fmt: skip
                refused = []
                for call in (
                    lambda: record_document(conn, auditor, obj=obj, lead_id=999_999, deal_id=None,
                                            kind="other", filename=None, uploaded_by="x"),
                    lambda: record_document(conn, auditor, obj=obj, lead_id=lead_id, deal_id=None,
                                            kind="contract", filename=None, uploaded_by="x"),
                    lambda: delete_document(conn, auditor, doc["document_id"], "someone"),
                ):  # fmt: skip
                    try:
                        await call()
                    except DocumentError as exc:
                        refused.append(exc.status)
            # Only the signed document committed; the refusals left nothing.
            return doc, refused

    doc, refused = asyncio.run(go())
    assert refused == [404, 422, 409]
    assert (doc["source"], doc["signed"], doc["external_id"]) == ("esign", True, "env-1")
    assert doc["signers"] == signers and doc["content_type"] == "application/pdf"
    assert db.execute("select count(*) from app.documents").fetchone()[0] == 1
    assert _audit_actions(db, lead_id) == ["document_stored"]
    assert _audit_actions(db, other_lead) == []
    # The table keeps signed documents whatever is asked of it.
    with pytest.raises(psycopg.errors.CheckViolation):
        db.execute("update app.documents set deleted_at = now() where document_id = %s",
                   (doc["document_id"],))  # fmt: skip


def test_spools_of_dead_uploads_are_swept_live_ones_kept(tmp_path):
    """A process killed mid-upload leaves its spool; the next API start removes it, but never
    the spool of an upload another process is writing right now."""
    store = DocumentStore(str(tmp_path / "lake"))
    dead = store.begin(max_bytes=1 << 20)
    dead.write(b"%PDF-1.7 half of a contract")
    dead._file.close()  # type: ignore[union-attr]  # the process is gone: nothing closes it
    old = time.time() - 2 * 24 * 3600
    os.utime(dead.spool_path, (old, old))
    with store.begin(max_bytes=1 << 20) as live:
        live.write(b"%PDF-1.7 arriving now")
        assert store.sweep_spools() == 1
        assert not dead.spool_path.exists() and live.spool_path.exists()
    assert store.sweep_spools() == 0
    assert DocumentStore(str(tmp_path / "nothing-yet")).sweep_spools() == 0
