"""Provider answers kept in app.enrichment_cache, so no address is paid for twice."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta

import orjson
import psycopg

from hk_core.address import StandardAddress

from .facts import PropertyFacts
from .providers import EnrichmentProvider

# Found facts go stale slowly (values, sales, distress flags move monthly); a miss is retried
# sooner because vendors add parcels and the county roll is re-imported.
FOUND_TTL = timedelta(days=30)
MISS_TTL = timedelta(days=7)

_GET_SQL = """
select address_key, facts from app.enrichment_cache
where provider = %s and address_key = any(%s)
  and fetched_at > now() - case when facts is null then %s else %s end
"""
_PUT_SQL = """
insert into app.enrichment_cache (address_key, provider, facts, fetched_at)
select k, %s, f::jsonb, now() from unnest(%s::text[], %s::text[]) as t(k, f)
on conflict (address_key, provider)
do update set facts = excluded.facts, fetched_at = excluded.fetched_at
"""


class EnrichmentCache:
    def __init__(
        self, conninfo: str, *, found_ttl: timedelta = FOUND_TTL, miss_ttl: timedelta = MISS_TTL
    ):
        self.conninfo = conninfo
        self.found_ttl, self.miss_ttl = found_ttl, miss_ttl

    def get_many(self, provider: str, keys: Iterable[str]) -> dict[str, PropertyFacts | None]:
        """The fresh answers among ``keys``; a key absent from the result was never asked (or
        its answer expired), a key mapped to None was asked and nothing was found."""
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        with psycopg.connect(self.conninfo) as conn:
            rows = conn.execute(
                _GET_SQL, (provider, wanted, self.miss_ttl, self.found_ttl)
            ).fetchall()
        return {key: PropertyFacts.from_dict(f) if f is not None else None for key, f in rows}

    def put_many(self, provider: str, answers: Mapping[str, PropertyFacts | None]) -> int:
        """Upsert the answers in one statement; returns how many were written."""
        if not answers:
            return 0
        keys = list(answers)
        facts = [
            orjson.dumps(f.to_dict()).decode() if f is not None else None for f in answers.values()
        ]
        with psycopg.connect(self.conninfo) as conn:
            conn.execute(_PUT_SQL, (provider, keys, facts))
        return len(keys)


class CachedProvider:
    """Any provider behind the cache: only addresses without a fresh answer reach it."""

    def __init__(self, provider: EnrichmentProvider, cache: EnrichmentCache):
        self.provider = provider
        self.cache = cache
        self.name = provider.name
        self.cache_hits = 0  # of the last lookup, for run metadata
        self.cache_misses = 0

    def lookup(self, addresses: Sequence[StandardAddress]) -> dict[str, PropertyFacts | None]:
        unique = {a.key: a for a in addresses}
        results = self.cache.get_many(self.name, unique)
        todo = [a for key, a in unique.items() if key not in results]
        self.cache_hits, self.cache_misses = len(results), len(todo)
        if todo:
            # A provider failure raises here, before anything is cached: nothing half-written.
            fetched = self.provider.lookup(todo)
            answered = {a.key: fetched[a.key] for a in todo if a.key in fetched}
            self.cache.put_many(self.name, answered)
            results.update(answered)
        return results
