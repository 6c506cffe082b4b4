"""The ``hk`` command as a user runs it: real processes, real database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
import pytest
from helpers import served_port

HK = str(Path(sys.executable).with_name("hk"))

LEADS_CSV = (
    "external_id,source,received_at,email,phone,property_street,property_city,property_state,property_zip\n"
    "L-1,web_form,2025-01-02,a@example.com,,1 Oak St,Austin,TX,78701\n"
    "L-2,web_form,2025-01-02,,,2 Oak St,Austin,TX,78701\n"
    "L-3,web_form,2025-01-03,c@example.com,512 555 0100,3 Oak St,Austin,TX,78701\n"
)


def hk(*args: str, env: dict | None = None, check: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run(
        [HK, *args], capture_output=True, text=True, env={**os.environ, **(env or {})},
        timeout=300, check=check,
    )  # fmt: skip


def test_leads_import_writes_rejects_and_fails(tmp_path, db):
    path = tmp_path / "leads.csv"
    path.write_text(LEADS_CSV)
    first = hk("leads", "import", str(path))
    assert first.returncode == 1, first.stderr
    assert "3 rows, 2 accepted, 1 rejected, 2 stored" in first.stdout
    rejects_path = tmp_path / "leads.csv.rejects.csv"
    header, *rows = rejects_path.read_text().splitlines()
    sent_header, sent_row = LEADS_CSV.splitlines()[0], LEADS_CSV.splitlines()[2]
    assert header == sent_header + ",reject_row,reject_line,reject_reasons"
    assert rows == [sent_row + ",2,3,email: no contact: a lead needs an email or a phone"]
    again = hk("leads", "import", str(path))
    assert "0 stored, 2 already there" in again.stdout
    assert db.execute("select count(*) from app.leads").fetchone()[0] == 2
    # The rejects file is itself an import: fixed in place, it goes in as it is.
    rejects_path.write_text(
        rejects_path.read_text().replace(
            "L-2,web_form,2025-01-02,,", "L-2,web_form,2025-01-02,b@x.com,"
        )
    )
    fixed = hk("leads", "import", str(rejects_path))
    assert fixed.returncode == 0, fixed.stdout
    assert "1 rows, 1 accepted, 0 rejected, 1 stored" in fixed.stdout
    assert db.execute("select count(*) from app.leads").fetchone()[0] == 3


def test_events_and_reference_import(tmp_path, db):
    (tmp_path / "leads.csv").write_text(
        LEADS_CSV.replace("L-2,web_form,2025-01-02,,", "L-2,web_form,2025-01-02,b@example.com,")
    )
    assert hk("leads", "import", str(tmp_path / "leads.csv")).returncode == 0
    events = tmp_path / "events.csv"
    events.write_text(
        "source,external_id,stage,occurred_at\n"
        "web_form,L-1,new,2025-01-02\nweb_form,L-1,Contract,2025-02-01\n"
        ",L-3,contacted,2025-01-05\nweb_form,NOPE,new,2025-01-02\nweb_form,L-1,sold?,2025-01-02\n"
    )
    result = hk("events", "import", str(events))
    assert result.returncode == 1
    assert "5 rows, 3 accepted, 2 rejected, 3 stored" in result.stdout, result.stdout
    assert "no such lead" in (tmp_path / "events.csv.rejects.csv").read_text()
    assert "3 stored" not in hk("events", "import", str(events)).stdout  # nothing twice
    assert db.execute("select count(*) from app.stage_events").fetchone()[0] == 3

    props = tmp_path / "properties.csv"
    props.write_text(
        "apn,street,city,state,zip,owner_name,estimated_value,tax_delinquent\n"
        "0001,1 OAK ST,AUSTIN,TX,78701,LEE ANN,300000,N\n0001,1 OAK ST,AUSTIN,TX,78701,LEE ANN,310000,Y\n"
        ",2 OAK ST,AUSTIN,TX,78701,RAY BOB,1,N\n"
    )
    result = hk("reference", "import", "properties", str(props))
    assert result.returncode == 1 and "1 rejected" in result.stdout
    row = db.execute("select estimated_value, tax_delinquent from app.property_records").fetchone()
    assert (int(row[0]), row[1]) == (310000, True)  # the last row for an APN wins


def test_api_keys_create_prints_key_last(db):
    result = hk("api-keys", "create", "crm", check=True)
    token = result.stdout.strip().splitlines()[-1]
    assert token.startswith("hk_") and len(token) > 40
    stored = db.execute("select name, key_hash from app.api_keys").fetchone()
    assert stored[0] == "crm" and token.encode() not in bytes(stored[1])


def test_db_upgrade_is_idempotent(database_url):
    from hk_core.migrate import available_migrations

    latest = available_migrations()[-1].version
    assert f"database at version {latest}" in hk("db", "upgrade", check=True).stdout
    assert "applied" not in hk("db", "upgrade", check=True).stdout


# pgserver gives `pg_ctl start` ten seconds. This makes the start "time out" after the real
# pg_ctl has run, as on a loaded machine where the postmaster is still starting.
_SLOW_START = """
import subprocess, sys
from pathlib import Path
import pgserver.postgres_server as server_module
real = server_module.pg_ctl
def slow(args, **kwargs):
    result = real(args, **kwargs)
    if args[-1] == "start":
        raise subprocess.TimeoutExpired(["pg_ctl", *args], 10)
    return result
server_module.pg_ctl = slow
import psycopg
from hk_core.db import embedded_url
from hk_core.settings import Settings
url = embedded_url(Settings(home=Path(sys.argv[1]), database_url=None))
with psycopg.connect(url) as conn:
    print("answer", conn.execute("select 40 + 2").fetchone()[0])
"""


@pytest.mark.embedded
def test_a_slow_embedded_start_is_waited_for_and_stopped_at_exit(tmp_path):
    home = tmp_path / "home"
    result = subprocess.run(
        [sys.executable, "-c", _SLOW_START, str(home)], capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "answer 42" in result.stdout
    assert "slow to start" in result.stderr
    # The last handle's exit stopped the server, as after a normal start.
    from pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(home / "pgdata")
    assert info is None or not info.is_running()


@pytest.mark.embedded
def test_embedded_postgres_is_shared_by_processes(tmp_path):
    """With no HK_DATABASE_URL the CLI and the API share one private server under HK_HOME."""
    env = {k: v for k, v in os.environ.items() if k != "HK_DATABASE_URL"}
    env["HK_HOME"] = str(tmp_path / "home")
    log = tmp_path / "serve.log"
    with log.open("w") as sink:
        server = subprocess.Popen([HK, "serve", "--port", "0"], env=env, stderr=sink)
    try:
        base = f"http://127.0.0.1:{served_port(log, server)}"
        assert httpx.get(f"{base}/health/ready").status_code == 200, log.read_text()[-3000:]
        created = subprocess.run([HK, "api-keys", "create", "embedded"], env=env,
                                 capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
        token = created.stdout.strip().splitlines()[-1]
        lead = {"email": "e@example.com", "property_street": "1 Main St", "property_zip": "10001"}
        response = httpx.post(f"{base}/v1/leads", json=lead, headers={"X-API-Key": token})
        assert response.status_code == 201, response.text
        url = subprocess.run([HK, "db", "url"], env=env, capture_output=True, text=True,
                             timeout=120, check=True).stdout.strip()  # fmt: skip
        assert str(tmp_path / "home") in url
        with psycopg.connect(url) as conn:
            assert conn.execute("select count(*) from app.leads").fetchone()[0] == 1
    finally:
        server.terminate()
        server.wait(timeout=30)
    # The last process to leave stops the shared server: nothing keeps running for nobody.
    assert _postgres_running_on(tmp_path / "home" / "pgdata") == []


def _postgres_running_on(pgdata: Path) -> list[int]:
    import psutil

    deadline = time.monotonic() + 15
    while True:
        pids = [
            p.pid
            for p in psutil.process_iter(["cmdline"])
            if p.info["cmdline"] and str(pgdata) in " ".join(p.info["cmdline"])
        ]
        if not pids or time.monotonic() > deadline:
            return pids
        time.sleep(0.3)
