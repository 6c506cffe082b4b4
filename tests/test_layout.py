"""The platform's skeleton holds: the code location loads, the Dagster instance config works
on Postgres, and the API starts without Dagster, dbt or MLflow."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg

from hk_core.db import with_driver

ROOT = Path(__file__).parents[1]


def test_code_location_loads():
    from hk_pipelines.definitions import defs

    assert isinstance(defs, dg.Definitions)


def test_dagster_instance_uses_postgres_storage(database_url, tmp_path, monkeypatch):
    shutil.copy(ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    monkeypatch.setenv("HK_DAGSTER_PG_URL", with_driver(database_url, "psycopg2"))

    @dg.asset
    def smoke() -> int:
        return 1

    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert dg.materialize([smoke], instance=instance).success
        assert len(instance.get_runs()) == 1


def test_api_starts_without_dagster_dbt_or_mlflow():
    code = (
        "import sys; from serving.app import create_app; create_app(); "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('dagster', 'dbt', 'mlflow')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hk_core_imports_neither_dagster_nor_fastapi():
    code = (
        "import sys, hk_core.contract, hk_core.intake, hk_core.db, hk_core.settings, hk_core.logging; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('dagster', 'fastapi', 'starlette')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_worker_imports_neither_the_api_nor_the_pipelines():
    # DESIGN: orchestrator imports neither serving nor hk_pipelines (workers run without both).
    code = (
        "import sys, pkgutil, importlib, orchestrator; "
        "[importlib.import_module(m.name) for m in pkgutil.walk_packages(orchestrator.__path__, 'orchestrator.') "
        "if not m.name.endswith('__main__')]; "
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('serving', 'hk_pipelines', 'dagster', 'fastapi', 'ml', 'mlflow', 'sklearn')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
