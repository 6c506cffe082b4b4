"""A private Postgres server a test may restart: the shared one on 5432 is never touched.

``initdb`` and ``pg_ctl`` from the system's packages, run as the ``postgres`` system user when
the tests run as root (Postgres refuses to run as root), with a data directory in a temporary
folder that user owns, trust authentication and a loopback port. ``restart("fast")`` and
``restart("immediate")`` are real server restarts: every backend is ended by the server, the
listening socket closes and reopens, and with ``immediate`` the server recovers from its WAL
as after a crash.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_BIN_ROOT = Path("/usr/lib/postgresql")
# A port is picked by the kernel, closed, and handed to Postgres; another process may take it
# in between, so a start that could not bind is tried again on another port.
_START_ATTEMPTS = 3
_PG_CTL_WAIT_SECONDS = "60"


def postgres_binaries() -> Path | None:
    """The newest installed server's bin folder, or None when there is none."""
    if not _BIN_ROOT.is_dir():
        return None
    found = sorted(
        (p / "bin" for p in _BIN_ROOT.iterdir() if (p / "bin" / "pg_ctl").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    return found[-1] if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivatePostgres:
    """One Postgres server in its own data directory: start, restart, stop."""

    def __init__(self, bin_dir: Path, root: Path):
        self.bin_dir, self.root = bin_dir, root
        self.data = root / "data"
        self.log = root / "server.log"
        self.port = 0
        self._user = "postgres" if os.geteuid() == 0 else None

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self._user:
            command = ["runuser", "-u", self._user, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=120)

    def init(self) -> None:
        if self._user:
            owner = pwd.getpwnam(self._user)
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
        done = self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync",
            "--no-instructions", "-E", "UTF8",
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{done.stderr[-2000:]}")

    def _pg_ctl(self, action: str, *extra: str) -> subprocess.CompletedProcess[str]:
        # Only TCP on loopback; the socket folder is private so no other server's socket is hit.
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} "
            f"-c unix_socket_directories={self.root} -c fsync=off -c max_connections=100"
        )
        return self._run(
            "pg_ctl", action, "-D", str(self.data), "-l", str(self.log), "-w",
            "-t", _PG_CTL_WAIT_SECONDS, "-o", options, *extra,
        )  # fmt: skip

    def start(self) -> None:
        """Start on a new port, or on the same one again after ``stop``: clients reconnect to
        the address they know, as they would to a restarted production server."""
        if self.port:
            if self._pg_ctl("start").returncode != 0:
                raise RuntimeError(f"Postgres did not start again:\n{self.log_tail()}")
            return
        for _ in range(_START_ATTEMPTS):
            self.port = _free_port()
            if self._pg_ctl("start").returncode == 0:
                return
        raise RuntimeError(f"Postgres did not start:\n{self.log_tail()}")

    def restart(self, mode: str) -> None:
        """``pg_ctl restart -m fast|immediate``; back and accepting connections on return."""
        done = self._pg_ctl("restart", "-m", mode)
        if done.returncode != 0:
            raise RuntimeError(f"pg_ctl restart -m {mode} failed:\n{self.log_tail()}")

    def stop(self, mode: str = "immediate") -> None:
        """``pg_ctl stop -m fast|immediate``: down on return (the port stays this server's)."""
        done = self._run("pg_ctl", "stop", "-D", str(self.data), "-m", mode, "-w")
        if done.returncode != 0 and "not running" not in done.stderr:
            raise RuntimeError(f"pg_ctl stop -m {mode} failed:\n{done.stderr[-2000:]}")

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A started private server, stopped and removed on exit; skips when none is installed."""
    import pytest

    bin_dir = postgres_binaries()
    if bin_dir is None:
        pytest.skip("no Postgres server binaries under /usr/lib/postgresql")
    root = Path(tempfile.mkdtemp(prefix="hk-pg-"))
    server = PrivatePostgres(bin_dir, root)
    try:
        server.init()
        server.start()
        yield server
    finally:
        with contextlib.suppress(RuntimeError):
            server.stop()
        shutil.rmtree(root, ignore_errors=True)
