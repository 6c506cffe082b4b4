"""Shared test helpers: a network hop that can be cut, a refused port, waiting, counter deltas."""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


class TcpProxy:
    """A real network hop to a server (Postgres, Redis, S3) that can be cut and restored.

    ``stop()`` closes the listening socket and aborts every open connection, as a server
    that went away would; ``start()`` listens again on the same port. With ``cut_after``
    the hop also dies by itself once that many bytes went from client to server: the
    server vanishes in the middle of a request body.
    """

    def __init__(self, host: str, port: int, *, unix_socket: str | None = None):
        self.host, self.target_port, self.unix_socket = host, port, unix_socket
        self.loop = asyncio.new_event_loop()
        self.server: asyncio.AbstractServer | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.cut_after: int | None = None
        self._forwarded = 0
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.port = 0

    @classmethod
    def to_postgres(cls, params: dict[str, str]) -> TcpProxy:
        """A proxy to the server of libpq connection parameters (``conninfo_to_dict``)."""
        host = params.get("host") or "/var/run/postgresql"
        port = params.get("port") or "5432"
        if host.startswith("/"):
            return cls(host, int(port), unix_socket=f"{host}/.s.PGSQL.{port}")
        return cls(host, int(port))

    async def _open_target(self):
        if self.unix_socket:
            return await asyncio.open_unix_connection(self.unix_socket)
        return await asyncio.open_connection(self.host, self.target_port)

    async def _handle(self, reader, writer) -> None:
        try:
            up_reader, up_writer = await self._open_target()
        except OSError:
            writer.close()
            return
        self.writers.update((writer, up_writer))

        async def pipe(src, dst, upstream: bool) -> None:
            try:
                while data := await src.read(65536):
                    if upstream and self.cut_after is not None:
                        room = self.cut_after - self._forwarded
                        if room <= len(data):
                            dst.write(data[: max(room, 0)])
                            await self._stop()
                            return
                        self._forwarded += len(data)
                    dst.write(data)
                    await dst.drain()
            except OSError:
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer, True), pipe(up_reader, writer, False))

    async def _start(self) -> None:
        self._forwarded = 0
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for writer in list(self.writers):
            writer.transport.abort()
        self.writers.clear()

    def cut_after_next(self, n_bytes: int) -> None:
        """Die once ``n_bytes`` more have gone from client to server."""
        self.cut_after = self._forwarded + n_bytes

    def start(self) -> TcpProxy:
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(10)

    def close(self) -> None:
        self.stop()
        self.loop.call_soon_threadsafe(self.loop.stop)


@contextmanager
def refused_port() -> Iterator[int]:
    """A loopback port that refuses connections for as long as the block runs: bound (so
    nothing else can take it) but never listening, so a connect gets ECONNREFUSED."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def wait_for(predicate: Callable[[], bool], seconds: float = 30) -> bool:
    """Poll until ``predicate()`` holds; False if it never did within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def metric_value(metrics: str, name: str) -> float:
    """One series of a /metrics page (``name`` with its labels, as printed), 0 when absent."""
    for line in metrics.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


def metric_delta(after: str, before: str, name: str) -> float:
    """How much a series moved between two readings of /metrics: the counters are per
    process and every test shares them, so only a difference says what this test did."""
    return metric_value(after, name) - metric_value(before, name)


def proxied_postgres_url(url: str, proxy: TcpProxy) -> str:
    """``url``'s database, reached through ``proxy``."""
    from psycopg.conninfo import conninfo_to_dict

    params = conninfo_to_dict(url)
    user = params.get("user", "postgres")
    return f"postgresql://{user}@127.0.0.1:{proxy.port}/{params['dbname']}"


def without_permission_override(action: Callable[[], object]) -> object:
    """Run ``action`` in a thread that file permissions apply to, even when tests run as root.

    Root writes into a read-only folder through CAP_DAC_OVERRIDE; capabilities are per
    thread on Linux, so a thread that drops it from its effective set sees the folder as an
    ordinary writer process would, and the rest of the test process keeps it.
    """
    import ctypes
    import os

    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            if os.geteuid() == 0:
                _drop_effective_capabilities(ctypes, (1, 2))  # DAC_OVERRIDE, DAC_READ_SEARCH
            outcome["result"] = action()
        except BaseException as error:  # noqa: BLE001 -- handed back to the caller
            outcome["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome.get("result")


def _drop_effective_capabilities(ctypes, capabilities: tuple[int, ...]) -> None:
    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [(name, ctypes.c_uint32) for name in ("effective", "permitted", "inheritable")]

    libc = ctypes.CDLL(None, use_errno=True)
    header = Header(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3; pid 0: this thread
    data = (Data * 2)()
    if libc.capget(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capget failed")
    for capability in capabilities:
        data[capability // 32].effective &= ~(1 << (capability % 32))
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset failed")


def served_port(log: Path, process: subprocess.Popen, seconds: float = 120) -> int:
    """The port ``hk serve --port 0`` listens on, from uvicorn's start-up line in ``log``:
    the server binds a free port itself, so no other process can take it first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = _UVICORN_RUNNING.search(log.read_text(errors="replace"))
        if found:
            return int(found.group(1))
        if process.poll() is not None:
            break
        time.sleep(0.1)
    raise AssertionError(f"hk serve did not start:\n{log.read_text(errors='replace')[-3000:]}")


_UVICORN_RUNNING = re.compile(r"Uvicorn running on http://[^\s:]+:(\d+)")
