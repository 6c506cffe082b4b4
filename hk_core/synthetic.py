"""A synthetic book of business: leads, their funnel stage events and county property records.

``generate_book`` writes ``leads.csv``, ``stage_events.csv`` and ``properties.csv`` in the
shapes the intake accepts (the column names are the contract's field names), messy the ways
real senders are messy, with about 2% of lead rows broken on purpose. Whether a lead converts
follows a latent logistic model (``CONVERSION_MODEL``) of things an investor knows matter.
docs/synthetic-data.md describes the generating model.

Everything is drawn with numpy, in chunks of ``CHUNK_LEADS`` leads, each chunk from its own
random stream, so a book is a pure function of ``(n_leads, seed, as_of)``.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np

from hk_core.contract import LEAD_COLUMNS, PROPERTY_RECORD_COLUMNS
from hk_core.geo import STATES

STAGE_EVENT_FILE_COLUMNS = ("source", "external_id", "stage", "occurred_at")
TRUTH_LEAD_COLUMNS = (
    "row", "source", "external_id", "defect", "received_at", "apn", "in_county_roll",
    "market", "motivation", "timeline", "condition", "occupancy", "absentee_owner",
    "tax_delinquent", "in_foreclosure", "phone_usable", "email_usable", "equity_ratio",
    "asking_ratio", "p_convert", "will_convert", "converted",
)  # fmt: skip
TRUTH_EVENT_COLUMNS = ("row", "lead_row", "defect")
TRUTH_PROPERTY_COLUMNS = ("row", "lead_row", "defect")

DAY = 86_400
HISTORY_DAYS = 548  # leads arrive over the ~18 months before as_of
RECENT_GROWTH = 0.8  # daily volume on the last day is 1.8x the first
CHUNK_LEADS = 4_000
EVENT_CHUNK = 10_000
BAD_LEAD_SHARE = 0.02
IN_ROLL_SHARE = 0.85  # share of lead properties with a county record
EXTRA_PARCEL_RATIO = 0.85  # parcels without a lead, per lead
CONVERSION_WINDOW_DAYS = 90
CLOSE_WON_SHARE = 0.85  # under_contract -> closed_won; the rest fall through (closed_lost)
BAD_EVENT_SHARE = 0.0005  # per kind of bad stage event row
BAD_PROPERTY_SHARE = 0.0005  # per kind of bad property row

SOURCES = (
    "web_form", "ppc", "direct_mail", "cold_call", "sms_campaign", "referral", "list_import",
    "vendor_x",
)  # fmt: skip
SOURCE_SHARE = (0.24, 0.18, 0.15, 0.12, 0.10, 0.05, 0.10, 0.06)
_ID_PREFIX = ("WF-", "PPC-", "DM-", "CC-", "SMS-", "REF-", "LI-", "")
_NO_ID_SHARE = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.4, 0.0)  # list imports often carry no id
_SOURCE_SPELLINGS = (
    ("Web Form", "web-form", "WEB_FORM", " web form "),
    ("PPC", "Ppc", " ppc"),
    ("Direct Mail", " direct mail ", "direct-mail", "DIRECT MAIL"),
    ("Cold Call", "cold-call", "COLD CALL"),
    ("SMS Campaign", "sms-campaign", "SMS campaign"),
    ("Referral", "REFERRAL", " referral"),
    ("List Import", "list-import", "LIST IMPORT"),
    ("Vendor X", "vendor-x", "VENDOR_X"),
)
MESSY_SOURCE_SHARE = 0.15

# Latent categories (the truth), in code order.
MOTIVATIONS = (
    "foreclosure", "divorce", "inherited", "relocation", "financial_distress", "tired_landlord",
    "repairs", "downsizing", "tax_problems", "curious", "other",
)  # fmt: skip
MOTIVATION_SHARE = (0.08, 0.06, 0.10, 0.10, 0.10, 0.10, 0.11, 0.08, 0.05, 0.15, 0.07)
TIMELINES = ("asap", "30_days", "90_days", "6_months", "12_months_plus", "unknown")
CONDITIONS = ("excellent", "good", "fair", "poor", "distressed")
OCCUPANCIES = ("owner_occupied", "tenant_occupied", "vacant")
PROPERTY_TYPES = ("single_family", "multi_family", "condo", "townhouse", "mobile_home", "land")
PROPERTY_TYPE_SHARE = (0.72, 0.08, 0.07, 0.06, 0.04, 0.03)

# The latent conversion model: logit P(reaches under_contract within 90 days) is the sum of
# these terms over the lead's true attributes, plus a normal random effect. Log-odds units.
CONVERSION_MODEL: dict[str, Any] = {
    "intercept": -4.6,
    "equity_ratio": 1.8,  # x (value - mortgage) / value, clipped to [-0.5, 1]
    "motivation": {
        "foreclosure": 1.1,
        "divorce": 0.8,
        "inherited": 1.0,
        "relocation": 0.3,
        "financial_distress": 0.6,
        "tired_landlord": 0.5,
        "repairs": 0.4,
        "downsizing": 0.1,
        "tax_problems": 0.9,
        "curious": -1.6,
        "other": 0.0,
    },
    "timeline": {
        "asap": 1.0,
        "30_days": 0.7,
        "90_days": 0.3,
        "6_months": -0.4,
        "12_months_plus": -1.3,
        "unknown": -0.4,
    },
    "condition": {"excellent": -0.3, "good": 0.0, "fair": 0.1, "poor": 0.3, "distressed": 0.4},
    "vacant": 0.5,
    "tax_delinquent": 0.5,
    "in_foreclosure": 0.7,
    "absentee_owner": 0.4,
    "source": {
        "referral": 0.8,
        "direct_mail": 0.5,
        "cold_call": 0.2,
        "web_form": 0.0,
        "sms_campaign": -0.1,
        "vendor_x": -0.3,
        "ppc": -0.5,
        "list_import": -0.6,
    },
    "phone_unusable": -1.0,  # phone missing or invalid
    "email_unusable": -0.4,  # email missing or invalid
    "no_usable_contact": -1.5,  # added when neither phone nor email is usable
    "asking_premium": -3.0,  # x min(max(asking / value - 1, 0), 1)
    "random_effect_sd": 0.8,
}

# Where the properties are: (city, state, ZIP3s, area codes, $/sq ft, streets, county style).
# County style: (flag words, date format, unit word, comma after the owner's last name,
# share of ZIP+4 ZIPs, assessment ratio).
_FLAGS = (("Y", "N"), ("TRUE", "FALSE"), ("true", "false"))
MARKETS = (
    ("Austin", "TX", ("787",), ("512", "737"), 285, 3000, (0, 0, "UNIT", False, 0.0, 0.90)),
    ("San Antonio", "TX", ("782",), ("210", "726"), 175, 3000, (0, 0, "#", False, 0.0, 0.88)),
    ("Houston", "TX", ("770", "772"), ("713", "281", "832", "346"), 165, 4500,
     (0, 0, "UNIT", False, 0.3, 0.85)),
    ("Dallas", "TX", ("752",), ("214", "469", "972"), 205, 4000, (0, 0, "#", False, 0.0, 0.92)),
    ("Fort Worth", "TX", ("761",), ("817", "682"), 185, 2000, (0, 1, "UNIT", False, 0.0, 0.90)),
    ("Jacksonville", "FL", ("322",), ("904",), 175, 2000, (1, 1, "UNIT", True, 0.4, 0.80)),
    ("Tampa", "FL", ("336",), ("813", "656"), 235, 2500, (1, 0, "#", True, 0.0, 0.78)),
    ("Atlanta", "GA", ("303",), ("404", "470", "678"), 210, 3500, (2, 0, "APT", False, 0.2, 0.40)),
    ("Memphis", "TN", ("381",), ("901",), 115, 1500, (0, 1, "UNIT", True, 0.0, 0.25)),
    ("Cleveland", "OH", ("441",), ("216",), 95, 1500, (2, 1, "#", False, 0.0, 0.35)),
    ("Birmingham", "AL", ("352",), ("205",), 120, 1200, (0, 0, "APT", False, 0.0, 0.10)),
    ("Hartford", "CT", ("061",), ("860",), 185, 1000, (1, 1, "UNIT", True, 0.5, 0.70)),
    ("Springfield", "MA", ("011",), ("413",), 175, 900, (0, 1, "#", False, 0.0, 0.95)),
    ("Newark", "NJ", ("071",), ("973", "862"), 230, 1200, (2, 0, "UNIT", True, 0.0, 0.60)),
)  # fmt: skip
_OUT_OF_AREA = (
    ("LOS ANGELES", "CA", "900"), ("PHOENIX", "AZ", "850"), ("DENVER", "CO", "802"),
    ("CHICAGO", "IL", "606"), ("NEW YORK", "NY", "100"), ("SEATTLE", "WA", "981"),
    ("MIAMI", "FL", "331"), ("CHARLOTTE", "NC", "282"),
)  # fmt: skip
# Real US area codes; numbers are <area code>-555-<line>, never a real subscriber.
_OTHER_AREA_CODES = (
    "201", "202", "203", "206", "207", "208", "209", "212", "213", "215", "217", "219", "224",
    "225", "228", "229", "231", "234", "239", "240", "248", "251", "252", "253", "254", "256",
    "260", "262", "267", "269", "270", "276", "301", "302", "303", "304", "305", "307", "308",
    "309", "310", "312", "313", "314", "315", "316", "317", "318", "319", "320", "321", "323",
    "325", "330", "334", "336", "337", "339", "347", "351", "352", "360", "361", "385", "386",
    "401", "402", "405", "406", "407", "408", "409", "410", "412", "414", "415", "417", "419",
    "423", "424", "425", "430", "432", "434", "435", "440", "443", "458", "463", "479", "480",
)  # fmt: skip

_STREET_NAMES = (
    "MAIN", "OAK", "PINE", "MAPLE", "CEDAR", "ELM", "WASHINGTON", "LAKE", "HILL", "PARK",
    "WALNUT", "CHESTNUT", "SPRING", "RIDGE", "MEADOW", "FOREST", "RIVER", "SUNSET", "HIGHLAND",
    "JEFFERSON", "LINCOLN", "FRANKLIN", "JACKSON", "MADISON", "ADAMS", "CHURCH", "MILL",
    "WILLOW", "BIRCH", "HICKORY", "MAGNOLIA", "PECAN", "DOGWOOD", "CYPRESS", "LAUREL",
    "SYCAMORE", "ASPEN", "POPLAR", "HOLLY", "JUNIPER", "MESQUITE", "BLUEBONNET", "LIVE OAK",
    "REDBUD", "PEACHTREE", "PALMETTO", "CHERRY", "HAWTHORNE", "WINDSOR", "KINGS", "LIBERTY",
    "UNION", "MARKET", "BROAD", "CENTER", "HIGH", "WATER", "BRIDGE", "MARTIN LUTHER KING JR",
    "CESAR CHAVEZ", "GRAND", "CENTRAL", "COLLEGE", "UNIVERSITY", "AIRPORT", "RAILROAD",
    "HARBOR", "SUMMIT", "VALLEY", "CANYON", "PRAIRIE", "SHADY OAKS", "TIMBER", "STONE",
    "ROCK CREEK", "BROOKSIDE", "FAIRVIEW", "GREENWOOD", "ROSEWOOD", "WESTWOOD", "LAKEVIEW",
    "HILLCREST", "CRESTVIEW", "PLEASANT", "WILDWOOD", "COUNTRY CLUB", "MOCKINGBIRD", "BELMONT",
    "1ST", "2ND", "3RD", "4TH", "5TH", "6TH", "7TH", "8TH", "9TH", "10TH", "11TH", "12TH",
    "14TH", "19TH", "23RD", "31ST",
)  # fmt: skip
_SUFFIXES = (
    ("ST", "Street"), ("AVE", "Avenue"), ("DR", "Drive"), ("RD", "Road"), ("LN", "Lane"),
    ("CT", "Court"), ("BLVD", "Boulevard"), ("WAY", "Way"), ("PL", "Place"), ("CIR", "Circle"),
    ("TRL", "Trail"), ("PKWY", "Parkway"), ("TER", "Terrace"), ("LOOP", "Loop"),
)  # fmt: skip
_SUFFIX_SHARE = (0.25, 0.15, 0.17, 0.08, 0.10, 0.07, 0.04, 0.04, 0.03, 0.03, 0.02, 0.01, 0.005,
                 0.005)  # fmt: skip
_DIRECTIONS = (("", ""), ("N", "North"), ("S", "South"), ("E", "East"), ("W", "West"))
_DIRECTION_SHARE = (0.6, 0.1, 0.1, 0.1, 0.1)
_HOUSE_NUMBERS = 9_900  # 100 .. 9999

_FIRST = (
    "JAMES", "JOHN", "ROBERT", "MICHAEL", "WILLIAM", "DAVID", "RICHARD", "JOSEPH", "THOMAS",
    "CHARLES", "CHRISTOPHER", "DANIEL", "MATTHEW", "ANTHONY", "MARK", "DONALD", "STEVEN",
    "PAUL", "ANDREW", "JOSHUA", "KENNETH", "KEVIN", "BRIAN", "GEORGE", "TIMOTHY", "RONALD",
    "EDWARD", "JASON", "JEFFREY", "RYAN", "JOSE", "LUIS", "CARLOS", "JUAN", "MIGUEL",
    "TERRENCE", "DESHAWN", "MARCUS", "HUNG", "MINH", "MARY", "PATRICIA", "JENNIFER", "LINDA",
    "ELIZABETH", "BARBARA", "SUSAN", "JESSICA", "SARAH", "KAREN", "LISA", "NANCY", "BETTY",
    "MARGARET", "SANDRA", "ASHLEY", "KIMBERLY", "EMILY", "DONNA", "MICHELLE", "DOROTHY",
    "CAROL", "AMANDA", "MELISSA", "DEBORAH", "STEPHANIE", "REBECCA", "SHARON", "LAURA",
    "CYNTHIA", "MARIA", "ROSA", "GUADALUPE", "LATOYA", "KEISHA", "TAMIKA", "LAN", "MAI", "ANNE",
    "GLORIA",
)  # fmt: skip
_NICKNAMES = {
    "JAMES": "Jim", "ROBERT": "Bob", "MICHAEL": "Mike", "WILLIAM": "Bill", "RICHARD": "Rick",
    "JOSEPH": "Joe", "THOMAS": "Tom", "CHARLES": "Chuck", "CHRISTOPHER": "Chris",
    "DANIEL": "Dan", "MATTHEW": "Matt", "ANTHONY": "Tony", "STEVEN": "Steve", "ANDREW": "Andy",
    "KENNETH": "Ken", "TIMOTHY": "Tim", "RONALD": "Ron", "EDWARD": "Ed", "JEFFREY": "Jeff",
    "DONALD": "Don", "ELIZABETH": "Liz", "PATRICIA": "Patty", "JENNIFER": "Jen",
    "MARGARET": "Peggy", "KIMBERLY": "Kim", "DEBORAH": "Debbie", "REBECCA": "Becky",
    "CYNTHIA": "Cindy", "SUSAN": "Sue", "STEPHANIE": "Steph",
}  # fmt: skip
_LAST = (
    "SMITH", "JOHNSON", "WILLIAMS", "BROWN", "JONES", "GARCIA", "MILLER", "DAVIS", "RODRIGUEZ",
    "MARTINEZ", "HERNANDEZ", "LOPEZ", "GONZALEZ", "WILSON", "ANDERSON", "THOMAS", "TAYLOR",
    "MOORE", "JACKSON", "MARTIN", "LEE", "PEREZ", "THOMPSON", "WHITE", "HARRIS", "SANCHEZ",
    "CLARK", "RAMIREZ", "LEWIS", "ROBINSON", "WALKER", "YOUNG", "ALLEN", "KING", "WRIGHT",
    "SCOTT", "TORRES", "NGUYEN", "HILL", "FLORES", "GREEN", "ADAMS", "NELSON", "BAKER", "HALL",
    "RIVERA", "CAMPBELL", "MITCHELL", "CARTER", "ROBERTS", "GOMEZ", "PHILLIPS", "EVANS",
    "TURNER", "DIAZ", "PARKER", "CRUZ", "EDWARDS", "COLLINS", "REYES", "STEWART", "MORRIS",
    "MORALES", "MURPHY", "COOK", "ROGERS", "GUTIERREZ", "ORTIZ", "MORGAN", "COOPER",
    "PETERSON", "BAILEY", "REED", "KELLY", "HOWARD", "RAMOS", "KIM", "COX", "WARD",
    "RICHARDSON", "WATSON", "BROOKS", "CHAVEZ", "WOOD", "BENNETT", "GRAY", "MENDOZA", "RUIZ",
    "HUGHES", "PRICE", "ALVAREZ", "CASTILLO", "SANDERS", "PATEL", "MYERS", "LONG", "ROSS",
    "FOSTER", "JIMENEZ", "POWELL", "JENKINS", "PERRY", "RUSSELL", "SULLIVAN", "BELL", "COLEMAN",
    "BUTLER", "HENDERSON", "BARNES", "FISHER", "VASQUEZ", "SIMMONS", "ROMERO", "JORDAN",
    "PATTERSON", "HAMILTON", "GRAHAM", "REYNOLDS", "GRIFFIN", "WALLACE", "MORENO", "HAYES",
    "BRYANT", "HERRERA", "GIBSON", "ELLIS", "TRAN", "MEDINA", "AGUILAR", "MURRAY", "CASTRO",
    "OWENS", "FERNANDEZ", "MCDONALD", "WOODS", "KENNEDY", "VARGAS", "CHEN", "FREEMAN", "WEBB",
    "TUCKER", "GUZMAN", "BURNS", "OLSON", "PORTER", "HUNTER", "SILVA", "SHAW", "SNYDER",
    "DIXON", "MUNOZ", "HOLMES", "WAGNER", "SALAZAR", "GARZA", "SOTO", "WEAVER", "O'BRIEN",
    "DE LA CRUZ", "MCCARTHY", "NGO", "PHAM", "OKAFOR", "ABERNATHY",
)  # fmt: skip
_LLC_WORDS = (
    "BLUE OAK", "LONE STAR", "SUMMIT", "KEYSTONE", "REDBIRD", "IRONWOOD", "MAPLE LEAF",
    "PINNACLE", "HARBOR", "TRINITY", "CORNERSTONE", "BRIGHTPATH", "RIVERSTONE", "OAKMONT",
)  # fmt: skip
_LLC_KINDS = ("HOLDINGS LLC", "PROPERTIES LLC", "INVESTMENTS LLC", "REALTY LLC", "RENTALS LLC")
_OWNER_FIRST = np.array(_FIRST, dtype=object)
_OWNER_LAST = np.array(_LAST, dtype=object)
_MIDDLE = np.array([f" {chr(c)}" for c in range(65, 91)] + [""] * 14, dtype=object)
_CO_OWNER = np.array([f" & {f}" for f in _FIRST] + [""] * (3 * len(_FIRST)), dtype=object)
_LLC_NAMES = np.array([f"{a} {b}" for b in _LLC_KINDS for a in _LLC_WORDS], dtype=object)
_LLC_KIND_OF = np.array([f" {b}" for b in _LLC_KINDS for _ in _LLC_WORDS], dtype=object)
_EMAIL_DOMAINS = (
    "example.com", "example.net", "example.org", "gmail.com", "yahoo.com", "hotmail.com",
    "outlook.com", "aol.com",
)  # fmt: skip
_EMAIL_DOMAIN_SHARE = (0.25, 0.15, 0.10, 0.25, 0.10, 0.05, 0.05, 0.05)

# Typed spellings of each latent category (all map back through the contract's alias tables),
# and free text the alias tables do not recognise (stored as other/unknown with a warning).
_TYPED_PROPERTY_TYPE = (
    ("Single Family", "single family", "House", "SFH", "single-family home", "SFR", "house"),
    ("Duplex", "duplex", "Multi-Family", "triplex", "Fourplex", "multifamily"),
    ("Condo", "condo", "Condominium", "apartment"),
    ("Townhouse", "townhome", "Town House"),
    ("Mobile Home", "mobile", "Manufactured", "trailer"),
    ("Land", "lot", "Vacant Land", "acreage"),
)
_ODD_PROPERTY_TYPE = ("barndominium", "cabin", "tiny home")
_TYPED_CONDITION = (
    ("Excellent", "like new", "Updated", "move-in ready", "renovated"),
    ("Good", "good", "GOOD"),
    ("Fair", "average", "OK", "needs some work", "dated"),
    ("Poor", "needs work", "fixer upper", "Needs repairs", "bad"),
    ("Distressed", "teardown", "fire damage", "major repairs", "uninhabitable"),
)
_ODD_CONDITION = ("it's a house", "meh", "depends who you ask")
_TYPED_OCCUPANCY = (
    ("Owner Occupied", "owner", "I live there", "primary residence", "owner-occupied"),
    ("Tenant Occupied", "rented", "Rental", "tenant", "leased"),
    ("Vacant", "vacant", "empty", "Unoccupied"),
)
_ODD_OCCUPANCY = ("my cousin stays there sometimes", "family")
_TYPED_MOTIVATION = (
    ("Foreclosure", "pre-foreclosure", "behind on payments", "facing foreclosure"),
    ("Divorce", "divorce", "going through a divorce", "separation"),
    ("Inherited", "inherited property", "probate", "Estate", "parent passed away"),
    ("Relocating", "job transfer", "moving out of state", "Relocation"),
    ("Financial", "need cash", "debt", "Bankruptcy"),
    ("Tired landlord", "bad tenants", "landlord", "tired of tenants"),
    ("Too many repairs", "repairs", "can't afford repairs", "Repairs"),
    ("Downsizing", "retiring", "empty nest", "downsize"),
    ("Back taxes", "taxes", "Tax problems", "owe property taxes"),
    ("Just curious", "curious", "testing the market"),
    ("Other", "other"),
)
_ODD_MOTIVATION = ("idk", "make me an offer", "need to sell fast", "personal reasons")
_TYPED_TIMELINE = (
    ("ASAP", "asap", "Immediately", "right away", "urgent", "this week"),
    ("30 days", "within 30 days", "1 month", "this month", "30"),
    ("90 days", "2-3 months", "3 months", "within 90 days", "1-3 months"),
    ("6 months", "3-6 months", "within 6 months", "six months"),
    ("12 months", "a year", "no rush", "1 year", "over a year"),
    ("not sure", "unsure", "just looking"),
)
_ODD_TIMELINE = ("as soon as possible", "whenever", "depends on the offer")
ODD_VALUE_SHARE = 0.04
_CONSENT = ("yes", "no", "Y", "N", "true", "1", "", "TRUE", "0", "false", "Yes", "No")
_CONSENT_SHARE = (0.2, 0.08, 0.12, 0.04, 0.1, 0.08, 0.2, 0.05, 0.03, 0.03, 0.05, 0.02)
_NOTES = (
    "Call after 5pm",
    "Needs new HVAC, foundation issues",
    'Seller said "make me an offer"',
    "Prefers text\nDo not call before 9am",
    "Inherited from mother; siblings agree to sell",
    "Wants to stay until end of school year",
    "Property has a pool",
    "Roof leaks, needs new AC",
    "Tenant pays $1,200/mo, lease ends in March",
    "Behind 3 payments on mortgage",
    "Has another offer, wants ours in writing",
    "Gate code 1234",
)
_COUNTY_TYPE = (
    ("SFR", "SINGLE FAMILY"), ("DUPLEX", "TRIPLEX", "FOURPLEX", "MFR"), ("CONDOMINIUM", "CONDO"),
    ("TOWNHOUSE",), ("MOBILE HOME",), ("VACANT LAND",),
)  # fmt: skip

_COUNTY_TYPE_FLAT = np.array(
    [row[i % len(row)] for row in _COUNTY_TYPE for i in range(4)], dtype=object
)
_FLAG_WORDS = np.array([w for pair in _FLAGS for w in pair], dtype=object)

STAGES = (
    "new", "contacted", "qualified", "appointment_set", "offer_made", "under_contract",
    "closed_won", "closed_lost",
)  # fmt: skip
_STAGE_SPELLINGS = (
    ("New", "new lead", "Lead", "created"),
    ("Contacted", "contact made", "called", "Reached"),
    ("Qualified", "qualify", "QUALIFIED"),
    ("appt set", "Appointment", "appointment scheduled", "Appt Set"),
    ("Offer", "offer sent", "Offer Made"),
    ("Contract", "in contract", "Pending", "Under Contract"),
    ("Closed", "won", "closed deal", "Purchased"),
    ("Lost", "dead", "not interested", "Closed - Lost"),
)
MESSY_STAGE_SHARE = 0.06
# Median days between stages (contacted, qualified, appointment_set, offer_made,
# under_contract) for leads that convert; the others move 1.6x slower.
STAGE_GAP_MEDIAN_DAYS = (0.125, 1.5, 2.0, 3.0, 5.0)
# Where leads that do not convert stop: new, contacted, qualified, appointment_set, offer_made.
DROP_OFF_SHARE = (0.22, 0.30, 0.20, 0.13, 0.15)

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

# received_at / occurred_at formats: (code, truncation in seconds).
_ISO_Z, _SPACE, _US_DATE, _US_AMPM, _EPOCH, _OFFSET, _ISO_DATE, _US_SEC, _US_MIN = range(9)
_TRUNCATE = np.array([1, 1, DAY, 60, 1, 1, DAY, 1, 60], dtype=np.int64)
_SOURCE_TIME_FORMAT = (_ISO_Z, _SPACE, _US_DATE, _US_AMPM, _EPOCH, _OFFSET, _ISO_DATE, _US_SEC)
_CENTRAL_STATES = {"TX", "TN", "AL"}


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
) -> BookSummary:
    """Write a synthetic book of ``n_leads`` leads into ``out_dir`` (see the module docstring).

    Every timestamp is before midnight UTC starting ``as_of`` (default: today, UTC), which must
    not be in the future. ``progress`` is called with the number of rows written so far (all
    three files together) about every 10,000 rows. With ``truth``, ``out_dir/truth/`` also gets
    row-aligned answer keys: each lead's latent attributes, conversion probability and defect,
    and each event's and property row's defect and lead.
    """
    if n_leads < 0:
        raise ValueError("n_leads must not be negative")
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
    book = _Book(n_leads, seed, horizon)
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
        for columns, lead_row, defect in book.event_rows():
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


# --------------------------------------------------------------------------------------------
# Small vectorised helpers


def _obj(values: Sequence[Any]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


def _blank(n: int) -> np.ndarray:
    out = np.empty(n, dtype=object)
    out[:] = ""
    return out


def _put(out: np.ndarray, idx: np.ndarray, values: list) -> None:
    if len(idx):
        out[idx] = _obj(values)


def _p(shares: Sequence[float]) -> np.ndarray:
    p = np.asarray(shares, dtype=float)
    return p / p.sum()


def _title(word: str) -> str:
    return " ".join(w.lower() if w[:1].isdigit() else w.capitalize() for w in word.split())


def _permute(x: np.ndarray, n: int, key: int) -> np.ndarray:
    """A keyed pseudo-random bijection of [0, n) (so distinct x give distinct results)."""
    bits = max(8, int(n - 1).bit_length())
    mask = np.uint64((1 << bits) - 1)
    half = np.uint64(bits // 2 + 1)
    keys = [np.uint64(k) & mask for k in np.random.default_rng(key).integers(0, 2**62, 6)]
    mults = [
        np.uint64(m | 1) & mask
        for m in (0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB)
    ]

    def mix(y: np.ndarray) -> np.ndarray:
        for r in range(3):
            y = (y + keys[2 * r]) & mask
            y = (y * mults[r]) & mask
            y = y ^ (y >> half)
            y = y ^ keys[2 * r + 1]
        return y

    out = mix(np.asarray(x, dtype=np.uint64) % np.uint64(n))
    todo = np.flatnonzero(out >= np.uint64(n))
    while len(todo):  # cycle-walk back into range
        out[todo] = mix(out[todo])
        todo = todo[out[todo] >= np.uint64(n)]
    return out.astype(np.int64)


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


def _typed(
    rng,
    truth: np.ndarray,
    table: Sequence[Sequence[str]],
    odd: Sequence[str],
    stated: np.ndarray,
    canonical_share: float = 0.5,
) -> np.ndarray:
    """The latent category ``truth`` as people type it; blank where not ``stated``."""
    n = len(truth)
    out = _blank(n)
    flat = [s for row in table for s in row]
    start = np.cumsum([0] + [len(row) for row in table])[:-1]
    width = np.array([len(row) for row in table])
    k = np.where(
        rng.random(n) < canonical_share, 0, (rng.random(n) * width[truth]).astype(np.int64)
    )
    chosen = _obj(flat)[start[truth] + k]
    odd_mask = rng.random(n) < ODD_VALUE_SHARE
    chosen[odd_mask] = _obj(odd)[rng.integers(0, len(odd), int(odd_mask.sum()))]
    out[stated] = chosen[stated]
    return out


def _money_text(rng, amounts: np.ndarray) -> list[str]:
    styles = rng.choice(6, len(amounts), p=_p((0.3, 0.15, 0.25, 0.15, 0.05, 0.1)))
    formats = (
        "${:,}".format,
        lambda v: f"{v // 1000}k",
        str,
        "{:,}".format,
        lambda v: f"${v // 1000}k",
        "{}.00".format,
    )
    return [
        "0" if v == 0 else formats[s](v) if v % 1000 == 0 or s not in (1, 4) else f"${v:,}"
        for s, v in zip(styles.tolist(), amounts.tolist(), strict=True)
    ]


def _typos(values: np.ndarray, idx: np.ndarray, rng, skip_first_word: bool) -> None:
    """Swap, drop or double one letter in each of ``values[idx]``."""
    u = rng.random(len(idx)).tolist()
    kinds = rng.integers(0, 3, len(idx)).tolist()
    for i, uu, kind in zip(idx.tolist(), u, kinds, strict=True):
        s = values[i]
        start = s.find(" ") + 1 if skip_first_word else 0
        letters = [j for j in range(start, len(s)) if s[j].isalpha()]
        if len(letters) < 4:
            continue
        j = letters[int(uu * (len(letters) - 1))]
        if kind == 0 and j + 1 < len(s) and s[j + 1].isalpha():
            s = s[:j] + s[j + 1] + s[j] + s[j + 2 :]
        elif kind == 1:
            s = s[:j] + s[j + 1 :]
        else:
            s = s[:j] + s[j] + s[j:]
        values[i] = s


# --------------------------------------------------------------------------------------------
# Geography: fixed for every book (the same county, whatever the seed).


class _Geo:
    def __init__(self) -> None:
        rng = np.random.default_rng(20_240_101)
        combos = len(_STREET_NAMES) * len(_SUFFIXES) * len(_DIRECTIONS)
        p_combo = (
            np.full(len(_STREET_NAMES), 1 / len(_STREET_NAMES))[:, None, None]
            * _p(_SUFFIX_SHARE)[None, :, None]
            * _p(_DIRECTION_SHARE)[None, None, :]
        ).ravel()
        names, sufs, dirs, zips, market_of = [], [], [], [], []
        for m, (_, _, zip3s, _, _, n_streets, _) in enumerate(MARKETS):
            pick = rng.choice(combos, n_streets, replace=False, p=p_combo)
            name, rest = np.divmod(pick, len(_SUFFIXES) * len(_DIRECTIONS))
            suf, d = np.divmod(rest, len(_DIRECTIONS))
            names.append(name)
            sufs.append(suf)
            dirs.append(d)
            z3 = rng.integers(0, len(zip3s), n_streets)
            z2 = rng.integers(1, 46, n_streets)
            zips.extend(f"{zip3s[a]}{b:02d}" for a, b in zip(z3.tolist(), z2.tolist(), strict=True))
            market_of.append(np.full(n_streets, m))
        self.street_name = np.concatenate(names)
        self.street_suffix = np.concatenate(sufs)
        self.street_dir = np.concatenate(dirs)
        self.street_zip = _obj(zips)
        self.street_market = np.concatenate(market_of)
        counts = np.array([mk[5] for mk in MARKETS])
        self.street_base = np.concatenate([[0], np.cumsum(counts)[:-1]])
        self.street_count = counts
        self.n_slots = int(counts.sum()) * _HOUSE_NUMBERS
        self.num = _obj([str(i) for i in range(100_000)])
        self.pad2 = _obj([f"{i:02d}" for i in range(100)])
        self.pad3 = _obj([f"{i:03d}" for i in range(1_000)])
        self.pad4 = _obj([f"{i:04d}" for i in range(10_000)])
        self.halves = _obj([f"{i / 2:.1f}" for i in range(101)])
        self.city = _obj([mk[0] for mk in MARKETS])
        self.city_upper = _obj([mk[0].upper() for mk in MARKETS])
        self.state = _obj([mk[1] for mk in MARKETS])
        self.state_name = _obj([STATES[mk[1]] for mk in MARKETS])
        self.ppsf = np.array([mk[4] for mk in MARKETS], dtype=float)
        self.flags = np.array([mk[6][0] for mk in MARKETS])
        self.date_style = np.array([mk[6][1] for mk in MARKETS])
        self.unit_word = _obj([mk[6][2] for mk in MARKETS])
        self.comma = np.array([mk[6][3] for mk in MARKETS])
        self.zip4_share = np.array([mk[6][4] for mk in MARKETS])
        self.assess_ratio = np.array([mk[6][5] for mk in MARKETS])
        self.utc_offset = np.array([6 if mk[1] in _CENTRAL_STATES else 5 for mk in MARKETS])
        codes = list(dict.fromkeys([c for mk in MARKETS for c in mk[3]] + list(_OTHER_AREA_CODES)))
        self.area_codes = _obj(codes)
        # County and typed spellings of street parts.
        upper = list(_STREET_NAMES)
        title = [_title(s) for s in upper]
        lower = [s.lower() for s in upper]
        abbr = [a for a, _ in _SUFFIXES]
        full = [f for _, f in _SUFFIXES]
        dabbr = [a for a, _ in _DIRECTIONS]
        dfull = [f for _, f in _DIRECTIONS]

        def d(words, fmt):
            return tuple(fmt.format(w) if w else "" for w in words)

        self.county_parts = (d(dabbr, "{} "), tuple(upper), d(abbr, " {}"))
        # Lead styles: (direction, name, suffix, unit prefix).
        self.lead_styles = (
            (d(dfull, "{} "), tuple(title), d(full, " {}"), (" Apt ", " Unit ")),
            (d([s.lower() for s in dabbr], "{} "), tuple(lower),
             d([s.lower() for s in abbr], " {}"), (" #", " apt ")),
            (d(dabbr, "{}. "), tuple(title), d([s.title() for s in abbr], " {}."),
             (", Unit ", ", Apt ")),
            (d(dabbr, "{} "), tuple(title), d([s.title() for s in abbr], " {}"),
             (" Apt ", " #")),
            (d(dabbr, "{} "), tuple(upper), d(abbr, " {}"), (" UNIT ", " APT ")),
            (("",) * len(dabbr), tuple(title), d([s.title() for s in abbr], " {}"),
             (" #", " Apt ")),
            (d(dabbr, "{} "), tuple(title), ("",) * len(abbr), (" #", " Unit ")),
        )  # fmt: skip
        self.lead_style_share = _p((0.18, 0.18, 0.14, 0.2, 0.12, 0.1, 0.08))


_GEO: _Geo | None = None


def _geo() -> _Geo:
    global _GEO
    if _GEO is None:
        _GEO = _Geo()
    return _GEO


# --------------------------------------------------------------------------------------------
# The book


class _Book:
    """Book-wide draws (arrival times, sources, ids, which rows are bad), then chunk by chunk."""

    def __init__(self, n: int, seed: int, horizon: int):
        self.n = n
        self.seed = seed
        self.horizon = horizon
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
        n_bad = round(BAD_LEAD_SHARE * n)
        self.defect = np.full(n, -1)
        bad_idx = rng.choice(n, n_bad, replace=False) if n_bad else np.zeros(0, np.int64)
        self.defect[bad_idx] = rng.integers(0, len(LEAD_DEFECTS), n_bad)
        # External ids: per-source sequences in arrival order; list imports often have none.
        self.has_id = rng.random(n) >= np.asarray(_NO_ID_SHARE)[self.source]
        seq = np.zeros(n, dtype=np.int64)
        offsets = rng.integers(1_000, 60_000, len(SOURCES))
        for s in range(len(SOURCES)):
            idx = np.flatnonzero(self.source == s)
            seq[idx] = offsets[s] + np.arange(len(idx))
        self.seq = seq
        ids = [
            (f"{_ID_PREFIX[s]}{q:06d}" if s != 7 else str(4_100_000 + q)) if h else ""
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
        n_bad_props = max(2, round(BAD_PROPERTY_SHARE * (n_extra + IN_ROLL_SHARE * n)))
        self.property_defect = np.full(n_extra, -1)
        if n_extra:
            k = min(n_extra, n_bad_props * len(PROPERTY_DEFECTS))
            bad = rng.choice(n_extra, k, replace=False)
            self.property_defect[bad] = np.arange(k) % len(PROPERTY_DEFECTS)
        # Stage events, collected numerically and written (sorted by time) at the end.
        self.ev_lead: list[np.ndarray] = []
        self.ev_stage: list[np.ndarray] = []
        self.ev_time: list[np.ndarray] = []

    # ----------------------------------------------------------------------------------------

    def chunk(self, k: int, lo: int, hi: int) -> _Chunk:
        rng = np.random.default_rng([self.seed, 1, k])
        return _Chunk(self, rng, k, lo, hi)

    def event_rows(self):
        """(columns, lead row, defect code) of stage_events.csv, EVENT_CHUNK rows at a time,
        sorted by time."""
        rng = np.random.default_rng([self.seed, 2])
        lead = np.concatenate(self.ev_lead) if self.ev_lead else np.zeros(0, np.int64)
        stage = np.concatenate(self.ev_stage) if self.ev_stage else np.zeros(0, np.int64)
        when = np.concatenate(self.ev_time) if self.ev_time else np.zeros(0, np.int64)
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
            src = self.source[ld]
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
            ext = self.external_id_arr[ld]
            stages = canon_stage[st]
            for v in range(4):
                idx = np.flatnonzero(spelled[sl] & (variant[sl] == v))
                stages[idx] = spellings[v][st[idx]]
            times = _obj(_format_times(when[sl], fmt[sl]))
            bad = np.flatnonzero(d >= 0)
            bc = bad_choice[sl]
            for i in bad.tolist():
                kind = EVENT_DEFECTS[d[i]]
                if kind == "unknown_stage":
                    stages[i] = _BAD_STAGES[bc[i] % len(_BAD_STAGES)]
                elif kind == "unknown_lead":
                    s = int(src[i])
                    # An id this source never sent (beyond its sequence).
                    q = self.next_seq[s] + 500_000 + int(bc[i])
                    ext[i] = f"{_ID_PREFIX[s]}{q:06d}" if s != 7 else str(4_100_000 + q)
                elif kind == "no_lead_ref":
                    sources[i] = ""
                    ext[i] = ""
                else:
                    times[i] = _BAD_OCCURRED[bc[i] % len(_BAD_OCCURRED)]
            columns = [sources.tolist(), ext.tolist(), stages.tolist(), times.tolist()]
            yield columns, ld + 1, d


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


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
        self.timeline = self._timeline()
        self.contacts()
        self.latent()
        self.lead_columns = self.leads()
        self.property_columns = self.properties(
            n_extra, book.property_defect[extra_lo : extra_lo + n_extra]
        )
        self.n_converted = self.events()

    # ----------------------------------------------------------------------------------------

    def _timeline(self) -> np.ndarray:
        rng, m = self.rng, self.motivation
        base = np.tile(_p((0.16, 0.2, 0.22, 0.14, 0.12, 0.16)), (self.n, 1))
        urgent = np.isin(m, [0, 8])  # foreclosure, tax_problems
        base[urgent] = _p((0.4, 0.3, 0.15, 0.05, 0.02, 0.08))
        base[m == 9] = _p((0.02, 0.05, 0.12, 0.2, 0.36, 0.25))  # curious
        base[m == 1] = _p((0.25, 0.3, 0.2, 0.1, 0.05, 0.1))  # divorce
        u = rng.random(self.n)[:, None]
        return (u > np.cumsum(base, axis=1)).sum(axis=1).clip(0, len(TIMELINES) - 1)

    def contacts(self) -> None:
        """Email and phone states (0 valid, 1 invalid, 2 missing) by source."""
        rng, n, src = self.rng, self.n, self.source
        email_p = np.array(
            [[.88, .06, .06], [.85, .07, .08], [.45, .04, .51], [.30, .03, .67],
             [.25, .03, .72], [.70, .03, .27], [.35, .10, .55], [.75, .10, .15]]
        )  # fmt: skip
        phone_p = np.array(
            [[.78, .08, .14], [.80, .08, .12], [.85, .05, .10], [.95, .03, .02],
             [.93, .05, .02], [.90, .03, .07], [.75, .15, .10], [.70, .15, .15]]
        )  # fmt: skip
        u = rng.random((n, 2))
        self.email_state = (u[:, :1] > np.cumsum(email_p[src], axis=1)).sum(axis=1).clip(0, 2)
        self.phone_state = (u[:, 1:] > np.cumsum(phone_p[src], axis=1)).sum(axis=1).clip(0, 2)
        both_missing = (self.email_state == 2) & (self.phone_state == 2)
        self.phone_state[both_missing] = np.where(rng.random(int(both_missing.sum())) < 0.85, 0, 1)

    def latent(self) -> None:
        rng, p, n = self.rng, self.parcels, self.n
        cm = CONVERSION_MODEL
        # The seller's price expectation relative to value; some are dreamers.
        ratio = np.exp(rng.normal(0.02, 0.15, n))
        dreamer = rng.random(n) < 0.1
        ratio[dreamer] = rng.uniform(1.3, 2.0, int(dreamer.sum()))
        distressed = np.isin(self.motivation, [0, 4, 8])
        ratio[distressed] *= 0.9
        self.asking_ratio = ratio
        value = p.value[:n]
        equity = np.clip((value - p.mortgage[:n]) / value, -0.5, 1.0)
        self.equity = equity
        self.random_effect = rng.normal(0, cm["random_effect_sd"], n)

        def table(key: str, names: Sequence[str]) -> np.ndarray:
            return np.array([cm[key][name] for name in names])

        logit = (
            cm["intercept"]
            + cm["equity_ratio"] * equity
            + table("motivation", MOTIVATIONS)[self.motivation]
            + table("timeline", TIMELINES)[self.timeline]
            + table("condition", CONDITIONS)[p.condition[:n]]
            + cm["vacant"] * (p.occupancy[:n] == 2)
            + cm["tax_delinquent"] * p.tax_delinquent[:n]
            + cm["in_foreclosure"] * p.in_foreclosure[:n]
            + cm["absentee_owner"] * p.absentee[:n]
            + table("source", SOURCES)[self.source]
            + cm["phone_unusable"] * (self.phone_state != 0)
            + cm["email_unusable"] * (self.email_state != 0)
            + cm["no_usable_contact"] * ((self.phone_state != 0) & (self.email_state != 0))
            + cm["asking_premium"] * np.clip(ratio - 1.0, 0.0, 1.0)
            + self.random_effect
        )
        self.p_convert = _sigmoid(logit)
        self.will_convert = (rng.random(n) < self.p_convert) & ~self.bad

    # ----------------------------------------------------------------------------------------

    def leads(self) -> list[list[str]]:
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
        self._names(cols)
        self._contact_text(cols)
        self._address_text(cols)
        self._property_text(cols)
        self._defects(cols)
        blank = _blank(n)
        return [cols.get(c, blank).tolist() for c in LEAD_COLUMNS]

    def _names(self, cols: dict) -> None:
        rng, n, p = self.rng, self.n, self.parcels
        otype = p.owner_type[:n]
        # Who fills in the form: 0 owner, 1 relative, 2 someone else (agent, member), 3 tenant.
        rel = np.where(rng.random(n) < 0.8, 0, rng.choice([1, 2, 3], n, p=[0.4, 0.35, 0.25]))
        rel[(rel == 3) & (p.occupancy[:n] != 1)] = 0
        inherited = self.motivation == 2
        rel[inherited & (rng.random(n) < 0.45)] = 1
        rel[otype == 3] = np.where(rng.random(int((otype == 3).sum())) < 0.85, 1, 2)  # estate
        rel[otype == 1] = 2  # LLC: a member or manager
        trust = otype == 2
        rel[trust] = np.where(rng.random(int(trust.sum())) < 0.5, 1, 2)
        first = np.where(rel == 0, p.first[:n], rng.integers(0, len(_FIRST), n))
        last = np.where(rel <= 1, p.last[:n], rng.integers(0, len(_LAST), n))
        self.relation = rel
        first_txt = _obj([_title(s) for s in _FIRST])[first]
        nick = np.flatnonzero(rng.random(n) < 0.15)
        first_txt[nick] = _obj(
            [_NICKNAMES.get(_FIRST[f], _title(_FIRST[f])) for f in first[nick].tolist()]
        )
        last_txt = _obj([_title(s) for s in _LAST])[last]
        case = rng.choice(4, n, p=[0.82, 0.08, 0.05, 0.05])
        for arr in (first_txt, last_txt):
            lower = np.flatnonzero(case == 1)
            arr[lower] = _obj([s.lower() for s in arr[lower].tolist()])
            upper = np.flatnonzero(case == 2)
            arr[upper] = _obj([s.upper() for s in arr[upper].tolist()])
            arr[case == 3] = ""
        full = np.flatnonzero((rng.random(n) < 0.03) & (case != 3))
        first_txt[full] = _obj(
            [
                f"{a} {b}"
                for a, b in zip(first_txt[full].tolist(), last_txt[full].tolist(), strict=True)
            ]
        )
        last_txt[full] = ""
        cols["first_name"] = first_txt
        cols["last_name"] = last_txt
        self.first, self.last = first, last

    def _contact_text(self, cols: dict) -> None:
        rng, n, book = self.rng, self.n, self.book
        g = book.geo
        # Email: name-based local part, a unique-ish number, mostly example/free-mail domains.
        f_low = _obj([s.lower().replace("'", "").replace(" ", "") for s in _FIRST])[self.first]
        l_low = _obj([s.lower().replace("'", "").replace(" ", "") for s in _LAST])[self.last]
        num = _permute(self.idx, 10_000, book.key_email)
        style = rng.integers(0, 5, n)
        dom = _obj(_EMAIL_DOMAINS)[rng.choice(len(_EMAIL_DOMAINS), n, p=_p(_EMAIL_DOMAIN_SHARE))]
        local_fmt = (
            lambda f, last, k: f"{f}.{last}",
            lambda f, last, k: f"{f[0]}{last}{k % 100}",
            lambda f, last, k: f"{f}{last}{k}",
            lambda f, last, k: f"{last}.{f}{k % 1000}",
            lambda f, last, k: f"{f}_{last}{k % 100:02d}",
        )
        emails = [
            f"{local_fmt[s](a, b, k)}@{d}"
            for s, a, b, k, d in zip(
                style.tolist(),
                f_low.tolist(),
                l_low.tolist(),
                num.tolist(),
                dom.tolist(),
                strict=True,
            )
        ]
        emails_arr = _obj(emails)
        # Typed variously: capitalised, surrounding spaces.
        caps = np.flatnonzero(rng.random(n) < 0.08)
        emails_arr[caps] = _obj([e.capitalize() for e in emails_arr[caps].tolist()])
        spaced = np.flatnonzero(rng.random(n) < 0.03)
        emails_arr[spaced] = _obj([f" {e} " for e in emails_arr[spaced].tolist()])
        invalid = np.flatnonzero(self.email_state == 1)
        kinds = rng.integers(0, 5, len(invalid)).tolist()
        broken = []
        for e, kind in zip(emails_arr[invalid].tolist(), kinds, strict=True):
            e = e.strip()
            local, _, domain = e.partition("@")
            broken.append(
                (
                    f"{local}.{domain}",  # no @
                    f"{local}@{domain.split('.')[0]}",  # no TLD
                    f"{local[:2]} {local[2:]}@{domain}",  # a space
                    f"{local}@@{domain}",
                    f"{local}@{domain},",
                )[kind]
            )
        _put(emails_arr, invalid, broken)
        emails_arr[self.email_state == 2] = ""
        cols["email"] = emails_arr
        # Phone: <area code>-555-<line>, unique per lead (up to len(area codes) * 10,000).
        slot = _permute(self.idx, len(g.area_codes) * 10_000, book.key_phone)
        ac = g.area_codes[slot // 10_000].tolist()
        line = (slot % 10_000).tolist()
        pstyle = rng.choice(7, n, p=_p((0.3, 0.12, 0.1, 0.18, 0.18, 0.06, 0.06))).tolist()
        phone_fmt = (
            "({}) 555-{:04d}",
            "{}.555.{:04d}",
            "+1 {} 555 {:04d}",
            "{}555{:04d}",
            "{}-555-{:04d}",
            "1-{}-555-{:04d}",
            "{} 555 {:04d}",
        )
        phones = _obj([phone_fmt[s].format(a, b) for s, a, b in zip(pstyle, ac, line, strict=True)])
        invalid = np.flatnonzero(self.phone_state == 1)
        kinds = rng.integers(0, 4, len(invalid)).tolist()
        bad_phones = [
            (
                f"{a}-555-{b:04d}"[:-2],  # two digits short
                f"555-{b:04d}"[:-1],  # seven digits typed, one lost
                "n/a",
                f"{a}555{b:04d}7",  # a digit too many
            )[kind]
            for kind, a, b in zip(
                kinds, [ac[i] for i in invalid], [line[i] for i in invalid], strict=True
            )
        ]
        _put(phones, invalid, bad_phones)
        phones[self.phone_state == 2] = ""
        cols["phone"] = phones

    def _address_text(self, cols: dict) -> None:
        rng, n, g, p = self.rng, self.n, self.book.geo, self.parcels
        style = rng.choice(len(g.lead_styles), n, p=g.lead_style_share).tolist()
        unit_pick = rng.integers(0, 2, n).tolist()
        streets = _obj(
            [
                f"{num} {st[0][d]}{st[1][nm]}{st[2][sf]}" + (f"{st[3][up]}{unit}" if unit else "")
                for num, d, nm, sf, unit, st, up in zip(
                    p.number[:n].tolist(),
                    p.dir[:n].tolist(),
                    p.name[:n].tolist(),
                    p.suffix[:n].tolist(),
                    p.unit[:n].tolist(),
                    [g.lead_styles[s] for s in style],
                    unit_pick,
                    strict=True,
                )
            ]
        )
        typo = np.flatnonzero(rng.random(n) < 0.05)
        _typos(streets, typo, rng, skip_first_word=True)
        spaces = np.flatnonzero(rng.random(n) < 0.08)
        where = rng.integers(0, 3, len(spaces)).tolist()
        streets[spaces] = _obj(
            [
                (s.replace(" ", "  ", 1), f"{s} ", f" {s}")[w]
                for s, w in zip(streets[spaces].tolist(), where, strict=True)
            ]
        )
        cols["property_street"] = streets
        self.lead_street = streets
        market = p.market[:n]
        # City: any case, the odd typo; State: code, lower case or the name; ZIP: 5, +4, etc.
        ccase = rng.choice(4, n, p=[0.6, 0.2, 0.15, 0.05])
        city = g.city[market]
        city = np.where(ccase == 1, g.city_upper[market], city)
        lower = np.flatnonzero(ccase == 2)
        city[lower] = _obj([c.lower() for c in city[lower].tolist()])
        _typos(city, np.flatnonzero(ccase == 3), rng, skip_first_word=False)
        scase = rng.choice(6, n, p=[0.6, 0.1, 0.15, 0.05, 0.05, 0.05])
        state = g.state[market].copy()
        state = np.where(scase == 1, _obj([s.lower() for s in g.state.tolist()])[market], state)
        state = np.where(scase == 2, g.state_name[market], state)
        state = np.where(
            scase == 3, _obj([s.lower() for s in g.state_name.tolist()])[market], state
        )
        state = np.where(scase == 4, _obj([f" {s} " for s in g.state.tolist()])[market], state)
        state = np.where(scase == 5, _obj([s.title() for s in g.state.tolist()])[market], state)
        zips = p.zip5[:n].copy()
        wrong = np.flatnonzero(rng.random(n) < 0.02)  # a neighbouring ZIP
        zips[wrong] = _obj(
            [
                f"{int(z) + d:05d}"
                for z, d in zip(
                    zips[wrong].tolist(), rng.choice([-1, 1], len(wrong)).tolist(), strict=True
                )
            ]
        )
        zstyle = rng.choice(5, n, p=[0.75, 0.1, 0.03, 0.02, 0.10])
        plus4 = rng.integers(1, 10_000, n)
        zt = zips.copy()
        i = np.flatnonzero(zstyle == 1)
        zt[i] = _obj(
            [f"{z}-{q:04d}" for z, q in zip(zips[i].tolist(), plus4[i].tolist(), strict=True)]
        )
        i = np.flatnonzero(zstyle == 2)
        zt[i] = _obj(
            [f"{z}{q:04d}" for z, q in zip(zips[i].tolist(), plus4[i].tolist(), strict=True)]
        )
        i = np.flatnonzero(zstyle == 3)
        zt[i] = _obj([f"{z}.0" for z in zips[i].tolist()])
        lead_zero = np.flatnonzero(
            np.array([z.startswith("0") for z in zips.tolist()], dtype=bool) & (rng.random(n) < 0.4)
        )
        zt[lead_zero] = _obj([z.lstrip("0") for z in zips[lead_zero].tolist()])
        # Blank parts, keeping the address complete: ZIP, or city and state.
        missing = rng.random(n)
        zt[(zstyle == 4) & (missing < 0.5)] = ""
        no_zip = zt == ""
        city[~no_zip & (missing > 0.95)] = ""
        state[~no_zip & (missing > 0.9) & (missing <= 0.95)] = ""
        cols["property_city"] = city
        cols["property_state"] = state
        cols["property_zip"] = zt

    def _property_text(self, cols: dict) -> None:
        rng, n, p = self.rng, self.n, self.parcels
        src = self.source
        sparse = src == 6  # list imports carry little seller input
        stated_rate = np.where(sparse, 0.15, 1.0)

        def stated(rate: float) -> np.ndarray:
            return rng.random(n) < rate * stated_rate

        ptype = p.ptype[:n]
        land = ptype == 5
        cols["property_type"] = _typed(
            rng, ptype, _TYPED_PROPERTY_TYPE, _ODD_PROPERTY_TYPE, stated(0.65)
        )
        beds = p.beds[:n] + np.where(rng.random(n) < 0.1, rng.choice([-1, 1], n), 0)
        beds = np.maximum(beds, 0)
        bstyle = rng.random(n) < 0.05
        txt = _obj(
            [f"{b}.0" if s else str(b) for b, s in zip(beds.tolist(), bstyle.tolist(), strict=True)]
        )
        cols["bedrooms"] = np.where(stated(0.7) & ~land, txt, "")
        baths = p.baths[:n]
        txt = _obj([f"{b:g}" for b in baths.tolist()])
        cols["bathrooms"] = np.where(stated(0.55) & ~land, txt, "")
        sqft = p.sqft[:n]
        approx = np.where(rng.random(n) < 0.5, np.round(sqft / 100) * 100, sqft).astype(int)
        comma = rng.random(n) < 0.4
        txt = _obj(
            [
                f"{s:,}" if c else str(s)
                for s, c in zip(approx.tolist(), comma.tolist(), strict=True)
            ]
        )
        cols["square_feet"] = np.where(stated(0.4) & ~land, txt, "")
        year = np.where(rng.random(n) < 0.3, p.year[:n] // 5 * 5, p.year[:n])
        cols["year_built"] = np.where(
            stated(0.3) & ~land, _obj([str(y) for y in year.tolist()]), ""
        )
        ask = np.round(p.value[:n] * self.asking_ratio / 5_000).astype(np.int64) * 5_000
        ask = np.maximum(ask, 5_000)
        cols["asking_price"] = np.where(stated(0.55), _obj(_money_text(rng, ask)), "")
        mort = (np.round(p.mortgage[:n] * np.exp(rng.normal(0, 0.08, n)) / 1_000) * 1_000).astype(
            np.int64
        )
        cols["mortgage_balance"] = np.where(stated(0.35), _obj(_money_text(rng, mort)), "")
        cols["condition"] = _typed(
            rng, p.condition[:n], _TYPED_CONDITION, _ODD_CONDITION, stated(0.65)
        )
        cols["occupancy"] = _typed(
            rng, p.occupancy[:n], _TYPED_OCCUPANCY, _ODD_OCCUPANCY, stated(0.6)
        )
        cols["motivation"] = _typed(
            rng, self.motivation, _TYPED_MOTIVATION, _ODD_MOTIVATION, stated(0.75)
        )
        cols["timeline"] = _typed(rng, self.timeline, _TYPED_TIMELINE, _ODD_TIMELINE, stated(0.75))
        consent = _obj(_CONSENT)
        cols["consent_email"] = consent[rng.choice(len(_CONSENT), n, p=_p(_CONSENT_SHARE))]
        cols["consent_sms"] = consent[rng.choice(len(_CONSENT), n, p=_p(_CONSENT_SHARE))]
        notes = _obj(_NOTES)[rng.integers(0, len(_NOTES), n)]
        cols["notes"] = np.where(rng.random(n) < 0.15, notes, "")

    def _defects(self, cols: dict) -> None:
        bad = np.flatnonzero(self.bad)
        if not len(bad):
            return
        pick = self.rng.integers(0, 1_000, len(bad)).tolist()
        for i, v in zip(bad.tolist(), pick, strict=True):
            kind = LEAD_DEFECTS[self.defect[i]]
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

    # ----------------------------------------------------------------------------------------

    def properties(self, n_extra: int, extra_defect: np.ndarray) -> list[list[str]]:
        """County records of the leads' parcels in the roll and of the extras, shuffled."""
        rng, n, p = self.rng, self.n, self.parcels
        self.in_roll = rng.random(n) < IN_ROLL_SHARE
        keep = np.concatenate([self.in_roll, np.ones(n_extra, dtype=bool)])
        selected = np.flatnonzero(keep)
        selected = selected[rng.permutation(len(selected))]
        defect = np.concatenate([np.full(n, -1), extra_defect])[selected]
        columns = p.county_columns(rng, selected, defect)
        self.property_lead_row = np.concatenate([self.idx + 1, np.zeros(n_extra, np.int64)])[
            selected
        ]
        self.property_defect = defect
        return [c.tolist() for c in columns]

    # ----------------------------------------------------------------------------------------

    def events(self) -> int:
        """Funnel events for good leads with an external id; returns how many converted."""
        rng, n, book = self.rng, self.n, self.book
        horizon = book.horizon
        will, t0 = self.will_convert, self.received
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
        u = rng.random(n) ** (1.0 / (1.0 + 6.0 * self.p_convert))
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
        has = ~self.bad & book.has_id[self.lo : self.hi]
        lead_ix, stage_ix, when = [], [], []
        base = self.idx
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
        book.ev_lead.append(lead_a[keep])
        book.ev_stage.append(stage_a[keep])
        book.ev_time.append(when_a[keep])
        self.converted = has & will & (times[:, 4] < horizon)
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
                strict=True,
            )
        )


class _Parcels:
    """Parcels (lead parcels first, then extras): where, what, worth, owed, owned by whom."""

    def __init__(
        self, rng, g: _Geo, book: _Book, ids: np.ndarray, motivation: np.ndarray, n_lead: int
    ):
        n = len(ids)
        self.n = n
        mot = motivation
        is_lead = np.arange(n) < n_lead
        slot = _permute(ids, g.n_slots, book.key_address)
        street_global, local_num = np.divmod(slot, _HOUSE_NUMBERS)
        self.number = local_num + 100
        self.market = g.street_market[street_global]
        self.name = g.street_name[street_global]
        self.suffix = g.street_suffix[street_global]
        self.dir = g.street_dir[street_global]
        self.zip5 = g.street_zip[street_global]
        apn = _permute(ids, 10**10, book.key_apn)
        a, rest = np.divmod(apn, 10**6)
        b, c = np.divmod(rest, 1_000)
        self.apn = g.pad4[a] + "-" + g.pad3[b] + "-" + g.pad3[c]
        # What: type, size, age, condition.
        self.ptype = rng.choice(len(PROPERTY_TYPES), n, p=_p(PROPERTY_TYPE_SHARE))
        unit = np.where(self.ptype == 2, rng.integers(1, 49, n), 0)
        unit = np.where((self.ptype == 3) & (rng.random(n) < 0.2), rng.integers(1, 30, n), unit)
        self.unit = unit
        median_sqft = np.array([1650, 2400, 1000, 1400, 1100, 0])[self.ptype]
        sqft = (median_sqft * np.exp(rng.normal(0, 0.28, n)) / 10).round() * 10
        self.sqft = np.clip(sqft, 400, 99_990).astype(np.int64)
        self.beds = np.clip(np.round(self.sqft / 560 + rng.normal(0, 0.6, n)), 1, 8).astype(int)
        self.baths = np.clip(np.round((self.beds * 0.6 + rng.normal(0.3, 0.4, n)) * 2) / 2, 1, 6)
        horizon_year = int(np.datetime64(book.horizon, "s").astype("datetime64[Y]").astype(int))
        horizon_year += 1970
        self.year = np.clip(rng.normal(1978, 22, n), 1900, horizon_year - 1).astype(int)
        self.year[self.ptype == 4] = np.clip(self.year[self.ptype == 4], 1976, None)
        age = horizon_year - self.year
        cond_p = np.tile(_p((0.1, 0.32, 0.3, 0.2, 0.08)), (n, 1))
        cond_p[age > 50] = _p((0.05, 0.2, 0.32, 0.28, 0.15))
        cond_p[age < 15] = _p((0.3, 0.45, 0.18, 0.05, 0.02))
        cond_p[mot == 6] = _p((0.0, 0.05, 0.25, 0.45, 0.25))  # repairs
        self.condition = (rng.random(n)[:, None] > np.cumsum(cond_p, axis=1)).sum(1).clip(0, 4)
        # Worth: $/sq ft by market, condition; land by the lot.
        cond_factor = np.array([1.12, 1.0, 0.92, 0.8, 0.62])[self.condition]
        type_factor = np.array([1.0, 0.85, 1.05, 1.0, 0.45, 0.0])[self.ptype]
        ppsf = g.ppsf[self.market]
        value = ppsf * self.sqft * type_factor * cond_factor * np.exp(rng.normal(0, 0.22, n))
        land_value = 45_000 * ppsf / 180 * np.exp(rng.normal(0, 0.6, n))
        value = np.where(self.ptype == 5, land_value, value)
        self.value = np.maximum(np.round(value / 1_000) * 1_000, 15_000)
        # Last sale and what is owed.
        years = np.clip(rng.exponential(9.0, n), 0.2, 50)
        years = np.minimum(years, np.maximum(age, 1) + 0.5)
        self.sale_years = years
        self.sale_price = np.round(self.value / 1.04**years * np.exp(rng.normal(0, 0.1, n)), -2)
        free_clear = rng.random(n) < 0.15 + 0.5 * np.minimum(years / 25, 1)
        months = np.minimum(years * 12, 360)
        r = 0.05 / 12
        remaining = 1 - ((1 + r) ** months - 1) / ((1 + r) ** 360 - 1)
        loan = self.sale_price * rng.uniform(0.75, 0.97, n) * remaining
        refi = rng.random(n) < 0.15
        loan = np.where(refi, self.value * rng.uniform(0.5, 0.9, n), loan)
        u = rng.random(n)
        fc = mot == 0
        loan = np.where(fc, self.value * rng.uniform(0.75, 1.2, n), loan)
        free_clear &= ~fc
        fin = (mot == 4) & (u < 0.5)
        loan = np.where(fin, self.value * rng.uniform(0.6, 1.05, n), loan)
        free_clear &= ~fin
        free_clear |= (mot == 2) & (u < 0.7)  # inherited
        free_clear |= (mot == 8) & (u < 0.55)  # tax problems
        div = (mot == 1) & (u < 0.6)
        loan = np.where(div, np.maximum(loan, self.value * rng.uniform(0.4, 0.8, n)), loan)
        self.mortgage = np.where(free_clear, 0.0, np.round(loan, -2))
        # Distress flags: more among lead parcels, most for the matching motivations.
        td = np.where(is_lead, 0.05, 0.03)
        td = np.where(mot == 8, 0.75, np.where(mot == 2, 0.15, np.where(mot == 4, 0.12, td)))
        self.tax_delinquent = rng.random(n) < td
        fc_p = np.where(is_lead, 0.02, 0.01)
        fc_p = np.where(mot == 0, 0.6, np.where(mot == 4, 0.08, fc_p))
        self.in_foreclosure = rng.random(n) < fc_p
        # Owners: 0 person, 1 LLC, 2 trust, 3 estate; absentee owners mail elsewhere.
        otype_p = np.tile(_p((0.8, 0.1, 0.06, 0.04)), (n, 1))
        otype_p[mot == 2] = _p((0.4, 0.0, 0.15, 0.45))
        otype_p[mot == 5] = _p((0.65, 0.3, 0.05, 0.0))
        self.owner_type = (rng.random(n)[:, None] > np.cumsum(otype_p, axis=1)).sum(1).clip(0, 3)
        absentee_p = np.array([0.15, 0.95, 0.4, 0.7])[self.owner_type]
        absentee_p = np.where(is_lead, absentee_p * 1.3, absentee_p)
        absentee_p = np.where(mot == 5, 1.0, np.where(mot == 3, 0.5, absentee_p))
        self.absentee = rng.random(n) < np.minimum(absentee_p, 1.0)
        occ_p = np.where(self.absentee, 0.62, 0.0)  # tenant
        occ_p = np.where(self.absentee & (mot == 5), 0.85, occ_p)
        vac_p = np.where(self.absentee, 1 - occ_p, 0.1)
        vac_p = np.where(~self.absentee & ((mot == 2) | (self.owner_type == 3)), 0.6, vac_p)
        uu = rng.random(n)
        self.occupancy = np.where(uu < occ_p, 1, np.where(uu < occ_p + vac_p, 2, 0))
        self.first = rng.integers(0, len(_FIRST), n)
        self.last = rng.integers(0, len(_LAST), n)
        self.g = g
        self.book = book

    def county_street(self, idx: np.ndarray, unit_word: np.ndarray) -> list[str]:
        dirs, names, sufs = self.g.county_parts
        return [
            f"{num} {dirs[d]}{names[nm]}{sufs[sf]}"
            + ((f" {w} {u}" if w != "#" else f" #{u}") if u else "")
            for num, d, nm, sf, u, w in zip(
                self.number[idx].tolist(),
                self.dir[idx].tolist(),
                self.name[idx].tolist(),
                self.suffix[idx].tolist(),
                self.unit[idx].tolist(),
                unit_word.tolist(),
                strict=True,
            )
        ]

    def county_columns(self, rng, idx: np.ndarray, defect: np.ndarray) -> list[np.ndarray]:
        """The county-roll columns of parcels ``idx`` (with their deliberate ``defect``s)."""
        g = self.g
        k = len(idx)
        mk = self.market[idx]
        cols: dict[str, Any] = {}
        cols["apn"] = self.apn[idx]
        street = _obj(self.county_street(idx, g.unit_word[mk]))
        cols["street"] = street
        cols["city"] = g.city_upper[mk]
        cols["state"] = g.state[mk]
        zips = self.zip5[idx]
        plus4 = np.flatnonzero(rng.random(k) < g.zip4_share[mk])
        zips = zips.copy()
        zips[plus4] = zips[plus4] + "-" + g.pad4[rng.integers(1, 10_000, len(plus4))]
        cols["zip"] = zips
        # Owner of record, "LAST FIRST M" (or "LAST, FIRST M"), LLCs, trusts, estates.
        ot = self.owner_type[idx]
        fn = _OWNER_FIRST[self.first[idx]]
        ln = _OWNER_LAST[self.last[idx]]
        w = rng.integers(0, len(_LLC_NAMES), k)
        middle = _MIDDLE[rng.integers(0, len(_MIDDLE), k)]
        co_owner = _CO_OWNER[rng.integers(0, len(_CO_OWNER), k)]
        names = _blank(k)
        i = np.flatnonzero(ot == 0)
        sep = np.where(g.comma[mk[i]], ", ", " ").astype(object)
        names[i] = ln[i] + sep + fn[i] + middle[i] + co_owner[i]
        i = np.flatnonzero(ot == 1)
        names[i] = np.where(w[i] % 3 > 0, _LLC_NAMES[w[i]], ln[i] + _LLC_KIND_OF[w[i]])
        i = np.flatnonzero(ot == 2)
        names[i] = np.where(
            w[i] % 2 > 0, ln[i] + " FAMILY TRUST", ln[i] + " " + fn[i] + " LIVING TRUST"
        )
        i = np.flatnonzero(ot == 3)
        names[i] = np.where(
            w[i] % 2 > 0, ln[i] + " " + fn[i] + " EST", "ESTATE OF " + fn[i] + " " + ln[i]
        )
        cols["owner_name"] = names
        # Mailing address: the property itself, or elsewhere for absentee owners.
        absentee = self.absentee[idx]
        m_street, m_city, m_state = street.copy(), cols["city"].copy(), cols["state"].copy()
        m_zip = self.zip5[idx].copy()
        away = np.flatnonzero(absentee)
        kind = rng.choice(3, len(away), p=[0.65, 0.25, 0.10])  # same metro, far away, PO box
        other_m = np.where(kind == 1, rng.integers(0, len(MARKETS), len(away)), mk[away])
        sg = g.street_base[other_m] + (rng.random(len(away)) * g.street_count[other_m]).astype(
            np.int64
        )
        num = rng.integers(100, 10_000, len(away))
        dirs, snames, sufs = g.county_parts
        addr = [
            f"{a} {dirs[d]}{snames[nm]}{sufs[sf]}"
            for a, d, nm, sf in zip(
                num.tolist(),
                g.street_dir[sg].tolist(),
                g.street_name[sg].tolist(),
                g.street_suffix[sg].tolist(),
                strict=True,
            )
        ]
        box = (kind == 2).tolist()
        addr = [f"PO BOX {b}" if x else a for a, x, b in zip(addr, box, num.tolist(), strict=True)]
        mcity = g.city_upper[other_m].copy()
        mstate = g.state[other_m].copy()
        mzip = g.street_zip[sg].copy()
        far = np.flatnonzero((kind == 1) & (rng.random(len(away)) < 0.5))
        oa = rng.integers(0, len(_OUT_OF_AREA), len(far)).tolist()
        mcity[far] = _obj([_OUT_OF_AREA[i][0] for i in oa])
        mstate[far] = _obj([_OUT_OF_AREA[i][1] for i in oa])
        mzip[far] = _obj(
            [
                f"{_OUT_OF_AREA[i][2]}{z:02d}"
                for i, z in zip(oa, rng.integers(1, 60, len(far)).tolist(), strict=True)
            ]
        )
        m_street[away] = _obj(addr)
        m_city[away] = mcity
        m_state[away] = mstate
        m_zip[away] = mzip
        cols["owner_mailing_street"] = m_street
        cols["owner_mailing_city"] = m_city
        cols["owner_mailing_state"] = m_state
        cols["owner_mailing_zip"] = m_zip
        # What the assessor knows about the building.
        pt = self.ptype[idx]
        land = pt == 5
        variant = rng.integers(0, 4, k)
        cols["property_type"] = _COUNTY_TYPE_FLAT[pt * 4 + variant]

        def num_text(values: np.ndarray, blank_share: float, table: np.ndarray) -> np.ndarray:
            txt = table[values]
            txt[land | (rng.random(k) < blank_share)] = ""
            return txt

        cols["bedrooms"] = num_text(self.beds[idx], 0.03, g.num)
        cols["bathrooms"] = num_text((self.baths[idx] * 2).astype(np.int64), 0.05, g.halves)
        cols["square_feet"] = num_text(self.sqft[idx], 0.03, g.num)
        cols["year_built"] = num_text(self.year[idx], 0.04, g.num)
        value = self.value[idx]
        assessed = np.round(value * g.assess_ratio[mk] * np.exp(rng.normal(0, 0.08, k)), -1)
        cols["assessed_value"] = _obj(list(map(str, assessed.astype(np.int64).tolist())))
        est = np.round(value * np.exp(rng.normal(0, 0.05, k)), -3).astype(np.int64)
        est_txt = _obj(list(map(str, est.tolist())))
        est_txt[rng.random(k) < 0.03] = ""
        cols["estimated_value"] = est_txt
        sale_ts = self.book.horizon - (self.sale_years[idx] * 365.25 * DAY).astype(np.int64)
        y, m, d, *_ = _civil(sale_ts)
        us = g.date_style[mk] == 1
        sale = g.num[y] + "-" + g.pad2[m] + "-" + g.pad2[d]
        sale[us] = g.pad2[m[us]] + "/" + g.pad2[d[us]] + "/" + g.num[y[us]]
        cols["last_sale_date"] = sale
        price = self.sale_price[idx].astype(np.int64)
        price_txt = _obj(list(map(str, price.tolist())))
        u = rng.random(k)
        price_txt[u < 0.05] = "0"  # quitclaim / family transfer
        price_txt[(u >= 0.05) & (u < 0.13)] = ""
        cols["last_sale_price"] = price_txt
        mort = np.round(self.mortgage[idx] * np.exp(rng.normal(0, 0.07, k)), -3).astype(np.int64)
        mort_txt = _obj(list(map(str, mort.tolist())))
        mort_txt[rng.random(k) < 0.12] = ""
        cols["mortgage_balance_estimate"] = mort_txt
        flags = g.flags[mk]
        for name, arr in (
            ("tax_delinquent", self.tax_delinquent),
            ("in_foreclosure", self.in_foreclosure),
        ):
            txt = _FLAG_WORDS[flags * 2 + ~arr[idx]]
            txt[rng.random(k) < 0.05] = ""
            cols[name] = txt
        # Deliberately bad rows.
        dk = defect
        cols["apn"] = cols["apn"].copy()
        cols["apn"][dk == 0] = ""
        cols["street"][dk == 1] = ""
        blank = _blank(k)
        return [cols.get(c, blank) for c in PROPERTY_RECORD_COLUMNS]
