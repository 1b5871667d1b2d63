"""A landing zone of 4 simulated pumps (one injected anomaly each, after a 10-minute
warm-up) and a champion trained on the warm-up: what a prediction run needs.

Used by tests/test_predict_job.py (in-process) and by the DAG tests, which run in the
Airflow environment and so call it as a script in the jobs environment:

    .venv/bin/python -m tests.scoring_setup prepare OUT.json   # env overrides -> OUT.json
    .venv/bin/python -m tests.scoring_setup runs ENV.json      # its predict runs, as JSON
    .venv/bin/python -m tests.scoring_setup drop ENV.json      # drop its SQL schema, and stop
                                                               # the services prepare started
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
WARMUP, END = 600, 1140  # train on the anomaly-free warm-up; score [T0+600 s, T0+1140 s)
SMALL = {"window": 20, "units": 16, "epochs": 10, "patience": 3, "smoothing": 10, "learning_rate": 0.01,
         "min_duration": 10}
# Short forecasts the 600 s warm-up can fit: 3 periods of 10 s ahead, from the 60 s before.
SMALL_FORECASTS = {"history": 60, "step": 10, "steps": 3, "origin_every": 20}


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def with_schema(settings):
    """``settings`` with a new, empty SQL schema of its own, and its own alerts topic."""
    schema = f"p_{uuid.uuid4().hex[:8]}"  # CrateDB makes it with its first table
    return settings.with_overrides(sql={"schema": schema}, alerts={"topic": f"anomalies-{schema}"})


def isolated(settings, workdir: Path):
    """Own HDFS root, MLflow store (with the small detector) and SQL schema."""
    base = settings.with_overrides(
        storage={"root": f"{settings.storage.root}/tests/predict-{uuid.uuid4().hex[:8]}"},
        model={"tracking_uri": str(workdir / "mlflow"), "detector": SMALL},
        predict={"lateness_s": 0})  # the tests name each run's span exactly (lateness: test_predict_job)
    return base, with_schema(base)


def land_and_train(spark, settings, workdir: Path):
    """Land the pumps' events and register a champion trained on their warm-up.
    Returns (simulated series, landed events with naive UTC times)."""
    import mlflow
    import pandas as pd

    from features.compute import features_frame
    from models import registry
    from models.detector import Detector
    from models.forecasting import ShortSpec
    from sensorwatch.sources.simulator import simulate
    from tests.landing_seed import seed_landing, series_frame

    series = simulate(4, 1400, T0, seed=3, anomalies_per_asset=1)
    events = series_frame(series)
    seed_landing(spark, settings, events)
    naive = events.assign(event_time=events["event_time"].dt.tz_localize(None))
    warm = features_frame(naive[naive.event_time < pd.Timestamp(at(WARMUP)).tz_localize(None)],
                          settings.features.spec())
    detector = Detector.fit({a: g.reset_index(drop=True) for a, g in warm.groupby("asset_id")}, settings.model.spec(),
                            ShortSpec(**SMALL_FORECASTS))
    detector.training.update(data_end=at(WARMUP).isoformat())
    registry.client(settings.model)
    with mlflow.start_run(experiment_id=registry.experiment_id(settings.model)):
        version = registry.log_detector(settings.model, detector, warm.head(40), workdir)
    registry.promote(settings.model, version)
    return series, naive


def register_foreign_signature(conf, model_dir: Path, columns: list[str], extra: str = "pressure__kurtosis") -> None:
    """Register, as a new version of ``conf``'s model, the network in ``model_dir`` under an
    input signature that also names ``extra``, a column the features do not have (as a model
    trained on another feature set would)."""
    import mlflow
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    from models import registry

    spec = [ColSpec("string", "asset_id"), ColSpec("datetime", "interval_start"),
            *[ColSpec("double", c) for c in columns], ColSpec("double", extra)]
    registry.client(conf)
    with mlflow.start_run(experiment_id=registry.experiment_id(conf)):
        mlflow.pyfunc.log_model(name=registry.ARTIFACT, python_model=registry.DetectorPyfunc(),
                                artifacts={registry.ARTIFACT: str(model_dir)},
                                signature=ModelSignature(inputs=Schema(spec)),
                                registered_model_name=conf.name, pip_requirements=["sensorwatch"])


def _overrides(settings) -> dict[str, str]:
    """The SENSORWATCH__ environment that selects these settings' data, store and models."""
    return {"SENSORWATCH__STORAGE__ROOT": settings.storage.root, "SENSORWATCH__SQL__SCHEMA": settings.sql.schema_,
            "SENSORWATCH__MODEL__TRACKING_URI": settings.model.tracking_uri}


def main(action: str, path: str) -> None:
    from schemas import JOB_RUNS
    from sensorwatch.config import load_settings
    from sensorwatch.connectors.sql import SqlStore

    if action == "prepare":
        from sensorwatch import services
        from sensorwatch.runtime.spark import get_spark

        workdir = Path(path).parent
        local = load_settings("local")
        already = services.status(local)
        services.up(local)
        _started(path).write_text(json.dumps([name for name, up in already.items() if not up]))
        _, settings = isolated(local, workdir)
        land_and_train(get_spark(settings, "scoring-setup"), settings, workdir)
        Path(path).write_text(json.dumps(_overrides(settings)))
        return
    settings = load_settings("local", environ=json.loads(Path(path).read_text()))
    store = SqlStore(settings)
    if action == "runs":
        rows = store.query(f"SELECT status, rows_out, range_start, range_end, error FROM {store.name(JOB_RUNS)} "
                           "WHERE job = 'predict' ORDER BY started_at")
        print(json.dumps([dict(zip(("status", "rows_out", "range_start", "range_end", "error"), r)) for r in rows],
                         default=str))
    elif action == "drop":
        store.drop_schema()
        started = json.loads(_started(path).read_text()) if _started(path).exists() else []
        if started and not os.environ.get("SENSORWATCH_KEEP_SERVICES"):  # as tests/conftest.py does
            from sensorwatch import services

            services.down(load_settings("local"), started)


def _started(path: str) -> Path:
    """Where prepare notes the services it started (beside its output)."""
    return Path(path).with_name("started-services.json")


if __name__ == "__main__":
    main(*sys.argv[1:])
