"""The model that answers score requests: loaded at start, watched, swapped, cached locally.

``ModelHolder.current`` is one immutable ``ServedModel``; a request reads it once and uses
that object to the end, so swapping in a newly promoted version (one reference assignment
on the event loop) never affects a request in flight. Everything that talks to MLflow runs
in a worker thread under a timeout: an unreachable tracking store or artifact store makes
the holder *degraded* (it keeps the last model it had) and is retried on the next tick.

Each successful load is also written to a local cache (the model's weight and encoder JSON
files, ``ml.model_files``, plus the version), so the service can start and serve while MLflow
is down. Either kind of champion is served the same way: an XGBoost model by its trees as
flat arrays (``ml.forest``), the logistic baseline by its coefficients (``ml.linear``); each
gives a score and per-column contributions in one call, as the batch does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pyarrow as pa
from prometheus_client import Counter, Gauge

from hk_core.logging import get_logger
from hk_core.settings import Settings
from ml.encoding import FeatureEncoder
from ml.forest import Forest
from ml.linear import LinearModel
from ml.model_files import load_model_dir, save_model_files
from ml.reasons import N_REASONS
from ml.training import TrainedModel
from serving.reason_text import reason_value_text

log = get_logger(__name__)

MODEL_EVENTS = Counter(
    "hk_model_load_events_total",
    "Model loads and reloads by outcome (loaded, failed, unchanged) and source",
    ["outcome", "source"],
)
MODEL_INFO = Gauge(
    "hk_model_info", "The model version serving scores (value 1)", ["model_name", "model_version"]
)
MODEL_DEGRADED = Gauge("hk_model_degraded", "1 while the model registry cannot be reached")

META_FILE = "model.json"


class ModelUnavailable(Exception):
    """The registry has no such model or alias (not an outage: nothing to serve yet)."""


@dataclass(frozen=True)
class ServedModel:
    """One registered version, ready to score rows of raw features."""

    name: str
    version: str
    model: TrainedModel
    source: str  # "registry" or "cache"
    # What scores a lead: the trees as flat arrays, or the baseline's coefficients.
    kernel: Forest | LinearModel = field(repr=False)

    @classmethod
    def build(cls, name: str, version: str, model: TrainedModel, source: str) -> ServedModel:
        kernel: Forest | LinearModel
        if model.kind == "xgboost":
            kernel = Forest.from_booster(model.booster, model.encoder.n_columns)
        else:
            kernel = model.linear
        return cls(name, version, model, source, kernel)

    @property
    def encoder(self) -> FeatureEncoder:
        return self.model.encoder

    def score_rows(self, rows: Sequence[Mapping[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
        """(P(conversion), contributions by feature) for each row; no pandas, no DMatrix."""
        return self._score(self.encoder.transform_rows(rows))

    def score_table(self, table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
        """The same as ``score_rows`` for many leads at once (Arrow in, column-wise encoding)."""
        return self._score(self.encoder.transform_arrow(table))

    def _score(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        scores, per_column = self.kernel.predict_with_contributions(matrix)
        return scores, self.encoder.sum_by_feature(per_column)

    def reasons(self, row: Mapping[str, Any], contributions: np.ndarray) -> list[dict[str, Any]]:
        """The lead's top positive contributions in business words, as the batch words them."""
        top = np.argsort(-contributions, kind="stable")[:N_REASONS].tolist()
        reasons = []
        for index in top:
            value = float(contributions[index])
            if value <= 0:
                break
            feature = self.encoder.features[index]
            shown = reason_value_text(feature, row.get(feature.name))
            text = f"{feature.description.rstrip('.')}: {shown}"
            reasons.append({"feature": feature.name, "contribution": round(value, 4), "text": text})
        return reasons


# --------------------------------------------------------------------------- the registry


def _database_missing(uri: str) -> bool:
    """True when ``uri`` is a Postgres store whose database does not exist (nothing trained)."""
    if not uri.startswith("postgresql"):
        return False
    rest = uri.split("://", 1)[1]
    try:
        with psycopg.connect(f"postgresql://{rest}", connect_timeout=5):
            return False
    except psycopg.OperationalError as error:
        if "does not exist" in str(error):
            return True
        raise


def champion_version(uri: str, name: str, alias: str) -> str:
    """The version the alias points at now (raises ModelUnavailable if none)."""
    if _database_missing(uri):
        raise ModelUnavailable("no model registry yet at the default store (nothing trained)")
    from mlflow.exceptions import MlflowException

    from ml.registry import configure

    client = configure(uri)
    try:
        aliases = client.get_registered_model(name).aliases
    except MlflowException as error:
        if "RESOURCE_DOES_NOT_EXIST" in str(error.error_code):
            raise ModelUnavailable(f"no registered model {name!r}") from error
        raise
    if alias not in aliases:
        raise ModelUnavailable(f"model {name!r} has no {alias!r} version yet")
    return str(aliases[alias])


def load_version(uri: str, name: str, version: str) -> TrainedModel:
    from ml.registry import load_trained_model

    return load_trained_model(f"models:/{name}/{version}", uri).model


# ----------------------------------------------------------------------- the local cache


def save_cache(directory: Path, served: ServedModel) -> None:
    """Write the model atomically: a half-written cache must never be loaded."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".model-", dir=directory.parent))
    try:
        save_model_files(served.model, scratch)
        meta = {"name": served.name, "version": served.version, "saved_at": time.time()}
        (scratch / META_FILE).write_text(json.dumps(meta))
        old = directory.with_name(directory.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if directory.exists():
            os.replace(directory, old)
        os.replace(scratch, directory)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def load_cache(directory: Path) -> ServedModel | None:
    meta_path = directory / META_FILE
    if not meta_path.exists():
        return None
    meta = json.loads(meta_path.read_text())
    model = load_model_dir(directory)
    return ServedModel.build(meta["name"], str(meta["version"]), model, "cache")


# ------------------------------------------------------------------------------ the holder


@dataclass
class ModelHolder:
    settings: Settings
    registry: str
    current: ServedModel | None = None
    # None: in touch with the registry; otherwise why not (the service is degraded).
    problem: str | None = None
    unavailable: str | None = None  # why there is no model at all, when there is none
    # Decile cut points of the last batch: the lowest score of the top k tenths, k = 1..9.
    cuts: np.ndarray | None = None
    cuts_loaded_at: float = -math.inf
    cuts_version: int = 0  # moves whenever the cut points change
    # ml.feature_generation as last read; None until read (nothing derived is cached then).
    generation: int | None = None
    _tasks: list[asyncio.Task] = field(default_factory=list)

    @property
    def cache_dir(self) -> Path:
        return (
            self.settings.model_cache_path
            / f"{self.settings.model_name}@{self.settings.model_alias}"
        )

    @property
    def status(self) -> str:
        if self.problem:
            return "degraded"
        return "no_model" if self.current is None else "ok"

    def describe(self) -> dict[str, Any]:
        served = self.current
        return {
            "status": self.status,
            "name": self.settings.model_name,
            "alias": self.settings.model_alias,
            "version": served.version if served else None,
            "source": served.source if served else None,
            "problem": self.problem or (None if served else self.unavailable),
        }

    async def _in_thread(self, function: Any, *args: Any) -> Any:
        return await asyncio.wait_for(
            asyncio.to_thread(function, *args), self.settings.model_load_timeout_seconds
        )

    def _swap(self, served: ServedModel) -> None:
        old = self.current
        self.current = served
        if old is not None:
            MODEL_INFO.remove(old.name, old.version)
        MODEL_INFO.labels(served.name, served.version).set(1)
        log.info("model serving", model=served.name, version=served.version, source=served.source)

    def _degrade(self, why: str) -> None:
        if self.problem != why:
            log.warning("model registry unreachable; serving the last model", problem=why)
        self.problem = why
        MODEL_DEGRADED.set(1)

    async def refresh(self) -> bool:
        """Ask the registry which version the alias names; load it if it is new.

        Returns True when a new version was swapped in. Never raises.
        """
        name, alias = self.settings.model_name, self.settings.model_alias
        try:
            version = await self._in_thread(champion_version, self.registry, name, alias)
            if self.current is not None and self.current.version == version:
                MODEL_EVENTS.labels("unchanged", "registry").inc()
                self.problem = None
                MODEL_DEGRADED.set(0)
                return False
            model = await self._in_thread(load_version, self.registry, name, version)
            served = await asyncio.to_thread(ServedModel.build, name, version, model, "registry")
        except ModelUnavailable as why:
            self.problem, self.unavailable = None, str(why)
            MODEL_DEGRADED.set(0)
            return False
        except Exception as error:  # noqa: BLE001 -- any failure: keep serving what we have
            MODEL_EVENTS.labels("failed", "registry").inc()
            self._degrade(f"{type(error).__name__}: {str(error)[:200]}")
            return False
        self.problem = None
        MODEL_DEGRADED.set(0)
        MODEL_EVENTS.labels("loaded", "registry").inc()
        self._swap(served)
        try:
            await asyncio.to_thread(save_cache, self.cache_dir, served)
        except OSError as error:
            log.warning("could not cache the model locally", error=str(error))
        return True

    async def start(self, pool: Any) -> None:
        """Load at start-up: the registry's version, else the local copy; then watch."""
        loaded = await self.refresh()
        if not loaded and self.current is None and self.problem:
            try:
                cached = await asyncio.to_thread(load_cache, self.cache_dir)
            except Exception as error:  # noqa: BLE001 -- a damaged copy: start without it
                log.warning(
                    "local model copy unreadable", path=str(self.cache_dir), error=str(error)
                )
                cached = None
            if cached is not None:
                MODEL_EVENTS.labels("loaded", "cache").inc()
                self._swap(cached)
        await self.refresh_cuts(pool)
        await self.refresh_generation(pool)
        self._tasks = [
            asyncio.create_task(self._watch(pool), name="model-watch"),
            asyncio.create_task(self._watch_generation(pool), name="generation-watch"),
        ]

    async def _watch(self, pool: Any) -> None:
        while True:
            await asyncio.sleep(self.settings.model_poll_seconds)
            swapped = await self.refresh()
            due = time.monotonic() - self.cuts_loaded_at > self.settings.decile_refresh_seconds
            if swapped or due:
                await self.refresh_cuts(pool)

    async def _watch_generation(self, pool: Any) -> None:
        while True:
            await asyncio.sleep(self.settings.cache_poll_seconds)
            await self.refresh_generation(pool)

    async def refresh_generation(self, pool: Any) -> None:
        """Read ml.feature_generation (bumped by mart rebuilds and rescoring)."""
        try:
            async with pool.connection(timeout=5) as conn:
                cursor = await conn.execute(GENERATION_SQL)
                row = await cursor.fetchone()
        except Exception as error:  # noqa: BLE001 -- without it nothing derived is cached
            if self.generation is not None:
                log.warning("feature generation unreadable; score cache off", error=str(error))
            self.generation = None
            return
        self.generation = int(row[0]) if row else None

    def stamp(self) -> tuple[str, int, int] | None:
        """What a cached score depends on besides its lead: None means do not cache."""
        served = self.current
        if served is None or self.generation is None:
            return None
        return (served.version, self.cuts_version, self.generation)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def refresh_cuts(self, pool: Any) -> None:
        """The last batch's decile boundaries (decile 1 = the best-scored tenth)."""
        try:
            async with pool.connection(timeout=5) as conn:
                cursor = await conn.execute(_CUTS_SQL)
                row = await cursor.fetchone()
        except Exception as error:  # noqa: BLE001 -- deciles are extra; scores go on
            log.warning("could not read the last batch's deciles", error=str(error))
            return
        self.cuts_loaded_at = time.monotonic()
        values = row[0] if row else None
        cuts = np.asarray(values, dtype=np.float64) if values else None
        same = (cuts is None and self.cuts is None) or (
            cuts is not None and self.cuts is not None and np.array_equal(cuts, self.cuts)
        )
        if not same:
            self.cuts, self.cuts_version = cuts, self.cuts_version + 1

    def bodies(
        self,
        served: ServedModel,
        rows: Sequence[Mapping[str, Any]],
        ids: Sequence[int | None],
        scores: np.ndarray,
        contributions: np.ndarray,
    ) -> list[dict[str, Any]]:
        """The score responses of ``rows`` (what the routes return, and the cache keeps)."""
        out = []
        for i, (row, lead_id) in enumerate(zip(rows, ids, strict=True)):
            score = float(scores[i])
            out.append({
                "lead_id": lead_id,
                "score": score,
                "decile": self.decile(score),
                "model_name": served.name,
                "model_version": served.version,
                "reasons": served.reasons(row, contributions[i]),
            })  # fmt: skip
        return out

    def score_bodies(
        self, served: ServedModel, rows: Sequence[Mapping[str, Any]], ids: Sequence[int | None]
    ) -> list[dict[str, Any]]:
        """Score ``rows`` (feature mappings) with ``served`` into their responses."""
        scores, contributions = served.score_rows(rows)
        return self.bodies(served, rows, ids, scores, contributions)

    def decile(self, score: float) -> int | None:
        if self.cuts is None:
            return None
        return 1 + int(np.count_nonzero(score < self.cuts))


GENERATION_SQL = "select generation from ml.feature_generation"
_CUTS_SQL = """
select percentile_disc(array[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
    within group (order by score desc)
from ml.lead_scores
"""
