"""The detector: forecaster + per-asset normalisation and thresholds.

One LSTM is trained on the windows of all training assets. What differs between assets
is calibrated per asset on its own data: the normalisation of its inputs (mean, std)
and the score threshold. An asset the model has not seen uses the fleet calibration
(``"*"``, medians over the assets).

Everything the detector needs at scoring time travels with it (``save``/``load``):
``model.keras``, its forward pass as ``model.onnx`` (derived from the Keras weights:
``models.onnx_network``) and ``detector.json`` (spec, calibrations, training summary).
Forecasts run in ONNX Runtime (``scorer`` "onnx", also for the thresholds calibrated at
training) or in TensorFlow ("tensorflow": where a GPU is).
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from models import covariates, drift, forecasting, instrument, residuals, threshold
from models.memo import ForecastMemo
from models.spec import DetectorSpec
from schemas import SENSOR_NAMES
from schemas.errors import OperationFailed
from schemas.features import column

FLEET = "*"
# 2: threshold rules, covariates, top-k score (the SKAB selection); 3: the errors' baseline; 4: instrument and
# forecast profiles
FORMAT_VERSION = 4
READABLE = {2: {"baseline_rows": 0}, 3: {}, 4: {}}  # the versions loaded, with what an older one did not have


SCORERS = ("onnx", "tensorflow")


class ModelError(OperationFailed):
    """A model that cannot be used: missing, corrupt, or not matching the features."""


@dataclass
class Calibration:
    """Per asset: input normalisation (per model column), the score threshold, what
    training saw of the covariates (``models.covariates``) and of each sensor's readings
    (``models.instrument.SensorProfile``, ``SENSOR_NAMES`` order: the instrument checks), and
    how each sensor's short forecast is made (``models.forecasting.ShortProfile``). None: not
    known (models saved before; the fleet's instrument profiles: an asset the model has not
    seen gets no instrument checks; its forecasts use the median of the assets' profiles)."""

    mean: list[float]
    std: list[float]
    threshold: float
    covariates: dict[str, list[float]] | None = None
    instrument_profiles: list[dict[str, Any]] | None = None
    forecast_profiles: list[dict[str, Any]] | None = None

    # Parsed once per calibration (a worker scores an asset every cycle; parsing its profiles
    # each time cost a tenth of the scoring pass): the saved fields are never reassigned.
    def profiles(self) -> list[instrument.SensorProfile] | None:
        return self._profiles

    def forecasters(self) -> list[forecasting.ShortProfile] | None:
        return self._forecasters

    @cached_property
    def _profiles(self) -> list[instrument.SensorProfile] | None:
        if not self.instrument_profiles:
            return None
        return [instrument.SensorProfile.from_json(p) for p in self.instrument_profiles]

    @cached_property
    def _forecasters(self) -> list[forecasting.ShortProfile] | None:
        if not self.forecast_profiles:
            return None
        return [forecasting.ShortProfile.from_json(p) for p in self.forecast_profiles]


@dataclass
class Detector:
    spec: DetectorSpec
    model: Any  # keras.Model, or None until the first forecast of a loaded detector (``network()``)
    calibrations: dict[str, Calibration]
    training: dict[str, Any] = field(default_factory=dict)  # device, epochs, losses, rows
    checks: instrument.InstrumentSpec = field(default_factory=instrument.InstrumentSpec)
    forecasts: forecasting.ShortSpec = field(default_factory=forecasting.ShortSpec)
    scorer: str = "onnx"  # what runs the network's forward pass: one of SCORERS
    _predictor: Any = field(default=None, repr=False, compare=False)
    _model_path: Path | None = field(default=None, repr=False, compare=False)
    _onnx: bytes | None = field(default=None, repr=False, compare=False)

    # ---- training ---------------------------------------------------------------------
    @classmethod
    def fit(cls, frames: dict[str, pd.DataFrame], spec: DetectorSpec,
            forecasts: forecasting.ShortSpec | None = None,
            checks: instrument.InstrumentSpec | None = None) -> Detector:
        """Train on each asset's feature rows (sorted by time). The last
        ``validation_fraction`` of each asset's windows drives early stopping and the
        calibration of its threshold; the model is never fitted on it. The instrument
        profiles (``checks``: default ``InstrumentSpec()``) and the short forecasters
        (``forecasts``: default ``ShortSpec()``) are fitted on all of them."""
        from models import network

        usable = {a: f for a, f in frames.items() if len(f) > spec.window + 1}
        if not usable:
            raise ValueError(f"no asset has more than window + 1 = {spec.window + 1} rows to train on")
        norms = {a: _fit_normalisation(f, spec) for a, f in usable.items()}
        parts = {a: _windows(f, spec, *norms[a]) for a, f in usable.items()}
        n_val = {a: max(1, int(round(len(x) * spec.validation_fraction))) for a, (x, _) in parts.items()}
        x_fit, y_fit = _complete(np.concatenate([x[:-n_val[a]] for a, (x, _) in parts.items()]),
                                 np.concatenate([y[:-n_val[a]] for a, (_, y) in parts.items()]))
        x_val, y_val = _complete(np.concatenate([x[-n_val[a]:] for a, (x, _) in parts.items()]),
                                 np.concatenate([y[-n_val[a]:] for a, (_, y) in parts.items()]))
        if len(x_fit) == 0 or len(x_val) == 0:
            raise ValueError("no training or validation window has a complete next row (every sensor present)")
        result = network.train(spec, x_fit, y_fit, x_val, y_val)

        detector = cls(spec, result.model, {}, checks=checks or instrument.InstrumentSpec(),
                       forecasts=forecasts or forecasting.ShortSpec())
        for asset, (mean, std) in norms.items():
            seen = covariates.fit(detector._covariate_values(usable[asset]))
            readings = detector._readings(usable[asset])
            profiles = None if readings is None else instrument.fit_profiles(readings, detector.checks)
            short = None if readings is None else forecasting.fit_short(readings, detector.forecasts)
            detector.calibrations[asset] = Calibration(
                mean.tolist(), std.tolist(), np.nan, asdict(seen),
                None if profiles is None else [p.to_json() for p in profiles],
                None if short is None else [p.to_json() for p in short])
        # Each asset's threshold, from the scores of its own training rows exactly as
        # `score` computes them (all scored training rows, or only the validation ones).
        for asset, column_err in detector.column_errors_many(usable).items():
            score, _ = detector._score(column_err)
            calibration = score[spec.window:] if spec.calibrate_on == "training" else score[-n_val[asset]:]
            detector.calibrations[asset].threshold = threshold.calibrate(
                calibration, spec.threshold_rule, spec.threshold_param)
        detector.calibrations[FLEET] = _fleet(detector.calibrations.values())
        detector.training = {
            "device": result.device, "epochs": len(result.history["loss"]), "best_epoch": result.best_epoch,
            "history": result.history, "assets": sorted(usable), "windows_fit": len(x_fit),
            "windows_val": len(x_val), "final_val_loss": min(result.history["val_loss"]),
            # the training distribution of each input, for drift monitoring at prediction
            "reference": {c: drift.reference(np.concatenate([f[c].to_numpy(np.float64) for f in usable.values()]))
                          for c in spec.columns},
        }
        return detector

    # ---- scoring ----------------------------------------------------------------------
    def calibration(self, asset_id: str) -> Calibration:
        return self.calibrations.get(asset_id) or self.calibrations[FLEET]

    @property
    def lookback_rows(self) -> int:
        """Rows before a row that its score, its flags and its instrument condition depend on
        (and a short forecast issued at it)."""
        return max(self.spec.lookback_rows, self.checks.lookback, self.forecasts.history)

    def instrument_flags(self, asset_id: str, rows: pd.DataFrame) -> dict[tuple[str, int], np.ndarray]:
        """The instrument checks (``models.instrument.check_all``) on one asset's rows (on
        the interval grid, oldest first) against what training saw of its sensors; {} where
        nothing is known of them (an asset the model has not seen, an older model, a model
        that reads no interval mean)."""
        profiles, readings = self.calibration(asset_id).profiles(), self._readings(rows)
        if profiles is None or readings is None:
            return {}
        return instrument.check_all(readings, profiles, self.checks)

    def score(self, asset_id: str, rows: pd.DataFrame) -> pd.DataFrame:
        """One asset's feature rows (consecutive intervals, oldest first) -> per row:

        * ``score``; ``threshold`` (the asset's); ``exceeds`` (score above it);
        * ``is_anomaly``: the exceedance has lasted ``min_duration`` rows up to this one
          (causal: what a live run can know, see ``models.threshold``);
        * ``in_event``: hindsight, every row of an exceedance run of ``min_duration`` rows;
        * ``contributions`` (per sensor, summing to 1) and ``top_sensors``.

        The first ``window`` rows have no forecast (score NaN). An all-missing row (a gap
        on the interval grid) has no error, and a row whose window is mostly gap has no
        forecast. A row's score and flags depend on the ``spec.lookback_rows`` rows before it."""
        return self.score_many({asset_id: rows})[asset_id]

    def score_many(self, frames: dict[str, pd.DataFrame], memo: ForecastMemo | None = None) -> dict[str, pd.DataFrame]:
        """``score`` for many assets, with one batched forecast for all their windows (how
        the prediction job scores a batch of assets; ``memo``: see ``column_errors_many``)."""
        spec = self.spec
        out = {}
        for asset, column_err in self.column_errors_many(frames, memo).items():
            cal = self.calibration(asset)
            score, contrib = self._score(column_err)
            score, contrib = self._with_covariates(frames[asset], cal, score, contrib)
            exceeding = threshold.exceeds(score, cal.threshold)
            out[asset] = pd.DataFrame({
                "score": score, "threshold": cal.threshold, "exceeds": exceeding,
                "is_anomaly": threshold.confirmed(exceeding, spec.min_duration),
                "in_event": threshold.flag(score, cal.threshold, spec.min_duration),
                "contributions": list(contrib),
                "top_sensors": residuals.top_sensors(contrib, SENSOR_NAMES, spec.top_sensors),
            }, index=frames[asset].index)
        return out

    def column_errors_many(self, frames: dict[str, pd.DataFrame],
                           memo: ForecastMemo | None = None) -> dict[str, np.ndarray]:
        """Per asset, the signed forecast error (actual - forecast) per row and model column
        (in units of the asset's training spread), with one batched forecast for all assets.
        NaN where there is no forecast: the first ``window`` rows, an all-missing row (a gap
        on the interval grid), a row whose window is mostly gap. With a ``memo`` (frames with
        an ``interval_start`` column), a window whose input rows the memo holds bit for bit
        takes the forecast it holds instead of a new one (``models.memo``: the same bits),
        and each asset's last ``lookback_rows`` rows are remembered for the next cycle."""
        spec = self.spec
        cut = {}  # asset -> (input rows, targets, times, remembered forecasts, rows to forecast)
        for asset, rows in frames.items():
            self._check_columns(rows)
            cal = self.calibration(asset)
            if len(rows) > spec.window:
                inputs, targets = _input_rows(rows, spec, np.array(cal.mean), np.array(cal.std))
                times = _times(rows) if memo is not None else None
                known = memo.recall(asset, times, inputs, spec.window) if memo is not None and times is not None \
                    else np.full(inputs.shape, np.nan, dtype=np.float32)
                todo = spec.window + np.flatnonzero(~np.isfinite(known[spec.window:]).all(axis=1))
                cut[asset] = (inputs, targets, times, known, todo)
        windows = [_cut(inputs, spec.window, todo) for inputs, _, _, _, todo in cut.values()]
        predicted = self._predict(np.concatenate(windows)) if windows else None
        out, offset = {}, 0
        for asset, rows in frames.items():
            err = np.full((len(rows), len(spec.columns)), np.nan)
            if asset in cut:
                inputs, targets, times, forecasts, todo = cut[asset]
                assert predicted is not None  # forecast whenever any asset has windows
                forecasts[todo] = predicted[offset:offset + len(todo)]
                offset += len(todo)
                if memo is not None and times is not None:
                    memo.reused += len(rows) - spec.window - len(todo)
                    memo.forecast += len(todo)
                    memo.keep(asset, times, inputs, forecasts, self.lookback_rows)
                err[spec.window:] = residuals.signed_errors(forecasts[spec.window:], targets)
                present = rows[spec.columns].notna().any(axis=1).to_numpy()
                err[~present] = np.nan
                history = sliding_window_view(present[:-1], spec.window).sum(axis=1)
                err[spec.window:][history < spec.window / 2] = np.nan
            out[asset] = err
        return out

    def forecast_error(self, frames: dict[str, pd.DataFrame]) -> float:
        """Mean absolute next-interval error in each asset's own units, divided by that
        asset-sensor's spread in ``frames``: a yardstick that does not depend on the
        model's normalisation, so two models can be compared on the same held-back data."""
        total, count = 0.0, 0
        for asset, rows in frames.items():
            if len(rows) <= self.spec.window:
                continue
            cal = self.calibration(asset)
            mean, std = np.array(cal.mean), np.array(cal.std)
            x, y = _windows(rows, self.spec, mean, std)
            raw = rows[self.spec.columns].to_numpy(np.float64)[self.spec.window:]
            predicted = self._predict(x) * std + mean
            spread = np.maximum(np.nanstd(raw, axis=0), residuals.EPS)
            err = np.abs(raw - predicted) / spread
            total += float(np.nansum(err))
            count += int(np.sum(np.isfinite(err)))
        if count == 0:
            raise ValueError("no asset has enough rows to measure the forecast error")
        return total / count

    # ---- persistence ------------------------------------------------------------------
    def save(self, directory: Path) -> Path:
        from models import network

        directory.mkdir(parents=True, exist_ok=True)
        network.save(self.network(), directory / "model.keras")
        (directory / "model.onnx").write_bytes(self.onnx_graph())
        (directory / "detector.json").write_text(json.dumps(self.describe(), indent=1))
        return directory

    def describe(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION, "spec": self.spec.to_dict(), "columns": self.spec.columns,
            "sensors": list(SENSOR_NAMES), "training": self.training,
            "calibrations": {a: asdict(c) for a, c in self.calibrations.items()},
            "instrument_checks": self.checks.to_json(), "short_forecasts": self.forecasts.to_json(),
        }

    @classmethod
    def load(cls, directory: Path) -> Detector:
        """Raises ``ModelError`` naming what is missing or unreadable. The network itself
        is read at the first forecast (``network()``): a process that only needs the
        detector's description (the Spark driver) never imports TensorFlow."""
        meta_path, model_path = directory / "detector.json", directory / "model.keras"
        missing = [p.name for p in (meta_path, model_path) if not p.is_file()]
        if missing:
            raise ModelError(f"no usable model in {directory}: missing {', '.join(missing)}")
        try:
            meta = json.loads(meta_path.read_text())
            if meta.get("format_version") not in READABLE:
                raise ValueError(f"format_version {meta.get('format_version')!r}, expected one of {sorted(READABLE)}")
            spec = DetectorSpec.from_dict({**READABLE[meta["format_version"]], **meta["spec"]})
            calibrations = {a: Calibration(**c) for a, c in meta["calibrations"].items()}
            checks = instrument.InstrumentSpec.from_json(meta.get("instrument_checks", {}))
            forecasts = forecasting.ShortSpec(**meta.get("short_forecasts", {}))
            if meta["sensors"] != list(SENSOR_NAMES) or meta["columns"] != spec.columns:
                raise ValueError(f"built for sensors {meta['sensors']}, this version has {list(SENSOR_NAMES)}")
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"corrupt model metadata in {meta_path}: {exc}") from exc
        if not _is_keras_archive(model_path):
            raise ModelError(f"corrupt model file {model_path}: not a Keras archive")
        onnx_path = directory / "model.onnx"  # absent in versions saved before it: derived when needed
        return cls(spec, None, calibrations, meta.get("training", {}), checks, forecasts, _model_path=model_path,
                   _onnx=onnx_path.read_bytes() if onnx_path.is_file() else None)

    def with_scorer(self, scorer: str) -> Detector:
        """This detector with its forecasts run by ``scorer`` (one of ``SCORERS``)."""
        if scorer not in SCORERS:
            raise ValueError(f"scorer must be one of {', '.join(SCORERS)}, got {scorer!r}")
        return self if scorer == self.scorer else replace(self, scorer=scorer, _predictor=None)

    def with_thresholds(self, thresholds: dict[str, float]) -> Detector:
        """This detector with ``thresholds`` replacing some assets' calibrated thresholds
        (recalibrated from operators' labels, ``sensorwatch.operations.threshold_versions``); same network."""
        if not thresholds:
            return self
        calibrations = dict(self.calibrations)
        for asset, value in thresholds.items():
            calibrations[asset] = replace(self.calibration(asset), threshold=float(value))
        return replace(self, calibrations=calibrations)

    @property
    def saved_in(self) -> Path | None:
        """The directory this detector was loaded from (None: fitted in this process)."""
        return self._model_path.parent if self._model_path is not None else None

    def network(self) -> Any:
        """The Keras model, read from the saved file the first time it is needed."""
        if self.model is None:
            from models import network

            assert self._model_path is not None  # a detector is fitted (model set) or loaded (path set)
            try:
                self.model = network.load(self._model_path)
            except Exception as exc:  # Keras raises many types for a damaged file
                raise ModelError(f"corrupt model file {self._model_path}: {exc}") from exc
        return self.model

    def onnx_graph(self) -> bytes:
        """The network's forward pass as an ONNX model: saved with the detector, or derived from
        the Keras weights (in memory after ``fit``; from the archive, without TensorFlow, after ``load``)."""
        if self._onnx is None:
            from models import onnx_network

            try:
                weights = (onnx_network.weights_from_model(self.model) if self.model is not None
                           else onnx_network.weights_from_archive(self._model_path))  # type: ignore[arg-type]
            except (OSError, KeyError, ValueError) as exc:
                raise ModelError(f"cannot derive the ONNX graph of {self._model_path or 'the model'}: {exc}") from exc
            self._onnx = onnx_network.to_onnx(weights)
        return self._onnx

    # ---- internals --------------------------------------------------------------------
    def _predict(self, windows: np.ndarray) -> np.ndarray:
        if self._predictor is None:
            if self.scorer == "tensorflow":
                from models.network import Predictor

                self._predictor = Predictor(self.network())
            else:
                from models.onnx_network import OnnxPredictor

                self._predictor = OnnxPredictor(self.onnx_graph())
        return self._predictor(windows)

    def _score(self, column_err: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(score, contributions) per row from the rows' signed errors per model column,
        less their adapting baseline (``residuals.debias``); none in the first ``window`` rows
        (no forecast)."""
        spec = self.spec
        debiased = residuals.debias(column_err, spec.baseline_rows, spec.baseline_guard, spec.smoothing)
        sensor_err = residuals.per_sensor(debiased, len(SENSOR_NAMES))
        score, contrib = residuals.score(sensor_err, spec.smoothing, spec.scored, spec.score_top_k)
        score[: spec.window] = np.nan
        contrib[: spec.window] = np.nan
        return score, contrib

    def _readings(self, rows: pd.DataFrame) -> np.ndarray | None:
        """Each sensor's interval mean (rows x ``SENSOR_NAMES``): what the instrument checks
        read; None where the model does not read the means."""
        if "mean" not in self.spec.inputs:
            return None
        return rows[[column(s, "mean") for s in SENSOR_NAMES]].to_numpy(np.float64)

    def _covariate_values(self, rows: pd.DataFrame) -> np.ndarray:
        """The covariates' first model input (their interval means), rows x covariates."""
        return rows[[column(s, self.spec.inputs[0]) for s in self.spec.covariates]].to_numpy(np.float64)

    def _with_covariates(self, rows: pd.DataFrame, cal: Calibration, score: np.ndarray,
                         contrib: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The score raised where a covariate is evidence (``models.covariates``): to
        ``threshold x evidence / covariate_limit``, so it exceeds the threshold exactly
        when the evidence exceeds the limit; such a row's contribution is the covariate's."""
        limit = self.spec.covariate_limit
        if not limit or not cal.covariates or not self.spec.covariates:
            return score, contrib
        per_covariate = covariates.evidence(self._covariate_values(rows), covariates.CovariateRange(**cal.covariates))
        raised = cal.threshold * per_covariate.max(axis=1) / limit
        wins = raised > np.nan_to_num(score, nan=np.inf)  # a row without a forecast keeps no score
        if not wins.any():
            return score, contrib
        score, contrib = np.where(wins, raised, score), contrib.copy()
        index = [SENSOR_NAMES.index(s) for s in self.spec.covariates]
        contrib[wins] = 0.0
        contrib[np.flatnonzero(wins), np.asarray(index)[per_covariate[wins].argmax(axis=1)]] = 1.0
        return score, contrib

    def _check_columns(self, rows: pd.DataFrame) -> None:
        missing = [c for c in self.spec.columns if c not in rows.columns]
        if missing:
            raise ModelError(f"the feature rows lack the model's input column(s): {', '.join(missing)}")


def _is_keras_archive(path: Path) -> bool:
    """A ``.keras`` file is a zip holding the model's config (checked without TensorFlow)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return "config.json" in archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


def _fit_normalisation(rows: pd.DataFrame, spec: DetectorSpec) -> tuple[np.ndarray, np.ndarray]:
    values = rows[spec.columns].to_numpy(np.float64)
    mean = np.nan_to_num(np.nanmean(values, axis=0))
    std = np.nan_to_num(np.nanstd(values, axis=0), nan=1.0)
    return mean, np.where(std > residuals.EPS, std, 1.0)


def _windows(rows: pd.DataFrame, spec: DetectorSpec, mean: np.ndarray,
             std: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(windows of ``spec.window`` consecutive rows as float32, the row after each), in
    units of the asset's training spread. A missing value stays NaN in the targets (no
    error) and becomes 0, the training mean, inside windows."""
    inputs, targets = _input_rows(rows, spec, mean, std)
    return _cut(inputs, spec.window, np.arange(spec.window, len(inputs))), targets


def _input_rows(rows: pd.DataFrame, spec: DetectorSpec, mean: np.ndarray,
                std: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(every row as the network reads it inside a window: float32, a missing value 0, the
    rows after the first ``spec.window`` as targets: float64, NaN kept)."""
    values = (rows[spec.columns].to_numpy(np.float64) - mean) / std
    return np.nan_to_num(values, nan=0.0).astype(np.float32), values[spec.window:]


def _cut(inputs: np.ndarray, window: int, targets: np.ndarray) -> np.ndarray:
    """The windows (``window`` input rows each) before the rows ``targets``, as one array."""
    return sliding_window_view(inputs[:-1], window, axis=0).transpose(0, 2, 1)[targets - window]


def _times(rows: pd.DataFrame) -> np.ndarray | None:
    """The rows' interval starts as int64 nanoseconds (None: the frame has none)."""
    if "interval_start" not in rows.columns:
        return None
    return rows["interval_start"].to_numpy("datetime64[ns]").view(np.int64)


def _complete(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The windows whose target row has every input: a missing target has no error to
    learn from (one NaN would make the whole loss NaN)."""
    keep = np.isfinite(y).all(axis=1)
    return x[keep], y[keep]


def _fleet(calibrations) -> Calibration:
    cals = list(calibrations)
    median = lambda attr: np.median([getattr(c, attr) for c in cals], axis=0)
    seen = None
    if all(c.covariates for c in cals):  # the median asset's covariate range
        seen = {k: np.median([c.covariates[k] for c in cals], axis=0).tolist() for k in cals[0].covariates}
    short = None
    if all(c.forecast_profiles for c in cals):  # per sensor, the median weight and half-widths
        profiles = [c.forecasters() for c in cals]
        short = [{"alpha": float(np.median([p[s].alpha for p in profiles])),
                  "half_widths": np.median([p[s].half_widths for p in profiles], axis=0).tolist()}
                 for s in range(len(profiles[0]))]
    return Calibration(median("mean").tolist(), median("std").tolist(), float(median("threshold")), seen,
                       None, short)
