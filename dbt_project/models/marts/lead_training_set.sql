-- lead_features with a point-in-time label: is_converted = reached var label_stage (default
-- closed_won) within var label_window_days (default 120) of arrival. Only leads whose window
-- has closed by the label horizon are here, so a recent lead is never counted as a failure for
-- lack of time. A second label for analysts, is_under_contract_90d (reached under_contract
-- within 90 days), is null where its own window has not closed.
-- Import CTEs inlined (not materialized): one read more than once would be copied whole, every
-- column of every lead, to a temp file first (docs/marts.md, Performance).
with

features as not materialized (

    select * from {{ ref('lead_features') }}

),

outcomes as not materialized (

    select * from {{ ref('int_lead_outcomes') }}

),

stage_events as not materialized (

    select * from {{ ref('stg_lead_stage_events') }}

),

horizon as (

    {% if var('label_as_of') %}
        select cast('{{ var("label_as_of") }}' as timestamptz) as label_as_of
    {% else %}
        -- the data's own horizon: the latest lead or stage event the warehouse has seen
        select greatest(
            (select max(received_at) from features),
            (select max(occurred_at) from stage_events)
        ) as label_as_of
    {% endif %}

),

labelled as (

    select
        features.*,
        features.received_at
        + interval '{{ var("label_window_days") }} days' as label_window_ends_at,
        outcomes.converted_at,
        outcomes.under_contract_at
    from features
    inner join outcomes on features.lead_id = outcomes.lead_id

),

final as (

    select
        labelled.*,
        coalesce(labelled.converted_at <= labelled.label_window_ends_at, false) as is_converted,
        case
            when labelled.received_at + interval '90 days' <= horizon.label_as_of
                then coalesce(
                    labelled.under_contract_at <= labelled.received_at + interval '90 days',
                    false
                )
        end as is_under_contract_90d
    from labelled
    cross join horizon
    where labelled.label_window_ends_at <= horizon.label_as_of

)

select * from final
