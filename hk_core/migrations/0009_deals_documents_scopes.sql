-- Deals, signed documents, signed webhooks and scoped API keys (docs/security.md, docs/deals.md).

-- API keys carry scopes. Keys made before scopes existed keep every scope, so nothing that
-- works today stops working; new keys get the scopes they are created with.
alter table app.api_keys
    add column scopes text[] not null default array['ingest', 'read', 'operate', 'approve', 'admin'];
alter table app.api_keys add constraint api_keys_scopes_known check (
    scopes <@ array['ingest', 'read', 'operate', 'approve', 'admin'] and cardinality(scopes) >= 1
);

-- One deal per lead that reaches offer_made. Money is numeric: cents exactly as sent.
create table app.deals (
    deal_id bigint generated always as identity primary key,
    lead_id bigint not null unique references app.leads (lead_id),
    -- The lead's current stage (app.stage_events), kept by the trigger below.
    status text not null check (status in (
        'new', 'contacted', 'qualified', 'appointment_set', 'offer_made',
        'under_contract', 'closed_won', 'closed_lost'
    )),
    offer_amount numeric(14, 2) check (offer_amount >= 0),
    contract_price numeric(14, 2) check (contract_price >= 0),
    assignment_fee numeric(14, 2) check (assignment_fee >= 0),
    contract_date date,
    closing_date date,
    notes text,
    offer_made_at timestamptz,
    status_changed_at timestamptz not null default now(),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    updated_by text
);
create index deals_status_idx on app.deals (status, deal_id);

-- Statement-level, so a bulk import of stage history costs one set-based pass, not a call per
-- row: every lead the statement touched gets its deal (when it reached offer_made or beyond)
-- and the deal's status follows the lead's latest stage.
create function app.deals_follow_stage() returns trigger language plpgsql as $$
begin
    insert into app.deals (lead_id, status, offer_made_at, status_changed_at)
    select n.lead_id, 'offer_made', min(n.occurred_at), min(n.occurred_at)
    from new_events as n
    where n.stage in ('offer_made', 'under_contract', 'closed_won')
    group by n.lead_id
    on conflict (lead_id) do nothing;

    update app.deals as d
    set status = latest.stage, status_changed_at = latest.occurred_at, updated_at = now()
    from (
        select distinct on (s.lead_id) s.lead_id, s.stage, s.occurred_at
        from app.stage_events as s
        where s.lead_id in (select lead_id from new_events)
        order by s.lead_id, s.occurred_at desc, s.event_id desc
    ) as latest
    where d.lead_id = latest.lead_id and d.status is distinct from latest.stage;
    return null;
end $$;
create trigger stage_events_deals after insert on app.stage_events
    referencing new table as new_events
    for each statement execute function app.deals_follow_stage();

-- Deals for the history already recorded.
insert into app.deals (lead_id, status, offer_made_at, status_changed_at)
select r.lead_id, latest.stage, r.reached, latest.occurred_at
from (
    select lead_id, min(occurred_at) as reached from app.stage_events
    where stage in ('offer_made', 'under_contract', 'closed_won') group by lead_id
) as r
join lateral (
    select s.stage, s.occurred_at from app.stage_events as s where s.lead_id = r.lead_id
    order by s.occurred_at desc, s.event_id desc limit 1
) as latest on true;

-- Tasks could name a deal before deals existed; rows from then are not checked.
alter table app.tasks add constraint tasks_deal_fk
    foreign key (deal_id) references app.deals (deal_id) not valid;

-- Stored files, once per content: the object key is the SHA-256 of the bytes.
create table app.document_objects (
    sha256 text primary key check (sha256 ~ '^[0-9a-f]{64}$'),
    size_bytes bigint not null check (size_bytes >= 0),
    content_type text not null,
    storage_key text not null,
    stored_at timestamptz not null default now(),
    -- Set when the bytes read back do not hash to sha256: never served again.
    quarantined_at timestamptz,
    quarantine_reason text
);

-- A document is a link from a lead (and its deal, when there is one) to a stored object.
create table app.documents (
    document_id bigint generated always as identity primary key,
    sha256 text not null references app.document_objects (sha256),
    lead_id bigint not null references app.leads (lead_id),
    deal_id bigint references app.deals (deal_id),
    kind text not null check (kind in (
        'purchase_contract', 'assignment_contract', 'disclosure', 'photo', 'identification',
        'other'
    )),
    filename text,
    uploaded_by text not null,
    source text not null default 'upload' check (source in ('upload', 'esign')),
    signed boolean not null default false,
    signers jsonb not null default '[]'::jsonb,
    external_id text,
    created_at timestamptz not null default now(),
    deleted_at timestamptz,
    deleted_by text,
    -- Signed documents are kept: retention, whatever the API is asked.
    constraint documents_signed_kept check (not (signed and deleted_at is not null))
);
create index documents_lead_idx on app.documents (lead_id, document_id);
create index documents_deal_idx on app.documents (deal_id, document_id);
create index documents_sha_idx on app.documents (sha256);

-- Webhook deliveries, one per provider event: a replay finds its row and does nothing.
create table app.webhook_events (
    webhook_event_id bigint generated always as identity primary key,
    provider text not null,
    event_id text not null,
    event_type text,
    received_at timestamptz not null default now(),
    outcome text not null,
    detail jsonb not null default '{}'::jsonb,
    constraint webhook_events_uq unique (provider, event_id)
);
