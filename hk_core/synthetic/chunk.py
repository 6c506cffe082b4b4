"""One chunk of the book: leads lo..hi-1 with their parcels, county records, extra parcels
and stage events, drawn from the chunk's own random stream in a fixed order."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from hk_core.contract import LEAD_COLUMNS

from .addresses import address_columns
from .arrays import _blank, _obj, _p
from .conversion import draw_conversion, draw_timeline
from .county import IN_ROLL_SHARE, county_columns
from .defects import LEAD_DEFECTS, PROPERTY_DEFECTS, spoil_leads
from .funnel import stage_events
from .geography import MARKETS
from .parcels import _Parcels
from .people import contact_columns, contact_states, name_columns
from .seller_text import seller_columns
from .times import _format_times, _iso
from .vocabulary import (
    _SOURCE_SPELLINGS,
    CONDITIONS,
    MESSY_SOURCE_SHARE,
    MOTIVATION_SHARE,
    MOTIVATIONS,
    OCCUPANCIES,
    SOURCES,
    TIMELINES,
)

if TYPE_CHECKING:
    from .book import _Book


class _Chunk:
    """Leads lo..hi-1 with their parcels, county records, extra parcels and stage events."""

    def __init__(self, book: _Book, rng: np.random.Generator, k: int, lo: int, hi: int):
        self.book = book
        self.rng = rng
        self.lo, self.hi = lo, hi
        n = hi - lo
        self.n = n
        g = book.geo
        self.idx = np.arange(lo, hi)
        self.source = book.source[lo:hi]
        self.defect = book.defect[lo:hi]
        self.bad = self.defect >= 0
        self.n_bad = int(self.bad.sum())
        self.received = book.received[lo:hi]
        # ---- latent seller situation
        self.motivation = rng.choice(len(MOTIVATIONS), n, p=_p(MOTIVATION_SHARE))
        # ---- parcels: the leads' own, then extras with no lead
        n_extra = book.extra_counts[k]
        extra_lo = int(book.extra_base[k])
        parcel_ids = np.concatenate([self.idx, book.n + extra_lo + np.arange(n_extra)])
        motivation_all = np.concatenate([self.motivation, np.full(n_extra, -1)])
        self.parcels = _Parcels(rng, g, book, parcel_ids, motivation_all, n)
        self.timeline = draw_timeline(rng, self.motivation)
        self.email_state, self.phone_state = contact_states(rng, self.source)
        (
            self.asking_ratio,
            self.equity,
            self.random_effect,
            self.p_convert,
            self.will_convert,
        ) = draw_conversion(self)
        self.lead_columns = self.leads()
        self.property_columns = self.properties(
            n_extra, book.property_defect[extra_lo : extra_lo + n_extra]
        )
        self.n_converted = self.events()

    def leads(self) -> list[list[str]]:
        """The leads.csv columns, typed as senders type, with the bad rows broken."""
        rng, n, g, p = self.rng, self.n, self.book.geo, self.parcels
        cols: dict[str, Any] = {}
        src = self.source
        # source, typed messily in some rows
        sources = _obj(SOURCES)[src]
        messy = np.flatnonzero(rng.random(n) < MESSY_SOURCE_SHARE)
        pick = rng.integers(0, 12, len(messy)).tolist()
        sources[messy] = _obj(
            [
                _SOURCE_SPELLINGS[s][v % len(_SOURCE_SPELLINGS[s])]
                for s, v in zip(src[messy].tolist(), pick, strict=True)
            ]
        )
        cols["source"] = sources
        cols["external_id"] = _obj(self.book.external_id[self.lo : self.hi])
        offsets = g.utc_offset[p.market[:n]]
        cols["received_at"] = _obj(
            _format_times(self.received, self.book.time_format[self.lo : self.hi], offsets)
        )
        first, last = name_columns(self, cols)
        contact_columns(self, cols, first, last)
        address_columns(self, cols)
        seller_columns(self, cols)
        spoil_leads(rng, self.defect, cols)
        blank = _blank(n)
        return [cols.get(c, blank).tolist() for c in LEAD_COLUMNS]

    def properties(self, n_extra: int, extra_defect: np.ndarray) -> list[list[str]]:
        """County records of the leads' parcels in the roll and of the extras, shuffled."""
        rng, n, p = self.rng, self.n, self.parcels
        self.in_roll = rng.random(n) < IN_ROLL_SHARE
        keep = np.concatenate([self.in_roll, np.ones(n_extra, dtype=bool)])
        selected = np.flatnonzero(keep)
        selected = selected[rng.permutation(len(selected))]
        defect = np.concatenate([np.full(n, -1), extra_defect])[selected]
        columns = county_columns(p, rng, selected, defect)
        self.property_lead_row = np.concatenate([self.idx + 1, np.zeros(n_extra, np.int64)])[
            selected
        ]
        self.property_defect = defect
        return [c.tolist() for c in columns]

    def events(self) -> int:
        """Funnel events for good leads with an external id; returns how many converted."""
        lead, stage, when, self.converted = stage_events(self)
        self.book.ev_lead.append(lead)
        self.book.ev_stage.append(stage)
        self.book.ev_time.append(when)
        return int(self.converted.sum())

    def truth_property_rows(self) -> list[tuple]:
        return [
            (r if r else "", PROPERTY_DEFECTS[d] if d >= 0 else "")
            for r, d in zip(
                self.property_lead_row.tolist(), self.property_defect.tolist(), strict=True
            )
        ]

    def truth_lead_rows(self) -> list[tuple]:
        p, n, book = self.parcels, self.n, self.book
        apn = p.apn[:n]
        return list(
            zip(
                (self.idx + 1).tolist(),
                [SOURCES[s] for s in self.source.tolist()],
                book.external_id[self.lo : self.hi],
                [LEAD_DEFECTS[d] if d >= 0 else "" for d in self.defect.tolist()],
                [s + "Z" for s in _iso(self.received)],
                apn.tolist(),
                self.in_roll.astype(int).tolist(),
                [MARKETS[m][0] for m in p.market[:n].tolist()],
                [MOTIVATIONS[m] for m in self.motivation.tolist()],
                [TIMELINES[t] for t in self.timeline.tolist()],
                [CONDITIONS[c] for c in p.condition[:n].tolist()],
                [OCCUPANCIES[o] for o in p.occupancy[:n].tolist()],
                p.absentee[:n].astype(int).tolist(),
                p.tax_delinquent[:n].astype(int).tolist(),
                p.in_foreclosure[:n].astype(int).tolist(),
                (self.phone_state == 0).astype(int).tolist(),
                (self.email_state == 0).astype(int).tolist(),
                np.round(self.equity, 4).tolist(),
                np.round(self.asking_ratio, 4).tolist(),
                np.round(self.p_convert, 5).tolist(),
                self.will_convert.astype(int).tolist(),
                self.converted.astype(int).tolist(),
                np.round(self.random_effect, 5).tolist(),
                strict=True,
            )
        )
