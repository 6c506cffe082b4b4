"""`make bench`: the benchmarks, one after the other (never at once: they share the cores).

uv run python benchmarks/run.py [--rows 100000]   # --rows is passed to bench_import.py

bench_dbt.py (100k and 1M leads) takes about 40 minutes on its own; it is last.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

if __name__ == "__main__":
    api = subprocess.run([sys.executable, str(HERE / "bench_api.py")])
    bulk = subprocess.run([sys.executable, str(HERE / "bench_import.py"), *sys.argv[1:]])
    dbt = subprocess.run([sys.executable, str(HERE / "bench_dbt.py")])
    sys.exit(api.returncode or bulk.returncode or dbt.returncode)
