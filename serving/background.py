"""Run the real API on a loopback port in a background thread (demo, tests, benchmarks)."""

from __future__ import annotations

import socket
import threading
import time

from fastapi import FastAPI


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class BackgroundServer:
    """``with BackgroundServer(app) as base_url: …`` serves ``app`` with uvicorn until exit."""

    def __init__(self, app: FastAPI | None = None, *, port: int | None = None):
        import uvicorn

        from serving.app import create_app

        self.port = port or free_port()
        config = uvicorn.Config(
            app or create_app(), host="127.0.0.1", port=self.port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the API did not start")
            time.sleep(0.02)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
