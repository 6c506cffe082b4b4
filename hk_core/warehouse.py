"""The lake and warehouse record layouts of the pipelines, as Arrow schemas."""

from __future__ import annotations

import pyarrow as pa

MONEY = pa.decimal128(14, 2)
UTC_TS = pa.timestamp("us", tz="UTC")

# app.leads as it lands in the lake's raw zone (the raw zone is access-controlled like app).
RAW_LEAD_SCHEMA = pa.schema([
    ("lead_id", pa.int64()), ("external_id", pa.string()), ("source", pa.string()),
    ("received_at", UTC_TS), ("first_name", pa.string()), ("last_name", pa.string()),
    ("email", pa.string()), ("email_normalized", pa.string()), ("email_hash", pa.string()),
    ("phone", pa.string()), ("phone_e164", pa.string()), ("phone_hash", pa.string()),
    ("property_street", pa.string()), ("property_city", pa.string()),
    ("property_state", pa.string()), ("property_zip", pa.string()),
    ("property_type", pa.string()), ("bedrooms", pa.int32()), ("bathrooms", pa.float64()),
    ("square_feet", pa.int32()), ("year_built", pa.int32()), ("asking_price", MONEY),
    ("mortgage_balance", MONEY), ("condition", pa.string()), ("occupancy", pa.string()),
    ("motivation", pa.string()), ("timeline", pa.string()), ("consent_email", pa.bool_()),
    ("consent_sms", pa.bool_()), ("intake_channel", pa.string()), ("ingested_at", UTC_TS),
])  # fmt: skip

# The enriched zone and raw.enriched_leads: no raw email, phone or names.
ENRICHED_LEAD_SCHEMA = pa.schema([
    ("lead_id", pa.int64()), ("external_id", pa.string()), ("source", pa.string()),
    ("received_at", UTC_TS), ("received_date", pa.date32()),
    ("email_hash", pa.string()), ("phone_hash", pa.string()),
    ("email_is_valid", pa.bool_()), ("email_is_disposable", pa.bool_()), ("email_is_role", pa.bool_()),
    ("phone_e164", pa.string()), ("phone_is_valid", pa.bool_()), ("phone_line_type", pa.string()),
    ("phone_region", pa.string()),
    ("address_line1", pa.string()), ("address_city", pa.string()), ("address_state", pa.string()),
    ("address_zip5", pa.string()), ("address_key", pa.string()), ("address_parsed", pa.bool_()),
    ("apn", pa.string()), ("is_owner_of_record", pa.bool_()), ("owner_match_score", pa.float64()),
    ("is_absentee_owner", pa.bool_()),
    ("property_type", pa.string()), ("bedrooms", pa.int32()), ("bathrooms", pa.float64()),
    ("square_feet", pa.int32()), ("year_built", pa.int32()),
    ("assessed_value", MONEY), ("estimated_value", MONEY), ("last_sale_date", pa.date32()),
    ("last_sale_price", MONEY), ("mortgage_balance_estimate", MONEY), ("equity", MONEY),
    ("equity_ratio", pa.float64()), ("tax_delinquent", pa.bool_()), ("in_foreclosure", pa.bool_()),
    ("asking_price", MONEY), ("mortgage_balance", MONEY), ("condition", pa.string()),
    ("occupancy", pa.string()), ("motivation", pa.string()), ("timeline", pa.string()),
    ("consent_email", pa.bool_()), ("consent_sms", pa.bool_()),
    ("enrichment_provider", pa.string()), ("enriched_at", UTC_TS),
])  # fmt: skip

STAGE_EVENT_SCHEMA = pa.schema([
    ("event_id", pa.int64()), ("lead_id", pa.int64()), ("external_id", pa.string()),
    ("source", pa.string()), ("stage", pa.string()), ("occurred_at", UTC_TS),
    ("occurred_date", pa.date32()),
])  # fmt: skip
