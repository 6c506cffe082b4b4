"""The online feature cache's key layout, shared by the API (reads) and the pipelines (invalidate).

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


def invalidate(settings: Settings, why: str) -> int | None:
    """Make every cached feature row stale (after a mart rebuild or a rescoring).

    Returns the new generation, or None when no Redis is configured. A Redis outage is
    logged, not raised: the pipeline's data is written; entries expire on their TTL.
    """
    if not settings.redis_url:
        return None
    import redis

    try:
        with redis.Redis.from_url(settings.redis_url, socket_timeout=5) as client:
            generation = int(client.incr(GENERATION_KEY))
    except redis.RedisError as error:
        log.warning("feature cache not invalidated", why=why, error=str(error))
        return None
    log.info("feature cache invalidated", why=why, generation=generation)
    return generation
