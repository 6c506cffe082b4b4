"""POST /v1/leads without an Idempotency-Key skips FastAPI (serving/intake_fastpath.py): its
answers and rows are held to the route's, which every request with an Idempotency-Key takes."""

from __future__ import annotations

import sys

import httpx
import orjson
import pytest
from test_api_leads import LEAD

from hk_core.apikeys import create_api_key
from hk_core.contract import LeadIn
from hk_core.pii import PiiHasher
from hk_core.records import LEAD_INSERT_COLUMNS, LeadRecordBuilder
from hk_core.settings import get_settings
from serving.app import create_app
from serving.background import BackgroundServer
from serving.routers import leads

# Headers whose value differs between any two responses, or names the lead.
_VARYING = {"date", "location"}


@pytest.fixture
def paths(monkeypatch) -> list[str]:
    """Which code prepared each lead: the fast path's ``__call__`` or the route."""
    seen: list[str] = []
    prepare = leads.prepare

    def recording(*args, **kwargs):
        seen.append(sys._getframe(1).f_code.co_name)
        return prepare(*args, **kwargs)

    monkeypatch.setattr(leads, "prepare", recording)
    return seen


def _shape(response: httpx.Response) -> tuple:
    body = response.json()
    lead_id = body.pop("lead_id", None)
    if lead_id is not None:
        assert response.headers["location"] == f"/v1/leads/{lead_id}"
    headers = sorted((k, v) for k, v in response.headers.items() if k not in _VARYING)
    return response.status_code, headers, body


def _hasher() -> PiiHasher:
    settings = get_settings()
    return PiiHasher(
        settings.pii_key.get_secret_value(),
        default_region=settings.default_phone_region,
        check_deliverability=settings.email_check_deliverability,
    )


@pytest.mark.parametrize(
    "lead",
    [
        LEAD,
        {**LEAD, "property_type": "houseboat", "condition": "so-so"},  # warnings
        {k: v for k, v in LEAD.items() if k != "external_id"},  # content dedup key
    ],
    ids=["plain", "warnings", "no-external-id"],
)
def test_fast_path_answers_and_stores_as_the_route_does(client, db, paths, lead):
    fast = client.post("/v1/leads", json=lead)
    fast_again = client.post("/v1/leads", json=lead)
    assert paths == ["__call__", "__call__"]
    other = {**lead, "source": "other_form"}
    routed = client.post("/v1/leads", json=other, headers={"Idempotency-Key": "a"})
    routed_again = client.post("/v1/leads", json=other, headers={"Idempotency-Key": "b"})
    assert paths[2:] == ["create_lead", "create_lead"]
    assert fast.status_code == 201 and fast_again.status_code == 200
    assert _shape(fast) == _shape(routed)
    assert _shape(fast_again) == _shape(routed_again)
    assert fast.content == fast_again.content.replace(b'"created":false', b'"created":true')

    # The stored row is LeadRecordBuilder's, column for column.
    lead_id = fast.json()["lead_id"]
    key_id = db.execute("select key_id from app.api_keys where name = 'tests'").fetchone()[0]
    columns = ", ".join(LEAD_INSERT_COLUMNS)
    stored = db.execute(f"select {columns} from app.leads where lead_id = %s", (lead_id,))
    row = stored.fetchone()
    parsed = LeadIn.model_validate_json(orjson.dumps(lead))
    warnings = parsed.warnings(lead)
    assert warnings == fast.json()["warnings"]
    assert bool(warnings) == (lead.get("property_type") == "houseboat")
    builder = LeadRecordBuilder(_hasher(), channel="api", api_key_id=key_id)
    expected = builder.row(parsed, warnings)  # every case sends received_at
    for name, got, want in zip(LEAD_INSERT_COLUMNS, row, expected, strict=True):
        if name == "intake_warnings" and want is not None:
            want = orjson.loads(want)  # jsonb comes back parsed
        assert got == want, name


def test_refusals_come_from_the_route(client, api_base, db, paths):
    _, read_only = create_api_key(db, "reader", scopes=["read"])
    bad_body = client.post("/v1/leads", json={**LEAD, "bedrooms": "many"})
    no_scope = httpx.post(f"{api_base}/v1/leads", json=LEAD, headers={"X-API-Key": read_only})
    no_key = httpx.post(f"{api_base}/v1/leads", json=LEAD)
    assert (bad_body.status_code, no_scope.status_code, no_key.status_code) == (422, 403, 401)
    assert no_key.headers["www-authenticate"] == "ApiKey"
    assert paths == []  # none of them reached prepare
    assert db.execute("select count(*) from app.leads").fetchone()[0] == 0


def test_rate_limited_fast_path_answers_as_the_route_does(db):
    settings = get_settings().model_copy(update={"rate_limit_per_minute": 1})
    _, token = create_api_key(db, "limited-fast")
    headers = {"X-API-Key": token}
    with BackgroundServer(
        create_app(settings, migrate=False, rate_limit_clock=lambda: 0.0)
    ) as base:
        assert httpx.post(f"{base}/v1/leads", json=LEAD, headers=headers).status_code == 201
        fast = httpx.post(f"{base}/v1/leads", json=LEAD, headers=headers)
        routed = httpx.post(
            f"{base}/v1/leads", json=LEAD, headers={**headers, "Idempotency-Key": "k"}
        )
    assert fast.status_code == 429
    assert _shape(fast) == _shape(routed)
    assert db.execute("select count(*) from app.leads").fetchone()[0] == 1
