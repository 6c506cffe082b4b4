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

_STAGE_SQL = """
create temp table new_scores (
    lead_id bigint primary key,
    score double precision not null,
    reason_codes jsonb not null
) on commit drop
"""
# Each lead's latest history row, found through the (lead_id, scored_at) primary key.
_LATEST_SQL = """
create temp table latest_scores on commit drop as
select n.lead_id, h.score, h.model_name, h.model_version, h.reason_codes, h.scored_at
from new_scores as n
cross join lateral (
    select * from ml.lead_score_history as h
    where h.lead_id = n.lead_id
    order by h.scored_at desc
    limit 1
) as h
"""
_UNCHANGED = """(
    l.lead_id is not null and l.score = n.score
    and l.model_name = %(model_name)s and l.model_version = %(model_version)s
)"""
_HISTORY_SQL = f"""
insert into ml.lead_score_history
    (lead_id, score, model_name, model_version, reason_codes, scored_at)
select n.lead_id, n.score, %(model_name)s, %(model_version)s, n.reason_codes, %(scored_at)s
from new_scores as n
left join latest_scores as l on l.lead_id = n.lead_id
where not {_UNCHANGED}
"""
# DELETE rather than TRUNCATE: TRUNCATE's exclusive lock would block the API's reads of
# scores until the commit; with DELETE they keep reading the old rows meanwhile.
_REPLACE_SQL = f"""
insert into ml.lead_scores
    (lead_id, score, model_name, model_version, reason_codes, scored_at)
select
    n.lead_id, n.score, %(model_name)s, %(model_version)s,
    case when {_UNCHANGED} then l.reason_codes else n.reason_codes end,
    case when {_UNCHANGED} then l.scored_at else %(scored_at)s end
from new_scores as n
left join latest_scores as l on l.lead_id = n.lead_id
"""

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


def score_leads(model: TrainedModel, leads: pa.Table) -> pa.Table:
    """(lead_id, score, reason_codes) for each lead; the features are ``leads``' columns."""
    if leads.num_rows == 0:
        return _SCORED_SCHEMA.empty_table()
    parts = []
    for offset in range(0, leads.num_rows, SCORING_CHUNK_ROWS):
        chunk = leads.slice(offset, SCORING_CHUNK_ROWS)
        matrix = model.encoder.transform_arrow(chunk)
        scores = model.predict_proba_matrix(matrix)
        reasons = reason_codes_json(chunk, model.contributions(matrix), model.encoder.features)
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
) -> RescoreSummary:
    """Score the leads of ``features_sql`` (default: every open lead) and write the results."""
    if model.name is None or model.version is None:
        raise ValueError(f"{model.uri} is not a registered model version: scores name their model")
    scored_at = scored_at or datetime.now(UTC)
    started = time.perf_counter()
    leads = read_arrow(conninfo, features_sql, lead_feature_schema(model.model.encoder.features))
    read_done = time.perf_counter()
    scored = score_leads(model.model, leads)
    score_done = time.perf_counter()
    params = {"model_name": model.name, "model_version": model.version, "scored_at": scored_at}
    with psycopg.connect(conninfo) as conn:
        conn.execute(_STAGE_SQL)
        write_arrow(conn, scored, "new_scores")
        conn.execute("analyze new_scores")
        conn.execute(_LATEST_SQL)
        history_rows = conn.execute(_HISTORY_SQL, params).rowcount
        conn.execute("delete from ml.lead_scores")
        conn.execute(_REPLACE_SQL, params)
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
