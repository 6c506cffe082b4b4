"""How dbt reaches the platform database: ``dbt_project/profiles.yml`` reads ``HK_DBT_*``
variables, and this module derives them from the one database URL (``HK_DATABASE_URL`` or the
embedded server), so dbt, Dagster and the API never disagree about where the data is."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

DBT_PROJECT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"

# Nothing may phone home from here: no usage statistics, no version check.
QUIET_DBT_ENV = {
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "DBT_VERSION_CHECK": "false",
    "DO_NOT_TRACK": "1",
    "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR),
}


def dbt_executable() -> str:
    """dbt from this environment's bin folder (what `uv run` and the venv put on PATH)."""
    beside_python = Path(sys.executable).with_name("dbt")
    return str(beside_python) if beside_python.exists() else "dbt"


def static_dbt_env(environ: dict[str, str]) -> dict[str, str]:
    """The environment for dbt commands that need no database (parse, deps, clean): without
    HK_DBT_*, so the manifest does not depend on who prepared it."""
    return {k: v for k, v in environ.items() if not k.startswith("HK_DBT_")} | QUIET_DBT_ENV


def dbt_env(url: str, *, target: str | None = None) -> dict[str, str]:
    """The ``HK_DBT_*`` variables for a libpq URL (TCP or a unix-socket ``host=`` query)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    host = query.get("host") or parts.hostname or "127.0.0.1"
    env = {
        **QUIET_DBT_ENV,
        "HK_DBT_HOST": host,
        "HK_DBT_PORT": str(query.get("port") or parts.port or 5432),
        "HK_DBT_USER": unquote(parts.username or query.get("user") or "postgres"),
        "HK_DBT_PASSWORD": unquote(parts.password or query.get("password") or ""),
        "HK_DBT_DBNAME": (parts.path or "/").lstrip("/") or query.get("dbname") or "postgres",
    }
    if target:
        env["HK_DBT_TARGET"] = target
    if "sslmode" in query:
        env["HK_DBT_SSLMODE"] = query["sslmode"]
    return env


def export_dbt_env(url: str, *, target: str | None = None) -> dict[str, str]:
    """Put the dbt variables into this process's environment (dbt runs as a child process)."""
    env = dbt_env(url, target=target)
    os.environ.update(env)
    return env
