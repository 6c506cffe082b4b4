"""A synthetic book of business: leads, their funnel stage events and county property records.

``generate_book`` writes ``leads.csv``, ``stage_events.csv`` and ``properties.csv`` in the
shapes the intake accepts (the column names are the contract's field names), messy the ways
real senders are messy, with about 2% of lead rows broken on purpose. Whether a lead converts
follows a latent logistic model (``CONVERSION_MODEL``) of things an investor knows matter.
docs/synthetic-data.md describes the generating model.

Everything is drawn with numpy, in chunks of ``CHUNK_LEADS`` leads, each chunk from its own
random stream, so a book is a pure function of ``(n_leads, seed, as_of)``.

The modules, by meaning: ``generate`` (the entry point and file layout), ``book`` and
``chunk`` (the draws, in order), ``vocabulary``, ``geography``, ``people``, ``addresses``,
``seller_text``, ``parcels``, ``county``, ``conversion``, ``funnel``, ``defects``, ``times``,
``writer`` and ``arrays`` (small helpers).
"""

from .book import CHUNK_LEADS, EXTRA_PARCEL_RATIO, HISTORY_DAYS, RECENT_GROWTH
from .conversion import CONVERSION_MODEL
from .county import IN_ROLL_SHARE
from .defects import (
    BAD_EVENT_SHARE,
    BAD_LEAD_SHARE,
    BAD_PROPERTY_SHARE,
    EVENT_DEFECTS,
    LEAD_DEFECTS,
    PROPERTY_DEFECTS,
)
from .funnel import (
    CLOSE_WON_SHARE,
    CONVERSION_WINDOW_DAYS,
    DROP_OFF_SHARE,
    EVENT_CHUNK,
    STAGE_GAP_MEDIAN_DAYS,
)
from .generate import (
    STAGE_EVENT_FILE_COLUMNS,
    TRUTH_EVENT_COLUMNS,
    TRUTH_LEAD_COLUMNS,
    TRUTH_PROPERTY_COLUMNS,
    BookSummary,
    generate_book,
)
from .geography import MARKETS
from .times import DAY
from .vocabulary import (
    _ODD_CONDITION,
    _ODD_MOTIVATION,
    _ODD_OCCUPANCY,
    _ODD_PROPERTY_TYPE,
    _ODD_TIMELINE,
    _SOURCE_SPELLINGS,
    _STAGE_SPELLINGS,
    _TYPED_CONDITION,
    _TYPED_MOTIVATION,
    _TYPED_OCCUPANCY,
    _TYPED_PROPERTY_TYPE,
    _TYPED_TIMELINE,
    CONDITIONS,
    MESSY_SOURCE_SHARE,
    MESSY_STAGE_SHARE,
    MOTIVATION_SHARE,
    MOTIVATIONS,
    OCCUPANCIES,
    ODD_VALUE_SHARE,
    PROPERTY_TYPE_SHARE,
    PROPERTY_TYPES,
    SOURCE_SHARE,
    SOURCES,
    STAGES,
    TIMELINES,
)

__all__ = [
    "BAD_EVENT_SHARE",
    "BAD_LEAD_SHARE",
    "BAD_PROPERTY_SHARE",
    "CHUNK_LEADS",
    "CLOSE_WON_SHARE",
    "CONDITIONS",
    "CONVERSION_MODEL",
    "CONVERSION_WINDOW_DAYS",
    "DAY",
    "DROP_OFF_SHARE",
    "EVENT_CHUNK",
    "EVENT_DEFECTS",
    "EXTRA_PARCEL_RATIO",
    "HISTORY_DAYS",
    "IN_ROLL_SHARE",
    "LEAD_DEFECTS",
    "MARKETS",
    "MESSY_SOURCE_SHARE",
    "MESSY_STAGE_SHARE",
    "MOTIVATIONS",
    "MOTIVATION_SHARE",
    "OCCUPANCIES",
    "ODD_VALUE_SHARE",
    "PROPERTY_DEFECTS",
    "PROPERTY_TYPES",
    "PROPERTY_TYPE_SHARE",
    "RECENT_GROWTH",
    "SOURCES",
    "SOURCE_SHARE",
    "STAGES",
    "STAGE_EVENT_FILE_COLUMNS",
    "STAGE_GAP_MEDIAN_DAYS",
    "TIMELINES",
    "TRUTH_EVENT_COLUMNS",
    "TRUTH_LEAD_COLUMNS",
    "TRUTH_PROPERTY_COLUMNS",
    "BookSummary",
    "generate_book",
    # The typed spellings, which the tests check map back through the contract's aliases.
    "_ODD_CONDITION",
    "_ODD_MOTIVATION",
    "_ODD_OCCUPANCY",
    "_ODD_PROPERTY_TYPE",
    "_ODD_TIMELINE",
    "_SOURCE_SPELLINGS",
    "_STAGE_SPELLINGS",
    "_TYPED_CONDITION",
    "_TYPED_MOTIVATION",
    "_TYPED_OCCUPANCY",
    "_TYPED_PROPERTY_TYPE",
    "_TYPED_TIMELINE",
]
