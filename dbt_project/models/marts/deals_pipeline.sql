-- The deals pipeline, one row per deal: where each deal stands, how long since the offer, and
-- the money in it. Analysts aggregate by status or source themselves (docs/marts.md); a row
-- per deal keeps every sum traceable to a deal. Ages are measured at the snapshot's copy time,
-- not at build time, so two builds of one copy are identical.
with

deals as (

    select * from {{ ref('stg_deals') }}

),

final as (

    select
        deal_id,
        lead_id,
        external_id,
        source,
        status,
        {{ stage_order('status') }} as status_order,
        status not in ('closed_won', 'closed_lost') as is_open,
        status = 'closed_won' as is_won,
        offer_made_at,
        cast(offer_made_at at time zone 'UTC' as date) as offer_made_date,
        cast(floor({{ days_between('offer_made_at', 'copied_at') }}) as integer)
            as days_since_offer_made,
        status_changed_at,
        cast(floor({{ days_between('status_changed_at', 'copied_at') }}) as integer)
            as days_in_status,
        offer_amount,
        contract_price,
        assignment_fee,
        case
            when status not in ('closed_won', 'closed_lost') then assignment_fee
        end as expected_fee,
        case when status = 'closed_won' then assignment_fee end as realised_fee,
        contract_date,
        closing_date,
        closing_date - contract_date as days_contract_to_closing,
        copied_at as as_of
    from deals

)

select * from final
