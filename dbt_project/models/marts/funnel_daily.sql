-- Leads per day, source and stage: how many leads reached each stage for the first time that
-- day ('new' = received that day). Incremental by day: a run rebuilds its own days only.
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='activity_date',
        on_schema_change='fail',
        tags=['daily'],
        indexes=[{'columns': ['activity_date']}],
    )
}}

-- The import CTEs are inlined (not materialized): each is read twice, and Postgres would
-- otherwise copy the whole book to temp files before the day's filter (docs/marts.md,
-- Performance).
with

leads as not materialized (

    select * from {{ ref('stg_enriched_leads') }}

),

stage_events as not materialized (

    select * from {{ ref('stg_lead_stage_events') }}

),

arrivals as (

    select
        received_date as activity_date,
        source,
        'new' as stage,
        lead_id
    from leads
    {% if is_incremental() %}
        where received_date between '{{ var("min_date") }}' and '{{ var("max_date") }}'
    {% endif %}

),

first_arrivals_at_stage as (

    select
        stage_events.occurred_date as activity_date,
        leads.source,
        stage_events.stage,
        stage_events.lead_id
    from stage_events
    inner join leads on stage_events.lead_id = leads.lead_id
    where
        stage_events.stage <> 'new'
        {% if is_incremental() %}
            and stage_events.occurred_date
            between '{{ var("min_date") }}' and '{{ var("max_date") }}'
        {% endif %}
        and not exists (
            select 1
            from stage_events as earlier
            where
                earlier.lead_id = stage_events.lead_id
                and earlier.stage = stage_events.stage
                and (earlier.occurred_at, earlier.event_id)
                < (stage_events.occurred_at, stage_events.event_id)
        )

),

reached as (

    select * from arrivals
    union all
    select * from first_arrivals_at_stage

),

final as (

    select
        activity_date,
        source,
        stage,
        {{ stage_order('stage') }} as stage_order,
        count(distinct lead_id) as n_leads
    from reached
    group by activity_date, source, stage

)

select * from final
