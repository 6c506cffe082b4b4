"""What a provider knows about a property: owner of record, building, value, debt, distress."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from hk_core.address import StandardAddress, clean_text, standardize
from hk_core.address.standard import zip5_of

_MONEY = ("assessed_value", "estimated_value", "last_sale_price", "mortgage_balance_estimate",
          "equity")  # fmt: skip


@dataclass(frozen=True, slots=True)
class PropertyFacts:
    apn: str | None = None
    owner_name: str | None = None
    owner_mailing_street: str | None = None
    owner_mailing_city: str | None = None
    owner_mailing_state: str | None = None
    owner_mailing_zip: str | None = None
    is_absentee_owner: bool | None = None
    property_type: str | None = None
    bedrooms: int | None = None
    bathrooms: float | None = None
    square_feet: int | None = None
    year_built: int | None = None
    assessed_value: float | None = None
    estimated_value: float | None = None
    last_sale_date: date | None = None
    last_sale_price: float | None = None
    mortgage_balance_estimate: float | None = None
    equity: float | None = None
    equity_ratio: float | None = None
    tax_delinquent: bool | None = None
    in_foreclosure: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: dates as ISO text, everything else as JSON scalars."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        if self.last_sale_date is not None:
            out["last_sale_date"] = self.last_sale_date.isoformat()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PropertyFacts:
        """The inverse of ``to_dict``; unknown keys (a vendor's extras) are ignored."""
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        sale = values.get("last_sale_date")
        if isinstance(sale, str):
            values["last_sale_date"] = date.fromisoformat(sale[:10]) if sale else None
        for name in _MONEY + ("bathrooms", "equity_ratio"):
            if values.get(name) is not None:
                values[name] = float(values[name])
        for name in ("bedrooms", "square_feet", "year_built"):
            if values.get(name) is not None:
                values[name] = int(values[name])
        return with_equity(cls(**values))


def with_equity(facts: PropertyFacts) -> PropertyFacts:
    """Fill equity and equity_ratio from value and mortgage when they are not given.

    A blank mortgage estimate means the roll does not know, not that the house is paid off,
    so equity stays unknown rather than equal to the whole value."""
    if facts.equity is not None and facts.equity_ratio is not None:
        return facts
    value, debt = facts.estimated_value, facts.mortgage_balance_estimate
    equity = facts.equity
    if equity is None and value is not None and debt is not None:
        equity = value - debt
    ratio = facts.equity_ratio
    if ratio is None and equity is not None and value:
        ratio = round(equity / value, 4)
    return dataclasses.replace(facts, equity=equity, equity_ratio=ratio)


def is_absentee(
    property_address: StandardAddress | None,
    mailing_street: str | None,
    mailing_city: str | None,
    mailing_state: str | None,
    mailing_zip: str | None,
) -> bool | None:
    """True when the owner's mail goes somewhere other than the property; None if unknown.

    A PO box (or any mailing line that is not a street address) counts as elsewhere: the
    owner does not collect mail at the house."""
    if property_address is None or not mailing_street or not mailing_street.strip():
        return None
    mailing_zip5 = zip5_of(mailing_zip)
    if (
        mailing_zip5
        and property_address.zip5
        and mailing_zip5 != property_address.zip5
        and clean_text(mailing_street) != property_address.line1
    ):
        # Elsewhere however the mailing street reads (another ZIP, and not the property's line
        # if it does not read at all): tagging it, the costliest step, would not change that.
        return True
    mailing = standardize(mailing_street, mailing_city, mailing_state, mailing_zip)
    if mailing is None:
        return clean_text(mailing_street) != property_address.line1
    if (mailing.street_line, mailing.unit) != (property_address.street_line, property_address.unit):
        return True
    if mailing.zip5 and property_address.zip5:
        return mailing.zip5 != property_address.zip5
    if mailing.city and property_address.city:
        return mailing.city != property_address.city
    return False


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, Decimal | int | float) else None


def facts_from_record(record: Mapping[str, Any], address: StandardAddress | None) -> PropertyFacts:
    """Facts from an app.property_records row (the columns by name)."""
    return record_facts(record, absentee_of_record(record, address))


def absentee_of_record(record: Mapping[str, Any], address: StandardAddress | None) -> bool | None:
    """``is_absentee`` for an app.property_records row whose address reads as ``address``."""
    return is_absentee(
        address,
        record.get("owner_mailing_street"),
        record.get("owner_mailing_city"),
        record.get("owner_mailing_state"),
        record.get("owner_mailing_zip"),
    )


def record_facts(record: Mapping[str, Any], is_absentee_owner: bool | None) -> PropertyFacts:
    """``facts_from_record`` with the absentee reading already made (the costly part: it
    tags the mailing address), e.g. in a worker process."""
    bathrooms = record.get("bathrooms")
    return with_equity(
        PropertyFacts(
            apn=record.get("apn"),
            owner_name=record.get("owner_name"),
            owner_mailing_street=record.get("owner_mailing_street"),
            owner_mailing_city=record.get("owner_mailing_city"),
            owner_mailing_state=record.get("owner_mailing_state"),
            owner_mailing_zip=record.get("owner_mailing_zip"),
            is_absentee_owner=is_absentee_owner,
            property_type=record.get("property_type"),
            bedrooms=record.get("bedrooms"),
            bathrooms=float(bathrooms) if bathrooms is not None else None,
            square_feet=record.get("square_feet"),
            year_built=record.get("year_built"),
            assessed_value=_number(record.get("assessed_value")),
            estimated_value=_number(record.get("estimated_value")),
            last_sale_date=record.get("last_sale_date"),
            last_sale_price=_number(record.get("last_sale_price")),
            mortgage_balance_estimate=_number(record.get("mortgage_balance_estimate")),
            tax_delinquent=record.get("tax_delinquent"),
            in_foreclosure=record.get("in_foreclosure"),
        )
    )
