"""A schemathesis check, loaded through SCHEMATHESIS_HOOKS by tests/test_schemathesis.py: a key
without a route's scope never gets a 2xx from it.

``HK_ALLOWED_OPERATIONS`` is a JSON list of "METHOD /path" operations the run's key may use (its
scopes' routes and the public ones); every other operation must answer outside 2xx.
"""

from __future__ import annotations

import json
import os

import schemathesis

ALLOWED = frozenset(json.loads(os.environ.get("HK_ALLOWED_OPERATIONS", "[]")))


@schemathesis.check
def no_2xx_without_scope(ctx, response, case) -> None:
    operation = f"{case.operation.method.upper()} {case.operation.path}"
    if operation not in ALLOWED and 200 <= response.status_code < 300:
        raise AssertionError(
            f"{operation} answered {response.status_code} to a key without its scope"
        )
