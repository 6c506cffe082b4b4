"""``hk worker``: procrastinate's worker running the automations' jobs.

Jobs carry ids only; everything they act on is a row they re-read under a lock, so a job that
runs twice (a retry, a reaped job of a killed worker) does its work once. Transient failures
retry with exponential backoff and jitter (at least a provider's Retry-After); a job stops after
``message_max_attempts`` attempts and stays visible as failed. A worker that stops sending
heartbeats (SIGKILL, a lost machine) has its running jobs put back by the reaper, a periodic job
every live worker runs: no operator action.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import procrastinate
import procrastinate.exceptions
import psycopg
from procrastinate import JobContext, RetryDecision
from procrastinate.retry import BaseRetryStrategy
from psycopg_pool import AsyncConnectionPool

from hk_core.db import database_url
from hk_core.settings import Settings
from orchestrator import engine, outbox, scans, tasks
from orchestrator.assistants import Catalog, load_catalog
from orchestrator.channels import EmailSender, SmsSender
from orchestrator.queue import DISPATCH, QUEUE, SEND, STEP
from orchestrator.rules import RulesError, RulesFile, load_rules

log = logging.getLogger(__name__)

# A worker whose heartbeat is older than this is dead; its jobs are retried by the reaper.
STALLED_AFTER_SECONDS = 30.0
HEARTBEAT_SECONDS = 5.0
MAX_BACKOFF_SECONDS = 900.0


class Backoff(BaseRetryStrategy):
    """Exponential backoff with full jitter, never sooner than a provider's Retry-After."""

    def __init__(self, max_attempts: int, base_seconds: float):
        self.max_attempts = max_attempts
        self.base_seconds = base_seconds

    def get_retry_decision(self, *, exception: BaseException, job: Any) -> RetryDecision | None:
        if job.attempts + 1 >= self.max_attempts:
            return None
        ceiling = min(MAX_BACKOFF_SECONDS, self.base_seconds * 2**job.attempts)
        wait = random.uniform(ceiling / 2, ceiling)
        retry_after = getattr(exception, "retry_after", None)
        if retry_after:
            wait = max(wait, float(retry_after))
        return RetryDecision(retry_at=datetime.now(UTC) + timedelta(seconds=wait))


@dataclass
class Runtime:
    """What every job of one worker process shares."""

    settings: Settings
    rules: RulesFile
    pool: AsyncConnectionPool
    channels: outbox.Channels
    orchestrator: tasks.Orchestrator


def channels_from(settings: Settings) -> outbox.Channels:
    sms = None
    if settings.sms_account_sid and settings.sms_auth_token and settings.sms_from_number:
        callback = (
            f"{settings.public_base_url.rstrip('/')}/v1/webhooks/sms/status"
            if settings.sms_status_callbacks
            else None
        )
        sms = SmsSender(
            settings.sms_base_url,
            settings.sms_account_sid,
            settings.sms_auth_token.get_secret_value(),
            settings.sms_from_number,
            status_callback_url=callback,
        )
    email = None
    if settings.smtp_url:
        email = EmailSender(settings.smtp_url.get_secret_value(), from_address=settings.email_from)
    return outbox.Channels(
        sms=sms,
        email=email,
        public_base_url=settings.public_base_url,
        unsubscribe_key=settings.pii_key.get_secret_value().encode(),
    )


def check_rules_against(rules: RulesFile, catalog: Catalog) -> None:
    """Every create_task step names a kind (and assignee) the assistants file knows."""
    problems = []
    for rule in rules.rules:
        for index, step in enumerate(rule.steps):
            if step.type != "create_task":
                continue
            if step.task_kind not in catalog.kinds:
                problems.append(
                    f"rule {rule.id} step {index}: unknown task_kind {step.task_kind!r}"
                )
            assistant = catalog.assistant(step.assignee) if step.assignee else None
            if step.assignee and assistant is None:
                problems.append(f"rule {rule.id} step {index}: unknown assignee {step.assignee!r}")
            elif assistant and not assistant.human and step.task_kind not in assistant.kinds:
                problems.append(
                    f"rule {rule.id} step {index}: {assistant.id} does not take {step.task_kind}"
                )
    if problems:
        raise RulesError("the rules name tasks the assistants file does not know:\n  "
                         + "\n  ".join(problems))  # fmt: skip


def build_app(
    settings: Settings, rules: RulesFile | None = None, catalog: Catalog | None = None
) -> tuple[procrastinate.App, Runtime]:
    url = database_url(settings)
    rules = rules or load_rules(settings.automations_file)
    catalog = catalog or load_catalog(settings.assistants_file)
    check_rules_against(rules, catalog)
    runtime = Runtime(
        settings=settings,
        rules=rules,
        pool=AsyncConnectionPool(
            url, min_size=1, max_size=settings.worker_concurrency + 2, open=False
        ),
        channels=channels_from(settings),
        orchestrator=tasks.orchestrator_for(settings, catalog),
    )
    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(conninfo=url, min_size=1, max_size=4),
        worker_defaults={
            "update_heartbeat_interval": HEARTBEAT_SECONDS,
            "stalled_worker_timeout": STALLED_AFTER_SECONDS,
        },
    )
    backoff = Backoff(settings.message_max_attempts, settings.message_retry_base_seconds)

    @app.task(name=DISPATCH, queue=QUEUE, retry=backoff)
    async def dispatch() -> None:
        async with runtime.pool.connection() as conn:
            outcome = await engine.dispatch(conn, runtime.rules)
        if outcome.events:
            log.info(
                "dispatched %d events: %d runs, %d messages",
                outcome.events,
                outcome.runs,
                outcome.messages,
            )

    @app.task(name=STEP, queue=QUEUE, retry=backoff)
    async def step(run_id: int, step: int) -> None:
        async with runtime.pool.connection() as conn:
            await engine.run_step(conn, runtime.rules, run_id, step)

    @app.task(name=SEND, queue=QUEUE, retry=backoff, pass_context=True)
    async def send(context: JobContext, message_id: int) -> None:
        assert context.job is not None
        async with runtime.pool.connection() as conn:
            status = await outbox.send_message(
                conn,
                message_id,
                runtime.rules,
                runtime.channels,
                attempt=context.job.attempts,
                max_attempts=settings.message_max_attempts,
            )
        log.info("message %s: %s", message_id, status)

    @app.periodic(cron="* * * * * */10", periodic_id="reap")
    @app.task(name="automations.reap", queue=QUEUE, queueing_lock="automations.reap")
    async def reap(timestamp: int) -> None:
        """Put back the jobs of workers that stopped sending heartbeats."""
        stalled = await app.job_manager.get_stalled_jobs(
            seconds_since_heartbeat=STALLED_AFTER_SECONDS
        )
        for job in stalled:
            log.warning("job %s (%s) of a dead worker is retried", job.id, job.task_name)
            await app.job_manager.retry_job(job)
        await app.job_manager.prune_stalled_workers(STALLED_AFTER_SECONDS * 2)

    @app.periodic(cron="*/5 * * * *", periodic_id="scan")
    @app.task(name="automations.scan", queue=QUEUE, queueing_lock="automations.scan")
    async def scan(timestamp: int) -> None:
        """No-contact events, and a sweep for events no dispatch job took."""
        async with runtime.pool.connection() as conn:
            written = await scans.no_contact_events(conn, runtime.rules)
            outcome = await engine.dispatch(conn, runtime.rules)
        if written or outcome.events:
            log.info("scan: %d no-contact events, %d dispatched", written, outcome.events)

    @app.task(name=tasks.RUN, queue=QUEUE, retry=backoff, pass_context=True)
    async def run_task(context: JobContext, task_id: int) -> None:
        assert context.job is not None and context.job.id is not None
        outcome = await runtime.orchestrator.run(runtime.pool, task_id, context.job.id)
        log.info("task %s: %s", task_id, outcome)

    @app.task(name=tasks.EXPIRE, queue=QUEUE, retry=backoff)
    async def expire_task(task_id: int) -> None:
        async with runtime.pool.connection() as conn, conn.transaction():
            if await runtime.orchestrator.expire(conn, task_id, actor="worker"):
                log.info("task %s: approval expired; escalated", task_id)

    @app.task(name=tasks.EXECUTE, queue=QUEUE, retry=backoff)
    async def execute_task(task_id: int) -> None:
        async with runtime.pool.connection() as conn, conn.transaction():
            outcome = await runtime.orchestrator.execute(conn, task_id, actor="worker")
        log.info("task %s executed: %s", task_id, outcome)

    @app.periodic(cron="* * * * *", periodic_id="tasks.sweep")
    @app.task(name="tasks.sweep", queue=QUEUE, queueing_lock="tasks.sweep")
    async def sweep_tasks(timestamp: int) -> None:
        """Approvals past their deadline whose expiry job was lost (a restored backup, say),
        and running tasks whose job will never come back."""
        orchestrator = runtime.orchestrator
        async with runtime.pool.connection() as conn:
            async with conn.transaction():
                overdue = await orchestrator.overdue(conn)
                stranded = await orchestrator.stranded(conn)
            for task_id in overdue:
                async with conn.transaction():
                    await orchestrator.expire(conn, task_id, actor="worker:sweep")
            for task_id in stranded:
                async with conn.transaction():
                    state = await orchestrator.recover(conn, task_id, actor="worker:sweep")
                log.warning("task %s: its job was lost; %s", task_id, state)

    del dispatch, step, send, reap, scan, run_task, expire_task, execute_task, sweep_tasks
    return app, runtime


async def run_worker(
    settings: Settings,
    *,
    concurrency: int | None = None,
    rules: RulesFile | None = None,
    catalog: Catalog | None = None,
    wait: bool = True,
    install_signal_handlers: bool = True,
) -> None:
    """Run until SIGINT/SIGTERM (or, with ``wait=False``, until the queue is empty).

    procrastinate's worker stops when it loses its database (its listener fails); this loop
    starts it again once Postgres answers, with a growing pause, so a restarted database never
    needs a restarted worker. Jobs the lost worker was running are put back by the reaper.
    """
    app, runtime = build_app(settings, rules, catalog)
    stop = asyncio.Event()
    if install_signal_handlers:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
    pause = 0.5
    try:
        while not stop.is_set():
            try:
                finished = await _run_once(app, runtime, stop, concurrency, wait)
                pause = 0.5
                if finished or not wait:
                    return
                log.warning("the worker stopped (lost its database?); starting it again")
            except (procrastinate.exceptions.ConnectorException, psycopg.Error, OSError) as error:
                log.warning("worker: the database is unreachable (%s); retrying in %.0f s",
                            type(error).__name__, pause)  # fmt: skip
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), pause)
            pause = min(pause * 2, 10.0)
    finally:
        await runtime.orchestrator.aclose()
        await runtime.pool.close()
        if runtime.channels.sms is not None:
            runtime.channels.sms.close()


async def _run_once(
    app: procrastinate.App,
    runtime: Runtime,
    stop: asyncio.Event,
    concurrency: int | None,
    wait: bool,
) -> bool:
    """One life of procrastinate's worker; True when it ended because it was asked to."""
    await runtime.pool.open(wait=True, timeout=10)
    async with runtime.pool.connection() as conn:
        await scans.sync_thresholds(conn, runtime.rules)
    async with app.open_async():
        work = asyncio.create_task(
            app.run_worker_async(
                queues=[QUEUE],
                concurrency=concurrency or runtime.settings.worker_concurrency,
                wait=wait,
                install_signal_handlers=False,
                delete_jobs="successful",
                fetch_job_polling_interval=1.0,
            )
        )
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({work, stopping}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:  # run_worker itself was cancelled: stop as on SIGTERM
            stopping.cancel()
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await work
            raise
        if work.done():
            stopping.cancel()
            work.result()  # raises what stopped it
            return stop.is_set()
        work.cancel()  # procrastinate stops gracefully: running jobs finish
        with contextlib.suppress(asyncio.CancelledError):
            await work
        return True


# The automation jobs that are due now or running; later ones (a quiet-hours deferral, a wait
# step, a retry's backoff) are a long-running worker's business.
_WORK_LEFT_SQL = """
select count(*) filter (where status = 'doing'),
    count(*) filter (where status = 'todo' and coalesce(scheduled_at <= now(), true))
from procrastinate_jobs
where queue_name = %s and task_name = any(%s) and status in ('todo', 'doing')
"""


async def run_until_idle(
    settings: Settings,
    *,
    rules: RulesFile | None = None,
    catalog: Catalog | None = None,
    concurrency: int | None = None,
    poll_seconds: float = 0.5,
    on_poll: Callable[[int, int], None] | None = None,
) -> None:
    """Run a worker until no dispatch, step or send job is due or running, then stop it.

    procrastinate's ``wait=False`` stops at its first empty fetch, which comes while a dispatch
    job is still running and before it has deferred the sends it causes; this waits for those
    too. A job defers the jobs it causes in its own transaction, before it is marked done, so
    "none due and none running" cannot be seen half-way. ``on_poll(running, due)`` is called on
    every check (a progress display). Cancelling this stops the worker as SIGTERM does: the
    jobs in hand finish, the rest stay queued.
    """
    worker = asyncio.create_task(
        run_worker(
            settings,
            concurrency=concurrency,
            rules=rules,
            catalog=catalog,
            install_signal_handlers=False,
        )  # fmt: skip
    )
    names = [DISPATCH, STEP, SEND, tasks.RUN, tasks.EXECUTE, tasks.EXPIRE]
    try:
        async with await psycopg.AsyncConnection.connect(
            database_url(settings), autocommit=True
        ) as conn:
            while True:
                await asyncio.wait({worker}, timeout=poll_seconds)
                if worker.done():
                    worker.result()  # the worker's own error, if it stopped by itself
                    return
                cur = await conn.execute(_WORK_LEFT_SQL, (QUEUE, names))
                row = await cur.fetchone()
                running, due = row if row else (0, 0)
                if on_poll is not None:
                    on_poll(running, due)
                if running == 0 and due == 0:
                    return
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
