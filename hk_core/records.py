"""Turning validated input into rows for Postgres, and validation errors into row errors."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from hk_core.contract import ContractError, LeadIn
from hk_core.parsing import CSV_CELLS
from hk_core.pii import PiiHasher

# Column order of app.leads rows written by intake (lead_id and ingested_at are defaults).
LEAD_INSERT_COLUMNS = (
    "dedup_key", "external_id", "source", "received_at", "first_name", "last_name",
    "email", "email_normalized", "email_hash", "phone", "phone_e164", "phone_hash",
    "property_street", "property_city", "property_state", "property_zip", "property_type",
    "bedrooms", "bathrooms", "square_feet", "year_built", "asking_price", "mortgage_balance",
    "condition", "occupancy", "motivation", "timeline", "consent_email", "consent_sms", "notes",
    "intake_warnings", "intake_channel", "api_key_id",
)  # fmt: skip
DEFAULT_SOURCE = "unknown"


@dataclass(frozen=True, slots=True)
class RowError:
    """Why one input row was refused: its number (1 = first data row), field and reason."""

    row: int
    field: str
    reason: str
    line: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "line": self.line, "field": self.field, "reason": self.reason}


def field_errors(exc: ValidationError) -> list[tuple[str, str]]:
    """(field, reason) pairs from a pydantic error; whole-record rules name their field too."""
    pairs = []
    for error in exc.errors(include_url=False):
        loc = [str(part) for part in error["loc"]]
        cause = (error.get("ctx") or {}).get("error")
        field = ".".join(loc) if loc else getattr(cause, "field", "_record")
        reason = str(cause) if isinstance(cause, ValueError) else error["msg"]
        pairs.append((field, reason))
    return pairs


def row_errors(exc: ValidationError, row: int, line: int | None = None) -> list[RowError]:
    return [RowError(row, field, reason, line) for field, reason in field_errors(exc)]


def validate(
    model: type[BaseModel], raw: Any, row: int, line: int | None = None, *, csv_cells: bool = False
):
    """``(model instance, [])`` or ``(None, [RowError, …])``. ``csv_cells``: the values are
    CSV cells, where a placeholder ("N/A", "null") in a text column means empty."""
    if not isinstance(raw, dict):
        return None, [RowError(row, "_record", "expected an object of named fields", line)]
    try:
        return model.model_validate(raw, context=CSV_CELLS if csv_cells else None), []
    except ValidationError as exc:
        return None, row_errors(exc, row, line)
    except ContractError as exc:  # pragma: no cover - pydantic wraps these
        return None, [RowError(row, exc.field, str(exc), line)]


class LeadRecordBuilder:
    """Builds app.leads rows: normalised contacts, keyed hashes and the dedup key."""

    def __init__(self, hasher: PiiHasher, *, channel: str, api_key_id: int | None = None):
        self.hasher = hasher
        self.channel = channel
        self.api_key_id = api_key_id

    def dedup_key(self, lead: LeadIn, email_hash: str | None, phone_hash: str | None) -> str:
        source = lead.source or DEFAULT_SOURCE
        if lead.external_id is not None:
            return f"ext:{source}:{lead.external_id}"
        # Without the sender's id, the same content is the same lead: a re-imported file or a
        # re-posted form does not create a second one. Contacts enter only as keyed hashes.
        content = lead.model_dump(mode="json", exclude={"email", "phone"})
        content["email_hash"] = email_hash
        content["phone_hash"] = phone_hash
        digest = hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()
        return f"fp:{digest}"

    def row(self, lead: LeadIn, warnings: list[str], now: datetime | None = None) -> tuple:
        keys = self.hasher.contact_keys(lead.email, lead.phone)
        received_at = lead.received_at or now or datetime.now(UTC)
        return (
            self.dedup_key(lead, keys.email_hash, keys.phone_hash),
            lead.external_id,
            lead.source or DEFAULT_SOURCE,
            received_at,
            lead.first_name,
            lead.last_name,
            lead.email,
            keys.email_normalized,
            keys.email_hash,
            lead.phone,
            keys.phone_e164,
            keys.phone_hash,
            lead.property_street,
            lead.property_city,
            lead.property_state,
            lead.property_zip,
            lead.property_type,
            lead.bedrooms,
            lead.bathrooms,
            lead.square_feet,
            lead.year_built,
            lead.asking_price,
            lead.mortgage_balance,
            lead.condition,
            lead.occupancy,
            lead.motivation,
            lead.timeline,
            bool(lead.consent_email),
            bool(lead.consent_sms),
            lead.notes,
            orjson.dumps(warnings).decode() if warnings else None,
            self.channel,
            self.api_key_id,
        )
