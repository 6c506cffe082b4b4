"""The naive scoring handler bench_scoring.py compares with: what a first version looks like.

One FastAPI route, same feature table and same model, but the row goes into a pandas
DataFrame and through the MLflow pyfunc (``predict`` on a DataFrame), and no reasons or
deciles are computed. Run with uvicorn (one worker); settings from the HK_* environment.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import mlflow.pyfunc
import pandas as pd
from fastapi import FastAPI, HTTPException
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from hk_core.features import FEATURE_NAMES

state: dict = {}


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    state["model"] = mlflow.pyfunc.load_model("models:/lead_conversion@champion")
    pool = AsyncConnectionPool(os.environ["HK_DATABASE_URL"], min_size=1, max_size=10, open=False)
    await pool.open()
    state["pool"] = pool
    yield
    await pool.close()


app = FastAPI(lifespan=lifespan)


@app.get("/health/ready")
async def ready() -> dict:
    return {"status": "ok"}


@app.get("/v1/leads/{lead_id}/score")
async def score(lead_id: int) -> dict:
    async with state["pool"].connection() as conn:
        cursor = conn.cursor(row_factory=dict_row)
        await cursor.execute("select * from marts.lead_features where lead_id = %s", (lead_id,))
        row = await cursor.fetchone()
    if row is None:
        raise HTTPException(404, "no such lead")
    frame = pd.DataFrame([row])[list(FEATURE_NAMES)]
    probability = float(state["model"].predict(frame)[0])
    return {"lead_id": lead_id, "score": probability}
