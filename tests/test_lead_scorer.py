"""LeadScorer's coalescing, on stand-ins for the feature store and the model: who is read with
whom, and that a failure stays with the requests it concerns."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import numpy as np
import orjson
import pytest

from serving import lead_scorer
from serving.lead_scorer import LeadScorer
from serving.model import ModelHolder
from serving.score_cache import ScoreCache

STAMP = ("1", 0, 0)


class Features:
    """Rows by lead id; ``received`` are in app.leads without a feature row (409)."""

    def __init__(self, rows: dict[int, dict[str, Any]], received: set[int] = frozenset()):
        self.rows, self.received = rows, received
        self.reads: list[list[int]] = []
        self.fail_next = False

    async def get(self, ids, columns):
        self.reads.append(list(ids))
        await asyncio.sleep(0)  # a round trip: others may gather meanwhile
        if self.fail_next:
            self.fail_next = False
            raise ConnectionError("database went away")
        return {i: self.rows[i] for i in ids if i in self.rows}

    async def leads_received(self, ids):
        return {i for i in ids if i in self.received}


class Served:
    name, version = "lead_conversion", "1"
    encoder = SimpleNamespace(feature_names=("x",))

    def score_rows(self, rows):
        if any(not isinstance(r["x"], float) for r in rows):
            raise ValueError("not a number")
        return np.array([r["x"] for r in rows]), np.zeros((len(rows), 1))


SERVED = Served()


class Holder:
    def stamp(self):
        return STAMP

    def bodies(self, served, rows, ids, scores, contributions):
        return [{"lead_id": i, "score": float(s)} for i, s in zip(ids, scores, strict=True)]

    score_bodies = ModelHolder.score_bodies  # the real one: served.score_rows, then bodies


def _scorer(features: Features, cache_size: int = 0) -> LeadScorer:
    return LeadScorer(features, Holder(), ScoreCache(cache_size))  # type: ignore[arg-type]


def _rows(*ids: int) -> dict[int, dict[str, Any]]:
    return {i: {"x": i / 100} for i in ids}


def test_concurrent_misses_share_one_read_and_each_gets_its_own_answer():
    features = Features(_rows(1, 2, 3), received={50})
    scorer = _scorer(features)

    async def run():
        ids = [1, 2, 3, 2, 99, 50]
        return ids, await asyncio.gather(*(scorer.answer(SERVED, i) for i in ids))

    ids, answers = asyncio.run(run())
    assert features.reads == [[1, 2, 3, 99, 50]]  # one read, each lead once
    for lead_id, answer in zip(ids, answers, strict=True):
        if lead_id in (1, 2, 3):
            assert answer.status == 200 and answer.model == "lead_conversion/1"
            assert orjson.loads(answer.body) == {"lead_id": lead_id, "score": lead_id / 100}
    assert answers[4].status == 404 and orjson.loads(answers[4].body) == {"detail": "no lead 99"}
    assert answers[5].status == 409 and b"not in the feature store yet" in answers[5].body


def test_a_lone_request_is_read_alone_and_later_ones_form_new_batches():
    features = Features(_rows(1, 2, 3))
    scorer = _scorer(features)

    async def run():
        first = await scorer.answer(SERVED, 1)
        rest = await asyncio.gather(scorer.answer(SERVED, 2), scorer.answer(SERVED, 3))
        return [first, *rest]

    answers = asyncio.run(run())
    assert [a.status for a in answers] == [200, 200, 200]
    assert features.reads == [[1], [2, 3]]


def test_a_row_the_model_cannot_score_fails_only_its_own_request():
    rows = _rows(1, 3)
    rows[2] = {"x": "not a number"}
    scorer = _scorer(Features(rows))

    async def run():
        return await asyncio.gather(
            *(scorer.answer(SERVED, i) for i in (1, 2, 3)), return_exceptions=True
        )

    first, second, third = asyncio.run(run())
    assert isinstance(second, ValueError)
    assert (first.status, third.status) == (200, 200)
    assert orjson.loads(third.body)["lead_id"] == 3


def test_a_failed_read_fails_its_batch_and_the_next_batch_reads_again():
    features = Features(_rows(1, 2, 3))
    scorer = _scorer(features)

    async def run():
        features.fail_next = True
        failed = await asyncio.gather(
            scorer.answer(SERVED, 1), scorer.answer(SERVED, 2), return_exceptions=True
        )
        return failed, await scorer.answer(SERVED, 3)

    failed, later = asyncio.run(run())
    assert all(isinstance(f, ConnectionError) for f in failed)
    assert later.status == 200


def test_answers_are_cached_and_a_cancelled_request_leaves_its_neighbours_alone():
    features = Features(_rows(1, 2))
    scorer = _scorer(features, cache_size=10)

    async def run():
        cancelled = asyncio.ensure_future(scorer.answer(SERVED, 1))
        kept = asyncio.ensure_future(scorer.answer(SERVED, 2))
        await asyncio.sleep(0)
        cancelled.cancel()
        answer = await kept
        again = await asyncio.gather(scorer.answer(SERVED, 2), scorer.answer(SERVED, 1))
        return answer, again

    answer, again = asyncio.run(run())
    assert answer.status == 200
    assert [a.status for a in again] == [200, 200]
    assert features.reads == [[1, 2], [1]]  # lead 2 from the cache, lead 1 was never stored


def test_a_crowd_is_read_in_batches_of_at_most_max_batch(monkeypatch):
    monkeypatch.setattr(lead_scorer, "MAX_BATCH", 4)
    features = Features(_rows(*range(1, 11)))
    scorer = _scorer(features)

    async def run():
        return await asyncio.gather(*(scorer.answer(SERVED, i) for i in range(1, 11)))

    answers = asyncio.run(run())
    assert [orjson.loads(a.body)["lead_id"] for a in answers] == list(range(1, 11))
    assert sorted(len(r) for r in features.reads) == [2, 4, 4]


@pytest.mark.parametrize("in_flight", [1, 2])
def test_while_batches_are_in_flight_new_misses_wait_and_gather(monkeypatch, in_flight):
    monkeypatch.setattr(lead_scorer, "MAX_IN_FLIGHT", in_flight)
    features = Features(_rows(*range(1, 8)))
    scorer = _scorer(features)

    async def run():
        tasks = []
        for lead_id in range(1, 8):  # one new request per turn of the loop
            tasks.append(asyncio.ensure_future(scorer.answer(SERVED, lead_id)))
            await asyncio.sleep(0)
        return await asyncio.gather(*tasks)

    answers = asyncio.run(run())
    assert [orjson.loads(a.body)["lead_id"] for a in answers] == list(range(1, 8))
    assert sorted(i for read in features.reads for i in read) == list(range(1, 8))
    assert len(features.reads) < 7  # some waited for a batch in flight and went together


def test_requests_that_took_different_models_are_never_scored_together():
    class Promoted(Served):
        version = "2"

    features = Features(_rows(1, 2))
    scorer = _scorer(features)

    async def run():
        return await asyncio.gather(scorer.answer(SERVED, 1), scorer.answer(Promoted(), 2))

    old, new = asyncio.run(run())
    assert (old.model, new.model) == ("lead_conversion/1", "lead_conversion/2")
    assert sorted(features.reads) == [[1], [2]]
