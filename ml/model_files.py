"""A trained model as plain files in a folder: the weights and the encoder, never a pickle.

An XGBoost model is ``booster.json`` (XGBoost's own JSON format), the logistic baseline
``linear.json`` (``ml.linear``); both sit beside ``encoder.json``. The registry's pyfunc
artifacts, the API's local copy and the tests all read and write them here, so whichever
kind is champion loads the same way everywhere. No MLflow import: the API reads its local
copy with this module while the registry is down.
"""

from __future__ import annotations

import json
from pathlib import Path

import xgboost as xgb

from ml.encoding import FeatureEncoder
from ml.linear import LinearModel
from ml.training import TrainedModel

BOOSTER_FILE = "booster.json"
LINEAR_FILE = "linear.json"
ENCODER_FILE = "encoder.json"
WEIGHT_FILE_OF_KIND = {"xgboost": BOOSTER_FILE, "logistic": LINEAR_FILE}


def save_model_files(model: TrainedModel, directory: Path) -> dict[str, Path]:
    """Write the model's weight file and its encoder; returns {"weights", "encoder"} paths."""
    directory.mkdir(parents=True, exist_ok=True)
    weights = directory / WEIGHT_FILE_OF_KIND[model.kind]
    if model.kind == "xgboost":
        model.booster.save_model(weights)  # the .json suffix selects the JSON format
    else:
        weights.write_text(json.dumps(model.linear.to_dict()))
    encoder = directory / ENCODER_FILE
    encoder.write_text(json.dumps(model.encoder.to_dict(), indent=1))
    return {"weights": weights, "encoder": encoder}


def load_weights(weights: str | Path, encoder_path: str | Path) -> TrainedModel:
    """A model from its weight file (the kind from the file's name) and encoder file."""
    weights = Path(weights)
    encoder = FeatureEncoder.from_dict(json.loads(Path(encoder_path).read_text()))
    if weights.name == LINEAR_FILE:
        linear = LinearModel.from_dict(json.loads(weights.read_text()))
        if linear.n_columns != encoder.n_columns:
            raise ValueError(
                f"{weights} has {linear.n_columns} columns, its encoder {encoder.n_columns}"
            )
        return TrainedModel(encoder, linear, "logistic")
    booster = xgb.Booster()
    booster.load_model(str(weights))
    return TrainedModel(encoder, booster, "xgboost")


def load_model_dir(directory: Path) -> TrainedModel:
    """The model saved in ``directory`` by ``save_model_files``, whichever kind it is."""
    for name in (BOOSTER_FILE, LINEAR_FILE):
        if (directory / name).exists():
            return load_weights(directory / name, directory / ENCODER_FILE)
    raise FileNotFoundError(f"{directory} holds neither {BOOSTER_FILE} nor {LINEAR_FILE}")
