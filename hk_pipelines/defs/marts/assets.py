"""The dbt models as Dagster assets: the daily (incremental) models run per partition range,
the rest as one unpartitioned build downstream of them."""

import json
import os
from collections.abc import Iterator
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from hk_core.dbt_env import export_dbt_env
from hk_core.feature_cache import invalidate as invalidate_feature_cache
from hk_core.settings import get_settings
from hk_pipelines.defs.common.partitions import DAILY, SINGLE_RUN
from hk_pipelines.defs.common.resources import PostgresResource
from hk_pipelines.defs.marts.project import dbt_project
from hk_pipelines.defs.marts.translator import TRANSLATOR

DAILY_SELECTION = "tag:daily"


def prepare_dbt_env(postgres: PostgresResource) -> None:
    """dbt's profile variables, and "buildable" indirect selection: a test that also reads a
    model of the other dbt asset group (a relationships test from int_lead_funnel to a staging
    view) runs with the group that can build all of its parents, not before they exist.
    dagster-dbt still overrides it when a run selects a subset of checks."""
    export_dbt_env(postgres.conninfo())
    os.environ["DBT_INDIRECT_SELECTION"] = "buildable"


@cache
def _relations() -> dict[str, str]:
    """schema.table of every dbt model, by unique id (from the prepared manifest)."""
    manifest = json.loads(Path(dbt_project.manifest_path).read_text())
    return {
        unique_id: f"{node['schema']}.{node.get('alias') or node['name']}"
        for unique_id, node in manifest["nodes"].items()
        if node["resource_type"] == "model"
    }


def with_row_counts(events: Iterator[Any], postgres: PostgresResource) -> Iterator[Any]:
    """Add each built model's row count to its materialisation.

    dagster-dbt's own ``fetch_row_counts`` queries the relation named in the prepared manifest,
    database included, and the database differs between machines (a cross-database reference
    in Postgres); the schema and table are stable, so count those.
    """
    relations = _relations()
    with postgres.connect() as conn:
        for event in events:
            if isinstance(event, dg.Output):
                unique_id = event.metadata.get("unique_id")
                relation = relations.get(str(unique_id.value)) if unique_id else None
                if relation:
                    row = conn.execute(f"select count(*) from {relation}").fetchone()
                    count = row[0] if row else 0
                    event = event.with_metadata({**event.metadata, "dagster/row_count": count})
            yield event


def partition_vars(context: dg.AssetExecutionContext) -> dict[str, str]:
    """dbt's min_date / max_date (inclusive) for the run's partition range."""
    window = context.partition_time_window
    last_day = (window.end - timedelta(days=1)).date()
    return {"min_date": window.start.date().isoformat(), "max_date": last_day.isoformat()}


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    select=DAILY_SELECTION,
    partitions_def=DAILY,
    backfill_policy=SINGLE_RUN,
    dagster_dbt_translator=TRANSLATOR,
    name="dbt_daily_models",
)
def dbt_daily_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, postgres: PostgresResource
):
    """Staging views and the incremental marts, rebuilt for the run's days."""
    prepare_dbt_env(postgres)
    dbt_vars = partition_vars(context)
    context.log.info(f"dbt build over {dbt_vars['min_date']} .. {dbt_vars['max_date']}")
    invocation = dbt.cli(["build", "--vars", json.dumps(dbt_vars)], context=context)
    yield from with_row_counts(invocation.stream(), postgres)
    # lead_features changed: the API's cached feature rows are stale now.
    invalidate_feature_cache(get_settings(), "lead_features rebuilt", postgres.conninfo())


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    exclude=DAILY_SELECTION,
    dagster_dbt_translator=TRANSLATOR,
    name="dbt_models",
)
def dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, postgres: PostgresResource):
    """The funnel, the training set and the CRM's scored leads, rebuilt in full."""
    prepare_dbt_env(postgres)
    yield from with_row_counts(dbt.cli(["build"], context=context).stream(), postgres)
