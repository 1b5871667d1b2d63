"""A registered model as Spark's Python workers receive it: inside the task, as bytes.

The driver loads the champion from MLflow once and ships its files (``detector.json``,
``model.keras`` and ``model.onnx``, ~200 KB; the ONNX graph derived here for a version
registered before it had one) with the scoring function. A worker then needs neither MLflow
nor access to the registry's store: it unpacks the files and reads the network once per
process and version (``ShippedModel.detector``); with the ONNX scorer it never imports
TensorFlow. Nothing here imports MLflow or TensorFlow at import time.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from models.detector import Detector

FILES = ("detector.json", "model.keras", "model.onnx")


@dataclass(frozen=True)
class ModelRef:
    """One registered version: where it is registered, its name and version."""

    uri: str  # tracking and registry URI
    name: str
    version: int


@dataclass(frozen=True)
class ShippedModel:
    """A registered version's files, shipped to the workers (picklable), and the per-asset
    thresholds that replace its calibration (``threshold_version``: 0 for none)."""

    ref: ModelRef
    files: dict[str, bytes] = field(repr=False, compare=False)
    thresholds: tuple[tuple[str, float], ...] = ()
    threshold_version: int = 0
    scorer: str = "onnx"  # what runs the forward pass in the workers (``Detector.scorer``)

    @classmethod
    def of(cls, ref: ModelRef, detector: Detector, thresholds: dict[str, float] | None = None,
           threshold_version: int = 0) -> ShippedModel:
        """``detector``'s files (the ONNX graph derived if it was saved without one), run by its ``scorer``."""
        with tempfile.TemporaryDirectory(prefix="sensorwatch-model-") as tmp:
            directory = detector.save(Path(tmp)) if detector.saved_in is None else detector.saved_in
            files = {name: (directory / name).read_bytes() for name in FILES if (directory / name).is_file()}
            files.setdefault("model.onnx", detector.onnx_graph())
            return cls(ref, files, tuple(sorted((thresholds or {}).items())), threshold_version, detector.scorer)

    def detector(self) -> Detector:
        """The detector with its network ready (ONNX Runtime, or TensorFlow): what a worker scores with."""
        with tempfile.TemporaryDirectory(prefix="sensorwatch-model-") as tmp:
            for name, content in self.files.items():
                (Path(tmp) / name).write_bytes(content)
            detector = Detector.load(Path(tmp)).with_scorer(self.scorer)
            if self.scorer == "tensorflow":
                detector.network()  # read while the files are there
        return detector.with_thresholds(dict(self.thresholds))


_LOADED: dict[tuple[ModelRef, int, str], Detector] = {}


def detector_for(model: ShippedModel) -> Detector:
    """The shipped version's detector (with its thresholds), unpacked once per Python
    process (Spark worker)."""
    key = (model.ref, model.threshold_version, model.scorer)
    if key not in _LOADED:
        _LOADED[key] = model.detector()
    return _LOADED[key]
