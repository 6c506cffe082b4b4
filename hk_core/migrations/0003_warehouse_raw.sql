-- Warehouse landing tables, loaded by the Dagster warehouse_* assets and read by dbt sources.
-- PII stays out: contacts appear only as keyed hashes (and E.164, which validity features need).
create schema if not exists raw;

create table raw.enriched_leads (
    lead_id bigint primary key,
    external_id text,
    source text not null,
    received_at timestamptz not null,
    received_date date not null,
    email_hash text,
    phone_hash text,
    email_is_valid boolean,
    email_is_disposable boolean,
    email_is_role boolean,
    phone_e164 text,
    phone_is_valid boolean,
    phone_line_type text,
    phone_region text,
    address_line1 text,
    address_city text,
    address_state text,
    address_zip5 text,
    address_key text,
    address_parsed boolean,
    apn text,
    is_owner_of_record boolean,
    owner_match_score double precision,
    is_absentee_owner boolean,
    property_type text,
    bedrooms integer,
    bathrooms double precision,
    square_feet integer,
    year_built integer,
    assessed_value numeric(14, 2),
    estimated_value numeric(14, 2),
    last_sale_date date,
    last_sale_price numeric(14, 2),
    mortgage_balance_estimate numeric(14, 2),
    equity numeric(14, 2),
    equity_ratio double precision,
    tax_delinquent boolean,
    in_foreclosure boolean,
    asking_price numeric(14, 2),
    mortgage_balance numeric(14, 2),
    condition text,
    occupancy text,
    motivation text,
    timeline text,
    consent_email boolean,
    consent_sms boolean,
    enrichment_provider text,
    enriched_at timestamptz not null
);
create index enriched_leads_received_date_idx on raw.enriched_leads (received_date);

create table raw.lead_stage_events (
    event_id bigint primary key,
    lead_id bigint not null,
    external_id text,
    source text not null,
    stage text not null,
    occurred_at timestamptz not null,
    occurred_date date not null
);
create index lead_stage_events_occurred_date_idx on raw.lead_stage_events (occurred_date);
create index lead_stage_events_lead_id_idx on raw.lead_stage_events (lead_id);
