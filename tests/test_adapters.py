"""The adapter layer on real parts: the offline adapter's work, lead_context on the real
database, and the OpenAI-compatible adapter against a real HTTP server (tests/llm_server.py)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import jsonschema
import psycopg
import pytest
from llm_server import LlmServer
from pydantic import BaseModel, ValidationError

from hk_core.address import standardize
from orchestrator.adapters import (
    AdapterAnswer,
    AdapterCall,
    AdapterError,
    AdapterSpec,
    build_adapter,
)
from orchestrator.adapters.offline import OfflineAdapter
from orchestrator.adapters.openai_compat import OpenAICompatAdapter, strict_schema
from orchestrator.context import lead_context
from orchestrator.results import RESULTS, OfferRange, OutreachDraft, ResearchBrief

KIND_RESULTS = {
    "research": "research_brief",
    "outreach_draft": "outreach_draft",
    "offer_prep": "offer_range",
    "follow_up": "follow_up",
}
API_KEY = "sk-test-adapters"


def _context(**lead: Any) -> dict[str, Any]:
    """A lead_context-shaped dict: an inherited, vacant house in poor condition, scored high."""
    return {
        "lead": {
            "lead_id": 7, "first_name": "Maria", "property_street": "412 Oak Ridge Dr",
            "property_city": "Austin", "property_state": "TX", "property_zip": "78701",
            "property_type": "single_family", "bedrooms": 3, "bathrooms": 2.0,
            "square_feet": 1400, "year_built": 1978, "asking_price": 210000,
            "mortgage_balance": 90000, "condition": "poor", "occupancy": "vacant",
            "motivation": "inherited", "timeline": "asap", "consent_sms": True,
            "consent_email": True, "received_at": "2026-11-01T10:00:00+00:00",
        } | lead,
        "property": {
            "source": "county_roll", "apn": "0101-22", "street": "412 OAK RIDGE DR",
            "city": "AUSTIN", "state": "TX", "zip": "78701", "property_type": "single_family",
            "bedrooms": 3, "bathrooms": 2.0, "square_feet": 1450, "year_built": 1978,
            "assessed_value": 200000, "estimated_value": 250000,
            "last_sale_date": "2004-06-01", "last_sale_price": 120000,
            "mortgage_balance_estimate": 80000, "tax_delinquent": True, "in_foreclosure": False,
        },
        "enrichment": {"is_absentee_owner": True, "is_owner_of_record": True},
        "score": {
            "score": 0.82, "model_name": "lead_scorer", "model_version": "3",
            "reasons": [{"feature": "equity_ratio", "contribution": 0.8,
                         "text": "Equity over estimated value: 0.64"}],
        },
        "stage": "new",
        "contact": {"messages": 0, "messages_sent": 0, "replies": 0, "opted_out": False},
    }  # fmt: skip


def _call(
    kind: str,
    context: dict[str, Any],
    task_input: dict[str, Any] | None = None,
    *,
    model: type[BaseModel] | None = None,
    timeout: float = 5,
) -> AdapterCall:
    return AdapterCall(
        task_id=1,
        kind=kind,
        assistant="researcher",
        instructions="You are the research assistant of a house-buying company.",
        input=task_input or {},
        context=context,
        result_model=model or RESULTS[KIND_RESULTS.get(kind, "research_brief")],
        timeout=timeout,
    )


def _offline(kind: str, context: dict[str, Any], task_input: dict | None = None) -> AdapterAnswer:
    return asyncio.run(OfflineAdapter().run(_call(kind, context, task_input)))


def _fails(adapter: Any, call: AdapterCall) -> AdapterError:
    with pytest.raises(AdapterError) as caught:
        asyncio.run(adapter.run(call))
    return caught.value


# --- the offline adapter -------------------------------------------------------------------


def test_research_brief_assembles_facts_signals_and_the_next_action() -> None:
    answer = _offline("research", _context())
    brief = ResearchBrief.model_validate(answer.result)
    facts = " ".join(brief.facts)
    assert "412 Oak Ridge Dr" in brief.summary and "412 Oak Ridge Dr" in facts
    assert "3 bd, 2 ba, 1,450 sq ft, built 1978." in brief.facts  # the county's floor area
    # Value is the market estimate; equity uses the seller's own mortgage figure.
    assert (brief.estimated_value, brief.equity) == (250_000, 160_000)
    assert "$160,000" in brief.summary
    signals = " ".join(brief.motivation_signals)
    for expected in ("inherited", "as soon as possible", "Vacant", "Absentee", "delinquent",
                     "22 years", "High equity: 64%"):  # fmt: skip
        assert expected in signals
    assert brief.risks == []
    assert brief.score == 0.82 and brief.score_reasons == ["Equity over estimated value: 0.64"]
    assert brief.recommended_next == "call within 24 h"
    assert answer.request == {"adapter": "offline", "kind": "research", "input": {},
                              "context": _context()}  # fmt: skip
    assert json.loads(answer.raw) == answer.result


def test_research_brief_of_a_thin_lead_says_what_is_missing() -> None:
    context = _context(mortgage_balance=None, asking_price=300000, condition=None)
    context.update(property=None, enrichment=None, score=None)
    brief = ResearchBrief.model_validate(_offline("research", context).result)
    risks = " ".join(brief.risks)
    assert "No county or vendor record" in risks
    assert "asking price alone" in risks
    assert "Mortgage balance unknown" in risks and "Not scored yet" in risks
    assert brief.estimated_value == 300_000 and brief.equity is None
    assert brief.recommended_next == "draft outreach"  # not scored, but the seller consented


def test_research_flags_thin_equity_and_an_asking_price_far_above_value() -> None:
    context = _context(mortgage_balance=230000, asking_price=300000)
    brief = ResearchBrief.model_validate(_offline("research", context).result)
    assert "Thin equity: 8% of value." in brief.risks
    assert "Asking price is 20% above the estimated value." in brief.risks


def test_the_offline_adapter_is_deterministic() -> None:
    for kind in KIND_RESULTS:
        first, second = _offline(kind, _context()), _offline(kind, _context())
        assert first == second, kind


def test_offer_range_is_the_70_percent_rule_by_hand() -> None:
    offer = OfferRange.model_validate(_offline("offer_prep", _context()).result)
    repairs = 1450 * 35  # county floor area × the poor-condition rate
    top = 250_000 * 70 // 100 - repairs  # 124,250
    high = top - top % 500
    low = (high * 90 // 100) - (high * 90 // 100) % 500
    middle = (low + high) // 2
    assert offer.repair_estimate == repairs == 50_750
    assert (offer.low, offer.recommended, offer.high) == (low, middle - middle % 500, high)
    assert (offer.low, offer.recommended, offer.high) == (111_500, 117_500, 124_000)
    assert (offer.asking_price, offer.mortgage_balance, offer.equity) == (210_000, 90_000, 160_000)
    assert offer.confidence == "high"
    assert any("1,450 sq ft × $35/sq ft" in line for line in offer.basis)


def test_offer_is_capped_by_a_lower_asking_price_and_thin_data_lowers_confidence() -> None:
    offer = OfferRange.model_validate(_offline("offer_prep", _context(asking_price=100000)).result)
    assert offer.high == offer.recommended == offer.low == 100_000
    assert any("Capped at the asking price $100,000" in line for line in offer.basis)

    context = _context(square_feet=None, condition=None, mortgage_balance=None)
    context["property"] = None
    thin = OfferRange.model_validate(_offline("offer_prep", context).result)
    # Value from the asking price, 1,500 sq ft and $20/sq ft assumed.
    assert thin.estimated_value == 210_000 and thin.repair_estimate == 30_000
    assert thin.confidence == "low"
    assert any("(assumed)" in line for line in thin.basis)


def test_an_offer_with_nothing_to_base_it_on_escalates() -> None:
    context = _context(asking_price=None)
    context["property"] = None
    error = _fails(OfflineAdapter(), _call("offer_prep", context))
    assert not error.transient and "no value estimate" in error.reason


def test_sms_draft_is_personal_short_and_has_the_opt_out() -> None:
    draft = OutreachDraft.model_validate(_offline("outreach_draft", _context()).result)
    assert draft.channel == "sms" and draft.subject is None
    assert draft.body.startswith("Hi Maria,") and "412 Oak Ridge Dr" in draft.body
    assert "inherited" in draft.body and "7 days" in draft.body
    assert draft.body.endswith("Reply STOP to opt out.") and len(draft.body) <= 320

    long_street = "12345 North Old Mill Creek Ranch Road Extension Building C Unit 1400"
    context = _context(first_name="Maximiliana-Alexandrina", property_street=long_street)
    long = OutreachDraft.model_validate(_offline("outreach_draft", context).result)
    assert len(long.body) <= 320 and long.body.endswith("Reply STOP to opt out.")


def test_email_draft_when_asked_or_without_sms_consent() -> None:
    for context, task_input in ((_context(), {"channel": "email"}),
                                (_context(consent_sms=False), {})):  # fmt: skip
        draft = OutreachDraft.model_validate(_offline("outreach_draft", context, task_input).result)
        assert draft.channel == "email"
        assert draft.subject == "A cash offer for 412 Oak Ridge Dr"
        assert "3 bed, 2 bath" in draft.body and "unsubscribe" in draft.body


def test_follow_up_plans_follow_the_stage_and_the_last_contact() -> None:
    silent = _context()
    silent.update(stage="contacted",
                  contact={"messages_sent": 2, "last_sent_at": "2026-11-20T15:00:00+00:00",
                           "replies": 0, "opted_out": False})  # fmt: skip
    plan = RESULTS["follow_up"].model_validate(_offline("follow_up", silent).result)
    assert "last message sent 2026-11-20" in plan.summary  # type: ignore[attr-defined]
    assert plan.actions[0].action == "Send the follow-up message."  # type: ignore[attr-defined]
    assert "Still thinking about selling" in plan.draft.body  # type: ignore[attr-defined]

    answered = _context()
    answered.update(stage="contacted", contact={"messages_sent": 1, "replies": 1})
    result = _offline("follow_up", answered).result
    assert result["draft"] is None and result["actions"][0]["action"].startswith("Call back")

    opted_out = _context()
    opted_out["contact"] = {"messages_sent": 1, "replies": 1, "opted_out": True}
    result = _offline("follow_up", opted_out).result
    assert result["draft"] is None and "Do not contact" in result["actions"][0]["action"]


def test_unknown_kind_and_a_mismatched_result_model_are_not_transient() -> None:
    error = _fails(OfflineAdapter(), _call("poetry", _context()))
    assert not error.transient and "poetry" in error.reason
    error = _fails(OfflineAdapter(), _call("research", _context(), model=OfferRange))
    assert not error.transient and "OfferRange" in error.reason and error.raw


def test_result_models_hold_the_rules_a_seller_would_notice() -> None:
    with pytest.raises(ValidationError, match="opt out"):
        OutreachDraft(channel="sms", subject=None, body="Hi, want an offer?")
    with pytest.raises(ValidationError, match="no subject"):
        OutreachDraft(channel="sms", subject="Hello", body="Hi. Reply STOP to opt out.")
    with pytest.raises(ValidationError, match="needs a subject"):
        OutreachDraft(channel="email", subject=None, body="Hi")
    with pytest.raises(ValidationError, match="between low and high"):
        OfferRange(estimated_value=100, repair_estimate=0, low=50, high=60, recommended=70,
                   asking_price=None, mortgage_balance=None, equity=None, basis=["x"],
                   confidence="low")  # fmt: skip
    with pytest.raises(ValidationError, match="Extra inputs"):
        OutreachDraft.model_validate({"channel": "email", "subject": "s", "body": "b", "x": 1})


# --- lead_context on the real database -----------------------------------------------------

_PHONE, _EMAIL = "+15125550177", "maria.secret@example.com"


def _insert_lead(db: psycopg.Connection, n: int, **values: Any) -> int:
    row = {
        "dedup_key": f"ext:adapters:{n}", "source": "test", "received_at": "2026-11-01T10:00:00Z",
        "first_name": "Maria", "last_name": "Quintanilla", "phone": _PHONE, "email": _EMAIL,
        "notes": "call me at 512 555 0177", "property_street": "412 Oak Ridge Dr",
        "property_city": "Austin", "property_state": "TX", "property_zip": "78701",
        "bedrooms": 3, "square_feet": 1400, "asking_price": 210000.40,
        "mortgage_balance": 90000, "condition": "poor", "occupancy": "vacant",
        "motivation": "inherited", "timeline": "asap", "consent_sms": True,
        "intake_channel": "api",
    } | values  # fmt: skip
    columns = ", ".join(row)
    marks = ", ".join(["%s"] * len(row))
    lead_id = db.execute(
        f"insert into app.leads ({columns}) values ({marks}) returning lead_id", list(row.values())
    ).fetchone()[0]
    # Warehouse tables are not emptied between tests: clear what an earlier lead left.
    db.execute("delete from raw.enriched_leads where lead_id = %s", (lead_id,))
    db.execute("delete from ml.lead_scores where lead_id = %s", (lead_id,))
    return lead_id


def _context_of(database_url: str, lead_id: int) -> dict[str, Any]:
    async def read() -> dict[str, Any]:
        async with await psycopg.AsyncConnection.connect(database_url) as conn:
            return await lead_context(conn, lead_id)

    return asyncio.run(read())


def test_lead_context_joins_property_score_stage_and_contact_without_pii(
    db: psycopg.Connection, database_url: str
) -> None:
    lead_id = _insert_lead(db, 1)
    db.execute(
        "insert into app.property_records (apn, street, city, state, zip, owner_name, "
        "owner_mailing_street, bedrooms, square_feet, year_built, assessed_value, "
        "estimated_value, last_sale_date, mortgage_balance_estimate, tax_delinquent) values "
        "('0101-22', '412 OAK RIDGE DR', 'AUSTIN', 'TX', '78701', 'QUINTANILLA MARIA', "
        "'9 Far Away Ln', 3, 1450, 1978, 200000, 250000.60, '2004-06-01', 80000, true)"
    )
    db.execute(
        "insert into raw.enriched_leads (lead_id, source, received_at, received_date, apn, "
        "is_owner_of_record, is_absentee_owner, equity, equity_ratio, enriched_at, address_key) "
        "values (%s, 'test', now(), current_date, '0101-22', true, true, 160000, 0.64, now(), "
        "'k')",
        (lead_id,),
    )
    reasons = [{"feature": "equity_ratio", "contribution": 0.81,
                "text": "Equity over estimated value: 0.64"}]  # fmt: skip
    db.execute(
        "insert into ml.lead_scores (lead_id, score, model_name, model_version, reason_codes, "
        "scored_at) values (%s, 0.82, 'lead_scorer', '3', %s, now())",
        (lead_id, json.dumps(reasons)),
    )
    db.execute(
        "insert into app.stage_events (lead_id, stage, occurred_at, actor) values "
        "(%s, 'contacted', '2026-11-02T10:00:00Z', 'steve'), "
        "(%s, 'qualified', '2026-11-03T10:00:00Z', 'steve')",
        (lead_id, lead_id),
    )
    event_id = db.execute(
        "select event_id from app.automation_events where lead_id = %s limit 1", (lead_id,)
    ).fetchone()[0]
    db.execute(
        "insert into app.messages (lead_id, channel, rule_id, event_id, step, body, status, "
        "sent_at) values (%s, 'sms', 'welcome', %s, 0, 'Hi', 'sent', '2026-11-02T09:00:00Z'), "
        "(%s, 'sms', 'welcome', %s, 1, 'Hi again', 'queued', null)",
        (lead_id, event_id, lead_id, event_id),
    )
    db.execute(
        "insert into app.automation_events (lead_id, kind, occurred_at) "
        "values (%s, 'reply', '2026-11-02T09:30:00Z')",
        (lead_id,),
    )

    context = _context_of(database_url, lead_id)
    text = json.dumps(context)  # JSON-safe as it is
    for secret in (_PHONE, _EMAIL, "Quintanilla", "QUINTANILLA", "555 0177", "Far Away"):
        assert secret not in text
    assert context["lead"]["first_name"] == "Maria"
    assert context["lead"]["asking_price"] == 210000  # whole dollars
    assert context["property"]["source"] == "county_roll"
    assert context["property"]["estimated_value"] == 250001
    assert context["property"]["square_feet"] == 1450
    assert context["property"]["last_sale_date"] == "2004-06-01"
    assert "owner_name" not in context["property"]
    assert context["enrichment"]["is_absentee_owner"] is True
    assert context["score"]["score"] == 0.82
    assert context["score"]["reasons"][0]["text"] == "Equity over estimated value: 0.64"
    assert context["stage"] == "qualified"
    assert context["contact"]["messages"] == 2 and context["contact"]["messages_sent"] == 1
    assert context["contact"]["replies"] == 1 and context["contact"]["opted_out"] is False

    # The offline adapter works from exactly this.
    brief = ResearchBrief.model_validate(_offline("research", context).result)
    assert brief.equity == 250001 - 90000 and "Owned for 22 years" in " ".join(
        brief.motivation_signals
    )


def test_lead_context_of_a_bare_lead_and_of_a_cached_vendor_answer(
    db: psycopg.Connection, database_url: str
) -> None:
    bare = _insert_lead(db, 2)
    context = _context_of(database_url, bare)
    assert context["property"] is None and context["enrichment"] is None
    assert context["score"] is None and context["stage"] == "new"
    assert context["contact"] == {"messages": 0, "messages_sent": 0, "last_sent_at": None,
                                  "replies": 0, "last_reply_at": None, "opted_out": False}  # fmt: skip

    cached = _insert_lead(db, 3, property_street="77 Pine St", property_zip="78702")
    address = standardize("77 Pine St", "Austin", "TX", "78702")
    assert address is not None
    facts = {"apn": "V-9", "owner_name": "SOMEONE", "bedrooms": 2, "estimated_value": 180000.5,
             "mortgage_balance_estimate": None, "square_feet": 900}  # fmt: skip
    db.execute(
        "insert into app.enrichment_cache (address_key, provider, facts) values (%s, 'vendor', %s)",
        (address.key, json.dumps(facts)),
    )
    prop = _context_of(database_url, cached)["property"]
    assert prop["source"] == "vendor" and prop["estimated_value"] == 180000
    assert prop["bedrooms"] == 2 and "owner_name" not in prop

    with pytest.raises(LookupError):
        _context_of(database_url, 999_999)


# --- the OpenAI-compatible adapter against a real server -----------------------------------


@pytest.fixture(scope="module")
def llm() -> Any:
    with LlmServer(api_key=API_KEY) as server:
        yield server


def _openai(llm: LlmServer, **options: Any) -> OpenAICompatAdapter:
    return OpenAICompatAdapter(
        base_url=llm.base_url, model="gpt-test", api_key=API_KEY, timeout=5, **options
    )


def _run_openai(adapter: OpenAICompatAdapter, call: AdapterCall) -> AdapterAnswer:
    async def run() -> AdapterAnswer:
        try:
            return await adapter.run(call)
        finally:
            await adapter.aclose()

    return asyncio.run(run())


def _fails_openai(adapter: OpenAICompatAdapter, call: AdapterCall) -> AdapterError:
    with pytest.raises(AdapterError) as caught:
        _run_openai(adapter, call)
    return caught.value


def test_openai_success_with_strict_structured_output(llm: LlmServer) -> None:
    before = llm.calls
    call = _call("research", _context())
    answer = _run_openai(_openai(llm, temperature=0.2), call)
    assert llm.calls == before + 1
    sent, headers = llm.requests[-1], llm.headers[-1]
    assert headers["authorization"] == f"Bearer {API_KEY}"
    assert sent["model"] == "gpt-test" and sent["temperature"] == 0.2
    assert sent["response_format"]["type"] == "json_schema"
    assert sent["response_format"]["json_schema"]["strict"] is True
    assert sent["response_format"]["json_schema"]["name"] == "ResearchBrief"
    assert sent["messages"][0]["content"].startswith(call.instructions)
    assert json.loads(sent["messages"][1]["content"])["context"] == _context()
    assert answer.request == sent  # what is stored is what was sent
    assert answer.result == _offline("research", _context()).result
    assert answer.model == "gpt-test" and answer.usage and answer.usage["total_tokens"] > 0
    assert json.loads(answer.raw) == answer.result


def test_openai_json_object_mode_names_the_schema_in_the_prompt(llm: LlmServer) -> None:
    llm.script(["fenced"])  # such servers often wrap the JSON in a Markdown fence
    answer = _run_openai(
        _openai(llm, structured_output="json_object"), _call("offer_prep", _context())
    )
    sent = llm.requests[-1]
    assert sent["response_format"] == {"type": "json_object"}
    assert "OfferRange" in sent["messages"][0]["content"]
    assert '"additionalProperties": false' in sent["messages"][0]["content"]
    assert answer.result["recommended"] == 117_500


@pytest.mark.parametrize(
    ("behaviour", "transient", "reason"),
    [
        ("garbage", True, "not JSON"),
        ("invalid", True, "does not fit ResearchBrief"),
        ("empty", True, "no choices"),
        ("html", True, "bad response"),
        ("500", True, "HTTP 500"),
        ("503", True, "HTTP 503"),
        ("429", True, "HTTP 429"),
        ("401", False, "HTTP 401"),
        ("400", False, "HTTP 400"),
    ],
)
def test_openai_failures_are_classified(
    llm: LlmServer, behaviour: str, transient: bool, reason: str
) -> None:
    llm.script([behaviour])
    error = _fails_openai(_openai(llm), _call("research", _context()))
    assert error.transient is transient and reason in error.reason
    assert error.request is not None and error.request["model"] == "gpt-test"
    if behaviour == "garbage":
        assert error.raw == "Sure! Here is the brief you asked for"
    if behaviour == "invalid":
        assert "summary: Field required" in error.reason
        assert "unexpected_field: Extra inputs are not permitted" in error.reason
        assert error.raw is not None and "unexpected_field" in error.raw
    if behaviour == "html":
        assert error.raw is not None and "Bad gateway" in error.raw
    if behaviour == "429":
        assert error.retry_after == 1.0
    else:
        assert error.retry_after is None
    if behaviour == "401":
        assert "Incorrect API key" in error.reason


def test_openai_logs_neither_prompt_nor_answer(
    llm: LlmServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="orchestrator")
    llm.script(["ok", "invalid"])
    _run_openai(_openai(llm), _call("research", _context()))
    _fails_openai(_openai(llm), _call("research", _context()))
    assert "task 1: answered by gpt-test" in caplog.text
    assert "task 1: transient failure from gpt-test" in caplog.text
    for private in ("Maria", "Oak Ridge", "inherited", "unexpected_field", "summary"):
        assert private not in caplog.text


def test_openai_timeout_is_transient_and_keeps_to_the_call_timeout(llm: LlmServer) -> None:
    llm.script(["timeout"])
    started = time.monotonic()
    error = _fails_openai(_openai(llm), _call("research", _context(), timeout=0.5))
    assert error.transient and error.reason == "timeout"
    assert time.monotonic() - started < 2.5  # the server would have taken 3 s


def test_openai_connection_refused_is_transient() -> None:
    adapter = OpenAICompatAdapter(
        base_url="http://127.0.0.1:9/v1", model="m", api_key="k", timeout=2
    )
    error = _fails_openai(adapter, _call("research", _context()))
    assert error.transient and error.reason.startswith("connection")


def test_strict_schema_closes_every_object_and_requires_every_property() -> None:
    def walk(node: Any) -> None:
        if isinstance(node, dict):
            assert "default" not in node
            if "properties" in node:
                assert node["additionalProperties"] is False
                assert node["required"] == list(node["properties"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for name, model in RESULTS.items():
        schema = strict_schema(model)
        walk(schema)
        # The strict schema still accepts a real answer, and what may be None stays nullable.
        kind = next(k for k, r in KIND_RESULTS.items() if r == name)
        jsonschema.validate(_offline(kind, _context()).result, schema)
    brief = strict_schema(ResearchBrief)
    assert {"type": "null"} in brief["properties"]["equity"]["anyOf"]
    assert "facts" in brief["required"]  # a default in pydantic, required for the model
    assert brief["properties"]["facts"]["type"] == "array"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"summary": "x"}, brief)


# --- AdapterSpec and build_adapter ---------------------------------------------------------


def test_adapter_spec_validation_names_the_field_and_the_variable(
    monkeypatch: pytest.MonkeyPatch, llm: LlmServer
) -> None:
    assert isinstance(build_adapter(AdapterSpec()), OfflineAdapter)
    with pytest.raises(ValidationError, match="base_url: required"):
        AdapterSpec(type="openai", model="gpt-test")
    with pytest.raises(ValidationError, match="base_url and model: required"):
        AdapterSpec(type="openai")
    with pytest.raises(ValidationError, match="Extra inputs"):
        AdapterSpec.model_validate({"type": "openai", "api_key": "sk-in-yaml"})

    spec = AdapterSpec(
        type="openai", base_url=llm.base_url, model="gpt-test", api_key_env="HK_TEST_LLM_KEY"
    )
    monkeypatch.delenv("HK_TEST_LLM_KEY", raising=False)
    with pytest.raises(ValueError, match="HK_TEST_LLM_KEY is not set"):
        build_adapter(spec)
    monkeypatch.setenv("HK_TEST_LLM_KEY", API_KEY)
    adapter = build_adapter(spec)
    assert isinstance(adapter, OpenAICompatAdapter)
    answer = _run_openai(adapter, _call("outreach_draft", _context()))
    assert "Reply STOP to opt out." in answer.result["body"]
    assert llm.headers[-1]["authorization"] == f"Bearer {API_KEY}"
