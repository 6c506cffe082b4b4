"""``hk pipeline …`` and ``hk ui``: the Dagster side of the platform from the command line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

pipeline_app = typer.Typer(
    help="Dagster pipelines: lake, enrichment, warehouse.", no_args_is_help=True
)
ROOT = Path(__file__).resolve().parents[1]


def _run(first: date | None, last: date | None) -> None:
    from hk_core.db import database_url
    from hk_core.migrate import upgrade
    from hk_pipelines.runner import prepare_dagster_home, run_everything

    upgrade(database_url())
    prepare_dagster_home()
    # A backfill rebuilds days; training and rescoring belong to `hk pipeline run` and the schedules.
    runs = run_everything(first=first, last=last, train=first is None)
    failed = False
    for run in runs:
        if run.run_id is None:
            typer.echo(f"{run.name}: {run.note or 'no data'}")
            continue
        state = "ok" if run.success else "FAILED"
        days = f" {run.first_day} .. {run.last_day}" if run.first_day else ""
        typer.echo(f"{run.name}:{days} {state} (run {run.run_id})")
        if run.note:
            typer.echo(f"  {run.note}")
        if run.skipped_before_first_day:
            typer.echo(f"  {run.skipped_before_first_day:,} rows before the first partition day")
        failed |= not run.success
    if failed:
        raise typer.Exit(code=1)


@pipeline_app.command("run")
def pipeline_run() -> None:
    """Materialise everything, in dependency order, over the days that have data."""
    _run(None, None)


@pipeline_app.command("backfill")
def pipeline_backfill(
    start: Annotated[str, typer.Option("--start", help="First day, YYYY-MM-DD")],
    end: Annotated[str, typer.Option("--end", help="Last day, YYYY-MM-DD")],
) -> None:
    """Re-run the pipelines over a range of days (one run per pipeline)."""
    _run(date.fromisoformat(start), date.fromisoformat(end))


def ui(
    port: Annotated[int, typer.Option("--port")] = 3000,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
) -> None:
    """The Dagster UI and daemon (schedules, sensors) on the platform database."""
    from hk_core.db import database_url
    from hk_core.migrate import upgrade
    from hk_pipelines.runner import prepare_dagster_home

    upgrade(database_url())
    prepare_dagster_home()
    command = [
        str(Path(sys.executable).with_name("dagster")), "dev",
        "-w", str(ROOT / "workspace.yaml"), "-h", host, "-p", str(port),
    ]  # fmt: skip
    ui_process = subprocess.Popen(command, env=os.environ.copy())

    def stop(*_: object) -> None:
        # Exit through atexit, so the embedded Postgres can stop with its last user. (Ctrl-C
        # reaches dagster dev directly through the terminal's process group.)
        ui_process.terminate()
        try:
            ui_process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            ui_process.kill()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    raise typer.Exit(ui_process.wait())
