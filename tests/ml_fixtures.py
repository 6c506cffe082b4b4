"""A throwaway database whose marts are the synthetic feature table (a known signal), for
tests of the model code that should not depend on dbt building the marts first."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pyarrow as pa

from hk_core.db import ensure_database, with_database
from hk_core.migrate import upgrade
from ml.data import write_arrow
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
