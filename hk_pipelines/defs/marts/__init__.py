"""The dbt marts (dbt_project/) as Dagster assets, with dbt tests as asset checks."""

import dagster as dg

from hk_pipelines.defs.marts.assets import dbt_daily_models, dbt_models

defs = dg.Definitions(assets=[dbt_daily_models, dbt_models])
