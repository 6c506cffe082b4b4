"""Property facts from the county roll loaded into app.property_records."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

from hk_core.address import StandardAddress, standardize

from .facts import PropertyFacts, absentee_of_record, record_facts
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
    """One county record, its address and its owner's mailing address read once; its facts
    made only when a lead matches it. One object per record: the index tells candidates apart
    by identity."""

    record: dict[str, Any] | None
    address: StandardAddress | None
    is_absentee_owner: bool | None
    facts: PropertyFacts | None = None

    def property_facts(self) -> PropertyFacts:
        if self.facts is None:
            assert self.record is not None
            self.facts, self.record = record_facts(self.record, self.is_absentee_owner), None
        return self.facts


class _ReadFailed:
    """Reading a record raised in a worker: it is read again here, to raise as it always has."""


_Read = tuple[StandardAddress | None, bool | None] | _ReadFailed
_READ_COLUMNS = ("street", "city", "state", "zip", "owner_mailing_street", "owner_mailing_city",
                 "owner_mailing_state", "owner_mailing_zip")  # fmt: skip


def _read_record(record: dict[str, Any]) -> tuple[StandardAddress | None, bool | None]:
    """The record's address, and whether its owner's mail goes elsewhere."""
    address = standardize(record["street"], record["city"], record["state"], record["zip"])
    return address, absentee_of_record(record, address)


def _read_record_in_worker(record: dict[str, Any]) -> _Read:
    try:
        return _read_record(record)
    except Exception:
        return _ReadFailed()


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
        # How each address of the last lookup matched ("none" when it did not), for metadata.
        self.rule_by_key: dict[str, str] = {}

    @property
    def match_rules(self) -> Counter[str]:
        """How many addresses of the last lookup each rule matched, and "none"."""
        return Counter(self.rule_by_key.values())

    def lookup(self, addresses: Sequence[StandardAddress]) -> dict[str, PropertyFacts | None]:
        wanted = {a.key: a for a in addresses}
        self.rule_by_key = {}
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
        return results

    def _match(
        self,
        match: Callable[[StandardAddress], tuple[_Parcel, str] | None],
        address: StandardAddress,
    ) -> PropertyFacts | None:
        found = match(address)
        self.rule_by_key[address.key] = "none" if found is None else found[1]
        return None if found is None else found[0].property_facts()

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
            _read_record_in_worker,
            [{name: row.get(name) for name in _READ_COLUMNS} for row in new.values()],
            self.workers,
        )
        for (cache_key, row), read in zip(new.items(), reads, strict=True):
            if isinstance(read, _ReadFailed):
                read = _read_record(row)
            self._records[cache_key] = _Parcel(row, *read)
        for row in rows:
            parcel = self._records[(row["apn"], row.get("imported_at"))]
            if parcel.address is not None:
                index.add(parcel.address, parcel)
