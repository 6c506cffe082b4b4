"""Fixtures on real servers: a fresh Postgres database per test session, the real API."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from hk_core.db import embedded_url, ensure_database, with_database
from hk_core.migrate import upgrade
from hk_core.settings import Settings, get_settings

pytest_plugins = ["lake_fixtures", "pipeline_fixtures", "ops_fixtures"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: a full-size run, only with `-m slow`")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Slow tests stay out of the default run (and `make test`) unless `-m` names them."""
    if "slow" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="slow: run with `pytest -m slow`")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


APP_TABLES = (
    "app.stage_events, app.idempotency_keys, app.leads, app.api_keys, app.property_records, "
    "app.enrichment_cache, app.automation_events, app.automation_runs, app.messages, "
    "app.inbound_messages, app.suppressions, app.score_marks, app.tasks, app.task_calls, "
    "app.document_objects, "
    "public.procrastinate_jobs"
)


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The Postgres server named by HK_DATABASE_URL, or a private embedded one."""
    url = os.environ.get("HK_DATABASE_URL")
    if url:
        return url
    home = tmp_path_factory.mktemp("hk-home")
    return embedded_url(Settings(home=home, database_url=None))


@pytest.fixture(scope="session")
def database_url(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database created for this session and dropped after it, with migrations applied."""
    name = f"hk_test_{secrets.token_hex(4)}"
    ensure_database(server_url, name)
    url = with_database(server_url, name)
    upgrade(url)
    saved = {k: os.environ.get(k) for k in ("HK_DATABASE_URL", "HK_HOME")}
    os.environ["HK_DATABASE_URL"] = url
    os.environ["HK_HOME"] = str(tmp_path_factory.mktemp("hk-state"))
    get_settings.cache_clear()
    yield url
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    get_settings.cache_clear()
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection]:
    """A connection to an emptied operational schema."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"truncate {APP_TABLES} restart identity cascade")
        # The audit log refuses TRUNCATE; a superuser's replica mode skips that trigger.
        conn.execute("set session_replication_role = replica")
        conn.execute("truncate app.task_audit restart identity")
        conn.execute("set session_replication_role = default")
        yield conn


@pytest.fixture
def settings(database_url: str) -> Settings:
    return get_settings()


@pytest.fixture(scope="session")
def api_base(database_url: str) -> Iterator[str]:
    """The real API (uvicorn) on a loopback port, for the whole session."""
    from serving.app import create_app
    from serving.background import BackgroundServer

    get_settings.cache_clear()
    with BackgroundServer(create_app(get_settings())) as base:
        yield base


@pytest.fixture
def api_key(db: psycopg.Connection) -> str:
    from hk_core.apikeys import create_api_key

    return create_api_key(db, "tests")[1]


@pytest.fixture
def client(api_base: str, api_key: str):
    import httpx

    with httpx.Client(base_url=api_base, headers={"X-API-Key": api_key}, timeout=30) as c:
        yield c


FIXTURES = Path(__file__).parent / "fixtures"
