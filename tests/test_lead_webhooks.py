"""Lead webhooks on the real API and the real database: signatures, replays, mapping, metrics,
automations, and the providers file (docs/webhooks.md)."""

from __future__ import annotations

import concurrent.futures
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import psycopg
import pytest
from helpers import metric_delta
from ops_fixtures import settings_from, settled

from hk_core.apikeys import create_api_key
from hk_core.intake.webhooks import (
    DEFAULT_LEAD_WEBHOOKS_FILE,
    WebhookConfigError,
    load_lead_webhooks,
    parse_lead_webhooks,
)
from hk_core.settings import get_settings
from hk_core.webhook_signature import SignatureError, sign, verify
from serving.app import create_app
from serving.background import BackgroundServer

SECRET = "whsec-acme-current"
OLD_SECRET = "whsec-acme-previous"
FORM_SECRET = "whsec-form"
ENV = {
    "HK_TEST_WEBHOOK_ACME": SECRET,
    "HK_TEST_WEBHOOK_ACME_OLD": OLD_SECRET,
    "HK_TEST_WEBHOOK_FORM": FORM_SECRET,
}
HOOKS_FILE = """
providers:
  acme:
    secret_env: [HK_TEST_WEBHOOK_ACME, HK_TEST_WEBHOOK_ACME_OLD]
    event_id: event.id
    event_type: event.type
    fields:
      external_id: lead.id
      received_at: lead.created_at
      first_name: lead.contact.first
      last_name: lead.contact.last
      email: lead.contact.email
      phone: lead.contact.phone
      property_street: lead.home.street
      property_city: lead.home.city
      property_state: lead.home.state
      property_zip: lead.home.zip
      bedrooms: lead.home.beds
      asking_price: lead.asking
      condition: lead.home.condition
      consent_sms: lead.consent.sms
      consent_email: lead.consent.email
  formco:
    secret_env: HK_TEST_WEBHOOK_FORM
    event_id: /event_id
    fields:
      full_name: answers[ref=name].text
      email: answers[ref=email].email
      property_street: answers[ref=address].address.line1
      property_zip: answers[ref=address].address.postal_code
    constants:
      source: web_form
  dormant:
    secret_env: HK_TEST_WEBHOOK_NEVER_SET
    event_id: id
    fields:
      email: email
"""
EVENT = {
    "event": {"id": "evt_1001", "type": "lead.purchased"},
    "lead": {
        "id": "PL-1", "created_at": "2026-12-01T15:00:00Z",
        "contact": {"first": "Ana", "last": "Reyes", "email": "ana.reyes@example.com",
                    "phone": "512-555-0199"},
        "home": {"street": "9 Elm St", "city": "Austin", "state": "TX", "zip": "78702",
                 "beds": 3, "condition": "falling apart-ish"},
        "asking": "250,000", "consent": {"sms": "yes", "email": True},
    },
}  # fmt: skip
# The same lead in the contract's own words, as POST /v1/leads takes it.
CONTRACT_LEAD = {
    "source": "acme", "external_id": "PL-1", "received_at": "2026-12-01T15:00:00Z",
    "first_name": "Ana", "last_name": "Reyes", "email": "ana.reyes@example.com",
    "phone": "512-555-0199", "property_street": "9 Elm St", "property_city": "Austin",
    "property_state": "TX", "property_zip": "78702", "bedrooms": 3, "asking_price": "250,000",
    "condition": "falling apart-ish", "consent_sms": "yes", "consent_email": True,
}  # fmt: skip
# Where a lead came from and which door, not what it is.
ORIGIN_COLUMNS = {"lead_id", "dedup_key", "intake_channel", "api_key_id", "ingested_at"}


def _event(event_id: str = "evt_1001", lead_id: str = "PL-1", **lead) -> dict:
    event = orjson.loads(orjson.dumps(EVENT))
    event["event"]["id"] = event_id
    event["lead"]["id"] = lead_id
    event["lead"].update(lead)
    return event


def _signed(body: bytes, secret: str = SECRET, t: int | None = None) -> dict[str, str]:
    stamp = int(time.time()) if t is None else t
    return {"X-HK-Signature": sign(body, secret, stamp), "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def hooks_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hooks") / "lead_webhooks.yaml"
    path.write_text(HOOKS_FILE)
    return path


@pytest.fixture(scope="module")
def secrets_env() -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in ENV}
    os.environ.update(ENV)
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def _app(hooks_file: Path, **extra):
    get_settings.cache_clear()
    settings = get_settings().model_copy(update={"lead_webhooks_file": hooks_file, **extra})
    return create_app(settings, migrate=False)


@pytest.fixture(scope="module")
def hook_base(database_url, hooks_file, secrets_env) -> Iterator[str]:
    with BackgroundServer(_app(hooks_file)) as base:
        yield base


@pytest.fixture
def hdb(db: psycopg.Connection) -> psycopg.Connection:
    """The emptied schema, webhook events included."""
    db.execute("truncate app.webhook_events restart identity")
    return db


def _post(base: str, provider: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{base}/v1/webhooks/leads/{provider}", content=body, headers=headers)


def _counts(db: psycopg.Connection) -> tuple[int, int]:
    leads = db.execute("select count(*) from app.leads").fetchone()[0]
    events = db.execute("select count(*) from app.webhook_events").fetchone()[0]
    return leads, events


def _lead_row(db: psycopg.Connection, lead_id: int) -> dict:
    cur = db.cursor(row_factory=psycopg.rows.dict_row)
    return cur.execute("select * from app.leads where lead_id = %s", (lead_id,)).fetchone()


# -- storing a lead ---------------------------------------------------------------------------


def test_a_signed_lead_is_stored_as_post_v1_leads_would_store_it(hook_base, hdb, api_key):
    body = orjson.dumps(_event())
    response = _post(hook_base, "acme", body, _signed(body))
    assert response.status_code == 201, response.text
    answer = response.json()
    assert answer["created"] is True and answer["event_id"] == "evt_1001"
    assert answer["warnings"] == [
        "condition: unrecognised value 'falling apart-ish' stored as 'unknown'"
    ]
    assert response.headers["location"] == f"/v1/leads/{answer['lead_id']}"
    assert "x-hk-webhook-replay" not in response.headers
    hooked = _lead_row(hdb, answer["lead_id"])
    assert hooked["intake_channel"] == "webhook" and hooked["api_key_id"] is None
    assert hooked["source"] == "acme"  # no source mapped: the provider is the source

    # The same contract fields through POST /v1/leads (another id, so not a duplicate).
    headers = {"X-API-Key": api_key}
    api = httpx.post(f"{hook_base}/v1/leads", json={**CONTRACT_LEAD, "external_id": "PL-2"},
                     headers=headers)  # fmt: skip
    assert api.status_code == 201, api.text
    assert api.json()["warnings"] == answer["warnings"]
    posted = _lead_row(hdb, api.json()["lead_id"])
    assert posted["intake_channel"] == "api"
    differ = {c for c in hooked if hooked[c] != posted[c]} - ORIGIN_COLUMNS
    assert differ == {"external_id"}, {c: (hooked[c], posted[c]) for c in differ}

    # And the dedup key is shared: the vendor's lead sent by API is the same lead.
    again = httpx.post(f"{hook_base}/v1/leads", json=CONTRACT_LEAD, headers=headers)
    assert again.status_code == 200 and again.json()["lead_id"] == answer["lead_id"]
    event = hdb.execute(
        "select provider, event_id, event_type, outcome, detail from app.webhook_events"
    ).fetchone()
    assert event[:4] == ("acme", "evt_1001", "lead.purchased", "created")
    assert event[4]["lead_id"] == answer["lead_id"] and event[4]["status"] == 201


def test_a_new_event_for_a_lead_already_stored_is_a_duplicate(hook_base, hdb):
    first = orjson.dumps(_event("evt_a"))
    assert _post(hook_base, "acme", first, _signed(first)).status_code == 201
    second = orjson.dumps(_event("evt_b"))  # the vendor re-sent the lead as a new event
    response = _post(hook_base, "acme", second, _signed(second))
    assert response.status_code == 200, response.text
    assert response.json()["created"] is False
    assert "x-hk-webhook-replay" not in response.headers
    assert _counts(hdb) == (1, 2)
    outcomes = [r[0] for r in hdb.execute("select outcome from app.webhook_events order by 1")]
    assert outcomes == ["created", "duplicate"]


def test_nested_form_answers_map_onto_the_contract(hook_base, hdb):
    form = {
        "event_id": 77,
        "answers": [
            {"ref": "name", "text": "Bo Li"},
            {"ref": "email", "email": "bo@example.com"},
            {"ref": "address", "address": {"line1": "4 Oak Ave", "postal_code": "78704"}},
        ],
    }
    body = orjson.dumps(form)
    response = _post(hook_base, "formco", body, _signed(body, FORM_SECRET))
    assert response.status_code == 201, response.text
    assert response.json()["event_id"] == "77"
    row = _lead_row(hdb, response.json()["lead_id"])
    assert (row["first_name"], row["last_name"], row["source"]) == ("Bo", "Li", "web_form")
    assert (row["property_street"], row["property_zip"]) == ("4 Oak Ave", "78704")


# -- replays ----------------------------------------------------------------------------------


def test_replays_sequential_and_concurrent_make_one_lead_and_one_event(hook_base, hdb):
    body = orjson.dumps(_event("evt_replay"))
    headers = _signed(body)
    first = _post(hook_base, "acme", body, headers)
    assert first.status_code == 201
    lead_id = first.json()["lead_id"]
    for _ in range(10):
        replay = _post(hook_base, "acme", body, headers)
        assert replay.status_code == 200, replay.text
        assert replay.headers["x-hk-webhook-replay"] == "true"
        assert replay.json() == first.json()  # the first outcome, created: true included
    assert _counts(hdb) == (1, 1)

    # A fresh event delivered ten times at once: one wins, nine replay it.
    body = orjson.dumps(_event("evt_burst", lead_id="PL-9"))
    headers = _signed(body)
    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda _: _post(hook_base, "acme", body, headers), range(10)))
    assert sorted(a.status_code for a in answers) == [200] * 9 + [201]
    assert sum(a.headers.get("x-hk-webhook-replay") == "true" for a in answers) == 9
    assert len({a.json()["lead_id"] for a in answers}) == 1
    assert answers[0].json()["lead_id"] != lead_id
    assert _counts(hdb) == (2, 2)


def test_an_event_id_sent_again_with_another_body_gets_the_first_answer(hook_base, hdb):
    body = orjson.dumps(_event("evt_same"))
    first = _post(hook_base, "acme", body, _signed(body))
    other = orjson.dumps(_event("evt_same", lead_id="PL-other"))
    again = _post(hook_base, "acme", other, _signed(other))
    assert again.status_code == 200 and again.headers["x-hk-webhook-replay"] == "true"
    assert again.json() == first.json()
    assert _counts(hdb) == (1, 1)


# -- signatures -------------------------------------------------------------------------------


def test_bad_signatures_are_401_before_the_body_is_read(hook_base, hdb):
    before = httpx.get(f"{hook_base}/metrics").text
    good = orjson.dumps(_event())
    not_json = b'{"event": {"id": "evt_x"}, this is not json'
    now = int(time.time())
    cases = {
        "mismatch": [
            _signed(not_json, "wrong-secret"),  # wrong secret
            {"X-HK-Signature": f"t={now},v1={'0' * 64}"},  # forged
            # A valid signature of another body.
            {"X-HK-Signature": _signed(good)["X-HK-Signature"]},
        ],
        "missing": [{}, {"X-HK-Signature": ""}],
        "malformed": [
            {"X-HK-Signature": "sha256=abc"},
            {"X-HK-Signature": f"t={now}"},
            {"X-HK-Signature": f"t=yesterday,v1={'0' * 64}"},
            {"X-HK-Signature": f"t={now},v1=nothex"},
        ],
    }
    for reason, variants in cases.items():
        for headers in variants:
            response = _post(hook_base, "acme", not_json, headers)
            assert response.status_code == 401, (reason, headers, response.text)
            detail = response.json()["detail"]
            assert "X-HK-Signature" in detail and "JSON" not in detail, detail
    assert _counts(hdb) == (0, 0)
    after = httpx.get(f"{hook_base}/metrics").text
    for reason, variants in cases.items():
        series = f'hk_webhook_refusals_total{{provider="acme",reason="{reason}"}}'
        assert metric_delta(after, before, series) == len(variants), reason


def test_stale_and_future_timestamps_are_refused_with_the_reason(hook_base, hdb):
    before = httpx.get(f"{hook_base}/metrics").text
    body = orjson.dumps(_event())
    old = _post(hook_base, "acme", body, _signed(body, t=int(time.time()) - 3600))
    assert old.status_code == 401
    assert old.json()["detail"].startswith("stale timestamp: t is ")
    assert "seconds old, over the 300 seconds allowed" in old.json()["detail"]
    future = _post(hook_base, "acme", body, _signed(body, t=int(time.time()) + 3600))
    assert future.status_code == 401
    assert "seconds in the future, over the 300 seconds allowed" in future.json()["detail"]
    # Inside the tolerance (a vendor's clock a minute off) is fine.
    assert _post(hook_base, "acme", body, _signed(body, t=int(time.time()) - 60)).status_code == 201
    after = httpx.get(f"{hook_base}/metrics").text
    stale = 'hk_webhook_refusals_total{provider="acme",reason="stale"}'
    assert metric_delta(after, before, stale) == 2
    assert _counts(hdb) == (1, 1)


def test_the_tolerance_is_a_setting(database_url, hooks_file, secrets_env, hdb):
    body = orjson.dumps(_event())
    with BackgroundServer(_app(hooks_file, webhook_tolerance_seconds=5)) as base:
        response = _post(base, "acme", body, _signed(body, t=int(time.time()) - 60))
        assert response.status_code == 401
        assert "over the 5 seconds allowed" in response.json()["detail"]
    assert _counts(hdb) == (0, 0)


def test_either_secret_of_a_rotation_is_accepted(hook_base, hdb):
    old = orjson.dumps(_event("evt_old", lead_id="R-1"))
    assert _post(hook_base, "acme", old, _signed(old, OLD_SECRET)).status_code == 201
    new = orjson.dumps(_event("evt_new", lead_id="R-2"))
    assert _post(hook_base, "acme", new, _signed(new, SECRET)).status_code == 201
    # A vendor mid-rotation sends both signatures; one of ours matching is enough.
    both = orjson.dumps(_event("evt_both", lead_id="R-3"))
    t = int(time.time())
    header = (
        sign(both, "the-vendors-next-secret", t) + "," + sign(both, OLD_SECRET, t).split(",")[1]
    )
    response = _post(hook_base, "acme", both, {"X-HK-Signature": header})
    assert response.status_code == 201, response.text
    assert _counts(hdb) == (3, 3)


def test_unknown_providers_and_providers_without_a_secret_are_404(hook_base, hdb):
    before = httpx.get(f"{hook_base}/metrics").text
    body = orjson.dumps(_event())
    for provider, secret in (("nobody", SECRET), ("dormant", "")):
        response = _post(hook_base, provider, body, _signed(body, secret or "x"))
        assert response.status_code == 404, response.text
        assert "no such webhook" in response.json()["detail"]
    assert _counts(hdb) == (0, 0)
    after = httpx.get(f"{hook_base}/metrics").text
    # A name that is not in the file is not a label (anyone could mint series).
    unknown = 'hk_webhook_refusals_total{provider="(unknown)",reason="unknown_provider"}'
    dormant = 'hk_webhook_refusals_total{provider="dormant",reason="unknown_provider"}'
    assert metric_delta(after, before, unknown) == 1
    assert metric_delta(after, before, dormant) == 1
    assert 'provider="nobody"' not in after


# -- payloads ---------------------------------------------------------------------------------


def test_a_payload_with_no_valid_lead_is_422_naming_path_and_field(hook_base, hdb):
    before = httpx.get(f"{hook_base}/metrics").text
    event = _event("evt_bad")
    event["lead"]["home"]["beds"] = 400
    event["lead"]["asking"] = "lots"
    body = orjson.dumps(event)
    response = _post(hook_base, "acme", body, _signed(body))
    assert response.status_code == 422, response.text
    problems = {(p["field"], p["path"]): p["msg"] for p in response.json()["detail"]}
    assert set(problems) == {("bedrooms", "lead.home.beds"), ("asking_price", "lead.asking")}
    assert all(p["loc"] == ["body", p["path"]] for p in response.json()["detail"])
    assert _counts(hdb) == (0, 1)
    assert hdb.execute("select outcome from app.webhook_events").fetchone()[0] == "rejected"
    # A replay of the rejected event gets the same answer, flagged, and stores nothing.
    replay = _post(hook_base, "acme", body, _signed(body))
    assert replay.status_code == 422
    assert replay.headers["x-hk-webhook-replay"] == "true"
    assert replay.json() == response.json()
    assert _counts(hdb) == (0, 1)
    after = httpx.get(f"{hook_base}/metrics").text
    invalid = 'hk_webhook_refusals_total{provider="acme",reason="invalid_payload"}'
    assert metric_delta(after, before, invalid) == 2
    events = 'hk_webhook_events_total{outcome="%s",provider="acme"}'
    assert metric_delta(after, before, events % "rejected") == 1
    assert metric_delta(after, before, events % "replayed") == 1

    # A whole-record rule names the field it belongs to, and so the vendor's path for it.
    event = _event("evt_no_contact")
    event["lead"]["contact"] = {"first": "Ana"}
    body = orjson.dumps(event)
    response = _post(hook_base, "acme", body, _signed(body))
    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert (problem["field"], problem["path"]) == ("email", "lead.contact.email")
    assert "no contact" in problem["msg"]


def test_signed_bodies_that_are_not_json_or_lack_the_event_id_are_422(hook_base, hdb):
    not_json = b"{nope"
    response = _post(hook_base, "acme", not_json, _signed(not_json))
    assert response.status_code == 422
    assert response.json()["detail"][0]["msg"] == "the body is not JSON"
    event = _event()
    del event["event"]["id"]
    body = orjson.dumps(event)
    response = _post(hook_base, "acme", body, _signed(body))
    assert response.status_code == 422
    assert response.json()["detail"][0]["path"] == "event.id"
    event["event"]["id"] = "e" * 201  # not cut short: two long ids would become one event
    body = orjson.dumps(event)
    response = _post(hook_base, "acme", body, _signed(body))
    assert response.status_code == 422 and "at most 200" in response.json()["detail"][0]["msg"]
    assert _counts(hdb) == (0, 0)  # without an event id there is nothing to de-duplicate by


def test_events_metric_counts_outcomes(hook_base, hdb):
    before = httpx.get(f"{hook_base}/metrics").text
    body = orjson.dumps(_event("evt_m"))
    statuses = [_post(hook_base, "acme", body, _signed(body)).status_code for _ in range(3)]
    assert statuses == [201, 200, 200]
    after = httpx.get(f"{hook_base}/metrics").text
    events = 'hk_webhook_events_total{outcome="%s",provider="acme"}'
    assert metric_delta(after, before, events % "created") == 1
    assert metric_delta(after, before, events % "replayed") == 2


def test_metrics_behind_an_admin_key_show_the_refusals(database_url, hooks_file, secrets_env, hdb):
    admin = {"X-API-Key": create_api_key(hdb, "admin", ["admin"])[1]}
    with BackgroundServer(_app(hooks_file, metrics_public=False)) as base:
        before = httpx.get(f"{base}/metrics", headers=admin).text
        assert _post(base, "acme", b"{}", {}).status_code == 401
        after = httpx.get(f"{base}/metrics", headers=admin).text
    series = 'hk_webhook_refusals_total{provider="acme",reason="missing"}'
    assert metric_delta(after, before, series) == 1


# -- automations ------------------------------------------------------------------------------


def test_a_webhook_lead_gets_the_automations_an_api_lead_gets(ops, hooks_file, secrets_env, hdb):
    env, sms, smtp, worker = ops
    settings = settings_from(env).model_copy(update={"lead_webhooks_file": hooks_file})
    token = create_api_key(hdb, "automations")[1]
    now = datetime.now(UTC).isoformat()
    with BackgroundServer(create_app(settings, migrate=False)) as base:
        api_lead = {
            **CONTRACT_LEAD, "external_id": "API-1", "received_at": now,
            "phone": "+15125550001", "email": "api@example.com",
        }  # fmt: skip
        assert (
            httpx.post(f"{base}/v1/leads", json=api_lead, headers={"X-API-Key": token}).status_code
            == 201
        )
        event = _event("evt_auto", lead_id="HOOK-1", created_at=now)
        event["lead"]["contact"].update(phone="+15125550002", email="hook@example.com")
        body = orjson.dumps(event)
        assert _post(base, "acme", body, _signed(body)).status_code == 201
        worker()
        assert settled(hdb, expected=4)
    for phone in ("+15125550001", "+15125550002"):
        texts = [m for m in sms.messages if m["to"] == phone]
        assert len(texts) == 1, (phone, sms.messages)
    assert sorted(r for e in smtp.messages for r in e.rcpt_tos) == [
        "api@example.com", "hook@example.com"
    ]  # fmt: skip
    channels = dict(hdb.execute(
        "select l.intake_channel, e.payload->>'channel' from app.automation_events e "
        "join app.leads l using (lead_id) where e.kind = 'lead_created'"
    ).fetchall())  # fmt: skip
    assert channels == {"api": "api", "webhook": "webhook"}


# -- the providers file -----------------------------------------------------------------------


def test_the_providers_file_reports_every_problem_by_provider_and_field():
    broken = """
providers:
  acme:
    secret_env: HK_SECRET
    event_id: event..id
    fields:
      emial: contact.email
      phone: /contact/ph~2one
    constants:
      source: [a, b]
  Bad Name:
    event_id: id
    fields: {email: email}
  nofields:
    secret_env: [HK_A, lower_case]
    event_id: id
"""
    with pytest.raises(WebhookConfigError) as caught:
        parse_lead_webhooks(broken, "hooks.yaml", environ={})
    message = str(caught.value)
    for expected in (
        "hooks.yaml:",
        "providers.acme.event_id: bad path: empty step",
        "providers.acme.fields.emial: unknown contract field",
        "providers.acme.fields.phone: bad path: bad escape",
        "providers.acme.constants.source: a constant is one value",
        "providers.Bad Name: a provider name is lowercase",
        "providers.Bad Name.secret_env: required",
        "providers.nofields.fields: required",
        "providers.nofields.secret_env: 'lower_case' is not an environment variable name",
    ):
        assert expected in message, (expected, message)
    with pytest.raises(WebhookConfigError, match="not YAML"):
        parse_lead_webhooks("providers: [", "x.yaml")
    with pytest.raises(WebhookConfigError, match="expected a mapping 'providers"):
        parse_lead_webhooks("- a\n", "x.yaml")


def test_an_api_with_a_broken_providers_file_does_not_start(database_url, tmp_path):
    path = tmp_path / "hooks.yaml"
    path.write_text(
        "providers:\n  acme:\n    secret_env: X\n    event_id: id\n    fields: {nope: a}\n"
    )
    with pytest.raises(WebhookConfigError, match="providers.acme.fields.nope"):
        _app(path)
    with pytest.raises(WebhookConfigError, match="cannot read"):
        _app(tmp_path / "missing.yaml")


def test_the_shipped_providers_map_their_documented_payloads():
    hooks = load_lead_webhooks(
        DEFAULT_LEAD_WEBHOOKS_FILE,
        environ={
            "HK_WEBHOOK_SECRET_PROPERTYLEADS_PREVIOUS": "s",
            "HK_WEBHOOK_SECRET_SELLERFORM": "t",
        },
    )
    assert hooks.configured("propertyleads").secrets == ("s",)
    assert "secrets" not in repr(hooks.configured("propertyleads"))  # never in a log line
    padded = load_lead_webhooks(environ={"HK_WEBHOOK_SECRET_SELLERFORM": " t\n"})
    assert padded.configured("sellerform").secrets == ("t",)
    assert load_lead_webhooks(environ={}).configured("propertyleads") is None
    examples = Path(__file__).parent / "fixtures" / "lead_webhooks"
    for name in ("propertyleads", "sellerform"):
        payload = orjson.loads((examples / f"{name}.json").read_bytes())
        provider = hooks.providers[name]
        assert provider.event_id_of(payload)
        lead = provider.map_lead(payload).lead
        assert lead.email and lead.property_street and lead.external_id, name


# -- the signature scheme ---------------------------------------------------------------------


def test_sign_and_verify_agree_and_refuse_with_a_reason():
    body = b'{"a": 1}'
    header = sign(body, "k", 1_700_000_000)
    assert header.startswith("t=1700000000,v1=") and len(header) == len("t=1700000000,v1=") + 64
    verify(header, body, ["other", "k"], now=1_700_000_100, tolerance_seconds=300)
    cases = [
        (None, "missing"), ("t=1,v1=zz", "malformed"), ("v1=" + "0" * 64, "malformed"),
        (sign(body, "nope", 1_700_000_000), "mismatch"),
        (sign(b'{"a": 2}', "k", 1_700_000_000), "mismatch"),
    ]  # fmt: skip
    for given, reason in cases:
        with pytest.raises(SignatureError) as caught:
            verify(given, body, ["k"], now=1_700_000_100, tolerance_seconds=300)
        assert caught.value.reason == reason, given
    with pytest.raises(SignatureError, match="t is 400 seconds old") as caught:
        verify(header, body, ["k"], now=1_700_000_400, tolerance_seconds=300)
    assert caught.value.reason == "stale"
    with pytest.raises(SignatureError, match="400 seconds in the future"):
        verify(header, body, ["k"], now=1_699_999_600, tolerance_seconds=300)
    # Other schemes in the header are ignored; the v1 value still has to match.
    verify("v0=abc," + header, body, ["k"], now=1_700_000_000, tolerance_seconds=1)


def test_payload_paths_read_pointers_dotted_steps_indexes_and_picks():
    from hk_core.intake.payload_paths import PathError, PayloadPath

    payload = {"a/b": {"~x": 1}, "items": [{"id": 5}, {"id": 6}], "answers": [{"ref": "q", "v": 2}]}
    assert PayloadPath.parse("/a~1b/~0x").find(payload) == (True, 1)
    assert PayloadPath.parse("items.1.id").find(payload) == (True, 6)
    assert PayloadPath.parse("/items/0/id").find(payload) == (True, 5)
    assert PayloadPath.parse("answers[ref=q].v").find(payload) == (True, 2)
    assert PayloadPath.parse("answers[ref=r].v").find(payload) == (False, None)
    assert PayloadPath.parse("items.9.id").find(payload) == (False, None)
    assert PayloadPath.parse("items.id").find(payload) == (False, None)
    for bad in ("", "a..b", ".a", "a.", "a[x", "a]b", "/a/~2"):
        with pytest.raises(PathError):
            PayloadPath.parse(bad)
