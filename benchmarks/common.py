"""Shared by the benchmark scripts: a fresh database on the local Postgres, and running `hk`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parents[1]
# The `hk` next to the running interpreter: `uv run python …` and `.venv/bin/python …` both work.
HK = str(Path(sys.executable).with_name("hk"))
# The server to benchmark on; the benchmark database is created (and dropped) on it.
SERVER_URL = os.environ.get("HK_BENCH_SERVER_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
BENCH_DB = "hk_bench"
# A realistic reason_codes payload (3 reasons, as ml.reasons writes them) for stand-in scores.
SAMPLE_REASONS = json.dumps([
    {"feature": "timeline_days", "contribution": 0.4123, "text": "Timeline in days: 30"},
    {"feature": "asking_to_value_ratio", "contribution": 0.2311,
     "text": "Asking price over estimated value: 0.82"},
    {"feature": "is_absentee_owner", "contribution": 0.1034, "text": "Absentee owner: yes"},
])  # fmt: skip


def machine() -> str:
    """What the numbers were measured on, including how busy the machine already was."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    git = ["git", "-C", str(REPO)]
    commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run([*git, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()  # fmt: skip
    revision = commit.stdout.strip() + (" + uncommitted changes" if dirty else "")
    return (
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}, {os.cpu_count()} cores, "
        f"load average {load}, commit {revision}"
    )


def require(*tools: str) -> None:
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        sys.exit(f"missing: {', '.join(missing)} (apt-get install wrk hyperfine postgresql-client)")


def database_url(dbname: str = BENCH_DB) -> str:
    parts = urlsplit(SERVER_URL)
    return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, parts.fragment))


def psql(sql: str, *, url: str | None = None) -> str:
    """Run one SQL statement (or psql meta-command) with psql and return its bare output."""
    command = ["psql", url or database_url(), "-XqtA", "-v", "ON_ERROR_STOP=1", "-c", sql]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()


def fresh_database(dbname: str = BENCH_DB) -> str:
    """Drop (with its MLflow database) and re-create a benchmark database; returns its URL."""
    drop_database(dbname)
    psql(f"create database {dbname}", url=SERVER_URL)
    return database_url(dbname)


def drop_database(dbname: str = BENCH_DB) -> None:
    """The database, and the `<name>_mlflow` one that training next to it creates."""
    for name in (dbname, f"{dbname}_mlflow"):
        psql(f"drop database if exists {name} with (force)", url=SERVER_URL)


def bench_env(**extra: str) -> dict[str, str]:
    """The environment every `hk` command of a benchmark runs with (pointed at the bench db)."""
    env = dict(os.environ)
    env.update(
        HK_DATABASE_URL=database_url(),
        HK_RATE_LIMIT_PER_MINUTE="1000000000",
        DAGSTER_DISABLE_TELEMETRY="1",
        DO_NOT_TRACK="1",
    )
    env.update(extra)
    return env


def hk(*args: str, env: dict[str, str]) -> str:
    """Run `hk …` in the repo; returns stdout, exits with its stderr on failure."""
    result = subprocess.run([HK, *args], cwd=REPO, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"`hk {' '.join(args)}` failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result.stdout
