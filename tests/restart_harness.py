"""Requests that keep arriving while Postgres restarts: what the API answered, and what it kept.

``run_through_restarts`` starts sender threads for each ``RequestMaker`` (each thread a client
of its own, keeping its connection alive as a real client does), restarts the private server
(tests/pg_private.py) as each ``Restart`` says, waits after each one until every maker was
served a 2xx again, and returns every outcome. A new kind of request (a stage move, a webhook)
joins the run as one more ``RequestMaker``: how to build its n-th request, and which rows a 2xx
answer says were committed. ``uncommitted`` then looks those rows up.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
from pg_private import PrivatePostgres

# A sender that got no 2xx waits this long before its next request: enough to keep a
# refused burst from spinning a core of this small machine, never a measurement.
_PAUSE_AFTER_REFUSAL = 0.02


@dataclass(frozen=True)
class Committed:
    """A row that a 2xx answer says is stored: ``value`` in ``table.column``."""

    table: str
    column: str
    value: Any


@dataclass(frozen=True)
class PlannedRequest:
    method: str
    path: str
    options: dict[str, Any] = field(default_factory=dict)  # httpx: json, content, headers


@dataclass(frozen=True)
class RequestMaker:
    """One kind of request in the stream.

    ``plan(tag)`` builds a request from a tag unique to the run (``<name>-<sender>-<n>``);
    ``committed(plan, response)`` names the rows a 2xx answer to it promises (a 2xx it cannot
    read is recorded as a failure). With
    ``retry_refused`` a sender sends the same request again after an answer that was not a
    2xx, as a client with an Idempotency-Key (or a resent file) does after a 503.
    """

    name: str
    plan: Callable[[str], PlannedRequest]
    committed: Callable[[PlannedRequest, httpx.Response], Iterable[Committed]]
    retry_refused: bool = False


@dataclass(frozen=True)
class Outcome:
    maker: str
    tag: str
    epoch: int  # how many restarts had finished when the request was sent
    status: int | None  # None: no HTTP answer (the error says what the client saw)
    # The server was up from before the request was sent until its answer: no restart began
    # or was under way in between.
    server_up_throughout: bool = False
    retry_after: str | None = None
    error: str | None = None
    committed: tuple[Committed, ...] = ()
    excerpt: str = ""

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass(frozen=True)
class Restart:
    """``pg_ctl restart -m <mode>``; with ``held`` the server stays down (stop, then start)
    until the API has answered a request while it was down, so the outage is seen for sure."""

    mode: str
    held: bool = False

    def __str__(self) -> str:
        return f"{self.mode}{' (held down)' if self.held else ''}"


@dataclass
class RestartRun:
    outcomes: list[Outcome]
    # Per restart: was a request answered while the server was down (held restarts only),
    # and was every maker served a 2xx again after it.
    answered_while_down: list[bool]
    recovered: list[bool]


class _Recorder:
    def __init__(self) -> None:
        self.outcomes: list[Outcome] = []
        self.epoch = 0
        # Moves to odd when a restart begins and to even when it is over.
        self.disturbance = 0
        self.lock = threading.Lock()

    def add(self, outcome: Outcome) -> None:
        with self.lock:
            self.outcomes.append(outcome)

    def since(self, start: int) -> list[Outcome]:
        with self.lock:
            return self.outcomes[start:]


def _send(client: httpx.Client, maker: RequestMaker, tag: str, recorder: _Recorder) -> Outcome:
    plan = maker.plan(tag)
    epoch, before = recorder.epoch, recorder.disturbance
    try:
        response = client.request(plan.method, plan.path, **plan.options)
    except httpx.HTTPError as error:
        return Outcome(maker.name, tag, epoch, None, error=f"{type(error).__name__}: {error}")
    up = before % 2 == 0 and recorder.disturbance == before
    try:
        committed = tuple(maker.committed(plan, response)) if response.is_success else ()
    except Exception as error:  # noqa: BLE001 -- an answer the maker cannot read is a finding
        return Outcome(maker.name, tag, epoch, None, error=f"unreadable 2xx: {error!r}")
    return Outcome(
        maker.name, tag, epoch, response.status_code, server_up_throughout=up,
        retry_after=response.headers.get("retry-after"), committed=committed,
        excerpt=response.text[:300],
    )  # fmt: skip


def _sender(
    base_url: str, headers: dict[str, str], maker: RequestMaker, sender: int,
    recorder: _Recorder, stop: threading.Event,
) -> None:  # fmt: skip
    with httpx.Client(base_url=base_url, headers=headers, timeout=60) as client:
        n = 0
        while not stop.is_set():
            n += 1
            tag = f"{maker.name}-{sender}-{n}"
            while not stop.is_set():
                outcome = _send(client, maker, tag, recorder)
                recorder.add(outcome)
                if outcome.succeeded:
                    break
                time.sleep(_PAUSE_AFTER_REFUSAL)
                if not maker.retry_refused:
                    break


def _served_again(recorder: _Recorder, makers: Sequence[RequestMaker], epoch: int) -> bool:
    served = {o.maker for o in recorder.since(0) if o.epoch >= epoch and o.succeeded}
    return served >= {m.name for m in makers}


def _wait(predicate: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def _restart(server: PrivatePostgres, restart: Restart, recorder: _Recorder, seconds: float):
    """Restart the server; held, True once a request failed while it was down (a 503 or
    anything worse): the outage reached the API before the server came back."""
    if not restart.held:
        server.restart(restart.mode)
        return True
    server.stop(restart.mode)
    mark = len(recorder.since(0))
    try:
        return _wait(lambda: any(not o.succeeded for o in recorder.since(mark)), seconds)
    finally:
        server.start()


def run_through_restarts(
    base_url: str,
    headers: dict[str, str],
    makers: Sequence[RequestMaker],
    server: PrivatePostgres,
    restarts: Sequence[Restart],
    *,
    senders_per_maker: int = 2,
    deadline_seconds: float = 90,
) -> RestartRun:
    """Send ``makers``' requests from ``senders_per_maker`` threads each, through ``restarts``.

    Before the first restart every maker is served once; after each restart the next one
    waits until every maker is served a 2xx again (or ``deadline_seconds`` pass: then
    ``recovered`` says so and the run goes on, so the outcomes are all there to look at).
    """
    recorder, stop = _Recorder(), threading.Event()
    threads = [
        threading.Thread(
            target=_sender, args=(base_url, headers, maker, n, recorder, stop), daemon=True
        )
        for maker in makers
        for n in range(senders_per_maker)
    ]
    for thread in threads:
        thread.start()
    down: list[bool] = []
    recovered: list[bool] = []
    try:
        if not _wait(lambda: _served_again(recorder, makers, 0), deadline_seconds):
            raise AssertionError(f"not every maker was served before: {recorder.since(0)[-5:]}")
        for restart in restarts:
            recorder.disturbance += 1
            try:
                down.append(_restart(server, restart, recorder, deadline_seconds))
            finally:
                recorder.disturbance += 1
            recorder.epoch += 1
            epoch = recorder.epoch
            recovered.append(
                _wait(lambda: _served_again(recorder, makers, epoch), deadline_seconds)  # noqa: B023
            )
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
    return RestartRun(recorder.since(0), down, recovered)


def uncommitted(url: str, outcomes: Iterable[Outcome]) -> list[Committed]:
    """The rows that 2xx answers promised and the database does not hold."""
    promised: dict[tuple[str, str], set[Any]] = defaultdict(set)
    for outcome in outcomes:
        for row in outcome.committed:
            promised[row.table, row.column].add(row.value)
    missing: list[Committed] = []
    with psycopg.connect(url) as conn:
        for (table, column), values in promised.items():
            found = conn.execute(
                f"select {column} from {table} where {column} = any(%s)",  # our own names
                (list(values),),
            ).fetchall()
            missing += [Committed(table, column, v) for v in values - {r[0] for r in found}]
    return missing
