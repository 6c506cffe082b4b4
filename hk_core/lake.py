"""The Parquet lake: ``<root>/<zone>/<dataset>/dt=YYYY-MM-DD/part-00000.parquet``.

The root is a local folder (the default, ``<home>/lake``) or ``s3://bucket/prefix``. S3 goes
through s3fs, never DuckDB's httpfs: extensions cannot be downloaded at run time. See
``docs/lake.md`` for the layout and the atomicity guarantees.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import fsspec
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

if TYPE_CHECKING:
    from hk_core.settings import Settings

# Zone and dataset names become path segments and DuckDB view names (<zone>_<dataset>), so
# they are plain lowercase identifiers: no "..", no "/", nothing to quote.
NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,62}")
PART_NAME = "part-00000.parquet"
PART_PATTERN = re.compile(r"part-\d{5}\.parquet")
PARTITION_PATTERN = re.compile(r"dt=(\d{4}-\d{2}-\d{2})")
# Hidden (leading dot): pyarrow.dataset, DuckDB globs and partitions() all skip it.
TEMP_PREFIX = ".tmp-"
# A temp file this old belongs to a writer that died; younger ones may be a live writer's.
STALE_TEMP_SECONDS = 3600
PARTITION_COLUMN = "dt"
COMPRESSION = "zstd"


class LakeWriteError(OSError):
    """A day could not be written (a read-only folder, a full disk, S3 gone mid-upload). The
    day's previous file, if any, is untouched; the message names the day and the cause."""


@dataclass(frozen=True)
class PartitionWrite:
    path: str
    rows: int
    bytes: int


@dataclass(frozen=True)
class DatasetSummary:
    zone: str
    dataset: str
    partitions: list[date]
    rows: int
    bytes: int

    @property
    def view(self) -> str:
        return f"{self.zone}_{self.dataset}"


def check_name(kind: str, name: str) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise ValueError(
            f"lake {kind} name {name!r} is not a lowercase identifier ([a-z][a-z0-9_]*)"
        )
    return name


def _check_day(day: date) -> date:
    # datetime is a date subclass; its isoformat() would put a time in the folder name.
    if isinstance(day, datetime) or not isinstance(day, date):
        raise TypeError(f"partition day must be a datetime.date, not {type(day).__name__}")
    return day


class Lake:
    """Hive-partitioned Parquet on a local folder or S3, one file per day per dataset."""

    def __init__(self, root_url: str, *, s3_endpoint_url: str | None = None) -> None:
        url = root_url.strip().rstrip("/")
        if url.startswith("s3://"):
            bucket_and_prefix = url.removeprefix("s3://")
            if not bucket_and_prefix:
                raise ValueError(f"lake URL {root_url!r} names no bucket")
            options: dict[str, Any] = {"use_listings_cache": False}
            if s3_endpoint_url:
                options["client_kwargs"] = {"endpoint_url": s3_endpoint_url}
            self.filesystem: fsspec.AbstractFileSystem = fsspec.filesystem("s3", **options)
            self.is_local = False
            self._root = bucket_and_prefix
            self.root_url = f"s3://{bucket_and_prefix}"
            self._arrow_fs: pafs.FileSystem = pafs.PyFileSystem(pafs.FSSpecHandler(self.filesystem))
        elif "://" not in url or url.startswith("file://"):
            path = os.path.abspath(os.path.expanduser(url.removeprefix("file://") or "/"))
            self.filesystem = fsspec.filesystem("file")
            self.is_local = True
            self._root = path
            self.root_url = path
            self._arrow_fs = pafs.LocalFileSystem()
        else:
            raise ValueError(f"lake URL {root_url!r}: only local paths, file:// and s3:// work")
        self.s3_endpoint_url = s3_endpoint_url

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Lake:
        from hk_core.settings import get_settings

        settings = settings or get_settings()
        return cls(settings.lake_root, s3_endpoint_url=settings.s3_endpoint_url)

    def __repr__(self) -> str:
        return f"Lake({self.root_url!r})"

    # -- paths -----------------------------------------------------------------------------

    def _path(self, *segments: str) -> str:
        return "/".join([self._root, *segments])

    def _dataset_path(self, zone: str, dataset: str) -> str:
        return self._path(check_name("zone", zone), check_name("dataset", dataset))

    def _partition_path(self, zone: str, dataset: str, day: date) -> str:
        return f"{self._dataset_path(zone, dataset)}/dt={_check_day(day).isoformat()}"

    def partition_dir(self, zone: str, dataset: str, day: date) -> str:
        """The partition folder as a URL (an absolute path for a local lake)."""
        path = self._partition_path(zone, dataset, day)
        return path if self.is_local else f"s3://{path}"

    def _part_files(self, zone: str, dataset: str) -> dict[date, list[tuple[str, int]]]:
        """Committed part files (path, size) by day; temp files and strays are not parts."""
        base = self._dataset_path(zone, dataset)
        try:
            found = self.filesystem.find(base, detail=True)
        except FileNotFoundError:
            return {}
        parts: dict[date, list[tuple[str, int]]] = {}
        for path, info in sorted(found.items()):
            relative = path.removeprefix(base)
            segments = relative.strip("/").split("/")
            if len(segments) != 2 or not PART_PATTERN.fullmatch(segments[1]):
                continue
            match = PARTITION_PATTERN.fullmatch(segments[0])
            if not match:
                continue
            try:
                day = date.fromisoformat(match.group(1))
            except ValueError:
                continue
            parts.setdefault(day, []).append((path, int(info.get("size") or 0)))
        return parts

    # -- writing ---------------------------------------------------------------------------

    def write_partition(
        self, zone: str, dataset: str, day: date, table: pa.Table
    ) -> PartitionWrite:
        """Replace one day of a dataset with ``table``; readers see the old day or the new one."""
        if not isinstance(table, pa.Table):
            raise TypeError(f"write_partition takes a pyarrow.Table, not {type(table).__name__}")
        if PARTITION_COLUMN in table.column_names:
            raise ValueError(
                f"table has a {PARTITION_COLUMN!r} column; the partition folder already says "
                "the day, and readers add dt from it"
            )
        folder = self._partition_path(zone, dataset, day)
        final = f"{folder}/{PART_NAME}"
        try:
            if self.is_local:
                size = self._write_local(folder, final, table)
            else:
                size = self._write_object(final, table)
        except OSError as error:
            raise LakeWriteError(
                f"could not write {zone}/{dataset} dt={day.isoformat()} to {self._url(folder)}: "
                f"{type(error).__name__}: {error}; any earlier file of that day is unchanged"
            ) from error
        self._remove_strays(folder, keep=final)
        return PartitionWrite(path=self._url(final), rows=table.num_rows, bytes=size)

    def _write_local(self, folder: str, final: str, table: pa.Table) -> int:
        os.makedirs(folder, exist_ok=True)
        temp = f"{folder}/{TEMP_PREFIX}{uuid.uuid4().hex}.parquet"
        try:
            with open(temp, "wb") as sink:
                pq.write_table(table, sink, compression=COMPRESSION)
                sink.flush()
                os.fsync(sink.fileno())
            os.replace(temp, final)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.remove(temp)
            raise
        # The rename is only durable once the folder entry is on disk.
        folder_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(folder_fd)
        finally:
            os.close(folder_fd)
        return os.path.getsize(final)

    def _write_object(self, final: str, table: pa.Table) -> int:
        # An S3 PUT (or a completed multipart upload) becomes visible whole or not at all, so
        # the final key is written directly; serialising first means a failing conversion
        # never reaches the store. A day of leads is megabytes, so memory is not the limit.
        buffer = pa.BufferOutputStream()
        pq.write_table(table, buffer, compression=COMPRESSION)
        data = buffer.getvalue().to_pybytes()
        try:
            self.filesystem.pipe_file(final, data)
        except OSError:
            raise
        except Exception as error:  # botocore's errors are not OSErrors
            raise OSError(f"S3 PUT failed: {type(error).__name__}: {error}") from error
        return len(data)

    def _remove_strays(self, folder: str, *, keep: str) -> None:
        """Drop part files of earlier writes (other names) and temp files of dead writers."""
        try:
            entries = self.filesystem.ls(folder, detail=True)
        except FileNotFoundError:
            return
        now = time.time()
        for entry in entries:
            path = entry["name"].rstrip("/")
            name = path.rsplit("/", 1)[-1]
            if entry.get("type") != "file" or path.lstrip("/") == keep.lstrip("/"):
                continue
            if PART_PATTERN.fullmatch(name):
                self.filesystem.rm_file(path)
            elif name.startswith(TEMP_PREFIX) and now - _modified(entry) > STALE_TEMP_SECONDS:
                with contextlib.suppress(FileNotFoundError):
                    self.filesystem.rm_file(path)

    def delete_partition(self, zone: str, dataset: str, day: date) -> None:
        folder = self._partition_path(zone, dataset, day)
        with contextlib.suppress(FileNotFoundError):
            self.filesystem.rm(folder, recursive=True)

    # -- reading ---------------------------------------------------------------------------

    def _read_file(self, path: str) -> pa.Table:
        if self.is_local:
            return pq.read_table(path)
        # One GET for the whole object: day files are small, range requests cost round trips.
        return pq.read_table(pa.BufferReader(self.filesystem.cat_file(path)))

    def _read_parts(self, files: list[tuple[str, int]]) -> pa.Table:
        tables = [self._read_file(path) for path, _ in files]
        return (
            tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="default")
        )

    def read_partition(self, zone: str, dataset: str, day: date) -> pa.Table | None:
        """One day as written (no ``dt`` column), or None when that day was never written."""
        folder = self._partition_path(zone, dataset, day)
        try:
            entries = self.filesystem.ls(folder, detail=False)
        except FileNotFoundError:
            return None
        files = sorted(
            (str(p).rstrip("/"), 0)
            for p in entries
            if PART_PATTERN.fullmatch(str(p).rstrip("/").rsplit("/", 1)[-1])
        )
        return self._read_parts(files) if files else None

    def read_days(
        self, zone: str, dataset: str, days: Iterable[date] | None = None
    ) -> pa.Table | None:
        """Several days in one table with a ``dt`` (date32) column from the partition.

        ``days=None`` reads every partition; days never written are skipped. Returns None when
        none of the days exists. Columns added on later days are null on earlier ones.
        """
        parts = self._part_files(zone, dataset)
        wanted = sorted(parts) if days is None else sorted({_check_day(d) for d in days})
        tables = []
        for day in wanted:
            if day not in parts:
                continue
            table = self._read_parts(parts[day])
            dt = pa.array([day] * table.num_rows, type=pa.date32())
            tables.append(table.append_column(PARTITION_COLUMN, dt))
        if not tables:
            return None
        return pa.concat_tables(tables, promote_options="default")

    def partitions(self, zone: str, dataset: str) -> list[date]:
        """Days that hold a committed part file, oldest first."""
        return sorted(self._part_files(zone, dataset))

    def datasets(self) -> list[tuple[str, str]]:
        """(zone, dataset) pairs with at least one partition."""
        found = []
        for zone in self._child_dirs(self._root):
            for dataset in self._child_dirs(self._path(zone)):
                if self._part_files(zone, dataset):
                    found.append((zone, dataset))
        return found

    def _child_dirs(self, path: str) -> list[str]:
        try:
            entries = self.filesystem.ls(path, detail=True)
        except FileNotFoundError:
            return []
        names = (
            e["name"].rstrip("/").rsplit("/", 1)[-1] for e in entries if e["type"] == "directory"
        )
        return sorted(n for n in names if NAME_PATTERN.fullmatch(n))

    def describe(self, zone: str, dataset: str) -> DatasetSummary:
        """Partitions, rows (from Parquet footers, no data read) and bytes of one dataset."""
        parts = self._part_files(zone, dataset)
        rows = 0
        for files in parts.values():
            for path, _ in files:
                with self._arrow_fs.open_input_file(path) as source:
                    rows += pq.ParquetFile(source).metadata.num_rows
        size = sum(s for files in parts.values() for _, s in files)
        return DatasetSummary(zone, dataset, sorted(parts), rows, size)

    def arrow_dataset(self, zone: str, dataset: str) -> ds.Dataset | None:
        """A lazy pyarrow dataset over every partition, with ``dt`` from the folder names.

        The schema is unified over all files, so a column added later reads as null on
        earlier days instead of disappearing. None when the dataset has no partitions.
        """
        parts = self._part_files(zone, dataset)
        if not parts:
            return None
        paths = [path for files in parts.values() for path, _ in files]
        base = self._dataset_path(zone, dataset)
        options = ds.FileSystemFactoryOptions(
            partition_base_dir=base,
            partitioning=ds.partitioning(
                pa.schema([(PARTITION_COLUMN, pa.date32())]), flavor="hive"
            ),
        )
        factory = ds.FileSystemDatasetFactory(
            self._arrow_fs, paths, ds.ParquetFileFormat(), options
        )
        return factory.finish(factory.inspect(fragments=None))

    def _url(self, path: str) -> str:
        return path if self.is_local else f"s3://{path}"


def _modified(entry: dict[str, Any]) -> float:
    """Modification time of an fsspec ``ls`` entry (local: float ``mtime``; S3: datetime)."""
    value = entry.get("mtime") or entry.get("LastModified") or entry.get("created")
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value or time.time())
