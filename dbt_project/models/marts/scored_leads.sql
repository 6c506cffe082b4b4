-- The CRM's table: one row per lead with its contact fields, where it stands in the funnel, and
-- the champion model's latest score (null until the lead has been scored).
with

leads as (

    select * from {{ ref('stg_enriched_leads') }}

),

outcomes as (

    select * from {{ ref('int_lead_outcomes') }}

),

scores as (

    select * from {{ ref('stg_lead_scores') }}

),

ranked_scores as (

    select
        lead_id,
        score,
        -- decile 1 holds the best-scored tenth of the last batch
        ntile(10) over (order by score desc, lead_id asc) as score_decile,
        row_number() over (order by score desc, lead_id asc) as score_rank,
        model_name,
        model_version,
        reason_codes,
        scored_at
    from scores

),

final as (

    select
        leads.lead_id,
        leads.external_id,
        leads.source,
        leads.received_at,

        -- contact
        leads.phone_e164,
        leads.email_hash,
        leads.phone_hash,
        leads.has_email,
        leads.email_is_valid,
        leads.phone_is_valid,
        leads.phone_line_type,
        leads.has_consent_email,
        leads.has_consent_sms,
        leads.address_line1,
        leads.address_city,
        leads.address_state,
        leads.address_zip5,

        -- funnel
        outcomes.current_stage,
        outcomes.current_stage_at,
        outcomes.is_open,

        -- score
        ranked_scores.score,
        ranked_scores.score_decile,
        ranked_scores.score_rank,
        ranked_scores.model_name,
        ranked_scores.model_version,
        coalesce(ranked_scores.reason_codes, cast('[]' as jsonb)) as reason_codes,
        ranked_scores.scored_at

    from leads
    inner join outcomes on leads.lead_id = outcomes.lead_id
    left join ranked_scores on leads.lead_id = ranked_scores.lead_id

)

select * from final
