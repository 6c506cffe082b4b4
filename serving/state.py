"""What the application holds between requests: settings, the database pool, limiters."""

from __future__ import annotations

from dataclasses import dataclass, field

from psycopg_pool import AsyncConnectionPool

from hk_core.pii import PiiHasher
from hk_core.settings import Settings
from orchestrator.tasks import Orchestrator
from serving.features import FeatureStore
from serving.lead_scorer import LeadScorer
from serving.model import ModelHolder
from serving.ratelimit import RateLimiter
from serving.score_cache import ScoreCache


@dataclass
class AppState:
    settings: Settings
    database_url: str
    pool: AsyncConnectionPool
    hasher: PiiHasher
    rate_limiter: RateLimiter
    model: ModelHolder
    features: FeatureStore
    score_cache: ScoreCache
    scorer: LeadScorer
    # prefix -> (key_id, digest, scopes, fetched_at): saves a database round trip per request.
    key_cache: dict[str, tuple[int, bytes, frozenset[str], float]] = field(default_factory=dict)
    key_names: dict[int, str] = field(default_factory=dict)  # key_id -> name (never changes)
    # Built once at start-up: it holds the validated assistants file and the audit key.
    orchestrator: Orchestrator | None = None
