-- Scores written by the nightly rescoring (issue: ML) and read by dbt's scored_leads mart.
create schema if not exists ml;

-- The latest score per lead: replaced in full by each rescoring run.
create table ml.lead_scores (
    lead_id bigint primary key,
    score double precision not null check (score between 0 and 1),
    model_name text not null,
    model_version text not null,
    reason_codes jsonb not null default '[]'::jsonb,
    scored_at timestamptz not null
);

-- Every score ever written, append-only; one rescoring run per (model_version, scored_at).
create table ml.lead_score_history (
    lead_id bigint not null,
    score double precision not null,
    model_name text not null,
    model_version text not null,
    reason_codes jsonb not null default '[]'::jsonb,
    scored_at timestamptz not null,
    primary key (lead_id, scored_at)
);
create index lead_score_history_scored_at_idx on ml.lead_score_history (scored_at);
