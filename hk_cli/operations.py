"""``hk worker`` and ``hk suppressions``: the operations side's commands."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path
from typing import Annotated

import typer

from hk_core.settings import get_settings

suppressions_app = typer.Typer(help="The do-not-contact list.", no_args_is_help=True)


def worker(
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", "-c", help="Jobs at once (default: settings)")
    ] = None,
) -> None:
    """Run the automations worker: dispatch, steps, sends (several may run on several machines)."""
    from hk_core.db import database_url
    from hk_core.logging import configure_logging
    from hk_core.migrate import upgrade
    from orchestrator.assistants import CatalogError, load_catalog
    from orchestrator.rules import RulesError, load_rules
    from orchestrator.worker import check_rules_against, run_worker

    settings = get_settings()
    configure_logging(settings.log_level, json=settings.log_json)
    try:
        rules = load_rules(settings.automations_file)
        catalog = load_catalog(settings.assistants_file)
        check_rules_against(rules, catalog)
    except (RulesError, CatalogError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    upgrade(database_url(settings))
    typer.echo(
        f"worker: {len(rules.rules)} rules, {len(catalog.assistants)} assistants; "
        f"concurrency {concurrency or settings.worker_concurrency}"
    )
    asyncio.run(run_worker(settings, concurrency=concurrency, rules=rules, catalog=catalog))


@suppressions_app.command("import")
def suppressions_import(
    path: Path,
    reason: Annotated[
        str, typer.Option(help="Why these contacts are suppressed")
    ] = "do not contact",
) -> None:
    """Add a CSV's contacts to the do-not-contact list (columns: phone and/or email, optional channel)."""
    from hk_core.db import database_url
    from hk_core.migrate import upgrade
    from hk_core.pii import PiiHasher

    settings = get_settings()
    url = database_url(settings)
    upgrade(url)
    hasher = PiiHasher(
        settings.pii_key.get_secret_value(), default_region=settings.default_phone_region
    )
    entries, problems = _read_suppressions(path, hasher)
    for problem in problems:
        typer.echo(problem, err=True)
    added = asyncio.run(_store(url, entries, reason, f"import:{path.name}"))
    typer.echo(
        f"{added:,} added, {len(entries) - added:,} already listed, {len(problems):,} refused"
    )
    if problems:
        raise typer.Exit(1)


def _read_suppressions(path: Path, hasher) -> tuple[list[tuple[str, str]], list[str]]:
    entries: list[tuple[str, str]] = []
    problems: list[str] = []
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = {name.strip().lower(): name for name in reader.fieldnames or []}
        if "phone" not in columns and "email" not in columns:
            raise typer.BadParameter(f"{path.name}: needs a phone or an email column")
        for number, row in enumerate(reader, start=2):
            channel = (row.get(columns.get("channel", ""), "") or "all").strip().lower() or "all"
            if channel not in ("sms", "email", "all"):
                problems.append(f"row {number}: channel: {channel!r} is not sms, email or all")
                continue
            phone = (row.get(columns.get("phone", ""), "") or "").strip()
            email = (row.get(columns.get("email", ""), "") or "").strip()
            if not phone and not email:
                problems.append(f"row {number}: neither phone nor email is given")
                continue
            keys = hasher.contact_keys(email or None, phone or None)
            if phone and keys.phone_e164 is None:
                problems.append(f"row {number}: phone: not a valid phone number")
                continue
            for value in (keys.phone_hash if phone else None, keys.email_hash if email else None):
                if value:
                    entries.append((value, channel))
    return entries, problems


async def _store(url: str, entries: list[tuple[str, str]], reason: str, source: str) -> int:
    import psycopg

    from orchestrator.replies import suppress

    added = 0
    async with await psycopg.AsyncConnection.connect(url) as conn, conn.transaction():
        for contact_hash, channel in entries:
            added += await suppress(conn, contact_hash, channel, reason, source)
    return added
