"""PII never reaches a log line; migrations apply once, in order, and refuse edited history."""

from __future__ import annotations

import json
import logging

import psycopg
import pytest
import structlog

from hk_core.logging import configure_logging, get_logger, redact_text
from hk_core.migrate import available_migrations, upgrade


def test_structlog_redacts_pii_keys_and_text(capsys):
    configure_logging("INFO", json=True)
    structlog.reset_defaults()
    configure_logging("INFO", json=True)
    get_logger("t").info(
        "lead from jane.doe@example.com called (512) 555-0147",
        email="jane.doe@example.com", phone="+15125550147", lead_id=42,
        payload={"phone": "512.555.0147", "city": "Austin", "notes": "call +1 512 555 0147"},
    )  # fmt: skip
    line = capsys.readouterr().err.strip().splitlines()[-1]
    record = json.loads(line)
    assert "jane" not in line and "555" not in line
    assert record["lead_id"] == 42 and record["payload"]["city"] == "Austin"
    assert record["email"] == "[redacted]"


# PII that no email/phone pattern catches: only its key says what it is.
PII_BY_KEY = {
    "first_name": "Zebulon",
    "property_street": "42 Quillfeather Lane",
    "notes": "seller's cousin Marguerite handles the sale",
    "api_key": "hk_0badc0de_notarealsecretvalue",
}


def _logged_event(capsys, **fields) -> tuple[str, dict]:
    configure_logging("INFO", json=True)
    structlog.reset_defaults()
    configure_logging("INFO", json=True)
    get_logger("t").info("lead updated", lead_id=7, **fields)
    line = capsys.readouterr().err.strip().splitlines()[-1]
    return line, json.loads(line)


def test_pii_named_keys_are_redacted(capsys):
    line, record = _logged_event(capsys, **PII_BY_KEY, city="Austin")
    for key, value in PII_BY_KEY.items():
        assert value not in line, key
        assert record[key] == "[redacted]"
    assert record["lead_id"] == 7 and record["city"] == "Austin"


def test_pii_named_keys_are_redacted_when_nested(capsys):
    line, record = _logged_event(
        capsys,
        change={**PII_BY_KEY, "city": "Austin", "owner": {"first_name": "Ottoline"}},
        history=[{"notes": "Tybalt will sign"}],
    )
    for key, value in [*PII_BY_KEY.items(), ("owner", "Ottoline"), ("history", "Tybalt")]:
        assert value not in line, key
    assert record["change"]["city"] == "Austin"
    assert record["change"]["owner"]["first_name"] == "[redacted]"
    assert record["history"][0]["notes"] == "[redacted]"


def test_stdlib_log_records_are_redacted(capsys):
    configure_logging("INFO")
    logging.getLogger("some.library").warning(
        "failed for %s at %s", "bob@example.org", "212-555-0100"
    )
    err = capsys.readouterr().err
    assert "bob@example.org" not in err and "555-0100" not in err
    assert "failed for [redacted]" in err


def test_redaction_keeps_ordinary_numbers():
    assert (
        redact_text("lead 12345 scored 0.83 in 2025-01-02")
        == "lead 12345 scored 0.83 in 2025-01-02"
    )


def _fresh_db(server_url: str, name: str) -> str:
    from hk_core.db import with_database

    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')
        conn.execute(f'create database "{name}"')
    return with_database(server_url, name)


def test_migrations_apply_once_and_refuse_edits(server_url, tmp_path):
    url = _fresh_db(server_url, "hk_test_migrations")
    for migration in available_migrations():
        (tmp_path / f"{migration.version:04d}_{migration.name}.sql").write_text(migration.sql)
    assert [m.version for m in upgrade(url, tmp_path)] == [
        m.version for m in available_migrations()
    ]
    assert upgrade(url, tmp_path) == []
    extra = tmp_path / f"{available_migrations()[-1].version + 1:04d}_extra.sql"
    extra.write_text("create table app.extra (id int);")
    assert [m.name for m in upgrade(url, tmp_path)] == ["extra"]
    extra.write_text("create table app.extra (id bigint);")
    with pytest.raises(RuntimeError, match="changed after it was applied"):
        upgrade(url, tmp_path)
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute('drop database "hk_test_migrations" with (force)')


def test_concurrent_upgrades_apply_each_migration_once(server_url):
    import concurrent.futures

    url = _fresh_db(server_url, "hk_test_migrations_race")
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: upgrade(url), range(4)))
    assert sum(len(r) for r in results) == len(available_migrations())
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute('drop database "hk_test_migrations_race" with (force)')
