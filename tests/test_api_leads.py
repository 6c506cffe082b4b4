"""The intake API against the real server and the real database."""

from __future__ import annotations

import concurrent.futures
import threading

import httpx
import orjson
import pytest
from helpers import metric_delta, wait_for

from hk_core.settings import get_settings
from serving.app import create_app
from serving.background import BackgroundServer

LEAD = {
    "source": "web_form", "external_id": "WF-100", "received_at": "2025-05-01T12:00:00Z",
    "first_name": "Ana", "last_name": "Reyes", "email": "ana.reyes@example.com",
    "phone": "512-555-0199", "property_street": "9 Elm St", "property_city": "Austin",
    "property_state": "TX", "property_zip": "78702", "bedrooms": 3, "asking_price": 250000,
}  # fmt: skip


def test_post_stores_and_get_returns_the_lead(client, db):
    response = client.post("/v1/leads", json=LEAD)
    assert response.status_code == 201, response.text
    lead_id = response.json()["lead_id"]
    assert response.headers["location"] == f"/v1/leads/{lead_id}"
    got = client.get(f"/v1/leads/{lead_id}").json()
    assert got["phone_e164"] == "+15125550199"
    assert got["email"] == LEAD["email"] and got["source"] == "web_form"
    row = db.execute("select email_hash, phone_hash, intake_channel from app.leads").fetchone()
    assert row[0] and row[1] and row[2] == "api"
    assert len(row[0]) == 64 and "ana" not in row[0]


def test_missing_or_wrong_api_key_is_401(api_base, db):
    assert httpx.post(f"{api_base}/v1/leads", json=LEAD).status_code == 401
    wrong = httpx.post(f"{api_base}/v1/leads", json=LEAD, headers={"X-API-Key": "hk_deadbeef_nope"})
    assert wrong.status_code == 401
    assert httpx.get(f"{api_base}/v1/leads/1", headers={"X-API-Key": "garbage"}).status_code == 401
    assert db.execute("select count(*) from app.leads").fetchone()[0] == 0


def test_revoked_key_is_refused(api_base, db):
    from hk_core.apikeys import create_api_key, revoke_api_key

    key, token = create_api_key(db, "short-lived")
    revoke_api_key(db, key.prefix)
    response = httpx.post(f"{api_base}/v1/leads", json=LEAD, headers={"X-API-Key": token})
    assert response.status_code == 401


def test_a_real_prefix_with_a_wrong_secret_is_401(api_base, api_key, db):
    prefix = api_key[len("hk_") :].split("_", 1)[0]
    forged = f"hk_{prefix}_{'A' * 43}"
    real = httpx.post(f"{api_base}/v1/leads", json=LEAD, headers={"X-API-Key": api_key})
    assert real.status_code == 201  # the prefix is now known and its key cached
    for method, path in (("POST", "/v1/leads"), ("GET", "/v1/leads/1")):
        refused = httpx.request(method, f"{api_base}{path}", json=LEAD,
                                headers={"X-API-Key": forged})  # fmt: skip
        assert refused.status_code == 401, (path, refused.text)
    assert db.execute("select count(*) from app.leads").fetchone()[0] == 1


def test_a_revoked_key_is_refused_once_the_key_cache_expires(db):
    from hk_core.apikeys import create_api_key, revoke_api_key

    settings = get_settings().model_copy(update={"api_key_cache_seconds": 0.5})
    key, token = create_api_key(db, "soon-revoked")
    headers = {"X-API-Key": token}
    with BackgroundServer(create_app(settings, migrate=False)) as base:
        assert httpx.post(f"{base}/v1/leads", json=LEAD, headers=headers).status_code == 201
        revoke_api_key(db, key.prefix)  # right after a request: the key is in the cache

        def refused() -> bool:
            return httpx.get(f"{base}/v1/leads/1", headers=headers).status_code == 401

        assert wait_for(refused, seconds=15), "a revoked key kept working past the cache TTL"


def test_same_source_and_external_id_is_stored_once(client, db):
    first = client.post("/v1/leads", json=LEAD)
    second = client.post("/v1/leads", json={**LEAD, "first_name": "Changed"})
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json() == {**first.json(), "created": False}
    assert db.execute("select count(*) from app.leads").fetchone()[0] == 1


def test_same_external_id_from_two_sources_is_two_leads(client, db):
    # Two vendors both number their leads from 1: their lead 1s are different sellers.
    first = client.post("/v1/leads", json={**LEAD, "source": "vendor_a", "external_id": "1"})
    other = client.post(
        "/v1/leads",
        json={**LEAD, "source": "vendor_b", "external_id": "1", "first_name": "Bo"},
    )
    assert (first.status_code, other.status_code) == (201, 201), other.text
    assert other.json()["lead_id"] != first.json()["lead_id"]
    again = client.post("/v1/leads", json={**LEAD, "source": "vendor_b", "external_id": "1"})
    assert (again.status_code, again.json()["lead_id"]) == (200, other.json()["lead_id"])
    stored = db.execute("select source, first_name from app.leads order by source").fetchall()
    assert stored == [("vendor_a", "Ana"), ("vendor_b", "Bo")]


def test_identical_lead_without_external_id_is_stored_once(client, db):
    lead = {k: v for k, v in LEAD.items() if k != "external_id"}
    assert client.post("/v1/leads", json=lead).status_code == 201
    assert client.post("/v1/leads", json=lead).status_code == 200
    assert db.execute("select count(*) from app.leads").fetchone()[0] == 1


def test_idempotency_key_replays_the_first_response(client, db):
    headers = {"Idempotency-Key": "abc-123"}
    first = client.post("/v1/leads", json=LEAD, headers=headers)
    # Key order and spacing differ, the document does not: still a replay.
    same_doc = orjson.dumps(dict(reversed(list(LEAD.items()))))
    replay = client.post(
        "/v1/leads", content=same_doc, headers={**headers, "content-type": "application/json"}
    )
    assert first.status_code == replay.status_code == 201
    assert replay.content == first.content
    different = client.post("/v1/leads", json={**LEAD, "first_name": "Other"}, headers=headers)
    assert different.status_code == 422
    assert "Idempotency-Key" in different.json()["detail"]
    assert db.execute("select count(*) from app.leads").fetchone()[0] == 1


def test_concurrent_duplicates_get_409_and_store_once(client, db, api_base, api_key):
    # Hold the idempotency lock from outside, as an in-flight first request would.
    import hashlib

    import psycopg

    key_id = db.execute("select key_id from app.api_keys").fetchone()[0]
    digest = hashlib.blake2b(f"{key_id}:race-1".encode(), digest_size=8).digest()
    lock_id = int.from_bytes(digest, "big", signed=True)
    with psycopg.connect(db.info.dsn) as holder:
        holder.execute("select pg_advisory_xact_lock(%s)", (lock_id,))
        blocked = client.post("/v1/leads", json=LEAD, headers={"Idempotency-Key": "race-1"})
        assert blocked.status_code == 409
    # And a real race: many at once, exactly one lead and every answer a 201, 200 or 409.
    barrier = threading.Barrier(8)

    def post(_):
        barrier.wait()
        with httpx.Client(base_url=api_base, headers={"X-API-Key": api_key}) as c:
            return c.post("/v1/leads", json={**LEAD, "external_id": "race-2"},
                          headers={"Idempotency-Key": "race-2"})  # fmt: skip

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = [r.status_code for r in pool.map(post, range(8))]
    assert set(statuses) <= {201, 409}, statuses
    assert statuses.count(201) >= 1
    n = db.execute("select count(*) from app.leads where external_id = 'race-2'").fetchone()[0]
    assert n == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**LEAD, "bedrooms": "many"}, "bedrooms"),
        ({**LEAD, "email": None, "phone": None}, "email"),
        ({**LEAD, "received_at": "not a date"}, "received_at"),
        ({**LEAD, "first_name": "nul\u0000byte"}, "first_name"),
        ({**LEAD, "asking_price": -1}, "asking_price"),
        ({**LEAD, "year_built": 99999}, "year_built"),
        ({**LEAD, "property_street": {"nested": 1}}, "property_street"),
    ],
)
def test_bad_input_is_422_naming_the_field(client, body, field):
    response = client.post("/v1/leads", json=body)
    assert response.status_code == 422, response.text
    locs = [item["loc"] for item in response.json()["detail"]]
    assert ["body", field] in locs, locs


@pytest.mark.parametrize(
    "content",
    [b"{not json", b'{"source": "x"\x00}', b"[1, 2]", b"", b"\xff\xfe", b'"just a string"'],
)
def test_malformed_bodies_are_4xx_never_500(client, content):
    response = client.post(
        "/v1/leads", content=content, headers={"content-type": "application/json"}
    )
    assert 400 <= response.status_code < 500, (content, response.status_code, response.text)


@pytest.mark.parametrize(
    "text",
    [
        "Robert'); DROP TABLE app.leads;--",
        "' OR '1'='1",
        "🏚️ Zoë Ōtsuka 👨‍👩‍👧",
        "\u202eRTL override\u202c and عربي",
        "zero\u200bwidth\u200djoiner\ufeff",
        "tab\tnew\nline",
    ],
)
def test_hostile_strings_round_trip_byte_for_byte(client, text):
    lead = {**LEAD, "external_id": None, "first_name": text, "notes": text, "property_street": text}
    response = client.post("/v1/leads", json=lead)
    assert response.status_code == 201, response.text
    got = client.get(f"/v1/leads/{response.json()['lead_id']}").json()
    assert got["first_name"].encode() == text.encode()
    assert got["notes"].encode() == text.encode()
    assert got["property_street"].encode() == text.encode()


def test_get_unknown_or_bad_id(client):
    assert client.get("/v1/leads/999999").status_code == 404
    assert client.get("/v1/leads/abc").status_code == 422
    assert client.get("/v1/leads/99999999999999999999999").status_code == 422


def test_health_and_metrics(api_base, client):
    assert httpx.get(f"{api_base}/health/live").json()["status"] == "ok"
    ready = httpx.get(f"{api_base}/health/ready")
    assert ready.status_code == 200 and ready.json()["database"] == "ok"
    before = httpx.get(f"{api_base}/metrics").text
    assert client.post("/v1/leads", json=LEAD).status_code == 201
    after = httpx.get(f"{api_base}/metrics").text
    created = 'hk_http_request_duration_seconds_count{method="POST",route="/v1/leads",status="201"}'
    assert metric_delta(after, before, created) == 1


def test_unrecognised_category_is_stored_with_a_warning(client):
    response = client.post("/v1/leads", json={**LEAD, "timeline": "when the stars align"})
    assert response.status_code == 201
    assert response.json()["warnings"] == [
        "timeline: unrecognised value 'when the stars align' stored as 'unknown'"
    ]
    got = client.get(f"/v1/leads/{response.json()['lead_id']}").json()
    assert got["timeline"] == "unknown" and got["intake_warnings"] == response.json()["warnings"]


def test_a_key_deleted_while_cached_is_401_not_500(client, api_base, db):
    from hk_core.apikeys import create_api_key

    key, token = create_api_key(db, "short-lived")
    headers = {"X-API-Key": token}
    assert httpx.get(f"{api_base}/v1/leads/1", headers=headers).status_code == 404  # now cached
    db.execute("delete from app.api_keys where key_id = %s", (key.key_id,))
    response = httpx.post(
        f"{api_base}/v1/leads", json={**LEAD, "external_id": "GONE-1"}, headers=headers
    )
    assert response.status_code == 401
    keyed = httpx.post(f"{api_base}/v1/leads", json={**LEAD, "external_id": "GONE-2"},
                       headers={**headers, "Idempotency-Key": "k1"})  # fmt: skip
    assert keyed.status_code == 401
