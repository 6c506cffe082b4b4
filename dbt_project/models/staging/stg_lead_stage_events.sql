with

source as (

    select * from {{ source('raw', 'lead_stage_events') }}

),

renamed as (

    select
        event_id,
        lead_id,
        external_id,
        lower(source) as source,
        stage,
        occurred_at,
        occurred_date

    from source

)

select * from renamed
