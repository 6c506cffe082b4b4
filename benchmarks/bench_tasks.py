"""The orchestrator: research tasks/s through the offline adapter, and enqueue → start latency.

    uv run python benchmarks/bench_tasks.py [--tasks 2000] [--latency-tasks 200] [--rate 10]

Creates `hk_bench_tasks` and starts two `hk worker` processes (the shipped assistants file:
every assistant offline), then, against a baseline in the same run:
(a) throughput: ``--tasks`` research tasks created in one transaction (one lead each), the time
    from its commit until every task is done, against procrastinate's no-op job
    (noop_queue_app.py) drained by two worker processes at the same concurrency, before and
    after;
(b) latency: tasks created one at a time at ``--rate`` a second; a task's created_at (its
    transaction's start) to its first queued → running transition in the audit, p50/p95;
(c) where the time goes: the statements one task costs (creation, one attempt), counted in
    this process on the same code, and the database's commits per task during (a).
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import psycopg
from bench_api import stop
from bench_automations import percentile
from common import HK, REPO, bench_env, drop_database, fresh_database, hk, machine, psql

HERE = Path(__file__).resolve().parent
BENCH_DB = "hk_bench_tasks"
RULES = """
quiet_hours: {default: "00:00-23:59", states: {TX: "00:00-23:59"}}
caps: {sms_per_day: 3, email_per_day: 3}
rules: []
"""
LEADS_SQL = """
insert into app.leads (dedup_key, source, received_at, first_name, phone, phone_e164, phone_hash,
    property_street, property_state, property_zip, asking_price, mortgage_balance, motivation,
    timeline, consent_sms, intake_channel)
select 'ext:bench:' || n, 'bench', now(), 'Ana', '+1512' || (2000000 + n), '+1512' || (2000000 + n),
    'bh' || n, n || ' Elm St', 'TX', '78702', 250000, 100000, 'inherited', 'asap', true, 'webhook'
from generate_series(1, {count}) as n
"""
NOOP_DEFER_SQL = """
select procrastinate_defer_jobs_v1(array_agg(
    row('bench_noop', 'bench.noop', 0, null, null, jsonb_build_object('n', n), null)
        ::procrastinate_job_to_defer_v1))
from generate_series(1, %s) as n
"""


def orchestrator_here(url: str):
    """The orchestrator the workers run (same settings, so the same audit key)."""
    import os

    from hk_core.settings import get_settings
    from orchestrator.tasks import orchestrator_for

    os.environ["HK_DATABASE_URL"] = url
    get_settings.cache_clear()
    return orchestrator_for(get_settings())


async def create_tasks(url: str, lead_ids: list[int], *, one_transaction: bool) -> float:
    """Research tasks for ``lead_ids``; returns perf_counter() at the (last) commit."""
    orchestrator = orchestrator_here(url)
    async with await psycopg.AsyncConnection.connect(url) as conn:
        if one_transaction:
            async with conn.transaction():
                for lead_id in lead_ids:
                    await orchestrator.create(
                        conn, kind="research", created_by="bench", lead_id=lead_id
                    )
        else:
            for lead_id in lead_ids:
                async with conn.transaction():
                    await orchestrator.create(
                        conn, kind="research", created_by="bench", lead_id=lead_id
                    )
    return time.perf_counter()


async def steady_arrivals(url: str, lead_ids: list[int], rate: float) -> None:
    orchestrator = orchestrator_here(url)
    async with await psycopg.AsyncConnection.connect(url) as conn:
        began = time.perf_counter()
        for n, lead_id in enumerate(lead_ids):
            wait = began + n / rate - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            async with conn.transaction():
                await orchestrator.create(
                    conn, kind="research", created_by="bench", lead_id=lead_id
                )


def wait_done(url: str, count: int, timeout: float = 900) -> tuple[float, int]:
    """Until ``count`` research tasks are done: (perf_counter() then, the polls it took)."""
    deadline = time.monotonic() + timeout
    polls = 0
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            polls += 1
            row = conn.execute(
                "select count(*) filter (where state = 'done'), "
                "count(*) filter (where state in ('escalated', 'cancelled')) from app.tasks"
            ).fetchone()
            assert row is not None
            if row[1]:
                sys.exit(f"{row[1]} tasks escalated or cancelled: see the workers' logs")
            if row[0] >= count:
                return time.perf_counter(), polls
            time.sleep(0.005)
    sys.exit(f"the tasks were not done within {timeout} s")


def commits(url: str) -> int:
    return int(psql("select xact_commit from pg_stat_database where datname = current_database()",
                    url=url))  # fmt: skip


def noop_jobs_per_second(url: str, jobs: int, concurrency: int) -> float:
    """``jobs`` no-op jobs deferred first, then drained by two noop_queue_app processes; timed
    from the first job gone to the last, so neither start-up counts (as the workers' does not
    in (a))."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(NOOP_DEFER_SQL, (jobs,))
        left_sql = "select count(*) from procrastinate_jobs where queue_name = 'bench_noop'"
        workers = [
            subprocess.Popen([sys.executable, str(HERE / "noop_queue_app.py"), url, "0",
                              str(concurrency)], cwd=REPO, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
            for _ in range(2)
        ]  # fmt: skip
        first = None
        while True:
            left = conn.execute(left_sql).fetchone()[0]  # type: ignore[index]
            now = time.perf_counter()
            if first is None and left < jobs:
                first = now
            if left == 0:
                break
            time.sleep(0.002)
        for worker in workers:
            worker.wait(60)
    assert first is not None
    return (jobs - 1) / (now - first)


def statements_per_task(url: str, lead_id: int) -> Counter:
    """The statements of one task's creation and of its one attempt, on this process's code."""
    from psycopg_pool import AsyncConnectionPool

    counted: Counter = Counter()
    original = psycopg.AsyncCursor.execute

    async def counting(self, query, params=None, **kwargs):  # type: ignore[no-untyped-def]
        counted[phase] += 1
        return await original(self, query, params, **kwargs)

    async def measure() -> None:
        nonlocal phase
        orchestrator = orchestrator_here(url)
        async with AsyncConnectionPool(url, min_size=1, max_size=2, open=False) as pool:
            async with pool.connection() as conn, conn.transaction():
                phase = "create (with its job's deferral)"
                task_id, _ = await orchestrator.create(
                    conn, kind="research", created_by="bench", lead_id=lead_id
                )
            phase = "one attempt (claim, context, call, outcome, done)"
            outcome = await orchestrator.run(pool, task_id, job_id=-1)
            assert outcome == "done", outcome

    phase = ""
    psycopg.AsyncCursor.execute = counting  # type: ignore[method-assign]
    try:
        asyncio.run(measure())
    finally:
        psycopg.AsyncCursor.execute = original  # type: ignore[method-assign]
    return counted


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=2000, help="research tasks in (a)")
    parser.add_argument("--latency-tasks", type=int, default=200, help="tasks timed in (b)")
    parser.add_argument("--rate", type=float, default=10.0, help="tasks per second in (b)")
    parser.add_argument("--concurrency", type=int, default=4, help="per worker")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    print("machine:", machine(), flush=True)

    url = fresh_database(BENCH_DB)
    rules = Path(tempfile.mkstemp(prefix="hk-bench-rules-", suffix=".yaml")[1])
    rules.write_text(RULES)
    logs = Path(tempfile.mkdtemp(prefix="hk-bench-tasks-"))
    env = bench_env(HK_DATABASE_URL=url, HK_AUTOMATIONS_FILE=str(rules),
                    HK_SCORING_ENABLED="false")  # fmt: skip
    hk("db", "upgrade", env=env)
    total = args.tasks + args.latency_tasks + 1
    psql(LEADS_SQL.format(count=total), url=url)
    leads = [int(x) for x in psql("select lead_id from app.leads order by lead_id",
                                  url=url).split()]  # fmt: skip
    statements = statements_per_task(url, leads[-1])

    workers = [
        subprocess.Popen(
            [HK, "worker", "--concurrency", str(args.concurrency)], cwd=REPO, env=env,
            stdout=(logs / f"worker-{n}.log").open("w"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        for n in range(2)
    ]  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while psql("select count(*) from procrastinate_workers", url=url) != "2":
            if time.monotonic() > deadline:
                sys.exit("the workers never registered")
            time.sleep(0.1)
        noop_before = noop_jobs_per_second(url, args.tasks, args.concurrency)
        # (a) a burst: every task in one transaction, then the workers drain it.
        burst = leads[: args.tasks]
        time.sleep(1.5)  # backends report their commits to pg_stat_database about once a second
        commits_before = commits(url)
        created = asyncio.run(create_tasks(url, burst, one_transaction=True))
        finished, polls = wait_done(url, len(burst))
        time.sleep(1.5)
        # Less this script's own: its polls, the creating transaction and one psql each.
        commits_during = commits(url) - commits_before - polls - 3
        noop_after = noop_jobs_per_second(url, args.tasks, args.concurrency)
        # (b) a steady trickle, one task per transaction.
        trickle = leads[args.tasks : args.tasks + args.latency_tasks]
        asyncio.run(steady_arrivals(url, trickle, args.rate))
        wait_done(url, len(burst) + len(trickle) + 1)
    finally:
        for worker in workers:
            stop(worker)
    waits = [float(x) for x in psql(
        "select extract(epoch from a.occurred_at - t.created_at) * 1000 from app.tasks as t "
        "join lateral (select occurred_at from app.task_audit as a where a.task_id = t.task_id "
        "and a.to_state = 'running' order by audit_id limit 1) as a on true "
        f"where t.lead_id = any(array[{','.join(map(str, trickle))}])", url=url).split()]  # fmt: skip
    attempts = psql("select sum(attempts) || ' ' || count(*) from app.tasks", url=url)
    problems = [line for n in range(2) for line in (logs / f"worker-{n}.log").read_text()
                .splitlines() if "ERROR" in line or "Traceback" in line]  # fmt: skip
    if not args.keep_db:
        drop_database(BENCH_DB)
    rules.unlink()

    rate = len(burst) / (finished - created)
    noop = (noop_before + noop_after) / 2
    print(f"tasks/s (2 workers x {args.concurrency}) : {rate:.1f}  ({len(burst)} research tasks "
          f"in one transaction, done {finished - created:.2f} s after its commit)")  # fmt: skip
    print(f"no-op jobs/s (2 workers x {args.concurrency}): {noop:.1f}  (before {noop_before:.1f}, "
          f"after {noop_after:.1f})")  # fmt: skip
    print(f"ratio tasks/no-op            : {rate / noop:.3f}")
    print(f"enqueue -> start             : p50 {percentile(waits, 0.5):.0f} ms  "
          f"p95 {percentile(waits, 0.95):.0f} ms  max {max(waits):.0f} ms  ({len(waits)} tasks "
          f"at {args.rate:g}/s)")  # fmt: skip
    print(f"commits per task during (a)  : {commits_during / len(burst):.1f}")
    for phase, count in statements.items():
        print(f"statements, {phase}: {count}")
    print(f"attempts / tasks             : {attempts}")
    print(f"logs                         : {len(problems)} ERROR/Traceback lines (kept in {logs})")
    for line in problems[:10]:
        print("   ", line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
