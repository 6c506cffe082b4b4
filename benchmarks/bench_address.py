"""Address reading accuracy on usaddress's labelled data (no database, no timing).

    uv run python benchmarks/bench_address.py [--misses N]

For each file of tests/fixtures/usaddress/training (the corpus the tests hold to the targets)
and tests/fixtures/usaddress/test_data (usaddress's held-out set, never tuned on: the
independent figure) prints: addresses judged, street-line-only parsing with all street parts
right, one-line parsing with all parts right, and the abbreviated and spelled-out street lines
giving one key. ``--misses N`` lists the first N misses of each kind.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

from common import REPO, machine

from hk_core.address.evaluation import LabelledAddress, measure, read_labelled

FIXTURES = REPO / "tests" / "fixtures" / "usaddress"


def report(name: str, files: list[Path], show: int) -> None:
    print(f"\n{name}")
    print(f"  {'file':40} {'n':>6} {'street line':>12} {'one line':>10} {'same key':>10}")
    everything: list[LabelledAddress] = []
    for path in files:
        addresses = list(read_labelled(path))
        everything += addresses
        acc = measure(addresses)
        print(f"  {path.name:40} {acc.addresses:6,} {acc.street_line_rate:12.1%} "
              f"{acc.one_line_rate:10.1%} {acc.same_key_rate:10.1%}")  # fmt: skip
    misses: dict[str, list] = defaultdict(list)
    acc = measure(everything, on_miss=lambda kind, a, d: misses[kind].append((a, d)))
    print(f"  {'all':40} {acc.addresses:6,} {acc.street_line_rate:12.1%} "
          f"{acc.one_line_rate:10.1%} {acc.same_key_rate:10.1%}")  # fmt: skip
    for kind, found in misses.items():
        for labelled, diff in found[:show]:
            print(f"    {kind}: {labelled.source}: {labelled.one_line!r} {diff}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--misses", type=int, default=0, help="list the first N misses")
    args = parser.parse_args()
    print("machine:", machine())
    report(
        "training (the tests' corpus)", sorted((FIXTURES / "training").glob("*.xml")), args.misses
    )
    report("test_data (independent)", sorted((FIXTURES / "test_data").glob("*.xml")), args.misses)
    return 0


if __name__ == "__main__":
    sys.exit(main())
