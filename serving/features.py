"""Online features: rows of ``marts.lead_features`` by lead id, through an optional Redis cache.

The rows are the ones the batch scores (same table, same columns, same encoder), so an online
score can only differ from the batch score if the row changed in between. No pandas here.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import orjson
from prometheus_client import Counter
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from hk_core.feature_cache import GENERATION_KEY, lead_key
from hk_core.logging import get_logger

log = get_logger(__name__)

FEATURE_CACHE = Counter(
    "hk_feature_cache_requests_total", "Online feature lookups by result (hit, miss, error)",
    ["result"],
)  # fmt: skip
FEATURE_TABLE = "marts.lead_features"
# SET with a TTL for each key, in one command: a pipeline of SETs cost redis-py more CPU
# (one packed command each) than the query it saved.
_FILL_SCRIPT = """
for i, key in ipairs(KEYS) do
    redis.call('SET', key, ARGV[i + 1], 'EX', ARGV[1])
end
"""

Row = dict[str, Any]


class FeatureStore:
    def __init__(
        self, pool: AsyncConnectionPool, redis_url: str | None = None, ttl_seconds: int = 3600
    ):
        self.pool = pool
        self.ttl_seconds = ttl_seconds
        self._redis: Any = None
        if redis_url:
            import redis.asyncio as redis

            self._redis = redis.from_url(redis_url, socket_timeout=1.0)
        self._queries: dict[tuple[tuple[str, ...], bool], bytes] = {}
        self._fill: Any = None  # the Lua script that stores many rows in one command
        if self._redis is not None:
            self._fill = self._redis.register_script(_FILL_SCRIPT)

    def _query(self, columns: tuple[str, ...], one: bool) -> bytes:
        # Rendered once per feature list: composing it costs more than scoring a lead.
        query = self._queries.get((columns, one))
        if query is None:
            composed = sql.SQL("select lead_id, {} from {} where lead_id = {}").format(
                sql.SQL(", ").join(sql.Identifier(c) for c in columns),
                sql.SQL(FEATURE_TABLE),
                # One id: a plain parameter. Several: an array literal, which psycopg sends as
                # it is instead of inspecting every element to choose the array's type.
                sql.SQL("%s" if one else "any(%s::bigint[])"),
            )
            query = self._queries[(columns, one)] = composed.as_bytes(None)
        return query

    async def _from_database(self, ids: Sequence[int], columns: tuple[str, ...]) -> dict[int, Row]:
        one = len(ids) == 1
        async with self.pool.connection() as conn:
            ids_param = ids[0] if one else "{" + ",".join(map(str, ids)) + "}"
            cursor = await conn.execute(self._query(columns, one), (ids_param,))
            found = await cursor.fetchall()
        # No call per value: a Decimal (a numeric column) is rare, the check is cheap.
        return {
            row[0]: {
                name: float(value) if type(value) is Decimal else value
                for name, value in zip(columns, row[1:], strict=True)
            }
            for row in found
        }

    async def get(self, ids: Sequence[int], columns: tuple[str, ...]) -> dict[int, Row]:
        """The feature rows of ``ids`` that exist (absent ids are simply missing)."""
        if self._redis is None:
            return await self._from_database(ids, columns)
        try:
            cached = await self._redis.mget([GENERATION_KEY, *(lead_key(i) for i in ids)])
        except Exception as error:  # noqa: BLE001 -- the cache is an optimisation
            FEATURE_CACHE.labels("error").inc(len(ids))
            log.warning("feature cache unreachable; reading Postgres", error=str(error))
            return await self._from_database(ids, columns)
        generation = int(cached[0] or 0)
        wanted = frozenset(columns)
        rows: dict[int, Row] = {}
        missing: list[int] = []
        for lead_id, raw in zip(ids, cached[1:], strict=True):
            entry = orjson.loads(raw) if raw else None
            if entry is not None and entry["g"] == generation and wanted <= entry["f"].keys():
                rows[lead_id] = entry["f"]
            else:
                missing.append(lead_id)
        if rows:
            FEATURE_CACHE.labels("hit").inc(len(rows))
        if missing:
            FEATURE_CACHE.labels("miss").inc(len(missing))
            fetched = await self._from_database(missing, columns)
            rows.update(fetched)
            if fetched:
                await self._store(fetched, generation)
        return rows

    async def _store(self, fetched: dict[int, Row], generation: int) -> None:
        keys = [lead_key(lead_id) for lead_id in fetched]
        values = [orjson.dumps({"g": generation, "f": row}) for row in fetched.values()]
        try:
            await self._fill(keys=keys, args=[self.ttl_seconds, *values])
        except Exception as error:  # noqa: BLE001 -- the cache is an optimisation
            log.warning("feature cache not filled", error=str(error))

    async def leads_received(self, ids: Sequence[int]) -> set[int]:
        """Those of ``ids`` received at all (app.leads), to explain a missing feature row."""
        async with self.pool.connection() as conn:
            cursor = await conn.execute(
                "select lead_id from app.leads where lead_id = any(%s)", (list(ids),)
            )
            return {row[0] for row in await cursor.fetchall()}

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
