"""One settings object for the whole platform, read from ``HK_*`` variables and ``.env``."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# The development key only exists so a fresh clone works; production sets HK_PII_KEY.
DEV_PII_KEY = "hk-development-pii-key-not-for-production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HK_", env_file=".env", extra="ignore")

    database_url: str | None = Field(
        default=None, description="Postgres URL; unset means the embedded pgserver under home."
    )
    home: Path = Field(default=Path(".hk"), description="Local state: embedded Postgres, data.")
    lake_url: str | None = Field(default=None, description="Lake root; default <home>/lake.")
    s3_endpoint_url: str | None = None
    redis_url: str | None = None
    mlflow_tracking_uri: str | None = None
    pii_key: SecretStr = SecretStr(DEV_PII_KEY)
    environment: str = Field(default="local", description="local | production")

    # API limits
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_bulk_body_bytes: int = Field(default=1_073_741_824, ge=1024)
    document_max_bytes: int = Field(
        default=52_428_800, ge=1024, description="Largest document upload (bytes); 413 beyond."
    )
    document_url_seconds: int = Field(
        default=300, ge=1, le=300, description="Life of a presigned document URL (S3 lake)."
    )
    rate_limit_per_minute: int = Field(default=60_000, ge=1)
    api_key_cache_seconds: float = Field(default=30.0, ge=0)
    db_pool_max_size: int = Field(default=10, ge=1)
    db_pool_timeout_seconds: float = Field(
        default=5.0, gt=0, description="Wait for a database connection before answering 503."
    )

    # Email normalisation: deliverability (DNS) checks are off by default: no network here.
    email_check_deliverability: bool = False
    default_phone_region: str = "US"
    enrichment_workers: int = Field(
        default=0, ge=0, description="Enrichment processes for large batches; 0: one per core."
    )
    # Property-data vendor for enrichment; unset means the county reference data.
    vendor_base_url: str | None = None
    vendor_api_key: SecretStr | None = None
    log_level: str = "INFO"
    log_json: bool = False

    # Online scoring (serving/): which registered model answers, and how it is kept fresh.
    scoring_enabled: bool = Field(default=True, description="Load a model and serve scores.")
    model_name: str = "lead_conversion"
    model_alias: str = "champion"
    model_poll_seconds: float = Field(default=30.0, gt=0, description="Alias watch interval.")
    model_load_timeout_seconds: float = Field(default=60.0, gt=0)
    model_cache_dir: Path | None = Field(
        default=None, description="Last loaded model, to start without MLflow; <home>/models."
    )
    score_batch_max: int = Field(default=500, ge=1, description="Lead ids per batch call.")
    decile_refresh_seconds: float = Field(default=300.0, gt=0)
    feature_cache_ttl_seconds: int = Field(default=3600, ge=1)
    score_cache_size: int = Field(
        default=100_000, ge=0, description="Scores kept in each API worker; 0 turns it off."
    )
    score_cache_warm: bool = Field(
        default=True, description="Precompute the newest leads' scores after every change."
    )
    cache_poll_seconds: float = Field(
        default=1.0, gt=0, description="How often a worker checks ml.feature_generation."
    )
    sentry_dsn: SecretStr | None = None

    # Operations (orchestrator/): automations, channels, the worker (docs/workflow.md).
    automations_file: Path | None = Field(
        default=None, description="Automation rules (YAML); unset: orchestrator/automations.yaml."
    )
    public_base_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Where the API is reached from outside: unsubscribe links, SMS callbacks.",
    )
    smtp_url: SecretStr | None = Field(
        default=None,
        description="smtp://user:pass@host:587?starttls=1 or smtps://...; unset: no email.",
    )
    email_from: str = "Hidden Key Investments <offers@hiddenkey.example>"
    sms_base_url: str = Field(default="https://api.twilio.com", description="Twilio or compatible.")
    sms_account_sid: str | None = None
    sms_auth_token: SecretStr | None = None
    sms_from_number: str | None = None
    sms_status_callbacks: bool = Field(
        default=True, description="Ask the provider to post delivery status to the API."
    )
    worker_concurrency: int = Field(default=4, ge=1, le=256)
    message_max_attempts: int = Field(default=8, ge=1, description="Provider attempts per message.")
    message_retry_base_seconds: float = Field(default=2.0, gt=0)

    # The assistant orchestrator (docs/orchestrator.md).
    assistants_file: Path | None = Field(
        default=None,
        description="Assistants and task kinds (YAML); unset: orchestrator/assistants.yaml.",
    )
    audit_key: SecretStr | None = Field(
        default=None,
        description="Key of the audit log's hash chain; unset: derived from pii_key.",
    )

    # Security (docs/security.md): the browser front end's origins, metrics, documents, webhooks.
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins the front end is served from (JSON list or comma-separated); "
        "'*' is refused, since the API takes credentials.",
    )
    cors_max_age_seconds: int = Field(default=600, ge=0)
    metrics_public: bool = Field(
        default=True, description="Serve /metrics without a key; false: an admin key is needed."
    )
    # The e-signature provider (DocuSeal): its webhook's shared secret, sent in a header of the
    # provider's choosing, and the one origin signed documents are fetched from.
    esign_webhook_secret: SecretStr | None = Field(
        default=None, description="Unset: the e-signature webhook answers 404 (off)."
    )
    esign_webhook_secret_header: str = Field(
        default="X-Docuseal-Secret", min_length=1, description="Header carrying the secret."
    )
    esign_base_url: str | None = Field(
        default=None,
        description="Origin of the provider's document URLs (e.g. https://docuseal.example.com); "
        "a document URL elsewhere is refused, so a payload cannot make the API fetch any URL.",
    )
    esign_max_document_bytes: int = Field(default=52_428_800, ge=1024)
    esign_fetch_timeout_seconds: float = Field(default=30.0, gt=0)

    # Lead webhooks (docs/webhooks.md): vendors that post leads, signed with X-HK-Signature.
    lead_webhooks_file: Path | None = Field(
        default=None,
        description="Lead webhook providers (YAML); unset: hk_core/intake/lead_webhooks.yaml.",
    )
    webhook_tolerance_seconds: int = Field(
        default=300, ge=1, description="How far a signature's t= may be from now, either way."
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            if value.strip().startswith("["):
                return json.loads(value)
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _explicit_origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if origin == "*" or "*" in origin:
                raise ValueError(
                    "HK_CORS_ORIGINS must list origins; a wildcard with credentials lets any "
                    "site call the API as the user"
                )
            if not origin.startswith(("http://", "https://")) or origin.count("/") > 2:
                raise ValueError(
                    f"HK_CORS_ORIGINS entry {origin!r} is not an origin (scheme://host[:port])"
                )
        return [origin.rstrip("/") for origin in value]

    @property
    def lake_root(self) -> str:
        return self.lake_url or str((self.home / "lake").resolve())

    @property
    def model_cache_path(self) -> Path:
        return self.model_cache_dir or self.home / "models"

    @property
    def embedded(self) -> bool:
        return not self.database_url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests call ``get_settings.cache_clear()`` after changing env."""
    return Settings()
