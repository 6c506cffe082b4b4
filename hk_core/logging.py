"""Structured logging with PII redaction: raw emails and phones never reach a log line."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO, cast

import structlog

REDACTED = "[redacted]"
PII_KEYS = frozenset({
    "email", "phone", "first_name", "last_name", "owner_name", "email_normalized", "phone_e164",
    "property_street", "notes", "x-api-key", "api_key",
})  # fmt: skip
_EMAIL_RE = re.compile(r"[^\s@<>\"',;:]+@[^\s@<>\"',;:]+\.[A-Za-z]{2,}")
# Seven or more digits, allowing the separators people type inside phone numbers.
_PHONE_RE = re.compile(r"(?<![\w.])\+?\d[\d\s().\-]{5,}\d(?![\w.])")


_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}/\d{2,4}")


def _phone_or_keep(match: re.Match[str]) -> str:
    found = match.group()
    if _DATE_RE.fullmatch(found.strip()) or sum(c.isdigit() for c in found) < 7:
        return found
    return REDACTED


def redact_text(text: str) -> str:
    return _PHONE_RE.sub(_phone_or_keep, _EMAIL_RE.sub(REDACTED, text))


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: REDACTED if str(k).lower() in PII_KEYS else _redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_redact(v) for v in value)
    return value


def redact_pii(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> dict[str, Any]:
    """structlog processor: masks PII-named keys and email/phone-looking text anywhere."""
    return {
        key: REDACTED if key.lower() in PII_KEYS else _redact(value)
        for key, value in event_dict.items()
    }


class _RedactingFilter(logging.Filter):
    """The same redaction for the standard library's loggers (uvicorn, psycopg, …)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            try:
                record.msg = record.getMessage()
            except (TypeError, ValueError):
                record.msg = str(record.msg)
            record.args = None
        if isinstance(record.msg, str):
            record.msg = redact_text(record.msg)
        return True


class _LazyStderr:
    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (test runners swap it)."""

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def configure_logging(level: str = "INFO", *, json: bool = False) -> None:
    renderer: Any = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_pii,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=cast(TextIO, _LazyStderr())),
        cache_logger_on_first_use=True,
    )
    root = logging.getLogger()
    if not any(isinstance(f, _RedactingFilter) for h in root.handlers for f in h.filters):
        handler = _StderrHandler()
        handler.addFilter(_RedactingFilter())
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(level.upper())
    # pgserver narrates every pg_ctl call at INFO; its warnings are what matter.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise
    # The openai client's DEBUG lines quote each request body: an assistant's prompt holds
    # the lead's context, which stays in the task row and out of logs.
    logging.getLogger("openai").setLevel(logging.WARNING)


@contextmanager
def logs_to_file(
    path: Path, names: tuple[str, ...], level: str = "INFO", *, quiet: tuple[str, ...] = ()
) -> Iterator[Path]:
    """Send the named loggers to ``path`` (appended, PII redacted) and not to the terminal, for
    the duration: a command's own output stays readable, the libraries' lines stay findable.
    ``quiet`` loggers go there too, from WARNING only (a pool's every checkout is not news)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.addFilter(_RedactingFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    saved = []
    for name, name_level in [(n, level) for n in names] + [(n, "WARNING") for n in quiet]:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level, logger.propagate))
        logger.addHandler(handler)
        logger.setLevel(name_level.upper())
        logger.propagate = False
    try:
        yield path
    finally:
        for logger, old_level, propagate in saved:
            logger.removeHandler(handler)
            logger.setLevel(old_level)
            logger.propagate = propagate
        handler.close()


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name)
