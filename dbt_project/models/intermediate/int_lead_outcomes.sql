-- One row per lead: where it stands now, how far it got, and when (if ever) it reached
-- under_contract, closed_won and the label's stage (var label_stage; reaching a later stage of
-- the main path counts, so a CRM that skipped recording under_contract still counts a close).
-- The import CTEs stay materialized: inlined, this model measured slower at 1M leads (10.5-12 s
-- → 17 s; docs/marts.md, Performance).
{%- set under_contract_position = stage_position('under_contract', 'under_contract') -%}
{%- set label_position = stage_position(var('label_stage'), 'label_stage') %}

with

leads as (

    select * from {{ ref('stg_enriched_leads') }}

),

stage_events as (

    select * from {{ ref('stg_lead_stage_events') }}

),

funnel as (

    select * from {{ ref('int_lead_funnel') }}

),

latest_events as (

    select distinct on (lead_id)
        lead_id,
        stage as current_stage,
        occurred_at as current_stage_at
    from stage_events
    -- ties at one instant: the later stage on the path wins, closed_lost after all of them
    order by lead_id asc, occurred_at desc, coalesce({{ stage_order('stage') }}, 99) desc

),

event_summary as (

    select
        lead_id,
        count(*) as n_stage_events,
        min(occurred_at) filter (
            where {{ stage_order('stage') }} >= {{ under_contract_position }}
        ) as under_contract_at,
        min(occurred_at) filter (where stage = 'closed_won') as closed_won_at,
        min(occurred_at) filter (
            where {{ stage_order('stage') }} >= {{ label_position }}
        ) as converted_at,
        bool_or(stage = 'closed_lost') as has_closed_lost
    from stage_events
    group by lead_id

),

furthest as (

    select distinct on (lead_id)
        lead_id,
        stage as furthest_stage,
        stage_order as furthest_stage_order
    from funnel
    order by lead_id asc, stage_order desc

),

final as (

    select
        leads.lead_id,
        leads.source,
        leads.received_at,
        coalesce(latest_events.current_stage, 'new') as current_stage,
        coalesce(latest_events.current_stage_at, leads.received_at) as current_stage_at,
        furthest.furthest_stage,
        furthest.furthest_stage_order,
        coalesce(latest_events.current_stage, 'new')
        not in ('closed_won', 'closed_lost') as is_open,
        coalesce(event_summary.has_closed_lost, false) as has_closed_lost,
        event_summary.under_contract_at,
        event_summary.closed_won_at,
        event_summary.converted_at,
        coalesce(event_summary.n_stage_events, 0) as n_stage_events
    from leads
    left join latest_events on leads.lead_id = latest_events.lead_id
    left join event_summary on leads.lead_id = event_summary.lead_id
    left join furthest on leads.lead_id = furthest.lead_id

)

select * from final
