"""Single-lead inference, the online hot path: XGBoost against converted and compiled forms.

    uv run --group bench pytest benchmarks/bench_inference.py --benchmark-columns=min,median,mean,ops

pytest-benchmark, one row per call, the production model configuration trained on a synthetic
book. Each form is first checked against ``inplace_predict`` on 2,000 leads (parity to 1e-6
is what the API needs); the timing is then of one lead. Not part of the test suite.
"""

from __future__ import annotations

import numpy as np
import pytest
import xgboost as xgb

from ml.forest import Forest
from ml.synthetic import synthetic_feature_table
from ml.training import train_xgboost
from serving.model import ServedModel

PARITY = 1e-6


@pytest.fixture(scope="module")
def setup():
    book = synthetic_feature_table(30_000, 7)
    model = train_xgboost(book.slice(0, 24_000), book.slice(24_000))
    model.booster.set_param({"nthread": 1})  # one request = one core
    matrix = model.encoder.transform_arrow(book.slice(0, 2_000))
    rows = book.slice(0, 2_000).select(list(model.encoder.feature_names)).to_pylist()
    reference = model.booster.inplace_predict(matrix)
    print(f"\nmodel: {model.booster.num_boosted_rounds()} trees, {matrix.shape[1]} columns")
    return model, matrix, rows, reference


def _check(name: str, predicted: np.ndarray, reference: np.ndarray) -> None:
    worst = float(np.abs(np.asarray(predicted, dtype=np.float64).ravel() - reference).max())
    print(f"{name}: max |p - inplace_predict| = {worst:.2e}")
    assert worst <= PARITY, f"{name} does not keep parity ({worst})"


def test_xgboost_inplace_predict(benchmark, setup):
    model, matrix, _, _ = setup
    benchmark(model.booster.inplace_predict, matrix[:1])


def test_xgboost_dmatrix_predict_with_contributions(benchmark, setup):
    model, matrix, _, _ = setup

    def predict():
        dmatrix = xgb.DMatrix(matrix[:1], missing=np.nan)
        model.booster.predict(dmatrix)
        model.booster.predict(dmatrix, pred_contribs=True, approx_contribs=True)

    benchmark(predict)


def test_numpy_forest(benchmark, setup):
    model, matrix, _, reference = setup
    forest = Forest.from_booster(model.booster, matrix.shape[1])
    _check("ml.forest", forest.predict_proba(matrix), reference)
    benchmark(forest.predict_proba, matrix[:1])


def test_numpy_forest_with_contributions(benchmark, setup):
    model, matrix, _, _ = setup
    forest = Forest.from_booster(model.booster, matrix.shape[1])
    benchmark(forest.predict_with_contributions, matrix[:1])


def test_onnxruntime(benchmark, setup):
    onnxmltools = pytest.importorskip("onnxmltools")
    ort = pytest.importorskip("onnxruntime")
    from onnxmltools.convert.common.data_types import FloatTensorType

    model, matrix, _, reference = setup
    classifier = xgb.XGBClassifier()
    classifier._Booster = model.booster  # the same trees, wrapped for the converter
    classifier.n_classes_ = 2
    onnx_model = onnxmltools.convert_xgboost(
        classifier, initial_types=[("x", FloatTensorType([None, matrix.shape[1]]))]
    )
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(onnx_model.SerializeToString(), options)
    output = session.get_outputs()[1].name
    probabilities = session.run([output], {"x": matrix.astype(np.float32)})[0]
    column = (
        [p[1] for p in probabilities] if isinstance(probabilities, list) else probabilities[:, 1]
    )
    _check("onnxruntime", np.asarray(column), reference)
    one = matrix[:1].astype(np.float32)
    benchmark(session.run, [output], {"x": one})


def test_treelite_gtil(benchmark, setup):
    treelite = pytest.importorskip("treelite")
    model, matrix, _, reference = setup
    forest = treelite.frontend.from_xgboost(model.booster)
    predicted = treelite.gtil.predict(forest, matrix.astype(np.float32), nthread=1)
    _check("treelite gtil", np.asarray(predicted).reshape(len(reference), -1)[:, -1], reference)
    one = matrix[:1].astype(np.float32)
    benchmark(treelite.gtil.predict, forest, one, nthread=1)


def test_served_model_one_lead_end_to_end(benchmark, setup):
    """What the API does per lead: encode the row, score, contributions, reasons in words."""
    model, _, rows, _ = setup
    served = ServedModel.build("lead_conversion", "1", model, "registry")

    def score():
        scores, contributions = served.score_rows([rows[0]])
        served.reasons(rows[0], contributions[0])

    benchmark(score)
