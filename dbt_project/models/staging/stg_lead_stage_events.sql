-- A plain select, not jaffle-shop's `with source as (…), renamed as (…)`: Postgres cannot
-- pull a view with its own WITH list up into the query that reads it, so a date filter or a
-- join key from that query would not reach the indexes of raw.* (docs/marts.md, Performance).
select
    event_id,
    lead_id,
    external_id,
    lower(source) as source,
    stage,
    occurred_at,
    occurred_date

from {{ source('raw', 'lead_stage_events') }}
