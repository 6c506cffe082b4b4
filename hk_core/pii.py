"""PII: normalised email and phone (by the libraries, never by hand) and keyed hashes of them."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from functools import lru_cache

import email_validator
import phonenumbers


@dataclass(frozen=True, slots=True)
class ContactKeys:
    email_normalized: str | None
    email_hash: str | None
    phone_e164: str | None
    phone_hash: str | None


class PiiHasher:
    """HMAC-SHA256 under ``HK_PII_KEY``: equal contacts give equal hashes, and only the key
    holder can test a guess."""

    def __init__(self, key: str, *, default_region: str = "US", check_deliverability: bool = False):
        self._key = key.encode()
        self.default_region = default_region
        self.check_deliverability = check_deliverability
        # Caches are per hasher so that two keys or regions never share results.
        self._email = lru_cache(maxsize=65_536)(self._normalize_email)
        self._phone = lru_cache(maxsize=65_536)(self._normalize_phone)

    def __getstate__(self) -> dict:
        # Worker processes get the key and options; each builds its own caches.
        return {"key": self._key.decode(), "region": self.default_region,
                "deliverability": self.check_deliverability}  # fmt: skip

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["key"], default_region=state["region"],  # type: ignore[misc]
                      check_deliverability=state["deliverability"])  # fmt: skip

    def hash(self, value: str) -> str:
        return hmac.new(self._key, value.encode(), hashlib.sha256).hexdigest()

    def _normalize_email(self, raw: str) -> str | None:
        try:
            result = email_validator.validate_email(
                raw.strip(), check_deliverability=self.check_deliverability
            )
        except email_validator.EmailNotValidError:
            return None
        return result.normalized

    def _normalize_phone(self, raw: str) -> str | None:
        try:
            number = phonenumbers.parse(raw, self.default_region)
        except phonenumbers.NumberParseException:
            return None
        if not phonenumbers.is_possible_number(number):
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
