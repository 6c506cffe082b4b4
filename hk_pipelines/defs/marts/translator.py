"""How dbt nodes appear in Dagster: keys are the model names, groups are dbt's folders
(staging, intermediate, marts), and sources resolve to the assets that load them through
``meta.dagster.asset_key`` in models/staging/__sources.yml."""

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings


class HiddenKeyDbtTranslator(DagsterDbtTranslator):
    def get_asset_spec(
        self, manifest: Mapping[str, Any], unique_id: str, project: Any
    ) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props.get("resource_type") != "model":
            return spec
        fqn = props.get("fqn", [])
        group = fqn[1] if len(fqn) > 2 else "marts"
        return spec.replace_attributes(key=dg.AssetKey(props["name"]), group_name=group)


TRANSLATOR = HiddenKeyDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))
