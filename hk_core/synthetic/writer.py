"""Writing the CSV files: UTF-8, minimal quoting, a bare newline after each row."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any


class _Writers:
    """The output files. Data columns are quoted as csv.writer quotes them and joined (several
    times faster than csv.writer.writerows, same bytes); answer keys go through csv.writer."""

    def __init__(self, paths: dict[str, Path], truth: bool):
        self.paths = {k: v for k, v in paths.items() if truth or not k.startswith("truth_")}
        self.files: dict[str, Any] = {}
        self.writers: dict[str, Any] = {}

    def __enter__(self) -> _Writers:
        for name, path in self.paths.items():
            f = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115
            self.files[name] = f
            self.writers[name] = csv.writer(f, lineterminator="\n")
        return self

    def __exit__(self, *exc: object) -> None:
        for f in self.files.values():
            f.close()

    def header(self, name: str, columns: Sequence[str]) -> None:
        if name in self.writers:
            self.writers[name].writerow(columns)

    def rows(self, name: str, rows: list) -> None:
        if name in self.writers:
            self.writers[name].writerows(rows)

    def columns(self, name: str, columns: list[list[str]]) -> None:
        """Text columns, quoted as csv.writer quotes (only values that need it), then joined."""
        if name not in self.writers or not columns[0]:
            return
        text = "\n".join(map(",".join, zip(*map(_csv_quoted, columns), strict=True)))
        self.files[name].write(text)
        self.files[name].write("\n")


def _csv_quoted(values: list[str]) -> list[str]:
    joined = "\x00".join(values)
    if "," not in joined and '"' not in joined and "\n" not in joined and "\r" not in joined:
        return values
    return [
        '"' + v.replace('"', '""') + '"' if "," in v or '"' in v or "\n" in v or "\r" in v else v
        for v in values
    ]
