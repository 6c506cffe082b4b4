"""The data scientist's notebook, executed end to end in a real kernel against a database of
its own (marts written from the synthetic feature table) and a real MLflow database store."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import nbformat
import pytest
from ml_fixtures import synthetic_marts_database
from nbclient import NotebookClient

from hk_core.settings import Settings, get_settings
from ml.registry import CHALLENGER, CHAMPION, MODEL_NAME, configure, tracking_uri

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "ml" / "notebooks" / "lead_conversion.ipynb"
N_LEADS = 5_000


@pytest.fixture
def notebook_db(server_url, tmp_path, monkeypatch):
    """A database with marts.lead_training_set / marts.lead_features, named by the ``HK_*``
    variables the kernel inherits (a kernel is a child process of this one)."""
    with synthetic_marts_database(server_url, "hk_nbtest", N_LEADS, 7) as url:
        home = tmp_path / "hk-home"
        monkeypatch.setenv("HK_DATABASE_URL", url)
        monkeypatch.setenv("HK_HOME", str(home))
        monkeypatch.delenv("HK_MLFLOW_TRACKING_URI", raising=False)
        monkeypatch.delenv("HK_LAKE_URL", raising=False)
        monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
        monkeypatch.setenv("MPLBACKEND", "Agg")
        get_settings.cache_clear()
        yield url, Settings(database_url=url, home=home)
        get_settings.cache_clear()


def _outputs(nb, kind: str) -> list[dict]:
    return [
        output
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == kind
    ]


def test_notebook_trains_registers_and_shows_the_results(notebook_db):
    url, settings = notebook_db
    nb = nbformat.read(NOTEBOOK, as_version=4)
    # committed clean: no outputs, no execution counts
    assert not _outputs(nb, "execute_result") and not _outputs(nb, "display_data")
    assert any("parameters" in c.metadata.get("tags", []) for c in nb.cells)

    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    ).execute()

    # the model was registered in this test's MLflow store as the challenger, not promoted
    client = configure(tracking_uri(settings))
    versions = client.search_model_versions(f"name = '{MODEL_NAME}'")
    assert [str(v.version) for v in versions] == ["1"]
    aliases = {k: str(v) for k, v in client.get_registered_model(MODEL_NAME).aliases.items()}
    assert aliases == {CHALLENGER: "1"} and CHAMPION not in aliases
    run = client.get_run(str(versions[0].run_id))
    assert {"pr_auc", "roc_auc", "baseline_pr_auc"} <= set(run.data.metrics)

    streams = "".join(o["text"] for o in _outputs(nb, "stream") if o["name"] == "stdout")
    assert urlsplit(url).path.lstrip("/") in streams  # the settings cell shows the test database
    assert f"registered {MODEL_NAME} version 1" in streams
    assert "no champion yet" in streams and "PR AUC" in streams

    tables = [o["data"].get("text/html", "") for o in _outputs(nb, "execute_result")]
    metrics_table = next(t for t in tables if "baseline" in t and "top_decile_lift" in t)
    assert "xgboost" in metrics_table and "pr_auc" in metrics_table
    images = [o for o in _outputs(nb, "display_data") if "image/png" in o["data"]]
    assert len(images) == 3  # calibration, feature importance, gains and lift
    assert not _outputs(nb, "error")
