"""The conversion model as an MLflow pyfunc: raw features in, P(conversion) out.

The weights travel as two plain files, the booster in XGBoost's JSON format and the encoder
as JSON, never as a pickle: they load in any XGBoost 3.x, and a reader can open them. MLflow
still cloudpickles the ``LeadConversionModel`` instance, but it holds no state: the pickle is a
reference to this class, which therefore must be importable where the model is loaded (the
platform package, ``ml`` + ``hk_core``).
"""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import xgboost as xgb
from mlflow.models import ModelSignature
from mlflow.pyfunc import PythonModel
from mlflow.types import ColSpec, DataType, Schema

from ml.encoding import FeatureEncoder
from ml.training import TrainedModel

BOOSTER_ARTIFACT = "booster"
ENCODER_ARTIFACT = "encoder"
BOOSTER_FILE = "booster.json"
ENCODER_FILE = "encoder.json"
OUTPUT_COLUMN = "conversion_probability"
MLFLOW_TYPE_OF_KIND = {
    "numeric": DataType.double,
    "boolean": DataType.boolean,
    "categorical": DataType.string,
}
# Pinned to what trained the model. Listing them spares MLflow its requirement inference,
# which loads the model in a subprocess; the platform package itself is not on an index.
RUNTIME_PACKAGES = ("mlflow", "xgboost", "numpy", "pandas", "pyarrow")
N_EXAMPLE_ROWS = 5


def save_model_files(model: TrainedModel, directory: Path) -> dict[str, str]:
    """Write the booster and encoder JSON files; returns the pyfunc ``artifacts`` mapping."""
    directory.mkdir(parents=True, exist_ok=True)
    booster_path = directory / BOOSTER_FILE
    encoder_path = directory / ENCODER_FILE
    model.booster.save_model(booster_path)  # the .json suffix selects the JSON format
    encoder_path.write_text(json.dumps(model.encoder.to_dict(), indent=1))
    return {BOOSTER_ARTIFACT: str(booster_path), ENCODER_ARTIFACT: str(encoder_path)}


def load_model_files(booster_path: str | Path, encoder_path: str | Path) -> TrainedModel:
    """The fast in-process model back from its two files."""
    booster = xgb.Booster()
    booster.load_model(str(booster_path))
    encoder = FeatureEncoder.from_dict(json.loads(Path(encoder_path).read_text()))
    return TrainedModel(encoder, booster, "xgboost")


def model_signature(encoder: FeatureEncoder) -> ModelSignature:
    """One input column per raw feature (null allowed), one probability out."""
    inputs = Schema([ColSpec(MLFLOW_TYPE_OF_KIND[f.kind], f.name) for f in encoder.features])
    return ModelSignature(inputs=inputs, outputs=Schema([ColSpec(DataType.double, OUTPUT_COLUMN)]))


def input_example(table: pa.Table, encoder: FeatureEncoder) -> pd.DataFrame:
    """A few leads' raw features as pandas (what a caller of ``predict`` sends)."""
    return table.select(list(encoder.feature_names)).slice(0, N_EXAMPLE_ROWS).to_pandas()


def pip_requirements() -> list[str]:
    return [f"{name}=={version(name)}" for name in RUNTIME_PACKAGES]


class LeadConversionModel(PythonModel):
    """``predict(df)`` returns P(conversion) per row, not a class label."""

    def load_context(self, context: Any) -> None:
        self.model = load_model_files(
            context.artifacts[BOOSTER_ARTIFACT], context.artifacts[ENCODER_ARTIFACT]
        )

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> np.ndarray:
        # from_pandas turns NaN in object columns into nulls, the encoder's "missing".
        table = pa.Table.from_pandas(model_input, preserve_index=False)
        return self.model.predict_proba(table)
