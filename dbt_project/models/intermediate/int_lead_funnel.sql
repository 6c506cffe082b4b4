-- One row per lead and main-path stage it reached: when it first got there, how long after
-- arriving, and how long after the previous main-path stage it reached.
-- Import CTEs inlined (not materialized): one read more than once would be copied whole, every
-- column of every lead, to a temp file first (docs/marts.md, Performance).
with

leads as not materialized (

    select * from {{ ref('stg_enriched_leads') }}

),

stage_events as not materialized (

    select * from {{ ref('stg_lead_stage_events') }}

),

arrivals as (

    select
        lead_id,
        'new' as stage,
        received_at as first_reached_at
    from leads

),

first_events as (

    select
        stage_events.lead_id,
        stage_events.stage,
        min(stage_events.occurred_at) as first_reached_at
    from stage_events
    inner join leads on stage_events.lead_id = leads.lead_id
    where stage_events.stage <> 'new'
    group by stage_events.lead_id, stage_events.stage

),

reached as (

    select * from arrivals
    union all
    select * from first_events

),

on_path as (

    select
        reached.lead_id,
        leads.source,
        leads.received_at,
        reached.stage,
        {{ stage_order('reached.stage') }} as stage_order,
        reached.first_reached_at
    from reached
    inner join leads on reached.lead_id = leads.lead_id
    where {{ stage_order('reached.stage') }} is not null

),

final as (

    select
        lead_id,
        source,
        received_at,
        stage,
        stage_order,
        first_reached_at,
        {{ days_between('received_at', 'first_reached_at') }} as days_since_received,
        {{ days_between(
            'lag(first_reached_at) over (partition by lead_id order by stage_order)',
            'first_reached_at'
        ) }} as days_since_previous_stage
    from on_path

)

select * from final
