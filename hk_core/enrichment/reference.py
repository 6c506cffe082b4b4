"""Property facts from the county roll loaded into app.property_records."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

from hk_core.address import StandardAddress, standardize

from .facts import PropertyFacts, facts_from_record
from .matching import CountyIndex, house_number, matcher
from .parallel import parallel_map

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


@dataclass(eq=False, slots=True)
class _Parcel:
    """One county record, its address read once; its facts (the owner's mailing address read
    too) only made when a lead matches it. One object per record: the index tells candidates
    apart by identity."""

    record: dict[str, Any] | None
    address: StandardAddress | None
    facts: PropertyFacts | None = None

    def property_facts(self) -> PropertyFacts:
        if self.facts is None:
            assert self.record is not None
            self.facts, self.record = facts_from_record(self.record, self.address), None
        return self.facts


class _StandardizeFailed:
    """standardize raised in a worker: it is called again here, to raise as it always has."""


_Read = StandardAddress | None | _StandardizeFailed


def _record_address(args: tuple[Any, Any, Any, Any]) -> _Read:
    try:
        return standardize(*args)
    except Exception:
        return _StandardizeFailed()


class ReferenceDataProvider:
    """Looks addresses up in the county roll (``hk reference import properties``).

    ``workers``: processes that read the fetched records' addresses when there are many
    (None or 0: one per core; 1: none)."""

    name = "county_roll"

    def __init__(self, conninfo: str, *, workers: int | None = 1):
        self.conninfo = conninfo
        self.workers = workers
        # Standardised records by (apn, imported_at): a re-imported record is a new entry.
        self._records: dict[tuple[str, Any], _Parcel] = {}
        self.match_rules: Counter[str] = Counter()  # how the last lookup matched, for metadata

    def lookup(self, addresses: Sequence[StandardAddress]) -> dict[str, PropertyFacts | None]:
        wanted = {a.key: a for a in addresses}
        self.match_rules = Counter()
        with psycopg.connect(self.conninfo, row_factory=dict_row) as conn:
            index: CountyIndex[_Parcel] = CountyIndex()
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
        match: Callable[[StandardAddress], tuple[_Parcel, str] | None],
        address: StandardAddress,
    ) -> PropertyFacts | None:
        found = match(address)
        if found is None:
            return None
        self.match_rules[found[1]] += 1
        return found[0].property_facts()

    def _load(
        self,
        conn: psycopg.Connection[dict[str, Any]],
        index: CountyIndex[_Parcel],
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
        new: dict[tuple[str, Any], dict[str, Any]] = {}
        for row in rows:
            cache_key = (row["apn"], row.get("imported_at"))
            if cache_key not in self._records:
                new.setdefault(cache_key, row)
        reads: list[_Read] = parallel_map(
            _record_address,
            [(row["street"], row["city"], row["state"], row["zip"]) for row in new.values()],
            self.workers,
        )
        for (cache_key, row), read in zip(new.items(), reads, strict=True):
            if isinstance(read, _StandardizeFailed):
                read = standardize(row["street"], row["city"], row["state"], row["zip"])
            self._records[cache_key] = _Parcel(row, read)
        for row in rows:
            parcel = self._records[(row["apn"], row.get("imported_at"))]
            if parcel.address is not None:
                index.add(parcel.address, parcel)
