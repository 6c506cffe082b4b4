-- A plain select, not jaffle-shop's `with source as (…), renamed as (…)`: Postgres cannot
-- pull a view with its own WITH list up into the query that reads it (docs/marts.md,
-- Performance). Money stays numeric(14,2): exact cents, unlike the enriched leads' doubles.
select
    deal_id,
    lead_id,
    external_id,
    lower(source) as source,
    status,
    offer_amount,
    contract_price,
    assignment_fee,
    contract_date,
    closing_date,
    offer_made_at,
    status_changed_at,
    created_at,
    updated_at,
    copied_at

from {{ source('raw', 'deals') }}
