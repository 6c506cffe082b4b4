"""Property facts from a paid data vendor over HTTP, with retries, backoff and a rate cap."""

from __future__ import annotations

import email.utils
import random
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from hk_core.address import StandardAddress

from .facts import PropertyFacts

BATCH_SIZE = 100
RETRY_AFTER_MAX = 60.0  # a vendor asking for a longer pause is honoured only up to a minute
_RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


class VendorUnavailable(RuntimeError):
    """The vendor did not answer after every retry: the whole enrichment run must fail."""


class VendorRequestError(RuntimeError):
    """The vendor refused the request itself (a 4xx other than 429): retrying cannot help."""

    def __init__(self, status_code: int, body: str):
        super().__init__(f"vendor refused the request: HTTP {status_code}: {body[:200]}")
        self.status_code = status_code


class TokenBucket:
    """At most ``rate`` requests a second on average, bursts of up to ``capacity``."""

    def __init__(
        self,
        rate: float,
        capacity: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.capacity = capacity if capacity is not None else max(1.0, rate)
        self._tokens = self.capacity
        self._clock, self._sleep = clock, sleep
        self._updated = clock()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            self._tokens -= 1
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class HttpVendorProvider:
    """``POST {base_url}/v1/property-lookup`` in batches; see docs/enrichment.md for the policy."""

    name = "http_vendor"

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 5.0,
        max_retries: int = 3,
        backoff_base: float = 0.2,
        backoff_max: float = 5.0,
        max_requests_per_second: float = 20.0,
        client: httpx.Client | None = None,
        batch_size: int = BATCH_SIZE,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.url = base_url.rstrip("/") + "/v1/property-lookup"
        self.max_retries = max_retries
        self.backoff_base, self.backoff_max = backoff_base, backoff_max
        self.batch_size = batch_size
        self._owns_client = client is None
        self._client = client or httpx.Client(timeout=timeout)
        self._timeout = timeout
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._sleep = sleep  # between retries; tests pass a recorder instead of waiting
        self._bucket = TokenBucket(max_requests_per_second, sleep=sleep)
        self.requests_made = 0  # attempts, retries included: for run metadata

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> HttpVendorProvider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def lookup(self, addresses: Sequence[StandardAddress]) -> dict[str, PropertyFacts | None]:
        unique = list({a.key: a for a in addresses}.values())
        results: dict[str, PropertyFacts | None] = {}
        for start in range(0, len(unique), self.batch_size):
            results.update(self._lookup_batch(unique[start : start + self.batch_size]))
        return results

    def _lookup_batch(self, batch: list[StandardAddress]) -> dict[str, PropertyFacts | None]:
        body = {
            "addresses": [
                {"key": a.key, "line1": a.line1, "city": a.city, "state": a.state, "zip": a.zip5}
                for a in batch
            ]
        }
        payload = self._post(body)
        try:
            answers = {r["key"]: r for r in payload["results"]}
            results = {
                a.key: (
                    PropertyFacts.from_dict(answers[a.key].get("facts") or {})
                    if answers[a.key].get("found")
                    else None
                )
                for a in batch
            }
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            # Half an answer is not an answer: never let missing keys pass as "not found".
            raise VendorUnavailable(f"vendor sent an unusable response: {exc!r}") from exc
        return results

    def _post(self, body: dict[str, Any]) -> Any:
        last_problem = ""
        for attempt in range(self.max_retries + 1):
            self._bucket.acquire()
            self.requests_made += 1
            retry_after = None
            try:
                response = self._client.post(
                    self.url, json=body, headers=self._headers, timeout=self._timeout
                )
            except httpx.TransportError as exc:  # connect errors, timeouts, dropped connections
                last_problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code < 300:
                    try:
                        return response.json()
                    except ValueError as exc:
                        raise VendorUnavailable("vendor sent a response that is not JSON") from exc
                if response.status_code not in _RETRYABLE_STATUS:
                    raise VendorRequestError(response.status_code, response.text)
                last_problem = f"HTTP {response.status_code}"
                retry_after = retry_after_seconds(response.headers.get("Retry-After"))
            if attempt < self.max_retries:
                self._sleep(self._delay(attempt, retry_after))
        raise VendorUnavailable(
            f"vendor unavailable after {self.max_retries + 1} attempts: {last_problem}"
        )

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, RETRY_AFTER_MAX)
        # Full jitter: many workers retrying together spread out instead of stampeding.
        return random.uniform(0, min(self.backoff_max, self.backoff_base * 2**attempt))
