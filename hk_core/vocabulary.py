"""The words people and other systems use for our values and columns, folded to slugs.

Kept apart from the contract's models so the tables can grow without burying the rules.
"""

from __future__ import annotations

STAGES = (
    "new", "contacted", "qualified", "appointment_set", "offer_made",
    "under_contract", "closed_won", "closed_lost",
)  # fmt: skip
PROPERTY_TYPES = {
    "single_family": "single_family", "sfr": "single_family", "sfh": "single_family",
    "single_family_home": "single_family", "single_family_residence": "single_family",
    "house": "single_family", "detached": "single_family", "single": "single_family",
    "multi_family": "multi_family", "multifamily": "multi_family", "duplex": "multi_family",
    "triplex": "multi_family", "fourplex": "multi_family", "quadplex": "multi_family",
    "mfr": "multi_family", "2_4_units": "multi_family", "apartment_building": "multi_family",
    "condo": "condo", "condominium": "condo", "apartment": "condo",
    "townhouse": "townhouse", "townhome": "townhouse", "town_house": "townhouse",
    "row_house": "townhouse",
    "mobile_home": "mobile_home", "mobile": "mobile_home", "manufactured": "mobile_home",
    "manufactured_home": "mobile_home", "trailer": "mobile_home",
    "land": "land", "lot": "land", "vacant_land": "land", "acreage": "land",
    "other": "other", "commercial": "other",
}  # fmt: skip
CONDITIONS = {
    "excellent": "excellent", "like_new": "excellent", "updated": "excellent",
    "renovated": "excellent", "move_in_ready": "excellent",
    "good": "good", "average": "fair", "fair": "fair", "ok": "fair", "okay": "fair",
    "needs_work": "poor", "needs_some_work": "fair", "dated": "fair", "poor": "poor",
    "needs_repairs": "poor", "fixer": "poor", "fixer_upper": "poor", "bad": "poor",
    "distressed": "distressed", "teardown": "distressed", "tear_down": "distressed",
    "uninhabitable": "distressed", "fire_damage": "distressed", "major_repairs": "distressed",
    "unknown": "unknown",
}  # fmt: skip
OCCUPANCIES = {
    "owner_occupied": "owner_occupied", "owner": "owner_occupied", "i_live_there": "owner_occupied",
    "primary_residence": "owner_occupied", "living_in_it": "owner_occupied",
    "tenant_occupied": "tenant_occupied", "tenant": "tenant_occupied", "rented": "tenant_occupied",
    "rental": "tenant_occupied", "renters": "tenant_occupied", "leased": "tenant_occupied",
    "vacant": "vacant", "empty": "vacant", "unoccupied": "vacant", "abandoned": "vacant",
    "unknown": "unknown",
}  # fmt: skip
MOTIVATIONS = {
    "foreclosure": "foreclosure", "pre_foreclosure": "foreclosure", "behind_on_payments": "foreclosure",
    "divorce": "divorce", "separation": "divorce",
    "inheritance": "inherited", "inherited": "inherited", "probate": "inherited",
    "estate": "inherited", "death": "inherited", "passed_away": "inherited",
    "relocation": "relocation", "relocating": "relocation", "moving": "relocation",
    "job_transfer": "relocation", "transfer": "relocation",
    "financial": "financial_distress", "financial_distress": "financial_distress",
    "debt": "financial_distress", "bankruptcy": "financial_distress", "need_cash": "financial_distress",
    "tired_landlord": "tired_landlord", "landlord": "tired_landlord", "bad_tenants": "tired_landlord",
    "tenants": "tired_landlord",
    "repairs": "repairs", "too_many_repairs": "repairs", "cant_afford_repairs": "repairs",
    "downsizing": "downsizing", "downsize": "downsizing", "retiring": "downsizing",
    "retirement": "downsizing", "empty_nest": "downsizing",
    "tax": "tax_problems", "taxes": "tax_problems", "back_taxes": "tax_problems",
    "tax_problems": "tax_problems",
    "just_curious": "curious", "curious": "curious", "testing_the_market": "curious",
    "other": "other",
}  # fmt: skip
TIMELINES = {
    "asap": "asap", "immediately": "asap", "now": "asap", "urgent": "asap", "right_away": "asap",
    "this_week": "asap", "within_30_days": "30_days", "30_days": "30_days", "1_month": "30_days",
    "one_month": "30_days", "this_month": "30_days", "30": "30_days",
    "within_90_days": "90_days", "90_days": "90_days", "3_months": "90_days",
    "1_3_months": "90_days", "60_days": "90_days", "2_3_months": "90_days", "90": "90_days",
    "6_months": "6_months", "3_6_months": "6_months", "within_6_months": "6_months",
    "six_months": "6_months", "180_days": "6_months",
    "12_months": "12_months_plus", "1_year": "12_months_plus", "a_year": "12_months_plus",
    "12_months_plus": "12_months_plus", "over_a_year": "12_months_plus", "no_rush": "12_months_plus",
    "not_sure": "unknown", "unsure": "unknown", "unknown": "unknown", "just_looking": "unknown",
}  # fmt: skip
STAGE_ALIASES = {s: s for s in STAGES} | {
    "lead": "new", "new_lead": "new", "created": "new",
    "contact_made": "contacted", "called": "contacted", "reached": "contacted",
    "qualify": "qualified", "appointment": "appointment_set", "appt_set": "appointment_set",
    "appointment_scheduled": "appointment_set", "offer": "offer_made", "offer_sent": "offer_made",
    "contract": "under_contract", "in_contract": "under_contract", "pending": "under_contract",
    "closed": "closed_won", "won": "closed_won", "closed_deal": "closed_won", "purchased": "closed_won",
    "lost": "closed_lost", "dead": "closed_lost", "closed_dead": "closed_lost",
    "not_interested": "closed_lost",
}  # fmt: skip


# Column names other systems use for our fields (after folding to a slug), per contract.
LEAD_HEADER_ALIASES = {
    "id": "external_id", "lead_id": "external_id", "ext_id": "external_id",
    "vendor_id": "external_id", "reference": "external_id", "ref": "external_id",
    "lead_source": "source", "channel": "source", "campaign_source": "source", "utm_source": "source",
    "date": "received_at", "created": "received_at", "created_at": "received_at",
    "submitted": "received_at", "submitted_at": "received_at", "date_received": "received_at",
    "lead_date": "received_at", "timestamp": "received_at", "received": "received_at",
    "date_submitted": "received_at", "created_date": "received_at",
    "first": "first_name", "fname": "first_name", "firstname": "first_name", "given_name": "first_name",
    "last": "last_name", "lname": "last_name", "lastname": "last_name", "surname": "last_name",
    "family_name": "last_name",
    "email_address": "email", "e_mail": "email", "mail": "email", "emailaddress": "email",
    "phone_number": "phone", "phone_1": "phone", "phone1": "phone", "mobile": "phone",
    "cell": "phone", "cell_phone": "phone", "mobile_phone": "phone", "telephone": "phone",
    "tel": "phone", "primary_phone": "phone", "phonenumber": "phone", "contact_phone": "phone",
    "address": "property_street", "street": "property_street", "street_address": "property_street",
    "property_address": "property_street", "address_1": "property_street", "address1": "property_street",
    "city": "property_city", "property_town": "property_city", "town": "property_city",
    "state": "property_state", "st": "property_state", "province": "property_state",
    "zip": "property_zip", "zip_code": "property_zip", "zipcode": "property_zip",
    "postal_code": "property_zip", "postcode": "property_zip", "property_zipcode": "property_zip",
    "type": "property_type", "home_type": "property_type", "house_type": "property_type",
    "beds": "bedrooms", "bed": "bedrooms", "br": "bedrooms", "bedroom": "bedrooms", "num_bedrooms": "bedrooms",
    "baths": "bathrooms", "bath": "bathrooms", "ba": "bathrooms", "bathroom": "bathrooms",
    "num_bathrooms": "bathrooms",
    "sqft": "square_feet", "sq_ft": "square_feet", "square_footage": "square_feet",
    "living_area": "square_feet", "size": "square_feet", "sf": "square_feet",
    "year": "year_built", "built": "year_built", "yr_built": "year_built",
    "price": "asking_price", "asking": "asking_price", "ask": "asking_price",
    "list_price": "asking_price", "desired_price": "asking_price", "expected_price": "asking_price",
    "mortgage": "mortgage_balance", "mortgage_owed": "mortgage_balance", "loan_balance": "mortgage_balance",
    "amount_owed": "mortgage_balance", "owed": "mortgage_balance", "mortgage_amount": "mortgage_balance",
    "property_condition": "condition", "home_condition": "condition",
    "occupied": "occupancy", "occupancy_status": "occupancy", "who_lives_there": "occupancy",
    "reason": "motivation", "reason_for_selling": "motivation", "why_selling": "motivation",
    "selling_reason": "motivation",
    "timeframe": "timeline", "time_frame": "timeline", "when_to_sell": "timeline",
    "how_soon": "timeline", "sell_timeline": "timeline",
    "email_consent": "consent_email", "email_opt_in": "consent_email", "opt_in_email": "consent_email",
    "sms_consent": "consent_sms", "sms_opt_in": "consent_sms", "opt_in_sms": "consent_sms",
    "text_consent": "consent_sms", "tcpa_consent": "consent_sms",
    "comments": "notes", "comment": "notes", "message": "notes", "description": "notes", "note": "notes",
}  # fmt: skip
FULL_NAME_COLUMNS = ("name", "full_name", "seller_name", "contact_name", "fullname")
PROPERTY_HEADER_ALIASES = {
    "parcel": "apn", "parcel_id": "apn", "parcel_number": "apn", "pin": "apn",
    "address": "street", "situs_address": "street", "site_address": "street",
    "property_address": "street", "zip_code": "zip", "zipcode": "zip",
    "owner": "owner_name", "owner_1": "owner_name", "mailing_address": "owner_mailing_street",
    "mail_address": "owner_mailing_street", "mailing_city": "owner_mailing_city",
    "mailing_state": "owner_mailing_state", "mailing_zip": "owner_mailing_zip",
    "beds": "bedrooms", "baths": "bathrooms", "sqft": "square_feet", "living_area": "square_feet",
    "assessed": "assessed_value", "market_value": "estimated_value", "avm": "estimated_value",
    "sale_date": "last_sale_date", "sale_price": "last_sale_price",
    "mortgage_balance": "mortgage_balance_estimate", "loan_balance": "mortgage_balance_estimate",
    "tax_default": "tax_delinquent", "delinquent": "tax_delinquent", "foreclosure": "in_foreclosure",
    "pre_foreclosure": "in_foreclosure",
}  # fmt: skip
STAGE_EVENT_HEADER_ALIASES = {
    "lead_source": "source", "id": "external_id", "ext_id": "external_id", "status": "stage",
    "stage_name": "stage", "date": "occurred_at", "timestamp": "occurred_at",
    "changed_at": "occurred_at", "event_at": "occurred_at", "occurred": "occurred_at",
}  # fmt: skip
