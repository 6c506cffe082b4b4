"""Deliberately bad rows: which lead, stage event and property rows are broken, and how.

Lead rows get one defect each (``round(BAD_LEAD_SHARE * n)`` of them); stage events get bad copies
of real events; extra parcels (those without a lead) lose their APN or street.
"""

from __future__ import annotations

import numpy as np

from .vocabulary import _external_id

BAD_LEAD_SHARE = 0.02
BAD_EVENT_SHARE = 0.0005  # per kind of bad stage event row
BAD_PROPERTY_SHARE = 0.0005  # per kind of bad property row

# Deliberate defects. Lead rows: one defect each; the values are drawn from these pools.
LEAD_DEFECTS = (
    "no_contact", "missing_street", "bad_received_at", "bad_bedrooms", "bad_square_feet",
    "bad_asking_price", "bad_zip", "bad_state", "incomplete_address",
)  # fmt: skip
_BAD_RECEIVED = ("yesterday-ish", "13/45/2024", "2024-02-30", "sometime last week", "ASAP")
_BAD_BEDROOMS = ("three", "-2", "3 or 4", "51")
_BAD_SQUARE_FEET = ("5", "12", "huge", "0")
_BAD_ASKING = ("-5000", "lots", "make me an offer", "$-250,000")
_BAD_ZIP = ("ABCDE", "7870A", "787-01", "00")
_BAD_STATE = ("ZZ", "Texass", "XX", "Tex")
EVENT_DEFECTS = ("unknown_stage", "unknown_lead", "no_lead_ref", "bad_occurred_at")
_BAD_STAGES = ("voicemail", "follow up", "escalated", "nurture", "left message")
_BAD_OCCURRED = ("next tuesday", "TBD", "32/01/2024")
PROPERTY_DEFECTS = ("missing_apn", "missing_street")


def lead_defect_codes(rng: np.random.Generator, n: int) -> np.ndarray:
    """Bad rows: an exact share, one defect each (an index into LEAD_DEFECTS; -1 for none)."""
    n_bad = round(BAD_LEAD_SHARE * n)
    defect = np.full(n, -1)
    bad_idx = rng.choice(n, n_bad, replace=False) if n_bad else np.zeros(0, np.int64)
    defect[bad_idx] = rng.integers(0, len(LEAD_DEFECTS), n_bad)
    return defect


def property_defect_codes(
    rng: np.random.Generator, n_extra: int, expected_rows: float
) -> np.ndarray:
    """Defects (into PROPERTY_DEFECTS; -1 for none) of the ``n_extra`` extra parcels, sized
    by the ``expected_rows`` of properties.csv."""
    n_bad_props = max(2, round(BAD_PROPERTY_SHARE * expected_rows))
    defect = np.full(n_extra, -1)
    if n_extra:
        k = min(n_extra, n_bad_props * len(PROPERTY_DEFECTS))
        bad = rng.choice(n_extra, k, replace=False)
        defect[bad] = np.arange(k) % len(PROPERTY_DEFECTS)
    return defect


def spoil_leads(rng: np.random.Generator, defect: np.ndarray, cols: dict) -> None:
    """Write each bad lead row's defect (``defect`` >= 0) into its text columns."""
    bad = np.flatnonzero(defect >= 0)
    if not len(bad):
        return
    pick = rng.integers(0, 1_000, len(bad)).tolist()
    for i, v in zip(bad.tolist(), pick, strict=True):
        kind = LEAD_DEFECTS[defect[i]]
        if kind == "no_contact":
            cols["email"][i] = cols["phone"][i] = ""
        elif kind == "missing_street":
            cols["property_street"][i] = ("", "   ")[v % 2]
        elif kind == "bad_received_at":
            cols["received_at"][i] = _BAD_RECEIVED[v % len(_BAD_RECEIVED)]
        elif kind == "bad_bedrooms":
            cols["bedrooms"][i] = _BAD_BEDROOMS[v % len(_BAD_BEDROOMS)]
        elif kind == "bad_square_feet":
            cols["square_feet"][i] = _BAD_SQUARE_FEET[v % len(_BAD_SQUARE_FEET)]
        elif kind == "bad_asking_price":
            cols["asking_price"][i] = _BAD_ASKING[v % len(_BAD_ASKING)]
        elif kind == "bad_zip":
            cols["property_zip"][i] = _BAD_ZIP[v % len(_BAD_ZIP)]
        elif kind == "bad_state":
            cols["property_state"][i] = _BAD_STATE[v % len(_BAD_STATE)]
        else:  # incomplete_address
            cols["property_zip"][i] = cols["property_city"][i] = ""


def add_bad_events(
    rng: np.random.Generator, lead: np.ndarray, stage: np.ndarray, when: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The events plus bad copies of some, with each row's defect (into EVENT_DEFECTS)."""
    n_good = len(lead)
    # Deliberately bad rows: copies of real events with one defect, or unknown leads.
    per_kind = max(2, round(BAD_EVENT_SHARE * n_good)) if n_good else 0
    defect = np.full(n_good, -1)
    if per_kind:
        kinds = np.repeat(np.arange(len(EVENT_DEFECTS)), per_kind)
        src_rows = rng.integers(0, n_good, len(kinds))
        lead = np.concatenate([lead, lead[src_rows]])
        stage = np.concatenate([stage, stage[src_rows]])
        when = np.concatenate([when, when[src_rows]])
        defect = np.concatenate([defect, kinds])
    return lead, stage, when, defect


def spoil_events(
    defect: np.ndarray,
    choice: np.ndarray,
    src: np.ndarray,
    next_seq: dict[int, int],
    sources: np.ndarray,
    ext: np.ndarray,
    stages: np.ndarray,
    times: np.ndarray,
) -> None:
    """Write each bad event row's defect into its columns (``choice`` picks the bad value)."""
    for i in np.flatnonzero(defect >= 0).tolist():
        kind = EVENT_DEFECTS[defect[i]]
        if kind == "unknown_stage":
            stages[i] = _BAD_STAGES[choice[i] % len(_BAD_STAGES)]
        elif kind == "unknown_lead":
            s = int(src[i])
            # An id this source never sent (beyond its sequence).
            q = next_seq[s] + 500_000 + int(choice[i])
            ext[i] = _external_id(s, q)
        elif kind == "no_lead_ref":
            sources[i] = ""
            ext[i] = ""
        else:
            times[i] = _BAD_OCCURRED[choice[i] % len(_BAD_OCCURRED)]


def spoil_properties(cols: dict, defect: np.ndarray) -> None:
    """Blank the APN or street of the bad county rows."""
    cols["apn"] = cols["apn"].copy()
    cols["apn"][defect == 0] = ""
    cols["street"][defect == 1] = ""
