"""Nightly rescoring: every open lead's score and reasons, into ``ml.lead_scores``.

``ml.lead_scores`` is replaced in full, in one transaction, so readers (the ``scored_leads``
mart, the API) see either last night's scores or tonight's, never a mix.
``ml.lead_score_history`` gets a row only when a lead's score or model changed since its
latest history row: re-running a night, or rescoring with the same model and unchanged
features, adds nothing. A lead's ``scored_at`` in ``ml.lead_scores`` is therefore when its
current score was first given, the same as its latest history row.

How a night's write is laid out (``ScoreWriter``), so that it costs little beyond the read:
- it opens before the features are read, takes the rescoring lock (two rescorings never
  interleave) and reads what ``ml.lead_scores`` holds now in a thread, alongside the read;
- the comparison (which leads moved) is NumPy over two sorted id arrays: only the leads that
  moved are sent to Postgres, none on a night where nothing changed;
- reason codes are built only for the rows that are written, chunk by chunk, and each chunk
  is written (history and ``ml.lead_scores``) while the next one is being explained.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Self

import numpy as np
import psycopg
import pyarrow as pa
import xgboost as xgb
from psycopg import sql

from ml.background import in_background
from ml.compiled import CompiledForest
from ml.data import KEY_FIELDS, arrow_batches, lead_feature_schema, read_arrow, write_arrow
from ml.forest import Forest
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

# Serialises rescorings: each one's comparison must see the scores the previous one wrote.
_LOCK_SQL = "select pg_advisory_xact_lock(hashtext('hk.ml.lead_scores'))"
# What ml.lead_scores holds now: (lead_id, score, same model as tonight's). Read by
# ``read_arrow`` on its own connection once the writer holds the lock, so it sees the last
# committed night. (psycopg 3's COPY hands back one row per Python call: 1.5 CPU-s per
# million rows.)
_CURRENT_SQL = (
    "select lead_id, score, model_name = {model_name} and model_version = {model_version}"
    " as same_model from ml.lead_scores"
)
_CURRENT_SCHEMA = pa.schema(
    [
        pa.field("lead_id", pa.int64(), nullable=False),
        pa.field("score", pa.float64(), nullable=False),
        pa.field("same_model", pa.bool_(), nullable=False),
    ]
)
# The leads whose row in ml.lead_scores must go (closed: no score tonight; changed score or
# model) or come (new, changed, or back from closed), found by ``_moved``. A lead whose row
# stays is the same lead, score and model as its latest history row, because each row of
# ml.lead_scores *is* its lead's latest history row (the invariant this module keeps).
_MOVED_SQL = """
create temp table moved (
    lead_id bigint not null,
    score double precision,
    is_listed boolean not null
) on commit drop
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
# "Replaced in full" is done as: delete the rows of leads that closed, then upsert tonight's
# row of each lead that moved, chunk by chunk (a changed lead's row is updated in place,
# through the primary key, while its chunk is written). On a night where few scores move
# almost nothing is written (DELETE + INSERT of all 1M rows took ~30 s and left a million
# dead rows for autovacuum), and readers are never blocked, as TRUNCATE's exclusive lock
# would block them. A row that stays keeps its reason codes, so each row equals its lead's
# latest history row.
_DELETE_CLOSED_SQL = """
delete from ml.lead_scores as s
using moved as m
where m.lead_id = s.lead_id and m.score is null
"""
_CHUNK_SQL = """
create temp table chunk_reasons (
    lead_id bigint not null,
    reason_codes jsonb not null
) on commit drop
"""
# One chunk of explained leads into the history (new scores only) and ml.lead_scores.
_WRITE_CHUNK_SQL = """
with chunk as (
    select x.lead_id, x.score, r.reason_codes, x.scored_at, x.is_new_score
    from chunk_reasons as r
    join next_scores as x on x.lead_id = r.lead_id
),
history as (
    insert into ml.lead_score_history
        (lead_id, score, model_name, model_version, reason_codes, scored_at)
    select lead_id, score, %(model_name)s, %(model_version)s, reason_codes, scored_at
    from chunk
    where is_new_score
    returning 1
),
listed as (
    insert into ml.lead_scores
        (lead_id, score, model_name, model_version, reason_codes, scored_at)
    select lead_id, score, %(model_name)s, %(model_version)s, reason_codes, scored_at
    from chunk
    on conflict (lead_id) do update set
        score = excluded.score,
        model_name = excluded.model_name,
        model_version = excluded.model_version,
        reason_codes = excluded.reason_codes,
        scored_at = excluded.scored_at
    returning 1
)
select (select count(*) from history), (select count(*) from listed)
"""
# Leads explained and written per step: big enough for XGBoost to use every core, small
# enough that the first chunk's reasons (written alone) and the last chunk's write (explained
# alone) are a small part of a first night's million.
WRITE_CHUNK_ROWS = 100_000

_SCORED_SCHEMA = pa.schema(
    [("lead_id", pa.int64()), ("score", pa.float64()), ("reason_codes", pa.string())]
)
# Postgres's binary COPY layout: a 19-byte header, then per row the field count and each
# field as (length, big-endian value), then a 2-byte trailer.
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
_COPY_TRAILER = b"\xff\xff"
_MOVED_ROW = np.dtype([("n", ">i2"), ("id_len", ">i4"), ("id", ">i8"), ("score_len", ">i4"),
                       ("score", ">f8"), ("listed_len", ">i4"), ("listed", "u1")])  # fmt: skip
_CLOSED_ROW = np.dtype([("n", ">i2"), ("id_len", ">i4"), ("id", ">i8"), ("score_len", ">i4"),
                        ("listed_len", ">i4"), ("listed", "u1")])  # fmt: skip

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


class BatchScorer:
    """How the batch scores and explains a model's encoded rows.

    An XGBoost model is walked by ``ml.compiled`` (the same numbers as XGBoost's
    ``inplace_predict`` and ``approx_contribs``, at a fraction of the CPU); exact TreeSHAP
    uses XGBoost's own. The logistic baseline is ``ml.linear``'s NumPy, the same function the
    API scores one lead with (its contributions are exact either way).
    """

    def __init__(self, model: TrainedModel):
        self.model = model
        self.compiled = (
            CompiledForest(Forest.from_booster(model.estimator, model.encoder.n_columns))
            if isinstance(model.estimator, xgb.Booster)
            else None
        )

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        if self.compiled is None:
            return self.model.predict_proba_matrix(matrix)
        return self.compiled.predict_proba(matrix)

    def contributions(self, matrix: np.ndarray, *, approximate: bool) -> np.ndarray:
        """Per-feature contributions, as ``TrainedModel.contributions``."""
        if self.compiled is None or not approximate:
            return self.model.contributions(matrix, approximate=approximate)
        _, per_column = self.compiled.predict_with_contributions(matrix)
        return np.asarray(self.model.encoder.sum_by_feature(per_column))


def explain_leads(
    model: TrainedModel,
    leads: pa.Table,
    *,
    approximate_reasons: bool = False,
    scorer: BatchScorer | None = None,
) -> pa.Array:
    """Each lead's reason codes (JSON text): its largest positive per-feature contributions.

    Exact TreeSHAP is most of the cost: on the 2-core dev box, 200,000 leads x 175 trees of
    depth 4 took 58 s exact and 2.1 s with ``approximate_reasons`` (Saabas, XGBoost's), now
    ~0.8 s compiled (``ml.compiled``), plus ~1.1 s for the reason text. Approximate reasons
    gave the same first reason for 82% of leads and the same top-three set for only 63%.
    """
    if leads.num_rows == 0:
        return pa.array([], pa.string())
    scorer = scorer or BatchScorer(model)
    parts = []
    for offset in range(0, leads.num_rows, SCORING_CHUNK_ROWS):
        chunk = leads.slice(offset, SCORING_CHUNK_ROWS)
        matrix = model.encoder.transform_arrow(chunk)
        contributions = scorer.contributions(matrix, approximate=approximate_reasons)
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
    scorer = BatchScorer(model)
    scores = np.concatenate(
        [
            scorer.predict(model.encoder.transform_arrow(leads.slice(offset, SCORING_CHUNK_ROWS)))
            for offset in range(0, leads.num_rows, SCORING_CHUNK_ROWS)
        ]
    )
    reasons = explain_leads(model, leads, approximate_reasons=approximate_reasons, scorer=scorer)
    return pa.table([leads.column("lead_id"), pa.array(scores), reasons], schema=_SCORED_SCHEMA)


def read_and_score(
    conninfo: str, model: TrainedModel, features_sql: str, scorer: BatchScorer | None = None
) -> tuple[pa.Table, np.ndarray]:
    """(the leads' features, their scores): each batch is encoded and predicted as soon as
    it arrives, while Postgres sends the next."""
    scorer = scorer or BatchScorer(model)
    schema = scoring_schema(model)
    leads: list[pa.RecordBatch] = []
    scores: list[np.ndarray] = []
    # One encoding buffer for every batch: a fresh matrix per batch cost more in page faults
    # (2.4 s per million leads on the loaded dev box) than the encoding itself (0.6 s).
    buffer = np.zeros((0, model.encoder.n_columns), order="F")

    def pull(put: Callable[[pa.RecordBatch], None]) -> None:
        for batch in batches:
            put(batch)

    with (
        arrow_batches(conninfo, features_sql, schema) as batches,
        closing(in_background(pull, depth=READ_AHEAD_BATCHES, name="read-ahead")) as ahead,
    ):
        for batch in ahead:
            if batch.num_rows > buffer.shape[0]:
                buffer = np.zeros((batch.num_rows, model.encoder.n_columns), order="F")
            if batch.num_rows:
                leads.append(batch)
                matrix = model.encoder.transform_arrow(batch, out=buffer)
                scores.append(scorer.predict(matrix))
    table = pa.Table.from_batches(leads, schema=schema)
    return table, (np.concatenate(scores) if scores else np.empty(0))


def _copy_in(conn: psycopg.Connection, statement: str, rows: np.ndarray) -> None:
    """Binary ``COPY … FROM STDIN`` of rows laid out as Postgres's binary tuples."""
    with conn.cursor() as cursor, cursor.copy(statement) as copy:
        copy.write(_COPY_HEADER + rows.tobytes() + _COPY_TRAILER)


def positions_of(lead_ids: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Where each of ``wanted`` sits in ``lead_ids`` (all of them are there)."""
    order = np.argsort(lead_ids, kind="stable")
    return order[np.searchsorted(lead_ids, wanted, sorter=order)]


def _lookup(sorted_ids: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(is each of ``ids`` in ``sorted_ids``, its position there where it is)."""
    if len(sorted_ids) == 0:
        return np.zeros(len(ids), dtype=bool), np.zeros(len(ids), dtype=np.intp)
    at = np.minimum(np.searchsorted(sorted_ids, ids), len(sorted_ids) - 1)
    return sorted_ids[at] == ids, at


@dataclass(frozen=True)
class Moved:
    """Tonight's leads whose row in ml.lead_scores changes, and last night's that close."""

    lead_ids: np.ndarray  # new, changed or back from closed, with tonight's score
    scores: np.ndarray
    is_listed: np.ndarray  # the lead has a row in ml.lead_scores now (it is replaced)
    closed: np.ndarray  # listed leads with no score tonight (their row is deleted)


def moved_leads(listed: pa.Table, lead_ids: np.ndarray, scores: np.ndarray) -> Moved:
    """Compare tonight's (lead_ids, scores) with ``listed``, what ml.lead_scores holds now
    (``lead_id``, ``score``, ``same_model``: whether its model is tonight's). Exact float
    comparison: a score that went through Postgres's float8 comes back bit for bit."""
    listed_ids = listed.column("lead_id").to_numpy()
    order = np.argsort(listed_ids, kind="stable")
    listed_ids = listed_ids[order]
    listed_scores = listed.column("score").to_numpy()[order]
    same_model = listed.column("same_model").to_numpy(zero_copy_only=False)[order]
    found, at = _lookup(listed_ids, lead_ids)
    stays = found.copy()
    stays[found] = (listed_scores[at[found]] == scores[found]) & same_model[at[found]]
    still_open, _ = _lookup(np.sort(lead_ids), listed_ids)
    return Moved(lead_ids[~stays], scores[~stays], found[~stays], listed_ids[~still_open])


def _moved_rows(moved: Moved) -> tuple[np.ndarray, np.ndarray]:
    scored = np.empty(len(moved.lead_ids), dtype=_MOVED_ROW)
    scored["n"], scored["id_len"], scored["score_len"], scored["listed_len"] = 3, 8, 8, 1
    scored["id"], scored["score"], scored["listed"] = moved.lead_ids, moved.scores, moved.is_listed
    closed = np.empty(len(moved.closed), dtype=_CLOSED_ROW)
    closed["n"], closed["id_len"], closed["score_len"], closed["listed_len"] = 3, 8, -1, 1
    closed["id"], closed["listed"] = moved.closed, 1
    return scored, closed


class ScoreWriter:
    """One rescoring's write to ml.lead_scores and its history, in one transaction.

    Open it before reading the features: entering takes the rescoring lock and starts reading
    what ml.lead_scores holds now in a thread, on its own connection, alongside the read.
    ``write`` then does the rest; leaving the block commits (or rolls back on an error).
    """

    def __init__(self, conninfo: str, *, model_name: str, model_version: str):
        self.conninfo = conninfo
        self.params: dict[str, object] = {"model_name": model_name, "model_version": model_version}
        self._conn: psycopg.Connection | None = None
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="score-writer")
        self._current: Future[pa.Table] | None = None

    def __enter__(self) -> Self:
        self._conn = psycopg.connect(self.conninfo)
        self._current = self._pool.submit(self._read_current)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._pool.shutdown(wait=True)  # nothing may still use the connection
        assert self._conn is not None
        with self._conn:  # commits, or rolls back if the block raised
            if error is not None:
                self._conn.rollback()

    def _read_current(self) -> pa.Table:
        conn = self._conn
        assert conn is not None
        conn.execute("set local work_mem = '256MB'")
        conn.execute(_LOCK_SQL)
        query = sql.SQL(_CURRENT_SQL).format(
            model_name=sql.Literal(self.params["model_name"]),
            model_version=sql.Literal(self.params["model_version"]),
        )
        return read_arrow(self.conninfo, query.as_string(conn), _CURRENT_SCHEMA)

    def write(
        self,
        lead_ids: np.ndarray,
        scores: np.ndarray,
        reasons_for: ReasonsFor,
        *,
        scored_at: datetime,
    ) -> WriteResult:
        """Make ml.lead_scores exactly these leads' scores, with history.

        ``reasons_for(positions)`` gives the reason codes (JSON text) of the leads at those
        positions of ``lead_ids``; it is called only for leads whose row is written, a chunk
        of them at a time, each chunk while the previous one is written.
        """
        # A sort, not np.unique: NumPy 2's hash-based unique took 0.6 s per million ids here.
        ordered = np.sort(lead_ids)
        if (repeated := ordered[1:][ordered[1:] == ordered[:-1]]).size:
            raise ValueError(f"lead {repeated[0]} appears more than once in the leads to score")
        assert self._conn is not None and self._current is not None
        conn, params = self._conn, {**self.params, "scored_at": scored_at}
        started = time.perf_counter()
        moved = moved_leads(self._current.result(), lead_ids, scores)
        scored, closed = _moved_rows(moved)
        conn.execute(_MOVED_SQL)
        if len(scored):
            _copy_in(conn, "copy moved from stdin (format binary)", scored)
        if len(closed):
            _copy_in(conn, "copy moved from stdin (format binary)", closed)
        conn.execute("analyze moved")  # temp tables get no statistics otherwise
        conn.execute(_NEXT_SQL, params)
        written = moved.lead_ids  # next_scores: every moved lead with a score tonight
        if len(written):
            conn.execute("alter table next_scores add primary key (lead_id)")
        conn.execute(_DELETE_CLOSED_SQL)
        conn.execute(_CHUNK_SQL)
        compared = time.perf_counter()
        positions = positions_of(lead_ids, written)
        explaining = 0.0
        counts = [0, 0]
        pending: Future[tuple[int, int]] | None = None
        for offset in range(0, len(written), WRITE_CHUNK_ROWS):
            chunk = slice(offset, offset + WRITE_CHUNK_ROWS)
            began = time.perf_counter()
            reasons = reasons_for(positions[chunk])
            explaining += time.perf_counter() - began
            if pending is not None:
                counts = [a + b for a, b in zip(counts, pending.result(), strict=True)]
            table = pa.table({"lead_id": written[chunk], "reason_codes": reasons})
            pending = self._pool.submit(self._write_chunk, table, params)
        if pending is not None:
            counts = [a + b for a, b in zip(counts, pending.result(), strict=True)]
        finished = time.perf_counter()
        timings = {
            "compare_seconds": compared - started,
            "reasons_seconds": explaining,  # the last chunk's write is not hidden behind it
            "write_seconds": finished - compared - explaining,  # writing not hidden by reasons
        }
        return WriteResult(counts[0], counts[1], timings)

    def _write_chunk(self, table: pa.Table, params: dict[str, object]) -> tuple[int, int]:
        conn = self._conn
        assert conn is not None
        write_arrow(conn, table, "chunk_reasons")
        history, listed = conn.execute(_WRITE_CHUNK_SQL, params).fetchone()  # type: ignore[misc]
        conn.execute("truncate chunk_reasons")
        return int(history), int(listed)


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
    """Make ml.lead_scores exactly these leads' scores, with history, in one transaction
    (``ScoreWriter`` without a read to overlap)."""
    with ScoreWriter(conninfo, model_name=model_name, model_version=model_version) as writer:
        return writer.write(lead_ids, scores, reasons_for, scored_at=scored_at)


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
    with ScoreWriter(conninfo, model_name=model.name, model_version=model.version) as writer:
        scorer = BatchScorer(model.model)
        leads, scores = read_and_score(conninfo, model.model, features_sql, scorer)
        read_done = time.perf_counter()
        lead_ids = leads.column("lead_id").to_numpy()

        def reasons_for(positions: np.ndarray) -> pa.Array:
            return explain_leads(
                model.model,
                leads.take(positions),
                approximate_reasons=approximate_reasons,
                scorer=scorer,
            )

        written = writer.write(lead_ids, scores, reasons_for, scored_at=scored_at)
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
