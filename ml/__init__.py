"""Lead-conversion model library: features to matrix, training, evaluation, registry, scoring."""

import os

# MLflow decides at import whether to send usage telemetry; the platform does not phone home
# (as with DAGSTER_DISABLE_TELEMETRY). Every MLflow import in ``ml`` comes after this line.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
