"""What the detector is, declared as data: the model's inputs and every hyperparameter.

A ``DetectorSpec`` comes from configuration (``model.detector`` in ``conf/``), is saved
with the trained model (``detector.json``) and is logged to MLflow as parameters, so a
registered model says exactly how it was built and what it reads.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from models.covariates import LAG
from models.threshold import RULES
from schemas import SENSOR_NAMES
from schemas.features import INTERVAL_STATS, ROLLING_STATS, column

_STATS = {st.name for st in (*INTERVAL_STATS, *ROLLING_STATS)} - {"count"}


@dataclass(frozen=True)
class DetectorSpec:
    # The model reads, per sensor, these statistics of each interval (feature columns).
    inputs: tuple[str, ...] = ("mean",)
    window: int = 60  # W: intervals the LSTM sees to forecast the next one
    units: int = 64  # LSTM units
    epochs: int = 40
    batch_size: int = 32
    patience: int = 5  # early stopping on the validation loss
    learning_rate: float = 1e-3
    seed: int = 0
    validation_fraction: float = 0.2  # last part of each asset's training windows (by time)
    # Anomaly score: each sensor's squared forecast error (in units of its training spread)
    # smoothed over the last `smoothing` rows; the root mean square of the `score_top_k`
    # largest among the sensors that are not `covariates` (inputs whose slow drift is no
    # evidence of a fault). Chosen out of selection on SKAB: docs/model-notes.md.
    smoothing: int = 30
    # Each sensor's signed error minus its adapting baseline (models.residuals.debias): the
    # mean of its last `baseline_rows` errors whose smoothed value stayed within
    # `baseline_guard` training spreads: a small move of the operating point is absorbed, a
    # fault is not (0 rows: no baseline). Chosen by the worst folder: docs/model-notes.md.
    baseline_rows: int = 200
    baseline_guard: float = 1.5
    covariates: tuple[str, ...] = ("temperature", "thermocouple")
    score_top_k: int = 2
    # Threshold per asset: `threshold_rule` (models.threshold.RULES) with its one parameter,
    # calibrated on the asset's `calibrate_on` rows ("training": every scored training row;
    # "validation": only the windows held out from fitting).
    threshold_rule: str = "spread"
    threshold_param: float = 3.0
    calibrate_on: str = "training"
    min_duration: int = 30  # flagged runs shorter than this many rows are pruned
    # A covariate is evidence when it is beyond its training range by this many times that
    # range and changing this many times faster than it did in training (models.covariates;
    # 0: never evidence). Chosen on SKAB and the simulator's kinds: docs/model-notes.md.
    covariate_limit: float = 5.0
    top_sensors: int = 3  # sensors named per anomaly, by contribution

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "covariates", tuple(self.covariates))
        unknown = [s for s in self.inputs if s not in _STATS]
        if not self.inputs or unknown:
            raise ValueError(f"inputs must be feature statistics among {sorted(_STATS)}, got {list(self.inputs)}")
        for name in ("window", "units", "epochs", "batch_size", "smoothing", "min_duration", "top_sensors",
                     "score_top_k"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 < self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must be in (0, 1), got {self.validation_fraction}")
        unknown = [s for s in self.covariates if s not in SENSOR_NAMES]
        if unknown or len(self.covariates) >= len(SENSOR_NAMES):
            raise ValueError(f"covariates must be some (not all) of the sensors {list(SENSOR_NAMES)}, "
                             f"got {list(self.covariates)}")
        if self.threshold_rule not in RULES:
            raise ValueError(f"threshold_rule must be one of {sorted(RULES)}, got {self.threshold_rule!r}")
        if self.baseline_rows < 0 or self.baseline_guard <= 0:
            raise ValueError(f"baseline_rows must be >= 0 and baseline_guard > 0, "
                             f"got {self.baseline_rows} and {self.baseline_guard}")
        if self.covariate_limit < 0:
            raise ValueError(f"covariate_limit must be >= 0 (0: covariates are never evidence), "
                             f"got {self.covariate_limit}")
        if self.threshold_param <= 0:
            raise ValueError(f"threshold_param must be > 0, got {self.threshold_param}")
        if self.calibrate_on not in ("training", "validation"):
            raise ValueError(f"calibrate_on must be 'training' or 'validation', got {self.calibrate_on!r}")
        if self.top_sensors > len(SENSOR_NAMES):
            raise ValueError(f"top_sensors must be at most {len(SENSOR_NAMES)}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DetectorSpec:
        defaults = {f.name: f.default for f in fields(cls)}
        unknown = sorted(set(data) - set(defaults))
        if unknown:
            raise ValueError(f"unknown detector setting(s): {', '.join(unknown)}")
        for name, value in data.items():
            _check_type(name, value, defaults[name])
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "inputs": list(self.inputs), "covariates": list(self.covariates)}

    @property
    def scored(self) -> list[bool]:
        """Per sensor (``SENSOR_NAMES`` order), whether its error counts in the score."""
        return [s not in self.covariates for s in SENSOR_NAMES]

    @property
    def columns(self) -> list[str]:
        """The feature columns the model reads, in its input order."""
        return [column(s, st) for s in SENSOR_NAMES for st in self.inputs]

    @property
    def lookback_rows(self) -> int:
        """Rows before a row that its score and its live flag depend on: the forecast
        window, the baseline's rows and the smoothing of the errors it keeps, and the
        smoothing (or the covariates' change, ``models.covariates.LAG``), and the
        confirmation (``min_duration``)."""
        baseline = self.baseline_rows + self.smoothing - 1 if self.baseline_rows else 0
        return max(self.window + baseline + self.smoothing - 1, LAG) + self.min_duration - 1


def _check_type(name: str, value: Any, default: Any) -> None:
    """A setting has its default's type (an int where a float is expected is fine; a bool
    is not a number); a tuple setting is a list of strings."""
    if isinstance(default, tuple):
        ok = isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
        expected = "a list of names"
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        expected = "a finite number"
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
        expected = "an integer"
    else:
        ok, expected = isinstance(value, str), "a string"
    if not ok:
        raise ValueError(f"{name} must be {expected}, got {value!r}"[:300])
