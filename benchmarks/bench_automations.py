"""The funnel and the automations: stage moves, speed to lead, and the worker's throughput.

    uv run python benchmarks/bench_automations.py [--leads 2000] [--latency-leads 50] [--jobs 2000]

Creates `hk_bench_automations`, starts `hk serve` and the loopback SMS provider
(orchestrator.sinks.SmsSink), then, each against a baseline in the same run:
(a) wrk on POST /v1/leads/{id}/stage (legal moves, see move_stage.lua) against /health/live;
(b) one `hk worker`: a lead POSTed, the time until its text is at the provider, p50/p95;
(c) messages/s through that worker (bulk import → dispatch → outbox → provider) against
    procrastinate's own no-op job (noop_queue_app.py) at the same concurrency.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from bench_api import stop, wait_ready, wrk
from common import HK, REPO, bench_env, drop_database, fresh_database, hk, machine, psql, require

from orchestrator.sinks import SmsSink

HERE = Path(__file__).resolve().parent
TARGET_JOB_RATIO = 0.5
# Its own database, as bench_county_match does: another benchmark may be using hk_bench.
BENCH_DB = "hk_bench_automations"
FROM_NUMBER = "+15125550100"
RULES = """
quiet_hours: {default: "00:00-23:59", states: {TX: "00:00-23:59"}}
caps: {sms_per_day: 3, email_per_day: 3}
rules:
  - id: welcome
    trigger: {type: lead_created}
    steps:
      - {type: send_sms, template: "Hi {{ lead.first_name or 'there' }}, about {{ lead.property_street }}. Reply STOP to opt out."}
"""
CSV_HEADER = (
    "external_id,source,first_name,phone,property_street,property_state,property_zip,"
    "consent_sms,consent_email,received_at\n"
)


def phone(n: int) -> str:
    """Distinct, valid NANP numbers: exchanges 200-999 of area code 512."""
    return f"+1512{200 + n // 10_000}{n % 10_000:04d}"


def bulk_csv(numbers: range, prefix: str, consent_sms: bool) -> bytes:
    now = datetime.now(UTC).isoformat()
    consent = "yes" if consent_sms else "no"
    rows = "".join(
        f"{prefix}-{n},bench,Ana,{phone(n)},{n} Elm St,TX,78702,{consent},no,{now}\n"
        for n in numbers
    )
    return (CSV_HEADER + rows).encode()


def queue_drained(url: str, timeout: float = 600) -> None:
    """Until no automations job is waiting to run now or running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = psql(
            "select count(*) from procrastinate_jobs where queue_name = 'automations' and "
            "status in ('todo', 'doing') and task_name not in ('automations.reap', "
            "'automations.scan') and (scheduled_at is null or scheduled_at <= now())",
            url=url,
        )
        if left == "0":
            return
        time.sleep(0.2)
    sys.exit("the queue never drained")


def wait_texts(sms: SmsSink, count: int, timeout: float = 600) -> float:
    """Until the provider holds ``count`` texts; returns perf_counter() at that moment."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sms.count >= count:  # not len(sms.messages): a copy of them all every poll
            return time.perf_counter()
        time.sleep(0.002)
    sys.exit(f"the provider got {sms.count} of {count} texts")


def noop_jobs_per_second(url: str, args: argparse.Namespace) -> float:
    """procrastinate's own floor (noop_queue_app.py), in its own process, on the same database."""
    output = subprocess.run(
        [sys.executable, str(HERE / "noop_queue_app.py"), url, str(args.jobs),
         str(args.concurrency)],
        cwd=REPO, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return float(output.split()[-1])


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", default="15s", help="wrk -d for (a) (default 15s)")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--leads", type=int, default=2000, help="leads moved in (a)")
    parser.add_argument("--latency-leads", type=int, default=50, help="leads timed in (b)")
    parser.add_argument("--jobs", type=int, default=2000, help="texts and no-op jobs in (c)")
    parser.add_argument("--concurrency", type=int, default=4, help="hk worker --concurrency")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--profile", action="store_true", help="the worker under cProfile")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    require("wrk", "psql")
    print("machine:", machine(), flush=True)

    url = fresh_database(BENCH_DB)
    rules = Path(tempfile.mkstemp(prefix="hk-bench-rules-", suffix=".yaml")[1])
    rules.write_text(RULES)
    logs = Path(tempfile.mkdtemp(prefix="hk-bench-automations-"))
    with SmsSink() as sms:
        env = bench_env(
            HK_DATABASE_URL=url,
            HK_AUTOMATIONS_FILE=str(rules),
            HK_SMS_BASE_URL=sms.base_url,
            HK_SMS_ACCOUNT_SID=sms.account_sid,
            HK_SMS_AUTH_TOKEN=sms.auth_token,
            HK_SMS_FROM_NUMBER=FROM_NUMBER,
            HK_SMS_STATUS_CALLBACKS="false",
            HK_SCORING_ENABLED="false",
        )
        hk("db", "upgrade", env=env)
        api_key = hk("api-keys", "create", "bench", env=env).strip().splitlines()[-1]
        base = f"http://127.0.0.1:{args.port}"
        server = subprocess.Popen(
            [HK, "serve", "--port", str(args.port)], cwd=REPO, env=env,
            stdout=(logs / "serve.log").open("w"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        worker: subprocess.Popen | None = None
        client = httpx.Client(base_url=base, headers={"X-API-Key": api_key}, timeout=300)
        try:
            wait_ready(base, server)
            # (a) stage moves, no worker running: the cost of the move and its deferred job.
            moved = client.post(
                "/v1/leads/bulk",
                content=bulk_csv(range(args.leads), "move", consent_sms=False),
                headers={"Content-Type": "text/csv"},
            )
            moved.raise_for_status()
            first, last = map(int, psql("select min(lead_id) || ' ' || max(lead_id) "
                                        "from app.leads", url=url).split())  # fmt: skip
            _, live = wrk(args, f"{base}/health/live")
            _, moves = wrk(
                args, "-s", str(HERE / "move_stage.lua"), base, "--", api_key, str(first),
                str(last), str(args.threads), secret=api_key,
            )  # fmt: skip
            events = int(
                psql("select count(*) from app.stage_events where actor = 'api-key:bench'", url=url)
            )

            profiler = [sys.executable, "-m", "cProfile", "-o", str(logs / "worker.prof")]
            worker = subprocess.Popen(
                [*(profiler if args.profile else []), HK, "worker", "--concurrency",
                 str(args.concurrency)], cwd=REPO, env=env,
                stdout=(logs / "worker.log").open("w"), stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
            queue_drained(url)  # the stage moves' and the first leads' jobs
            # (b) speed to lead, one lead at a time.
            latencies = []
            offset = args.leads
            for n in range(offset, offset + args.latency_leads):
                texts = sms.count
                began = time.perf_counter()
                client.post(
                    "/v1/leads",
                    json={"external_id": f"fast-{n}", "source": "bench", "first_name": "Ana",
                          "phone": phone(n), "property_street": f"{n} Elm St",
                          "property_state": "TX", "property_zip": "78702", "consent_sms": True,
                          "received_at": datetime.now(UTC).isoformat()},
                ).raise_for_status()  # fmt: skip
                latencies.append((wait_texts(sms, texts + 1) - began) * 1000)
                time.sleep(0.1)
            # (c) throughput: one bulk import, every text through dispatch and the outbox, with
            # the no-op floor just before and just after (a shared box drifts between them).
            queue_drained(url)
            noop_before = noop_jobs_per_second(url, args)
            offset += args.latency_leads
            texts = sms.count
            began = time.perf_counter()
            client.post(
                "/v1/leads/bulk",
                content=bulk_csv(range(offset, offset + args.jobs), "bulk", consent_sms=True),
                headers={"Content-Type": "text/csv"},
            ).raise_for_status()
            imported = time.perf_counter()
            finished = wait_texts(sms, texts + args.jobs)
        finally:
            client.close()
            if worker is not None:
                stop(worker)
            stop(server)
        noop_after = noop_jobs_per_second(url, args)
        duplicates = len(sms.messages) - len({m["to"] for m in sms.messages})
    noop_rate = (noop_before + noop_after) / 2
    sent = int(psql("select count(*) from app.messages where status = 'sent'", url=url))
    problems = [line for name in ("serve.log", "worker.log")
                for line in (logs / name).read_text().splitlines()
                if "ERROR" in line or "Traceback" in line]  # fmt: skip
    if not args.keep_db:
        drop_database(BENCH_DB)
    rules.unlink()

    ratio = moves["rps"] / live["rps"]
    rate = args.jobs / (finished - began)
    for name, run in (("GET  /health/live      ", live), ("POST /v1/leads/{id}/stage", moves)):
        print(f"{name}: {run['rps']:8.1f} req/s  p50 {run['p50_ms']:.2f} ms  "
              f"p99 {run['p99_ms']:.2f} ms  ({run['requests']} requests, "
              f"non-2xx {run['non_2xx']}, socket errors: {run['socket_errors']})")  # fmt: skip
    print(f"statuses                 : {dict(sorted(moves['statuses'].items()))}")
    if moves["first_error"]:
        print(f"first error bodies:\n{moves['first_error']}")
    print(f"stage events stored      : {events} (responses 200: {moves['statuses'].get(200, 0)})")
    print(f"ratio moves/live         : {ratio:.2f}")
    print(f"lead → text at provider  : p50 {percentile(latencies, 0.5):.0f} ms  "
          f"p95 {percentile(latencies, 0.95):.0f} ms  max {max(latencies):.0f} ms  "
          f"({len(latencies)} leads, one worker, concurrency {args.concurrency})")  # fmt: skip
    print(f"worker texts/s           : {rate:.1f}  ({args.jobs} texts; the bulk import "
          f"answered after {imported - began:.2f} s)")  # fmt: skip
    print(f"procrastinate no-op jobs/s: {noop_rate:.1f}  (before {noop_before:.1f}, "
          f"after {noop_after:.1f})")  # fmt: skip
    print(f"ratio texts/no-op        : {rate / noop_rate:.2f}  (goal >= {TARGET_JOB_RATIO})")
    print(f"texts sent (outbox)      : {sent}; duplicates at the provider: {duplicates}")
    print(f"logs                     : {len(problems)} ERROR/Traceback lines (kept in {logs})")
    for line in problems[:10]:
        print("   ", line)
    if args.profile:
        import pstats

        stats = pstats.Stats(str(logs / "worker.prof"))
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(40)
    return 0


if __name__ == "__main__":
    sys.exit(main())
