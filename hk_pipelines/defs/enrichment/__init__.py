"""Enrichment: contact validity, standard addresses, owner of record and property data."""

import dagster as dg

from hk_pipelines.defs.enrichment.assets import enriched_leads

defs = dg.Definitions(assets=[enriched_leads])
