"""Counters shared by every webhook route (vendor leads, e-signature): refusals by reason, and
deliveries by outcome, so a provider with a wrong secret or a clock drift shows up on a graph."""

from __future__ import annotations

from prometheus_client import Counter

WEBHOOK_REFUSALS = Counter(
    "hk_webhook_refusals_total",
    "Webhook deliveries refused, by provider and reason: missing, malformed, stale, mismatch "
    "(the signature or secret), unknown_provider (or switched off), invalid_payload",
    ["provider", "reason"],
)
WEBHOOK_EVENTS = Counter(
    "hk_webhook_events_total",
    "Webhook deliveries past the signature, by provider and outcome: created, duplicate (the "
    "lead was already stored), rejected, replayed (an event already received); e-signature: "
    "stored, ignored (an event type not acted on), error_<status>",
    ["provider", "outcome"],
)  # fmt: skip


def count_refusal(provider: str, reason: str) -> None:
    WEBHOOK_REFUSALS.labels(provider, reason).inc()


def count_event(provider: str, outcome: str) -> None:
    WEBHOOK_EVENTS.labels(provider, outcome).inc()
