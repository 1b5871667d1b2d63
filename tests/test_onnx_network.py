"""The ONNX scorer against TensorFlow: the same forward pass, the same scores, a worker without
TensorFlow, and a clear error for a network the graph does not reproduce."""

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from models import network, onnx_network
from models.detector import Detector, ModelError
from models.shipped import FILES, ModelRef, ShippedModel
from tests.test_model import SPEC, sine_rows

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector.fit({"a1": sine_rows(300, 1), "a2": sine_rows(300, 2)}, SPEC)


@pytest.fixture(scope="module")
def saved(detector, tmp_path_factory) -> Path:
    return detector.save(tmp_path_factory.mktemp("detector"))


def test_the_graph_gives_keras_forward_pass_on_the_same_windows(detector, saved):
    rng = np.random.default_rng(3)
    windows = rng.normal(0, 1.5, (1000, SPEC.window, len(SPEC.columns))).astype(np.float32)
    expected = network.Predictor(detector.network())(windows)
    from_file = onnx_network.OnnxPredictor((saved / "model.onnx").read_bytes())(windows)
    derived = onnx_network.OnnxPredictor(onnx_network.to_onnx(onnx_network.weights_from_archive(
        saved / "model.keras")))(windows)
    assert from_file.shape == expected.shape == (1000, len(SPEC.columns))
    assert np.abs(from_file - expected).max() < onnx_network.TOLERANCE
    assert np.array_equal(from_file, derived)  # the archive's weights are the model's weights
    # batches of any size give the same rows (the last one is short)
    assert np.abs(onnx_network.OnnxPredictor(saved.joinpath("model.onnx").read_bytes())(windows, batch=7)
                  - from_file).max() < 1e-6


def test_scores_are_equal_within_tolerance_with_either_scorer(saved):
    rows = sine_rows(300, 1, spike_at=200)
    by_onnx = Detector.load(saved).score("a1", rows)
    by_tf = Detector.load(saved).with_scorer("tensorflow").score("a1", rows)
    scored = by_tf["score"].notna()
    assert scored.sum() > 250 and by_onnx["score"].notna().equals(scored)
    # scores are squared errors over the training spread: the forward pass's tolerance, relative
    assert np.allclose(by_onnx["score"][scored], by_tf["score"][scored], rtol=1e-3, atol=1e-4)
    assert by_onnx["is_anomaly"].equals(by_tf["is_anomaly"])


def test_a_version_saved_without_the_graph_gets_it_derived_when_shipped(detector, saved, tmp_path):
    old = tmp_path / "old"
    old.mkdir()
    for name in ("detector.json", "model.keras"):  # what a version registered before the graph holds
        (old / name).write_bytes((saved / name).read_bytes())
    shipped = ShippedModel.of(ModelRef("file:x", "m", 1), Detector.load(old))
    assert set(shipped.files) == set(FILES)
    assert shipped.files["model.onnx"] == (saved / "model.onnx").read_bytes()


def test_a_worker_with_the_onnx_scorer_never_imports_tensorflow(detector, saved, tmp_path):
    shipped = ShippedModel.of(ModelRef("file:x", "m", 1), Detector.load(saved))
    (tmp_path / "files.json").write_text(json.dumps({k: v.hex() for k, v in shipped.files.items()}))
    script = f"""
import json, sys
from pathlib import Path
from models.shipped import ModelRef, ShippedModel, detector_for
from tests.test_model import sine_rows
files = {{k: bytes.fromhex(v) for k, v in json.loads(Path({str(tmp_path / 'files.json')!r}).read_text()).items()}}
detector = detector_for(ShippedModel(ModelRef("file:x", "m", 1), files))
scored = detector.score("a1", sine_rows(300, 1))
print(json.dumps({{"scored": int(scored["score"].notna().sum()),
                  "tensorflow": "tensorflow" in sys.modules or "keras" in sys.modules}}))
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"scored": 300 - SPEC.window, "tensorflow": False}


def test_an_unknown_scorer_is_refused(saved):
    with pytest.raises(ValueError, match="scorer must be one of onnx, tensorflow"):
        Detector.load(saved).with_scorer("torch")


def test_a_network_the_graph_does_not_reproduce_is_refused_by_name(tmp_path):
    import keras

    inputs = keras.Input((5, 3))
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.GRU(4)(inputs)))
    with pytest.raises(onnx_network.ExportError, match="InputLayer, LSTM, Dense; the model has .*GRU"):
        onnx_network.weights_from_model(model)
    model.save(tmp_path / "gru.keras")
    with pytest.raises(onnx_network.ExportError, match="GRU"):
        onnx_network.weights_from_archive(tmp_path / "gru.keras")


def test_a_damaged_weights_file_is_a_model_error(saved, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "detector.json").write_bytes((saved / "detector.json").read_bytes())
    with zipfile.ZipFile(saved / "model.keras") as source, zipfile.ZipFile(broken / "model.keras", "w") as target:
        target.writestr("config.json", source.read("config.json"))  # no weights inside
    with pytest.raises(ModelError, match="cannot derive the ONNX graph .*model.keras"):
        Detector.load(broken).onnx_graph()
