"""Training: ``sensor_features`` rows for a time range and assets -> a registered model.

Extract: ``read_features`` (the SQL store, the columns the detector reads).
Transform: ``split_holdout`` and ``models.detector.Detector.fit`` (pure, no storage).
Load: ``log_run`` (an MLflow run: params, per-epoch metrics, data version, artifacts,
signature; a new registered version), then ``gate_and_promote``: the ``champion`` alias moves only when
the new version's forecast error on the held-back data is not worse than the current
champion's on the same data (``model.promotion_tolerance``).
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from schemas import SENSOR_FEATURES
from schemas.errors import DataError
from schemas.time import TimeRange, naive_utc, utc
from sensorwatch.config import ModelConf, Settings
from sensorwatch.connectors.sql import SqlStore
from sensorwatch.connectors.sql import statements as q
from sensorwatch.pipeline.runs import Details, RunRecord, recorded_run

if TYPE_CHECKING:  # TensorFlow is imported only when a model is trained
    from models.detector import Detector
    from models.spec import DetectorSpec

log = logging.getLogger(__name__)
JOB = "train"


class NoTrainingData(DataError):
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


def default_range(store: SqlStore, hours: int) -> TimeRange:
    """The last ``hours`` hours of features in the store, ending after the newest row."""
    newest = store.query(q.newest_feature_time(store.target))[0].newest
    if newest is None:
        raise NoTrainingData("sensor_features is empty: run `sensorwatch features` first")
    end = utc(newest) + timedelta(seconds=1)
    return TimeRange(end - timedelta(hours=hours), end)


def read_features(store: SqlStore, columns: list[str], span: TimeRange,
                  assets: list[str] | None = None) -> TrainingData:
    names = ["asset_id", "interval_start", *columns]
    rows = store.query(q.rows_between(store.target, SENSOR_FEATURES, names, span.start, span.end, assets))
    frame = pd.DataFrame(rows, columns=names)
    frame[columns] = frame[columns].astype(np.float64)
    frame["interval_start"] = naive_utc(frame["interval_start"])
    frames = {a: g.reset_index(drop=True) for a, g in frame.groupby("asset_id", sort=True)}
    if assets and (absent := sorted(set(assets) - set(frames))):
        raise NoTrainingData(f"no features for asset(s) {', '.join(absent)} in {span}")
    return TrainingData(frames, span.start, span.end)


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
    return False, (f"holdout error {new_error:.4f} > champion's {champion_error:.4f} x {1 + tolerance:g}: "
                   "kept the champion")


@dataclass(frozen=True)
class Trained:
    """Transform's answer: the fitted detector and its error on the held-back rows."""

    detector: Detector
    train: dict[str, pd.DataFrame]
    holdout: dict[str, pd.DataFrame]
    holdout_error: float

    @property
    def rows(self) -> int:
        return sum(len(f) for f in self.train.values())


@dataclass(frozen=True)
class Gate:
    promoted: bool
    reason: str
    champion_before: int | None
    champion_error: float | None


def train(data: TrainingData, spec: DetectorSpec, holdout_fraction: float) -> Trained:
    """Fit a detector on all but the held-back rows of each asset (pure: no storage)."""
    from models.detector import Detector

    train_rows, holdout = split_holdout(data.frames, holdout_fraction)
    if not any(len(f) > spec.window + 1 for f in train_rows.values()):
        raise NoTrainingData(f"too little data in [{data.start}, {data.end}): {data.rows} rows over "
                             f"{len(data.frames)} asset(s); each asset needs more than {spec.window + 1} training rows")
    detector = Detector.fit(train_rows, spec)
    detector.training.update(data_start=data.start.isoformat(), data_end=data.end.isoformat())
    log.info("trained on %s: %d epochs", detector.training["device"], detector.training["epochs"])
    return Trained(detector, train_rows, holdout, detector.forecast_error(holdout))


def log_run(settings: Settings, job_run_id: str, data: TrainingData, data_version: dict[str, Any],
            trained: Trained) -> tuple[int, str]:
    """The MLflow run (params, per-epoch metrics, ``data_version``, artifacts) and a new
    registered version; returns (version, MLflow run id)."""
    import mlflow

    from models import registry

    conf, spec, detector = settings.model, settings.model.spec(), trained.detector
    with mlflow.start_run(experiment_id=registry.experiment_id(conf), run_name=f"train-{job_run_id}") as ml:
        mlflow.log_params({**{f"detector.{k}": v for k, v in spec.to_dict().items()},
                           "features.interval_s": settings.features.interval_s,
                           "features.rolling_intervals": settings.features.rolling_intervals,
                           "data.start": data.start.isoformat(), "data.end": data.end.isoformat(),
                           "data.assets": len(data.frames), "holdout_fraction": conf.holdout_fraction})
        mlflow.log_dict(data_version, "data_version.json")
        mlflow.set_tags({"data.sha256": data_version["sha256"], "job_run_id": job_run_id,
                         "device": detector.training["device"]})
        for epoch, (loss, val) in enumerate(zip(detector.training["history"]["loss"],
                                                detector.training["history"]["val_loss"]), 1):
            mlflow.log_metrics({"loss": loss, "val_loss": val}, step=epoch)
        thresholds = [c.threshold for a, c in detector.calibrations.items() if a != "*"]
        mlflow.log_metrics({"holdout_error": trained.holdout_error, "best_epoch": detector.training["best_epoch"],
                            "threshold_median": float(np.median(thresholds))})
        mlflow.log_dict({"interval_s": settings.features.interval_s,
                         "rolling_intervals": settings.features.rolling_intervals,
                         "columns": spec.columns}, "feature_spec.json")
        mlflow.log_dict({"table": SENSOR_FEATURES.name,
                         "fields": [{"name": f.name, "type": f.kind.value} for f in SENSOR_FEATURES.all_fields]},
                        "schema.json")
        example = next(f for f in trained.train.values() if len(f) > spec.window).head(spec.window + 5)
        with tempfile.TemporaryDirectory() as tmp:
            return registry.log_detector(conf, detector, example, Path(tmp)), ml.info.run_id


def gate_and_promote(conf: ModelConf, version: int, trained: Trained, challenger: bool = False) -> Gate:
    """Measure the champion on the same held-back rows; move the alias when the new version
    is not worse (``gate``). The verdict is tagged on the version either way. With
    ``challenger``, the new version becomes the challenger instead (scored beside the
    champion; promoted later, on purpose), unless there is no champion yet."""
    from models import registry
    from models.detector import ModelError

    champion = registry.champion_version(conf)
    champion_error = None
    if champion is not None:
        try:
            champion_error = registry.load(conf, champion).detector.forecast_error(trained.holdout)
        except (ModelError, ValueError) as exc:  # an unusable champion must not block a good model
            log.warning("champion v%s cannot be measured (%s): promoting the new version", champion, exc)
    promoted, reason = gate(trained.holdout_error, champion_error, conf.promotion_tolerance)
    if challenger and champion is not None:
        promoted, reason = False, f"{reason}; registered as the challenger (sensorwatch model compare)"
    client = registry.client(conf)
    client.set_model_version_tag(conf.name, str(version), "holdout_error", f"{trained.holdout_error:.6f}")
    client.set_model_version_tag(conf.name, str(version), "gate", reason)
    if promoted:
        registry.promote(conf, version)
    elif challenger and champion is not None:
        registry.set_challenger(conf, version)
    return Gate(promoted, reason, champion, champion_error)


@dataclass
class TrainDetails(Details):
    """A training run's own figures (``job_runs.details``): the new version, the gate's
    verdict, the data it saw."""

    model: str = ""
    version: int = 0
    promoted: bool = False
    gate: str = ""  # the gate's reason
    device: str = ""  # CPU | GPU
    mlflow_run_id: str = ""
    data_sha256: str = ""  # the training data's version (every value read, hashed)
    holdout_error: float | None = None
    champion_before: int | None = None
    champion_error: float | None = None
    assets: int = 0
    epochs: int = 0


def run_train(settings: Settings, span: TimeRange | None = None, assets: list[str] | None = None,
              challenger: bool = False) -> RunRecord[TrainDetails]:
    """Extract, train, log, gate (or register as the ``challenger``); returns the run's
    record (also in ``job_runs``): rows_in the feature rows read, rows_out those trained on."""
    conf, spec = settings.model, settings.model.spec()
    store = SqlStore(settings)
    store.create_tables()
    with recorded_run(store, JOB, TrainDetails(model=conf.name)) as run:
        span = span or default_range(store, conf.train_hours)
        run.covering(span)
        data = read_features(store, spec.columns, span, assets)
        run.rows_in = data.rows
        trained = train(data, spec, conf.holdout_fraction)
        data_version = data.version()  # hashes every value read: once
        version, mlflow_run = log_run(settings, run.run_id, data, data_version, trained)
        verdict = gate_and_promote(conf, version, trained, challenger)
        run.rows_out = trained.rows
        run.details = TrainDetails(
            model=conf.name, version=version, promoted=verdict.promoted, gate=verdict.reason,
            device=trained.detector.training["device"], mlflow_run_id=mlflow_run, data_sha256=data_version["sha256"],
            holdout_error=round(trained.holdout_error, 6), champion_before=verdict.champion_before,
            champion_error=verdict.champion_error, assets=len(data.frames), epochs=trained.detector.training["epochs"])
    return run.summary()
