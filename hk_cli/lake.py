"""``hk lake``: look inside the Parquet lake and query it with SQL (DuckDB)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

lake_app = typer.Typer(help="The Parquet lake (HK_LAKE_URL).", no_args_is_help=True)


def _lake():
    from hk_core.lake import Lake

    return Lake.from_settings()


def _cell(value: object) -> str:
    return "NULL" if value is None else str(value)


@lake_app.command("sql")
def lake_sql(
    sql: Annotated[
        str, typer.Argument(help="A DuckDB query over views like raw_leads (dt: date).")
    ],
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV instead of a table.")] = False,
    limit: Annotated[
        int, typer.Option("--limit", min=1, help="Most rows shown in the table view.")
    ] = 200,
) -> None:
    """Run SQL over the lake: each dataset is a view <zone>_<dataset> with a dt column."""
    import duckdb
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from hk_core.lakesql import query, view_name

    lake = _lake()
    try:
        result = query(lake, sql)
    except duckdb.Error as error:
        views = ", ".join(view_name(z, d) for z, d in lake.datasets()) or "none"
        typer.echo(f"error: {error}\nviews in {lake.root_url}: {views}", err=True)
        raise typer.Exit(code=1) from None
    if as_csv:
        sink = pa.BufferOutputStream()
        pacsv.write_csv(result, sink, pacsv.WriteOptions(quoting_style="needed"))
        sys.stdout.write(sink.getvalue().to_pybytes().decode())
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(*result.column_names, show_lines=False)
    for row in result.slice(0, limit).to_pylist():
        table.add_row(*(_cell(v) for v in row.values()))
    console = Console()
    console.print(table)
    shown = min(limit, result.num_rows)
    more = f" (showing {shown}; --csv for all)" if shown < result.num_rows else ""
    console.print(f"{result.num_rows:,} rows{more}")


@lake_app.command("ls")
def lake_ls() -> None:
    """List datasets with their partitions, rows and size."""
    from rich.console import Console
    from rich.table import Table

    lake = _lake()
    table = Table("view", "zone", "dataset", "partitions", "first dt", "last dt", "rows", "bytes")
    for zone, dataset in lake.datasets():
        summary = lake.describe(zone, dataset)
        table.add_row(
            summary.view, zone, dataset, f"{len(summary.partitions):,}",
            str(summary.partitions[0]), str(summary.partitions[-1]),
            f"{summary.rows:,}", f"{summary.bytes:,}",
        )  # fmt: skip
    console = Console()
    console.print(f"lake: {lake.root_url}")
    console.print(table if table.row_count else "no datasets yet")
