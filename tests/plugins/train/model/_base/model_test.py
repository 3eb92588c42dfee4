"""ModelBase behaviour around saving and resuming, through the small ``tiny`` test plugin:
the optimizer state, a fresh process, and switching precision."""
from __future__ import annotations

import logging
from pathlib import Path

import keras
import numpy as np
import pytest

from tests.harness import to_numpy
from tests.plugins.train.model.plugin_helpers import installed_plugins, make_plugin


@pytest.fixture(autouse=True, name="plugins_installed")
def fixture_plugins_installed():
    with installed_plugins():
        yield


@pytest.fixture(name="config_file")
def fixture_config_file(tmp_path):
    return tmp_path / "train.ini"


def _write_ini(path, **sections) -> None:
    lines = []
    for section, values in sections.items():
        lines.append(f"[{section.replace('__', '.')}]")
        lines.extend(f"{key} = {value}" for key, value in values.items())
    path.write_text("\n".join(lines) + "\n")


def _model(model_dir, config_file, **arguments):
    """The tiny plugin in ``model_dir``, built with the options already in ``config_file``."""
    options = {}  # make_plugin writes its own ini: pass ours through
    import configparser
    parser = configparser.ConfigParser()
    parser.read(config_file)
    for section in parser.sections():
        options[section] = dict(parser[section])
    plugin = make_plugin("tiny", config_file.parent / "plugin", options, model_dir=model_dir,
                         **arguments)
    plugin.build()
    return plugin


def _batch(seed: int = 0):
    rng = np.random.default_rng(seed)
    faces = rng.random((2, 32, 32, 3), dtype="float32")
    masks = (rng.random((2, 32, 32, 3)) > 0.5).astype("float32")
    return faces, np.concatenate([faces, masks], axis=-1)


def _optimizer_values(model) -> tuple[int, list[np.ndarray]]:
    optimizer = model.model.optimizer
    return (int(to_numpy(optimizer.iterations)),
            [to_numpy(v) for v in optimizer.variables if "momentum" in v.path])


@pytest.mark.parametrize("save_optimizer", ["always", "never"])
def test_resume_restores_the_saved_optimizer(tmp_path, config_file, save_optimizer, caplog):
    _write_ini(config_file, global__optimizer={"save_optimizer": save_optimizer,
                                               "learning_rate": "5e-5"})
    model_dir = tmp_path / "model"
    model = _model(model_dir, config_file)
    faces, targets = _batch()
    for _ in range(2):
        model.model.train_on_batch([faces, faces], [targets, targets])
    steps, moments = _optimizer_values(model)
    assert steps == 2 and len(moments) == len(model.model.trainable_variables)
    model.io.save()
    _write_ini(config_file, global__optimizer={"save_optimizer": save_optimizer,
                                               "learning_rate": "2e-5"})
    with caplog.at_level(logging.INFO):
        resumed = _model(model_dir, config_file)
    resumed_steps, resumed_moments = _optimizer_values(resumed)
    # the learning rate is a changeable option: the new value wins over the saved one
    assert float(to_numpy(resumed.model.optimizer.learning_rate)) == pytest.approx(2e-5)
    if save_optimizer == "always":
        assert resumed_steps == 2 and "Restored the optimizer state" in caplog.text
        for before, after in zip(moments, resumed_moments, strict=True):
            np.testing.assert_array_equal(after, before)
    else:
        assert resumed_steps == 0 and "holds no optimizer state" in caplog.text
        assert all(not np.any(after) for after in resumed_moments)
    resumed.model.train_on_batch([faces, faces], [targets, targets])  # trains on


def test_changed_optimizer_starts_afresh(tmp_path, config_file, caplog):
    _write_ini(config_file, global__optimizer={"save_optimizer": "always"})
    model_dir = tmp_path / "model"
    model = _model(model_dir, config_file)
    faces, targets = _batch()
    model.model.train_on_batch([faces, faces], [targets, targets])
    model.io.save()
    _write_ini(config_file, global__optimizer={"save_optimizer": "always",
                                               "gradient_clipping": "autoclip"})
    with caplog.at_level(logging.WARNING):
        resumed = _model(model_dir, config_file)
    assert "does not match the configured optimizer" in caplog.text
    assert int(to_numpy(resumed.model.optimizer.iterations)) == 0


_FRESH_PROCESS = """
import sys, numpy as np, keras
from lib.model import layers  # registers our custom layers, as importing a plugin does
model = keras.saving.load_model(sys.argv[1], compile=False)
faces = np.load(sys.argv[2])
outputs = model.predict([faces, faces], verbose=0)
np.save(sys.argv[3], np.stack([np.asarray(o) for o in outputs]))
"""


def test_saved_model_predicts_the_same_in_a_fresh_process(tmp_path, config_file):
    import subprocess
    import sys
    model_dir = tmp_path / "model"
    model = _model(model_dir, config_file)
    faces, targets = _batch()
    model.model.train_on_batch([faces, faces], [targets, targets])
    model.io.save()
    expected = np.stack([to_numpy(o) for o in model.model.predict([faces, faces], verbose=0)])
    np.save(tmp_path / "faces.npy", faces)
    subprocess.run([sys.executable, "-c", _FRESH_PROCESS, str(model_dir / "tiny.keras"),
                    str(tmp_path / "faces.npy"), str(tmp_path / "out.npy")],
                   check=True, capture_output=True, cwd=Path(__file__).parents[5])
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), expected)


def test_switching_precision_keeps_the_weights(tmp_path, config_file):
    model_dir = tmp_path / "model"
    model = _model(model_dir, config_file)
    model.io.save()
    weights = [to_numpy(w) for w in model.model.weights]
    _write_ini(config_file, **{"global": {"mixed_precision": "True",
                                          "mixed_precision_dtype": "float16"}})
    mixed = _model(model_dir, config_file)
    assert mixed.model.get_layer("encoder").get_layer(
        "conv_16_0_conv2d").dtype_policy.name == "mixed_float16"
    assert mixed.model.get_layer("decoder_a").get_layer(
        "face_out_a_0").dtype_policy.name == "float32"
    assert isinstance(mixed.model.optimizer, keras.optimizers.LossScaleOptimizer)
    for before, after in zip(weights, mixed.model.weights, strict=True):
        np.testing.assert_array_equal(to_numpy(after), before)
    faces, targets = _batch()
    assert all(to_numpy(o).dtype == np.float32 for o in mixed.model([faces, faces]))
    losses = mixed.model.train_on_batch([faces, faces], [targets, targets])
    assert np.all(np.isfinite(losses))
    mixed.io.save()
    _write_ini(config_file, **{"global": {"mixed_precision": "False"}})
    full = _model(model_dir, config_file)
    assert full.model.get_layer("encoder").get_layer(
        "conv_16_0_conv2d").dtype_policy.name == "float32"
    for before, after in zip(mixed.model.weights, full.model.weights, strict=True):
        np.testing.assert_array_equal(to_numpy(after), to_numpy(before))


@pytest.mark.smoke
def test_backend_default_jit_compile_trains(tmp_path, config_file, monkeypatch):
    """The model is compiled with Settings.jit_compile (the tests otherwise force "auto"): with
    the backend's default (torch.compile on PyTorch, XLA on JAX) two steps train and change the
    weights."""
    from plugins.train.trainer.original import Trainer

    monkeypatch.delenv("FACESWAP_JIT_COMPILE", raising=False)
    _write_ini(config_file, global__loss={"learn_mask": False})
    plugin = _model(tmp_path / "model", config_file)
    expected = {"tensorflow": "auto", "jax": True, "torch": True}[keras.backend.backend()]
    # Keras resolves "auto" when it compiles: XLA only on TensorFlow with a GPU
    assert plugin.model.jit_compile == (False if expected == "auto" else expected)
    before = [to_numpy(weight).copy() for weight in plugin.model.trainable_weights]
    faces, targets = _batch()
    trainer = Trainer(plugin, 1)
    losses = [trainer.train_batch(faces[:, None], [targets[:, None]]) for _ in range(2)]
    assert np.all(np.isfinite(losses)) and np.asarray(losses).shape == (2, 2)
    after = [to_numpy(weight) for weight in plugin.model.trainable_weights]
    assert any(not np.allclose(old, new) for old, new in zip(before, after, strict=True))
