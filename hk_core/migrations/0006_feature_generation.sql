-- One counter, bumped whenever marts.lead_features or ml.lead_scores is rebuilt
-- (hk_core.feature_cache.invalidate). API workers poll it and drop what they derived from
-- the old rows (their in-process score cache); the Redis cache has its own counter.
create table ml.feature_generation (
    id boolean primary key default true check (id),
    generation bigint not null,
    changed_at timestamptz not null default now(),
    reason text
);
insert into ml.feature_generation (id, generation, reason) values (true, 0, 'created');
