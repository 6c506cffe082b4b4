-- Stage-to-stage conversion along the funnel's main path, by source and cohort week (the week
-- the lead arrived). A lead counts as having reached a stage when it got there or further, so
-- a skipped step (qualified without a recorded contact) is not read as a drop-out.
-- The import CTEs stay materialized: funnel, narrow and joined twice, measured faster that way.
with

funnel as (

    select * from {{ ref('int_lead_funnel') }}

),

outcomes as (

    select * from {{ ref('int_lead_outcomes') }}

),

steps as (

    {% set stages = var('funnel_stages') %}
    {% for i in range(stages | length - 1) %}
        select
            {{ loop.index }} as step_order,
            '{{ stages[i] }}' as from_stage,
            '{{ stages[i + 1] }}' as to_stage
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

lead_steps as (

    select
        outcomes.lead_id,
        outcomes.source,
        cast(date_trunc('week', outcomes.received_at at time zone 'UTC') as date) as cohort_week,
        steps.step_order,
        steps.from_stage,
        steps.to_stage,
        outcomes.furthest_stage_order >= steps.step_order + 1 as has_reached_to_stage,
        {{ days_between('from_funnel.first_reached_at', 'to_funnel.first_reached_at') }}
            as days_between_stages
    from outcomes
    inner join steps on outcomes.furthest_stage_order >= steps.step_order
    left join funnel as from_funnel
        on outcomes.lead_id = from_funnel.lead_id and steps.from_stage = from_funnel.stage
    left join funnel as to_funnel
        on outcomes.lead_id = to_funnel.lead_id and steps.to_stage = to_funnel.stage

),

final as (

    select
        source,
        cohort_week,
        step_order,
        from_stage,
        to_stage,
        count(*) as n_leads_from,
        count(*) filter (where has_reached_to_stage) as n_leads_to,
        cast(round(
            cast(count(*) filter (where has_reached_to_stage) as numeric) / count(*), 4
        ) as double precision) as conversion_rate,
        percentile_cont(0.5) within group (order by days_between_stages)
        filter (where days_between_stages >= 0) as median_days_between_stages
    from lead_steps
    group by source, cohort_week, step_order, from_stage, to_stage

)

select * from final
