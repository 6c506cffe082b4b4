"""The conversion model as an MLflow pyfunc: raw features in, P(conversion) out.

The weights travel as two plain files (``ml.model_files``), the booster in XGBoost's JSON
format or the logistic baseline's arrays, and the encoder as JSON, never as a pickle: they
load in any XGBoost 3.x, and a reader can open them. MLflow
still cloudpickles the ``LeadConversionModel`` instance, but it holds no state: the pickle is a
reference to this class, which therefore must be importable where the model is loaded (the
platform package, ``ml`` + ``hk_core``).
"""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from mlflow.models import ModelSignature
from mlflow.pyfunc import PythonModel
from mlflow.types import ColSpec, DataType, Schema

from ml.encoding import FeatureEncoder
from ml.model_files import load_weights
from ml.model_files import save_model_files as write_model_files
from ml.training import TrainedModel

# The pyfunc artifact names: the weights are "booster" (XGBoost) or "linear" (the baseline).
WEIGHT_ARTIFACT_OF_KIND = {"xgboost": "booster", "logistic": "linear"}
ENCODER_ARTIFACT = "encoder"
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
    """Write the weight and encoder files; returns the pyfunc ``artifacts`` mapping."""
    paths = write_model_files(model, directory)
    return {
        WEIGHT_ARTIFACT_OF_KIND[model.kind]: str(paths["weights"]),
        ENCODER_ARTIFACT: str(paths["encoder"]),
    }


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
        artifacts = context.artifacts
        weights = next(
            artifacts[name] for name in WEIGHT_ARTIFACT_OF_KIND.values() if name in artifacts
        )
        self.model = load_weights(weights, artifacts[ENCODER_ARTIFACT])

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> np.ndarray:
        # from_pandas turns NaN in object columns into nulls, the encoder's "missing".
        table = pa.Table.from_pandas(model_input, preserve_index=False)
        return self.model.predict_proba(table)
