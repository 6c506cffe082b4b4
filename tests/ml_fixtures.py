"""A throwaway database whose marts are the synthetic feature table (a known signal), for
tests of the model code that should not depend on dbt building the marts first."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pyarrow as pa

from hk_core.db import ensure_database, with_database
from hk_core.migrate import upgrade
from hk_core.settings import Settings
from hk_pipelines.defs.common.resources import MlflowResource
from ml.data import write_arrow
from ml.registry import artifact_root, tracking_uri
from ml.synthetic import synthetic_feature_table


@contextmanager
def synthetic_marts_database(
    server_url: str, prefix: str, n_leads: int, seed: int, book: pa.Table | None = None
) -> Iterator[str]:
    """A new database with marts.lead_training_set and marts.lead_features (``book``, or the
    synthetic feature table of ``n_leads`` and ``seed``); dropped after, with its MLflow
    database."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    ensure_database(server_url, name)
    url = with_database(server_url, name)
    upgrade(url)
    book = synthetic_feature_table(n_leads, seed) if book is None else book
    features = book.select([c for c in book.column_names if c != "is_converted"])
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("create schema marts")
        write_arrow(conn, book, "marts.lead_training_set", create=True)
        write_arrow(conn, features, "marts.lead_features", create=True)
    try:
        yield url
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            for db in (name, f"{name}_mlflow"):
                conn.execute(f'drop database if exists "{db}" with (force)')


@contextmanager
def scored_marts_database(
    server_url: str,
    prefix: str,
    home: Path,
    *,
    n_leads: int,
    seed: int,
    book: pa.Table | None = None,
    closed_every: int | None = 10,
) -> Iterator[tuple[str, MlflowResource]]:
    """``synthetic_marts_database`` plus what the Dagster model assets need: the open-lead
    table (every ``closed_every``-th lead closed, so the rescoring skips it; None: all open)
    and an MLflow store next to the database, with its artifacts under ``home``."""
    with synthetic_marts_database(server_url, prefix, n_leads, seed, book=book) as url:
        is_open = "true" if closed_every is None else f"lead_id % {int(closed_every)} <> 0"
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("create schema intermediate")
            conn.execute(
                "create table intermediate.int_lead_outcomes as "
                f"select lead_id, {is_open} as is_open from marts.lead_features"
            )
        settings = Settings(database_url=url, home=home)
        yield (
            url,
            MlflowResource(
                tracking_uri=tracking_uri(settings), artifact_root=artifact_root(settings)
            ),
        )
