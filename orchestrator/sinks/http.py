"""The HTTP plumbing of the SMS sink: a threaded server that hands each request to a function.

Several worker processes post at once, so the listen backlog is raised from socketserver's 5
(a full backlog is a refused connection, which a client reads as the provider being down)
and connections are kept alive (HTTP/1.1). `stop` closes open keep-alive connections too,
so a stopped sink refuses instead of leaving clients waiting on a dead thread.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

IDLE_CONNECTION_SECONDS = 30.0


@dataclass(frozen=True)
class Answer:
    """A JSON answer, and what to do once it is written (a delivery callback)."""

    status: int
    body: dict[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)
    after: Callable[[], None] | None = None


Responder = Callable[[str, str, Mapping[str, str], Mapping[str, str]], Answer]


def error_answer(
    status: int, code: int, message: str, headers: Mapping[str, str] | None = None
) -> Answer:
    """Twilio's error body: code, message, more_info, status."""
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return Answer(status, body, headers or {})


class SinkHTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer calling `respond(method, path, headers, form)` per request."""

    daemon_threads = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], respond: Responder) -> None:
        self.respond = respond
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that vanished (a SIGKILLed worker's kept-alive socket) is not an error."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def server_close(self) -> None:
        super().server_close()
        with self._open_lock:
            still_open = list(self._open)
        for connection in still_open:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_CONNECTION_SECONDS
    # Headers and body leave in two writes; with Nagle on, the body waits for the client's
    # delayed ACK on every kept-alive request.
    disable_nagle_algorithm = True
    server: SinkHTTPServer

    def do_POST(self) -> None:
        self._handle("POST")

    def do_GET(self) -> None:
        self._handle("GET")

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        form = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        headers = {name.lower(): value for name, value in self.headers.items()}
        answer = self.server.respond(method, self.path.split("?", 1)[0], headers, form)
        payload = json.dumps(answer.body).encode()
        self.send_response(answer.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()
        if answer.after is not None:
            answer.after()

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: request lines are noise in a test run and a demo's terminal."""
