with

source as (

    select * from {{ source('ml', 'lead_scores') }}

),

renamed as (

    select
        lead_id,
        score,
        model_name,
        model_version,
        reason_codes,
        scored_at

    from source

)

select * from renamed
