"""Training against the real PostgreSQL store and a local MLflow store: a registered
champion, what the MLflow run holds, identical scores after loading, the promotion gate,
promote/rollback, and the errors (no champion, no data)."""

from datetime import UTC, datetime, timedelta

import mlflow
import numpy as np
import pandas as pd
import pytest

from features.compute import features_frame
from models import registry
from models.detector import ModelError
from schemas import SENSOR_FEATURES
from schemas.time import TimeRange
from sensorwatch.cli import main
from sensorwatch.connectors.sql import SqlStore
from sensorwatch.pipeline.training import NoTrainingData, run_train
from sensorwatch.sources.simulator import simulate
from tests.landing_seed import series_frame

T0 = datetime(2026, 4, 1, 8, 0, tzinfo=UTC)
SMALL = {"window": 10, "units": 16, "epochs": 8, "patience": 3, "smoothing": 10, "learning_rate": 0.01}


@pytest.fixture
def trainable(store_isolated, tmp_path):
    """Features of 3 simulated assets x 600 s in the store; MLflow in a temporary folder."""
    settings = store_isolated.with_overrides(model={"tracking_uri": str(tmp_path / "mlflow"), "detector": SMALL})
    events = series_frame(simulate(3, 600, T0, seed=5, anomalies_per_asset=0))
    events["event_time"] = pd.to_datetime(events["event_time"], utc=True).dt.tz_localize(None)
    rows = features_frame(events, settings.features.spec())
    rows[["interval_start", "day"]] = rows[["interval_start", "day"]].apply(lambda c: c.dt.tz_localize("UTC"))
    store = SqlStore(settings)
    store.create_tables()
    store.upsert(SENSOR_FEATURES, rows.astype(object).where(rows.notna(), None).to_dict("records"))
    return settings


def test_train_registers_a_champion_with_everything_logged(trainable):
    summary = run_train(trainable, TimeRange(T0, T0 + timedelta(hours=1)))
    assert summary.details.version == 1 and summary.details.promoted and summary.details.gate == "no champion yet"
    assert summary.rows_in == 1800 and summary.details.assets == 3 and summary.details.device in ("CPU", "GPU")
    conf = trainable.model
    assert registry.champion_version(conf) == 1
    run = mlflow.get_run(summary.details.mlflow_run_id)
    assert run.data.params["detector.window"] == "10" and run.data.params["data.assets"] == "3"
    assert run.data.tags["device"] == summary.details.device and run.data.tags["data.sha256"] == summary.details.data_sha256
    assert len(mlflow.MlflowClient().get_metric_history(run.info.run_id, "val_loss")) == summary.details.epochs
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)}
    assert {"data_version.json", "feature_spec.json", "schema.json"} <= artifacts
    version = mlflow.artifacts.load_dict(f"{run.info.artifact_uri}/data_version.json")
    assert version["rows"] == 1800 and version["partitions"] == ["2026-04-01"] and len(version["assets"]) == 3
    info = mlflow.models.get_model_info(f"models:/{conf.name}/1")
    assert [c["name"] for c in info.signature.inputs.to_dict()][:3] == ["asset_id", "interval_start",
                                                                     "accelerometer1_rms__mean"]
    # A second run on the same data is the same data version.
    again = run_train(trainable, TimeRange(T0, T0 + timedelta(hours=1)))
    assert again.details.data_sha256 == summary.details.data_sha256 and again.details.version == 2


def test_a_loaded_champion_scores_exactly_like_the_trained_detector(trainable, tmp_path):
    run_train(trainable, TimeRange(T0, T0 + timedelta(hours=1)))
    loaded = registry.load(trainable.model)
    assert loaded.version == 1 and loaded.name == trainable.model.name
    from sensorwatch.pipeline.training import read_features

    data = read_features(SqlStore(trainable), loaded.detector.spec.columns, TimeRange(T0, T0 + timedelta(hours=1)))
    asset, rows = next(iter(data.frames.items()))
    direct = loaded.detector.score(asset, rows)
    via_pyfunc = mlflow.pyfunc.load_model(f"models:/{trainable.model.name}@champion").predict(rows)
    np.testing.assert_array_equal(direct["score"].to_numpy(), via_pyfunc["score"].to_numpy())
    assert direct["is_anomaly"].tolist() == via_pyfunc["is_anomaly"].tolist()


def test_the_gate_refuses_a_worse_model_and_promote_rollback_move_the_alias(trainable, capsys, monkeypatch):
    first = run_train(trainable, TimeRange(T0, T0 + timedelta(hours=1)))
    # Barely trained: one epoch at a tiny learning rate forecasts far worse.
    worse_settings = trainable.with_overrides(model={"detector": {**SMALL, "epochs": 1, "learning_rate": 1e-6}})
    worse = run_train(worse_settings, TimeRange(T0, T0 + timedelta(hours=1)))
    assert worse.details.version == 2 and not worse.details.promoted and "kept the champion" in worse.details.gate
    assert worse.details.holdout_error > first.details.holdout_error
    assert registry.champion_version(trainable.model) == 1
    args = ["--profile", "local"]
    monkeypatch.setenv("SENSORWATCH__MODEL__TRACKING_URI", trainable.model.tracking_uri)
    monkeypatch.setenv("SENSORWATCH__MODEL__NAME", trainable.model.name)
    assert main(["model", "promote", "2", *args]) == 0
    assert registry.champion_version(trainable.model) == 2
    assert main(["model", "list", *args]) == 0
    listing = capsys.readouterr().out
    assert "v2    champion" in listing and "kept the champion" in listing
    assert main(["model", "rollback", *args]) == 0
    assert registry.champion_version(trainable.model) == 1
    assert main(["model", "rollback", *args]) == 1  # nothing before v1
    assert "no earlier champion" in capsys.readouterr().err
    assert main(["model", "promote", "9", *args]) == 1
    assert "has no version 9" in capsys.readouterr().err
    # Trained as a challenger: registered and scored beside the champion, never promoted by the gate.
    third = run_train(trainable, TimeRange(T0, T0 + timedelta(hours=1)), challenger=True)
    assert third.details.version == 3 and not third.details.promoted and "registered as the challenger" in third.details.gate
    assert registry.champion_version(trainable.model) == 1 and registry.challenger_version(trainable.model) == 3
    assert main(["model", "challenger", *args]) == 2  # which version?
    assert main(["model", "challenger", "--clear", *args]) == 0
    assert registry.challenger_version(trainable.model) is None


def test_no_champion_and_no_data_are_clear_errors(trainable):
    with pytest.raises(ModelError, match="train one first"):
        registry.load(trainable.model)
    with pytest.raises(NoTrainingData, match="too little data"):
        run_train(trainable, TimeRange(T0 - timedelta(days=1), T0 - timedelta(hours=23)))
    with pytest.raises(NoTrainingData, match="no features for asset"):
        run_train(trainable, TimeRange(T0, T0 + timedelta(hours=1)), assets=["nope"])
