"""The Dagster code location: gathers the domain modules under ``defs/`` and nothing else."""

import dagster as dg

from hk_pipelines.defs import enrichment, intake, marts, quality, warehouse
from hk_pipelines.defs.common.resources import build_resources

defs = dg.Definitions.merge(
    intake.defs,
    enrichment.defs,
    warehouse.defs,
    quality.defs,
    marts.defs,
    dg.Definitions(resources=build_resources()),
)
