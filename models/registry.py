"""MLflow: the tracking store, the registry (versions, the ``champion`` and ``challenger``
aliases) and loading.

A registered version is an MLflow pyfunc model whose artifacts are the detector's own
files (``model.keras``, ``detector.json``), with an input signature naming the feature
columns it reads. The champion alias moves only through ``promote`` (the gate in the
training job, or an operator) and ``rollback``; the registered model's tag
``champion_history`` lists the versions that held it, oldest first. The ``challenger``
alias (``set_challenger``) names a version the prediction job scores beside the champion,
without alerting on it; promoting that version ends its time as the challenger.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from models.detector import Detector, ModelError
from models.shipped import ModelRef, ShippedModel

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # no network calls from a job
import mlflow
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.pyfunc import PythonModel
from mlflow.tracking import MlflowClient

log = logging.getLogger(__name__)

ALIAS = "champion"
CHALLENGER = "challenger"
HISTORY_TAG = "champion_history"
ARTIFACT = "detector"


class RegistryConf(Protocol):
    """Where the registry is and what the model is called (``sensorwatch.config.ModelConf``
    has these; this package does not import the configuration layer)."""

    @property
    def mlflow_uri(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def experiment(self) -> str: ...
    @property
    def local_dir(self) -> Path | None: ...


@dataclass(frozen=True)
class LoadedModel:
    detector: Detector
    ref: ModelRef
    run_id: str
    created: datetime  # when the version was registered (UTC)
    inputs: list[str]  # the columns its MLflow input signature names

    @property
    def name(self) -> str:
        return self.ref.name

    @property
    def version(self) -> int:
        return self.ref.version

    def shipped(self, thresholds: dict[str, float] | None = None, threshold_version: int = 0) -> ShippedModel:
        """The version's files (and thresholds replacing its calibration), to send to the
        Spark workers with the scoring function (run by the detector's ``scorer``)."""
        return ShippedModel.of(self.ref, self.detector, thresholds, threshold_version)

    def scored_with(self, scorer: str) -> LoadedModel:
        """This version with its forecasts run by ``scorer`` (``models.detector.SCORERS``)."""
        return replace(self, detector=self.detector.with_scorer(scorer))

    def check_inputs(self, available: list[str]) -> None:
        """Refuse features that lack a column the model's signature needs, naming the difference."""
        missing = [c for c in self.inputs if c not in available]
        if missing:
            unread = sorted(set(available) - set(self.inputs))
            raise ModelError(f"model '{self.name}' v{self.version} does not match the features: its input "
                             f"signature needs {', '.join(missing)}, which the features do not have"
                             f" (feature columns the model does not read: {', '.join(unread[:10]) or 'none'}"
                             f"{' ...' if len(unread) > 10 else ''})")


def client(conf: RegistryConf) -> MlflowClient:
    """Point MLflow at the configured store (creating a local one) and return a client."""
    if conf.local_dir is not None:
        conf.local_dir.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(conf.mlflow_uri)
    mlflow.set_registry_uri(conf.mlflow_uri)
    return MlflowClient(conf.mlflow_uri, conf.mlflow_uri)


def experiment_id(conf: RegistryConf) -> str:
    c = client(conf)
    found = c.get_experiment_by_name(conf.experiment)
    if found is not None:
        return found.experiment_id
    location = (conf.local_dir / "artifacts").as_uri() if conf.local_dir is not None else None
    return c.create_experiment(conf.experiment, artifact_location=location)


class DetectorPyfunc(PythonModel):
    """The detector as an MLflow pyfunc: feature rows in, one scored row per input row out."""

    def load_context(self, context) -> None:
        self.detector = Detector.load(Path(context.artifacts[ARTIFACT]))

    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        parts = []
        for asset, rows in model_input.groupby("asset_id", sort=False):
            rows = rows.sort_values("interval_start")
            scored = self.detector.score(str(asset), rows)
            parts.append(pd.DataFrame({
                "asset_id": rows["asset_id"], "interval_start": rows["interval_start"],
                "score": scored["score"], "threshold": scored["threshold"], "is_anomaly": scored["is_anomaly"],
                "top_sensors": [",".join(s) for s in scored["top_sensors"]],
            }))
        return pd.concat(parts).loc[model_input.index] if parts else pd.DataFrame()


def log_detector(conf: RegistryConf, detector: Detector, example: pd.DataFrame, workdir: Path) -> int:
    """Log the detector in the active run and register it; returns the new version."""
    directory = detector.save(workdir / ARTIFACT)
    inputs = example[["asset_id", "interval_start", *detector.spec.columns]]
    wrapper = DetectorPyfunc()
    wrapper.detector = detector  # only to infer the output signature
    signature = infer_signature(inputs, wrapper.predict(None, inputs))
    # MLflow prints what it registered on stderr: kept in the log instead (logging.DEBUG).
    with contextlib.redirect_stderr(io.StringIO()) as said:
        info = mlflow.pyfunc.log_model(  # a fresh instance: MLflow pickles it, the model travels as artifacts
            name=ARTIFACT, python_model=DetectorPyfunc(), artifacts={ARTIFACT: str(directory)},
            signature=signature, registered_model_name=conf.name,
            # Explicit requirements: inferring them costs 7-20 s and imports every package.
            pip_requirements=[f"tensorflow=={_version('tensorflow')}", f"onnxruntime=={_version('onnxruntime')}",
                              f"mlflow=={mlflow.__version__}",
                              f"pandas=={pd.__version__}", "sensorwatch"])
    for line in said.getvalue().splitlines():
        log.debug("mlflow: %s", line)
    return int(info.registered_model_version)


def alias_version(conf: RegistryConf, alias: str) -> int | None:
    """The version an alias points at (None: no such alias, or no such model)."""
    try:
        return int(client(conf).get_model_version_by_alias(conf.name, alias).version)
    except MlflowException:
        return None


def champion_version(conf: RegistryConf) -> int | None:
    return alias_version(conf, ALIAS)


def challenger_version(conf: RegistryConf) -> int | None:
    """The challenger, unless it is (now) the champion."""
    version = alias_version(conf, CHALLENGER)
    return None if version is None or version == champion_version(conf) else version


def load_challenger(conf: RegistryConf) -> LoadedModel | None:
    """The challenger version, loaded (None when there is none)."""
    version = challenger_version(conf)
    return None if version is None else load(conf, version)


def set_challenger(conf: RegistryConf, version: int) -> None:
    """Score ``version`` beside the champion from the next prediction run on."""
    c = client(conf)
    _check_version(c, conf, version)
    if version == champion_version(conf):
        raise ModelError(f"model '{conf.name}' v{version} is the champion: a challenger is another version")
    c.set_registered_model_alias(conf.name, CHALLENGER, str(version))


def clear_challenger(conf: RegistryConf) -> int | None:
    """Stop scoring the challenger; returns the version that was it (None: there was none)."""
    version = alias_version(conf, CHALLENGER)
    if version is not None:
        client(conf).delete_registered_model_alias(conf.name, CHALLENGER)
    return version


def load(conf: RegistryConf, version: int | None = None) -> LoadedModel:
    """The champion (or a given version), with a clear ``ModelError`` when there is none
    or it cannot be read."""
    client(conf)
    if version is None:
        version = champion_version(conf)
        if version is None:
            raise ModelError(f"no '{ALIAS}' version of model '{conf.name}' in {conf.mlflow_uri}: "
                             "train one first (sensorwatch train)")
    return load_ref(ModelRef(conf.mlflow_uri, conf.name, int(version)))


def load_ref(ref: ModelRef) -> LoadedModel:
    """Load one registered version."""
    mlflow.set_tracking_uri(ref.uri)
    mlflow.set_registry_uri(ref.uri)
    try:
        mv = MlflowClient(ref.uri, ref.uri).get_model_version(ref.name, str(ref.version))
    except MlflowException as exc:
        raise ModelError(f"model '{ref.name}' has no version {ref.version}") from exc
    try:
        pyfunc = mlflow.pyfunc.load_model(f"models:/{ref.name}/{ref.version}")
    except ModelError:
        raise
    except Exception as exc:  # MLflow wraps missing artifacts and unreadable files in many types
        raise ModelError(f"model '{ref.name}' version {ref.version} cannot be loaded: {exc}") from exc
    schema = pyfunc.metadata.get_input_schema()
    return LoadedModel(pyfunc.unwrap_python_model().detector, ref, mv.run_id or "",
                       datetime.fromtimestamp(mv.creation_timestamp / 1000, UTC),
                       schema.input_names() if schema is not None else [])


def history(conf: RegistryConf) -> list[int]:
    tags = client(conf).get_registered_model(conf.name).tags
    return json.loads(tags.get(HISTORY_TAG, "[]"))


def promote(conf: RegistryConf, version: int) -> None:
    """Make ``version`` the champion (and remember it for ``rollback``); a challenger
    promoted stops being the challenger."""
    c = client(conf)
    _check_version(c, conf, version)
    c.set_registered_model_alias(conf.name, ALIAS, str(version))
    c.set_registered_model_tag(conf.name, HISTORY_TAG, json.dumps([*history(conf), int(version)]))
    if alias_version(conf, CHALLENGER) == version:
        c.delete_registered_model_alias(conf.name, CHALLENGER)


def _check_version(c: MlflowClient, conf: RegistryConf, version: int) -> None:
    try:
        c.get_model_version(conf.name, str(version))
    except MlflowException as exc:
        raise ModelError(f"model '{conf.name}' has no version {version}") from exc


def rollback(conf: RegistryConf) -> int:
    """Give the champion alias back to the version that held it before; returns it."""
    past = history(conf)
    if len(past) < 2:
        raise ModelError(f"model '{conf.name}' has no earlier champion to roll back to (history: {past})")
    c = client(conf)
    c.set_registered_model_alias(conf.name, ALIAS, str(past[-2]))
    c.set_registered_model_tag(conf.name, HISTORY_TAG, json.dumps(past[:-1]))
    return past[-2]


def versions(conf: RegistryConf) -> list[dict[str, Any]]:
    c = client(conf)
    champion, challenger = champion_version(conf), challenger_version(conf)
    found = c.search_model_versions(f"name = '{conf.name}'")
    return sorted(({"version": int(v.version), "run_id": v.run_id, "champion": int(v.version) == champion,
                    "challenger": int(v.version) == challenger,
                    "created": pd.Timestamp(v.creation_timestamp, unit="ms", tz="UTC").isoformat(),
                    **{k: v.tags[k] for k in ("holdout_error", "gate") if k in v.tags}} for v in found),
                  key=lambda v: v["version"])


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)
