"""Scoped API keys, read from the OpenAPI schema: every route names one scope and refuses a key
without it; the only routes without a key are health, metrics and signed webhooks. CORS too."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from pydantic import SecretStr, ValidationError

from hk_core.apikeys import SCOPES, ScopeError, create_api_key, parse_scopes
from hk_core.settings import Settings, get_settings
from serving.app import create_app
from serving.background import BackgroundServer

HK = str(Path(sys.executable).with_name("hk"))
ORIGIN = "https://app.hiddenkey.example"
# Reached without an API key. Webhooks are checked below to refuse an unsigned request, and
# the unsubscribe link carries an HMAC of its message id (tests/test_inbound.py).
PUBLIC = {
    ("get", "/health/live"), ("get", "/health/ready"), ("get", "/metrics"),
    ("get", "/v1/unsubscribe/{token}"), ("post", "/v1/unsubscribe/{token}"),
}  # fmt: skip
WEBHOOK_PREFIX = "/v1/webhooks/"
# A lead webhook provider of the shipped file, given a secret by the fixture below.
PATH_VALUES = {"prefix": "0badc0de", "token": "x", "provider": "propertyleads"}
LEAD_WEBHOOK_SECRET_ENV = "HK_WEBHOOK_SECRET_PROPERTYLEADS"


def _secured_settings(**extra) -> Settings:
    """Every webhook secret set, so a webhook answers for its signature, never "off"."""
    return get_settings().model_copy(
        update={
            "sms_auth_token": SecretStr("sms-token"),
            "esign_webhook_secret": SecretStr("esign-secret"),
            "cors_origins": [ORIGIN],
            **extra,
        }
    )


@pytest.fixture(scope="module")
def scoped_api(database_url) -> Iterator[tuple[str, dict]]:
    get_settings.cache_clear()
    saved = os.environ.get(LEAD_WEBHOOK_SECRET_ENV)
    os.environ[LEAD_WEBHOOK_SECRET_ENV] = "lead-webhook-secret"
    try:
        with BackgroundServer(create_app(_secured_settings(), migrate=False)) as base:
            schema = httpx.get(f"{base}/openapi.json").json()
            yield base, schema
    finally:
        if saved is None:
            os.environ.pop(LEAD_WEBHOOK_SECRET_ENV, None)
        else:
            os.environ[LEAD_WEBHOOK_SECRET_ENV] = saved


def _operations(schema: dict) -> Iterator[tuple[str, str, dict]]:
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "patch", "put", "delete"):
                yield method, path, operation


def _declared_scopes(operation: dict) -> list[str]:
    return sorted(
        {scope for req in operation.get("security", []) for s in req.values() for scope in s}
    )


def _url(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES.get(m.group(1), "1"), path)


def test_every_route_declares_one_known_scope_or_is_public(scoped_api):
    _, schema = scoped_api
    unprotected = []
    for method, path, operation in _operations(schema):
        scopes = _declared_scopes(operation)
        if not scopes:
            if (method, path) not in PUBLIC and not path.startswith(WEBHOOK_PREFIX):
                unprotected.append(f"{method.upper()} {path}")
            continue
        assert len(scopes) == 1, f"{method.upper()} {path} declares {scopes}"
        assert scopes[0] in SCOPES, f"{method.upper()} {path}: unknown scope {scopes[0]}"
    assert not unprotected, f"routes without a scope: {unprotected}"


def test_every_route_refuses_a_key_without_its_scope(scoped_api, db):
    base, schema = scoped_api
    without = {
        s: create_api_key(db, f"all-but-{s}", [o for o in SCOPES if o != s])[1] for s in SCOPES
    }
    only = {s: create_api_key(db, f"only-{s}", [s])[1] for s in SCOPES}
    checked: set[str] = set()
    with httpx.Client(base_url=base, timeout=30) as http:
        for method, path, operation in _operations(schema):
            scopes = _declared_scopes(operation)
            if not scopes:
                continue
            scope, url = scopes[0], _url(path)
            refused = http.request(method, url, headers={"X-API-Key": without[scope]})
            assert refused.status_code == 403, (method, path, refused.status_code, refused.text)
            assert repr(scope) in refused.json()["detail"]
            assert http.request(method, url).status_code == 401, (method, path)
            allowed = http.request(method, url, headers={"X-API-Key": only[scope]})
            assert allowed.status_code not in (401, 403), (method, path, allowed.text)
            checked.add(scope)
    assert checked == set(SCOPES)  # the walk really walked, through every scope


def test_webhooks_without_a_signature_are_refused(scoped_api):
    base, schema = scoped_api
    hooks = [(m, p) for m, p, op in _operations(schema) if p.startswith(WEBHOOK_PREFIX)]
    assert ("post", "/v1/webhooks/leads/{provider}") in hooks
    for method, path in hooks:
        response = httpx.request(method, base + _url(path), content=b"{}")
        assert response.status_code == 401, (method, path, response.status_code, response.text)


def test_the_score_fast_path_also_needs_the_read_scope(scoped_api, db):
    base, _ = scoped_api
    ingest_only = create_api_key(db, "ingest-only", ["ingest"])[1]
    response = httpx.get(f"{base}/v1/leads/1/score", headers={"X-API-Key": ingest_only})
    assert response.status_code == 403
    assert "'read'" in response.json()["detail"]


def test_admin_keys_create_list_and_revoke_keys_over_http(scoped_api, db):
    base, _ = scoped_api
    admin = {"X-API-Key": create_api_key(db, "admin", ["admin"])[1]}
    created = httpx.post(
        f"{base}/v1/api-keys",
        json={"name": "front end", "scopes": ["read", "ingest"]},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["scopes"] == ["ingest", "read"]  # canonical order
    token = body["token"]
    assert httpx.post(f"{base}/v1/leads", json={}, headers={"X-API-Key": token}).status_code == 422
    assert httpx.get(f"{base}/v1/tasks", headers={"X-API-Key": token}).status_code == 403
    listed = httpx.get(f"{base}/v1/api-keys", headers=admin).json()["keys"]
    assert [k["prefix"] for k in listed if k["name"] == "front end"] == [body["prefix"]]
    assert all("token" not in k and "key_hash" not in k for k in listed)
    revoked = httpx.post(f"{base}/v1/api-keys/{body['prefix']}/revoke", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    # This process forgets the key at once; others within HK_API_KEY_CACHE_SECONDS.
    assert httpx.get(f"{base}/v1/leads/1", headers={"X-API-Key": token}).status_code == 401
    again = httpx.post(f"{base}/v1/api-keys/{body['prefix']}/revoke", headers=admin)
    assert again.status_code == 404
    bad = httpx.post(f"{base}/v1/api-keys", json={"name": "x", "scopes": ["root"]}, headers=admin)
    assert bad.status_code == 422 and "root" in bad.text
    actions = [r[0] for r in db.execute(
        "select action from app.task_audit where chain = 'api-keys' order by audit_id"
    )]  # fmt: skip
    assert actions == ["api_key_created", "api_key_revoked"]


def test_keys_made_before_scopes_keep_every_scope(db):
    db.execute(
        "insert into app.api_keys (name, prefix, key_hash) values ('old', 'abcdef01', '\\x00')"
    )
    row = db.execute("select scopes from app.api_keys where prefix = 'abcdef01'").fetchone()
    assert tuple(row[0]) == SCOPES
    with pytest.raises(psycopg.errors.CheckViolation):
        db.execute(
            "insert into app.api_keys (name, prefix, key_hash, scopes) "
            "values ('bad', 'abcdef02', '\\x00', '{root}')"
        )


def test_scope_lists_are_parsed_strictly():
    assert parse_scopes(" Read , ingest,read") == ("ingest", "read")
    with pytest.raises(ScopeError, match="unknown scope root"):
        parse_scopes("read,root")
    with pytest.raises(ScopeError, match="at least one"):
        parse_scopes(" , ")


def test_cli_creates_lists_and_revokes_scoped_keys(db):
    def hk(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([HK, "api-keys", *args], capture_output=True, text=True, timeout=120)

    created = hk("create", "reporting", "--scopes", "read")
    assert created.returncode == 0, created.stderr
    assert "scopes read" in created.stdout
    token = created.stdout.strip().splitlines()[-1]
    prefix = token.split("_")[1]
    row = db.execute("select scopes from app.api_keys where prefix = %s", (prefix,)).fetchone()
    assert list(row[0]) == ["read"]
    listed = hk("ls")
    assert prefix in listed.stdout and "reporting" in listed.stdout
    assert token not in listed.stdout
    bad = hk("create", "x", "--scopes", "read,everything")
    assert bad.returncode == 2 and "everything" in bad.stderr
    assert hk("revoke", prefix).returncode == 0
    assert db.execute(
        "select revoked_at from app.api_keys where prefix = %s", (prefix,)
    ).fetchone()[0]
    gone = hk("revoke", prefix)
    assert gone.returncode == 1 and "no live API key" in gone.stderr
    assert prefix not in hk("ls").stdout and prefix in hk("ls", "--all").stdout


def test_metrics_can_require_an_admin_key(db):
    admin = create_api_key(db, "admin", ["admin"])[1]
    reader = create_api_key(db, "reader", ["read"])[1]
    with BackgroundServer(
        create_app(_secured_settings(metrics_public=False), migrate=False)
    ) as base:
        assert httpx.get(f"{base}/metrics").status_code == 401
        assert httpx.get(f"{base}/metrics", headers={"X-API-Key": reader}).status_code == 403
        ok = httpx.get(f"{base}/metrics", headers={"X-API-Key": admin})
        assert ok.status_code == 200 and "hk_" in ok.text


# -- CORS ------------------------------------------------------------------------------------


def test_a_preflight_from_a_listed_origin_is_allowed(scoped_api):
    base, _ = scoped_api
    response = httpx.options(
        f"{base}/v1/leads",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-api-key, content-type, idempotency-key",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"
    allowed = response.headers["access-control-allow-headers"].lower()
    assert "x-api-key" in allowed and "idempotency-key" in allowed
    assert "POST" in response.headers["access-control-allow-methods"]


def test_other_origins_get_no_cors_headers(scoped_api, api_key):
    base, _ = scoped_api
    preflight = httpx.options(
        f"{base}/v1/leads",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers
    simple = httpx.get(f"{base}/health/live", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in simple.headers
    listed = httpx.get(f"{base}/v1/leads/1", headers={"Origin": ORIGIN, "X-API-Key": api_key})
    assert listed.headers["access-control-allow-origin"] == ORIGIN
    assert "location" in listed.headers.get("access-control-expose-headers", "").lower()


def test_a_wildcard_origin_is_refused_by_settings():
    for value in ("*", "https://*.example.com", "app.example.com"):
        with pytest.raises(ValidationError, match="HK_CORS_ORIGINS"):
            Settings(cors_origins=value)
