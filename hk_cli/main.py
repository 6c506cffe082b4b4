"""``hk``: set up, import, serve and demo the Hidden Key platform."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from hk_cli.lake import lake_app
from hk_cli.operations import suppressions_app
from hk_cli.operations import worker as worker_command
from hk_cli.pipeline import pipeline_app
from hk_cli.pipeline import ui as pipeline_ui
from hk_cli.tasks import audit_app, tasks_app
from hk_core.readers import Format
from hk_core.settings import get_settings

app = typer.Typer(help="Hidden Key lead platform.", no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="The platform database.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys for the HTTP API.", no_args_is_help=True)
leads_app = typer.Typer(help="Leads.", no_args_is_help=True)
events_app = typer.Typer(help="Funnel stage events.", no_args_is_help=True)
reference_app = typer.Typer(help="Reference data (county records).", no_args_is_help=True)
reference_import_app = typer.Typer(help="Import reference data.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="api-keys")
app.add_typer(leads_app, name="leads")
app.add_typer(events_app, name="events")
app.add_typer(reference_app, name="reference")
app.add_typer(pipeline_app, name="pipeline")
app.add_typer(lake_app, name="lake")
app.command("ui")(pipeline_ui)
app.command("worker")(worker_command)
app.add_typer(suppressions_app, name="suppressions")
app.add_typer(tasks_app, name="tasks")
app.add_typer(audit_app, name="audit")
reference_app.add_typer(reference_import_app, name="import")

FormatOption = Annotated[
    str | None, typer.Option("--format", help="csv or ndjson (default: from the file name)")
]


def _conninfo() -> str:
    from hk_core.db import database_url
    from hk_core.migrate import upgrade

    url = database_url()
    upgrade(url)
    return url


def _hasher():
    from hk_core.pii import PiiHasher

    settings = get_settings()
    return PiiHasher(
        settings.pii_key.get_secret_value(),
        default_region=settings.default_phone_region,
        check_deliverability=settings.email_check_deliverability,
    )


def _format(path: Path, given: str | None) -> Format:
    from hk_core.readers import detect_format

    fmt = given or detect_format(path.name)
    if fmt not in ("csv", "ndjson"):
        raise typer.BadParameter(f"cannot tell the format of {path.name}; pass --format csv|ndjson")
    return fmt  # type: ignore[return-value]


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending schema migrations."""
    from hk_core.db import database_url
    from hk_core.migrate import current_version, upgrade

    url = database_url()
    applied = upgrade(url)
    for migration in applied:
        typer.echo(f"applied {migration.version:04d}_{migration.name}")
    typer.echo(f"database at version {current_version(url)}")


@db_app.command("url")
def db_url() -> None:
    """Print the database URL (starts the embedded Postgres if that is what is configured)."""
    from hk_core.db import database_url

    typer.echo(database_url())


@keys_app.command("create")
def api_keys_create(
    name: str,
    scopes: Annotated[
        str,
        typer.Option(
            help="Comma-separated: ingest, read, operate, approve, admin (docs/security.md)."
        ),
    ] = "ingest,read,operate,approve,admin",
) -> None:
    """Create an API key; the key is printed once, alone on the last line."""
    import psycopg

    from hk_core.apikeys import ScopeError, create_api_key, parse_scopes

    try:
        chosen = parse_scopes(scopes)
    except ScopeError as error:
        raise typer.BadParameter(str(error), param_hint="--scopes") from None
    with psycopg.connect(_conninfo()) as conn:
        key, token = create_api_key(conn, name, chosen)
    typer.echo(
        f"created API key {key.prefix} for {name!r} with scopes {','.join(key.scopes)}; "
        "store it now, it is not shown again:"
    )
    typer.echo(token)


@keys_app.command("ls")
def api_keys_ls(
    all_keys: Annotated[bool, typer.Option("--all", help="Include revoked keys.")] = False,
) -> None:
    """List API keys: prefix, name, scopes, created, revoked (never the key itself)."""
    import psycopg
    from rich.console import Console
    from rich.table import Table

    from hk_core.apikeys import list_api_keys

    with psycopg.connect(_conninfo()) as conn:
        keys = list_api_keys(conn, include_revoked=all_keys)
    table = Table("prefix", "name", "scopes", "created", "revoked")
    for key in keys:
        table.add_row(
            key.prefix, key.name, ",".join(key.scopes),
            key.created_at.strftime("%Y-%m-%d %H:%M"),
            key.revoked_at.strftime("%Y-%m-%d %H:%M") if key.revoked_at else "",
        )  # fmt: skip
    Console().print(table)


@keys_app.command("revoke")
def api_keys_revoke(prefix: str) -> None:
    """Revoke a key by its prefix (or the whole key); servers stop accepting it within
    HK_API_KEY_CACHE_SECONDS."""
    import psycopg

    from hk_core.apikeys import revoke_api_key, split_token

    parts = split_token(prefix)
    wanted = parts[0] if parts else prefix.removeprefix("hk_")
    with psycopg.connect(_conninfo()) as conn:
        revoked = revoke_api_key(conn, wanted)
    if not revoked:
        typer.echo(f"no live API key has prefix {wanted!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked API key {wanted}")


# Below this size, starting worker processes costs more than it saves.
PARALLEL_IMPORT_BYTES = 8 * 1024 * 1024


def run_import(kind: str, path: Path, fmt: Format, *, write_rejects: bool = True):
    """Import a file with a progress bar; writes ``<file>.rejects.csv`` (or ``.rejects.ndjson``)
    when rows are refused."""
    import os

    import psycopg

    from hk_cli.progress import file_progress
    from hk_core import intake

    with (
        psycopg.connect(_conninfo(), autocommit=True) as conn,
        file_progress(path, kind) as (
            stream,
            progress,
        ),
    ):
        if kind == "leads":
            workers = (os.cpu_count() or 1) if path.stat().st_size > PARALLEL_IMPORT_BYTES else 1
            result = intake.import_leads(
                conn, stream, fmt, _hasher(), channel="cli", progress=progress, workers=workers
            )
        elif kind == "events":
            result = intake.import_stage_events(conn, stream, fmt, progress=progress)
        else:
            result = intake.import_property_records(conn, stream, fmt, progress=progress)
    from hk_core.intake.rejects import write_rejects_csv, write_rejects_ndjson

    # The refused rows as sent, plus row, line and reasons: fixed in place, imported again.
    rejects_path = path.with_name(f"{path.name}.rejects.{fmt}")
    if write_rejects and result.rejects:
        (write_rejects_csv if fmt == "csv" else write_rejects_ndjson)(rejects_path, result.rejects)
    elif write_rejects and rejects_path.exists():
        rejects_path.unlink()  # a clean re-import leaves no stale rejects behind
    return result, rejects_path


def _report(kind: str, path: Path, fmt: str | None) -> None:
    result, rejects_path = run_import(kind, path, _format(path, fmt))
    typer.echo(
        f"{kind}: {result.rows:,} rows, {result.accepted:,} accepted, {result.rejected:,} rejected, "
        f"{result.stored:,} stored, {result.duplicates:,} already there"
    )
    if result.rejected:
        for error in result.errors[:5]:
            typer.echo(f"  row {error.row} (line {error.line}): {error.field}: {error.reason}")
        typer.echo(f"rejected rows and reasons written to {rejects_path}")
        raise typer.Exit(code=1)


@leads_app.command("import")
def leads_import(path: Path, fmt: FormatOption = None) -> None:
    """Import leads from CSV or NDJSON (same contract as POST /v1/leads/bulk)."""
    _report("leads", path, fmt)


@events_app.command("import")
def events_import(path: Path, fmt: FormatOption = None) -> None:
    """Import stage events from CSV or NDJSON."""
    _report("events", path, fmt)


@reference_import_app.command("properties")
def reference_import_properties(path: Path, fmt: FormatOption = None) -> None:
    """Import county property records from CSV or NDJSON (upserted by APN)."""
    _report("properties", path, fmt)


@app.command()
def generate(
    leads: Annotated[int, typer.Option("--leads", min=1, help="How many leads")] = 10_000,
    seed: Annotated[int, typer.Option("--seed")] = 7,
    out: Annotated[Path, typer.Option("--out", help="Output folder")] = Path("data"),
    behaviour: Annotated[
        str,
        typer.Option(
            "--behaviour",
            help="How conversion depends on the seller: investor (main effects) or "
            "interactions (only combinations matter)",
        ),
    ] = "investor",
    truth: Annotated[
        bool, typer.Option("--truth", help="Also write the answer keys under OUT/truth/")
    ] = False,
) -> None:
    """Write a synthetic book of business: leads.csv, stage_events.csv, properties.csv."""
    from hk_cli.progress import count_progress
    from hk_core.synthetic import generate_book

    out.mkdir(parents=True, exist_ok=True)
    with count_progress("generating leads", leads) as progress:
        summary = generate_book(
            leads, seed, out, progress=progress, truth=truth, behaviour=behaviour
        )
    typer.echo(
        f"wrote {summary.leads:,} leads ({summary.bad_leads:,} bad on purpose), "
        f"{summary.stage_events:,} stage events, {summary.properties:,} county records to {out}"
    )


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8000,
    workers: Annotated[int, typer.Option("--workers")] = 1,
) -> None:
    """Run the HTTP API (uvicorn); applies migrations first."""
    import signal

    import uvicorn

    _conninfo()
    # uvicorn re-raises SIGTERM after a graceful shutdown; with the default handler the process
    # would die without running atexit, leaving the embedded Postgres running for nobody.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    uvicorn.run(
        "serving.app:create_app", factory=True, host=host, port=port, workers=workers,
        log_level="info", access_log=False, proxy_headers=True,
    )  # fmt: skip


@app.command(
    "dbt",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def dbt(ctx: typer.Context) -> None:
    """dbt on the platform database: `hk dbt build`, `hk dbt test --select lead_features`, …"""
    import os
    import subprocess

    from hk_core.dbt_env import DBT_PROJECT_DIR, dbt_env, dbt_executable, static_dbt_env

    if ctx.args[:1] and ctx.args[0] in ("parse", "deps", "clean", "--version", "--help"):
        env = static_dbt_env(dict(os.environ))  # no database needed
    else:
        env = os.environ | dbt_env(_conninfo())
    command = [dbt_executable(), *ctx.args]
    sys.exit(subprocess.run(command, env=env, cwd=DBT_PROJECT_DIR).returncode)


mlflow_app = typer.Typer(help="The MLflow tracking store and model registry.", no_args_is_help=True)
app.add_typer(mlflow_app, name="mlflow")


@mlflow_app.command("ui")
def mlflow_ui(
    port: Annotated[int, typer.Option("--port")] = 5000,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
) -> None:
    """The MLflow UI on the platform's tracking store (runs, the lead_conversion registry)."""
    import os
    import subprocess

    from ml.registry import artifact_root, tracking_uri

    settings = get_settings()
    _conninfo()
    uri = tracking_uri(settings)
    command = [
        str(Path(sys.executable).with_name("mlflow")), "ui", "--backend-store-uri", uri,
        "--default-artifact-root", artifact_root(settings), "--host", host, "--port", str(port),
    ]  # fmt: skip
    env = os.environ | {"MLFLOW_DISABLE_TELEMETRY": "true"}
    sys.exit(subprocess.run(command, env=env).returncode)


@app.command()
def demo(
    leads: Annotated[
        int, typer.Option("--leads", min=100, help="Size of the generated book")
    ] = 20_000,
    seed: Annotated[int, typer.Option("--seed")] = 7,
) -> None:
    """The main job: embedded Postgres, data, imports, the API, automations, and a summary.

    The automations part starts an SMS sink and an SMTP sink on loopback (or uses the channels
    HK_SMS_* / HK_SMTP_URL name) and a worker. The book ends three days ago, so speed-to-lead
    (leads of the last 72 h) leaves it alone; four sellers arrive now instead, placed where
    today's clock shows each case: consented (sent), no consent (blocked), quiet hours
    (deferred to the local morning), and one who texts STOP and then sends a second form.
    """
    from hk_cli.demo import run_demo

    try:
        code = run_demo(leads=leads, seed=seed)
    except KeyboardInterrupt:
        # The worker, the sinks and the API have stopped on the way out; no traceback.
        typer.echo("demo interrupted", err=True)
        code = 130
    sys.exit(code)


if __name__ == "__main__":
    app()
