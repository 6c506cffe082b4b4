"""Counters shared by every webhook route (vendor leads, e-signature): refusals by reason, and
deliveries by outcome, so a provider with a wrong secret or a clock drift shows up on a graph."""

from __future__ import annotations

from prometheus_client import Counter

WEBHOOK_REFUSALS = Counter(
    "hk_webhook_refusals_total",
    "Webhook deliveries refused, by provider and reason "
    "(missing, malformed, stale, mismatch, unknown_provider, invalid_payload)",
    ["provider", "reason"],
)
WEBHOOK_EVENTS = Counter(
    "hk_webhook_events_total", "Webhook deliveries handled, by provider and outcome",
    ["provider", "outcome"],
)  # fmt: skip


def count_refusal(provider: str, reason: str) -> None:
    WEBHOOK_REFUSALS.labels(provider, reason).inc()


def count_event(provider: str, outcome: str) -> None:
    WEBHOOK_EVENTS.labels(provider, outcome).inc()
