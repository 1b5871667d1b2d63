"""The LSTM forecaster: W intervals of one asset in, the next interval out (telemanom-style).

TensorFlow is imported here and only here. Training uses a GPU when TensorFlow sees one
(with mixed precision) and the CPU otherwise; ``device()`` says which.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from models.spec import DetectorSpec
from models.stderr import native_stderr

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ banner lines
with native_stderr():  # what the setting does not silence (absl's first lines, oneDNN) goes to the log
    import keras
    import tensorflow as tf

log = logging.getLogger(__name__)
PREDICT_BATCH = 4096  # fixed batch shape: one XLA compilation per model


def device() -> str:
    """``GPU`` when TensorFlow sees one, else ``CPU``."""
    with native_stderr():  # probing CUDA on a machine without it prints an error line
        return "GPU" if tf.config.list_physical_devices("GPU") else "CPU"


def build(spec: DetectorSpec, n_features: int, mixed_precision: bool = False) -> keras.Model:
    keras.utils.set_random_seed(spec.seed)
    dtype = "mixed_float16" if mixed_precision else "float32"
    inputs = keras.Input((spec.window, n_features), name="window")
    hidden = keras.layers.LSTM(spec.units, dtype=dtype, name="lstm")(inputs)
    # The output stays float32 under mixed precision (stable loss and errors).
    outputs = keras.layers.Dense(n_features, dtype="float32", name="next")(hidden)
    model = keras.Model(inputs, outputs, name="lstm_forecaster")
    model.compile(optimizer=keras.optimizers.Adam(spec.learning_rate), loss="mse")
    return model


@dataclass
class TrainResult:
    model: keras.Model
    device: str
    history: dict[str, list[float]] = field(default_factory=dict)  # per-epoch loss, val_loss
    best_epoch: int = 0


def train(spec: DetectorSpec, x_fit: np.ndarray, y_fit: np.ndarray, x_val: np.ndarray,
          y_val: np.ndarray) -> TrainResult:
    """Fit with early stopping on the validation windows (best weights restored)."""
    dev = device()
    model = build(spec, x_fit.shape[-1], mixed_precision=dev == "GPU")
    stop = keras.callbacks.EarlyStopping(patience=spec.patience, restore_best_weights=True)
    shown = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: log.info(
        "epoch %d/%d on %s: loss %.5f, val_loss %.5f", epoch + 1, spec.epochs, dev, logs["loss"], logs["val_loss"]))
    fit = model.fit(x_fit, y_fit, validation_data=(x_val, y_val), epochs=spec.epochs,
                    batch_size=spec.batch_size, shuffle=True, verbose=0, callbacks=[stop, shown])
    history = {k: [float(v) for v in vals] for k, vals in fit.history.items()}
    best = int(np.argmin(history["val_loss"])) + 1
    log.info("trained on %s: %d epochs, best %d", dev, len(history["loss"]), best)
    return TrainResult(model, dev, history, best)


class Predictor:
    """Fast batched inference: one XLA-compiled function with a fixed batch shape (the last
    batch is padded), measured ~2x faster than ``model.predict`` on CPU. The ``tensorflow``
    scorer (a GPU); on CPU the workers score with ``models.onnx_network`` (bench/scorers.py)."""

    def __init__(self, model: keras.Model):
        self.model = model
        self._fn = tf.function(lambda x: model(x, training=False), jit_compile=True, reduce_retracing=True)

    def __call__(self, windows: np.ndarray, batch: int = PREDICT_BATCH) -> np.ndarray:
        n = len(windows)
        out = np.empty((n, self.model.output_shape[-1]), dtype=np.float32)
        for start in range(0, n, batch):
            chunk = windows[start:start + batch].astype(np.float32, copy=False)
            if len(chunk) < batch:
                chunk = np.concatenate([chunk, np.zeros((batch - len(chunk), *chunk.shape[1:]), np.float32)])
            out[start:start + batch] = self._fn(tf.constant(chunk)).numpy()[: n - start]
        return out


def save(model: keras.Model, path: Path) -> None:
    model.save(path)


def load(path: Path) -> keras.Model:
    return keras.models.load_model(path, compile=False)
