"""Expectation suites for the lake zones, validated with an ephemeral Great Expectations context.

The rules live as GX suite JSON in ``great_expectations/expectations/<suite>.json``; the column
contract (presence and type of every column) is added here from the Arrow schemas in
``hk_core.warehouse``, so it never drifts from what the assets write. GX is imported only when
a suite is validated: the import takes seconds and the code location must load fast.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

SUITES_DIR = Path(__file__).resolve().parents[3] / "great_expectations" / "expectations"
CRITICAL, WARNING = "critical", "warning"
# Added to the validation frame: the day of the partition a row was read from, and the UTC
# day of its received_at, so one validation covers a whole range of days.
DERIVED_COLUMNS = ("partition_day", "received_day")
DEFAULT_MIN_ROWS_FOR_FLOORS = 20
# Validated in pandas: ints and booleans as nullable dtypes (a null must not turn an int column
# into floats), money (decimal) as doubles so ranges compare as numbers.
_PANDAS_TYPES = {
    pa.int32(): pd.Int32Dtype(),
    pa.int64(): pd.Int64Dtype(),
    pa.bool_(): pd.BooleanDtype(),
}


def load_suite_config(name: str, suites_dir: Path = SUITES_DIR) -> dict[str, Any]:
    """The suite's JSON (name, meta, expectations) as written in great_expectations/."""
    return json.loads((suites_dir / f"{name}.json").read_text())


def expected_type(arrow_type: pa.DataType) -> str:
    """The GX ``type_`` a column of this Arrow type has in the validation frame."""
    if pa.types.is_decimal(arrow_type) or pa.types.is_floating(arrow_type):
        return "float64"
    if pa.types.is_timestamp(arrow_type):
        return "Timestamp"
    if pa.types.is_string(arrow_type):
        return "str"
    if arrow_type in _PANDAS_TYPES:
        return str(arrow_type)  # int32, int64, bool
    return "object"  # dates (datetime.date objects)


def schema_expectations(schema: pa.Schema) -> list[dict[str, Any]]:
    """Every column of the zone's schema present (and no other), each with its type."""
    contract = {"schema": True}
    columns = [*schema.names, *DERIVED_COLUMNS]
    expectations: list[dict[str, Any]] = [
        {
            "type": "expect_table_columns_to_match_set",
            "kwargs": {"column_set": columns, "exact_match": True},
            "severity": CRITICAL,
            "meta": contract,
        }
    ]
    for column in schema:
        expectations.append(
            {
                "type": "expect_column_values_to_be_of_type",
                "kwargs": {"column": column.name, "type_": expected_type(column.type)},
                "severity": CRITICAL,
                "meta": contract,
            }
        )
    return expectations


def suite_expectations(
    config: Mapping[str, Any], schema: pa.Schema, floors: Mapping[str, float] | None = None
) -> list[dict[str, Any]]:
    """The suite's rules after the column contract; ``floors`` ({metric: mostly}) override
    the ``mostly`` of the rules whose ``meta.metric`` they name."""
    floors = dict(floors or {})
    rules = []
    for rule in config["expectations"]:
        rule = json.loads(json.dumps(rule))  # a copy: overrides never touch the loaded suite
        metric = rule.get("meta", {}).get("metric")
        if metric in floors:
            rule["kwargs"]["mostly"] = floors.pop(metric)
        rules.append(rule)
    if floors:
        raise ValueError(f"suite {config['name']!r} has no floor named {sorted(floors)}")
    return [*schema_expectations(schema), *rules]


def validation_frame(partitions: Mapping[date, pa.Table], schema: pa.Schema) -> pd.DataFrame:
    """The partitions as one pandas frame, with the derived day columns."""
    frames = []
    for day, table in sorted(partitions.items()):
        for i, column in enumerate(table.schema):
            if pa.types.is_decimal(column.type):
                table = table.set_column(i, column.name, table[column.name].cast(pa.float64()))
        frame = table.to_pandas(types_mapper=_PANDAS_TYPES.get)
        frame["partition_day"] = pd.Series([day] * len(frame), index=frame.index, dtype=object)
        frames.append(frame)
    if not frames:
        frames = [validation_frame({date(2000, 1, 1): schema.empty_table()}, schema)]
    non_empty = [f for f in frames if len(f)] or frames[:1]
    frame = pd.concat(non_empty, ignore_index=True) if len(non_empty) > 1 else non_empty[0]
    if "received_at" in frame:
        received = pd.to_datetime(frame["received_at"], utc=True, errors="coerce")
        frame["received_day"] = received.dt.date.astype(object)
    return frame


@dataclass(frozen=True)
class ExpectationOutcome:
    label: str
    severity: str  # critical | warning
    success: bool
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    observed: Any = None
    mostly: float | None = None
    metric: str | None = None
    schema: bool = False
    exception: str | None = None

    def as_metadata(self) -> dict[str, Any]:
        values = {
            "success": self.success,
            "severity": self.severity,
            "unexpected_count": self.unexpected_count,
            "unexpected_percent": _round(self.unexpected_percent),
            "observed": self.observed if isinstance(self.observed, str | int | float) else None,
            "mostly": self.mostly,
            "exception": self.exception,
        }
        return {k: v for k, v in values.items() if v is not None}


@dataclass
class SuiteOutcome:
    suite: str
    rows: int
    min_rows_for_floors: int
    outcomes: list[ExpectationOutcome] = field(default_factory=list)

    @property
    def failed(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success]

    @property
    def blocking(self) -> list[ExpectationOutcome]:
        """Failed critical expectations; a floor over too few rows to mean anything only warns."""
        return [
            o
            for o in self.failed
            if o.severity == CRITICAL
            and not (o.mostly is not None and o.mostly < 1 and self.rows < self.min_rows_for_floors)
        ]

    @property
    def metrics(self) -> dict[str, float]:
        """Rates of the floors (share of rows meeting the rule), by the suite's metric names."""
        return {
            o.metric: round(1 - (o.unexpected_percent or 0.0) / 100, 4)
            for o in self.outcomes
            if o.metric and o.exception is None
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _label(config: Any) -> str:
    kwargs = config.kwargs
    columns = kwargs.get("column") or ",".join(
        str(kwargs[k]) for k in ("column_A", "column_B") if k in kwargs
    )
    return f"{config.type}({columns})" if columns else config.type


def _context() -> Any:
    """An in-memory GX context: no project folder, no usage statistics, no progress bars."""
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    import great_expectations as gx

    return gx.get_context(
        mode="ephemeral",
        project_config=DataContextConfig(
            analytics_enabled=False,
            progress_bars=ProgressBarsConfig(globally=False),
            store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        ),
    )


def validate(
    name: str,
    schema: pa.Schema,
    partitions: Mapping[date, pa.Table],
    floors: Mapping[str, float] | None = None,
    suites_dir: Path = SUITES_DIR,
) -> SuiteOutcome:
    """Validate the partitions (one frame) against the suite; every expectation's outcome."""
    import great_expectations as gx

    config = load_suite_config(name, suites_dir)
    suite = gx.ExpectationSuite(name=name, expectations=suite_expectations(config, schema, floors))
    frame = validation_frame(partitions, schema)
    batch = (
        _context()
        .data_sources.add_pandas(f"lake_{name}")
        .add_dataframe_asset(name)
        .add_batch_definition_whole_dataframe("run")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    result = batch.validate(suite, result_format="SUMMARY")
    outcome = SuiteOutcome(
        suite=name,
        rows=len(frame),
        min_rows_for_floors=int(
            config.get("meta", {}).get("min_rows_for_floors", DEFAULT_MIN_ROWS_FOR_FLOORS)
        ),
    )
    for item in result.results:
        expectation = item.expectation_config
        meta = expectation.meta or {}
        raised = (item.exception_info or {}).get("raised_exception")
        outcome.outcomes.append(
            ExpectationOutcome(
                label=_label(expectation),
                severity=str(getattr(expectation.severity, "value", expectation.severity)),
                success=bool(item.success),
                unexpected_count=item.result.get("unexpected_count"),
                unexpected_percent=item.result.get("unexpected_percent"),
                observed=item.result.get("observed_value"),
                mostly=expectation.kwargs.get("mostly"),
                metric=meta.get("metric"),
                schema=bool(meta.get("schema")),
                exception=(item.exception_info or {}).get("exception_message") if raised else None,
            )
        )
    return outcome
