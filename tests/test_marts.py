"""The dbt marts on the real Postgres: built through Dagster after the pipelines, rebuilt by the
dbt CLI, guarded by dbt tests, and free of leakage from later stage events."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import dagster as dg
import psycopg
import pytest
import yaml
from pipeline_fixtures import run_range

from hk_core.dbt_env import DBT_PROJECT_DIR, dbt_env
from hk_core.features import FEATURES, KEY_COLUMNS
from hk_core.intake import import_leads, import_property_records, import_stage_events
from hk_core.pii import PiiHasher
from hk_pipelines.defs.common.resources import (
    EnrichmentResource,
    LakeResource,
    PostgresResource,
    dbt_resource,
)
from hk_pipelines.runner import (
    DAILY_MART_ASSETS,
    EVENT_ASSETS,
    LEAD_ASSETS,
    LEAD_CHECKS,
    MART_ASSETS,
)

ROOT = Path(__file__).resolve().parents[1]
# Long enough that the first leads' 90-day label windows close inside it.
WINDOW_DAYS = 130
MARTS = (
    "marts.lead_features",
    "marts.lead_training_set",
    "marts.funnel_daily",
    "marts.funnel_conversion",
    "marts.scored_leads",
)
ORDER_BY = {
    "marts.lead_features": "lead_id",
    "marts.lead_training_set": "lead_id",
    "marts.funnel_daily": "activity_date, source, stage",
    "marts.funnel_conversion": "source, cohort_week, step_order",
    "marts.scored_leads": "lead_id",
}


def _fingerprint(conn: psycopg.Connection, table: str) -> str:
    row = conn.execute(
        f"select md5(coalesce(string_agg(t::text, '|' order by {ORDER_BY[table]}), '')) "
        f"from {table} as t"
    ).fetchone()
    return row[0]


@pytest.fixture(scope="module")
def window(database_url, book, tmp_path_factory):
    """The book in app.*, then one Dagster run each: leads, events, daily marts, marts."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "truncate app.stage_events, app.idempotency_keys, app.leads, app.api_keys, "
            "app.property_records, app.enrichment_cache restart identity cascade"
        )
        conn.execute("truncate raw.enriched_leads, raw.lead_stage_events, ml.lead_scores")
        import_property_records(conn, io.BytesIO((book / "properties.csv").read_bytes()), "csv")
        import_leads(conn, io.BytesIO((book / "leads.csv").read_bytes()), "csv", PiiHasher("k"))
        import_stage_events(conn, io.BytesIO((book / "stage_events.csv").read_bytes()), "csv")
        last = conn.execute("select max(received_at)::date from app.leads").fetchone()[0]
        for schema in ("staging", "intermediate", "marts"):
            conn.execute(f"drop schema if exists {schema} cascade")
    first = last - timedelta(days=WINDOW_DAYS - 1)
    resources = {
        "postgres": PostgresResource(url=database_url),
        "lake": LakeResource(root_url=str(tmp_path_factory.mktemp("lake"))),
        "enrichment": EnrichmentResource(provider="reference"),
        "dbt": dbt_resource(),
    }
    for assets in ([*LEAD_ASSETS, *LEAD_CHECKS], EVENT_ASSETS):
        assert run_range(assets, first, last, resources).success
    # The first build of an incremental model covers all of raw.*, whatever the range; a short
    # range keeps Dagster's per-partition bookkeeping out of the test's time.
    daily = run_range(DAILY_MART_ASSETS, last - timedelta(days=2), last, resources)
    with dg.instance_for_test() as instance:
        rest = dg.materialize(MART_ASSETS, instance=instance, resources=resources)
    return {"first": first, "last": last, "resources": resources, "daily": daily, "rest": rest}


def _dbt(database_url: str, *args: str) -> subprocess.CompletedProcess:
    env = os.environ | {"HK_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "hk_cli.main", "dbt", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_dagster_builds_the_marts_with_dbt_tests_as_checks(window, database_url):
    daily, rest = window["daily"], window["rest"]
    assert daily.success and rest.success
    checks = [*daily.get_asset_check_evaluations(), *rest.get_asset_check_evaluations()]
    assert len(checks) > 30
    # Errors stop the build; the one warning-level test (events of leads received before the
    # window have no enriched lead) may warn.
    assert all(c.passed for c in checks if c.severity == dg.AssetCheckSeverity.ERROR)
    built = {m.asset_key.to_user_string() for m in rest.get_asset_materialization_events()} | {
        m.asset_key.to_user_string() for m in daily.get_asset_materialization_events()
    }
    assert {"lead_features", "funnel_daily", "lead_training_set", "scored_leads"} <= built
    counts = {
        m.asset_key.to_user_string(): m.materialization.metadata["dagster/row_count"].value
        for m in rest.get_asset_materialization_events()
    }
    with psycopg.connect(database_url) as conn:
        leads = conn.execute("select count(*) from raw.enriched_leads").fetchone()[0]
        assert leads > 50
        assert counts["scored_leads"] == leads
        for table in ("marts.lead_features", "marts.scored_leads"):
            assert conn.execute(f"select count(*) from {table}").fetchone()[0] == leads
        # every lead counts once as 'new' on its arrival day
        arrivals = conn.execute(
            "select sum(n_leads) from marts.funnel_daily where stage = 'new'"
        ).fetchone()[0]
        assert arrivals == leads
        # the training set holds only leads whose 120 days (the label's window: a closed deal)
        # have passed, and a deal closed within 90 days was a contract within 90 days (the
        # second label); the dbt unit tests hold the windows' edges
        horizon, n_train, n_converted, n_contract, closed_not_contract, early = conn.execute(
            """with horizon as (
                   select greatest(max(received_at), (select max(occurred_at)
                                   from raw.lead_stage_events)) as at from raw.enriched_leads
               )
               select (select at from horizon),
                      count(*), count(*) filter (where is_converted),
                      count(*) filter (where is_under_contract_90d),
                      count(*) filter (where is_converted and not is_under_contract_90d
                                       and converted_at <= received_at + interval '90 days'),
                      count(*) filter (where received_at + interval '120 days' > (
                          select at from horizon))
               from marts.lead_training_set"""
        ).fetchone()
        assert 0 < n_train < leads and early == 0
        assert n_converted <= n_train and n_contract <= n_train and closed_not_contract == 0
        # no score yet: the CRM table says so instead of inventing one
        assert (
            conn.execute(
                "select count(*) from marts.scored_leads where score is not null"
            ).fetchone()[0]
            == 0
        )
        rates = conn.execute(
            "select min(conversion_rate), max(conversion_rate) from marts.funnel_conversion"
        ).fetchone()
        assert 0 <= rates[0] <= rates[1] <= 1


def test_lead_features_contract_is_the_feature_list(window, database_url):
    types = {"numeric": "double precision", "boolean": "boolean", "categorical": "text"}
    expected = list(KEY_COLUMNS) + [f.name for f in FEATURES]
    with psycopg.connect(database_url) as conn:
        columns = conn.execute(
            """select column_name, data_type from information_schema.columns
               where table_schema = 'marts' and table_name = 'lead_features'
               order by ordinal_position"""
        ).fetchall()
    assert [c for c, _ in columns] == expected
    kinds = {f.name: types[f.kind] for f in FEATURES}
    assert all(t == kinds[c] for c, t in columns if c in kinds)
    contract = yaml.safe_load((DBT_PROJECT_DIR / "models/marts/lead_features.yml").read_text())
    documented = [c["name"] for c in contract["models"][0]["columns"]]
    assert documented == expected


def test_dbt_build_twice_gives_identical_marts(window, database_url):
    fingerprints = []
    for _ in range(2):
        result = _dbt(database_url, "build", "--quiet")
        assert result.returncode == 0, result.stdout[-3000:]
        with psycopg.connect(database_url) as conn:
            fingerprints.append({t: _fingerprint(conn, t) for t in MARTS})
    assert fingerprints[0] == fingerprints[1]
    assert len(set(fingerprints[0].values())) == len(MARTS)


def test_duplicate_raw_events_fail_a_test_and_stop_the_downstream_models(window, database_url):
    with psycopg.connect(database_url, autocommit=True) as conn:
        before = _fingerprint(conn, "marts.funnel_daily")
        # the same stage change sent twice by a source system, under a new event id, on a day
        # of the run (the daily run's tests check its own days)
        conn.execute(
            """insert into raw.lead_stage_events
               select event_id + 1000000000, lead_id, external_id, source, stage, occurred_at,
                      occurred_date
               from raw.lead_stage_events order by occurred_at desc, event_id desc limit 1"""
        )
        try:
            last = window["last"]
            result = run_range(
                DAILY_MART_ASSETS,
                last - timedelta(days=2),
                last,
                window["resources"],
                raise_on_error=False,
            )
            assert not result.success
            failed = [c for c in result.get_asset_check_evaluations() if not c.passed]
            assert any(
                c.asset_key.to_user_string() == "stg_lead_stage_events"
                and "unique_combination" in c.check_name
                for c in failed
            )
            built = {
                m.asset_key.to_user_string() for m in result.get_asset_materialization_events()
            }
            assert "funnel_daily" not in built
            assert _fingerprint(conn, "marts.funnel_daily") == before
        finally:
            conn.execute("delete from raw.lead_stage_events where event_id > 1000000000")


def test_a_daily_run_tests_its_own_days_and_a_plain_build_tests_them_all(window, database_url):
    with psycopg.connect(database_url, autocommit=True) as conn:
        # a duplicated stage change on the first day, long before the run's window
        conn.execute(
            """insert into raw.lead_stage_events
               select event_id + 1000000000, lead_id, external_id, source, stage, occurred_at,
                      occurred_date
               from raw.lead_stage_events order by occurred_at, event_id limit 1"""
        )
        try:
            last = window["last"]
            daily = run_range(
                DAILY_MART_ASSETS, last - timedelta(days=2), last, window["resources"]
            )
            assert daily.success  # its days are clean; the first day is not its business
            result = _dbt(database_url, "test", "--select", "stg_lead_stage_events")
            assert result.returncode != 0
            assert "FAIL 1 unique_combination_of_columns_stg_lead_stage_events" in result.stdout
        finally:
            conn.execute("delete from raw.lead_stage_events where event_id > 1000000000")


def test_a_later_day_rebuilds_only_itself_and_never_changes_earlier_features(window, database_url):
    later = window["last"] + timedelta(days=1)
    with psycopg.connect(database_url, autocommit=True) as conn:
        before = dict(
            conn.execute("select lead_id, md5(f::text) from marts.lead_features as f").fetchall()
        )
        # The day after the window: every lead closes, and an early seller comes back.
        conn.execute(
            """insert into raw.lead_stage_events
               select 2000000000 + lead_id, lead_id, external_id, source, 'closed_won',
                      %(at)s, %(day)s
               from raw.enriched_leads""",
            {"at": f"{later}T12:00:00+00:00", "day": later},
        )
        repeat = conn.execute(
            "select lead_id from raw.enriched_leads where address_key is not null "
            "and email_hash is not null order by received_at limit 1"
        ).fetchone()[0]
        overrides = {
            "lead_id": "lead_id + 3000000000",
            "received_at": "%(at)s::timestamptz + interval '1 hour'",
            "received_date": "%(day)s::date",
        }
        columns = [overrides.get(c, c) for c in _raw_columns(conn)]
        conn.execute(
            f"insert into raw.enriched_leads select {', '.join(columns)} "
            "from raw.enriched_leads where lead_id = %(lead)s",
            {"at": f"{later}T12:00:00+00:00", "day": later, "lead": repeat},
        )
        # A marker on the earlier days shows whether the incremental run touched them.
        conn.execute(
            "update marts.lead_features set asking_price = -1 where lead_id = %s", (repeat,)
        )
        try:
            assert run_range(DAILY_MART_ASSETS, later, later, window["resources"]).success
            marker, priors = conn.execute(
                """select (select asking_price from marts.lead_features where lead_id = %(old)s),
                          (select array[n_prior_leads_same_property, n_prior_leads_same_contact]
                           from marts.lead_features where lead_id = %(old)s + 3000000000)""",
                {"old": repeat},
            ).fetchone()
            assert marker == -1  # earlier days were left alone
            assert priors[0] >= 1 and priors[1] >= 1  # the returning seller is counted
            # Rebuilt from scratch with the later events and lead present, no earlier lead's
            # features change: nothing after arrival leaks in.
            result = _dbt(database_url, "run", "--select", "lead_features", "--full-refresh")
            assert result.returncode == 0, result.stdout[-3000:]
            after = dict(
                conn.execute(
                    "select lead_id, md5(f::text) from marts.lead_features as f"
                ).fetchall()
            )
            assert len(after) == len(before) + 1
            assert {k: after[k] for k in before} == before
        finally:
            conn.execute("delete from raw.lead_stage_events where event_id > 2000000000")
            conn.execute("delete from raw.enriched_leads where lead_id > 3000000000")
            conn.execute("delete from marts.lead_features where lead_id > 3000000000")


def _raw_columns(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute(
        """select column_name from information_schema.columns
           where table_schema = 'raw' and table_name = 'enriched_leads'
           order by ordinal_position"""
    ).fetchall()
    return [r[0] for r in rows]


def test_sqlfluff_passes(database_url):
    env = os.environ | dbt_env(database_url)
    result = subprocess.run(
        [str(Path(sys.executable).with_name("sqlfluff")), "lint", "models"],
        cwd=DBT_PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


def test_code_location_lineage_runs_from_intake_to_the_marts():
    from hk_pipelines.definitions import defs

    graph = defs.resolve_asset_graph()

    def parents(name: str) -> set[str]:
        return {k.to_user_string() for k in graph.get(dg.AssetKey(name)).parent_keys}

    assert parents("stg_enriched_leads") == {"warehouse_enriched_leads"}
    assert parents("stg_lead_stage_events") == {"warehouse_lead_stage_events"}
    assert parents("lead_features") == {"stg_enriched_leads"}  # no stage events: no leakage
    assert "lead_features" in parents("lead_training_set")
    assert graph.get(dg.AssetKey("lead_features")).partitions_def is not None
    assert graph.get(dg.AssetKey("scored_leads")).partitions_def is None
    assert graph.get(dg.AssetKey("lead_features")).group_name == "marts"
    assert graph.get(dg.AssetKey("stg_enriched_leads")).group_name == "staging"
    check_names = {k.name for k in graph.asset_check_keys if k.asset_key.path == ["lead_features"]}
    assert any(name.startswith("unique_lead_features_lead_id") for name in check_names)
