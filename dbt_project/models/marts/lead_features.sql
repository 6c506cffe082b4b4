-- One row per lead: every model feature, from what was known when the lead arrived (its own
-- fields, its enrichment, and earlier leads) and never from its later stage events. The
-- offline training source and the online feature store.
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='lead_id',
        on_schema_change='fail',
        tags=['daily'],
        indexes=[{'columns': ['received_date']}],
    )
}}

-- The import CTE is inlined (not materialized): read four times, Postgres would otherwise
-- copy the whole book to a temp file before the day's filter, and the joins to earlier leads
-- could not use the indexes of raw.enriched_leads (docs/marts.md, Performance).
with

leads as not materialized (

    select * from {{ ref('stg_enriched_leads') }}

),

new_leads as (

    select * from leads
    {% if is_incremental() %}
        where received_date between '{{ var("min_date") }}' and '{{ var("max_date") }}'
    {% endif %}

),

-- Earlier leads for the same property or the same contact: a point-in-time count (only leads
-- received before this one), so a lead's features never change when later leads arrive.
prior_same_property as (

    select
        new_leads.lead_id,
        count(*) as n_prior_leads
    from new_leads
    inner join leads as earlier
        on
            new_leads.address_key = earlier.address_key
            and (earlier.received_at, earlier.lead_id) < (new_leads.received_at, new_leads.lead_id)
    group by new_leads.lead_id

),

earlier_contacts as (

    select
        new_leads.lead_id,
        earlier.lead_id as earlier_lead_id
    from new_leads
    inner join leads as earlier
        on
            new_leads.email_hash = earlier.email_hash
            and (earlier.received_at, earlier.lead_id) < (new_leads.received_at, new_leads.lead_id)

    union

    select
        new_leads.lead_id,
        earlier.lead_id as earlier_lead_id
    from new_leads
    inner join leads as earlier
        on
            new_leads.phone_hash = earlier.phone_hash
            -- only real numbers: an unparseable phone ("call after 5") hashes its few digits,
            -- and thousands of leads sharing it made this join quadratic (benchmarks/README.md)
            and new_leads.phone_e164 is not null
            and earlier.phone_e164 is not null
            and (earlier.received_at, earlier.lead_id) < (new_leads.received_at, new_leads.lead_id)

),

prior_same_contact as (

    select
        lead_id,
        count(*) as n_prior_leads
    from earlier_contacts
    group by lead_id

),

features as (

    select
        new_leads.lead_id,
        new_leads.external_id,
        new_leads.received_at,
        new_leads.received_date,

        -- what the seller told us
        new_leads.source,
        new_leads.property_type,
        new_leads.condition,
        new_leads.occupancy,
        new_leads.motivation,
        new_leads.timeline,
        cast(case new_leads.timeline
            when 'asap' then 7
            when '30_days' then 30
            when '90_days' then 90
            when '6_months' then 180
            when '12_months_plus' then 365
        end as double precision) as timeline_days,
        new_leads.asking_price,
        new_leads.asking_price / nullif(new_leads.estimated_value, 0) as asking_to_value_ratio,
        coalesce(new_leads.mortgage_balance, new_leads.mortgage_balance_estimate)
            as mortgage_balance,
        cast(new_leads.bedrooms as double precision) as bedrooms,
        cast(new_leads.bathrooms as double precision) as bathrooms,
        cast(new_leads.square_feet as double precision) as square_feet,
        cast(case
            when new_leads.year_built between 1700 and extract(year from new_leads.received_at)
                then extract(year from new_leads.received_at) - new_leads.year_built
        end as double precision) as property_age_years,
        new_leads.has_consent_email,
        new_leads.has_consent_sms,

        -- contact quality
        new_leads.has_email,
        new_leads.has_phone,
        new_leads.email_is_valid,
        new_leads.email_is_disposable,
        new_leads.email_is_role,
        new_leads.phone_is_valid,
        new_leads.phone_line_type,

        -- property and owner
        new_leads.is_address_parsed,
        new_leads.is_county_matched,
        new_leads.is_owner_of_record,
        new_leads.owner_match_score,
        new_leads.is_absentee_owner,
        new_leads.estimated_value,
        new_leads.assessed_value,
        new_leads.equity,
        new_leads.equity_ratio,
        -- a sale recorded after the lead arrived is the future: not a feature
        cast(case
            when new_leads.last_sale_date <= new_leads.received_date
                then (new_leads.received_date - new_leads.last_sale_date) / 365.25
        end as double precision) as years_since_last_sale,
        new_leads.is_tax_delinquent,
        new_leads.is_in_foreclosure,

        -- point-in-time history
        cast(coalesce(prior_same_property.n_prior_leads, 0) as double precision)
            as n_prior_leads_same_property,
        cast(coalesce(prior_same_contact.n_prior_leads, 0) as double precision)
            as n_prior_leads_same_contact

    from new_leads
    left join prior_same_property on new_leads.lead_id = prior_same_property.lead_id
    left join prior_same_contact on new_leads.lead_id = prior_same_contact.lead_id

),

final as (

    select * from features

)

select * from final
