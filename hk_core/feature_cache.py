"""Online caches of lead features and scores, and their invalidation by the pipelines.

Two counters say "the rows changed": ``ml.feature_generation`` in Postgres (always; API
workers poll it and empty their in-process score cache when it moves) and, with Redis,
``hk:lead_features:generation`` next to the shared feature cache.

Each cached lead is ``hk:lead_features:<lead_id>`` → JSON ``{"g": generation, "f": features}``.
Invalidating bumps ``hk:lead_features:generation``: the API fetches the generation in the
same ``MGET`` as the leads and treats an entry from an older generation as a miss, so one
round trip answers a request and a rebuild is never undone by a request that read the old
row just before it (its entry carries the old generation). Old entries expire on their TTL.
"""

from __future__ import annotations

from hk_core.logging import get_logger
from hk_core.settings import Settings

log = get_logger(__name__)

PREFIX = "hk:lead_features:"
GENERATION_KEY = PREFIX + "generation"


def lead_key(lead_id: int) -> str:
    return f"{PREFIX}{lead_id}"


BUMP_SQL = """
update ml.feature_generation
set generation = generation + 1, changed_at = now(), reason = %s
returning generation
"""
READ_SQL = "select generation from ml.feature_generation"


def invalidate(settings: Settings, why: str, conninfo: str | None = None) -> int:
    """Make every cached feature row and score stale (after a mart rebuild or a rescoring).

    Returns the new Postgres generation. A Redis outage is logged, not raised: the
    pipeline's data is written, and the Redis entries expire on their TTL.
    """
    import psycopg

    from hk_core.db import database_url

    with psycopg.connect(conninfo or database_url(settings), autocommit=True) as conn:
        row = conn.execute(BUMP_SQL, (why[:200],)).fetchone()
    generation = int(row[0]) if row else 0
    if settings.redis_url:
        import redis

        try:
            with redis.Redis.from_url(settings.redis_url, socket_timeout=5) as client:
                client.incr(GENERATION_KEY)
        except redis.RedisError as error:
            log.warning("redis feature cache not invalidated", why=why, error=str(error))
    log.info("feature caches invalidated", why=why, generation=generation)
    return generation
