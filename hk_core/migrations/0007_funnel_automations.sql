-- The operations side (issue: funnel and automations): who moved a lead and why, the events
-- automations react to, their runs, the message outbox, replies, the suppression list.
-- The queue (procrastinate's own schema) is applied by hk_core.migrate after these files.

-- Stage moves made through the API or an automation say who made them and why. Imported
-- history leaves both empty.
alter table app.stage_events
    add column actor text,
    add column reason text,
    add column from_stage text;
-- The state machine reads a lead's latest event; imports and the API write the same table.
create index stage_events_lead_latest_idx on app.stage_events (lead_id, occurred_at desc, event_id desc);

-- What automations react to. Written by triggers (below) and by the worker's periodic scans,
-- in the transaction that causes them, so a committed lead always gets its automations and a
-- rolled-back one never does, whatever path it arrived by.
create table app.automation_events (
    event_id bigint generated always as identity primary key,
    lead_id bigint not null references app.leads (lead_id),
    kind text not null check (kind in (
        'lead_created', 'stage_changed', 'score_crossed', 'no_contact', 'reply', 'opt_out'
    )),
    payload jsonb not null default '{}'::jsonb,
    occurred_at timestamptz not null default now(),
    dispatched_at timestamptz
);
create index automation_events_pending_idx on app.automation_events (event_id)
    where dispatched_at is null;
create index automation_events_lead_idx on app.automation_events (lead_id, kind, occurred_at);

-- One run per (rule, event): a rule's steps for one lead, advanced by the worker.
create table app.automation_runs (
    run_id bigint generated always as identity primary key,
    rule_id text not null,
    lead_id bigint not null references app.leads (lead_id),
    event_id bigint not null references app.automation_events (event_id),
    status text not null default 'running'
        check (status in ('running', 'completed', 'stopped', 'failed')),
    next_step integer not null default 0,
    stop_reason text,
    started_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint automation_runs_uq unique (rule_id, event_id)
);
create index automation_runs_running_idx on app.automation_runs (lead_id) where status = 'running';

-- The outbox: one row per (rule, lead, triggering event, step), whatever the retries.
create table app.messages (
    message_id bigint generated always as identity primary key,
    lead_id bigint not null references app.leads (lead_id),
    channel text not null check (channel in ('sms', 'email')),
    purpose text not null default 'marketing' check (purpose in ('marketing', 'compliance')),
    rule_id text not null,
    event_id bigint not null references app.automation_events (event_id),
    step integer not null,
    run_id bigint references app.automation_runs (run_id),
    subject text,
    body text not null,
    status text not null default 'queued' check (status in (
        'queued', 'deferred', 'sending', 'sent', 'delivered', 'failed', 'blocked'
    )),
    status_reason text,
    -- Every compliance decision and attempt, in order: [{"at", "check", "outcome", "detail"}].
    decisions jsonb not null default '[]'::jsonb,
    send_after timestamptz not null default now(),
    attempts integer not null default 0,
    provider_id text,
    created_at timestamptz not null default now(),
    sent_at timestamptz,
    updated_at timestamptz not null default now(),
    constraint messages_once_uq unique (rule_id, lead_id, event_id, step)
);
create index messages_lead_idx on app.messages (lead_id, created_at desc);
create index messages_cap_idx on app.messages (lead_id, channel, sent_at) where sent_at is not null;
create unique index messages_provider_idx on app.messages (provider_id) where provider_id is not null;

-- Delivery status callbacks as received: one can arrive before the send that caused it has
-- committed its provider id, so it is kept and applied when the message is recorded as sent.
create table app.provider_statuses (
    provider_id text not null,
    status text not null,
    received_at timestamptz not null default now(),
    primary key (provider_id, status)
);

-- Inbound texts (replies, opt-outs) as received, matched to the leads with that phone.
create table app.inbound_messages (
    inbound_id bigint generated always as identity primary key,
    provider_id text not null unique,
    phone_hash text not null,
    body text not null,
    keyword text,
    lead_ids bigint[] not null default '{}',
    received_at timestamptz not null default now()
);
create index inbound_messages_phone_idx on app.inbound_messages (phone_hash);

-- Do-not-contact: opt-outs, unsubscribes and the internal list, by keyed hash of the contact
-- (the same HMAC as app.leads.phone_hash/email_hash). channel 'all' covers every channel.
create table app.suppressions (
    suppression_id bigint generated always as identity primary key,
    contact_hash text not null,
    channel text not null check (channel in ('sms', 'email', 'all')),
    reason text not null,
    source text not null,
    created_at timestamptz not null default now(),
    constraint suppressions_uq unique (contact_hash, channel)
);

-- The last score seen for each lead (nightly or online) and the thresholds rules watch, so a
-- score event is only written when a watched threshold lies between the old and new score.
create table app.score_marks (
    lead_id bigint primary key,
    score double precision not null,
    source text not null,
    marked_at timestamptz not null default now()
);
create table app.score_thresholds (threshold double precision primary key);

-- Tasks an automation asks for (the assistant orchestrator issue builds their life cycle).
create table app.tasks (
    task_id bigint generated always as identity primary key,
    kind text not null,
    lead_id bigint references app.leads (lead_id),
    assignee text,
    state text not null default 'queued',
    input jsonb not null default '{}'::jsonb,
    created_by text not null,
    created_at timestamptz not null default now(),
    dedup_key text unique
);
create index tasks_lead_idx on app.tasks (lead_id, created_at desc);

-- Queue a dispatch of pending events in the transaction that wrote them. One job per
-- statement (not per row: a bulk import of 20,000 leads is one job); any dispatch job takes
-- any pending events, so a second job finds nothing and ends.
create function app.defer_dispatch() returns void language plpgsql as $$
begin
    perform procrastinate_defer_jobs_v1(array[
        row('automations', 'automations.dispatch', 0, null, null, '{}'::jsonb, null)
            ::procrastinate_job_to_defer_v1
    ]);
end;
$$;

create function app.leads_created_events() returns trigger language plpgsql as $$
begin
    insert into app.automation_events (lead_id, kind, payload)
    select n.lead_id, 'lead_created', jsonb_build_object('channel', n.intake_channel)
    from new_leads as n;
    if found then
        perform app.defer_dispatch();
    end if;
    return null;
end;
$$;
create trigger leads_created_events after insert on app.leads
    referencing new table as new_leads
    for each statement execute function app.leads_created_events();

-- Only stage events with an actor (a move made now, through the API or an automation) are
-- triggers: an import of last year's history must not text anyone.
create function app.stage_changed_events() returns trigger language plpgsql as $$
begin
    insert into app.automation_events (lead_id, kind, payload)
    select n.lead_id, 'stage_changed', jsonb_build_object(
        'from_stage', n.from_stage, 'to_stage', n.stage, 'actor', n.actor, 'stage_event_id', n.event_id
    )
    from new_events as n
    where n.actor is not null;
    if found then
        perform app.defer_dispatch();
    end if;
    return null;
end;
$$;
create trigger stage_changed_events after insert on app.stage_events
    referencing new table as new_events
    for each statement execute function app.stage_changed_events();

-- Record a score for a lead; write a score_crossed event when a watched threshold lies between
-- the previous mark and this one. Returns whether an event was written.
create function app.mark_scores(lead_ids bigint[], scores double precision[], score_source text)
returns integer language plpgsql as $$
declare
    written integer;
begin
    with incoming as (
        select i.lead_id, i.score
        from unnest(lead_ids, scores) as i (lead_id, score)
    ),
    previous as (
        select i.lead_id, i.score, m.score as old_score
        from incoming as i
        left join app.score_marks as m on m.lead_id = i.lead_id
    ),
    marked as (
        insert into app.score_marks as m (lead_id, score, source, marked_at)
        select lead_id, score, score_source, now() from incoming
        on conflict (lead_id) do update
            set score = excluded.score, source = excluded.source, marked_at = excluded.marked_at
            where m.score is distinct from excluded.score
        returning m.lead_id
    ),
    crossed as (
        insert into app.automation_events (lead_id, kind, payload)
        select p.lead_id, 'score_crossed', jsonb_build_object(
            'score', p.score, 'previous', p.old_score, 'source', score_source
        )
        from previous as p
        join app.leads as l on l.lead_id = p.lead_id
        where p.old_score is distinct from p.score
            and exists (
                select 1 from app.score_thresholds as t
                where t.threshold > least(coalesce(p.old_score, 0), p.score)
                    and t.threshold <= greatest(coalesce(p.old_score, 0), p.score)
            )
        returning 1
    )
    select (select count(*) from crossed) + 0 * (select count(*) from marked) into written;
    if written > 0 then
        perform app.defer_dispatch();
    end if;
    return written;
end;
$$;

-- Nightly rescoring appends each new score to the history: that is where it is marked.
create function app.score_history_marks() returns trigger language plpgsql as $$
begin
    perform app.mark_scores(
        array(select lead_id from new_scores order by lead_id),
        array(select score from new_scores order by lead_id),
        'nightly'
    );
    return null;
end;
$$;
create trigger score_history_marks after insert on ml.lead_score_history
    referencing new table as new_scores
    for each statement execute function app.score_history_marks();
