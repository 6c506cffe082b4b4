"""Run the real API on a loopback port in a background thread (demo, tests, benchmarks)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

from fastapi import FastAPI


class BackgroundServer:
    """``with BackgroundServer(app) as base_url: …`` serves ``app`` with uvicorn until exit.

    The listening socket is bound here (port 0 by default: the system picks a free one) and
    handed to uvicorn, so the port is known before the server starts and nothing else can
    take it in between, as it could after probing for a free port and binding it later.
    ``app`` may also be a function of the base URL, for an app that must know where it is
    reached (the public URL that signed webhooks are verified against).
    """

    def __init__(self, app: FastAPI | Callable[[str], FastAPI] | None = None, *, port: int = 0):
        import uvicorn

        from serving.app import create_app

        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", port))
        self.port: int = self.socket.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        if app is None:
            app = create_app()
        elif not isinstance(app, FastAPI):
            app = app(self.base_url)
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                self.socket.close()
                raise RuntimeError("the API did not start")
            time.sleep(0.02)
        return self.base_url

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.socket.close()
