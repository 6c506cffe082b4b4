"""The Dagster code location: gathers the domain modules under ``defs/`` and nothing else."""

import dagster as dg

from hk_pipelines.defs import enrichment, intake, marts, ml, quality, warehouse
from hk_pipelines.defs.common.resources import build_resources

defs = dg.Definitions.merge(
    intake.defs,
    enrichment.defs,
    warehouse.defs,
    quality.defs,
    marts.defs,
    ml.defs,
    dg.Definitions(resources=build_resources()),
)
