"""Each API worker's memory of the scores it answered, so a repeated lead costs a lookup.

A score depends on the lead's feature row, the model version and the last batch's decile
cut points; the cache is stamped with (model version, cut points version, feature
generation) and empties itself as soon as any of them moves. The feature generation is
``ml.feature_generation``, which every mart rebuild and rescoring bumps and each worker
polls every ``HK_CACHE_POLL_SECONDS`` (1 s): a rebuilt lead may be answered from the old
row for at most that long. Entries are evicted oldest first beyond ``HK_SCORE_CACHE_SIZE``.

``keep_warm`` refills it in bulk after every such change (model swap, new cut points, mart
rebuild): the newest ``HK_SCORE_CACHE_SIZE`` leads are read in one query and scored column-wise
in a worker thread, so the leads the CRM and operators look at answer from memory.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Hashable, Iterable
from typing import TYPE_CHECKING

import orjson
from prometheus_client import Counter, Gauge

from hk_core.logging import get_logger

if TYPE_CHECKING:
    from serving.model import ModelHolder, ServedModel

log = get_logger(__name__)

SCORE_CACHE = Counter(
    "hk_score_cache_requests_total", "In-process score cache lookups by result", ["result"]
)
CACHED_SCORES = Gauge("hk_score_cache_entries", "Scores kept in this worker's cache")
_HIT = SCORE_CACHE.labels("hit")
_MISS = SCORE_CACHE.labels("miss")


class ScoreCache:
    def __init__(self, max_entries: int):
        self.max_entries = max_entries
        self._entries: dict[int, tuple[bytes, str]] = {}
        self._stamp: Hashable = None

    def __len__(self) -> int:
        return len(self._entries)

    def _check(self, stamp: Hashable) -> bool:
        if stamp is None or self.max_entries == 0:
            return False
        if stamp != self._stamp:
            self._entries.clear()
            self._stamp = stamp
            CACHED_SCORES.set(0)
        return True

    def get(self, lead_id: int, stamp: Hashable) -> tuple[bytes, str] | None:
        """(response body, ``X-Model-Version`` value) of a score given under ``stamp``."""
        if not self._check(stamp):
            return None
        found = self._entries.get(lead_id)
        (_HIT if found is not None else _MISS).inc()
        return found

    def put(self, lead_id: int, stamp: Hashable, body: bytes, model: str) -> None:
        if not self._check(stamp):
            return
        if len(self._entries) >= self.max_entries:
            del self._entries[next(iter(self._entries))]  # the oldest
        self._entries[lead_id] = (body, model)
        CACHED_SCORES.set(len(self._entries))

    def put_many(self, stamp: Hashable, items: Iterable[tuple[int, bytes]], model: str) -> None:
        """Fill from a bulk computation (``warm_bodies``) made under ``stamp``."""
        if not self._check(stamp):
            return
        for lead_id, body in items:
            if len(self._entries) >= self.max_entries:
                break
            self._entries.setdefault(lead_id, (body, model))
        CACHED_SCORES.set(len(self._entries))


# ---------------------------------------------------------------------------- warming

WARM_CHUNK = 10_000


def warm_bodies(
    conninfo: str, holder: ModelHolder, served: ServedModel, limit: int
) -> list[tuple[int, bytes]]:
    """The score responses of the newest ``limit`` leads, computed in bulk (a worker thread).

    The same rows, encoder and trees as a request; the encoding is column-wise
    (``transform_arrow``, tested equal to the row-wise one), so the bodies equal what a request
    would compute.
    """
    from ml.data import lead_feature_schema, read_arrow

    schema = lead_feature_schema(served.encoder.features)
    query = (
        "select * from marts.lead_features "
        f"order by received_at desc nulls last, lead_id desc limit {int(limit)}"
    )
    table = read_arrow(conninfo, query, schema)
    names = list(served.encoder.feature_names)
    out: list[tuple[int, bytes]] = []
    for offset in range(0, table.num_rows, WARM_CHUNK):
        chunk = table.slice(offset, WARM_CHUNK)
        scores, contributions = served.score_table(chunk)
        ids = chunk.column("lead_id").to_pylist()
        rows = chunk.select(names).to_pylist()
        bodies = holder.bodies(served, rows, ids, scores, contributions)
        out.extend((i, orjson.dumps(b)) for i, b in zip(ids, bodies, strict=True))
    return out


async def keep_warm(cache: ScoreCache, holder: ModelHolder, conninfo: str, every: float) -> None:
    """Whenever what a score depends on moves, recompute the newest leads' scores in bulk."""
    warmed: Hashable = None
    while True:
        stamp = holder.stamp()
        served = holder.current
        if stamp is not None and stamp != warmed and served is not None and cache.max_entries:
            started = time.perf_counter()
            try:
                items = await asyncio.to_thread(
                    warm_bodies, conninfo, holder, served, cache.max_entries
                )
            except Exception as error:  # noqa: BLE001 -- requests fill the cache instead
                log.warning("score cache not warmed", error=str(error))
                items = []
            if holder.stamp() == stamp:  # still current: keep them
                cache.put_many(stamp, items, f"{served.name}/{served.version}")
                warmed = stamp
                log.info("score cache warmed", leads=len(items),
                         seconds=round(time.perf_counter() - started, 2))  # fmt: skip
        await asyncio.sleep(every)
