"""Property facts from the county roll loaded into app.property_records."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import psycopg
from psycopg.rows import dict_row

from hk_core.address import StandardAddress, standardize

from .facts import PropertyFacts, facts_from_record
from .matching import CountyIndex, house_number, matcher

# The roll is searched by (ZIP, house number) or (city, state, house number): the same
# expressions back the indexes of migration 0002, so a few addresses cost a few index probes
# and 50,000 addresses one hash join over the roll.
_NUMBER_SQL = "split_part(upper(btrim(p.street)), ' ', 1)"
_BY_ZIP_SQL = f"""
select p.* from app.property_records p
join unnest(%s::text[], %s::text[]) as w(zip5, number)
  on left(p.zip, 5) = w.zip5 and {_NUMBER_SQL} = w.number
"""
_BY_CITY_SQL = f"""
select p.* from app.property_records p
join unnest(%s::text[], %s::text[], %s::text[]) as w(city, state, number)
  on upper(btrim(p.city)) = w.city and p.state = w.state and {_NUMBER_SQL} = w.number
"""
_RECORD_CACHE_LIMIT = 500_000


class ReferenceDataProvider:
    """Looks addresses up in the county roll (``hk reference import properties``)."""

    name = "county_roll"

    def __init__(self, conninfo: str):
        self.conninfo = conninfo
        # Standardised records by (apn, imported_at): a re-imported record is a new entry.
        self._records: dict[tuple[str, Any], tuple[StandardAddress | None, PropertyFacts]] = {}
        self.match_rules: Counter[str] = Counter()  # how the last lookup matched, for metadata

    def lookup(self, addresses: Sequence[StandardAddress]) -> dict[str, PropertyFacts | None]:
        wanted = {a.key: a for a in addresses}
        self.match_rules = Counter()
        with psycopg.connect(self.conninfo, row_factory=dict_row) as conn:
            index: CountyIndex[PropertyFacts] = CountyIndex()
            self._load(conn, index, wanted.values(), by_zip=True)
            match = matcher(index)
            results = {key: self._match(match, address) for key, address in wanted.items()}
            # A mistyped ZIP: look again by city and state, once, for what is still missing.
            retry = [wanted[k] for k, facts in results.items() if facts is None]
            retry = [a for a in retry if a.zip5 and a.city and a.state]
            if retry:
                self._load(conn, index, retry, by_zip=False)
                for address in retry:
                    results[address.key] = self._match(match, address)
        self.match_rules["none"] = sum(facts is None for facts in results.values())
        return results

    def _match(
        self,
        match: Callable[[StandardAddress], tuple[PropertyFacts, str] | None],
        address: StandardAddress,
    ) -> PropertyFacts | None:
        found = match(address)
        if found is None:
            return None
        self.match_rules[found[1]] += 1
        return found[0]

    def _load(
        self,
        conn: psycopg.Connection[dict[str, Any]],
        index: CountyIndex[PropertyFacts],
        addresses: Iterable[StandardAddress],
        *,
        by_zip: bool,
    ) -> None:
        zips, cities, states, numbers, city_numbers = [], [], [], [], []
        for address in addresses:
            if by_zip and address.zip5:
                zips.append(address.zip5)
                numbers.append(house_number(address))
            elif address.city and address.state:
                cities.append(address.city)
                states.append(address.state)
                city_numbers.append(house_number(address))
        rows: list[dict[str, Any]] = []
        if zips:
            rows += conn.execute(_BY_ZIP_SQL, (zips, numbers)).fetchall()
        if cities:
            rows += conn.execute(_BY_CITY_SQL, (cities, states, city_numbers)).fetchall()
        if len(self._records) > _RECORD_CACHE_LIMIT:
            self._records.clear()
        for row in rows:
            parcel_address, facts = self._standard_record(row)
            if parcel_address is not None:
                index.add(parcel_address, facts)

    def _standard_record(self, row: dict[str, Any]) -> tuple[StandardAddress | None, PropertyFacts]:
        cache_key = (row["apn"], row.get("imported_at"))
        cached = self._records.get(cache_key)
        if cached is None:
            address = standardize(row["street"], row["city"], row["state"], row["zip"])
            cached = (address, facts_from_record(row, address))
            self._records[cache_key] = cached
        return cached
