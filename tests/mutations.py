"""Break one behaviour at a time in a scratch copy of the repository and run the tests that
should notice (docs/testing.md, "Would a test notice?").

    uv run --locked python tests/mutations.py                  # every mutation below
    uv run --locked python tests/mutations.py gate_margin_ignored dedup_without_source

Each mutation replaces one exact piece of source text (it must occur once) in a copy under a
temporary folder, runs its tests there with this environment's Python, and reports the tests
that failed. A mutation no test notices is a gap. The working tree is never touched. Needs
the same servers as the suite (HK_DATABASE_URL, HK_TEST_REDIS_URL).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).parents[1]
# pytest's short summary ("-ra"): a failed test, or a test or file that errored.
SUMMARY_LINE = re.compile(r"^(?:FAILED|ERROR) (tests/\S+)", re.MULTILINE)
COPY_IGNORE = shutil.ignore_patterns(
    ".venv", ".git", ".hk", "*_cache", ".benchmarks", "__pycache__", "target", "logs"
)


@dataclass(frozen=True)
class Mutation:
    path: str
    original: str
    broken: str
    tests: tuple[str, ...]
    # The same mistake in another version of the code, tried when ``original`` is absent.
    or_else: tuple[tuple[str, str], ...] = ()


MUTATIONS = {
    "dedup_without_source": Mutation(
        "hk_core/records.py",
        'return f"ext:{source}:{lead.external_id}"',
        'return f"ext:{lead.external_id}"',
        ("tests/test_api_leads.py", "tests/test_bulk_import.py"),
    ),
    "secret_not_checked": Mutation(
        "serving/deps.py",
        "if found is None or not matches(token, found[1]):",
        "if found is None:",
        (
            "tests/test_api_leads.py",
            "tests/test_scoring_api.py::test_batch_limits_and_authentication",
        ),
    ),
    "cached_key_never_expires": Mutation(
        "serving/deps.py",
        "if cached and now - cached[3] < state.settings.api_key_cache_seconds:",
        "if cached:",
        ("tests/test_api_leads.py",),
    ),
    "gate_margin_ignored": Mutation(
        "ml/gate.py",
        "if challenger_score < champion_score + margin:",
        "if challenger_score <= champion_score:",
        ("tests/test_gate.py",),
        # After issue 13 the gate compares the better of challenger and baseline.
        or_else=(("if score < champion_score + margin:", "if score <= champion_score:"),),
    ),
    "pii_keys_not_redacted": Mutation(
        "hk_core/logging.py",
        "key: REDACTED if key.lower() in PII_KEYS else _redact(value)",
        "key: _redact(value)",
        ("tests/test_logging_and_migrations.py",),
    ),
    "nested_pii_keys_not_redacted": Mutation(
        "hk_core/logging.py",
        "{k: REDACTED if str(k).lower() in PII_KEYS else _redact(v) for k, v in value.items()}",
        "{k: _redact(v) for k, v in value.items()}",
        ("tests/test_logging_and_migrations.py",),
    ),
    "database_error_is_500": Mutation(
        "serving/app.py",
        "    app.add_exception_handler(psycopg.OperationalError, database_error_handler)"
        "  # type: ignore[arg-type]\n",
        "",
        ("tests/test_outages.py",),
    ),
    "fast_path_database_error_is_500": Mutation(
        "serving/fastpath.py",
        "answer = await state.scorer.answer(served, lead_id)\n        except psycopg.OperationalError",
        "answer = await state.scorer.answer(served, lead_id)\n        except ZeroDivisionError",
        ("tests/test_scoring_api.py::test_postgres_down_scores_are_503_never_500_and_recover",),
    ),
    "intake_fast_path_database_error_is_500": Mutation(
        "serving/intake_fastpath.py",
        "        except psycopg.OperationalError as error:\n            return await send_unavailable(send, error)\n        assert",
        "        except ZeroDivisionError as error:\n            return await send_unavailable(send, error)\n        assert",
        (
            "tests/test_outages.py::test_postgres_unreachable_is_503_with_a_reason_never_500_and_recovers",
        ),
    ),
    "intake_fast_path_ignores_idempotency_key": Mutation(
        "serving/intake_fastpath.py",
        'if name == b"idempotency-key":',
        'if name == b"idempotency-key-ignored":',
        ("tests/test_api_leads.py::test_idempotency_key_replays_the_first_response",),
    ),
    "intake_fast_path_scope_not_checked": Mutation(
        "serving/intake_fastpath.py",
        'if caller is None or "ingest" not in caller.scopes:',
        "if caller is None:",
        ("tests/test_scopes.py", "tests/test_intake_fastpath.py"),
    ),
    "pool_hands_out_dead_connections": Mutation(
        "serving/app.py",
        "            check=AsyncConnectionPool.check_connection,\n",
        "",
        ("tests/test_restart.py",),
    ),
    "rate_limiter_fails_with_redis": Mutation(
        "serving/ratelimit.py",
        "except Exception as error:  # noqa: BLE001 -- any Redis failure: count locally",
        "except ZeroDivisionError as error:",
        ("tests/test_outages.py", "tests/test_api_limits.py"),
    ),
    "rate_limiter_ignores_its_clock": Mutation(
        "serving/ratelimit.py",
        "window, reset = _window(self._clock())",
        "window, reset = _window(time.time())",
        ("tests/test_api_limits.py",),
    ),
    "feature_cache_without_fallback": Mutation(
        "serving/features.py",
        "        except Exception as error:  # noqa: BLE001 -- the cache is an optimisation\n"
        '            FEATURE_CACHE.labels("error")',
        '        except ZeroDivisionError as error:\n            FEATURE_CACHE.labels("error")',
        ("tests/test_scoring_api.py::test_redis_down_scores_come_from_postgres",),
    ),
    "vendor_ignores_retry_after": Mutation(
        "hk_core/enrichment/vendor.py",
        "        if retry_after is not None:\n            return min(retry_after",
        "        if False:\n            return min(retry_after",
        ("tests/test_enrichment.py",),
    ),
    "s3_old_day_deleted_before_the_put": Mutation(
        "hk_core/lake.py",
        "            self.filesystem.pipe_file(final, data)\n",
        "            if self.filesystem.exists(final):\n"
        "                self.filesystem.rm_file(final)\n"
        "            self.filesystem.pipe_file(final, data)\n",
        ("tests/test_lake.py",),
    ),
    # The contact fast path (hk_core/contacts_fast.py) must give the libraries' answers.
    "fast_email_domain_case_kept": Mutation(
        "hk_core/contacts_fast.py",
        "    domain = domain.lower()\n",
        "",
        ("tests/test_pii_fast.py",),
    ),
    "fast_email_special_use_subdomain": Mutation(
        "hk_core/contacts_fast.py",
        'if domain == name or domain.endswith("." + name):',
        "if domain == name:",
        ("tests/test_pii_fast.py",),
    ),
    "fast_email_numeric_tld": Mutation(
        "hk_core/contacts_fast.py",
        r'+[A-Za-z]+")',
        r'+[A-Za-z0-9]+")',
        ("tests/test_pii_fast.py",),
    ),
    "fast_email_long_label": Mutation(
        "hk_core/contacts_fast.py",
        "MAX_LABEL_CHARS = 63",
        "MAX_LABEL_CHARS = 64",
        ("tests/test_pii_fast.py",),
    ),
    "fast_phone_plus_without_one": Mutation(
        "hk_core/contacts_fast.py",
        r'r"(?:\+?1[ .-]?)?"',
        r'r"(?:\+?1?[ .-]?)?"',
        ("tests/test_pii_fast.py",),
    ),
    "fast_phone_premium_rate_dropped": Mutation(
        "hk_core/contacts_fast.py",
        "metadata.premium_rate, ",
        "",
        ("tests/test_pii_fast.py::test_every_area_code_and_exchange_digit_agrees",),
    ),
}


def run(name: str, mutation: Mutation, copy: Path) -> list[str]:
    """The tests that failed with ``mutation`` applied in ``copy`` (restored afterwards)."""
    target = copy / mutation.path
    source = target.read_text()
    pairs = ((mutation.original, mutation.broken), *mutation.or_else)
    found = [(original, broken) for original, broken in pairs if source.count(original) == 1]
    if not found:
        raise SystemExit(f"{name}: the text to break is not in {mutation.path} exactly once")
    target.write_text(source.replace(*found[0]))
    try:
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-rfE", "-p", "no:cacheprovider", "-o", "addopts=",
             *mutation.tests],
            cwd=copy, capture_output=True, text=True,
        )  # fmt: skip
    finally:
        target.write_text(source)
    return SUMMARY_LINE.findall(result.stdout)


def main(names: list[str]) -> int:
    unknown = set(names) - MUTATIONS.keys()
    if unknown:
        raise SystemExit(f"unknown mutations: {sorted(unknown)}; known: {sorted(MUTATIONS)}")
    unnoticed = []
    with tempfile.TemporaryDirectory(prefix="hk-mutations-") as scratch:
        copy = Path(scratch) / "repo"
        shutil.copytree(ROOT, copy, ignore=COPY_IGNORE)
        for name in names or list(MUTATIONS):
            failed = run(name, MUTATIONS[name], copy)
            print(f"{name}: {'caught by ' + ', '.join(failed) if failed else 'NOT NOTICED'}")
            if not failed:
                unnoticed.append(name)
    return 1 if unnoticed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
