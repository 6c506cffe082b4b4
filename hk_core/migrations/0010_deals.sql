-- The warehouse copy of app.deals (docs/deals.md): a snapshot the Dagster asset warehouse_deals
-- replaces whole in one transaction, read by dbt's stg_deals. Deals change after they are made
-- (status, figures, dates), so a copy by day of creation would keep stale rows. No notes: they
-- are free text a person typed about a seller.
create table raw.deals (
    deal_id bigint primary key,
    lead_id bigint not null,
    external_id text,
    source text not null,
    status text not null,
    offer_amount numeric(14, 2),
    contract_price numeric(14, 2),
    assignment_fee numeric(14, 2),
    contract_date date,
    closing_date date,
    offer_made_at timestamptz,
    status_changed_at timestamptz not null,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    copied_at timestamptz not null
);
create index deals_lead_id_idx on raw.deals (lead_id);

-- A task that made an offer names its deal: find them by deal.
create index tasks_deal_idx on app.tasks (deal_id) where deal_id is not null;
