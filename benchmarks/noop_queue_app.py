"""procrastinate's own floor: a no-op task, deferred in bulk, drained by its worker.

    python benchmarks/noop_queue_app.py <database url> <jobs> <concurrency>

Prints ``noop_jobs_per_second <n>``. Same Postgres, schema and worker options as `hk worker`
(polling interval, successful jobs deleted); only the task does nothing.
"""

from __future__ import annotations

import asyncio
import sys
import time

import procrastinate

QUEUE = "bench_noop"


async def main(url: str, jobs: int, concurrency: int) -> None:
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=url))

    @app.task(name="bench.noop", queue=QUEUE)
    async def noop(n: int) -> None:
        return None

    async with app.open_async():
        for start in range(0, jobs, 1000):
            await noop.batch_defer_async(*({"n": n} for n in range(start, min(start + 1000, jobs))))
        began = time.perf_counter()
        await app.run_worker_async(
            queues=[QUEUE],
            concurrency=concurrency,
            wait=False,
            install_signal_handlers=False,
            delete_jobs="successful",
            fetch_job_polling_interval=2.0,
        )
        elapsed = time.perf_counter() - began
    print(f"noop_jobs_per_second {jobs / elapsed:.1f}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
