-- A plain select, not jaffle-shop's `with source as (…), renamed as (…)`: Postgres cannot
-- pull a view with its own WITH list up into the query that reads it, so a date filter or a
-- join key from that query would not reach the indexes of raw.* (docs/marts.md, Performance).
select
    -- ids
    lead_id,
    external_id,
    lower(source) as source,

    -- contact: keyed hashes and validity only
    email_hash,
    phone_hash,
    phone_e164,
    email_hash is not null as has_email,
    phone_hash is not null as has_phone,
    email_is_valid,
    email_is_disposable,
    email_is_role,
    phone_is_valid,
    phone_line_type,
    phone_region,
    consent_email as has_consent_email,
    consent_sms as has_consent_sms,

    -- property address
    address_line1,
    address_city,
    address_state,
    address_zip5,
    address_key,
    address_parsed as is_address_parsed,
    apn,
    apn is not null as is_county_matched,

    -- owner of record
    is_owner_of_record,
    owner_match_score,
    is_absentee_owner,

    -- property facts
    property_type,
    bedrooms,
    bathrooms,
    square_feet,
    year_built,
    cast(assessed_value as double precision) as assessed_value,
    cast(estimated_value as double precision) as estimated_value,
    last_sale_date,
    cast(last_sale_price as double precision) as last_sale_price,
    cast(mortgage_balance_estimate as double precision) as mortgage_balance_estimate,
    cast(equity as double precision) as equity,
    equity_ratio,
    tax_delinquent as is_tax_delinquent,
    in_foreclosure as is_in_foreclosure,

    -- what the seller told us
    cast(asking_price as double precision) as asking_price,
    cast(mortgage_balance as double precision) as mortgage_balance,
    condition,
    occupancy,
    motivation,
    timeline,

    -- timestamps
    received_at,
    received_date,
    enrichment_provider,
    enriched_at

from {{ source('raw', 'enriched_leads') }}
