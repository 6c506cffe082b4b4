"""Property-based testing of the whole OpenAPI schema against the running API (schemathesis).

The CLI is used rather than the pytest plugin, which does not load under pytest 9.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from hk_core.apikeys import create_api_key

SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


HOOK = Path(__file__).with_name("schemathesis_scope_hook.py")


def _run(api_base: str, key: str, tmp_path: Path, checks: str, env: dict[str, str] | None = None):
    return subprocess.run(
        [
            SCHEMATHESIS, "run", f"{api_base}/openapi.json",
            "--header", f"X-API-Key: {key}",
            # No model is loaded here, so they answer 503 by design; test_scoring_api fuzzes
            # them with a champion loaded.
            "--exclude-path-regex", "score",
            "--max-examples", "100",
            "--checks", checks,
            "--seed", "20261125",
            "--suppress-health-check", "all",
            "--report", "junit", "--report-dir", str(tmp_path),
        ],
        capture_output=True, text=True, timeout=1200, cwd=tmp_path,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def test_api_never_errors_and_matches_its_schema(api_base, api_key, tmp_path):
    result = _run(api_base, api_key, tmp_path, CHECKS)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "passed" in result.stdout.lower()


def _allowed_for(schema: dict, scopes: set[str]) -> list[str]:
    """The operations a key with ``scopes`` may use: those of its scopes, and the public ones."""
    allowed = []
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            declared = {s for req in operation.get("security", []) for v in req.values() for s in v}
            if not declared or declared <= scopes:
                allowed.append(f"{method.upper()} {path}")
    return allowed


def test_a_read_only_key_gets_no_2xx_outside_its_scope(api_base, db, tmp_path):
    """The whole API fuzzed with a read-only key: no 5xx, and nothing but its routes succeeds."""
    _, key = create_api_key(db, "read-only fuzz", scopes=("read",))
    schema = httpx.get(f"{api_base}/openapi.json").json()
    allowed = _allowed_for(schema, {"read"})
    assert any(op.startswith("POST /v1/leads") for op in _allowed_for(schema, {"ingest"}))
    assert not any(op.startswith("POST /v1/leads") for op in allowed)
    env = {"SCHEMATHESIS_HOOKS": str(HOOK), "HK_ALLOWED_OPERATIONS": json.dumps(allowed)}
    result = _run(api_base, key, tmp_path, f"{CHECKS},no_2xx_without_scope", env)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "passed" in result.stdout.lower()
