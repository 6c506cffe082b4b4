"""The book's words: sources, the latent categories and funnel stages in code order, their
shares, and the ways people spell and type them."""

from __future__ import annotations

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


def _external_id(source: int, seq: int) -> str:
    """Source ``source``'s external id number ``seq`` (vendor_x sends bare numbers)."""
    return f"{_ID_PREFIX[source]}{seq:06d}" if source != 7 else str(4_100_000 + seq)
