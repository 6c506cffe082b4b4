-- The assistant orchestrator ("Empire", issue: orchestrator): the life cycle of app.tasks, the
-- calls made to assistants, and the append-only audit log with its hash chain.

-- A task's life. The rows 0007 wrote (automations' create_task) are 'queued' and stay valid.
alter table app.tasks
    add column deal_id bigint,  -- the deals issue adds app.deals and its foreign key
    add column priority integer not null default 0,
    add column due_at timestamptz,
    add column human boolean not null default false,
    add column result jsonb,
    add column attempts integer not null default 0,
    add column max_attempts integer not null default 3 check (max_attempts >= 1),
    add column error text,
    -- The queue job running the current attempt: a reaped job of a killed worker finds its own
    -- claim and counts that attempt as lost, instead of waiting for a worker that is gone.
    add column claimed_by_job bigint,
    add column parent_task_id bigint references app.tasks (task_id),
    -- An escalation is a task for a person; at most one per escalated task, whatever retries.
    add column escalation_of bigint unique references app.tasks (task_id),
    add column approval_deadline timestamptz,
    add column approved_payload jsonb,
    add column approved_hash text,
    add column edit jsonb,
    add column decided_by text,
    add column decided_at timestamptz,
    add column decision_reason text,
    add column effect jsonb,
    add column audit_chain text,
    add column started_at timestamptz,
    add column finished_at timestamptz,
    add column updated_at timestamptz not null default now();
update app.tasks set audit_chain = coalesce('lead:' || lead_id, 'task:' || task_id);
alter table app.tasks alter column audit_chain set not null;
alter table app.tasks add constraint tasks_state_check check (state in (
    'queued', 'running', 'awaiting_approval', 'approved', 'done', 'rejected', 'failed', 'retried',
    'escalated', 'expired', 'cancelled'
));
create index tasks_state_idx on app.tasks (state, task_id);
create index tasks_assignee_idx on app.tasks (assignee, state, task_id);
create index tasks_deadline_idx on app.tasks (approval_deadline) where state = 'awaiting_approval';

-- The legal moves, the one place they are enforced: every update of a task's state passes this
-- trigger in the transaction that makes it. orchestrator/tasks.py's TRANSITIONS is the same set
-- (a test holds them equal).
create table app.task_transitions (
    from_state text not null,
    to_state text not null,
    primary key (from_state, to_state)
);
insert into app.task_transitions (from_state, to_state) values
    ('queued', 'running'), ('queued', 'awaiting_approval'), ('queued', 'cancelled'),
    ('running', 'awaiting_approval'), ('running', 'done'), ('running', 'failed'),
    ('running', 'cancelled'),
    ('failed', 'retried'), ('failed', 'escalated'),
    ('retried', 'running'), ('retried', 'cancelled'),
    ('awaiting_approval', 'approved'), ('awaiting_approval', 'rejected'),
    ('awaiting_approval', 'expired'), ('awaiting_approval', 'cancelled'),
    ('expired', 'escalated'),
    ('approved', 'done'), ('approved', 'failed');

create function app.check_task_transition() returns trigger language plpgsql as $$
begin
    if tg_op = 'INSERT' then
        if new.state <> 'queued' then
            raise exception 'task %: a task starts queued, not %', new.task_id, new.state;
        end if;
        new.audit_chain := coalesce(new.audit_chain, 'lead:' || new.lead_id, 'task:' || new.task_id);
        return new;
    end if;
    if new.state is distinct from old.state then
        if not exists (
            select 1 from app.task_transitions where from_state = old.state and to_state = new.state
        ) then
            raise exception 'task %: % -> % is not a legal transition', old.task_id, old.state, new.state;
        end if;
    end if;
    new.updated_at := now();
    return new;
end $$;
create trigger tasks_transition before insert or update on app.tasks
    for each row execute function app.check_task_transition();

-- Every call to an assistant: what was sent and what came back, per attempt. Operations may
-- need the prompt and answer (they can hold a seller's first name and address); log lines never
-- carry them.
create table app.task_calls (
    call_id bigint generated always as identity primary key,
    task_id bigint not null references app.tasks (task_id),
    attempt integer not null,
    assistant text not null,
    adapter text not null,
    outcome text not null check (outcome in ('ok', 'invalid', 'error', 'lost', 'discarded')),
    reason text,
    request jsonb,
    raw text,
    model text,
    usage jsonb,
    started_at timestamptz,
    finished_at timestamptz not null default now(),
    constraint task_calls_once_uq unique (task_id, attempt)
);

-- Messages an approved outreach task sends go through the automations' outbox; they have no
-- triggering event, and one task sends at most one message.
alter table app.messages alter column event_id drop not null;
alter table app.messages add column task_id bigint unique references app.tasks (task_id);

-- A finished task is an automation event ("research done -> outreach draft").
alter table app.automation_events drop constraint automation_events_kind_check;
alter table app.automation_events add constraint automation_events_kind_check check (kind in (
    'lead_created', 'stage_changed', 'score_crossed', 'no_contact', 'reply', 'opt_out', 'task_done'
));

-- The audit log: one row per transition, call and decision. Append-only: UPDATE, DELETE and
-- TRUNCATE are refused. Each row carries a keyed hash (HMAC-SHA256, computed by
-- orchestrator/audit.py with a key the database does not hold) over its fields and the previous
-- row's hash in the same chain (a lead's, or a lead-less task's), so an edited, removed or
-- reordered row is found by `hk audit verify` even when written with this trigger disabled.
create table app.task_audit (
    audit_id bigint generated always as identity primary key,
    chain text not null,
    lead_id bigint,
    task_id bigint,
    occurred_at timestamptz not null,
    actor text not null,
    action text not null,
    from_state text,
    to_state text,
    reason text,
    detail jsonb not null default '{}'::jsonb,
    prev_hash text,
    hash text not null
);
create index task_audit_chain_idx on app.task_audit (chain, audit_id);
create index task_audit_task_idx on app.task_audit (task_id, audit_id);

create function app.refuse_audit_change() returns trigger language plpgsql as $$
begin
    raise exception 'app.task_audit is append-only (% refused)', tg_op;
end $$;
create trigger task_audit_append_only before update or delete on app.task_audit
    for each row execute function app.refuse_audit_change();
create trigger task_audit_no_truncate before truncate on app.task_audit
    for each statement execute function app.refuse_audit_change();
