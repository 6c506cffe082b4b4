"""Document upload memory: the server's peak RSS while a 2 GB upload streams through it.

    uv run python benchmarks/bench_upload.py [--gigabytes 2] [--store local|s3] [--port 8766]

Creates a fresh database `hk_bench`, starts `hk serve` (one uvicorn process) with a lake in a
temp folder (or, with --store s3, on moto's S3 server started here on loopback), makes a lead
and POSTs one multipart upload to /v1/leads/{id}/documents: a PDF header, then pseudo-random
1 MiB chunks made as they are sent, so the client never holds the file either. The server
process's RSS is sampled with psutil every 20 ms from before the upload to after its answer;
printed: RSS before, peak during and after, and the upload's throughput.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import logging
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
from bench_api import stop, wait_ready
from common import HK, REPO, bench_env, drop_database, fresh_database, hk, machine

CHUNK = 1 << 20
BOUNDARY = "hkbenchboundary"
LEAD = {"source": "web_form", "first_name": "Bench", "phone": "512-555-0100",
        "property_street": "1 Main St", "property_state": "TX", "property_zip": "78701"}  # fmt: skip
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
}  # fmt: skip


class RssSampler(threading.Thread):
    """The peak RSS (MiB) of a process and its children, sampled until stopped."""

    def __init__(self, pid: int, every: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.every = every
        self.peak = 0.0
        self.done = threading.Event()

    def rss(self) -> float:
        processes = [self.process, *self.process.children(recursive=True)]
        total = 0
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                total += process.memory_info().rss
        return total / (1 << 20)

    def run(self) -> None:
        while not self.done.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(self.every)


def body(file_bytes: int, digest: hashlib._Hash) -> Iterator[bytes]:
    yield (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"kind\"\r\n\r\nother\r\n"
           f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; "
           f"filename=\"bench.pdf\"\r\nContent-Type: application/pdf\r\n\r\n").encode()  # fmt: skip
    rng = random.Random(20261206)
    head = b"%PDF-1.7\n"
    digest.update(head)
    yield head
    left = file_bytes - len(head)
    while left > 0:
        chunk = rng.randbytes(min(CHUNK, left))
        digest.update(chunk)
        left -= len(chunk)
        yield chunk
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def framing_bytes() -> int:
    probe = hashlib.sha256()
    parts = list(body(9, probe))
    return sum(len(p) for p in parts) - 9


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gigabytes", type=float, default=2.0)
    parser.add_argument("--store", choices=("local", "s3"), default="local")
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args()
    file_bytes = int(args.gigabytes * (1 << 30))
    print("machine:", machine(), flush=True)

    work = Path(tempfile.mkdtemp(prefix="hk-bench-upload-"))
    extra = {
        "HK_HOME": str(work / "home"),
        "HK_LAKE_URL": str(work / "lake"),
        "HK_DOCUMENT_MAX_BYTES": str(file_bytes + CHUNK),
        "HK_SCORING_ENABLED": "false",
    }
    moto = None
    if args.store == "s3":
        import boto3
        from moto.server import ThreadedMotoServer

        os.environ.update(AWS_ENV)
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per part otherwise
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        moto.start()
        endpoint = f"http://127.0.0.1:{moto.get_host_and_port()[1]}"
        bucket = f"hk-bench-{uuid.uuid4().hex[:8]}"
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
        extra |= {"HK_LAKE_URL": f"s3://{bucket}/lake", "HK_S3_ENDPOINT_URL": endpoint}
    fresh_database()
    env = bench_env(**extra, **AWS_ENV)
    hk("db", "upgrade", env=env)
    api_key = hk("api-keys", "create", "bench", env=env).strip().splitlines()[-1]
    base = f"http://127.0.0.1:{args.port}"
    log_path = work / "serve.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [HK, "serve", "--port", str(args.port)], cwd=REPO, env=env,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        wait_ready(base, server, path="/health/live")
        headers = {"X-API-Key": api_key}
        with httpx.Client(base_url=base, headers=headers, timeout=600) as client:
            lead = client.post("/v1/leads", json={**LEAD, "external_id": uuid.uuid4().hex})
            lead.raise_for_status()
            lead_id = lead.json()["lead_id"]
            sampler = RssSampler(server.pid)
            before = sampler.rss()
            sampler.start()
            digest = hashlib.sha256()
            started = time.perf_counter()
            response = client.post(
                f"/v1/leads/{lead_id}/documents",
                content=body(file_bytes, digest),
                headers={
                    "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
                    "Content-Length": str(file_bytes + framing_bytes()),
                },
            )
            seconds = time.perf_counter() - started
            sampler.done.set()
            sampler.join()
            after = sampler.rss()
    finally:
        stop(server)
        if moto is not None:
            moto.stop()
    drop_database()
    answer = response.json() if response.status_code == 201 else response.text[:500]
    print(f"store             : {args.store}")
    print(f"upload            : {file_bytes / (1 << 30):.2f} GiB, HTTP {response.status_code}")
    if response.status_code == 201:
        same = answer["sha256"] == digest.hexdigest()
        print(f"sha256 matches    : {same} ({answer['content_type']}, {answer['size_bytes']} B)")
    else:
        print(f"answer            : {answer}")
    print(f"server RSS (MiB)  : before {before:.1f}  peak {sampler.peak:.1f}  after {after:.1f}"
          f"  (peak - before {sampler.peak - before:.1f})")  # fmt: skip
    print(f"throughput        : {file_bytes / (1 << 20) / seconds:.1f} MiB/s ({seconds:.1f} s)")
    problems = [line for line in log_path.read_text().splitlines() if "Traceback" in line]
    print(f"server log        : {len(problems)} Traceback lines")
    shutil.rmtree(work, ignore_errors=True)  # the stored file is as large as the upload
    return 0 if response.status_code == 201 else 1


if __name__ == "__main__":
    sys.exit(main())
