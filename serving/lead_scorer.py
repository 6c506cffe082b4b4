"""A lead's score answer, as ``GET /v1/leads/{id}/score`` gives it, with concurrent misses coalesced.

The route and the fast path (``serving/fastpath.py``) both answer through ``LeadScorer.answer``:
the worker's score cache first, else the lead's feature row, the model and the reasons. A
miss does not read and score alone: it joins the requests that reach this point in the same
turn of the event loop, and one task reads all their rows in one query (``lead_id =
any(...)``, or one Redis ``MGET``) and scores them in one vectorised forest call. Each request
then gets its own lead's answer. Under load most of the per-request cost of a miss was the
database round trip and NumPy's per-call overhead, both now paid once per batch; a lone
request waits for nothing (the batch is read on the next turn of the loop).

A failure is contained to the requests it concerns: a read that fails fails the requests of
that batch (as their own read would have), and a row the model cannot score fails only its
own request (the batch is scored again lead by lead).
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from prometheus_client import Histogram

if TYPE_CHECKING:
    from serving.features import FeatureStore
    from serving.model import ModelHolder, ServedModel
    from serving.score_cache import ScoreCache
    from serving.score_marks import ScoreMarks

MAX_BATCH = 256  # leads per read and forest call; more waiting requests make more batches
# Batches being read and scored at once. While they are, new misses gather into the next
# one: without a bound, each turn of the loop started its own batch of one or two leads and
# paid a round trip and NumPy's call overhead for each.
MAX_IN_FLIGHT = 2


BATCH_LEADS = Histogram(
    "hk_score_batch_leads", "Leads read and scored together by GET /v1/leads/{id}/score",
    buckets=(1, 2, 3, 4, 6, 8, 12, 16, 32, 64, 128, 256),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Answer:
    status: int  # 200, 404 (never received) or 409 (received, not in the feature store yet)
    body: bytes
    model: str | None = None  # X-Model-Version of a 200


def not_found(lead_id: int) -> Answer:
    return Answer(404, orjson.dumps({"detail": f"no lead {lead_id}"}))


def not_enriched(lead_id: int) -> Answer:
    detail = (
        f"lead {lead_id} was received but is not in the feature store yet: "
        "it is scored once the pipelines have enriched it and rebuilt the marts"
    )
    return Answer(409, orjson.dumps({"detail": detail}))


_Waiter = tuple[int, "asyncio.Future[Answer]"]


class LeadScorer:
    def __init__(
        self,
        features: FeatureStore,
        holder: ModelHolder,
        cache: ScoreCache,
        marks: ScoreMarks | None = None,
    ):
        self.marks = marks
        self.features = features
        self.holder = holder
        self.cache = cache
        # id(served) -> (served, waiters) of the misses waiting for the next batch.
        self._gathering: dict[int, tuple[ServedModel, list[_Waiter]]] = {}
        self._flush_due = False
        self._tasks: set[asyncio.Task] = set()  # in flight (the loop keeps weak references)

    async def answer(self, served: ServedModel, lead_id: int) -> Answer:
        """``served``'s answer for the lead (the model the request took at its start)."""
        stamp: Hashable = self.holder.stamp()
        if stamp is not None and stamp[0] == served.version:  # type: ignore[index]
            cached = self.cache.get(lead_id, stamp)
            if cached is not None:
                return Answer(200, cached[0], cached[1])
        else:
            stamp = None  # the model moved since the stamp was taken: do not cache this one
        loop = asyncio.get_running_loop()
        if not self._flush_due and len(self._tasks) < MAX_IN_FLIGHT:
            self._flush_due = True
            loop.call_soon(self._flush)  # after the requests already ready this turn
        _, waiters = self._gathering.setdefault(id(served), (served, []))
        future: asyncio.Future[Answer] = loop.create_future()
        waiters.append((lead_id, future))
        answer = await future
        if answer.status == 200:
            self.cache.put(lead_id, stamp, answer.body, answer.model)  # type: ignore[arg-type]
        return answer

    def _flush(self) -> None:
        self._flush_due = False
        gathered, self._gathering = self._gathering, {}
        for served, waiters in gathered.values():
            for start in range(0, len(waiters), MAX_BATCH):
                batch = waiters[start : start + MAX_BATCH]
                task = asyncio.create_task(self._answer_batch(served, batch))
                self._tasks.add(task)
                task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if self._gathering and not self._flush_due:
            self._flush()

    async def _answer_batch(self, served: ServedModel, waiters: list[_Waiter]) -> None:
        BATCH_LEADS.observe(len(waiters))
        try:
            answers = await self._answers(served, list(dict.fromkeys(i for i, _ in waiters)))
        except Exception as error:  # noqa: BLE001 -- each request raises it (a 500, as before)
            answers = {}
            failure: BaseException | None = error
        else:
            failure = None
        for lead_id, future in waiters:
            if future.done():  # its request was cancelled
                continue
            answer = answers.get(lead_id, failure)
            if isinstance(answer, Answer):
                future.set_result(answer)
            else:
                future.set_exception(answer or RuntimeError(f"lead {lead_id} not answered"))

    async def _answers(
        self, served: ServedModel, ids: list[int]
    ) -> dict[int, Answer | BaseException]:
        rows = await self.features.get(ids, served.encoder.feature_names)
        found = [i for i in ids if i in rows]
        answers: dict[int, Answer | BaseException] = {}
        if found:
            scored = self._scored(served, found, [rows[i] for i in found])
            answers.update(scored)
            if self.marks is not None:
                ok = [
                    (i, a) for i, a in scored.items() if isinstance(a, Answer) and a.status == 200
                ]
                self.marks.note([i for i, _ in ok], [orjson.loads(a.body)["score"] for _, a in ok])
        missing = [i for i in ids if i not in rows]
        if missing:
            received = await self.features.leads_received(missing)
            for lead_id in missing:
                answers[lead_id] = (
                    not_enriched(lead_id) if lead_id in received else not_found(lead_id)
                )
        return answers

    def _scored(
        self, served: ServedModel, ids: list[int], rows: Sequence[dict[str, Any]]
    ) -> dict[int, Answer | BaseException]:
        model = f"{served.name}/{served.version}"
        try:
            bodies = self.holder.score_bodies(served, rows, ids)
        except Exception:  # noqa: BLE001 -- find the row at fault; its neighbours are fine
            if len(ids) == 1:
                raise
            out: dict[int, Answer | BaseException] = {}
            for lead_id, row in zip(ids, rows, strict=True):
                try:
                    out.update(self._scored(served, [lead_id], [row]))
                except Exception as error:  # noqa: BLE001
                    out[lead_id] = error
            return out
        return {
            lead_id: Answer(200, orjson.dumps(body), model)
            for lead_id, body in zip(ids, bodies, strict=True)
        }
