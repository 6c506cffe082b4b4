"""Resources built from the platform settings: the database, the lake, the enrichment provider.

``build_resources`` is the one place that decides local versus production wiring.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import psycopg

from hk_core.db import database_url
from hk_core.lake import Lake
from hk_core.settings import get_settings


class PostgresResource(dg.ConfigurableResource):
    """The platform database; empty means HK_DATABASE_URL or the embedded server."""

    url: str = ""

    def conninfo(self) -> str:
        return self.url or database_url()

    @contextmanager
    def connect(self) -> Iterator[psycopg.Connection]:
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            yield conn


class LakeResource(dg.ConfigurableResource):
    """The Parquet lake; empty means HK_LAKE_URL (default: <HK_HOME>/lake)."""

    root_url: str = ""
    s3_endpoint_url: str = ""

    def lake(self) -> Lake:
        settings = get_settings()
        return Lake(
            self.root_url or settings.lake_root,
            s3_endpoint_url=self.s3_endpoint_url or settings.s3_endpoint_url,
        )


class EnrichmentResource(dg.ConfigurableResource):
    """Owner-of-record and property data: the county reference data, or an HTTP vendor.

    Empty settings mean: the vendor named by HK_VENDOR_BASE_URL / HK_VENDOR_API_KEY when set,
    else the county reference data loaded by `hk reference import properties`.
    """

    provider: str = ""  # "" (from settings) | reference | vendor
    vendor_base_url: str = ""
    vendor_api_key: str = ""
    vendor_timeout_seconds: float = 5.0
    vendor_max_retries: int = 3
    vendor_requests_per_second: float = 20.0
    workers: int | None = None  # None: HK_ENRICHMENT_WORKERS; 0 one per core; 1 no processes

    def worker_count(self) -> int:
        return get_settings().enrichment_workers if self.workers is None else self.workers

    def build(self, conninfo: str):
        from hk_core.enrichment.cache import CachedProvider, EnrichmentCache
        from hk_core.enrichment.providers import HttpVendorProvider, ReferenceDataProvider

        settings = get_settings()
        base_url = self.vendor_base_url or settings.vendor_base_url or ""
        provider = self.provider or ("vendor" if base_url else "reference")
        if provider == "reference":
            return ReferenceDataProvider(conninfo, workers=self.worker_count())
        if provider != "vendor":
            raise dg.Failure(f"unknown enrichment provider {provider!r}")
        if not base_url:
            raise dg.Failure("enrichment provider 'vendor' needs a base URL (HK_VENDOR_BASE_URL)")
        secret = settings.vendor_api_key.get_secret_value() if settings.vendor_api_key else ""
        vendor = HttpVendorProvider(
            base_url,
            self.vendor_api_key or secret,
            timeout=self.vendor_timeout_seconds,
            max_retries=self.vendor_max_retries,
            max_requests_per_second=self.vendor_requests_per_second,
        )
        # A vendor lookup is paid once per standardised address.
        return CachedProvider(vendor, EnrichmentCache(conninfo))


class MlflowResource(dg.ConfigurableResource):
    """Empty means HK_MLFLOW_TRACKING_URI, else MLflow's database store beside the platform
    database; artifacts under the lake (``<lake>/models``)."""

    tracking_uri: str = ""
    artifact_root: str = ""

    def uri(self) -> str:
        from ml.registry import tracking_uri

        settings = get_settings()
        if settings.s3_endpoint_url:
            # MLflow's S3 artifact store reads its endpoint from the environment.
            os.environ.setdefault("MLFLOW_S3_ENDPOINT_URL", settings.s3_endpoint_url)
        return self.tracking_uri or tracking_uri(settings)

    def artifacts(self) -> str:
        from ml.registry import artifact_root

        return self.artifact_root or artifact_root(get_settings())


def dbt_resource() -> dg.ConfigurableResource:
    """dbt from this environment, on the project in dbt_project/ (its profile reads HK_DBT_*)."""
    from dagster_dbt import DbtCliResource

    from hk_core.dbt_env import dbt_executable
    from hk_pipelines.defs.marts.project import dbt_project

    return DbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable())


def build_resources() -> dict[str, dg.ConfigurableResource]:
    """The one place that wires resources; each reads the settings when it runs, not here."""
    return {
        "postgres": PostgresResource(),
        "lake": LakeResource(),
        "enrichment": EnrichmentResource(),
        "dbt": dbt_resource(),
        "mlflow_store": MlflowResource(),
    }
