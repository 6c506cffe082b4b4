"""Data quality: Great Expectations suites run as blocking asset checks on the lake zones."""

import dagster as dg

from hk_pipelines.defs.quality.checks import enriched_leads_expectations, raw_leads_expectations

defs = dg.Definitions(asset_checks=[raw_leads_expectations, enriched_leads_expectations])
