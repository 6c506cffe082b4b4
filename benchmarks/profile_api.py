"""Where POST /v1/leads spends the server's time: uvicorn in-process under cProfile, wrk on it.

    uv run python benchmarks/profile_api.py [--duration 15s] [--connections 8] [--top 40]

Like bench_api.py: a fresh database `hk_bench`, migrated, one API key, one uvicorn server (in
this process, so cProfile sees the event loop), wrk with post_lead.lua, then the top entries by
own time and by cumulative time. cProfile slows Python code several-fold, so read shares, not
rates; time in C (the socket, libpq) is understated relative to it.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import subprocess
import threading
import time
from pathlib import Path

from common import bench_env, drop_database, fresh_database, hk, require

HERE = Path(__file__).resolve().parent


class _NoProfile:
    def enable(self) -> None:
        pass

    def disable(self) -> None:
        pass


def _cpu() -> dict[str, float]:
    """CPU seconds (user + system) so far of this process and of the bench db's backends."""
    tick = os.sysconf("SC_CLK_TCK")
    used = {"server": 0.0, "backends": 0.0}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        seconds = (int(fields[11]) + int(fields[12])) / tick
        if int(proc.name) == os.getpid():
            used["server"] += seconds
        elif cmdline.startswith(b"postgres: ") and b" hk_bench " in cmdline:
            used["backends"] += seconds
    return used


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", default="15s")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--save", help="write the raw pstats here")
    parser.add_argument(
        "--cpu", action="store_true",
        help="no profiler: CPU seconds per request of this server and of hk_bench's backends",
    )  # fmt: skip
    args = parser.parse_args()
    require("wrk", "psql")
    fresh_database()
    env = bench_env()
    hk("db", "upgrade", env=env)
    api_key = hk("api-keys", "create", "bench", env=env).strip().splitlines()[-1]
    os.environ.update(env)

    import uvicorn

    config = uvicorn.Config(
        "serving.app:create_app", factory=True, port=args.port, log_level="warning",
        access_log=False,
    )  # fmt: skip
    server = uvicorn.Server(config)
    profile = _NoProfile() if args.cpu else cProfile.Profile()
    base = f"http://127.0.0.1:{args.port}"

    def load() -> None:
        while not server.started:
            time.sleep(0.1)
        # Warm up (key cache, pool) before profiling.
        subprocess.run(["wrk", "-t1", "-c4", "-d2s", "-s", str(HERE / "post_lead.lua"), base,
                        "--", api_key, f"w{int(time.time())}"], check=True, capture_output=True)  # fmt: skip
        before = _cpu()
        profile.enable()
        out = subprocess.run(
            ["wrk", "-t2", f"-c{args.connections}", f"-d{args.duration}", "-s",
             str(HERE / "post_lead.lua"), base, "--", api_key, f"p{int(time.time())}"],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        profile.disable()
        after = _cpu()
        print(out)
        requests = int(out.split(" requests in ")[0].split()[-1])
        for name in ("server", "backends"):
            used = after[name] - before[name]
            print(f"{name:9s}: {used / requests * 1e6:6.0f} us CPU per request")
        server.should_exit = True

    # cProfile hooks the thread that enables it: the load thread asks, the loop thread does it.
    thread = threading.Thread(target=load)
    original_enable = profile.enable
    original_disable = profile.disable
    loop_calls: list = []

    def enable() -> None:
        loop_calls.append(original_enable)

    def disable() -> None:
        loop_calls.append(original_disable)

    profile.enable = enable  # type: ignore[method-assign]
    profile.disable = disable  # type: ignore[method-assign]

    async def run() -> None:
        async def pump() -> None:
            while not server.should_exit:
                while loop_calls:
                    loop_calls.pop(0)()
                await asyncio.sleep(0.05)
            while loop_calls:
                loop_calls.pop(0)()

        task = asyncio.create_task(pump())
        await server.serve()
        await task

    thread.start()
    asyncio.run(run())
    thread.join()
    drop_database()
    if args.cpu:
        return 0
    if args.save:
        profile.dump_stats(args.save)
    for order in ("tottime", "cumulative"):
        text = io.StringIO()
        pstats.Stats(profile, stream=text).sort_stats(order).print_stats(args.top)
        print(text.getvalue())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
