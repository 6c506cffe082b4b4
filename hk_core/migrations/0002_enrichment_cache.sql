-- Enrichment: the provider answer cache, and indexes for looking the county roll up by address.

-- One row per (address key, provider). facts is null when the provider found nothing: a miss
-- is an answer too, and is cached so the same address is not paid for twice.
create table app.enrichment_cache (
    address_key text not null,
    provider text not null,
    facts jsonb,
    fetched_at timestamptz not null default now(),
    primary key (address_key, provider)
);
create index enrichment_cache_fetched_at_idx on app.enrichment_cache (fetched_at);

-- ReferenceDataProvider searches the roll by (ZIP5, house number) and by (city, state, house
-- number); these expressions must stay identical to the ones in hk_core/enrichment/reference.py.
create index property_records_zip5_number_idx on app.property_records
    (left(zip, 5), split_part(upper(btrim(street)), ' ', 1));
create index property_records_city_number_idx on app.property_records
    (upper(btrim(city)), state, split_part(upper(btrim(street)), ' ', 1));
