"""`make bench`: the benchmarks, one after the other (never at once: they share the cores).

uv run python benchmarks/run.py [--rows 100000]   # --rows is passed to bench_import.py

bench_dbt.py (100k and 1M leads) takes about 40 minutes on its own; it is last.
bench_inference.py is a pytest-benchmark file: `uv run --group bench pytest benchmarks/bench_inference.py`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

if __name__ == "__main__":
    api = subprocess.run([sys.executable, str(HERE / "bench_api.py")])
    bulk = subprocess.run([sys.executable, str(HERE / "bench_import.py"), *sys.argv[1:]])
    scoring = subprocess.run([sys.executable, str(HERE / "bench_scoring.py")])
    automations = subprocess.run([sys.executable, str(HERE / "bench_automations.py")])
    orchestrator = subprocess.run([sys.executable, str(HERE / "bench_tasks.py")])
    rescore = subprocess.run([sys.executable, str(HERE / "bench_rescore.py")])
    quality = subprocess.run([sys.executable, str(HERE / "bench_model_quality.py")])
    upload = subprocess.run([sys.executable, str(HERE / "bench_upload.py")])
    dbt = subprocess.run([sys.executable, str(HERE / "bench_dbt.py")])
    codes = (api, bulk, scoring, automations, orchestrator, rescore, quality, upload, dbt)
    sys.exit(next((c.returncode for c in codes if c.returncode), 0))
