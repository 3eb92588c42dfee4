"""Tests for the model file's IO: files we save open in Faceswap 3.

Faceswap 3 (Keras 3.12) looks its classes up by their bare class name and refuses the config
keys that newer Keras releases added. The files saved here are checked against both: loaded with
a class lookup that knows only the bare names, their configs checked against the constructor
arguments of Keras 3.12 (the table below, taken from Keras 3.12.0's signatures), and, where a
Keras 3.12 package is at hand (``FACESWAP_KERAS_3_12=<folder holding keras/>``), loaded by that
Keras in a child process, predictions compared.
"""
from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest

from plugins.train.model._base.io import faceswap3_config
from tests.harness import to_numpy
from tests.plugins.train.model.plugin_helpers import (
    installed_plugins,
    make_plugin,
    random_faces,
)

# Keras 3.15's constructor arguments that Keras 3.12.0 does not have (found by comparing the
# signatures of every class in keras.layers / initializers / optimizers / ... of both releases).
_NOT_IN_KERAS_3_12 = {
    "input_axes": "VarianceScaling initializers",
    "output_axes": "VarianceScaling initializers",
    "quantization_config": "Dense, EinsumDense, Embedding",
    "renorm": "BatchNormalization",
    "renorm_clipping": "BatchNormalization",
    "renorm_momentum": "BatchNormalization",
    "sliding_window": "MultiHeadAttention",
    "use_gate": "MultiHeadAttention",
}
_ROOT = Path(__file__).resolve().parents[5]


def _entries(node):
    """Every serialized object (a dict with ``class_name`` and ``config``) in a config."""
    if isinstance(node, dict):
        if "class_name" in node and isinstance(node.get("config"), dict):
            yield node
        for value in node.values():
            yield from _entries(value)
    elif isinstance(node, list):
        for value in node:
            yield from _entries(value)


def _read_config(path: Path) -> dict:
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("config.json"))


def _bare_name_objects() -> dict[str, type]:
    """The custom objects as Faceswap 3 registers them: bare class names only."""
    return {name: obj for name, obj in keras.saving.get_custom_objects().items()
            if ">" not in name}


def _load_as_faceswap3(path: Path, monkeypatch: pytest.MonkeyPatch) -> keras.Model:
    """Load with only the bare class names resolvable (the package spelling removed from the
    global registry for the duration), uncompiled, as Faceswap 3 loads."""
    objects = keras.saving.get_custom_objects()
    for name in [name for name in objects if ">" in name]:
        monkeypatch.delitem(objects, name)
    try:
        return keras.saving.load_model(path, compile=False, custom_objects=_bare_name_objects())
    finally:
        monkeypatch.undo()


def _check_faceswap3_config(path: Path) -> None:
    config = _read_config(path)
    custom = [entry for entry in _entries(config)
              if entry.get("module") and not str(entry["module"]).startswith("keras")]
    assert custom, "the check needs a model with custom classes"
    for entry in custom:
        assert entry["registered_name"] == entry["class_name"], entry["registered_name"]
        assert entry["module"].startswith("lib.model"), entry["module"]
    for entry in _entries(config):
        if not str(entry.get("module") or "").startswith("keras"):
            continue
        refused = sorted(set(entry["config"]) & set(_NOT_IN_KERAS_3_12))
        assert not refused, f"{entry['class_name']} holds {refused}, which Keras 3.12 refuses"


def _plugin_params():
    fast = ("tiny", "sub_original", "four_out")
    slow = ("original", "dfaker", "dfl_h128", "dfl_sae", "dlight", "iae", "lightweight",
            "phaze_a", "realface", "unbalanced", "villain")
    return ([pytest.param(name) for name in fast]
            + [pytest.param(name, marks=pytest.mark.slow) for name in slow])


@pytest.fixture(name="plugins_installed")
def fixture_plugins_installed():
    with installed_plugins():
        yield


def _saved_plugin(name: str, tmp_path: Path, options: dict | None = None):
    """A plugin built, compiled and saved through its IO (with its optimizer state)."""
    options = {"global.optimizer": {"save_optimizer": "always"}, **(options or {})}
    plugin = make_plugin(name, tmp_path, options)
    plugin.build()
    plugin.state.increment_iterations()
    plugin.io.save(is_exit=True)
    return plugin


@pytest.mark.usefixtures("plugins_installed")
@pytest.mark.parametrize("name", _plugin_params())
def test_saved_plugin_opens_in_faceswap3(name, tmp_path, monkeypatch):
    plugin = _saved_plugin(name, tmp_path)
    path = Path(plugin.io.filename)
    _check_faceswap3_config(path)
    size = plugin.model.inputs[0].shape[1]
    faces = random_faces(size, seed=3, batch=2)
    expected = [to_numpy(out) for out in plugin.model([faces, faces], training=False)]
    loaded = _load_as_faceswap3(path, monkeypatch)
    actual = [to_numpy(out) for out in loaded([faces, faces], training=False)]
    assert len(actual) == len(expected)
    for exp, act in zip(expected, actual, strict=True):
        np.testing.assert_allclose(act, exp, rtol=1e-6, atol=1e-6)
    _check_with_keras_3_12(path, faces, expected, tmp_path)


def test_faceswap3_config_drops_only_default_values():
    config = {"module": "keras.layers", "class_name": "Dense", "config": {
        "units": 4, "quantization_config": None,
        "kernel_initializer": {"module": "keras.initializers", "class_name": "HeUniform",
                               "config": {"seed": 1, "input_axes": None, "output_axes": None}},
        "bias_initializer": {"module": "keras.initializers", "class_name": "VarianceScaling",
                             "config": {"input_axes": [0], "output_axes": None}}}}
    custom = {"module": "lib.model.layers", "class_name": "Dense",
              "config": {"quantization_config": None}}
    document = {"layers": [config, custom]}
    assert faceswap3_config(document) is True
    assert config["config"] == {
        "units": 4,
        "kernel_initializer": {"module": "keras.initializers", "class_name": "HeUniform",
                               "config": {"seed": 1}},
        # a value other than the default is kept: the model really needs it
        "bias_initializer": {"module": "keras.initializers", "class_name": "VarianceScaling",
                             "config": {"input_axes": [0]}}}
    assert custom["config"] == {"quantization_config": None}  # not a Keras built-in
    assert faceswap3_config(document) is False


def test_built_in_layers_with_newer_keys_round_trip(tmp_path, monkeypatch):
    """BatchNormalization, Dense and a VarianceScaling initializer (the classes whose Keras 3.15
    config holds keys Keras 3.12 refuses) in a model saved through the IO rewrite."""
    from plugins.train.model._base import io as model_io

    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(6, kernel_initializer="he_uniform", name="dense")(inputs)
    outputs = keras.layers.BatchNormalization(name="norm")(hidden)
    model = keras.Model(inputs, outputs)
    batch = np.random.default_rng(0).random((3, 4), dtype="float32")
    model.compile(optimizer="sgd", loss="mse")
    model.fit(batch, np.ones((3, 6), "float32"), verbose=0)  # moving statistics change
    path = tmp_path / "model.keras"
    model.save(path)
    assert any(set(entry["config"]) & set(_NOT_IN_KERAS_3_12)
               for entry in _entries(_read_config(path)))
    model_io.rewrite_for_faceswap3(path)
    _check_faceswap3_config_keys(path)
    loaded = _load_as_faceswap3(path, monkeypatch)
    np.testing.assert_allclose(to_numpy(loaded(batch)), to_numpy(model(batch)), rtol=1e-6,
                               atol=1e-6)
    _check_with_keras_3_12(path, batch, [to_numpy(model(batch))], tmp_path)


def _check_faceswap3_config_keys(path: Path) -> None:
    for entry in _entries(_read_config(path)):
        params = set(_NOT_IN_KERAS_3_12) & set(entry["config"])
        assert not params, (entry["class_name"], params)
    # every remaining key is one the running Keras's class accepts
    for entry in _entries(_read_config(path)):
        if entry.get("module") == "keras.layers":
            cls = getattr(keras.layers, entry["class_name"])
            accepted = set(inspect.signature(cls.__init__).parameters) | {
                "name", "trainable", "dtype"}
            assert set(entry["config"]) <= accepted, entry["class_name"]


_KERAS_3_12_SCRIPT = """
import sys
sys.path.insert(0, sys.argv[1])
import numpy as np
import keras
assert keras.__version__.startswith("3.12"), keras.__version__
import lib.model.layers, lib.model.normalization, lib.model.initializers  # noqa: E401
objects = keras.saving.get_custom_objects()
for name in [name for name in objects if ">" in name]:
    objects.pop(name)  # Faceswap 3 registers bare names only
model = keras.saving.load_model(sys.argv[2], compile=False)
data = np.load(sys.argv[3])
inputs = [data["inputs"]] * len(model.inputs) if len(model.inputs) > 1 else data["inputs"]
outputs = model(inputs, training=False)
outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
np.savez(sys.argv[4], *[keras.ops.convert_to_numpy(out) for out in outputs])
"""


def _check_with_keras_3_12(path: Path, inputs: np.ndarray, expected: list[np.ndarray],
                           tmp_path: Path) -> None:
    """Load ``path`` with a real Keras 3.12 in a child process and compare its predictions,
    when ``FACESWAP_KERAS_3_12`` names a folder holding Keras 3.12's ``keras`` package (an
    unpacked ``keras-3.12.0`` wheel); otherwise nothing to do (the static checks above ran)."""
    folder = os.environ.get("FACESWAP_KERAS_3_12")
    if not folder:
        return
    data = tmp_path / "inputs.npz"
    np.savez(data, inputs=inputs)
    result = tmp_path / "keras312_outputs.npz"
    env = {**os.environ, "PYTHONPATH": str(_ROOT), "KERAS_BACKEND": keras.backend.backend()}
    run = subprocess.run([sys.executable, "-c", _KERAS_3_12_SCRIPT, folder, str(path), str(data),
                          str(result)], capture_output=True, text=True, env=env, timeout=900,
                         check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    with np.load(result) as outputs:
        actual = [outputs[f"arr_{idx}"] for idx in range(len(outputs.files))]
    assert len(actual) == len(expected)
    for exp, act in zip(expected, actual, strict=True):
        np.testing.assert_allclose(act, exp, rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(not os.environ.get("FACESWAP_KERAS_3_12"),
                    reason="FACESWAP_KERAS_3_12 (a folder holding Keras 3.12's keras package) "
                           "is not set: the checks against a real Keras 3.12 are skipped; the "
                           "static checks of the other tests still run")
def test_keras_3_12_is_the_one_checked_against():
    run = subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
                          "import keras; print(keras.__version__)",
                          os.environ["FACESWAP_KERAS_3_12"]], capture_output=True, text=True,
                         timeout=300, check=False)
    assert run.stdout.strip().startswith("3.12"), run.stdout + run.stderr[-2000:]


# ------------------------------------------------------------------------------------------------
# A model folder written by Faceswap 3
# ------------------------------------------------------------------------------------------------
_FS3_STEPS = 2


def _as_faceswap3_archive(source: Path, target: Path) -> None:
    """Rewrite a ``.keras`` archive as Keras 3.12 under Faceswap 3 writes it: bare class names
    (what Keras writes for classes registered as Faceswap does), none of the configuration keys
    Keras 3.12 does not know, ``keras_version`` 3.12.0, and no member but Keras's own."""
    def strip(node):
        if isinstance(node, dict):
            if str(node.get("module") or "").startswith("keras") and isinstance(
                    node.get("config"), dict):
                for key in _NOT_IN_KERAS_3_12:
                    node["config"].pop(key, None)
            if node.get("registered_name") and ">" in node["registered_name"]:
                node["registered_name"] = node["registered_name"].split(">", 1)[1]
            for value in node.values():
                strip(value)
        elif isinstance(node, list):
            for value in node:
                strip(value)

    with zipfile.ZipFile(source) as archive, zipfile.ZipFile(target, "w") as out:
        names = archive.namelist()
        assert set(names) == {"metadata.json", "config.json", "model.weights.h5"}, names
        config = json.loads(archive.read("config.json"))
        strip(config)
        metadata = json.loads(archive.read("metadata.json"))
        metadata["keras_version"] = "3.12.0"
        out.writestr("metadata.json", json.dumps(metadata))
        out.writestr("config.json", json.dumps(config))
        out.writestr("model.weights.h5", archive.read("model.weights.h5"))


def _faceswap3_state(name: str, mixed_precision_layers: list[str]) -> dict:
    """A state file as Faceswap 3 writes it (``State.save`` @FS3.0): one session of
    :data:`_FS3_STEPS` iterations, one lowest average loss, the model's fixed options."""
    return {"name": name,
            "sessions": {"1": {"timestamp": 1766300000.0, "no_logs": False,
                               "loss_names": ["total", "face_a", "face_b"], "batchsize": 2,
                               "iterations": _FS3_STEPS,
                               "config": {"learning_rate": 5e-05, "epsilon_exponent": -7,
                                          "save_optimizer": "always"}}},
            "lowest_avg_loss": 0.0875,
            "iterations": _FS3_STEPS,
            "mixed_precision_layers": mixed_precision_layers,
            "lr_finder": -1.0,
            "config": {"centering": "head", "coverage": 87.5, "vertical_offset": 5,
                       "optimizer": "adam", "learning_rate": 5e-05, "epsilon_exponent": -7,
                       "mixed_precision": False, "learn_mask": False, "mask_type": "extended",
                       "mask_loss_function": "mse", "loss_function": "ssim"}}


def _make_faceswap3_folder(name: str, tmp_path: Path) -> tuple[Path, keras.Model, np.ndarray]:
    """A model folder as Faceswap 3 leaves it after training ``name`` for :data:`_FS3_STEPS`
    steps with Adam and ``save_optimizer = always``: ``<name>.keras`` (optimizer inside) and
    ``<name>_state.json``. Returns the folder, the trained network and the optimizer's
    first-moment slot of the first trainable variable."""
    from tests.plugins.train.model.plugin_helpers import build_network

    plugin = make_plugin(name, tmp_path / "builder")
    network = build_network(plugin)
    layers = [layer.name for sub in (network, *[lay for lay in network.layers
                                                if isinstance(lay, keras.Model)])
              for layer in sub.layers if not isinstance(layer, keras.layers.InputLayer)]
    network.compile(optimizer=keras.optimizers.Adam(learning_rate=5e-5, epsilon=1e-7),
                    loss="mae")
    rng = np.random.default_rng(7)
    size = network.inputs[0].shape[1]
    for _ in range(_FS3_STEPS):
        faces = [rng.random((2, size, size, 3), dtype="float32") for _ in range(2)]
        targets = [rng.random((2, *out.shape[1:]), dtype="float32") for out in network.outputs]
        network.train_on_batch(faces, targets)
    folder = tmp_path / "faceswap3_model"
    folder.mkdir()
    plain = tmp_path / "plain.keras"
    network.save(plain)
    _as_faceswap3_archive(plain, folder / f"{name}.keras")
    (folder / f"{name}_state.json").write_text(
        json.dumps(_faceswap3_state(name, layers), indent=2), encoding="utf-8")
    slot = to_numpy(network.optimizer._momentums[0])  # pylint: disable=protected-access
    return folder, network, slot


def _faceswap3_params():
    return [pytest.param("sub_original"),
            pytest.param("original", marks=pytest.mark.slow),
            # shared sub-models: one encoder, one inter_both and one decoder for both sides
            pytest.param("iae", marks=pytest.mark.slow)]


@pytest.mark.usefixtures("plugins_installed")
@pytest.mark.parametrize("name", _faceswap3_params())
def test_faceswap3_folder_resumes_and_converts(name, tmp_path):
    from plugins.train import train_config as cfg
    from plugins.train.model._base.settings import Loss
    from plugins.train.model._base.state import EMBEDDED_STATE
    from plugins.train.trainer.original import Trainer

    folder, network, slot = _make_faceswap3_folder(name, tmp_path)
    options = {"global.optimizer": {"save_optimizer": "always"},
               "global": {"coverage": 100.0, "centering": "face"}}
    size = network.inputs[0].shape[1]
    faces = random_faces(size, seed=11, batch=2)
    expected = [to_numpy(out) for out in network([faces, faces], training=False)]

    plugin = make_plugin(name, tmp_path / "resume", options, model_dir=folder)
    # the state file's fixed options win over the configuration file
    assert cfg.coverage() == 87.5 and cfg.centering() == "head"
    plugin.build()
    assert plugin.iterations == _FS3_STEPS and plugin.state.session_id == 2
    assert plugin.state.lowest_avg_loss == pytest.approx(0.0875)
    optimizer = plugin.model.optimizer
    assert int(to_numpy(optimizer.iterations)) == _FS3_STEPS  # resumed with the optimizer
    np.testing.assert_allclose(to_numpy(optimizer._momentums[0]),  # pylint: disable=W0212
                               slot, rtol=1e-6, atol=1e-9)
    for exp, act in zip(expected, plugin.model([faces, faces], training=False), strict=True):
        np.testing.assert_allclose(to_numpy(act), exp, rtol=1e-5, atol=1e-6)

    rng = np.random.default_rng(1)
    extra = sum(channel != -1 for channel in Loss.mask_channels())  # mask channels of y_true
    targets = [rng.random((2, 1, *out.shape[1:3], 3 + extra), dtype="float32")
               for out in plugin.model.outputs[:len(plugin.model.outputs) // 2]]
    losses = Trainer(plugin, batch_size=1).train_batch([faces[:1], faces[1:]], targets)
    assert np.all(np.isfinite(losses))
    assert int(to_numpy(optimizer.iterations)) == _FS3_STEPS + 1
    plugin.state.increment_iterations()
    plugin.io.save(is_exit=True)
    saved = json.loads((folder / f"{name}_state.json").read_text(encoding="utf-8"))
    assert saved["iterations"] == _FS3_STEPS + 1 and set(saved["sessions"]) == {"1", "2"}
    assert saved["config"]["coverage"] == 87.5 and saved["config"]["loss_function"] == "ssim"
    with zipfile.ZipFile(folder / f"{name}.keras") as archive:
        assert EMBEDDED_STATE in archive.namelist()
    del plugin

    # convert (A -> B): the swap model gives what Faceswap 3's network gives for side B
    _convert_check(name, tmp_path, options, network, faces, expected)


def _convert_check(name, tmp_path, options, network, faces, expected) -> None:
    """Convert from an untouched Faceswap 3 folder: A faces through the B side."""
    folder = tmp_path / "fs3_convert"
    folder.mkdir()
    plain = tmp_path / "plain_convert.keras"
    network.save(plain)
    _as_faceswap3_archive(plain, folder / f"{name}.keras")
    (folder / f"{name}_state.json").write_text(json.dumps(_faceswap3_state(name, [])),
                                               encoding="utf-8")
    swap = make_plugin(name, tmp_path / "convert", options, predict=True, model_dir=folder)
    swap.build()
    outputs = keras.tree.flatten(swap.model(faces, training=False))
    half = len(expected) // 2
    for exp, act in zip(expected[half:], outputs, strict=True):
        np.testing.assert_allclose(to_numpy(act), exp, rtol=1e-5, atol=1e-6)
    # the folder converted from is left as Faceswap 3 wrote it
    with zipfile.ZipFile(folder / f"{name}.keras") as archive:
        assert sorted(archive.namelist()) == ["config.json", "metadata.json", "model.weights.h5"]
