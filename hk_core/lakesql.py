"""SQL over the lake: DuckDB in memory, one view per dataset, fed Arrow by the lake itself.

Each dataset ``<zone>/<dataset>`` is the view ``<zone>_<dataset>`` with a ``dt`` (date) column
from its partition folder. DuckDB scans a lazy pyarrow dataset over the lake's fsspec
filesystem, so projections and ``dt`` filters reach the files and S3 works without httpfs.
"""

from __future__ import annotations

import re

import duckdb
import pyarrow as pa

from hk_core.lake import Lake

# The lake's data never needs an extension, and fetching one would mean the network.
DUCKDB_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}


def view_name(zone: str, dataset: str) -> str:
    return f"{zone}_{dataset}"


def connect(lake: Lake, sql: str | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the lake's datasets registered as views.

    With ``sql`` given, only the datasets whose view name appears in it are registered: each
    one costs a listing and a footer read per partition, which on S3 is round trips.
    """
    mentioned = {w.lower() for w in re.findall(r"\w+", sql)} if sql is not None else None
    connection = duckdb.connect(":memory:", config=DUCKDB_CONFIG)
    try:
        for zone, dataset in lake.datasets():
            name = view_name(zone, dataset)
            if mentioned is not None and name not in mentioned:
                continue
            arrow_dataset = lake.arrow_dataset(zone, dataset)
            if arrow_dataset is not None:
                connection.register(name, arrow_dataset)
    except BaseException:
        connection.close()
        raise
    return connection


def query(lake: Lake, sql: str) -> pa.Table:
    """Run ``sql`` over the lake's views and return the result as an Arrow table."""
    with connect(lake, sql) as connection:
        relation = connection.sql(sql)
        # A statement without a result (SET, CREATE ...) still ran; it returns no columns.
        return pa.table({}) if relation is None else relation.to_arrow_table()
