"""PII: normalised email and phone and keyed hashes of them.

The libraries (email-validator, phonenumbers) are the source of truth. ``hk_core.contacts_fast``
computes their answer without them for the plain shapes where it is proven (its docstring holds
the proofs); every other value, and every email when deliverability is checked, goes to them.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from functools import lru_cache

import email_validator
import phonenumbers

from hk_core.contacts_fast import NanpFastPath, email_fast, nanp_fast_path

# RFC 5321 section 4.5.3.1.1: a mailbox's local part is at most 64 octets. email-validator 2.x
# does not check it, and no mail server delivers to a longer one.
MAX_LOCAL_PART_OCTETS = 64


def validated_email(
    raw: str, *, check_deliverability: bool = False
) -> email_validator.ValidatedEmail | None:
    """email-validator's reading of an address (surrounding whitespace stripped), or None when
    it is not one; a local part over 64 octets is not one."""
    try:
        result = email_validator.validate_email(
            raw.strip(), check_deliverability=check_deliverability
        )
    except email_validator.EmailNotValidError:
        return None
    if len(result.local_part.encode("utf-8")) > MAX_LOCAL_PART_OCTETS:
        return None
    return result


def valid_phone(raw: str, region: str) -> phonenumbers.PhoneNumber | None:
    """The number phonenumbers reads, only when it is valid (an assigned range): "555-0142" is
    a possible length but no number, and gets no E.164 form."""
    found = valid_phone_in_region(raw, region)
    return None if found is None else found[0]


def valid_phone_in_region(raw: str, region: str) -> tuple[phonenumbers.PhoneNumber, bool] | None:
    """``valid_phone``, and whether the number is valid in ``region`` itself (callers that
    need its region can then skip the walk over a shared country code's regions)."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    # The default region's own metadata first: is_valid_number alone walks every region of a
    # shared country code (25 for +1) before it answers.
    if phonenumbers.is_valid_number_for_region(number, region):
        return number, True
    return (number, False) if phonenumbers.is_valid_number(number) else None


@dataclass(frozen=True, slots=True)
class ContactKeys:
    email_normalized: str | None
    email_hash: str | None
    phone_e164: str | None
    phone_hash: str | None


class PiiHasher:
    """HMAC-SHA256 under ``HK_PII_KEY``: equal contacts give equal hashes, and only the key
    holder can test a guess."""

    def __init__(
        self,
        key: str,
        *,
        default_region: str = "US",
        check_deliverability: bool = False,
        fast: bool = True,
    ):
        """``fast=False`` sends every value to the libraries (the reference the fast path is
        tested against)."""
        self._key = key.encode()
        self.default_region = default_region
        self.check_deliverability = check_deliverability
        self.fast = fast
        # A DNS answer is never proven by shape.
        self._fast_email = fast and not check_deliverability
        self._fast_phone: NanpFastPath | None = nanp_fast_path(default_region) if fast else None
        # Caches are per hasher so that two keys or regions never share results.
        self._email = lru_cache(maxsize=65_536)(self._normalize_email)
        self._phone = lru_cache(maxsize=65_536)(self._normalize_phone)

    def __getstate__(self) -> dict:
        # Worker processes get the key and options; each builds its own caches.
        return {"key": self._key.decode(), "region": self.default_region,
                "deliverability": self.check_deliverability, "fast": self.fast}  # fmt: skip

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["key"], default_region=state["region"],  # type: ignore[misc]
                      check_deliverability=state["deliverability"],
                      fast=state.get("fast", True))  # fmt: skip

    def hash(self, value: str) -> str:
        return hmac.new(self._key, value.encode(), hashlib.sha256).hexdigest()

    def _normalize_email(self, raw: str) -> str | None:
        if self._fast_email and (proven := email_fast(raw)) is not None:
            return proven
        result = validated_email(raw, check_deliverability=self.check_deliverability)
        return result.normalized if result is not None else None

    def _normalize_phone(self, raw: str) -> str | None:
        if self._fast_phone is not None and (proven := self._fast_phone.e164(raw)) is not None:
            return proven
        number = valid_phone(raw, self.default_region)
        if number is None:
            return None
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    def normalize_email(self, raw: str | None) -> str | None:
        return self._email(raw) if raw else None

    def normalize_phone(self, raw: str | None) -> str | None:
        return self._phone(raw) if raw else None

    def contact_keys(self, email: str | None, phone: str | None) -> ContactKeys:
        email_normalized = self.normalize_email(email)
        phone_e164 = self.normalize_phone(phone)
        # An address the validator refuses is still hashed (case-folded), so that the same
        # typo from the same person still deduplicates; validity is an enrichment result.
        email_key = (email_normalized or (email or "").strip()).casefold() or None
        phone_key = (
            phone_e164 or (phonenumbers.normalize_digits_only(phone) if phone else "") or None
        )
        return ContactKeys(
            email_normalized=email_normalized,
            email_hash=self.hash("email:" + email_key) if email_key else None,
            phone_e164=phone_e164,
            phone_hash=self.hash("phone:" + phone_key) if phone_key else None,
        )
