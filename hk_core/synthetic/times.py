"""Timestamps (UTC epoch seconds) and the formats senders write them in."""

from __future__ import annotations

import numpy as np

from .arrays import _blank, _put

DAY = 86_400

# received_at / occurred_at formats: (code, truncation in seconds).
_ISO_Z, _SPACE, _US_DATE, _US_AMPM, _EPOCH, _OFFSET, _ISO_DATE, _US_SEC, _US_MIN = range(9)
_TRUNCATE = np.array([1, 1, DAY, 60, 1, 1, DAY, 1, 60], dtype=np.int64)
# How each source writes received_at, in SOURCES order.
_SOURCE_TIME_FORMAT = (_ISO_Z, _SPACE, _US_DATE, _US_AMPM, _EPOCH, _OFFSET, _ISO_DATE, _US_SEC)


def _civil(ts: np.ndarray):
    days = ts // DAY
    d = days.astype("datetime64[D]")
    y = d.astype("datetime64[Y]").astype(np.int64) + 1970
    m = d.astype("datetime64[M]").astype(np.int64) % 12 + 1
    dd = (d - d.astype("datetime64[M]")).astype(np.int64) + 1
    sod = ts - days * DAY
    return y, m, dd, sod // 3600, sod // 60 % 60, sod % 60


def _iso(ts: np.ndarray) -> list[str]:
    return np.datetime_as_string(ts.astype("datetime64[s]"), unit="s").tolist()


def _format_times(ts: np.ndarray, codes: np.ndarray, offsets: np.ndarray | None = None) -> list:
    """Timestamps (UTC epoch seconds) written in the given formats."""
    out = _blank(len(ts))
    for code in np.unique(codes).tolist():
        idx = np.flatnonzero(codes == code)
        t = ts[idx]
        if code == _ISO_Z:
            values = [s + "Z" for s in _iso(t)]
        elif code == _SPACE:
            values = [s.replace("T", " ") for s in _iso(t)]
        elif code == _EPOCH:
            values = [str(v) for v in t.tolist()]
        elif code == _OFFSET:
            hours = offsets[idx] if offsets is not None else np.full(len(idx), 6)
            values = [
                f"{s}-{h:02d}:00"
                for s, h in zip(_iso(t - hours * 3600), hours.tolist(), strict=True)
            ]
        elif code == _ISO_DATE:
            values = np.datetime_as_string((t // DAY).astype("datetime64[D]")).tolist()
        else:
            y, m, d, hh, mi, ss = (a.tolist() for a in _civil(t))
            if code == _US_DATE:
                values = [f"{a:02d}/{b:02d}/{c}" for a, b, c in zip(m, d, y, strict=True)]
            elif code == _US_AMPM:
                values = [
                    f"{a}/{b}/{c} {(h % 12) or 12}:{n:02d} {'AM' if h < 12 else 'PM'}"
                    for a, b, c, h, n in zip(m, d, y, hh, mi, strict=True)
                ]
            elif code == _US_SEC:
                values = [
                    f"{a:02d}/{b:02d}/{c} {h:02d}:{n:02d}:{s:02d}"
                    for a, b, c, h, n, s in zip(m, d, y, hh, mi, ss, strict=True)
                ]
            else:  # _US_MIN
                values = [
                    f"{a:02d}/{b:02d}/{c} {h:02d}:{n:02d}"
                    for a, b, c, h, n in zip(m, d, y, hh, mi, strict=True)
                ]
        _put(out, idx, values)
    return out.tolist()
