"""Nightly rescoring: every open lead's score and reasons, into ``ml.lead_scores``.

``ml.lead_scores`` is replaced in full, in one transaction, so readers (the ``scored_leads``
mart, the API) see either last night's scores or tonight's, never a mix.
``ml.lead_score_history`` gets a row only when a lead's score or model changed since its
latest history row: re-running a night, or rescoring with the same model and unchanged
features, adds nothing. A lead's ``scored_at`` in ``ml.lead_scores`` is therefore when its
current score was first given, the same as its latest history row.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import psycopg
import pyarrow as pa

from ml.data import lead_feature_schema, read_arrow, write_arrow
from ml.reasons import reason_codes_json
from ml.training import TrainedModel

if TYPE_CHECKING:  # importing MLflow costs seconds; scoring only needs the loaded model
    from ml.registry import LoadedModel

DEFAULT_OPEN_LEADS_SQL = (
    "select f.* from marts.lead_features f where not exists ("
    "select 1 from intermediate.int_lead_outcomes o where o.lead_id = f.lead_id and not o.is_open)"
)
# Bounds the encoded matrix and SHAP values in memory (~140 MB each at 86 columns) while
# keeping each XGBoost call large enough to use every core.
SCORING_CHUNK_ROWS = 200_000

# Reason codes stay text until written: parsing a million of them into jsonb costs ~6 s,
# and on most nights only the few leads whose score moved are written.
_STAGE_SQL = """
create temp table new_scores (
    lead_id bigint primary key,  -- a lead twice in features_sql is an error, said here
    score double precision not null,
    reason_codes text not null
) on commit drop
"""
# Tonight's row for each lead. A lead whose score and model match its latest history row
# keeps that row's scored_at and is not a new score; the latest row is found through the
# (lead_id, scored_at) primary key of the history.
_NEXT_SQL = """
create temp table next_scores on commit drop as
select
    n.lead_id,
    n.score,
    cast(%(model_name)s as text) as model_name,
    cast(%(model_version)s as text) as model_version,
    n.reason_codes,
    coalesce(same.scored_at, cast(%(scored_at)s as timestamptz)) as scored_at,
    same.scored_at is null as is_new_score
from new_scores as n
left join lateral (
    select h.score, h.model_name, h.model_version, h.scored_at
    from ml.lead_score_history as h
    where h.lead_id = n.lead_id
    order by h.scored_at desc
    limit 1
) as latest on true
left join lateral (
    select latest.scored_at
    where latest.score = n.score
        and latest.model_name = %(model_name)s
        and latest.model_version = %(model_version)s
) as same on true
"""
_HISTORY_SQL = """
insert into ml.lead_score_history
    (lead_id, score, model_name, model_version, reason_codes, scored_at)
select lead_id, score, model_name, model_version, cast(reason_codes as jsonb), scored_at
from next_scores
where is_new_score
"""
# "Replaced in full" is done as: delete every row that is not tonight's (closed or changed),
# insert what is then missing. On a night where few scores move almost nothing is written
# (DELETE + INSERT of all 1M rows took ~30 s and left a million dead rows for autovacuum),
# and readers are never blocked, as TRUNCATE's exclusive lock would block them. A row that
# stays keeps its reason codes, so each row equals its lead's latest history row.
_REPLACE_SQL = (
    """
    delete from ml.lead_scores as s
    where not exists (
        select 1 from next_scores as x
        where x.lead_id = s.lead_id and x.score = s.score and x.model_name = s.model_name
            and x.model_version = s.model_version and x.scored_at = s.scored_at
    )
    """,
    """
    insert into ml.lead_scores
        (lead_id, score, model_name, model_version, reason_codes, scored_at)
    select lead_id, score, model_name, model_version, cast(reason_codes as jsonb), scored_at
    from next_scores as x
    where not exists (select 1 from ml.lead_scores as s where s.lead_id = x.lead_id)
    """,
)

_SCORED_SCHEMA = pa.schema(
    [("lead_id", pa.int64()), ("score", pa.float64()), ("reason_codes", pa.string())]
)


@dataclass(frozen=True)
class RescoreSummary:
    rows: int
    history_rows_added: int
    seconds: float
    model_name: str
    model_version: str
    scored_at: datetime
    timings: dict[str, float] = field(default_factory=dict)


def score_leads(
    model: TrainedModel, leads: pa.Table, *, approximate_reasons: bool = False
) -> pa.Table:
    """(lead_id, score, reason_codes) for each lead; the features are ``leads``' columns.

    Exact TreeSHAP is most of the cost: on the 2-core dev box, 200,000 leads x 175 trees of
    depth 4 took 58 s exact and 2.1 s with ``approximate_reasons`` (Saabas), everything
    else (encode, predict, reason text) ~2 s. Approximate reasons gave the same first reason
    for 82% of leads and the same top-three set for only 63%, and explaining one lead online
    exactly takes well under a millisecond, so exact is the default here too (the same lead
    gets the same reasons in both places); the score itself is exact either way.
    """
    if leads.num_rows == 0:
        return _SCORED_SCHEMA.empty_table()
    parts = []
    for offset in range(0, leads.num_rows, SCORING_CHUNK_ROWS):
        chunk = leads.slice(offset, SCORING_CHUNK_ROWS)
        matrix = model.encoder.transform_arrow(chunk)
        scores = model.predict_proba_matrix(matrix)
        contributions = model.contributions(matrix, approximate=approximate_reasons)
        reasons = reason_codes_json(chunk, contributions, model.encoder.features)
        parts.append(
            pa.table([chunk.column("lead_id"), pa.array(scores), reasons], schema=_SCORED_SCHEMA)
        )
    return pa.concat_tables(parts)


def rescore(
    conninfo: str,
    model: LoadedModel,
    *,
    features_sql: str = DEFAULT_OPEN_LEADS_SQL,
    scored_at: datetime | None = None,
    approximate_reasons: bool = False,
) -> RescoreSummary:
    """Score the leads of ``features_sql`` (default: every open lead) and write the results."""
    if model.name is None or model.version is None:
        raise ValueError(f"{model.uri} is not a registered model version: scores name their model")
    scored_at = scored_at or datetime.now(UTC)
    started = time.perf_counter()
    leads = read_arrow(conninfo, features_sql, lead_feature_schema(model.model.encoder.features))
    read_done = time.perf_counter()
    scored = score_leads(model.model, leads, approximate_reasons=approximate_reasons)
    score_done = time.perf_counter()
    params = {"model_name": model.name, "model_version": model.version, "scored_at": scored_at}
    with psycopg.connect(conninfo) as conn:
        # The anti-joins below hash a million rows: with the default 4 MB they spill to disk.
        conn.execute("set local work_mem = '256MB'")
        conn.execute(_STAGE_SQL)
        write_arrow(conn, scored, "new_scores")
        conn.execute("analyze new_scores")  # temp tables get no statistics otherwise
        conn.execute(_NEXT_SQL, params)
        conn.execute("analyze next_scores")
        history_rows = conn.execute(_HISTORY_SQL).rowcount
        for statement in _REPLACE_SQL:
            conn.execute(statement)
    finished = time.perf_counter()
    return RescoreSummary(
        rows=scored.num_rows,
        history_rows_added=max(history_rows, 0),
        seconds=finished - started,
        model_name=model.name,
        model_version=model.version,
        scored_at=scored_at,
        timings={
            "read_seconds": read_done - started,
            "score_seconds": score_done - read_done,
            "write_seconds": finished - score_done,
        },
    )
