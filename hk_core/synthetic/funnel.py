"""The CRM funnel: each lead's stage events (new .. under_contract, then closed_won or
closed_lost), and stage_events.csv built from them, sorted by time and written messily."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from .arrays import _obj, _p, _put
from .defects import add_bad_events, spoil_events
from .times import _ISO_Z, _SPACE, _TRUNCATE, _US_MIN, DAY, _format_times
from .vocabulary import _SOURCE_SPELLINGS, _STAGE_SPELLINGS, MESSY_STAGE_SHARE, SOURCES, STAGES

if TYPE_CHECKING:
    from .book import _Book
    from .chunk import _Chunk

EVENT_CHUNK = 10_000
CONVERSION_WINDOW_DAYS = 90
CLOSE_WON_SHARE = 0.85  # under_contract -> closed_won; the rest fall through (closed_lost)
# Median days between stages (contacted, qualified, appointment_set, offer_made,
# under_contract) for leads that convert; the others move 1.6x slower.
STAGE_GAP_MEDIAN_DAYS = (0.125, 1.5, 2.0, 3.0, 5.0)
# Where leads that do not convert stop: new, contacted, qualified, appointment_set, offer_made.
DROP_OFF_SHARE = (0.22, 0.30, 0.20, 0.13, 0.15)


def stage_events(chunk: _Chunk) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Funnel events (lead index, stage, time) before the horizon for the chunk's good leads
    with an external id, and which of those leads converted."""
    rng, n, book = chunk.rng, chunk.n, chunk.book
    horizon = book.horizon
    will, t0 = chunk.will_convert, chunk.received
    # Gaps between stages: lognormal around the medians; non-converters are slower.
    med = np.array(STAGE_GAP_MEDIAN_DAYS) * DAY
    gaps = np.exp(np.log(med)[None, :] + rng.normal(0, 0.9, (n, 5)))
    gaps *= np.where(will, 1.0, 1.6)[:, None]
    total = gaps.sum(axis=1)
    limit = (CONVERSION_WINDOW_DAYS - 1) * DAY - 3_600
    scale = np.where(will & (total > limit), limit / total, 1.0)
    gaps = np.maximum(gaps * scale[:, None], 120.0)
    times = t0[:, None] + np.cumsum(gaps, axis=1).astype(np.int64)
    # How far each lead gets: converters to under_contract (5); the rest drop off earlier,
    # further when their conversion probability is higher.
    u = rng.random(n) ** (1.0 / (1.0 + 6.0 * chunk.p_convert))
    depth = np.searchsorted(np.cumsum(_p(DROP_OFF_SHARE)), u, side="right").clip(0, 4)
    depth = np.where(will, 5, depth)
    reached = np.arange(1, 6)[None, :] <= depth[:, None]
    # Some stages are skipped in the CRM (a phone qualification, an offer without a visit).
    skip_q = (rng.random(n) < 0.05) & (depth > 2)
    skip_a = (rng.random(n) < 0.10) & (depth > 3)
    reached[:, 1] &= ~skip_q
    reached[:, 2] &= ~skip_a
    last = times[np.arange(n), depth - 1]
    last = np.where(depth == 0, t0, last)
    # Closing: converters mostly close won; many dropped leads are marked lost.
    won = will & (rng.random(n) < CLOSE_WON_SHARE)
    close_days = np.where(
        will,
        np.where(won, rng.uniform(14, 45, n), rng.uniform(5, 30, n)),
        np.where(depth == 0, rng.uniform(20, 60, n), rng.uniform(3, 60, n)),
    )
    lost_p = np.where(depth == 0, 0.35, 0.65)
    closes = will | (rng.random(n) < lost_p)
    close_time = last + (close_days * DAY).astype(np.int64)
    close_stage = np.where(won, 6, 7)
    has = ~chunk.bad & book.has_id[chunk.lo : chunk.hi]
    lead_ix, stage_ix, when = [], [], []
    base = chunk.idx
    lead_ix.append(base[has])
    stage_ix.append(np.zeros(int(has.sum()), np.int64))
    when.append(t0[has])
    for j in range(5):
        m = has & reached[:, j]
        lead_ix.append(base[m])
        stage_ix.append(np.full(int(m.sum()), j + 1))
        when.append(times[m, j])
    m = has & closes
    lead_ix.append(base[m])
    stage_ix.append(close_stage[m])
    when.append(close_time[m])
    lead_a = np.concatenate(lead_ix)
    stage_a = np.concatenate(stage_ix)
    when_a = np.concatenate(when)
    keep = when_a < horizon
    converted = has & will & (times[:, 4] < horizon)
    return lead_a[keep], stage_a[keep], when_a[keep], converted


def event_rows(book: _Book) -> Iterator[tuple[list[list[str]], np.ndarray, np.ndarray]]:
    """(columns, lead row, defect code) of stage_events.csv, EVENT_CHUNK rows at a time,
    sorted by time."""
    rng = np.random.default_rng([book.seed, 2])
    lead = np.concatenate(book.ev_lead) if book.ev_lead else np.zeros(0, np.int64)
    stage = np.concatenate(book.ev_stage) if book.ev_stage else np.zeros(0, np.int64)
    when = np.concatenate(book.ev_time) if book.ev_time else np.zeros(0, np.int64)
    lead, stage, when, defect = add_bad_events(rng, lead, stage, when)
    order = np.lexsort((stage, lead, when))
    lead, stage, when, defect = lead[order], stage[order], when[order], defect[order]
    n = len(lead)
    spelled = rng.random(n) < MESSY_STAGE_SHARE
    variant = rng.integers(0, 4, n)
    messy_source = rng.random(n) < 0.05
    fmt = rng.choice([_ISO_Z, _SPACE, _US_MIN], n, p=[0.85, 0.1, 0.05])
    fmt[stage == 0] = _ISO_Z  # "new" keeps the exact received_at
    when = when - when % _TRUNCATE[fmt]
    bad_choice = rng.integers(0, 1_000, n)
    canon_stage = _obj(STAGES)
    spellings = [_obj([row[i % len(row)] for row in _STAGE_SPELLINGS]) for i in range(4)]
    for lo in range(0, n, EVENT_CHUNK):
        sl = slice(lo, min(lo + EVENT_CHUNK, n))
        ld, st, d = lead[sl], stage[sl], defect[sl]
        src = book.source[ld]
        sources = _obj(SOURCES)[src]
        ms = np.flatnonzero(messy_source[sl])
        _put(
            sources,
            ms,
            [
                _SOURCE_SPELLINGS[s][v % len(_SOURCE_SPELLINGS[s])]
                for s, v in zip(src[ms].tolist(), variant[sl][ms].tolist(), strict=True)
            ],
        )
        ext = book.external_id_arr[ld]
        stages = canon_stage[st]
        for v in range(4):
            idx = np.flatnonzero(spelled[sl] & (variant[sl] == v))
            stages[idx] = spellings[v][st[idx]]
        times = _obj(_format_times(when[sl], fmt[sl]))
        spoil_events(d, bad_choice[sl], src, book.next_seq, sources, ext, stages, times)
        columns = [sources.tolist(), ext.tolist(), stages.tolist(), times.tolist()]
        yield columns, ld + 1, d
