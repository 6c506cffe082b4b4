-- Indexes for the dbt marts' point-in-time lookups (dbt_project/models/marts/lead_features.sql):
-- a day's new leads are joined to the earlier leads with the same property or contact. Without
-- them every incremental run scans the whole book three times (benchmarks/README.md, dbt marts).
create index enriched_leads_address_key_idx on raw.enriched_leads (address_key);
create index enriched_leads_email_hash_idx on raw.enriched_leads (email_hash);
create index enriched_leads_phone_hash_idx on raw.enriched_leads (phone_hash);
