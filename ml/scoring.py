"""Nightly rescoring: every open lead's score and reasons, into ``ml.lead_scores``.

``ml.lead_scores`` is replaced in full, in one transaction, so readers (the ``scored_leads``
mart, the API) see either last night's scores or tonight's, never a mix.
``ml.lead_score_history`` gets a row only when a lead's score or model changed since its
latest history row: re-running a night, or rescoring with the same model and unchanged
features, adds nothing. A lead's ``scored_at`` in ``ml.lead_scores`` is therefore when its
current score was first given, the same as its latest history row.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np
import psycopg
import pyarrow as pa

from ml.data import KEY_FIELDS, arrow_batches, lead_feature_schema, write_arrow
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
# Record batches read ahead of the scoring (~16 MB each): Postgres and the driver produce
# the next ones while the encoder and XGBoost work on this one.
READ_AHEAD_BATCHES = 4

# Only (lead_id, score) goes over the wire for every lead, in binary: reason codes are built
# and sent only for the leads whose row in ml.lead_scores changes (on a typical night, the
# new leads), see ``write_scores``.
_STAGE_SQL = """
create temp table new_scores (
    lead_id bigint not null,
    score double precision not null
) on commit drop
"""
# Every lead whose row in ml.lead_scores must go (closed, or its score or model changed) or
# come (new, changed, or back from closed), in one pass over both tables. A lead whose row
# stays is the same lead, score and model as its latest history row, because each row of
# ml.lead_scores *is* its lead's latest history row (the invariant this module keeps).
_MOVED_SQL = """
create temp table moved on commit drop as
select
    coalesce(n.lead_id, s.lead_id) as lead_id,
    n.score,
    s.lead_id is not null as is_listed
from new_scores as n
full join ml.lead_scores as s on s.lead_id = n.lead_id
where n.lead_id is null
    or s.lead_id is null
    or s.score <> n.score
    or s.model_name <> %(model_name)s
    or s.model_version <> %(model_version)s
"""
# Tonight's row for each lead that gets one. A listed lead that moved has a new score (its
# listed row is its latest history row). An unlisted lead (new, or back from closed) is a new
# score unless its latest history row has the same score and model: then it keeps that row's
# scored_at. The latest row is found through the (lead_id, scored_at) primary key, and only
# for unlisted leads (a handful on a normal night; every lead on the first).
_NEXT_SQL = """
create temp table next_scores on commit drop as
select
    m.lead_id,
    m.score,
    coalesce(same.scored_at, cast(%(scored_at)s as timestamptz)) as scored_at,
    same.scored_at is null as is_new_score
from moved as m
left join lateral (
    select latest.scored_at
    from (
        select h.score, h.model_name, h.model_version, h.scored_at
        from ml.lead_score_history as h
        where h.lead_id = m.lead_id and not m.is_listed
        order by h.scored_at desc
        limit 1
    ) as latest
    where latest.score = m.score
        and latest.model_name = %(model_name)s
        and latest.model_version = %(model_version)s
) as same on true
where m.score is not null
"""
_REASONS_SQL = """
create temp table new_reasons (
    lead_id bigint not null,
    reason_codes jsonb not null
) on commit drop
"""
_HISTORY_SQL = """
insert into ml.lead_score_history
    (lead_id, score, model_name, model_version, reason_codes, scored_at)
select x.lead_id, x.score, %(model_name)s, %(model_version)s, r.reason_codes, x.scored_at
from next_scores as x
join new_reasons as r on r.lead_id = x.lead_id
where x.is_new_score
"""
# "Replaced in full" is done as: delete every row that moved (closed or changed), insert
# tonight's rows for the leads that moved in. On a night where few scores move almost nothing
# is written (DELETE + INSERT of all 1M rows took ~30 s and left a million dead rows for
# autovacuum), and readers are never blocked, as TRUNCATE's exclusive lock would block them.
# A row that stays keeps its reason codes, so each row equals its lead's latest history row.
_REPLACE_SQL = (
    """
    delete from ml.lead_scores as s
    using moved as m
    where m.lead_id = s.lead_id and m.is_listed
    """,
    """
    insert into ml.lead_scores
        (lead_id, score, model_name, model_version, reason_codes, scored_at)
    select x.lead_id, x.score, %(model_name)s, %(model_version)s, r.reason_codes, x.scored_at
    from next_scores as x
    join new_reasons as r on r.lead_id = x.lead_id
    """,
)

_SCORED_SCHEMA = pa.schema(
    [("lead_id", pa.int64()), ("score", pa.float64()), ("reason_codes", pa.string())]
)
# Postgres's binary COPY layout: a 19-byte header, then per row the field count and each
# field as (length, big-endian value), then a 2-byte trailer.
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
_COPY_TRAILER = b"\xff\xff"
_SCORE_ROW = np.dtype([("n", ">i2"), ("id_len", ">i4"), ("id", ">i8"), ("score_len", ">i4"),
                       ("score", ">f8")])  # fmt: skip
_ID_ROW = np.dtype([("n", ">i2"), ("id_len", ">i4"), ("id", ">i8")])

ReasonsFor = Callable[[np.ndarray], pa.Array]


@dataclass(frozen=True)
class RescoreSummary:
    rows: int
    history_rows_added: int
    seconds: float
    model_name: str
    model_version: str
    scored_at: datetime
    timings: dict[str, float] = field(default_factory=dict)
    rows_written: int = 0  # rows inserted into ml.lead_scores (new, changed or reopened leads)


@dataclass(frozen=True)
class WriteResult:
    history_rows_added: int
    rows_written: int
    timings: dict[str, float]


def scoring_schema(model: TrainedModel) -> pa.Schema:
    """What scoring reads: the lead's id and the model's own features, nothing else."""
    features = lead_feature_schema(model.encoder.features)
    return pa.schema([KEY_FIELDS[0], *(features.field(f.name) for f in model.encoder.features)])


def explain_leads(
    model: TrainedModel, leads: pa.Table, *, approximate_reasons: bool = False
) -> pa.Array:
    """Each lead's reason codes (JSON text): its largest positive per-feature contributions.

    Exact TreeSHAP is most of the cost: on the 2-core dev box, 200,000 leads x 175 trees of
    depth 4 took 58 s exact and 2.1 s with ``approximate_reasons`` (Saabas), everything
    else (encode, predict, reason text) ~2 s. Approximate reasons gave the same first reason
    for 82% of leads and the same top-three set for only 63%.
    """
    if leads.num_rows == 0:
        return pa.array([], pa.string())
    parts = []
    for offset in range(0, leads.num_rows, SCORING_CHUNK_ROWS):
        chunk = leads.slice(offset, SCORING_CHUNK_ROWS)
        matrix = model.encoder.transform_arrow(chunk)
        contributions = model.contributions(matrix, approximate=approximate_reasons)
        parts.append(reason_codes_json(chunk, contributions, model.encoder.features))
    return pa.concat_arrays(parts)


def score_leads(
    model: TrainedModel, leads: pa.Table, *, approximate_reasons: bool = False
) -> pa.Table:
    """(lead_id, score, reason_codes) for each lead; the features are ``leads``' columns.

    ``rescore`` does not call this: it builds reasons only for the leads whose row changes.
    """
    if leads.num_rows == 0:
        return _SCORED_SCHEMA.empty_table()
    scores = np.concatenate(
        [
            model.predict_proba(leads.slice(offset, SCORING_CHUNK_ROWS))
            for offset in range(0, leads.num_rows, SCORING_CHUNK_ROWS)
        ]
    )
    reasons = explain_leads(model, leads, approximate_reasons=approximate_reasons)
    return pa.table([leads.column("lead_id"), pa.array(scores), reasons], schema=_SCORED_SCHEMA)


def _read_ahead(batches: Iterable[pa.RecordBatch], depth: int) -> Iterator[pa.RecordBatch]:
    """``batches``, pulled by a thread up to ``depth`` ahead of the consumer."""
    ready: queue.Queue[pa.RecordBatch | BaseException | None] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def pull() -> None:
        try:
            for batch in batches:
                if stop.is_set():
                    return
                ready.put(batch)
            ready.put(None)
        except BaseException as error:  # handed to the consumer, raised there
            ready.put(error)

    puller = threading.Thread(target=pull, name="read-ahead", daemon=True)
    puller.start()
    try:
        while (item := ready.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while puller.is_alive():  # unblock a puller waiting on a full queue
            try:
                ready.get_nowait()
            except queue.Empty:
                puller.join(0.01)


def read_and_score(
    conninfo: str, model: TrainedModel, features_sql: str
) -> tuple[pa.Table, np.ndarray]:
    """(the leads' features, their scores): each batch is encoded and predicted as soon as
    it arrives, while Postgres sends the next."""
    schema = scoring_schema(model)
    leads: list[pa.RecordBatch] = []
    scores: list[np.ndarray] = []
    # One encoding buffer for every batch: a fresh matrix per batch cost more in page faults
    # (2.4 s per million leads on the loaded dev box) than the encoding itself (0.6 s).
    buffer = np.zeros((0, model.encoder.n_columns), order="F")
    with arrow_batches(conninfo, features_sql, schema) as batches:
        for batch in _read_ahead(batches, READ_AHEAD_BATCHES):
            if batch.num_rows > buffer.shape[0]:
                buffer = np.zeros((batch.num_rows, model.encoder.n_columns), order="F")
            if batch.num_rows:
                leads.append(batch)
                matrix = model.encoder.transform_arrow(batch, out=buffer)
                scores.append(model.predict_proba_matrix(matrix))
    table = pa.Table.from_batches(leads, schema=schema)
    return table, (np.concatenate(scores) if scores else np.empty(0))


def _score_copy_data(lead_ids: np.ndarray, scores: np.ndarray) -> bytes:
    rows = np.empty(len(lead_ids), dtype=_SCORE_ROW)
    rows["n"], rows["id_len"], rows["score_len"] = 2, 8, 8
    rows["id"], rows["score"] = lead_ids, scores
    return _COPY_HEADER + rows.tobytes() + _COPY_TRAILER


def _copy_out_ids(conn: psycopg.Connection, query: str) -> np.ndarray:
    """The single bigint column of ``query``, via binary COPY, as an int64 array."""
    with conn.cursor() as cursor, cursor.copy(f"copy ({query}) to stdout (format binary)") as out:
        data = b"".join(bytes(block) for block in out)
    body = data[len(_COPY_HEADER) : len(data) - len(_COPY_TRAILER)]
    return np.frombuffer(body, dtype=_ID_ROW)["id"].astype(np.int64)


def positions_of(lead_ids: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Where each of ``wanted`` sits in ``lead_ids`` (all of them are there)."""
    order = np.argsort(lead_ids, kind="stable")
    return order[np.searchsorted(lead_ids, wanted, sorter=order)]


def write_scores(
    conninfo: str,
    lead_ids: np.ndarray,
    scores: np.ndarray,
    reasons_for: ReasonsFor,
    *,
    model_name: str,
    model_version: str,
    scored_at: datetime,
) -> WriteResult:
    """Make ml.lead_scores exactly these leads' scores, with history, in one transaction.

    ``reasons_for(positions)`` gives the reason codes (JSON text) of the leads at those
    positions of ``lead_ids``; it is called once, for the leads whose row is written.
    """
    if len(np.unique(lead_ids)) != len(lead_ids):
        raise ValueError("a lead appears more than once in the leads to score")
    params = {"model_name": model_name, "model_version": model_version, "scored_at": scored_at}
    timings: dict[str, float] = {}
    started = time.perf_counter()
    with psycopg.connect(conninfo) as conn:
        # The full join below hashes a million rows: with the default 4 MB it spills to disk.
        conn.execute("set local work_mem = '256MB'")
        conn.execute(_STAGE_SQL)
        with (
            conn.cursor() as cursor,
            cursor.copy("copy new_scores (lead_id, score) from stdin (format binary)") as copy,
        ):
            copy.write(_score_copy_data(lead_ids, scores))
        conn.execute("analyze new_scores")  # temp tables get no statistics otherwise
        conn.execute(_MOVED_SQL, params)
        conn.execute("analyze moved")
        conn.execute(_NEXT_SQL, params)
        written = _copy_out_ids(conn, "select lead_id from next_scores")
        compared = time.perf_counter()
        reasons = reasons_for(positions_of(lead_ids, written))
        explained = time.perf_counter()
        conn.execute(_REASONS_SQL)
        write_arrow(conn, pa.table({"lead_id": written, "reason_codes": reasons}), "new_reasons")
        history_rows = conn.execute(_HISTORY_SQL, params).rowcount
        for statement in _REPLACE_SQL:
            conn.execute(statement, params)
    finished = time.perf_counter()
    timings["compare_seconds"] = compared - started
    timings["reasons_seconds"] = explained - compared
    timings["write_seconds"] = finished - explained
    return WriteResult(max(history_rows, 0), len(written), timings)


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
    leads, scores = read_and_score(conninfo, model.model, features_sql)
    read_done = time.perf_counter()
    lead_ids = leads.column("lead_id").to_numpy()

    def reasons_for(positions: np.ndarray) -> pa.Array:
        return explain_leads(
            model.model, leads.take(positions), approximate_reasons=approximate_reasons
        )

    written = write_scores(
        conninfo,
        lead_ids,
        scores,
        reasons_for,
        model_name=model.name,
        model_version=model.version,
        scored_at=scored_at,
    )
    finished = time.perf_counter()
    return RescoreSummary(
        rows=leads.num_rows,
        history_rows_added=written.history_rows_added,
        seconds=finished - started,
        model_name=model.name,
        model_version=model.version,
        scored_at=scored_at,
        timings={"read_and_score_seconds": read_done - started, **written.timings},
        rows_written=written.rows_written,
    )
