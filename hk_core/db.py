"""Postgres access: the one database, either ``HK_DATABASE_URL`` or the embedded pgserver."""

from __future__ import annotations

import atexit
import logging
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg

from hk_core.settings import Settings, get_settings

log = logging.getLogger(__name__)

_EMBEDDED_LOCK = threading.Lock()
EMBEDDED_START_ATTEMPTS = 4
EMBEDDED_READY_SECONDS = 60.0
_embedded_servers: dict[str, object] = {}


def embedded_url(settings: Settings) -> str:
    """Start (or join) the private Postgres under ``<home>/pgdata`` and return its URL.

    pgserver counts the processes using one data directory and stops the server when the
    last of them exits, so the API, Dagster and the CLI can share it.
    """
    home = settings.home.expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    pgdata = home / "pgdata"
    key = str(pgdata)
    with _EMBEDDED_LOCK:
        server = _embedded_servers.get(key)
        if server is None:
            log.info("starting embedded Postgres in %s", pgdata)
            server = _start_embedded(pgdata)
            _embedded_servers[key] = server
    return server.get_uri()  # type: ignore[attr-defined]


def _start_embedded(pgdata: Path) -> object:
    """pgserver's server handle, through a slow start.

    pgserver gives ``pg_ctl start`` ten seconds; on a loaded machine the postmaster can take
    longer to become ready, and pgserver then raises while the server goes on starting (and
    keeps its half-made handle, which it would hand out again). The handle is dropped, the
    start asked for again (pgserver then finds the running postmaster) and the server waited
    for until it says it is ready.
    """
    import pgserver  # imported lazily: only the embedded path needs the bundled binaries
    from pgserver.postgres_server import PostgresServer

    for attempt in range(1, EMBEDDED_START_ATTEMPTS + 1):
        try:
            server = pgserver.get_server(pgdata, cleanup_mode="stop")
        except subprocess.TimeoutExpired:
            broken = PostgresServer._instances.pop(pgdata, None)
            if broken is not None:
                atexit.unregister(broken._cleanup)
            if attempt == EMBEDDED_START_ATTEMPTS:
                raise
            log.warning(
                "embedded Postgres is slow to start (attempt %d of %d); waiting for it",
                attempt, EMBEDDED_START_ATTEMPTS,
            )  # fmt: skip
            _wait_until_ready(pgdata, EMBEDDED_READY_SECONDS)
            continue
        _wait_until_ready(pgdata, EMBEDDED_READY_SECONDS)
        return server
    raise AssertionError("unreachable")


def _wait_until_ready(pgdata: Path, seconds: float) -> None:
    """Until postmaster.pid says the server accepts connections (or ``seconds`` passed)."""
    from pgserver.utils import PostmasterInfo

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        info = PostmasterInfo.read_from_pgdata(pgdata)
        if info is not None and info.is_running() and info.status == "ready":
            return
        time.sleep(0.2)


def database_url(settings: Settings | None = None) -> str:
    """The libpq URL of the platform database (``postgresql://…``)."""
    settings = settings or get_settings()
    if settings.database_url:
        return settings.database_url
    return embedded_url(settings)


MLFLOW_DATABASE_SUFFIX = "_mlflow"


def mlflow_tracking_url(
    settings: Settings, platform_url: str | None = None, *, create: bool = False
) -> str:
    """``HK_MLFLOW_TRACKING_URI`` if set, else MLflow's database store beside the platform's
    (``<db>_mlflow``), created first when ``create``.

    The URL names psycopg2: SQLAlchemy 2.1 would pick psycopg 3 for ``postgresql://``, which
    MLflow's store is not tested with.
    """
    if settings.mlflow_tracking_uri:
        return settings.mlflow_tracking_uri
    platform_url = platform_url or database_url(settings)
    name = urlsplit(platform_url).path.lstrip("/") + MLFLOW_DATABASE_SUFFIX
    if create:
        ensure_database(platform_url, name)
    return with_driver(with_database(platform_url, name), "psycopg2")


def with_driver(url: str, driver: str) -> str:
    """Rewrite a ``postgresql://`` URL for SQLAlchemy with an explicit driver.

    SQLAlchemy 2.1 defaults ``postgresql://`` to psycopg 3, which dagster-postgres cannot use,
    so callers that hand the URL to SQLAlchemy name the driver themselves.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.split("+")[0]
    if scheme == "postgres":
        scheme = "postgresql"
    return urlunsplit((f"{scheme}+{driver}", *parts[1:]))


def with_database(url: str, dbname: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, parts.fragment))


def with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(params)
    return urlunsplit((*parts[:3], urlencode(query), parts.fragment))


def connect(settings: Settings | None = None, **kwargs: object) -> psycopg.Connection:
    """A new synchronous connection to the platform database."""
    return psycopg.connect(database_url(settings), **kwargs)  # type: ignore[arg-type]


def ensure_database(server_url: str, dbname: str) -> None:
    """Create ``dbname`` on the server if it is missing (used by tests and CI)."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (dbname,)).fetchone()
        if not exists:
            conn.execute(f'create database "{dbname}"')
