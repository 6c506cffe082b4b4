"""Each API worker's memory of the scores it answered, so a repeated lead costs a lookup.

A score depends on the lead's feature row, the model version and the last batch's decile
cut points; the cache is stamped with (model version, cut points version, feature
generation) and empties itself as soon as any of them moves. The feature generation is
``ml.feature_generation``, which every mart rebuild and rescoring bumps and each worker
polls every ``HK_CACHE_POLL_SECONDS`` (1 s): a rebuilt lead may be answered from the old
row for at most that long. Entries are evicted oldest first beyond ``HK_SCORE_CACHE_SIZE``.
"""

from __future__ import annotations

from collections.abc import Hashable

from prometheus_client import Counter

SCORE_CACHE = Counter(
    "hk_score_cache_requests_total", "In-process score cache lookups by result", ["result"]
)
_HIT = SCORE_CACHE.labels("hit")
_MISS = SCORE_CACHE.labels("miss")


class ScoreCache:
    def __init__(self, max_entries: int):
        self.max_entries = max_entries
        self._entries: dict[int, tuple[bytes, str]] = {}
        self._stamp: Hashable = None

    def _check(self, stamp: Hashable) -> bool:
        if stamp is None or self.max_entries == 0:
            return False
        if stamp != self._stamp:
            self._entries.clear()
            self._stamp = stamp
        return True

    def get(self, lead_id: int, stamp: Hashable) -> tuple[bytes, str] | None:
        """(response body, model version) of a score given under ``stamp``, if kept."""
        if not self._check(stamp):
            return None
        found = self._entries.get(lead_id)
        (_HIT if found is not None else _MISS).inc()
        return found

    def put(self, lead_id: int, stamp: Hashable, body: bytes, version: str) -> None:
        if not self._check(stamp):
            return
        if len(self._entries) >= self.max_entries:
            del self._entries[next(iter(self._entries))]  # the oldest
        self._entries[lead_id] = (body, version)
