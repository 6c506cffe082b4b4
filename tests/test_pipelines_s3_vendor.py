"""The lead pipeline on an S3 lake (moto on loopback) and against a real HTTP vendor on
loopback: the same flow and re-run guarantees as on a local lake, and a vendor outage that is
retried by the step, then reported, and never leaves half a day in the lake."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import psycopg
import pyarrow as pa
import pytest
from pipeline_fixtures import run_range
from psycopg.rows import dict_row

import hk_pipelines.defs.enrichment.assets as enrichment_assets
from hk_core.address import standardize
from hk_core.enrichment.facts import facts_from_record
from hk_core.lake import PART_PATTERN, Lake
from hk_pipelines.defs.common.resources import EnrichmentResource, LakeResource, PostgresResource
from hk_pipelines.defs.enrichment.assets import VENDOR_OUTAGE_RETRIES, enriched_leads
from hk_pipelines.defs.intake.assets import raw_leads
from hk_pipelines.runner import LEAD_ASSETS

WINDOW_DAYS = 7  # a week of daily partitions: a few days with leads, and empty days
VENDOR_MAX_RETRIES = 1  # the client's own retries per request
STALL_SECONDS = 1.0  # beyond the client's 0.5 s timeout
EVENT = dg.DagsterEventType


# ------------------------------------------------------------------ the book, the runs


def _days(conn, window: int) -> tuple[date, date]:
    """The last ``window`` days that have leads."""
    last = conn.execute(
        "select max((received_at at time zone 'UTC')::date) from app.leads"
    ).fetchone()[0]
    return last - timedelta(days=window - 1), last


def _lead_ids(conn, first: date, last: date) -> list[int]:
    return [
        row[0]
        for row in conn.execute(
            "select lead_id from app.leads "
            "where (received_at at time zone 'UTC')::date between %s and %s order by lead_id",
            (first, last),
        )
    ]


def _days_with_leads(conn, first: date, last: date) -> list[date]:
    return [
        row[0]
        for row in conn.execute(
            "select distinct (received_at at time zone 'UTC')::date as d from app.leads "
            "where (received_at at time zone 'UTC')::date between %s and %s order by d",
            (first, last),
        )
    ]


def _events(result: dg.ExecuteInJobResult, event_type: dg.DagsterEventType) -> list:
    return [e for e in result.all_events if e.event_type == event_type]


def _enriched(lake: Lake, first: date, last: date) -> pa.Table | None:
    return lake.read_days(
        "enriched", "leads", [first + timedelta(days=i) for i in range((last - first).days + 1)]
    )


def _without_enriched_at(table: pa.Table) -> pa.Table:
    return table.drop_columns(["enriched_at"]).sort_by("lead_id")


# ------------------------------------------------------------------ 1. the S3 lake


def test_leads_flow_and_rerun_on_each_lake(loaded, database_url, lake: Lake):
    """intake → lake → enrichment → warehouse on a local folder and on S3; a re-run of the same
    days gives the same warehouse rows and still one part file per day."""
    first, last = _days(loaded, WINDOW_DAYS)
    resources = {
        "postgres": PostgresResource(url=database_url),
        "lake": LakeResource(root_url=lake.root_url, s3_endpoint_url=lake.s3_endpoint_url or ""),
        "enrichment": EnrichmentResource(provider="reference"),
    }
    result = run_range(LEAD_ASSETS, first, last, resources, raise_on_error=False)
    assert result.success
    window = [first + timedelta(days=i) for i in range(WINDOW_DAYS)]
    assert lake.partitions("raw", "leads") == window  # every day lands, empty days included
    assert lake.partitions("enriched", "leads") == window
    lead_ids = _lead_ids(loaded, first, last)
    assert lead_ids
    query = "select * from raw.enriched_leads order by lead_id"
    before = [row[:-1] for row in loaded.execute(query).fetchall()]  # all but enriched_at
    assert [row[0] for row in before] == lead_ids
    enriched = _enriched(lake, first, last)
    assert enriched is not None and sorted(enriched.column("lead_id").to_pylist()) == lead_ids
    assert "email" not in enriched.schema.names and "phone" not in enriched.schema.names
    assert result.asset_materializations_for_node("enriched_leads")[0].metadata["rows"].value == (
        len(lead_ids)
    )

    assert run_range(LEAD_ASSETS, first, last, resources, raise_on_error=False).success
    after = [row[:-1] for row in loaded.execute(query).fetchall()]
    assert after == before
    for zone in ("raw", "enriched"):
        assert lake.partitions(zone, "leads") == window
        for day in window:
            names = [
                str(p).rstrip("/").rsplit("/", 1)[-1]
                for p in lake.filesystem.ls(lake.partition_dir(zone, "leads", day), detail=False)
            ]
            assert len([n for n in names if PART_PATTERN.fullmatch(n)]) == 1, (zone, day, names)
    rerun = _enriched(lake, first, last)
    assert rerun is not None and _without_enriched_at(rerun).equals(_without_enriched_at(enriched))


# ------------------------------------------------------------------ 2. a real HTTP vendor


class FakeVendor:
    """``POST /v1/property-lookup`` answered from an in-memory table of address key → facts.

    ``down`` fails every request ("503" or "stall"); ``fail_next`` fails the next requests in
    order (each "503" or "stall"), then the vendor answers again.
    """

    def __init__(self, table: dict[str, dict]) -> None:
        self.table = table
        self.down: str | None = None
        self.fail_next: list[str] = []
        self.requests: list[list[str]] = []  # the keys asked, one list per request
        self.lock = threading.Lock()

    @property
    def count(self) -> int:
        with self.lock:
            return len(self.requests)

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        if handler.path != "/v1/property-lookup":
            return _send(handler, 404, {"error": "not found"})
        if handler.headers.get("Authorization") != "Bearer k":
            return _send(handler, 401, {"error": "bad key"})
        body = json.loads(handler.rfile.read(int(handler.headers["Content-Length"])))
        with self.lock:
            self.requests.append([a["key"] for a in body["addresses"]])
            failure = self.down or (self.fail_next.pop(0) if self.fail_next else None)
        if failure == "stall":
            time.sleep(STALL_SECONDS)  # the client has given up by now
            return _send(handler, 503, {"error": "stalled"})
        if failure == "503":
            return _send(handler, 503, {"error": "down"})
        results = [
            {"key": a["key"], "found": a["key"] in self.table, "facts": self.table.get(a["key"])}
            for a in body["addresses"]
        ]
        _send(handler, 200, {"results": results})


def _send(handler: BaseHTTPRequestHandler, status: int, payload: dict) -> None:
    data = json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:  # a stalled client hung up
        pass


def _vendor_table(conn: psycopg.Connection) -> dict[str, dict]:
    """What the vendor knows: the book's county roll, keyed by standardised address."""
    table = {}
    with conn.cursor(row_factory=dict_row) as cur:
        for record in cur.execute("select * from app.property_records"):
            address = standardize(record["street"], record["city"], record["state"], record["zip"])
            if address is not None:
                table[address.key] = facts_from_record(record, address).to_dict()
    return table


@pytest.fixture
def vendor(loaded) -> Iterator[tuple[str, FakeVendor]]:
    fake = FakeVendor(_vendor_table(loaded))

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_POST(self) -> None:
            fake.answer(self)

    server = _QuietServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", fake
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def vendor_run(vendor, database_url, tmp_path, monkeypatch):
    """raw_leads + enriched_leads over the last week with the vendor provider; step retries
    are immediate. Returns (run, lake, first, last, vendor)."""
    monkeypatch.setattr(enrichment_assets, "VENDOR_OUTAGE_WAIT_SECONDS", 0)
    base_url, fake = vendor
    root = str(tmp_path / "lake")
    resources = {
        "postgres": PostgresResource(url=database_url),
        "lake": LakeResource(root_url=root),
        "enrichment": EnrichmentResource(
            provider="vendor",
            vendor_base_url=base_url,
            vendor_api_key="k",
            vendor_max_retries=VENDOR_MAX_RETRIES,
            vendor_timeout_seconds=0.5,
            vendor_requests_per_second=1000.0,
        ),
    }
    with psycopg.connect(database_url, autocommit=True) as conn:
        first, last = _days(conn, WINDOW_DAYS)

    def run() -> dg.ExecuteInJobResult:
        return run_range([raw_leads, enriched_leads], first, last, resources, raise_on_error=False)

    return run, Lake(root), first, last, fake


def _cache_rows(conn) -> int:
    return conn.execute("select count(*) from app.enrichment_cache").fetchone()[0]


def test_vendor_outage_is_retried_then_reported_and_never_half_written(loaded, vendor_run):
    run, lake, first, last, vendor = vendor_run
    days = _days_with_leads(loaded, first, last)
    assert len(days) >= 2  # a day that succeeds before the one that fails

    # The vendor is down from the start: every step attempt asks (with the client's own
    # retries), the step is retried VENDOR_OUTAGE_RETRIES times, then the run fails.
    vendor.down = "503"
    attempts_per_step = VENDOR_MAX_RETRIES + 1  # the client's own retries
    result = run()
    assert not result.success
    assert len(_events(result, EVENT.STEP_UP_FOR_RETRY)) == VENDOR_OUTAGE_RETRIES
    assert len(_events(result, EVENT.STEP_RESTARTED)) == VENDOR_OUTAGE_RETRIES
    [failure] = _events(result, EVENT.STEP_FAILURE)
    assert failure.step_key == "enriched_leads"
    reported, error = [], failure.step_failure_data.error  # "Exceeded max_retries", and why
    while error is not None:
        reported.append(error.message)
        error = error.cause
    assert f"Exceeded max_retries of {VENDOR_OUTAGE_RETRIES}" in reported[0]
    assert any(
        f"VendorUnavailable: vendor unavailable after {attempts_per_step} attempts" in message
        for message in reported
    )
    assert vendor.count == (VENDOR_OUTAGE_RETRIES + 1) * attempts_per_step
    assert lake.partitions("raw", "leads")  # raw_leads ran; enrichment wrote no day with leads
    assert all(lake.read_partition("enriched", "leads", day) is None for day in days)
    assert _cache_rows(loaded) == 0  # nothing was paid for, nothing cached

    # The vendor is back: the whole window is enriched.
    vendor.down = None
    assert run().success
    good = {day: lake.read_partition("enriched", "leads", day) for day in days}
    assert all(table is not None and table.num_rows > 0 for table in good.values())

    # The last day's addresses leave the cache and the vendor goes down again: the earlier days
    # are enriched again from the cache, the last day fails and keeps its earlier partition.
    last_day_keys = vendor.requests[-1]  # one request a day (fewer than 100 addresses)
    assert set(last_day_keys) <= set(good[days[-1]].column("address_key").to_pylist())
    loaded.execute("delete from app.enrichment_cache where address_key = any(%s)", (last_day_keys,))
    vendor.down = "503"
    asked_before = vendor.count
    result = run()
    assert not result.success
    assert len(_events(result, EVENT.STEP_UP_FOR_RETRY)) == VENDOR_OUTAGE_RETRIES
    assert vendor.count - asked_before == (VENDOR_OUTAGE_RETRIES + 1) * attempts_per_step
    assert all(keys == last_day_keys for keys in vendor.requests[asked_before:])
    assert lake.read_partition("enriched", "leads", days[-1]).equals(good[days[-1]])
    for day in days[:-1]:  # rewritten by this run, from the cache, before the last day failed
        again = lake.read_partition("enriched", "leads", day)
        assert _without_enriched_at(again).equals(_without_enriched_at(good[day]))
        assert again.column("enriched_at") != good[day].column("enriched_at")


def test_vendor_recovers_within_the_step_retries_and_the_cache_spares_the_rerun(loaded, vendor_run):
    run, lake, first, last, vendor = vendor_run
    lead_ids = _lead_ids(loaded, first, last)
    assert lead_ids

    # A stall and two 503s: the first step attempt gives up after its two requests, the
    # second gets one 503 and then answers; the run succeeds on the step's first retry.
    vendor.fail_next = ["stall", "503", "503"]
    result = run()
    assert result.success
    assert len(_events(result, EVENT.STEP_UP_FOR_RETRY)) == 1
    assert vendor.fail_next == []
    enriched = _enriched(lake, first, last)
    assert enriched is not None
    assert sorted(enriched.column("lead_id").to_pylist()) == lead_ids  # every lead, once
    # The vendor's answers, and only those, are in the rows: its APN where it knew the address.
    known = {key: facts["apn"] for key, facts in vendor.table.items()}
    rows = enriched.select(["address_key", "apn"]).to_pylist()
    assert [r["apn"] for r in rows] == [known.get(r["address_key"]) for r in rows]
    assert any(r["apn"] for r in rows)
    metadata = result.asset_materializations_for_node("enriched_leads")[0].metadata
    assert metadata["provider"].value == "http_vendor" and metadata["rows"].value == len(lead_ids)
    asked = {key for keys in vendor.requests for key in keys}
    assert _cache_rows(loaded) == len(asked)  # found and not found, each cached once

    # Every address has a fresh answer (found: 30 days, not found: 7 days), so the re-run
    # does not call the vendor and writes the same rows.
    asked_before = vendor.count
    assert run().success
    assert vendor.count == asked_before
    rerun = _enriched(lake, first, last)
    assert rerun is not None and _without_enriched_at(rerun).equals(_without_enriched_at(enriched))
