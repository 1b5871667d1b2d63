"""Training: ``sensor_features`` rows for a time range and assets -> a registered model.

Extract: ``read_features`` (the SQL store, the columns the detector reads).
Transform: ``split_holdout`` and ``models.detector.Detector.fit`` (pure, no storage).
Load: an MLflow run (params, per-epoch metrics, data version, artifacts, signature), a
new registered version, and the promotion gate: the ``champion`` alias moves only when
the new version's forecast error on the held-back data is not worse than the current
champion's on the same data (``model.promotion_tolerance``).
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from schemas import SENSOR_FEATURES
from sensorwatch.config import Settings
from sensorwatch.connectors.sql import SqlStore
from sensorwatch.runs import recorded_run

log = logging.getLogger(__name__)
JOB = "train"


class NoTrainingData(ValueError):
    """The range holds too little feature data to train on."""


@dataclass(frozen=True)
class TrainingData:
    frames: dict[str, pd.DataFrame]  # per asset, sorted by interval_start
    start: datetime
    end: datetime

    @property
    def rows(self) -> int:
        return sum(len(f) for f in self.frames.values())

    def version(self) -> dict[str, Any]:
        """What the model was trained on: range, assets, days (the table's partitions),
        row count and a content hash of exactly the values read."""
        digest = hashlib.sha256()
        for asset in sorted(self.frames):
            digest.update(asset.encode())
            digest.update(pd.util.hash_pandas_object(self.frames[asset], index=False).to_numpy().tobytes())
        days = sorted({d.date().isoformat() for f in self.frames.values() for d in f["interval_start"].dt.floor("D")})
        return {"table": SENSOR_FEATURES.name, "start": self.start.isoformat(), "end": self.end.isoformat(),
                "assets": sorted(self.frames), "partitions": days, "rows": self.rows,
                "sha256": digest.hexdigest()}


def default_range(store: SqlStore, hours: int) -> tuple[datetime, datetime]:
    """The last ``hours`` hours of features in the store, ending after the newest row."""
    newest = store.query(f"SELECT max(interval_start) FROM {store.name(SENSOR_FEATURES)}")[0][0]
    if newest is None:
        raise NoTrainingData("sensor_features is empty: run `sensorwatch features` first")
    end = newest.replace(tzinfo=newest.tzinfo or timezone.utc) + timedelta(seconds=1)
    return end - timedelta(hours=hours), end


def read_features(store: SqlStore, columns: list[str], start: datetime, end: datetime,
                  assets: list[str] | None = None) -> TrainingData:
    names = ["asset_id", "interval_start", *columns]
    where, params = "interval_start >= %s AND interval_start < %s", [start, end]
    if assets:
        where += f" AND asset_id IN ({', '.join(['%s'] * len(assets))})"
        params += assets
    rows = store.query(f"SELECT {store.column_list(names)} FROM {store.name(SENSOR_FEATURES)} "
                       f"WHERE {where} ORDER BY asset_id, interval_start", params)
    frame = pd.DataFrame(rows, columns=names)
    frame[columns] = frame[columns].astype(np.float64)
    frame["interval_start"] = pd.to_datetime(frame["interval_start"], utc=True).dt.tz_localize(None)
    frames = {a: g.reset_index(drop=True) for a, g in frame.groupby("asset_id", sort=True)}
    if assets and (absent := sorted(set(assets) - set(frames))):
        raise NoTrainingData(f"no features for asset(s) {', '.join(absent)} in [{start}, {end})")
    return TrainingData(frames, start, end)


def split_holdout(frames: dict[str, pd.DataFrame], fraction: float) -> tuple[dict, dict]:
    """Per asset, the last ``fraction`` of its rows (by time) is held back for the gate."""
    train, holdout = {}, {}
    for asset, rows in frames.items():
        cut = len(rows) - int(round(len(rows) * fraction))
        train[asset], holdout[asset] = rows.iloc[:cut].reset_index(drop=True), rows.iloc[cut:].reset_index(drop=True)
    return train, holdout


def gate(new_error: float, champion_error: float | None, tolerance: float) -> tuple[bool, str]:
    """Promote when there is no champion, or the new error is within tolerance of its."""
    if champion_error is None:
        return True, "no champion yet"
    limit = champion_error * (1 + tolerance)
    if new_error <= limit:
        return True, f"holdout error {new_error:.4f} <= champion's {champion_error:.4f} x {1 + tolerance:g}"
    return False, f"holdout error {new_error:.4f} > champion's {champion_error:.4f} x {1 + tolerance:g}: kept the champion"


def run_train(settings: Settings, start: datetime | None = None, end: datetime | None = None,
              assets: list[str] | None = None) -> dict[str, Any]:
    import mlflow

    from models import registry
    from models.detector import Detector, ModelError

    conf, spec = settings.model, settings.model.spec()
    store = SqlStore(settings)
    store.create_tables()
    with recorded_run(store, JOB) as run:
        if start is None and end is None:
            start, end = default_range(store, conf.train_hours)
        run.range_start, run.range_end = start, end
        data = read_features(store, spec.columns, start, end, assets)
        run.rows_in = data.rows
        train, holdout = split_holdout(data.frames, conf.holdout_fraction)
        if not any(len(f) > spec.window + 1 for f in train.values()):
            raise NoTrainingData(f"too little data in [{start}, {end}): {data.rows} rows over {len(data.frames)} "
                             f"asset(s); each asset needs more than {spec.window + 1} training rows")
        client = registry.client(conf)
        with mlflow.start_run(experiment_id=registry.experiment_id(conf), run_name=f"train-{run.run_id}") as ml:
            mlflow.log_params({**{f"detector.{k}": v for k, v in spec.to_dict().items()},
                               "features.interval_s": settings.features.interval_s,
                               "features.rolling_intervals": settings.features.rolling_intervals,
                               "data.start": start.isoformat(), "data.end": end.isoformat(),
                               "data.assets": len(data.frames), "holdout_fraction": conf.holdout_fraction})
            version = data.version()
            mlflow.log_dict(version, "data_version.json")
            mlflow.set_tags({"data.sha256": version["sha256"], "job_run_id": run.run_id})
            detector = Detector.fit(train, spec)
            detector.training.update(data_start=start.isoformat(), data_end=end.isoformat())
            for epoch, (loss, val) in enumerate(zip(detector.training["history"]["loss"],
                                                    detector.training["history"]["val_loss"]), 1):
                mlflow.log_metrics({"loss": loss, "val_loss": val}, step=epoch)
            new_error = detector.forecast_error(holdout)
            thresholds = [c.threshold for a, c in detector.calibrations.items() if a != "*"]
            mlflow.log_metrics({"holdout_error": new_error, "best_epoch": detector.training["best_epoch"],
                                "threshold_median": float(np.median(thresholds))})
            mlflow.set_tag("device", detector.training["device"])
            log.info("training device: %s", detector.training["device"])
            mlflow.log_dict({"interval_s": settings.features.interval_s,
                             "rolling_intervals": settings.features.rolling_intervals,
                             "columns": spec.columns}, "feature_spec.json")
            mlflow.log_dict({"table": SENSOR_FEATURES.name,
                             "fields": [{"name": f.name, "type": f.kind.value} for f in SENSOR_FEATURES.all_fields]},
                            "schema.json")
            example = next(f for f in train.values() if len(f) > spec.window).head(spec.window + 5)
            with tempfile.TemporaryDirectory() as tmp:
                new_version = registry.log_detector(conf, detector, example, Path(tmp))
        champion = registry.champion_version(conf)
        champion_error = None
        if champion is not None:
            try:
                champion_error = registry.load(conf, champion).detector.forecast_error(holdout)
            except (ModelError, ValueError) as exc:  # an unusable champion must not block a good model
                log.warning("champion v%s cannot be measured (%s): promoting the new version", champion, exc)
        promoted, reason = gate(new_error, champion_error, conf.promotion_tolerance)
        client.set_model_version_tag(conf.name, str(new_version), "holdout_error", f"{new_error:.6f}")
        client.set_model_version_tag(conf.name, str(new_version), "gate", reason)
        if promoted:
            registry.promote(conf, new_version)
        run.rows_out = sum(len(f) for f in train.values())
        run.details = {"model": conf.name, "version": new_version, "promoted": promoted, "gate": reason,
                       "device": detector.training["device"], "mlflow_run_id": ml.info.run_id,
                       "data_sha256": version["sha256"]}
        return {"run_id": run.run_id, **run.details, "holdout_error": round(new_error, 6),
                "champion_before": champion, "champion_error": champion_error, "rows": data.rows,
                "assets": len(data.frames), "epochs": detector.training["epochs"]}
