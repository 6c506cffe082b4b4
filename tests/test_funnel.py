"""Stage moves over the API: the state machine, who and why, concurrency, and the timeline."""

from __future__ import annotations

import concurrent.futures

import httpx
import pytest

from orchestrator.funnel import CLOSED_LOST, MAIN_PATH, STAGES, StageError, allowed_next, check_move

LEAD = {"source": "web_form", "first_name": "Ana", "phone": "512-555-0199",
        "property_street": "9 Elm St", "property_state": "TX", "property_zip": "78702"}  # fmt: skip


def _lead(client, **extra) -> int:
    response = client.post("/v1/leads", json={**LEAD, **extra})
    assert response.status_code == 201, response.text
    return response.json()["lead_id"]


def _move(client, lead_id: int, stage: str, reason: str | None = None) -> httpx.Response:
    return client.post(f"/v1/leads/{lead_id}/stage", json={"stage": stage, "reason": reason})


@pytest.mark.parametrize("current", STAGES)
def test_every_stage_allows_exactly_its_successors(current):
    for stage in STAGES:
        legal = stage in allowed_next(current)
        reason = "seller sold elsewhere"
        if legal:
            check_move(current, stage, reason)
        else:
            with pytest.raises(StageError) as raised:
                check_move(current, stage, reason)
            assert raised.value.status == 409
            assert raised.value.allowed == allowed_next(current)


def test_the_main_path_end_to_end_records_who_and_why(client, db):
    lead_id = _lead(client, external_id="F-1")
    for previous, stage in zip(MAIN_PATH, MAIN_PATH[1:], strict=False):
        response = _move(client, lead_id, stage, reason=f"to {stage}")
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["previous"], body["stage"], body["changed"]) == (previous, stage, True)
    rows = db.execute(
        "select stage, from_stage, actor, reason from app.stage_events where lead_id = %s "
        "order by occurred_at",
        (lead_id,),
    ).fetchall()
    assert [row[0] for row in rows] == list(MAIN_PATH[1:])
    assert rows[0] == ("contacted", "new", "api-key:tests", "to contacted")
    assert _move(client, lead_id, "closed_lost", "x").status_code == 409  # closed_won is final


def test_an_illegal_move_is_409_naming_the_allowed_stages(client):
    lead_id = _lead(client, external_id="F-2")
    response = _move(client, lead_id, "offer_made")
    assert response.status_code == 409
    body = response.json()
    assert body["stage"] == "new" and body["allowed_next"] == ["contacted", "closed_lost"]
    assert "contacted, closed_lost" in body["detail"]


def test_closed_lost_needs_a_reason_and_reopens_to_contacted(client):
    lead_id = _lead(client, external_id="F-3")
    missing = _move(client, lead_id, CLOSED_LOST)
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["body", "reason"]
    assert _move(client, lead_id, CLOSED_LOST, "  ").status_code == 422
    assert _move(client, lead_id, CLOSED_LOST, "listed with an agent").status_code == 200
    assert _move(client, lead_id, "qualified").json()["allowed_next"] == ["contacted"]
    reopened = _move(client, lead_id, "contacted")
    assert reopened.status_code == 200 and reopened.json()["previous"] == CLOSED_LOST


def test_unknown_stage_unknown_lead_and_bad_bodies(client):
    lead_id = _lead(client, external_id="F-4")
    assert _move(client, lead_id, "won").status_code == 422
    assert _move(client, 987654321, "contacted").status_code == 404
    extra = client.post(f"/v1/leads/{lead_id}/stage", json={"stage": "contacted", "by": "me"})
    assert extra.status_code == 422
    assert client.post(f"/v1/leads/{lead_id}/stage", content=b"{").status_code == 422
    assert (
        httpx.post(
            f"{client.base_url}/v1/leads/{lead_id}/stage", json={"stage": "contacted"}
        ).status_code
        == 401
    )


def test_a_repeated_move_is_answered_again_without_a_second_event(client, db):
    lead_id = _lead(client, external_id="F-5")
    first, again = _move(client, lead_id, "contacted"), _move(client, lead_id, "contacted")
    assert first.json()["changed"] is True and again.json()["changed"] is False
    assert again.status_code == 200
    count = db.execute("select count(*) from app.stage_events where lead_id = %s", (lead_id,))
    assert count.fetchone()[0] == 1


def test_concurrent_moves_of_one_lead_serialise(client, db):
    lead_id = _lead(client, external_id="F-6")
    _move(client, lead_id, "contacted")
    # qualified and closed_lost are both legal from contacted; after either, the other is
    # legal only if it follows it (closed_lost follows qualified; qualified does not follow
    # closed_lost). Whatever the order, the stored history is a legal path.
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        moves = [("qualified", None), ("closed_lost", "sold elsewhere")] * 8
        answers = list(pool.map(lambda m: _move(client, lead_id, *m), moves))
    assert {a.status_code for a in answers} <= {200, 409}
    changed = [a.json() for a in answers if a.status_code == 200 and a.json()["changed"]]
    history = [r[0] for r in db.execute(
        "select stage from app.stage_events where lead_id = %s order by occurred_at, event_id", (lead_id,)
    )]  # fmt: skip
    assert len(history) == 1 + len(changed)
    for before, after in zip(history, history[1:], strict=False):
        assert after in allowed_next(before), history
    assert len(set(history)) == len(history) or history[-1] == "contacted"


def test_timeline_newest_first_and_paginated(client, db):
    lead_id = _lead(client, external_id="F-7")
    for stage in ("contacted", "qualified", "appointment_set"):
        _move(client, lead_id, stage)
    first = client.get(f"/v1/leads/{lead_id}/timeline", params={"limit": 2}).json()
    stages = [entry["stage"] for entry in first["entries"] if entry["kind"] == "stage"]
    assert stages == ["appointment_set", "qualified"]
    rest = client.get(
        f"/v1/leads/{lead_id}/timeline", params={"limit": 50, "cursor": first["next_cursor"]}
    ).json()
    seen = first["entries"] + rest["entries"]
    assert [e["at"] for e in seen] == sorted((e["at"] for e in seen), reverse=True)
    assert [e["stage"] for e in seen if e["kind"] == "stage"] == [
        "appointment_set",
        "qualified",
        "contacted",
    ]
    assert rest["next_cursor"] is None
    assert client.get(f"/v1/leads/{lead_id}/timeline", params={"cursor": "nope"}).status_code == 422
    assert client.get("/v1/leads/99999999/timeline").status_code == 404
