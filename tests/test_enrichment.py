"""Enrichment: contact checks, address standardisation, owner matching, the county and HTTP
vendor providers, the Postgres cache, and enrich_leads over a synthetic book."""

from __future__ import annotations

import csv
import json
import threading
import time
from collections.abc import Iterator
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import phonenumbers
import psycopg
import pytest
from helpers import refused_port
from psycopg.rows import dict_row

from hk_core.enrichment import (
    CachedProvider,
    EnrichmentCache,
    HttpVendorProvider,
    PropertyFacts,
    ReferenceDataProvider,
    StandardAddress,
    VendorRequestError,
    VendorUnavailable,
    check_email,
    check_phone,
    enrich_leads,
    is_owner_of_record,
    owner_match_score,
    standardize,
)
from hk_core.enrichment.vendor import TokenBucket, retry_after_seconds
from hk_core.intake import import_leads, import_property_records
from hk_core.pii import PiiHasher
from hk_core.synthetic import generate_book

# ---------------------------------------------------------------- address


@pytest.mark.parametrize(
    "street",
    [
        "123 North Main Street Apt 4",
        "123 n main st #4",
        "123 N. Main St., Unit 4",
        "123 N MAIN ST UNIT 4",
        "123 N MAIN ST # 4",
        "  123  north  MAIN st  apt. 4 ",
        "123 N Main St Suite 4",
        "123 N Main Str, Apartment 4",
    ],
)
def test_spellings_of_one_address_share_a_key(street):
    address = standardize(street, "Austin", "tx", "78701-1234")
    assert address is not None
    assert address.key == "78701|123 N MAIN ST|4"
    assert address.line1 == "123 N MAIN ST # 4"
    assert (address.city, address.state, address.zip5) == ("AUSTIN", "TX", "78701")


@pytest.mark.parametrize(
    ("typed", "county"),
    [
        ("4500 Martin Luther King Jr Boulevard", "4500 MARTIN LUTHER KING JR BLVD"),
        ("12 South Rock Creek Trail", "12 S ROCK CREEK TRL"),
        ("77 northeast highland terrace", "77 NE HIGHLAND TER"),
        ("9 Oak Pkwy.", "9 OAK PARKWAY"),
        ("31 Cedar Cir", "31 CEDAR CIRCLE"),
        ("8 Elm Ln, Apt B", "8 ELM LN APT B"),
        ("500 Main St NW", "500 MAIN STREET NORTHWEST"),
        ("1200 Highway 290", "1200 HWY 290"),
        ("16 1st Ave", "16 1ST AVENUE"),
    ],
)
def test_typed_and_county_forms_match(typed, county):
    lead, roll = standardize(typed, zip_code="78701"), standardize(county, zip_code="78701")
    assert lead is not None and roll is not None
    assert lead.key == roll.key


def test_unit_and_building_keys_differ():
    building = standardize("123 Main St", zip_code="78701")
    unit = standardize("123 Main St Apt 4", zip_code="78701")
    other_unit = standardize("123 Main St Apt 5", zip_code="78701")
    assert building and unit and other_unit
    assert len({building.key, unit.key, other_unit.key}) == 3
    assert building.key.endswith("|")


def test_key_area_is_zip_else_city_and_state():
    by_zip = standardize("1 Oak St", "Austin", "Texas", "78701.0")
    no_zip = standardize("1 Oak St", "austin", "Texas", None)
    lost_zero = standardize("1 Oak St", None, None, "2134")
    assert by_zip and no_zip and lost_zero
    assert by_zip.key.startswith("78701|")
    assert no_zip.key.startswith("AUSTIN/TX|") and no_zip.area == "AUSTIN/TX"
    assert lost_zero.zip5 == "02134"


def test_city_state_zip_inside_the_street_line_are_used():
    address = standardize("77 Main St Austin TX 78701")
    assert address is not None
    assert (address.zip5, address.street_line) == ("78701", "77 MAIN ST")


@pytest.mark.parametrize(
    "garbage",
    [None, "", "   ", "asdf", "Main Street", "123", "PO BOX 12", "\x00\x01!!", "#### ////",
     "call me", "123 main st apt 4 apt 5 unit 6 # 7 " * 5, 12345],
)  # fmt: skip
def test_garbage_never_raises(garbage):
    address = standardize(garbage, "x", "not a state", "ABCDE")
    assert address is None or address.number


def test_repeated_labels_fall_back_to_the_first():
    address = standardize("123 main st apt 4 apt 5", zip_code="78701")
    assert address is not None and address.unit == "4"


# ---------------------------------------------------------------- owner


@pytest.mark.parametrize(
    ("first", "last", "owner", "expected"),
    [
        ("John", "Smith", "SMITH JOHN A", True),
        ("john", "SMITH", "SMITH, JOHN A", True),
        ("John", "Smith", "JOHN A SMITH", True),
        ("Mary", "Smith", "SMITH JOHN A & MARY B", True),
        ("Mary", "Smith", "JOHN & MARY SMITH", True),
        ("Bob", "Jones", "JONES ROBERT L", True),
        ("Maria", "De La Cruz", "DE LA CRUZ MARIA", True),
        ("Sean", "O'Brien", "OBRIEN SEAN P", True),
        ("John Smith", "", "SMITH JOHN", True),
        ("Mary", "Smith", "SMITH JOHN A", False),  # a relative
        ("Peter", "Parker", "SMITH JOHN A", False),
        ("John", "Smith", "SMITH HOLDINGS LLC", False),
        ("John", "Smith", "SMITH FAMILY TRUST", False),
        ("John", "Smith", "SMITH JOHN LIVING TRUST", False),
        ("John", "Smith", "ESTATE OF JOHN SMITH", False),
        ("John", "Smith", "SMITH JOHN EST", False),
        ("John", "Smith", None, None),
        ("", "", "SMITH JOHN", None),
        ("John", None, "SMITH JOHN", None),
    ],
)
def test_owner_of_record(first, last, owner, expected):
    assert is_owner_of_record(first, last, owner) is expected


def test_owner_score_orders_closeness():
    exact = owner_match_score("John", "Smith", "SMITH JOHN A")
    typo = owner_match_score("Jhon", "Smith", "SMITH JOHN A")
    relative = owner_match_score("Mary", "Smith", "SMITH JOHN A")
    stranger = owner_match_score("Peter", "Parker", "SMITH JOHN A")
    assert exact == 100 and exact > typo > relative > stranger
    assert owner_match_score("John", "Smith", "BLUE OAK HOLDINGS LLC") == 0


# ---------------------------------------------------------------- email and phone


def test_email_flags():
    ok = check_email("  John.Smith@Gmail.com ")
    assert (ok.is_valid, ok.is_disposable, ok.is_role, ok.domain) == (
        True,
        False,
        False,
        "gmail.com",
    )
    assert ok.normalized == "John.Smith@gmail.com"
    assert check_email("throwaway@mailinator.com").is_disposable is True
    assert check_email("x@sub.mailinator.com").is_disposable is True
    assert check_email("info@smithrealty.com").is_role is True
    assert check_email("Sales+leads@smithrealty.com").is_role is True
    assert check_email("no-reply@smithrealty.com").is_role is True
    bad = check_email("john.smith.gmail.com")
    assert (bad.is_valid, bad.normalized, bad.domain) == (False, None, None)
    assert check_email("john@gmail").is_valid is False
    missing = check_email("   ")
    assert (missing.is_valid, missing.is_role, missing.normalized) == (None, None, None)


@pytest.mark.parametrize(
    ("region", "kind", "expected"),
    [
        ("US", phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE, "fixed_or_mobile"),
        ("US", phonenumbers.PhoneNumberType.TOLL_FREE, "toll_free"),
        ("US", phonenumbers.PhoneNumberType.PREMIUM_RATE, "other"),
        ("GB", phonenumbers.PhoneNumberType.MOBILE, "mobile"),
        ("GB", phonenumbers.PhoneNumberType.FIXED_LINE, "landline"),
        ("GB", phonenumbers.PhoneNumberType.VOIP, "voip"),
    ],
)
def test_phone_line_types(region, kind, expected):
    example = phonenumbers.example_number_for_type(region, kind)
    e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
    check = check_phone(e164)
    assert (check.is_valid, check.line_type, check.region, check.e164) == (
        True, expected, region, e164,
    )  # fmt: skip


def test_phone_typed_forms_and_bad_ones():
    austin = check_phone("(512) 555-0101")
    assert (austin.e164, austin.is_valid, austin.region) == ("+15125550101", True, "US")
    assert austin.location == "Texas"
    assert check_phone("1-512-555-0101").e164 == "+15125550101"
    assert check_phone("call after 5").is_valid is False
    assert check_phone("555-010").is_valid is False
    assert check_phone("123-456-7890").is_valid is False  # possible length, no such area code
    assert check_phone(None).is_valid is None


# ---------------------------------------------------------------- facts


def test_property_facts_round_trip_and_equity():
    facts = PropertyFacts.from_dict(
        {"apn": "1", "estimated_value": 300000, "mortgage_balance_estimate": "120000",
         "last_sale_date": "2019-05-01", "bedrooms": 3, "vendor_extra": "ignored"}
    )  # fmt: skip
    assert facts.equity == 180000 and facts.equity_ratio == 0.6
    assert facts.last_sale_date == date(2019, 5, 1)
    assert PropertyFacts.from_dict(json.loads(json.dumps(facts.to_dict()))) == facts
    assert PropertyFacts.from_dict({"estimated_value": 1}).equity is None  # debt unknown


# ---------------------------------------------------------------- county roll (Postgres)

_ROLL = [
    # apn, street, city, state, zip, owner, mailing street, mailing city, mailing zip, value, debt
    ("A1", "123 N MAIN ST UNIT 4", "AUSTIN", "TX", "78701-1234", "SMITH JOHN A",
     "123 N MAIN ST UNIT 4", "AUSTIN", "78701", 300000, 100000),
    ("A2", "123 N MAIN ST UNIT 5", "AUSTIN", "TX", "78701", "LEE ANN",
     "PO BOX 9", "AUSTIN", "78701", 250000, None),
    ("A3", "77 ROCK CREEK ST", "AUSTIN", "TX", "78702", "BLUE OAK HOLDINGS LLC",
     "1 CORPORATE DR", "DALLAS", "75201", 400000, 50000),
    ("A4", "9 W PECAN AVE", "AUSTIN", "TX", "78703", "GARCIA MARIA",
     "9 W PECAN AVE", "AUSTIN", "78703", 200000, 20000),
    ("A5", "15 ELM ST", "AUSTIN", "TX", "78704", "NGUYEN MINH", "15 ELM ST", "AUSTIN",
     "78704", 150000, 0),
]  # fmt: skip


def _load_roll(db: psycopg.Connection) -> None:
    with db.cursor() as cur:
        cur.executemany(
            """insert into app.property_records (apn, street, city, state, zip, owner_name,
               owner_mailing_street, owner_mailing_city, owner_mailing_state, owner_mailing_zip,
               estimated_value, mortgage_balance_estimate, property_type, bedrooms)
               values (%s, %s, %s, %s, %s, %s, %s, %s, 'TX', %s, %s, %s, 'single_family', 3)""",
            _ROLL,
        )


def _addr(street, city=None, state=None, zip_code=None) -> StandardAddress:
    address = standardize(street, city, state, zip_code)
    assert address is not None
    return address


def test_reference_provider_matches_the_roll(db, database_url):
    _load_roll(db)
    provider = ReferenceDataProvider(database_url)
    asked = {
        "unit": _addr("123 North Main Street Apt 4", "Austin", "TX", "78701"),
        "po_box_owner": _addr("123 n main st #5", zip_code="78701"),
        "no_suffix": _addr("77 Rock Creek", zip_code="78702"),
        "no_zip": _addr("9 W. Pecan Ave.", "austin", "Texas"),
        "wrong_zip": _addr("9 W Pecan Ave", "Austin", "TX", "78799"),
        "typo": _addr("15 Elmm St", zip_code="78704"),
        "building_only": _addr("123 N Main St", zip_code="78701"),
        "elsewhere": _addr("1 Nowhere Rd", zip_code="78701"),
    }
    found = provider.lookup(list(asked.values()))
    assert set(found) == {a.key for a in asked.values()}
    apn = {name: (found[a.key].apn if found[a.key] else None) for name, a in asked.items()}
    assert apn == {"unit": "A1", "po_box_owner": "A2", "no_suffix": "A3", "no_zip": "A4",
                   "wrong_zip": "A4", "typo": "A5", "building_only": None, "elsewhere": None}  # fmt: skip
    unit = found[asked["unit"].key]
    assert unit and unit.is_absentee_owner is False and unit.equity == 200000
    assert unit.equity_ratio == pytest.approx(0.6667, abs=1e-4)
    po_box = found[asked["po_box_owner"].key]
    assert po_box and po_box.is_absentee_owner is True and po_box.equity is None
    llc = found[asked["no_suffix"].key]
    assert llc and llc.is_absentee_owner is True
    assert provider.lookup([]) == {}


# ---------------------------------------------------------------- cache (Postgres)


class _CountingProvider:
    name = "counting"

    def __init__(self, answers: dict[str, PropertyFacts | None]):
        self.answers = answers
        self.asked: list[str] = []

    def lookup(self, addresses):
        self.asked += [a.key for a in addresses]
        return {a.key: self.answers.get(a.key) for a in addresses}


def test_cache_round_trip_and_ttl(db, database_url):
    cache = EnrichmentCache(database_url)
    facts = PropertyFacts(apn="A1", owner_name="SMITH JOHN", estimated_value=1.5e5,
                          last_sale_date=date(2020, 1, 2), tax_delinquent=True)  # fmt: skip
    many = {f"k{i}": (facts if i % 2 else None) for i in range(5000)}
    assert cache.put_many("vendor", many) == 5000
    got = cache.get_many("vendor", [*many, "never-asked"])
    assert got == many
    assert cache.get_many("county_roll", ["k1"]) == {}  # per provider
    cache.put_many("vendor", {"k0": facts})  # upsert replaces a miss
    assert cache.get_many("vendor", ["k0"]) == {"k0": facts}
    db.execute("update app.enrichment_cache set fetched_at = now() - interval '10 days'")
    stale = cache.get_many("vendor", ["k0", "k2"])
    assert stale == {"k0": facts}  # misses expire after a week, found facts after a month
    assert (
        EnrichmentCache(database_url, found_ttl=timedelta(days=1)).get_many("vendor", ["k0"]) == {}
    )


def test_cached_provider_looks_each_address_up_once(db, database_url):
    a, b = _addr("1 Oak St", zip_code="78701"), _addr("2 Oak St", zip_code="78701")
    inner = _CountingProvider({a.key: PropertyFacts(apn="P1")})
    cached = CachedProvider(inner, EnrichmentCache(database_url))
    first = cached.lookup([a, b, a])
    second = cached.lookup([b, a])
    assert first == second == {a.key: PropertyFacts(apn="P1"), b.key: None}
    assert inner.asked == [a.key, b.key]
    assert (cached.cache_hits, cached.cache_misses) == (2, 0)


def test_cached_provider_caches_nothing_when_the_provider_fails(db, database_url):
    class Down:
        name = "down"

        def lookup(self, addresses):
            raise VendorUnavailable("down")

    cached = CachedProvider(Down(), EnrichmentCache(database_url))
    with pytest.raises(VendorUnavailable):
        cached.lookup([_addr("1 Oak St", zip_code="78701")])
    assert db.execute("select count(*) from app.enrichment_cache").fetchone()[0] == 0


# ---------------------------------------------------------------- HTTP vendor (a real server)


class _VendorScript:
    """What the fake vendor does with each request, in order; then it answers normally."""

    def __init__(self) -> None:
        self.steps: list[tuple] = []
        self.requests: list[dict] = []
        self.lock = threading.Lock()


def _vendor_handler(script: _VendorScript) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep test output quiet
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with script.lock:
                script.requests.append(
                    {"path": self.path, "auth": self.headers.get("Authorization"), "body": body}
                )
                step = script.steps.pop(0) if script.steps else ("ok",)
            if step[0] == "stall":
                time.sleep(step[1])
                step = ("ok",)
            if step[0] == "status":
                self.send_response(step[1])
                if len(step) > 2:
                    self.send_header("Retry-After", step[2])
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"no")
                return
            results = [
                {"key": a["key"], "found": a["line1"].startswith("1 "),
                 "facts": {"apn": "V-" + a["line1"], "estimated_value": 200000,
                           "mortgage_balance_estimate": 50000, "owner_name": "SMITH JOHN"}}
                for a in body["addresses"]
            ]  # fmt: skip
            if step[0] == "partial":
                results = results[:-1]
            payload = json.dumps({"results": results}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler


@pytest.fixture
def vendor() -> Iterator[tuple[str, _VendorScript]]:
    script = _VendorScript()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _vendor_handler(script))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", script
    finally:
        server.shutdown()
        server.server_close()


def _fast_vendor(base_url: str, **options) -> HttpVendorProvider:
    settings = {"timeout": 0.3, "max_retries": 3, "backoff_base": 0.01, "backoff_max": 0.05,
                "max_requests_per_second": 1000.0, "batch_size": 2} | options  # fmt: skip
    return HttpVendorProvider(base_url, "secret-key", **settings)


_VENDOR_ADDRESSES = [_addr(f"{n} Oak St", zip_code="78701") for n in (1, 2, 3)]


def test_vendor_batches_and_authenticates(vendor):
    base, script = vendor
    with _fast_vendor(base) as provider:
        found = provider.lookup(_VENDOR_ADDRESSES)
    assert [r["path"] for r in script.requests] == ["/v1/property-lookup"] * 2  # 3 in batches of 2
    assert {r["auth"] for r in script.requests} == {"Bearer secret-key"}
    sent = script.requests[0]["body"]["addresses"][0]
    assert sent == {"key": "78701|1 OAK ST|", "line1": "1 OAK ST", "city": None, "state": None,
                    "zip": "78701"}  # fmt: skip
    first = found[_VENDOR_ADDRESSES[0].key]
    assert first and first.apn == "V-1 OAK ST" and first.equity == 150000
    assert found[_VENDOR_ADDRESSES[1].key] is None and len(found) == 3


def test_vendor_retries_5xx_then_succeeds(vendor):
    base, script = vendor
    script.steps = [("status", 503), ("status", 503), ("status", 502)]
    with _fast_vendor(base, batch_size=100) as provider:
        found = provider.lookup(_VENDOR_ADDRESSES)
    assert len(script.requests) == 4 and len(found) == 3


def test_vendor_honours_retry_after_on_429(vendor):
    base, script = vendor
    script.steps = [("status", 429, "7")]
    waits: list[float] = []
    with _fast_vendor(base, batch_size=100, sleep=waits.append) as provider:
        found = provider.lookup(_VENDOR_ADDRESSES)
    assert waits == [7.0]  # what the vendor asked, not the 0.05 s backoff cap
    assert len(script.requests) == 2 and len(found) == 3


def test_vendor_backs_off_with_jitter_within_the_cap(vendor):
    base, script = vendor
    script.steps = [("status", 503)] * 3
    waits: list[float] = []
    with _fast_vendor(base, batch_size=100, sleep=waits.append) as provider:
        provider.lookup(_VENDOR_ADDRESSES)
    assert len(waits) == 3 and all(0 <= w <= 0.05 for w in waits), waits


def test_vendor_that_stalls_is_unavailable_after_the_retries(vendor):
    base, script = vendor
    script.steps = [("stall", 1.0)] * 3
    provider = _fast_vendor(base, max_retries=2, batch_size=100)
    with provider, pytest.raises(VendorUnavailable, match="3 attempts.*Timeout"):
        provider.lookup(_VENDOR_ADDRESSES)
    assert len(script.requests) == 3


def test_vendor_client_error_is_not_retried(vendor):
    base, script = vendor
    script.steps = [("status", 400)]
    provider = _fast_vendor(base)
    with provider, pytest.raises(VendorRequestError) as refused:
        provider.lookup(_VENDOR_ADDRESSES)
    assert refused.value.status_code == 400 and len(script.requests) == 1


def test_vendor_partial_answer_is_an_error_not_a_miss(vendor):
    base, script = vendor
    script.steps = [("partial",)]
    provider = _fast_vendor(base, batch_size=100)
    with provider, pytest.raises(VendorUnavailable, match="unusable"):
        provider.lookup(_VENDOR_ADDRESSES)


def test_vendor_connection_refused_is_unavailable():
    with refused_port() as port:
        provider = _fast_vendor(f"http://127.0.0.1:{port}", max_retries=1)
        with provider, pytest.raises(VendorUnavailable, match="ConnectError"):
            provider.lookup(_VENDOR_ADDRESSES)


def test_token_bucket_caps_the_rate():
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    bucket = TokenBucket(10.0, capacity=2, clock=lambda: now[0], sleep=sleep)
    for _ in range(12):
        bucket.acquire()
    assert now[0] == pytest.approx(1.0)  # 2 at once, then 10 more at 10 a second


def test_retry_after_forms():
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


# ---------------------------------------------------------------- enrich_leads


def _lead(**fields) -> dict:
    base = {"lead_id": 1, "external_id": "X1", "source": "web_form", "received_at": None,
            "first_name": "John", "last_name": "Smith", "email": "john@gmail.com",
            "phone": "(512) 555-0101", "property_street": "123 N Main St Apt 4",
            "property_city": "Austin", "property_state": "TX", "property_zip": "78701",
            "property_type": "condo", "bedrooms": 2, "asking_price": None,
            "email_hash": "eh", "phone_hash": "ph"}  # fmt: skip
    return base | fields


def test_enrich_leads_rows_and_stats(db, database_url):
    _load_roll(db)
    leads = [
        _lead(),
        _lead(lead_id=2, first_name="Ann", last_name="Lee", property_street="123 n main st #5",
              email="info@mailinator.com", phone="call me"),
        _lead(lead_id=3, property_street="not an address", email=None, phone=None),
        _lead(lead_id=4, property_street="1 Nowhere Rd", bedrooms=5),
    ]  # fmt: skip
    rows, stats = enrich_leads(leads, ReferenceDataProvider(database_url))
    assert [r["lead_id"] for r in rows] == [1, 2, 3, 4]
    assert all("email" not in r and "phone" not in r for r in rows)
    first = rows[0]
    assert first["apn"] == "A1" and first["is_owner_of_record"] is True
    assert first["owner_match_score"] == 100 and first["property_type"] == "single_family"
    assert first["bedrooms"] == 3 and first["equity"] == 200000
    assert first["phone_e164"] == "+15125550101" and first["email_is_valid"] is True
    assert rows[1]["is_owner_of_record"] is True and rows[1]["is_absentee_owner"] is True
    assert rows[1]["email_is_disposable"] and rows[1]["email_is_role"]
    assert rows[1]["phone_is_valid"] is False
    assert rows[2]["address_parsed"] is False and rows[2]["apn"] is None
    assert rows[3]["apn"] is None and rows[3]["bedrooms"] == 5  # the seller's own facts
    assert (stats.leads, stats.address_parsed, stats.county_matched, stats.owner_matched) == (
        4, 3, 2, 2,
    )  # fmt: skip
    assert stats.county_match_rate == pytest.approx(2 / 3)
    assert stats.as_metadata()["email_valid"] == 3


def test_enrich_leads_propagates_a_provider_outage():
    class Down:
        name = "down"

        def lookup(self, addresses):
            raise VendorUnavailable("vendor down")

    with pytest.raises(VendorUnavailable):
        enrich_leads([_lead()], Down())


def test_enrich_leads_keeps_a_lead_whose_enrichment_breaks():
    weird = _lead(first_name=object())  # not text: owner matching raises for this lead alone
    key = _addr("123 N Main St Apt 4", zip_code="78701").key
    provider = _CountingProvider({key: PropertyFacts(apn="A1", owner_name="SMITH JOHN")})
    rows, stats = enrich_leads([weird, _lead(lead_id=2)], provider)
    assert [r["lead_id"] for r in rows] == [1, 2]
    assert stats.lead_errors == 1
    assert rows[0]["apn"] is None and rows[0]["email_hash"] == "eh"  # kept, with null signals
    assert rows[1]["apn"] == "A1" and rows[1]["is_owner_of_record"] is True


# ---------------------------------------------------------------- end to end, synthetic book


def _truth_by_lead(path) -> dict[tuple[str, str], dict]:
    with open(path, newline="") as f:
        return {(r["source"], r["external_id"]): r for r in csv.DictReader(f) if r["external_id"]}


def test_enrich_a_synthetic_book_against_its_county_roll(db, database_url, tmp_path):
    summary = generate_book(500, 5, tmp_path, truth=True)
    with open(summary.paths["properties"], "rb") as f:
        import_property_records(db, f, "csv")
    with open(summary.paths["leads"], "rb") as f:
        import_leads(db, f, "csv", PiiHasher("k"))
    with db.cursor(row_factory=dict_row) as cur:
        leads = cur.execute("select * from app.leads order by lead_id").fetchall()
    rows, stats = enrich_leads(leads, ReferenceDataProvider(database_url))
    truth = _truth_by_lead(summary.paths["truth_leads"])
    owners = dict(db.execute("select apn, owner_name from app.property_records").fetchall())
    in_roll = matched = right_apn = absentee_agree = 0
    for row in rows:
        answer = truth.get((row["source"], row["external_id"]))
        if answer is None or answer["in_county_roll"] != "1":
            assert answer is None or row["apn"] is None  # never matched to someone else's house
            continue
        in_roll += 1
        if row["apn"] is not None:
            matched += 1
            right_apn += row["apn"] == answer["apn"]
            absentee_agree += row["is_absentee_owner"] == (answer["absentee_owner"] == "1")
    rate = matched / in_roll
    print(f"\nin roll {in_roll}, matched {matched} ({rate:.1%}), right apn {right_apn}, "
          f"absentee agrees {absentee_agree}; stats {stats.as_metadata()}")  # fmt: skip
    assert rate >= 0.95
    assert right_apn == matched
    assert absentee_agree == matched
    # Companies, trusts and estates never own through a person; people mostly send their own.
    by_owner = [(owners[r["apn"]], r["is_owner_of_record"]) for r in rows if r["apn"]]
    entity_words = ("LLC", "TRUST", "EST")
    assert not any(ok for owner, ok in by_owner if any(w in owner for w in entity_words))
    people = [ok for owner, ok in by_owner if not any(w in owner for w in entity_words)]
    assert 0.55 <= sum(ok is True for ok in people) / len(people) <= 0.95
