"""Property-data providers: one protocol, the county roll and an HTTP vendor behind it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from hk_core.address import StandardAddress

from .facts import PropertyFacts
from .reference import ReferenceDataProvider
from .vendor import HttpVendorProvider, VendorRequestError, VendorUnavailable


class EnrichmentProvider(Protocol):
    """Looks addresses up; the answer has every address's key, None meaning "looked, nothing
    found". A provider-wide failure raises (VendorUnavailable) rather than answering in part."""

    name: str

    def lookup(self, addresses: Sequence[StandardAddress]) -> dict[str, PropertyFacts | None]: ...


__all__ = [
    "EnrichmentProvider",
    "HttpVendorProvider",
    "PropertyFacts",
    "ReferenceDataProvider",
    "VendorRequestError",
    "VendorUnavailable",
]
