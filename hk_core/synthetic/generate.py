"""``generate_book``: the files, their columns and the answer keys, written chunk by chunk."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from hk_core.contract import LEAD_COLUMNS, PROPERTY_RECORD_COLUMNS

from .book import CHUNK_LEADS, _Book
from .conversion import BEHAVIOURS
from .defects import EVENT_DEFECTS
from .funnel import event_rows
from .times import DAY
from .writer import _Writers

STAGE_EVENT_FILE_COLUMNS = ("source", "external_id", "stage", "occurred_at")
TRUTH_LEAD_COLUMNS = (
    "row", "source", "external_id", "defect", "received_at", "apn", "in_county_roll",
    "market", "motivation", "timeline", "condition", "occupancy", "absentee_owner",
    "tax_delinquent", "in_foreclosure", "phone_usable", "email_usable", "equity_ratio",
    "asking_ratio", "p_convert", "will_convert", "converted", "random_effect",
)  # fmt: skip
TRUTH_EVENT_COLUMNS = ("row", "lead_row", "defect")
TRUTH_PROPERTY_COLUMNS = ("row", "lead_row", "defect")


@dataclass
class BookSummary:
    leads: int
    bad_leads: int
    stage_events: int
    properties: int
    converted: int
    paths: dict[str, Path] = field(default_factory=dict)


def generate_book(
    n_leads: int,
    seed: int,
    out_dir: Path,
    *,
    as_of: date | None = None,
    progress: Callable[[int], None] | None = None,
    truth: bool = False,
    behaviour: str = "investor",
) -> BookSummary:
    """Write a synthetic book of ``n_leads`` leads into ``out_dir`` (see ``hk_core.synthetic``).

    Every timestamp is before midnight UTC starting ``as_of`` (default: today, UTC), which must
    not be in the future. ``progress`` is called with the number of rows written so far (all
    three files together) about every 10,000 rows. With ``truth``, ``out_dir/truth/`` also gets
    row-aligned answer keys: each lead's latent attributes, conversion probability and defect,
    and each event's and property row's defect and lead. ``behaviour`` picks how conversion
    depends on the seller (``hk_core.synthetic.conversion``: investor or interactions).
    """
    if n_leads < 0:
        raise ValueError("n_leads must not be negative")
    if behaviour not in BEHAVIOURS:
        raise ValueError(f"behaviour must be one of {', '.join(BEHAVIOURS)}, not {behaviour!r}")
    as_of = as_of or datetime.now(UTC).date()
    horizon = int(datetime(as_of.year, as_of.month, as_of.day, tzinfo=UTC).timestamp())
    if horizon > datetime.now(UTC).timestamp() + DAY:
        raise ValueError("as_of must not be in the future: intake refuses future timestamps")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "leads": out_dir / "leads.csv",
        "stage_events": out_dir / "stage_events.csv",
        "properties": out_dir / "properties.csv",
    }
    if truth:
        (out_dir / "truth").mkdir(exist_ok=True)
        for name in ("leads", "stage_events", "properties"):
            paths[f"truth_{name}"] = out_dir / "truth" / f"{name}.csv"
    book = _Book(n_leads, seed, horizon, behaviour)
    written = 0
    summary = BookSummary(0, 0, 0, 0, 0, paths)
    with _Writers(paths, truth) as out:
        out.header("leads", LEAD_COLUMNS)
        out.header("properties", PROPERTY_RECORD_COLUMNS)
        out.header("truth_leads", TRUTH_LEAD_COLUMNS)
        out.header("truth_properties", TRUTH_PROPERTY_COLUMNS)
        for k, lo in enumerate(range(0, n_leads, CHUNK_LEADS)):
            hi = min(lo + CHUNK_LEADS, n_leads)
            chunk = book.chunk(k, lo, hi)
            out.columns("leads", chunk.lead_columns)
            out.columns("properties", chunk.property_columns)
            if truth:
                out.rows("truth_leads", chunk.truth_lead_rows())
                out.rows(
                    "truth_properties", _numbered(chunk.truth_property_rows(), summary.properties)
                )
            summary.leads += hi - lo
            summary.bad_leads += chunk.n_bad
            n_properties = len(chunk.property_lead_row)
            summary.properties += n_properties
            summary.converted += chunk.n_converted
            written += hi - lo + n_properties
            if progress is not None:
                progress(written)
        out.header("stage_events", STAGE_EVENT_FILE_COLUMNS)
        out.header("truth_stage_events", TRUTH_EVENT_COLUMNS)
        for columns, lead_row, defect in event_rows(book):
            out.columns("stage_events", columns)
            if truth:
                rows = [
                    ("", EVENT_DEFECTS[d])
                    if d in (1, 2)
                    else (r, EVENT_DEFECTS[d] if d >= 0 else "")
                    for r, d in zip(lead_row.tolist(), defect.tolist(), strict=True)
                ]
                out.rows("truth_stage_events", _numbered(rows, summary.stage_events))
            summary.stage_events += len(lead_row)
            written += len(lead_row)
            if progress is not None:
                progress(written)
    return summary


def _numbered(rows: list[tuple], start: int) -> list[tuple]:
    return [(start + i + 1, *row) for i, row in enumerate(rows)]
