"""Online scores: a lead's score from the feature store, a what-if payload, a batch of leads.

Every answer names the model version that produced it (body and ``X-Model-Version``). The
feature rows come from ``marts.lead_features``, the table the nightly batch scores, and the
same encoder and trees score them, so a lead's online score equals its batch score for the
same model version (tests/test_scoring_api.py checks every lead of a book to 1e-6).
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, HTTPException, Path, Request, Response
from prometheus_client import Counter
from pydantic import BaseModel, Field

from hk_core.features import FEATURES
from serving.deps import ReadKey, State
from serving.errors import ERROR_RESPONSES, ErrorBody
from serving.model import ModelHolder, ServedModel

router = APIRouter(tags=["scores"])

SCORES_SERVED = Counter(
    "hk_scores_served_total", "Scores returned, by model version and route",
    ["model_version", "route"],
)  # fmt: skip
_served_counters: dict[tuple[str, str], Any] = {}


def _count(version: str, route: str, n: int = 1) -> None:
    # labels() takes a lock and builds a key on every call: keep the children.
    child = _served_counters.get((version, route))
    if child is None:
        child = _served_counters[(version, route)] = SCORES_SERVED.labels(version, route)
    child.inc(n)


def count_lead_score(version: str) -> None:
    _count(version, "lead")


MAX_LEAD_ID = 2**63 - 1


class ReasonOut(BaseModel):
    feature: str = Field(description="Feature name (see docs/serving.md)")
    contribution: float = Field(description="Push on the log-odds of conversion")
    text: str = Field(description="The reason in business words, with the lead's value")


class ScoreOut(BaseModel):
    lead_id: int | None = None
    score: float = Field(description="Probability that the lead converts within 90 days")
    decile: int | None = Field(
        None, description="1 = the best-scored tenth of the last nightly batch; null before one"
    )
    model_name: str
    model_version: str
    reasons: list[ReasonOut]


class BatchIn(BaseModel):
    lead_ids: list[Annotated[int, Field(ge=1, le=MAX_LEAD_ID)]] = Field(min_length=1)


class NotScored(BaseModel):
    lead_id: int
    reason: str


class BatchOut(BaseModel):
    model_name: str
    model_version: str
    scores: list[ScoreOut]
    not_scored: list[NotScored]


_NO_MODEL = {
    "model": ErrorBody,
    "description": "No model has been promoted yet, or the database is unavailable",
}
_AUTH = {k: v for k, v in ERROR_RESPONSES.items() if k in (400, 401, 403, 422, 429)}
_JSON_TYPE = {"numeric": "number", "boolean": "boolean", "categorical": "string"}
# The documented body is the feature list of hk_core.features (what every model is trained
# on); the check itself is against the loaded model's signature, in _validate_payload.
_PAYLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["features"],
                    "properties": {
                        "features": {
                            "type": "object",
                            "description": "Every feature by name; null for an unknown value",
                            "properties": {
                                f.name: {
                                    "type": [_JSON_TYPE[f.kind], "null"],
                                    "description": f.description,
                                }
                                for f in FEATURES
                            },
                            "required": [f.name for f in FEATURES],
                            "additionalProperties": False,
                        }
                    },
                }
            }
        },
    }
}


def _served(holder: ModelHolder) -> ServedModel:
    served = holder.current
    if served is None:
        why = holder.unavailable or holder.problem or "no model loaded"
        raise HTTPException(status_code=503, detail=f"no model to score with: {why}")
    return served


def _json(body: Any, served: ServedModel, route: str, count: int = 1) -> Response:
    _count(served.version, route, count)
    return _response(orjson.dumps(body), f"{served.name}/{served.version}")


def _response(content: bytes, model: str) -> Response:
    return Response(content, media_type="application/json", headers={"X-Model-Version": model})


@router.get(
    "/v1/leads/{lead_id}/score",
    response_model=ScoreOut,
    summary="The current model's score for a lead, with its decile and reasons",
    responses={
        **_AUTH,
        404: {"model": ErrorBody, "description": "No such lead"},
        409: {"model": ErrorBody, "description": "Received, but not in the feature store yet"},
        503: _NO_MODEL,
    },
)
async def lead_score(
    state: State, _key: ReadKey, lead_id: Annotated[int, Path(ge=1, le=MAX_LEAD_ID)]
) -> Response:
    # serving/fastpath.py answers this route's requests through the same LeadScorer.answer
    # before FastAPI routes them; they reach here when it hands them on (see its docstring).
    served = _served(state.model)
    answer = await state.scorer.answer(served, lead_id)
    if answer.model is None:
        return Response(answer.body, answer.status, media_type="application/json")
    _count(served.version, "lead")
    return _response(answer.body, answer.model)


def _validate_payload(served: ServedModel, features: dict[str, Any]) -> list[dict[str, Any]]:
    """FastAPI-shaped errors naming each unknown, missing or mistyped feature."""
    errors = []
    expected = {f.name: f for f in served.encoder.features}
    for name in features.keys() - expected.keys():
        errors.append({"loc": ["body", "features", name], "msg": f"unknown feature {name!r}",
                       "type": "unknown_feature"})  # fmt: skip
    for name, feature in expected.items():
        if name not in features:
            errors.append({"loc": ["body", "features", name],
                           "msg": f"missing feature {name!r} (send null if unknown)",
                           "type": "missing"})  # fmt: skip
            continue
        value = features[name]
        if value is None:
            continue
        ok = (
            isinstance(value, bool)
            if feature.kind == "boolean"
            else isinstance(value, str)
            if feature.kind == "categorical"
            else isinstance(value, int | float) and not isinstance(value, bool)
        )
        if not ok:
            kind = {"boolean": "true/false", "categorical": "a string"}.get(
                feature.kind, "a number"
            )
            errors.append({"loc": ["body", "features", name],
                           "msg": f"{name} must be {kind} or null", "type": f"{feature.kind}_type"})  # fmt: skip
    return sorted(errors, key=lambda e: str(e["loc"]))


def _unprocessable(errors: list[dict[str, Any]]) -> Response:
    return Response(orjson.dumps({"detail": errors}), 422, media_type="application/json")


@router.post(
    "/v1/score",
    response_model=ScoreOut,
    summary="Score a feature payload (what-if analysis)",
    responses={**_AUTH, 503: _NO_MODEL},
    openapi_extra=_PAYLOAD_BODY,
)
async def score_payload(state: State, _key: ReadKey, request: Request) -> Response:
    try:
        payload = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise HTTPException(status_code=400, detail="the body is not UTF-8 JSON") from None
    features = payload.get("features") if isinstance(payload, dict) else None
    if not isinstance(features, dict):
        return _unprocessable([{"loc": ["body", "features"], "type": "missing",
                                "msg": "an object of features by name is required"}])  # fmt: skip
    holder = state.model
    served = _served(holder)
    errors = _validate_payload(served, features)
    if errors:
        return _unprocessable(errors)
    return _json(holder.score_bodies(served, [features], [None])[0], served, "payload")


@router.post(
    "/v1/scores:batch",
    response_model=BatchOut,
    summary="Scores for up to HK_SCORE_BATCH_MAX leads in one call",
    responses={**_AUTH, 503: _NO_MODEL},
)
async def batch_scores(state: State, _key: ReadKey, body: BatchIn) -> Response:
    limit = state.settings.score_batch_max
    if len(body.lead_ids) > limit:
        return _unprocessable([{"loc": ["body", "lead_ids"], "type": "too_long",
                                "msg": f"at most {limit} lead ids per call"}])  # fmt: skip
    holder = state.model
    served = _served(holder)
    ids = list(dict.fromkeys(body.lead_ids))  # once each, in the caller's order
    rows = await state.features.get(ids, served.encoder.feature_names)
    found = [i for i in ids if i in rows]
    scores = holder.score_bodies(served, [rows[i] for i in found], found) if found else []
    missing = [
        {"lead_id": i, "reason": "not in the feature store (unknown, or not yet enriched)"}
        for i in ids
        if i not in rows
    ]
    body_out = {
        "model_name": served.name,
        "model_version": served.version,
        "scores": scores,
        "not_scored": missing,
    }
    return _json(body_out, served, "batch", len(scores))
