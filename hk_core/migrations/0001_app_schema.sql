-- The operational schema: leads, API keys, idempotency records, stage events, county records.
create schema if not exists app;

create table app.api_keys (
    key_id bigint generated always as identity primary key,
    name text not null,
    prefix text not null unique,
    key_hash bytea not null,
    created_at timestamptz not null default now(),
    revoked_at timestamptz
);

create table app.leads (
    lead_id bigint generated always as identity primary key,
    dedup_key text not null,
    external_id text,
    source text not null,
    received_at timestamptz not null,
    first_name text,
    last_name text,
    email text,
    email_normalized text,
    email_hash text,
    phone text,
    phone_e164 text,
    phone_hash text,
    property_street text not null,
    property_city text,
    property_state text,
    property_zip text,
    property_type text,
    bedrooms smallint,
    bathrooms numeric(4, 1),
    square_feet integer,
    year_built smallint,
    asking_price numeric(14, 2),
    mortgage_balance numeric(14, 2),
    condition text,
    occupancy text,
    motivation text,
    timeline text,
    consent_email boolean not null default false,
    consent_sms boolean not null default false,
    notes text,
    intake_warnings jsonb,
    intake_channel text not null,
    api_key_id bigint references app.api_keys (key_id),
    ingested_at timestamptz not null default now(),
    constraint leads_dedup_key_uq unique (dedup_key)
);
create index leads_received_at_idx on app.leads (received_at);
create index leads_external_id_idx on app.leads (external_id);
create index leads_email_hash_idx on app.leads (email_hash);
create index leads_phone_hash_idx on app.leads (phone_hash);

-- One row per (caller, Idempotency-Key): the request's fingerprint and the first response.
create table app.idempotency_keys (
    api_key_id bigint not null references app.api_keys (key_id),
    idempotency_key text not null,
    request_hash text not null,
    status_code integer not null,
    response_body bytea not null,
    created_at timestamptz not null default now(),
    primary key (api_key_id, idempotency_key)
);

create table app.stage_events (
    event_id bigint generated always as identity primary key,
    lead_id bigint not null references app.leads (lead_id),
    stage text not null check (stage in (
        'new', 'contacted', 'qualified', 'appointment_set', 'offer_made',
        'under_contract', 'closed_won', 'closed_lost'
    )),
    occurred_at timestamptz not null,
    recorded_at timestamptz not null default now(),
    constraint stage_events_uq unique (lead_id, stage, occurred_at)
);
create index stage_events_occurred_at_idx on app.stage_events (occurred_at);

-- County-assessor style reference data, keyed by the parcel number.
create table app.property_records (
    apn text primary key,
    street text not null,
    city text,
    state text,
    zip text,
    owner_name text,
    owner_mailing_street text,
    owner_mailing_city text,
    owner_mailing_state text,
    owner_mailing_zip text,
    property_type text,
    bedrooms smallint,
    bathrooms numeric(4, 1),
    square_feet integer,
    year_built smallint,
    assessed_value numeric(14, 2),
    estimated_value numeric(14, 2),
    last_sale_date date,
    last_sale_price numeric(14, 2),
    mortgage_balance_estimate numeric(14, 2),
    tax_delinquent boolean,
    in_foreclosure boolean,
    imported_at timestamptz not null default now()
);
create index property_records_zip_idx on app.property_records (zip);
