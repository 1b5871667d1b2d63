"""The LSTM's forward pass in ONNX Runtime: what the scoring workers run instead of TensorFlow.

Training stays in Keras (``models.network``). The scoring graph is derived from the trained
weights, not traced by a converter: one ONNX ``LSTM`` node and one ``Gemm``, the same
arithmetic as ``network.build`` (sigmoid gates, tanh cell and output, one bias per gate).
The weights are read from the Keras archive's ``model.weights.h5`` with h5py, so deriving
the graph needs neither TensorFlow nor a GPU, and a registered version from before this
module gets its graph when it is shipped (``models.shipped``).

Measured against TensorFlow side by side (``bench/predict.py --scorers``): equal scores
within ``TOLERANCE`` (tests/test_onnx_network.py), and a worker that never imports TensorFlow.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

OPSET = 17
# Largest difference between this forward pass and Keras' on the same windows, in units of the
# normalised inputs (float32 arithmetic in a different order): what the test holds it to.
TOLERANCE = 1e-4
# Windows per run: small batches keep the LSTM's step in cache (one thread, measured on the
# 2-core machine: ~29k windows/s at 16-32, 19k at 4,096, 12k at 20,000).
BATCH = 32
# Keras orders an LSTM's gates (input, forget, cell, output); ONNX (input, output, forget, cell).
_KERAS_TO_ONNX = (0, 3, 1, 2)


class ExportError(ValueError):
    """A Keras model this graph does not reproduce (another architecture or activation)."""


@dataclass(frozen=True)
class LstmWeights:
    """``network.build``'s weights: an LSTM (Keras layout) and the Dense layer after it."""

    kernel: np.ndarray  # (features, 4 * units)
    recurrent: np.ndarray  # (units, 4 * units)
    bias: np.ndarray  # (4 * units,)
    dense_kernel: np.ndarray  # (units, outputs)
    dense_bias: np.ndarray  # (outputs,)
    window: int

    @property
    def units(self) -> int:
        return self.recurrent.shape[0]

    @property
    def features(self) -> int:
        return self.kernel.shape[0]


def weights_from_model(model) -> LstmWeights:
    """From a Keras model in memory (a detector just fitted)."""
    _check_config(model.get_config())
    kernel, recurrent, bias, dense_kernel, dense_bias = (np.asarray(w, np.float32) for w in model.get_weights())
    return LstmWeights(kernel, recurrent, bias, dense_kernel, dense_bias, int(model.input_shape[1]))


def weights_from_archive(path: Path) -> LstmWeights:
    """From a saved ``model.keras`` (a zip of ``config.json`` and ``model.weights.h5``), without TensorFlow."""
    import h5py

    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))["config"]
        weights = io.BytesIO(archive.read("model.weights.h5"))
    _check_config(config)
    window = int(config["layers"][0]["config"]["batch_shape"][1])
    with h5py.File(weights, "r") as h5:
        lstm, dense = h5["layers/lstm/cell/vars"], h5["layers/dense/vars"]
        kernel, recurrent, bias, dense_kernel, dense_bias = (
            np.asarray(v[()], np.float32) for v in (lstm["0"], lstm["1"], lstm["2"], dense["0"], dense["1"]))
    return LstmWeights(kernel, recurrent, bias, dense_kernel, dense_bias, window)


def _check_config(config: dict) -> None:
    """The graph reproduces ``network.build`` only: input -> LSTM (last state) -> Dense."""
    kinds = [layer["class_name"] for layer in config["layers"]]
    if kinds != ["InputLayer", "LSTM", "Dense"]:
        raise ExportError(f"expected layers InputLayer, LSTM, Dense; the model has {kinds}")
    lstm, dense = config["layers"][1]["config"], config["layers"][2]["config"]
    expected = {"activation": "tanh", "recurrent_activation": "sigmoid", "use_bias": True,
                "return_sequences": False, "go_backwards": False}
    wrong = {k: lstm.get(k) for k, v in expected.items() if lstm.get(k) != v}
    if wrong or dense.get("activation") != "linear":
        raise ExportError(f"an LSTM/Dense this graph does not reproduce: {wrong or dense.get('activation')}")


def _gates(matrix: np.ndarray, units: int) -> np.ndarray:
    """Keras' gate blocks along the last axis, reordered for ONNX."""
    blocks = [matrix[..., g * units:(g + 1) * units] for g in range(4)]
    return np.concatenate([blocks[g] for g in _KERAS_TO_ONNX], axis=-1)


def to_onnx(weights: LstmWeights) -> bytes:
    """The serialised ONNX model: input ``window`` (batch, W, features) float32 -> ``next`` (batch, outputs)."""
    from onnx import TensorProto, checker, helper, numpy_helper

    units = weights.units
    w = _gates(weights.kernel, units).T[np.newaxis]  # (1, 4U, F)
    r = _gates(weights.recurrent, units).T[np.newaxis]  # (1, 4U, U)
    b = np.concatenate([_gates(weights.bias, units), np.zeros(4 * units, np.float32)])[np.newaxis]  # (1, 8U)
    initializers = [numpy_helper.from_array(np.ascontiguousarray(a, np.float32), name) for a, name in (
        (w, "W"), (r, "R"), (b, "B"), (weights.dense_kernel, "dense_kernel"), (weights.dense_bias, "dense_bias"))]
    initializers.append(numpy_helper.from_array(np.array([0], np.int64), "axis0"))
    nodes = [
        helper.make_node("Transpose", ["window"], ["time_major"], perm=[1, 0, 2]),  # (W, batch, F)
        helper.make_node("LSTM", ["time_major", "W", "R", "B"], ["", "last_h"], hidden_size=units),
        helper.make_node("Squeeze", ["last_h", "axis0"], ["hidden"]),  # (1, batch, U) -> (batch, U)
        helper.make_node("Gemm", ["hidden", "dense_kernel", "dense_bias"], ["next"]),
    ]
    graph = helper.make_graph(
        nodes, "lstm_forecaster",
        [helper.make_tensor_value_info("window", TensorProto.FLOAT, ["batch", weights.window, weights.features])],
        [helper.make_tensor_value_info("next", TensorProto.FLOAT, ["batch", weights.dense_kernel.shape[1]])],
        initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="sensorwatch")
    model.ir_version = 8  # readable by every ONNX Runtime of the last years
    checker.check_model(model)
    return model.SerializeToString()


class OnnxPredictor:
    """Batched inference through an ONNX Runtime session: the same call as ``network.Predictor``.

    One intra-op thread by default (``SENSORWATCH_ONNX_THREADS``): Spark runs one Python worker
    per core, so more threads per worker only contend with the other workers.
    """

    def __init__(self, model: bytes, threads: int | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or int(os.environ.get("SENSORWATCH_ONNX_THREADS", "1"))
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        self._outputs = int(self._session.get_outputs()[0].shape[1])

    def __call__(self, windows: np.ndarray, batch: int = BATCH) -> np.ndarray:
        outputs = [self._session.run(None, {"window": windows[start:start + batch].astype(np.float32, copy=False)})[0]
                   for start in range(0, len(windows), batch)]
        return np.concatenate(outputs) if outputs else np.empty((0, self._outputs), np.float32)
