"""A blocking file-like view of chunks produced elsewhere (the request body's async stream)."""

from __future__ import annotations

import io
from collections.abc import Callable


class QueueReader(io.RawIOBase):
    """Reads bytes by calling ``next_chunk`` (which blocks) until it returns None."""

    def __init__(self, next_chunk: Callable[[], bytes | None]):
        self._next_chunk = next_chunk
        self._buffer = b""
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        while not self._buffer and not self._done:
            chunk = self._next_chunk()
            if chunk is None:
                self._done = True
            else:
                self._buffer = chunk
        n = min(len(buffer), len(self._buffer))
        buffer[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n

    def drain(self) -> None:
        """Consume what is left so the producer is never blocked on a full queue."""
        while not self._done:
            if self._next_chunk() is None:
                self._done = True
