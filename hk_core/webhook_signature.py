"""Signed webhooks: ``X-HK-Signature: t=<unix seconds>,v1=<hex>`` over the raw body.

``v1`` is HMAC-SHA256 of ``f"{t}.".encode() + body`` under the provider's secret, in hex. A
header may carry several ``v1=`` values (a vendor rotating its secret signs with both), and a
provider may have several secrets (we rotate ours): one match of any value under any secret
is enough. The timestamp is signed too, so an old delivery cannot be re-stamped; a delivery
older (or further in the future) than the tolerance is refused, which bounds replays to that
window, and the event id de-duplicates the rest (docs/webhooks.md).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass

HEADER = "X-HK-Signature"
SCHEME = "v1"
# Above any real body's signature count; a header stuffed with values is refused, not looped.
MAX_SIGNATURES = 8
_HEX_SHA256 = re.compile(r"[0-9a-f]{64}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


class SignatureError(ValueError):
    """Why a delivery's signature was refused: ``reason`` is missing, malformed, stale or
    mismatch; the message is for the sender."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class SignatureHeader:
    timestamp: int
    signatures: tuple[str, ...]


def sign(body: bytes, secret: str, t: int) -> str:
    """The ``X-HK-Signature`` value for ``body`` sent at unix time ``t``."""
    return f"t={t},{SCHEME}={_digest(secret, t, body)}"


def _digest(secret: str, t: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()


def parse_header(header: str | None) -> SignatureHeader:
    """The header's timestamp and v1 signatures; other schemes (``v0=``) are ignored."""
    if header is None or not header.strip():
        raise SignatureError("missing", f"missing {HEADER} header")
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            raise SignatureError("malformed", f"malformed {HEADER}: {part.strip()[:40]!r}")
        value = value.strip()
        if key == "t":
            if timestamp is not None or not _TIMESTAMP.fullmatch(value):
                raise SignatureError("malformed", f"malformed {HEADER}: t must be unix seconds")
            timestamp = int(value)
        elif key == SCHEME:
            if not _HEX_SHA256.fullmatch(value.lower()):
                raise SignatureError(
                    "malformed", f"malformed {HEADER}: {SCHEME} must be 64 hex digits"
                )
            signatures.append(value.lower())
    if timestamp is None:
        raise SignatureError("malformed", f"malformed {HEADER}: no t=")
    if not signatures:
        raise SignatureError("malformed", f"malformed {HEADER}: no {SCHEME}=")
    if len(signatures) > MAX_SIGNATURES:
        raise SignatureError("malformed", f"malformed {HEADER}: over {MAX_SIGNATURES} signatures")
    return SignatureHeader(timestamp, tuple(signatures))


def verify(
    header: str | None,
    body: bytes,
    secrets: Sequence[str],
    *,
    now: float,
    tolerance_seconds: float,
) -> None:
    """Return when ``header`` signs ``body`` under one of ``secrets`` within the tolerance of
    ``now``; else raise SignatureError.

    The signature is checked before the timestamp, so "stale" is only ever said about a
    delivery that really came from the provider (a clock off, or a replay of an old one).
    """
    parsed = parse_header(header)
    matched = False
    for secret in secrets:
        expected = _digest(secret, parsed.timestamp, body)
        for given in parsed.signatures:
            # Every comparison runs: how many match, or which, takes the same time.
            matched |= hmac.compare_digest(expected, given)
    if not matched:
        raise SignatureError("mismatch", f"{HEADER} does not match the body")
    skew = now - parsed.timestamp
    if skew > tolerance_seconds:
        raise SignatureError(
            "stale",
            f"stale timestamp: t is {int(skew)} seconds old, over the {int(tolerance_seconds)} "
            "seconds allowed",
        )
    if -skew > tolerance_seconds:
        raise SignatureError(
            "stale",
            f"stale timestamp: t is {int(-skew)} seconds in the future, over the "
            f"{int(tolerance_seconds)} seconds allowed",
        )
