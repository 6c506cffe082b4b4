"""Single-lead intake throughput: wrk on POST /v1/leads against GET /health/live, same server.

    uv run python benchmarks/bench_api.py [--duration 15s] [--connections 8] [--threads 2]

Creates a fresh database `hk_bench`, migrates it, creates an API key, starts `hk serve` (one
uvicorn worker), runs wrk on /health/live and then on POST /v1/leads (a new lead per request,
see post_lead.lua), checks in Postgres that the leads were really stored, and stops the server.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from common import HK, REPO, bench_env, drop_database, fresh_database, hk, machine, psql, require

HERE = Path(__file__).resolve().parent
TARGET_LEADS_PER_SECOND = 1_000
TARGET_RATIO = 0.3
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _find(pattern: str, output: str) -> re.Match[str]:
    match = re.search(pattern, output, re.M)
    if match is None:
        sys.exit(f"unexpected wrk output (no {pattern!r}):\n{output}")
    return match


def parse_wrk(output: str) -> dict:
    """Requests/sec, p50/p99 latency (ms), totals and status counts from `wrk --latency`."""

    def latency(pct: str) -> float:
        value, unit = _find(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s|m)\s*$", output).groups()
        return float(value) * _UNITS[unit]

    found = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: (.*)", output)
    return {
        "rps": float(_find(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
        "requests": int(_find(r"(\d+) requests in", output).group(1)),
        "non_2xx": int(found.group(1)) if found else 0,
        "socket_errors": errors.group(1) if errors else "none",
        "statuses": {int(c): int(n) for c, n in re.findall(r"^status (\d+) (\d+)$", output, re.M)},
        "first_error": "\n".join(re.findall(r"^first_error (.*)$", output, re.M)),
    }


def wrk(args: argparse.Namespace, *extra: str, secret: str = "") -> tuple[str, dict]:
    command = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}",
               "--latency", *extra]  # fmt: skip
    shown = " ".join(command)
    print("$", shown.replace(secret, "<api key>") if secret else shown, flush=True)
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return output, parse_wrk(output)


def wait_ready(
    base: str, server: subprocess.Popen, timeout: float = 60, path: str = "/health/ready"
) -> None:
    """Until ``path`` answers 200; exits (stopping the server) if it dies or never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"{server.args[0]} exited with {server.returncode}")
        try:
            with urllib.request.urlopen(f"{base}{path}", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    stop(server)
    sys.exit(f"{server.args[0]} did not become ready")


def stop(server: subprocess.Popen) -> None:
    """SIGTERM the server's process group (uvicorn shuts down cleanly), SIGKILL if it hangs."""
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", default="15s", help="wrk -d (default 15s)")
    parser.add_argument("--connections", type=int, default=8, help="wrk -c (default 8)")
    parser.add_argument("--threads", type=int, default=2, help="wrk -t (default 2)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--keep-db", action="store_true", help="leave hk_bench for inspection")
    args = parser.parse_args()
    require("wrk", "psql")
    print("machine:", machine(), flush=True)

    fresh_database()
    env = bench_env()
    hk("db", "upgrade", env=env)
    api_key = hk("api-keys", "create", "bench", env=env).strip().splitlines()[-1]
    base = f"http://127.0.0.1:{args.port}"
    log_path = Path(tempfile.mkstemp(prefix="hk-bench-serve-", suffix=".log")[1])
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [HK, "serve", "--port", str(args.port)], cwd=REPO, env=env,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        wait_ready(base, server)
        _, live = wrk(args, f"{base}/health/live")
        run_id = f"r{int(time.time())}"
        _, leads = wrk(
            args, "-s", str(HERE / "post_lead.lua"), base, "--", api_key, run_id, secret=api_key
        )
    finally:
        stop(server)
    stored = int(psql("select count(*) from app.leads where source = 'wrk_bench'"))
    server_log = log_path.read_text()
    if not args.keep_db:
        drop_database()

    created = leads["statuses"].get(201, 0)
    ratio = leads["rps"] / live["rps"]
    for name, run in (("GET  /health/live", live), ("POST /v1/leads   ", leads)):
        print(f"{name} : {run['rps']:9.1f} req/s  p50 {run['p50_ms']:.2f} ms  "
              f"p99 {run['p99_ms']:.2f} ms  ({run['requests']} requests, "
              f"non-2xx {run['non_2xx']}, socket errors: {run['socket_errors']})")  # fmt: skip
    print(f"statuses          : {dict(sorted(leads['statuses'].items()))}")
    print(f"stored leads      : {stored} in app.leads vs {created} responses 201 "
          f"(difference {stored - created}: in flight when wrk stopped)")  # fmt: skip
    print(f"ratio leads/live  : {ratio:.2f}  (target >= {TARGET_RATIO})")
    print(f"leads/s           : {leads['rps']:.0f}  (target >= {TARGET_LEADS_PER_SECOND})")
    if leads["first_error"]:
        print(f"first error bodies:\n{leads['first_error']}")
    problems = [line for line in server_log.splitlines() if re.search(r"ERROR|Traceback", line)]
    print(f"server log        : {len(problems)} ERROR/Traceback lines")
    for line in problems[:10]:
        print("   ", line)
    if problems:
        print(f"whole server log kept in {log_path}")
    else:
        log_path.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
