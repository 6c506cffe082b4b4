"""A map over both cores for enrichment's per-value work (address tagging, phone and email
checks), used only where it pays: below ``MIN_PARALLEL_ITEMS`` values, forking costs more
than it saves."""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

In = TypeVar("In")
Out = TypeVar("Out")

MIN_PARALLEL_ITEMS = 2_000
_CHUNKS_PER_WORKER = 4  # a few chunks each, so one slow chunk does not leave a core idle


def worker_count(workers: int | None) -> int:
    """``workers`` processes; None or 0 means one per core."""
    return workers if workers else os.cpu_count() or 1


def _run_chunk(func: Callable[[In], Out], chunk: Sequence[In]) -> list[Out]:
    return [func(item) for item in chunk]


def fork_available() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def parallel_map(
    func: Callable[[In], Out],
    items: Sequence[In],
    workers: int | None,
    *,
    min_items: int = MIN_PARALLEL_ITEMS,
) -> list[Out]:
    """``[func(item) for item in items]``, in order, split over ``workers`` forked processes
    when there are at least ``min_items`` items and fork is available. ``func`` must be a
    module-level function; an exception it raises is raised here."""
    processes = min(worker_count(workers), len(items) // max(min_items // 2, 1) or 1)
    if processes < 2 or len(items) < min_items or not fork_available():
        return _run_chunk(func, items)
    # fork: the workers start with the parent's imports (phonenumbers' geocoder alone takes
    # seconds to import) instead of paying for them on every call.
    size = -(-len(items) // (processes * _CHUNKS_PER_WORKER))
    chunks = [items[i : i + size] for i in range(0, len(items), size)]
    context = multiprocessing.get_context("fork")
    # Frozen, the parent's objects are left alone by the children's garbage collector, so
    # their memory pages stay shared instead of being copied into each child.
    gc.freeze()
    try:
        with ProcessPoolExecutor(max_workers=processes, mp_context=context) as pool:
            results = pool.map(_run_chunk, [func] * len(chunks), chunks)
            return [out for chunk_out in results for out in chunk_out]
    finally:
        gc.unfreeze()
