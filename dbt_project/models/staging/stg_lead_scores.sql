-- A plain select, not jaffle-shop's `with source as (…), renamed as (…)`: Postgres cannot
-- pull a view with its own WITH list up into the query that reads it, so a date filter or a
-- join key from that query would not reach the indexes of raw.* (docs/marts.md, Performance).
select
    lead_id,
    score,
    model_name,
    model_version,
    reason_codes,
    scored_at

from {{ source('ml', 'lead_scores') }}
