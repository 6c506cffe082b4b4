"""Versioned SQL migrations for the operational ``app`` schema, and the queue's schema.

Files ``hk_core/migrations/NNNN_name.sql`` are applied in order, each in its own transaction,
under an advisory lock so that several processes starting at once apply each file exactly once.
Then the task queue's tables (procrastinate's own schema, in ``public``) are created, or brought
up to the installed procrastinate's version with its own migration files.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# An arbitrary constant shared by every process that migrates this database.
_ADVISORY_LOCK_ID = 0x484B_4D49_4752  # "HKMIGR"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def available_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    migrations = []
    for path in sorted(directory.glob("[0-9][0-9][0-9][0-9]_*.sql")):
        version = int(path.name[:4])
        migrations.append(Migration(version, path.stem[5:], path.read_text()))
    return migrations


def upgrade(conninfo: str, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Apply the pending migrations; returns those applied now (empty when up to date)."""
    applied_now: list[Migration] = []
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("select pg_advisory_lock(%s)", (_ADVISORY_LOCK_ID,))
        try:
            conn.execute("create schema if not exists app")
            conn.execute(
                """create table if not exists app.schema_migrations (
                       version integer primary key,
                       name text not null,
                       checksum text not null,
                       applied_at timestamptz not null default now())"""
            )
            done: dict[int, str] = dict(
                conn.execute("select version, checksum from app.schema_migrations").fetchall()
            )
            for migration in available_migrations(directory):
                if migration.version in done:
                    if done[migration.version] != migration.checksum:
                        raise RuntimeError(
                            f"migration {migration.version:04d}_{migration.name} was changed after "
                            "it was applied; add a new migration instead of editing an old one"
                        )
                    continue
                with conn.transaction():
                    conn.execute(migration.sql)  # type: ignore[arg-type]
                    conn.execute(
                        "insert into app.schema_migrations (version, name, checksum) values (%s, %s, %s)",
                        (migration.version, migration.name, migration.checksum),
                    )
                log.info("applied migration %04d_%s", migration.version, migration.name)
                applied_now.append(migration)
            _upgrade_queue_schema(conn)
        finally:
            conn.execute("select pg_advisory_unlock(%s)", (_ADVISORY_LOCK_ID,))
    return applied_now


def _queue_migrations() -> list[tuple[str, Path]]:
    """procrastinate's migration files as (version, path), in the order they apply."""
    from procrastinate.schema import SchemaManager  # the queue's package, only when migrating

    directory = Path(SchemaManager.get_migrations_path())
    found = []
    for path in directory.glob("*.sql"):
        match = re.match(r"(\d+\.\d+\.\d+)_(\d+)_", path.name)
        if match:
            found.append((f"{match[1]}_{match[2]}", path))
    return sorted(found, key=lambda item: _version_key(item[0]))


def _upgrade_queue_schema(conn: psycopg.Connection) -> None:
    """Create procrastinate's tables, or apply its migrations newer than the recorded version.

    Its ``schema.sql`` is the state after its newest migration file, so a fresh database records
    that file's version; a later procrastinate release is then brought up with only its new files.
    """
    conn.execute(
        "create table if not exists app.queue_schema (version text not null, "
        "applied_at timestamptz not null default now())"
    )
    migrations = _queue_migrations()
    newest = migrations[-1][0]
    row = conn.execute("select version from app.queue_schema").fetchone()
    if row is None:
        from procrastinate.schema import SchemaManager

        with conn.transaction():
            conn.execute(SchemaManager.get_schema())  # type: ignore[arg-type]
            conn.execute("insert into app.queue_schema (version) values (%s)", (newest,))
        log.info("applied the queue schema (procrastinate %s)", newest)
        return
    recorded = _version_key(row[0])
    for version, path in migrations:
        if _version_key(version) > recorded:
            with conn.transaction():
                conn.execute(path.read_text())  # type: ignore[arg-type]
                conn.execute(
                    "update app.queue_schema set version = %s, applied_at = now()", (version,)
                )
            log.info("applied queue migration %s", path.name)


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.split(r"[._]", version))


def current_version(conninfo: str) -> int | None:
    with psycopg.connect(conninfo) as conn:
        exists = conn.execute("select to_regclass('app.schema_migrations')").fetchone()
        if not exists or exists[0] is None:
            return None
        row = conn.execute("select max(version) from app.schema_migrations").fetchone()
        return row[0] if row else None
