"""The operations side on real parts: the SMS and SMTP sinks, the API, `hk worker` processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from helpers import wait_for

from hk_core.settings import get_settings
from orchestrator.sinks import SmsSink, SmtpSink

HK = str(Path(sys.executable).with_name("hk"))
FROM_NUMBER = "+15125550100"
# Sending all day long (the quiet-hours rules are tested on a controlled clock elsewhere): a
# test that happens to run at 23:59 local is deferred one minute, not broken.
ALWAYS_OPEN_RULES = """
quiet_hours: {default: "00:00-23:59", states: {FL: "00:00-23:59", OK: "00:00-23:59", MD: "00:00-23:59"}}
caps: {sms_per_day: 3, email_per_day: 3}
rules:
  - id: welcome
    trigger: {type: lead_created}
    conditions: [{field: lead.age_hours, lte: 72}]
    steps:
      - {type: send_sms, template: "Hi {{ lead.first_name or 'there' }}, {{ company }} here about {{ lead.property_street }}. Reply STOP to opt out."}
      - {type: send_email, subject: "Your offer for {{ lead.property_street }}", template: "Hi {{ lead.first_name or 'there' }}, thanks."}
      - {type: wait, duration: 3s}
      - {type: send_sms, template: "Still thinking about selling {{ lead.property_street }}? Reply STOP to opt out."}
  - id: on_reply
    trigger: {type: reply}
    steps:
      - {type: create_task, task_kind: follow_up, assignee: steve}
"""


class Worker:
    """One `hk worker` process with its log in a file."""

    def __init__(self, env: dict[str, str], log: Path, concurrency: int = 4):
        self.env, self.log, self.concurrency = env, log, concurrency
        self.process: subprocess.Popen | None = None

    def start(self) -> Worker:
        handle = self.log.open("ab")
        self.process = subprocess.Popen(
            [HK, "worker", "--concurrency", str(self.concurrency)],
            env=self.env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        return self

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(30)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def sinks() -> Iterator[tuple[SmsSink, SmtpSink]]:
    with SmsSink() as sms, SmtpSink() as smtp:
        yield sms, smtp


@pytest.fixture
def rules_file(tmp_path: Path) -> Path:
    path = tmp_path / "automations.yaml"
    path.write_text(ALWAYS_OPEN_RULES)
    return path


def ops_env(
    database_url: str, sms: SmsSink, smtp: SmtpSink, rules: Path, public: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HK_")}
    env.update({
        "HK_DATABASE_URL": database_url,
        "HK_HOME": os.environ.get("HK_HOME", ""),
        "HK_AUTOMATIONS_FILE": str(rules),
        "HK_SMS_BASE_URL": sms.base_url,
        "HK_SMS_ACCOUNT_SID": sms.account_sid,
        "HK_SMS_AUTH_TOKEN": sms.auth_token,
        "HK_SMS_FROM_NUMBER": FROM_NUMBER,
        "HK_SMTP_URL": smtp.url,
        "HK_PUBLIC_BASE_URL": public,
        "HK_SCORING_ENABLED": "false",
        "HK_MESSAGE_RETRY_BASE_SECONDS": "0.2",
        "HK_LOG_LEVEL": "INFO",
    })  # fmt: skip
    return env


@pytest.fixture
def ops(database_url, db, sinks, rules_file, tmp_path):
    """(env, settings, sms sink, smtp sink, workers): the API is started by the test."""
    sms, smtp = sinks
    env = ops_env(database_url, sms, smtp, rules_file, "http://127.0.0.1:1")
    workers: list[Worker] = []

    def worker(concurrency: int = 4, public: str | None = None) -> Worker:
        local = dict(env)
        if public:
            local["HK_PUBLIC_BASE_URL"] = public
        started = Worker(local, tmp_path / f"worker-{len(workers)}.log", concurrency).start()
        workers.append(started)
        return started

    yield env, sms, smtp, worker
    for started in workers:
        started.stop()


def settings_from(env: dict[str, str]):
    """The Settings an API started with ``env`` would have."""
    saved = dict(os.environ)
    try:
        os.environ.update(env)
        get_settings.cache_clear()
        return get_settings()
    finally:
        os.environ.clear()
        os.environ.update(saved)
        get_settings.cache_clear()


def messages(db: psycopg.Connection, lead_id: int | None = None) -> list[tuple]:
    sql = "select lead_id, channel, rule_id, step, status, status_reason from app.messages"
    if lead_id is None:
        return db.execute(sql + " order by message_id").fetchall()
    return db.execute(sql + " where lead_id = %s order by message_id", (lead_id,)).fetchall()


def settled(db: psycopg.Connection, expected: int, seconds: float = 90) -> bool:
    """True once ``expected`` messages exist and none is waiting to be sent."""

    def done() -> bool:
        row = db.execute(
            "select count(*), count(*) filter (where status in ('queued', 'sending')) from app.messages"
        ).fetchone()
        return row is not None and row[0] >= expected and row[1] == 0

    return wait_for(done, seconds)
