"""Online scores as automation triggers: each freshly computed score is marked in the database.

``app.mark_scores`` keeps the last score seen per lead and writes a ``score_crossed`` event when a
threshold a rule watches lies between the old and the new score (the nightly rescoring marks its
scores through the same function, by a trigger). Marks are gathered in memory and written about
once a second in one statement, off the request path: a score answer never waits for them, and a
lost batch (the process dies, the database is away) is caught up by the next computation or the
nightly run. Only cache misses are marked: a cached answer is a score already marked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from psycopg_pool import AsyncConnectionPool

log = logging.getLogger(__name__)
FLUSH_SECONDS = 1.0
MAX_PENDING = 100_000


class ScoreMarks:
    def __init__(self, pool: AsyncConnectionPool):
        self.pool = pool
        self._pending: dict[int, float] = {}
        self._task: asyncio.Task | None = None

    def note(self, lead_ids: list[int], scores: list[float]) -> None:
        if len(self._pending) < MAX_PENDING:
            self._pending.update(zip(lead_ids, scores, strict=True))
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._flush_soon())

    async def _flush_soon(self) -> None:
        await asyncio.sleep(FLUSH_SECONDS)
        await self.flush()

    async def flush(self) -> None:
        pending, self._pending = self._pending, {}
        if not pending:
            return
        ids = sorted(pending)
        try:
            async with self.pool.connection() as conn:
                await conn.execute(
                    "select app.mark_scores(%s, %s, 'online')", (ids, [pending[i] for i in ids])
                )
        except Exception as error:  # noqa: BLE001 -- best effort; see the module docstring
            log.warning("online score marks not written (%s)", type(error).__name__)

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()
