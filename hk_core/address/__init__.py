"""US property addresses as people type them, in one standard form (USPS Publication 28) with
a join key. Used by intake (a street line that holds the whole address) and by enrichment (the
key the county roll, the cache and the vendor are matched by). docs/enrichment.md describes the
rules and their accuracy on public labelled data.

Kept apart from ``hk_core.enrichment``, whose providers need httpx, psycopg and phonenumbers'
geocoder: the contract imports this package, and the API must start without that weight.
"""

from hk_core.address.parts import StreetParts
from hk_core.address.standard import StandardAddress, address_key, standardize
from hk_core.address.text import clean_text

__all__ = ["StandardAddress", "StreetParts", "address_key", "clean_text", "standardize"]
