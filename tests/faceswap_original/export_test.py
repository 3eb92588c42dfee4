"""The ``export`` command: a .dfm file used as DeepFaceLive uses it gives what ``convert`` gives on
the same crop; bad input exits 1 with a message and writes nothing."""
from __future__ import annotations

import cv2
import keras
import numpy as np
import pytest

from faceswap_original.cli import main
from faceswap_original.export import dflive_settings
from tests.conftest import BACKEND
from tests.plugins.train.model.plugin_helpers import LEARN_MASK, installed_plugins, make_plugin

ort = pytest.importorskip("onnxruntime", reason="the 'onnx' extra is not installed")
pytest.importorskip("tf2onnx", reason="the 'onnx' extra is not installed")


@pytest.fixture(autouse=True, name="plugins_installed")
def fixture_plugins_installed():
    with installed_plugins():
        yield


@pytest.fixture(name="tiny_model")
def fixture_tiny_model(tmp_path):
    """A saved (untrained) tiny model with a learned mask: (model folder, config file)."""
    plugin = make_plugin("tiny", tmp_path, LEARN_MASK)
    plugin.build()
    plugin.io.save(is_exit=True)
    del plugin
    keras.backend.clear_session(free_memory=True)
    return tmp_path / "model", tmp_path / "train.ini"


@pytest.mark.skipif(BACKEND != "tensorflow", reason="convert and export run in this process")
def test_dfm_as_deepfacelive_runs_it_matches_convert(tiny_model, tmp_path, capsys):
    from faceswap_original.convert import swap_faces
    model_dir, config = tiny_model
    output = tmp_path / "tiny.dfm"
    assert main(["export", "-m", str(model_dir), "-o", str(output), "--format", "dfm",
                 "-C", str(config)]) == 0
    printed = capsys.readouterr().out
    assert "face coverage 2" in printed and "y offset -0.09" in printed

    rng = np.random.default_rng(3)
    images = [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(3)]
    plugin = make_plugin("tiny", tmp_path, LEARN_MASK, predict=True, model_dir=model_dir)
    plugin.build()
    converted = swap_faces(plugin, images)

    # DeepFaceLive's DFMModel: the aligned face resized (bilinear) to the model's resolution,
    # float32 / 255, fed as in_face:0 (and morph_value:0); three outputs taken by position.
    session = ort.InferenceSession(str(output), providers=["CPUExecutionProvider"])
    height, width = session.get_inputs()[0].shape[1:3]
    for image, result in zip(images, converted, strict=True):
        feed = cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
        feed = (feed.astype(np.float32) / 255.0)[None]
        _, celeb_face, celeb_mask = session.run(
            None, {"in_face:0": feed, "morph_value:0": np.float32([1.0])})
        # convert's blend of the swapped face into the crop, through the learned mask
        mask = np.clip(celeb_mask[0], 0.0, 1.0)
        blended = np.clip(celeb_face[0] * 255.0, 0, 255) * mask + image * (1.0 - mask)
        expected = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
        assert np.abs(expected.astype(int) - result.astype(int)).max() <= 1


@pytest.mark.skipif(BACKEND != "tensorflow", reason="converts to ONNX in this process")
def test_convert_backend_onnx_matches_keras(tiny_model, tmp_path):
    """``convert --backend onnx`` writes the images ``convert`` writes with Keras (to 1 level
    of 255), for a BGR model through the command and for an RGB one through swap_faces."""
    from faceswap_original.convert import swap_faces
    from faceswap_original.export import plugin_swap_graph
    from plugins.train.model._base.export import OnnxSwap
    model_dir, config = tiny_model
    faces = tmp_path / "faces"
    faces.mkdir()
    rng = np.random.default_rng(5)
    images = [rng.integers(0, 256, (40, 40, 3), dtype=np.uint8) for _ in range(3)]
    for index, image in enumerate(images):
        cv2.imwrite(str(faces / f"{index}.png"), image)
    for backend in ("keras", "onnx"):
        assert main(["convert", "-i", str(faces), "-o", str(tmp_path / backend), "-m",
                     str(model_dir), "-C", str(config), "--backend", backend]) == 0
    for index in range(len(images)):
        keras_out = cv2.imread(str(tmp_path / "keras" / f"{index}.png")).astype(int)
        onnx_out = cv2.imread(str(tmp_path / "onnx" / f"{index}.png")).astype(int)
        assert np.abs(keras_out - onnx_out).max() <= 1

    plugin = make_plugin("tiny", tmp_path, LEARN_MASK, predict=True, model_dir=model_dir)
    plugin.build()
    plugin.color_order = "rgb"  # as a Phaze-A model with an RGB encoder
    expected = swap_faces(plugin, images)
    actual = swap_faces(plugin, images, predict=OnnxSwap(plugin_swap_graph(plugin)))
    for exp, act in zip(expected, actual, strict=True):
        assert np.abs(exp.astype(int) - act.astype(int)).max() <= 1


def test_folder_without_a_model(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["export", "-m", str(tmp_path / "empty"), "-o", str(tmp_path / "x.onnx")]) == 1
    assert "state file" in capsys.readouterr().err
    assert main(["export", "-m", str(tmp_path / "missing"), "-o", str(tmp_path / "x.onnx")]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["empty"]


def test_state_without_model_file(tiny_model, tmp_path, capsys):
    model_dir, config = tiny_model
    (model_dir / "tiny.keras").unlink()
    assert main(["export", "-m", str(model_dir), "-o", str(tmp_path / "x.onnx"),
                 "-C", str(config)]) == 1
    assert "No model file" in capsys.readouterr().err
    assert not (tmp_path / "x.onnx").exists()


@pytest.mark.skipif(BACKEND != "tensorflow", reason="exports in this process")
def test_unwritable_output_and_bad_options(tiny_model, tmp_path, capsys):
    model_dir, config = tiny_model
    blocker = tmp_path / "a_file"
    blocker.write_text("x", encoding="utf-8")
    before = sorted(path.name for path in tmp_path.iterdir())
    assert main(["export", "-m", str(model_dir), "-o", str(blocker / "x.onnx"),
                 "-C", str(config)]) == 1
    assert "is not a folder" in capsys.readouterr().err
    assert main(["export", "-m", str(model_dir), "-o", str(tmp_path / "sm"), "--format",
                 "saved_model", "--half", "-C", str(config)]) == 1
    assert "--half" in capsys.readouterr().err
    assert main(["export", "-m", str(model_dir), "-o", str(tmp_path / "x"), "--format",
                 "tflite"]) == 1
    assert sorted(path.name for path in tmp_path.iterdir()) == before


@pytest.mark.parametrize(("centering", "coverage", "offset", "expected"), [
    ("face", 100.0, 0, {"face_coverage": 2.0, "y_offset": -0.09}),
    ("legacy", 62.5, 0, {"face_coverage": 1.0, "y_offset": 0.08}),
    ("head", 100.0, 0, {"face_coverage": 2.667, "y_offset": -0.2}),
    ("face", 87.5, 10, {"face_coverage": 1.75, "y_offset": -0.19}),
])
def test_dflive_settings(centering, coverage, offset, expected):
    """The worked examples of the design notes: side = coverage / (1 - ratio), y offset
    0.08 + shift - vertical_offset / 100."""
    settings = dflive_settings(centering, coverage, offset)
    for key, value in expected.items():
        assert settings[key] == pytest.approx(value, abs=1e-3)


@pytest.mark.slow
@pytest.mark.skipif(BACKEND == "tensorflow", reason="runs under the JAX or PyTorch backend")
def test_export_from_another_backend_runs_on_tensorflow(tmp_path):
    """Under JAX or PyTorch the command exports in a TensorFlow child process (a shipped plugin:
    the child does not see the test plugins)."""
    options = {"model.original": {"lowmem": True}}
    plugin = make_plugin("original", tmp_path, options)
    plugin.build()
    plugin.io.save(is_exit=True)
    output = tmp_path / "original.onnx"
    assert main(["export", "-m", str(tmp_path / "model"), "-o", str(output),
                 "-C", str(tmp_path / "train.ini")]) == 0
    session = ort.InferenceSession(str(output), providers=["CPUExecutionProvider"])
    faces = np.random.default_rng(0).random((2, 64, 64, 3), dtype="float32")
    expected = keras.ops.convert_to_numpy(plugin.model.predict_on_batch([faces, faces])[1])
    np.testing.assert_allclose(session.run(None, {"face_in": faces})[0], expected, atol=1e-4,
                               rtol=0)
