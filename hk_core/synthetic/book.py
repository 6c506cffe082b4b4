"""The book-wide draws: arrival times, sources, external ids and which rows are bad; then the
book is generated chunk by chunk, each chunk from its own random stream."""

from __future__ import annotations

import numpy as np

from .arrays import _obj, _p
from .chunk import _Chunk
from .county import IN_ROLL_SHARE
from .defects import lead_defect_codes, property_defect_codes
from .geography import _geo
from .times import _ISO_Z, _SOURCE_TIME_FORMAT, _TRUNCATE, DAY
from .vocabulary import _NO_ID_SHARE, SOURCE_SHARE, SOURCES, _external_id

HISTORY_DAYS = 548  # leads arrive over the ~18 months before as_of
RECENT_GROWTH = 0.8  # daily volume on the last day is 1.8x the first
CHUNK_LEADS = 4_000
EXTRA_PARCEL_RATIO = 0.85  # parcels without a lead, per lead


class _Book:
    """Book-wide draws (arrival times, sources, ids, which rows are bad), then chunk by chunk."""

    def __init__(self, n: int, seed: int, horizon: int, behaviour: str = "investor"):
        self.n = n
        self.seed = seed
        self.horizon = horizon
        self.behaviour = behaviour
        self.geo = _geo()
        rng = np.random.default_rng([seed, 0])
        keys = rng.integers(0, 2**62, 4)
        self.key_address, self.key_apn, self.key_phone, self.key_email = (int(k) for k in keys)
        # Arrival: a linear ramp over HISTORY_DAYS, fewer on weekends, business hours (US).
        days = np.arange(HISTORY_DAYS)
        start_day = horizon // DAY - HISTORY_DAYS
        weekday = (start_day + days + 3) % 7  # 1970-01-01 was a Thursday (3)
        w = (1 + RECENT_GROWTH * days / HISTORY_DAYS) * np.where(weekday >= 5, 0.55, 1.0)
        hour_w = np.array(
            [3, 2, 1.5, 1, 1, 1, 1, 1, 1, 1, 1.5, 2.5, 4, 6, 7, 7.5, 7.5, 7, 7, 7, 6.5, 6, 5, 4]
        )  # UTC hours: US evenings are 00-04 UTC
        day = np.sort(rng.choice(HISTORY_DAYS, n, p=w / w.sum()))
        t = (start_day + day) * DAY + rng.choice(24, n, p=hour_w / hour_w.sum()) * 3600
        t = t + rng.integers(0, 3600, n)
        t = np.sort(t)
        self.source = rng.choice(len(SOURCES), n, p=_p(SOURCE_SHARE))
        fmt = np.asarray(_SOURCE_TIME_FORMAT)[self.source]
        fmt = np.where(rng.random(n) < 0.1, _ISO_Z, fmt)
        self.time_format = fmt
        self.received = t - t % _TRUNCATE[fmt]
        # Bad rows: an exact share, one defect each.
        self.defect = lead_defect_codes(rng, n)
        # External ids: per-source sequences in arrival order; list imports often have none.
        self.has_id = rng.random(n) >= np.asarray(_NO_ID_SHARE)[self.source]
        seq = np.zeros(n, dtype=np.int64)
        offsets = rng.integers(1_000, 60_000, len(SOURCES))
        for s in range(len(SOURCES)):
            idx = np.flatnonzero(self.source == s)
            seq[idx] = offsets[s] + np.arange(len(idx))
        self.seq = seq
        ids = [
            _external_id(s, q) if h else ""
            for s, q, h in zip(
                self.source.tolist(), seq.tolist(), self.has_id.tolist(), strict=True
            )
        ]
        self.external_id = ids
        self.external_id_arr = _obj(ids)
        self.next_seq = {s: int(offsets[s]) + int((self.source == s).sum()) for s in range(8)}
        # Extra parcels (no lead) per chunk, and the bad property rows among them.
        chunk_sizes = [min(CHUNK_LEADS, n - lo) for lo in range(0, n, CHUNK_LEADS)]
        self.extra_counts = [round(EXTRA_PARCEL_RATIO * c) for c in chunk_sizes]
        self.extra_base = np.concatenate([[0], np.cumsum(self.extra_counts)]).astype(np.int64)
        n_extra = int(self.extra_base[-1])
        self.property_defect = property_defect_codes(rng, n_extra, n_extra + IN_ROLL_SHARE * n)
        # Stage events, collected numerically and written (sorted by time) at the end.
        self.ev_lead: list[np.ndarray] = []
        self.ev_stage: list[np.ndarray] = []
        self.ev_time: list[np.ndarray] = []

    def chunk(self, k: int, lo: int, hi: int) -> _Chunk:
        rng = np.random.default_rng([self.seed, 1, k])
        return _Chunk(self, rng, k, lo, hi)
