"""Email signals: valid syntax, a throwaway domain, a shared role mailbox (info@, sales@)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from disposable_email_domains import blocklist

from hk_core.pii import validated_email

# Mailboxes of a function, not of a person: a seller rarely answers from one.
ROLE_LOCAL_PARTS = frozenset(
    {
        "abuse", "accounting", "accounts", "admin", "administrator", "billing", "careers",
        "contact", "contactus", "customerservice", "donotreply", "do-not-reply", "enquiries",
        "feedback", "frontdesk", "hello", "help", "helpdesk", "hostmaster", "hr", "info",
        "inquiries", "jobs", "legal", "mail", "marketing", "media", "newsletter", "no-reply",
        "noreply", "no_reply", "office", "orders", "postmaster", "press", "privacy", "reception",
        "root", "sales", "security", "service", "staff", "support", "team", "webmaster",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class EmailCheck:
    """No email given: everything None. Given but not an address: ``is_valid`` False."""

    normalized: str | None
    is_valid: bool | None
    is_disposable: bool | None
    is_role: bool | None
    domain: str | None


_NOT_GIVEN = EmailCheck(None, None, None, None, None)
_INVALID = EmailCheck(None, False, False, False, None)


def is_disposable_domain(domain: str) -> bool:
    """The domain or any parent of it is on the disposable-domains blocklist."""
    labels = domain.lower().split(".")
    return any(".".join(labels[i:]) in blocklist for i in range(len(labels) - 1))


def is_role_local_part(local_part: str) -> bool:
    base = local_part.lower().split("+", 1)[0]
    return base in ROLE_LOCAL_PARTS or base.rstrip("0123456789") in ROLE_LOCAL_PARTS


@lru_cache(maxsize=131_072)
def _check(text: str) -> EmailCheck:
    # No DNS lookups: enrichment runs in batch and must not depend on the network.
    result = validated_email(text, check_deliverability=False)
    if result is None:
        return _INVALID
    domain = result.ascii_domain.lower()
    return EmailCheck(
        normalized=result.normalized,
        is_valid=True,
        is_disposable=is_disposable_domain(domain),
        is_role=is_role_local_part(result.local_part),
        domain=domain,
    )


def check_email(raw: str | None) -> EmailCheck:
    if not isinstance(raw, str) or not raw.strip():
        return _NOT_GIVEN
    return _check(raw.strip())


def clear_cache() -> None:
    """Forget the memoised answers (a cold start, for benchmarks)."""
    _check.cache_clear()
