"""Deals on real parts: made by the stage trigger through the API, patched with exact money and
If-Match, audited, priced by an approved offer through a real worker, and copied to the mart."""

from __future__ import annotations

import concurrent.futures
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from task_fixtures import (
    NO_RULES,
    Tasks,
    insert_leads,
    reaches,
    state_of,
    task_row,
    write_assistants,
)

from orchestrator.audit import audit_key, verify
from orchestrator.deals import DealError, parse_money

LEAD = {"source": "web_form", "first_name": "Ana", "phone": "512-555-0199",
        "property_street": "9 Elm St", "property_state": "TX", "property_zip": "78702"}  # fmt: skip
TO_OFFER = ("contacted", "qualified", "appointment_set", "offer_made")


def _lead(client: httpx.Client, external_id: str) -> int:
    response = client.post("/v1/leads", json={**LEAD, "external_id": external_id})
    assert response.status_code == 201, response.text
    return response.json()["lead_id"]


def _move(client: httpx.Client, lead_id: int, stage: str, reason: str | None = None) -> None:
    response = client.post(f"/v1/leads/{lead_id}/stage", json={"stage": stage, "reason": reason})
    assert response.status_code == 200, response.text


def _to_offer(client: httpx.Client, external_id: str) -> tuple[int, dict]:
    lead_id = _lead(client, external_id)
    for stage in TO_OFFER:
        _move(client, lead_id, stage)
    response = client.get(f"/v1/leads/{lead_id}/deal")
    assert response.status_code == 200, response.text
    return lead_id, response.json()


def _deals_of(db, lead_id: int) -> int:
    return db.execute("select count(*) from app.deals where lead_id = %s", (lead_id,)).fetchone()[0]


def _field_error(response: httpx.Response, field: str) -> str:
    assert response.status_code == 422, response.text
    (item,) = response.json()["detail"]
    assert item["loc"] == ["body", field], item
    assert item["msg"].startswith(f"{field}:"), item
    return item["msg"]


def test_no_deal_before_offer_made_then_exactly_one(client, db):
    lead_id = _lead(client, "D-1")
    for stage in TO_OFFER[:-1]:
        _move(client, lead_id, stage)
    response = client.get(f"/v1/leads/{lead_id}/deal")
    assert response.status_code == 404
    assert "has not reached offer_made" in response.json()["detail"]
    assert client.get("/v1/leads/999999/deal").status_code == 404

    _move(client, lead_id, "offer_made")
    _move(client, lead_id, "offer_made")  # the same stage again changes nothing
    assert _deals_of(db, lead_id) == 1
    deal = client.get(f"/v1/leads/{lead_id}/deal").json()
    assert (deal["lead_id"], deal["status"], deal["lead_stage"]) == (lead_id, "offer_made",
                                                                     "offer_made")  # fmt: skip
    assert deal["offer_made_at"] is not None and deal["offer_amount"] is None
    same = client.get(f"/v1/deals/{deal['deal_id']}")
    assert same.status_code == 200 and same.json() == deal
    assert same.headers["ETag"]


def test_concurrent_moves_to_offer_made_make_one_deal(client, db, api_base, api_key):
    lead_id = _lead(client, "D-2")
    for stage in TO_OFFER[:-1]:
        _move(client, lead_id, stage)

    def move(_: int) -> int:
        with httpx.Client(base_url=api_base, headers={"X-API-Key": api_key}, timeout=30) as c:
            return c.post(f"/v1/leads/{lead_id}/stage", json={"stage": "offer_made"}).status_code

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(move, range(8)))
    assert codes == [200] * 8
    assert _deals_of(db, lead_id) == 1
    assert db.execute(
        "select count(*) from app.stage_events where lead_id = %s and stage = 'offer_made'",
        (lead_id,),
    ).fetchone() == (1,)


def test_status_follows_the_stage_through_contract_loss_and_reopen(client, db):
    lead_id, deal = _to_offer(client, "D-3")
    path = [("under_contract", None), ("closed_lost", "seller sold elsewhere"),
            ("contacted", None)]  # fmt: skip
    for stage, reason in path:
        _move(client, lead_id, stage, reason)
        now = client.get(f"/v1/deals/{deal['deal_id']}").json()
        assert (now["status"], now["lead_stage"]) == (stage, stage)
    # Back through the funnel: still the one deal, offer_made again, then on to closing.
    for stage in ("qualified", "appointment_set", "offer_made", "under_contract", "closed_won"):
        _move(client, lead_id, stage)
    assert _deals_of(db, lead_id) == 1
    final = client.get(f"/v1/deals/{deal['deal_id']}").json()
    assert final["status"] == "closed_won"
    assert final["offer_made_at"] == deal["offer_made_at"]  # the first time it got there
    listed = client.get("/v1/deals", params={"status": "closed_won"}).json()["deals"]
    assert [d["deal_id"] for d in listed] == [deal["deal_id"]]
    assert client.get("/v1/deals", params={"status": "offer_made"}).json()["deals"] == []


def test_patch_round_trips_exact_decimals_and_audits(client, db, settings):
    lead_id, deal = _to_offer(client, "D-4")
    url = f"/v1/deals/{deal['deal_id']}"
    body = {"offer_amount": "0.10", "contract_price": 123456, "assignment_fee": 12.3,
            "contract_date": "2026-12-01", "closing_date": "2026-12-20", "notes": "cash, as is"}  # fmt: skip
    response = client.patch(url, json=body)
    assert response.status_code == 200, response.text
    patched = response.json()
    assert (patched["offer_amount"], patched["contract_price"], patched["assignment_fee"]) == (
        "0.10", "123456.00", "12.30")  # fmt: skip
    assert (patched["contract_date"], patched["closing_date"]) == ("2026-12-01", "2026-12-20")
    assert patched["status"] == "offer_made" and patched["updated_by"] == "api-key:tests"
    assert client.get(url).json() == patched
    stored = db.execute(
        "select offer_amount, contract_price, assignment_fee from app.deals where deal_id = %s",
        (deal["deal_id"],),
    ).fetchone()
    assert stored == (Decimal("0.10"), Decimal("123456.00"), Decimal("12.30"))
    # A figure sent as raw JSON text keeps its digits: no float on the way.
    raw = client.patch(url, content=b'{"contract_price": 99999999999.99}',
                       headers={"Content-Type": "application/json"})  # fmt: skip
    assert raw.status_code == 200 and raw.json()["contract_price"] == "99999999999.99"

    (row,) = db.execute(
        "select chain, actor, action, lead_id, detail from app.task_audit "
        "where action = 'deal_updated' order by audit_id limit 1"
    ).fetchall()
    chain, actor, action, audited_lead, detail = row
    assert (chain, actor, audited_lead) == (f"lead:{lead_id}", "api-key:tests", lead_id)
    assert detail["deal_id"] == deal["deal_id"]
    assert detail["changes"]["offer_amount"] == {"before": None, "after": "0.10"}
    assert detail["changes"]["contract_price"] == {"before": None, "after": "123456.00"}
    assert detail["changes"]["closing_date"] == {"before": None, "after": "2026-12-20"}
    assert verify(db, audit_key(settings)).ok
    count = db.execute("select count(*) from app.task_audit where action = 'deal_updated'")
    assert count.fetchone() == (2,)
    # Nothing changed: nothing written.
    assert client.patch(url, json={"notes": "cash, as is"}).status_code == 200
    again = db.execute("select count(*) from app.task_audit where action = 'deal_updated'")
    assert again.fetchone() == (2,)


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        (b'{"offer_amount": "1e2"}', "offer_amount", "not a plain decimal"),
        (b'{"offer_amount": 1e2}', "offer_amount", "not a plain decimal"),
        (b'{"offer_amount": 12.345}', "offer_amount", "at most 2 decimal places"),
        (b'{"contract_price": "12.345"}', "contract_price", "at most 2 decimal places"),
        (b'{"assignment_fee": -5}', "assignment_fee", "must not be negative"),
        (b'{"assignment_fee": "1000000000000.00"}', "assignment_fee", "numeric(14,2)"),
        (b'{"offer_amount": true}', "offer_amount", "decimal string"),
        (b'{"offer_amount": " 12"}', "offer_amount", "not a plain decimal"),
        (b'{"contract_date": "12/01/2026"}', "contract_date", "YYYY-MM-DD"),
        (b'{"contract_date": "2026-02-30"}', "contract_date", "not a calendar date"),
        (b'{"status": "closed_won"}', "status", "follows its lead's stage"),
        (b'{"lead_id": 3}', "lead_id", "can be changed"),
        (b'{"notes": 5}', "notes", "text"),
    ],
)
def test_a_refused_patch_names_its_field(client, db, body, field, words):
    _, deal = _to_offer(client, f"D-5-{field}")
    response = client.patch(f"/v1/deals/{deal['deal_id']}", content=body,
                            headers={"Content-Type": "application/json"})  # fmt: skip
    assert words in _field_error(response, field)
    assert client.get(f"/v1/deals/{deal['deal_id']}").json() == deal
    count = db.execute("select count(*) from app.task_audit where action = 'deal_updated'")
    assert count.fetchone() == (0,)


def test_closing_before_contract_is_refused_on_the_merged_deal(client):
    _, deal = _to_offer(client, "D-6")
    url = f"/v1/deals/{deal['deal_id']}"
    assert client.patch(url, json={"contract_date": "2026-12-10"}).status_code == 200
    msg = _field_error(client.patch(url, json={"closing_date": "2026-12-09"}), "closing_date")
    assert "before the contract date" in msg
    both = client.patch(url, json={"contract_date": "2026-12-01", "closing_date": "2026-12-01"})
    assert both.status_code == 200, both.text


def test_if_match_guards_against_a_lost_update(client):
    lead_id, deal = _to_offer(client, "D-7")
    url = f"/v1/deals/{deal['deal_id']}"
    tag = client.get(url).headers["ETag"]
    first = client.patch(url, json={"offer_amount": "150000"}, headers={"If-Match": tag})
    assert first.status_code == 200, first.text
    assert first.headers["ETag"] != tag
    stale = client.patch(url, json={"offer_amount": "140000"}, headers={"If-Match": tag})
    assert stale.status_code == 412
    assert stale.json()["etag"] == first.headers["ETag"]
    assert client.get(url).json()["offer_amount"] == "150000.00"
    # A stage move changes the deal too, so the ETag read before it is stale.
    current = client.get(url).headers["ETag"]
    _move(client, lead_id, "under_contract")
    assert client.patch(url, json={"notes": "x"}, headers={"If-Match": current}).status_code == 412
    assert client.patch(url, json={"notes": "x"}, headers={"If-Match": "*"}).status_code == 200


def test_unknown_deal_and_keys_without_operate(client, db, api_base):
    from hk_core.apikeys import create_api_key

    _, deal = _to_offer(client, "D-8")
    assert client.get("/v1/deals/987654").status_code == 404
    assert client.patch("/v1/deals/987654", json={"notes": "x"}).status_code == 404
    token = create_api_key(db, "reader", ["read", "ingest"])[1]
    with httpx.Client(base_url=api_base, headers={"X-API-Key": token}, timeout=30) as reader:
        for method, path in (("GET", "/v1/deals"), ("GET", f"/v1/deals/{deal['deal_id']}"),
                             ("PATCH", f"/v1/deals/{deal['deal_id']}"),
                             ("GET", f"/v1/leads/{deal['lead_id']}/deal")):  # fmt: skip
            response = reader.request(method, path, json={"notes": "x"})
            assert response.status_code == 403, (method, path, response.text)
            assert "operate" in response.json()["detail"]
    with httpx.Client(base_url=api_base, timeout=30) as anonymous:
        assert anonymous.get("/v1/deals").status_code == 401


def test_deals_list_in_keyset_pages(client):
    ids = [_to_offer(client, f"D-9-{n}")[1]["deal_id"] for n in range(5)]
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/deals", params=params).json()
        seen += [d["deal_id"] for d in page["deals"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(ids, reverse=True)
    bad = client.get("/v1/deals", params={"status": "won"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "status"]


def test_money_parsing_never_goes_through_float():
    assert parse_money("offer_amount", "0.10") == Decimal("0.10")
    assert str(parse_money("offer_amount", "0.10")) == "0.10"
    assert parse_money("offer_amount", 7) == Decimal(7)
    assert parse_money("offer_amount", None) is None
    for refused in ("1e2", "1.", ".5", "+5", "1,000", "12.345", "-0.01", 1.5):
        with pytest.raises(DealError) as raised:
            parse_money("offer_amount", refused)
        assert raised.value.field == "offer_amount"


@pytest.fixture
def rules_file(tmp_path: Path) -> Path:
    path = tmp_path / "automations.yaml"
    path.write_text(NO_RULES)
    return path


def test_an_approved_offer_sets_the_deals_offer_and_links_the_task(ops, db, database_url, tmp_path):
    env, *_, worker = ops
    env["HK_ASSISTANTS_FILE"] = str(write_assistants(tmp_path / "assistants.yaml"))
    tasks = Tasks(env, database_url)
    (lead,) = insert_leads(db, 1)
    for stage in TO_OFFER[:-1]:
        db.execute(
            "insert into app.stage_events (lead_id, stage, occurred_at, actor) "
            "values (%s, %s, clock_timestamp(), 'test')",
            (lead, stage),
        )
    task_id = tasks.create("offer_prep", lead)
    worker()
    assert reaches(db, task_id, ("awaiting_approval",), 60), state_of(db, task_id)
    proposal = task_row(db, task_id)["result"]
    # The approver opens lower than proposed, inside the range: that figure is the offer.
    approved = max(proposal["low"], proposal["recommended"] - 1000)
    tasks.approve(task_id, patch=[{"op": "replace", "path": "/recommended", "value": approved}])
    assert reaches(db, task_id, ("done",), 60), state_of(db, task_id)

    task = task_row(db, task_id)
    deal = db.execute(
        "select deal_id, status, offer_amount, updated_by from app.deals where lead_id = %s",
        (lead,),
    ).fetchone()
    assert deal is not None, task["effect"]
    deal_id, status, offer_amount, updated_by = deal
    assert (status, offer_amount) == ("offer_made", Decimal(approved))
    assert updated_by == f"task:{task_id}"
    assert task["deal_id"] == deal_id and task["effect"]["deal_id"] == deal_id
    (detail,) = db.execute(
        "select detail from app.task_audit where action = 'deal_updated' and chain = %s",
        (f"lead:{lead}",),
    ).fetchone()
    assert detail["changes"]["offer_amount"] == {"before": None, "after": f"{approved}.00"}
    assert tasks.verify(db).ok


def test_the_deals_mart_has_a_row_per_deal_with_expected_fees(db, database_url):
    import dagster as dg

    from hk_pipelines.defs.common.resources import PostgresResource, dbt_resource
    from hk_pipelines.defs.warehouse.assets import warehouse_deals
    from hk_pipelines.runner import MART_ASSETS

    leads = insert_leads(db, 4, start=100)
    paths = {
        leads[0]: TO_OFFER,
        leads[1]: (*TO_OFFER, "under_contract"),
        leads[2]: (*TO_OFFER, "under_contract", "closed_won"),
        leads[3]: TO_OFFER[:-1],  # not at offer_made yet: no deal
    }
    for lead, stages in paths.items():
        for stage in stages:
            db.execute(
                "insert into app.stage_events (lead_id, stage, occurred_at, actor) "
                "values (%s, %s, clock_timestamp(), 'test')",
                (lead, stage),
            )
    fees = {leads[0]: "10000.50", leads[1]: "12000.00", leads[2]: "7000.25"}
    for lead, fee in fees.items():
        db.execute(
            "update app.deals set assignment_fee = %s, contract_price = 200000.10, "
            "notes = 'private' where lead_id = %s",
            (Decimal(fee), lead),
        )
    resources = {"postgres": PostgresResource(url=database_url), "dbt": dbt_resource()}
    selection = dg.AssetSelection.assets(warehouse_deals, "stg_deals", "deals_pipeline")
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            MART_ASSETS, selection=selection, instance=instance, resources=resources
        )
    assert result.success
    checks = result.get_asset_check_evaluations()
    assert checks and all(c.passed for c in checks)
    rows = db.execute(
        "select lead_id, source, status, is_open, expected_fee, realised_fee, contract_price, "
        "days_since_offer_made from marts.deals_pipeline order by lead_id"
    ).fetchall()
    assert rows == [
        (leads[0], "vendor", "offer_made", True, Decimal("10000.50"), None,
         Decimal("200000.10"), 0),
        (leads[1], "vendor", "under_contract", True, Decimal("12000.00"), None,
         Decimal("200000.10"), 0),
        (leads[2], "vendor", "closed_won", False, None, Decimal("7000.25"),
         Decimal("200000.10"), 0),
    ]  # fmt: skip
    columns = {r[0] for r in db.execute(
        "select column_name from information_schema.columns where table_schema = 'raw' "
        "and table_name = 'deals'"
    ).fetchall()}  # fmt: skip
    assert "notes" not in columns
