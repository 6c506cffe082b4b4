"""Data quality: the Great Expectations suites run as blocking asset checks in the lead
pipeline, on the real Postgres and a real lake; poisoned batches stop at the check."""

from __future__ import annotations

import socket
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pytest
from pipeline_fixtures import run_range

from hk_core.lake import Lake
from hk_core.warehouse import ENRICHED_LEAD_SCHEMA, RAW_LEAD_SCHEMA
from hk_pipelines.defs.common.resources import EnrichmentResource, LakeResource, PostgresResource
from hk_pipelines.defs.quality.suites import load_suite_config, suite_expectations, validate
from hk_pipelines.runner import LEAD_ASSETS, LEAD_CHECKS

# The book has one or two leads a day; 21 days give the 20+ rows a floor needs to block.
WINDOW_DAYS = 21


@pytest.fixture
def no_network(monkeypatch) -> list:
    """Records every Python-level attempt to reach a host other than this one."""
    attempts: list = []
    connect, getaddrinfo = socket.socket.connect, socket.getaddrinfo
    local = {"localhost", "127.0.0.1", "::1", ""}

    def spy_connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in local:
            attempts.append(address)
        return connect(self, address)

    def spy_getaddrinfo(host, *args, **kwargs):
        if host not in local and host is not None:
            attempts.append(host)
        return getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", spy_connect)
    monkeypatch.setattr(socket, "getaddrinfo", spy_getaddrinfo)
    return attempts


def _resources(database_url: str, lake_root: Path) -> dict:
    return {
        "postgres": PostgresResource(url=database_url),
        "lake": LakeResource(root_url=str(lake_root)),
        "enrichment": EnrichmentResource(provider="reference"),
    }


def _window(conn) -> tuple[date, date]:
    last = conn.execute("select max((received_at at time zone 'UTC')::date) from app.leads")
    day = last.fetchone()[0]
    return day - timedelta(days=WINDOW_DAYS - 1), day


def _run(first: date, last: date, resources: dict) -> dg.ExecuteInJobResult:
    return run_range([*LEAD_ASSETS, *LEAD_CHECKS], first, last, resources, raise_on_error=False)


def _evaluations(result: dg.ExecuteInJobResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def _materialised(result: dg.ExecuteInJobResult) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


def test_a_clean_window_passes_the_checks_and_reaches_the_warehouse(
    loaded, database_url, tmp_path, no_network
):
    first, last = _window(loaded)
    result = _run(first, last, _resources(database_url, tmp_path / "lake"))
    assert result.success
    checks = _evaluations(result)
    assert set(checks) == {"raw_leads_expectations", "enriched_leads_expectations"}
    assert all(c.severity != dg.AssetCheckSeverity.ERROR for c in checks.values())
    enriched = checks["enriched_leads_expectations"]
    assert enriched.passed
    metadata = enriched.metadata
    assert metadata["rows"].value >= 20 and metadata["days"].value == WINDOW_DAYS
    assert metadata["county_match_rate"].value >= metadata["county_match_rate_floor"].value
    assert "address_parse_rate" in metadata and "results" in metadata
    assert "warehouse_enriched_leads" in _materialised(result)
    assert loaded.execute("select count(*) from raw.enriched_leads").fetchone()[0] == (
        metadata["rows"].value
    )
    assert no_network == []  # GX (and everything else in the run) stayed on this machine


def test_an_empty_county_roll_trips_the_blocking_enriched_check(loaded, database_url, tmp_path):
    loaded.execute("truncate app.property_records")  # no county record matches any lead
    first, last = _window(loaded)
    result = _run(first, last, _resources(database_url, tmp_path / "lake"))
    assert not result.success
    check = _evaluations(result)["enriched_leads_expectations"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert check.metadata["county_match_rate"].value == 0.0
    assert "expect_column_values_to_not_be_null(apn)" in check.metadata["blocking"].value
    assert "enriched_leads" in _materialised(result)
    assert "warehouse_enriched_leads" not in _materialised(result)
    assert loaded.execute("select count(*) from raw.enriched_leads").fetchone()[0] == 0


def test_a_duplicated_lead_id_in_the_raw_zone_trips_the_blocking_raw_check(database_url, tmp_path):
    from hk_pipelines.defs.enrichment.assets import enriched_leads
    from hk_pipelines.defs.intake.assets import raw_leads
    from hk_pipelines.defs.quality.checks import raw_leads_expectations

    day = date(2024, 3, 5)
    received = datetime(2024, 3, 5, 14, tzinfo=UTC)
    rows = [
        {"lead_id": lead_id, "source": "web", "received_at": received,
         "property_street": "12 Main St", "intake_channel": "api", "ingested_at": received}
        for lead_id in (1, 2, 2)
    ]  # fmt: skip
    rows.append({**rows[0], "lead_id": 3, "received_at": received + timedelta(days=1)})
    lake = Lake(str(tmp_path / "lake"))
    lake.write_partition("raw", "leads", day, pa.Table.from_pylist(rows, schema=RAW_LEAD_SCHEMA))
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [raw_leads, raw_leads_expectations, enriched_leads],
            selection=dg.AssetSelection.checks(raw_leads_expectations)
            | dg.AssetSelection.assets(enriched_leads),
            partition_key=day.isoformat(),
            instance=instance,
            resources=_resources(database_url, tmp_path / "lake"),
            raise_on_error=False,
        )
    assert not result.success
    check = _evaluations(result)["raw_leads_expectations"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    unique = check.metadata["results"].value["expect_column_values_to_be_unique(lead_id)"]
    assert unique["success"] is False and unique["unexpected_count"] == 2
    assert "expect_column_pair_values_to_be_equal(received_day,partition_day)" in (
        check.metadata["blocking"].value
    )  # a lead received on the next day does not belong in this partition
    assert "enriched_leads" not in _materialised(result)  # the blocking check stopped it
    assert lake.read_partition("enriched", "leads", day) is None


def test_floors_only_warn_on_a_handful_of_rows_and_can_be_overridden():
    day = date(2024, 3, 5)
    received = datetime(2024, 3, 5, 9, tzinfo=UTC)
    rows = [
        {"lead_id": i, "source": "web", "received_at": received, "received_date": day,
         "address_parsed": True, "apn": None}
        for i in range(1, 4)
    ]  # fmt: skip
    table = pa.Table.from_pylist(rows, schema=ENRICHED_LEAD_SCHEMA)
    outcome = validate("enriched_leads", ENRICHED_LEAD_SCHEMA, {day: table})
    assert [o.label for o in outcome.failed] == ["expect_column_values_to_not_be_null(apn)"]
    assert outcome.blocking == []  # 3 rows: a 0% match rate is noise, not a broken roll
    assert outcome.metrics == {"county_match_rate": 0.0, "address_parse_rate": 1.0}

    config = load_suite_config("enriched_leads")
    relaxed = suite_expectations(config, ENRICHED_LEAD_SCHEMA, {"county_match_rate": 0.2})
    assert {"column": "apn", "mostly": 0.2} in [e["kwargs"] for e in relaxed]
    with pytest.raises(ValueError, match="no floor"):
        suite_expectations(config, ENRICHED_LEAD_SCHEMA, {"owner_match_rate": 0.2})
