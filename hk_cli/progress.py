"""Progress bars for long commands (rich), quiet when output is not a terminal."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from hk_core.readers import CountingReader


@contextmanager
def file_progress(path: Path, label: str) -> Iterator[tuple[BinaryIO, Callable[[int], None]]]:
    """Open ``path`` for reading and show how much of it has been read."""
    size = path.stat().st_size
    columns = (
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
        TextColumn("{task.fields[rows]:>10,} rows"), TimeRemainingColumn(),
    )  # fmt: skip
    with path.open("rb") as raw, Progress(*columns, transient=False) as bar:
        reader = CountingReader(raw)
        task = bar.add_task(label, total=size, rows=0)

        def update(rows: int) -> None:
            bar.update(task, completed=reader.bytes_read, rows=rows)

        yield reader, update  # type: ignore[misc]
        bar.update(task, completed=size)


@contextmanager
def count_progress(label: str, total: int) -> Iterator[Callable[[int], None]]:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns) as bar:
        task = bar.add_task(label, total=total)
        yield lambda done: bar.update(task, completed=done)  # type: ignore[misc]
