"""Lead enrichment, plain Python: contact checks, standard addresses, property facts from the
county roll or a vendor (cached in Postgres), owner of record. Dagster assets call
``enrich_leads`` on a partition of leads; see docs/enrichment.md."""

from hk_core.address import StandardAddress, standardize
from hk_core.enrichment.cache import CachedProvider, EnrichmentCache
from hk_core.enrichment.email import EmailCheck, check_email
from hk_core.enrichment.enrich import ENRICHED_FIELDS, EnrichmentStats, enrich_leads
from hk_core.enrichment.owner import OWNER_MATCH_THRESHOLD, is_owner_of_record, owner_match_score
from hk_core.enrichment.phone import PhoneCheck, check_phone
from hk_core.enrichment.providers import (
    EnrichmentProvider,
    HttpVendorProvider,
    PropertyFacts,
    ReferenceDataProvider,
    VendorRequestError,
    VendorUnavailable,
)

__all__ = [
    "ENRICHED_FIELDS",
    "OWNER_MATCH_THRESHOLD",
    "CachedProvider",
    "EmailCheck",
    "EnrichmentCache",
    "EnrichmentProvider",
    "EnrichmentStats",
    "HttpVendorProvider",
    "PhoneCheck",
    "PropertyFacts",
    "ReferenceDataProvider",
    "StandardAddress",
    "VendorRequestError",
    "VendorUnavailable",
    "check_email",
    "check_phone",
    "enrich_leads",
    "is_owner_of_record",
    "owner_match_score",
    "standardize",
]
