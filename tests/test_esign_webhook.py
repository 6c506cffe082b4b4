"""DocuSeal's form.completed webhook on real parts: the API under uvicorn, Postgres, the document
store on a local folder and on S3 (moto), and a "DocuSeal" on loopback serving the signed PDFs."""

from __future__ import annotations

import concurrent.futures
import hashlib
import os
from collections.abc import Iterator

import httpx
import orjson
import pytest
from fastapi import FastAPI
from fastapi.responses import Response
from pydantic import SecretStr

from hk_core.settings import get_settings
from orchestrator.audit import audit_key, verify
from serving.app import create_app
from serving.background import BackgroundServer

SECRET = "docuseal-shared-secret"
HEADER = "X-Docuseal-Secret"
PATH = "/v1/webhooks/esign/docuseal"
LEAD = {"source": "web_form", "first_name": "Ana", "phone": "512-555-0199",
        "property_street": "9 Elm St", "property_state": "TX", "property_zip": "78702"}  # fmt: skip
TO_OFFER = ("contacted", "qualified", "appointment_set", "offer_made")
PDF = b"%PDF-1.7\n" + os.urandom(40_000) + b"\n%%EOF\n"


class DocuSeal:
    """The provider's file server: ``files[name] = bytes``; every GET is counted."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.gets = 0
        app = FastAPI()

        @app.get("/file/{name}")
        def file(name: str) -> Response:
            self.gets += 1
            if name not in self.files:
                return Response(status_code=404)
            return Response(self.files[name], media_type="application/pdf")

        self._server = BackgroundServer(app)

    def __enter__(self) -> DocuSeal:
        self.base_url = self._server.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._server.__exit__(*exc)


@pytest.fixture(scope="module")
def docuseal() -> Iterator[DocuSeal]:
    with DocuSeal() as server:
        yield server


@pytest.fixture(params=["local", "s3"])
def esign_api(request, database_url, docuseal, tmp_path) -> Iterator[str]:
    extra = {}
    if request.param == "s3":
        from lake_fixtures import make_bucket

        endpoint = request.getfixturevalue("moto_s3")
        extra = {"lake_url": f"s3://{make_bucket(endpoint)}/lake", "s3_endpoint_url": endpoint}
    else:
        extra = {"lake_url": str(tmp_path / "lake")}
    get_settings.cache_clear()
    settings = get_settings().model_copy(
        update={
            "esign_webhook_secret": SecretStr(SECRET),
            "esign_base_url": docuseal.base_url,
            **extra,
        }
    )
    with BackgroundServer(create_app(settings, migrate=False)) as base:
        yield base


def _deal(base: str, key: str) -> tuple[int, int]:
    with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=30) as client:
        response = client.post("/v1/leads", json={**LEAD, "external_id": os.urandom(6).hex()})
        assert response.status_code == 201, response.text
        lead_id = response.json()["lead_id"]
        for stage in TO_OFFER:
            moved = client.post(f"/v1/leads/{lead_id}/stage", json={"stage": stage})
            assert moved.status_code == 200, moved.text
        deal = client.get(f"/v1/leads/{lead_id}/deal").json()
    return lead_id, deal["deal_id"]


def _payload(docuseal: DocuSeal, deal_id: int, *, submitter: int = 7, name: str = "contract",
             sha256: str | None = None, status: str = "completed", event: str = "form.completed",
             url: str | None = None) -> bytes:  # fmt: skip
    document = {"name": f"{name}.pdf", "url": url or f"{docuseal.base_url}/file/{name}"}
    if sha256:
        document["sha256"] = sha256
    return orjson.dumps(
        {
            "event_type": event,
            "timestamp": "2026-12-06T12:00:00Z",
            "data": {
                "id": submitter, "submission_id": 99, "email": "seller@example.com",
                "name": "Ana Seller", "role": "Seller", "status": "completed",
                "completed_at": "2026-12-06T11:59:00Z",
                "metadata": {"deal_id": deal_id},
                "documents": [document],
                "submission": {"id": 99, "status": status},
            },
        }
    )  # fmt: skip


def _post(base: str, body: bytes, secret: str | None = SECRET) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[HEADER] = secret
    return httpx.post(base + PATH, content=body, headers=headers, timeout=60)


def _refusals(base: str, reason: str) -> float:
    metrics = httpx.get(f"{base}/metrics").text
    line = f'hk_webhook_refusals_total{{provider="docuseal",reason="{reason}"}} '
    found = [row for row in metrics.splitlines() if row.startswith(line)]
    return float(found[0].split()[-1]) if found else 0.0


def _counts(db, lead_id: int) -> dict[str, int]:
    one = lambda sql: db.execute(sql, (lead_id,)).fetchone()[0]  # noqa: E731
    return {
        "documents": one("select count(*) from app.documents where lead_id = %s"),
        "under_contract": one(
            "select count(*) from app.stage_events where lead_id = %s and stage = 'under_contract'"
        ),
        "events": db.execute("select count(*) from app.webhook_events").fetchone()[0],
        "objects": db.execute("select count(*) from app.document_objects").fetchone()[0],
    }


def test_a_signed_contract_is_stored_linked_and_moves_the_lead_once(
    esign_api, api_key, db, docuseal
):
    lead_id, deal_id = _deal(esign_api, api_key)
    docuseal.files["contract"] = PDF
    body = _payload(docuseal, deal_id, sha256=hashlib.sha256(PDF).hexdigest())
    first = _post(esign_api, body)
    assert first.status_code == 201, first.text
    assert first.json()["moved"] is True and first.json()["stage"] == "under_contract"
    assert _counts(db, lead_id) == {"documents": 1, "under_contract": 1, "events": 1, "objects": 1}
    row = db.execute(
        "select d.sha256, d.signed, d.source, d.deal_id, d.kind, d.signers, o.size_bytes "
        "from app.documents d join app.document_objects o using (sha256) where d.lead_id = %s",
        (lead_id,),
    ).fetchone()
    assert row[:5] == (hashlib.sha256(PDF).hexdigest(), True, "esign", deal_id, "purchase_contract")
    assert row[5][0]["email"] == "seller@example.com" and row[6] == len(PDF)
    gets = docuseal.gets
    for _ in range(10):
        again = _post(esign_api, body)
        assert again.status_code == 200, again.text
        assert again.headers["X-HK-Webhook-Replay"] == "true"
        assert again.json()["documents"] == first.json()["documents"]
    assert docuseal.gets == gets  # a replay does not fetch again
    assert _counts(db, lead_id) == {"documents": 1, "under_contract": 1, "events": 1, "objects": 1}
    deal = db.execute("select status from app.deals where deal_id = %s", (deal_id,)).fetchone()
    assert deal[0] == "under_contract"
    # The stored bytes are the signed PDF, read back through the API.
    document_id = first.json()["documents"][0]
    with httpx.Client(base_url=esign_api, headers={"X-API-Key": api_key}, timeout=60) as client:
        content = client.get(f"/v1/documents/{document_id}/content", follow_redirects=True)
        assert content.status_code == 200 and content.content == PDF
        # Retention: a signed document cannot be deleted through the API.
        assert client.delete(f"/v1/documents/{document_id}").status_code == 409
    assert verify(db, audit_key(get_settings()), chain=f"lead:{lead_id}").ok


def test_concurrent_replays_store_one_of_everything(esign_api, api_key, db, docuseal):
    lead_id, deal_id = _deal(esign_api, api_key)
    docuseal.files["together"] = PDF + b"together"
    body = _payload(docuseal, deal_id, name="together", submitter=11)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: _post(esign_api, body), range(10)))
    assert sorted(a.status_code for a in answers) == [200] * 9 + [201], [a.text for a in answers]
    assert _counts(db, lead_id) == {"documents": 1, "under_contract": 1, "events": 1, "objects": 1}


@pytest.mark.parametrize("secret", [None, "wrong", SECRET + "x", ""])
def test_a_forged_delivery_is_401_and_stores_nothing(esign_api, api_key, db, docuseal, secret):
    lead_id, deal_id = _deal(esign_api, api_key)
    docuseal.files["forged"] = PDF + b"forged"
    gets = docuseal.gets
    reason = "missing" if secret is None else "mismatch"
    before = _refusals(esign_api, reason)
    response = _post(esign_api, _payload(docuseal, deal_id, name="forged"), secret=secret)
    assert response.status_code == 401, response.text
    assert _refusals(esign_api, reason) == before + 1  # every refusal is counted
    assert HEADER in response.json()["detail"]
    # Not parsed either: garbage with a wrong secret is still 401, not 422.
    assert _post(esign_api, b"{not json", secret="wrong").status_code == 401
    assert docuseal.gets == gets
    assert _counts(db, lead_id) == {"documents": 0, "under_contract": 0, "events": 0, "objects": 0}


def test_refusals(esign_api, api_key, db, docuseal):
    lead_id, deal_id = _deal(esign_api, api_key)
    docuseal.files["notpdf"] = b"\x89PNG\r\n\x1a\n" + b"0" * 100
    cases = {
        "elsewhere": _payload(docuseal, deal_id, url="http://127.0.0.2:9/file/x"),
        "notpdf": _payload(docuseal, deal_id, name="notpdf", submitter=2),
        "missing": _payload(docuseal, deal_id, name="gone", submitter=3),
        "no deal": _payload(docuseal, 10**12, submitter=4),
        "bad hash": _payload(docuseal, deal_id, submitter=5, sha256="0" * 64),
    }
    docuseal.files["contract"] = PDF
    expected = {"elsewhere": 422, "notpdf": 422, "missing": 502, "no deal": 422, "bad hash": 422}
    for name, body in cases.items():
        response = _post(esign_api, body)
        assert response.status_code == expected[name], (name, response.text)
    no_deal_id = orjson.loads(_payload(docuseal, deal_id))
    del no_deal_id["data"]["metadata"]["deal_id"]
    response = _post(esign_api, orjson.dumps(no_deal_id))
    assert response.status_code == 422 and "data.metadata.deal_id" in response.text
    assert _counts(db, lead_id)["documents"] == 0
    assert _counts(db, lead_id)["events"] == 0
    # An event it does not act on is recorded once and answered 200.
    other = _payload(docuseal, deal_id, event="form.viewed", submitter=6)
    assert _post(esign_api, other).status_code == 200
    assert _post(esign_api, other).headers["X-HK-Webhook-Replay"] == "true"
    assert _counts(db, lead_id)["events"] == 1


def test_a_partly_signed_submission_stores_the_document_but_does_not_move(
    esign_api, api_key, db, docuseal
):
    lead_id, deal_id = _deal(esign_api, api_key)
    docuseal.files["first-signer"] = PDF + b"first"
    response = _post(
        esign_api, _payload(docuseal, deal_id, name="first-signer", status="pending", submitter=21)
    )
    assert response.status_code == 201, response.text
    assert response.json()["moved"] is False
    assert _counts(db, lead_id)["documents"] == 1
    assert _counts(db, lead_id)["under_contract"] == 0


def test_off_without_a_secret(api_base):
    response = httpx.post(api_base + PATH, content=b"{}", headers={HEADER: "anything"})
    assert response.status_code == 404
