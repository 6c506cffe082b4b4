"""Items made by a thread ahead of the consumer, with the producer's errors raised at the
consumer and a consumer that leaves early stopping the producer."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator
from typing import TypeVar

T = TypeVar("T")


class Stopped(Exception):
    """Raised by ``put`` once the consumer has gone: the producer should stop."""


def in_background(
    produce: Callable[[Callable[[T], None]], None], *, depth: int, name: str
) -> Generator[T, None, None]:
    """What ``produce(put)`` puts, made in a thread named ``name`` up to ``depth`` items
    ahead of the consumer. The thread starts at the first ``next``; closing the iterator
    (or its being collected) makes the producer's next ``put`` raise ``Stopped`` and waits
    for the thread to end."""
    ready: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(item: T) -> None:
        if stop.is_set():
            raise Stopped
        ready.put(item)

    def run() -> None:
        try:
            produce(put)
            ready.put(done)
        except Stopped:
            return
        except BaseException as error:  # handed to the consumer, raised there
            ready.put(error)

    producer = threading.Thread(target=run, name=name, daemon=True)
    producer.start()
    try:
        while (item := ready.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        while producer.is_alive():  # unblock a producer waiting on a full queue
            try:
                ready.get_nowait()
            except queue.Empty:
                producer.join(0.01)
