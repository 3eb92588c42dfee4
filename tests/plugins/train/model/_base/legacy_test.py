"""Tests for the Faceswap 2 model upgrade (plugins.train.model._base.legacy).

The Faceswap 2 folders are written with Keras 2 (``tf-keras``, the ``test`` extra) by
``fs2_models``; after the upgrade, the Keras 3 model must give Keras 2's predictions on the same
input, the original folder must be kept byte for byte as ``<model_dir>_fs2_backup``, and a folder
that cannot be upgraded must be left untouched.
"""
from __future__ import annotations

import copy
import errno
import json
import os
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest

from lib.errors import FaceswapError, ModelFileError
from lib.model.save_error import SaveError
from plugins.train.model._base.legacy import BACKUP_SUFFIX, Legacy, rewrite_config
from tests.harness import to_numpy
from tests.plugins.train.model._base import fs2_models

_SIZE = 32


@pytest.fixture(name="keras2")
def fixture_keras2():
    return pytest.importorskip(
        "tf_keras", reason="tf-keras (Keras 2, in the 'test' extra) is not installed: the "
                           "Faceswap 2 model files cannot be written")


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def _faces(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((2, _SIZE, _SIZE, 3), dtype="float32")


def _keras2_outputs(model, faces: np.ndarray) -> list[np.ndarray]:
    import tensorflow as tf
    return [np.asarray(out, dtype="float32") for out in tf.nest.flatten(model([faces, faces]))]


_CASES = {
    "original": ("original", lambda: fs2_models.original(learn_mask=False), False, 1e-6),
    "original-learn_mask": ("original", lambda: fs2_models.original(learn_mask=True), True,
                            1e-6),
    # shared sub-models called twice and three times
    "iae": ("iae", fs2_models.iae, False, 1e-6),
    # TFOpLambda scalar arithmetic and mixed precision (float16 rounding: a looser tolerance)
    "phaze_a": ("phaze_a", fs2_models.phaze_a, False, 2e-3),
}


_BUILT: dict[str, tuple[Path, list[np.ndarray]]] = {}


@pytest.fixture(name="fs2_store", scope="module")
def fixture_fs2_store(tmp_path_factory):
    """Where the Faceswap 2 folders are built once per module (Keras 2 builds are slow)."""
    _BUILT.clear()
    yield tmp_path_factory.mktemp("fs2_models")
    _BUILT.clear()


def _fs2_folder(case: str, tmp_path: Path, store: Path
                ) -> tuple[str, Path, list[np.ndarray], np.ndarray]:
    """A fresh copy of the Faceswap 2 folder of ``case`` at ``tmp_path / "fs2_model"`` and
    Keras 2's outputs for :func:`_faces`. Only the Original is trained (one step, so its file
    holds the optimizer state); the others are saved compiled, untrained."""
    name, builder, learn_mask, _ = _CASES[case]
    faces = _faces()
    if case not in _BUILT:
        model = builder()
        source = store / case
        fs2_models.write_fs2_folder(model, source, name, learn_mask=learn_mask,
                                    train_steps=1 if case == "original" else 0)
        _BUILT[case] = (source, _keras2_outputs(model, faces))
    source, expected = _BUILT[case]
    folder = tmp_path / "fs2_model"
    shutil.copytree(source, folder)
    return name, folder, expected, faces


@pytest.mark.usefixtures("keras2")
@pytest.mark.parametrize("case", list(_CASES))
def test_upgrade_gives_keras2_predictions_and_keeps_the_original(case, tmp_path, fs2_store):
    name, folder, expected, faces = _fs2_folder(case, tmp_path, fs2_store)
    original_files = _snapshot(folder)

    assert Legacy.needed(folder, name)
    target = Legacy(folder, name).upgrade()

    assert target == folder / f"{name}.keras"
    backup = tmp_path / f"fs2_model{BACKUP_SUFFIX}"
    assert _snapshot(backup) == original_files  # the Faceswap 2 folder, untouched
    # the new folder: the model, and the state file and logs copied back
    assert sorted(_snapshot(folder)) == sorted([f"{name}.keras", f"{name}_state.json",
                                                f"{name}_logs/session_1/events.out.tfevents"
                                                ".1700000000.host"])
    assert (folder / f"{name}_state.json").read_bytes() == original_files[f"{name}_state.json"]
    assert not Legacy.needed(folder, name)

    loaded = keras.saving.load_model(target, compile=False, safe_mode=True)
    actual = [to_numpy(out).astype("float32")
              for out in keras.tree.flatten(loaded([faces, faces], training=False))]
    assert len(actual) == len(expected)  # the nested outputs, flattened in order
    tolerance = _CASES[case][3]
    for exp, act in zip(expected, actual, strict=True):
        assert act.shape == exp.shape
        np.testing.assert_allclose(act, exp, rtol=tolerance, atol=tolerance)
    _check_weights_match_the_file(loaded, backup / f"{name}.h5")


def _check_weights_match_the_file(model, path: Path) -> None:
    """Every weight of every top-level layer equals the dataset Keras 2 stored for it
    (``model_weights/<layer>/<weight name>``, trainable ones first), read with h5py."""
    import h5py
    with h5py.File(path, "r") as handle:
        group = handle["model_weights"]
        for layer in model.layers:
            if not layer.weights:
                continue
            names = [name.decode() if isinstance(name, bytes) else name
                     for name in group[layer.name].attrs["weight_names"]]
            ours = layer.trainable_weights + layer.non_trainable_weights
            assert len(names) == len(ours), layer.name
            for stored, weight in zip(names, ours, strict=True):
                np.testing.assert_array_equal(to_numpy(weight),
                                              group[layer.name][stored][()], err_msg=stored)


@pytest.mark.usefixtures("keras2")
def test_state_fields_are_converted_on_load(tmp_path, fs2_store):
    from plugins.train import train_config as cfg
    from plugins.train.model._base.state import State

    name, folder, _, _ = _fs2_folder("original", tmp_path, fs2_store)
    Legacy(folder, name).upgrade()
    cfg.reset_config()
    cfg.load_config(None)
    state = State(folder, name, no_logs=True)
    assert state.iterations == 30 and state.session_id == 2
    assert state.lowest_avg_loss == pytest.approx(0.0625 + 0.03125)  # per side -> one number
    saved = json.loads((folder / f"{name}_state.json").read_text(encoding="utf-8"))
    # renamed to gradient_clipping (a changeable option: the configured value then wins) and
    # the file saved at once, as Faceswap 3 does
    assert "autoclip" not in saved["config"] and "gradient_clipping" in saved["config"]
    assert saved["config"]["coverage"] == 87.5 and saved["config"]["centering"] == "face"
    backup = tmp_path / f"fs2_model{BACKUP_SUFFIX}" / f"{name}_state.json"
    assert json.loads(backup.read_text(encoding="utf-8"))["lowest_avg_loss"] == {
        "a": 0.0625, "b": 0.03125}  # Faceswap 2's own copy is untouched


@pytest.mark.usefixtures("keras2")
@pytest.mark.parametrize("predict", [pytest.param(False, marks=pytest.mark.slow), True],
                         ids=["train", "convert"])
def test_original_plugin_upgrades_on_first_load(predict, tmp_path, fs2_store):
    """The Original plugin on a Faceswap 2 folder: upgraded when the plugin is created, then
    trains (a fresh optimizer) or converts A -> B with Keras 2's side B outputs."""
    from plugins.train.model._base.settings import Loss
    from plugins.train.trainer.original import Trainer
    from tests.plugins.train.model.plugin_helpers import make_plugin

    _, folder, expected, faces = _fs2_folder("original-learn_mask", tmp_path, fs2_store)
    options = {"global.loss": {"learn_mask": True}}
    plugin = make_plugin("original", tmp_path / "run", options, predict=predict,
                         model_dir=folder)
    assert (folder / "original.keras").is_file()
    assert (tmp_path / f"fs2_model{BACKUP_SUFFIX}" / "original.h5").is_file()
    plugin.build()
    if predict:
        outputs = [to_numpy(out) for out in keras.tree.flatten(plugin.model(faces))]
        for exp, act in zip(expected[2:], outputs, strict=True):  # decoder_b: face, mask
            np.testing.assert_allclose(act, exp, rtol=1e-6, atol=1e-6)
        return
    assert plugin.iterations == 30
    extra = sum(channel != -1 for channel in Loss.mask_channels())
    targets = [np.random.default_rng(2).random((2, 1, _SIZE, _SIZE, 3 + extra),
                                               dtype="float32").round(), ] * 2
    losses = Trainer(plugin, batch_size=1).train_batch([faces[:1], faces[1:]], targets[:2])
    assert np.all(np.isfinite(losses))
    plugin.state.increment_iterations()
    plugin.io.save(is_exit=True)
    assert json.loads((folder / "original_state.json").read_text())["iterations"] == 31


# --- refusals: the folder is left as it was ------------------------------------------------------
@pytest.mark.usefixtures("keras2")
def test_existing_backup_folder_is_refused(tmp_path, fs2_store):
    name, folder, _, _ = _fs2_folder("original", tmp_path, fs2_store)
    backup = tmp_path / f"fs2_model{BACKUP_SUFFIX}"
    backup.mkdir()
    (backup / "keep.txt").write_text("mine")
    before = _snapshot(tmp_path)
    with pytest.raises(ModelFileError, match="already exists and is not empty"):
        Legacy(folder, name).upgrade()
    assert _snapshot(tmp_path) == before


@pytest.mark.usefixtures("keras2")
def test_empty_backup_folder_is_replaced(tmp_path, fs2_store):
    name, folder, _, _ = _fs2_folder("original", tmp_path, fs2_store)
    (tmp_path / f"fs2_model{BACKUP_SUFFIX}").mkdir()
    Legacy(folder, name).upgrade()
    assert (tmp_path / f"fs2_model{BACKUP_SUFFIX}" / f"{name}.h5").is_file()


@pytest.mark.usefixtures("keras2")
@pytest.mark.parametrize("code, advice", [(errno.ENOSPC, "the disk is full"),
                                          (errno.EIO, "I/O error")])
def test_disk_error_during_the_upgrade_puts_the_folder_back(code, advice, tmp_path, fs2_store,
                                                            monkeypatch):
    """A full or failing disk while the Keras 3 model is written: a SaveError (a FaceswapError:
    the command line prints it and exits 1) that names the folder, the space the upgrade needs
    and what to do; the Faceswap 2 folder is back as it was and no backup folder is left."""
    name, folder, _, _ = _fs2_folder("original", tmp_path, fs2_store)
    before = _snapshot(tmp_path)

    def failing_save(model, target):
        raise OSError(code, os.strerror(code), str(target))

    monkeypatch.setattr(Legacy, "_save", staticmethod(failing_save))
    with pytest.raises(SaveError, match=rf"(?s)upgraded Faceswap 3 model failed.*'{name}.keras'"
                                        rf".*{advice}.*The upgrade stopped.*put back") as raised:
        Legacy(folder, name).upgrade()
    assert isinstance(raised.value, FaceswapError) and raised.value.errno == code
    assert raised.value.needed == (folder / f"{name}.h5").stat().st_size
    assert _snapshot(tmp_path) == before
    assert Legacy.needed(folder, name)


def _rewrite_h5_attrs(path: Path, **attrs) -> None:
    import h5py
    with h5py.File(path, "a") as handle:
        for key, value in attrs.items():
            if value is None:
                del handle.attrs[key]
            else:
                handle.attrs[key] = value


@pytest.mark.usefixtures("keras2")
@pytest.mark.parametrize(("change", "message"), [
    ("truncate", "not a readable HDF5 file"),
    ("keras3", "written by Keras 3.12.0, not Keras 2"),
    ("no_config", "not a valid Faceswap 2 model file"),
    ("bad_json", "not valid JSON"),
    ("lambda", "Lambda layer, which holds Python code"),
    ("pow", "TFOpLambda layer 'tf.math.pow' is not supported"),
    ("weights", "weights do not fit the network"),
])
def test_unreadable_model_is_refused_and_nothing_written(change, message, tmp_path, fs2_store):
    name, folder, _, _ = _fs2_folder("original", tmp_path, fs2_store)
    path = folder / f"{name}.h5"
    if change == "truncate":
        path.write_bytes(path.read_bytes()[:2000])
    elif change == "keras3":
        _rewrite_h5_attrs(path, keras_version="3.12.0")
    elif change == "no_config":
        _rewrite_h5_attrs(path, model_config=None)
    elif change == "bad_json":
        _rewrite_h5_attrs(path, model_config='{"class_name": "Functional", "con')
    else:
        import h5py
        with h5py.File(path, "r") as handle:
            config = json.loads(handle.attrs["model_config"])
        encoder = config["config"]["layers"][2]["config"]["layers"]
        if change == "lambda":
            encoder[1]["class_name"] = "Lambda"
        elif change == "pow":
            encoder.insert(1, {"class_name": "TFOpLambda", "name": "tf.math.pow",
                               "config": {"name": "tf.math.pow", "function": "math.pow"},
                               "inbound_nodes": [[encoder[0]["name"], 0, 0, {"y": 2.0}]]})
        else:  # one more Dense in the encoder: the saved weights no longer fit
            dense = next(layer for layer in encoder if layer["class_name"] == "Dense")
            dense["config"]["units"] += 1
        _rewrite_h5_attrs(path, model_config=json.dumps(config))
    before = _snapshot(tmp_path)
    with pytest.raises(ModelFileError, match=message) as info:
        Legacy(folder, name).upgrade()
    assert str(path) in str(info.value) and "Nothing in" in str(info.value)
    assert _snapshot(tmp_path) == before
    assert not (tmp_path / f"fs2_model{BACKUP_SUFFIX}").exists()


@pytest.mark.usefixtures("keras2")
def test_another_plugins_fs2_model_is_not_overwritten(tmp_path, fs2_store):
    """Training 'dfaker' in a folder holding Faceswap 2's 'original' writes nothing."""
    from tests.plugins.train.model.plugin_helpers import make_plugin

    _, folder, _, _ = _fs2_folder("original", tmp_path, fs2_store)
    before = _snapshot(folder)
    with pytest.raises(FaceswapError, match="'original' plugin already exists"):
        make_plugin("dfaker", tmp_path / "run", model_dir=folder)
    assert _snapshot(folder) == before


# --- the config rewrite, on Keras 2 configs written from the spec -------------------------------
def _functional(name, layers, outputs, inputs=None, inbound=None):
    entry = {"class_name": "Functional", "config": {"name": name, "layers": layers,
                                                     "input_layers": inputs or [],
                                                     "output_layers": outputs}}
    if name is not None:
        entry["name"] = name
        entry["inbound_nodes"] = inbound or []
    return entry


def test_rewrite_config_follows_faceswap3_rules():
    policy = {"class_name": "Policy", "config": {"name": "mixed_float16"}}
    encoder = _functional("encoder", [
        {"class_name": "InputLayer", "name": "input_1", "inbound_nodes": [],
         "config": {"batch_input_shape": [None, 8, 8, 3], "dtype": "float32"}},
        {"class_name": "TFOpLambda", "name": "tf.math.multiply", "config": {
            "name": "tf.math.multiply", "trainable": True, "dtype": policy,
            "function": "math.multiply"},
         "inbound_nodes": [["input_1", 0, 0, {"y": 255.0, "name": None}]]},
        {"class_name": "LeakyReLU", "name": "leaky", "config": {"name": "leaky", "alpha": 0.2,
                                                                  "dtype": "float32"},
         "inbound_nodes": [[["tf.math.multiply", 0, 0, {}]]]},
        {"class_name": "SeparableConv2D", "name": "sep", "inbound_nodes": [[["leaky", 0, 0, {}]]],
         "config": {"name": "sep", "groups": 1, "kernel_initializer": {}, "kernel_regularizer":
                    None, "kernel_constraint": None, "depthwise_initializer": {}}},
        {"class_name": "DepthwiseConv2D", "name": "dw", "inbound_nodes": [[["sep", 0, 0, {}]]],
         "config": {"name": "dw", "groups": 1}},
        {"class_name": "L2_normalize", "name": "l2", "inbound_nodes": [[["dw", 0, 0, {}]]],
         "config": {"name": "l2", "axis": -1}},
    ], [["l2", 0, 0]], inputs=[["input_1", 0, 0]],
        inbound=[[["face_in_a", 0, 0, {}]], [["face_in_b", 0, 0, {}]]])
    decoder = _functional("decoder_a", [], [[["face_out", 0, 0], ["mask_out", 0, 0]]],
                          inbound=[[["encoder", 1, 0, {}]]])
    dense = {"class_name": "Dense", "name": "dense", "config": {"name": "dense"},
             "inbound_nodes": [[["encoder", 2, 0, {}]], [["face_in_a", 1, 0, {}]]]}
    top = _functional(None, [encoder, decoder, dense],
                      [[["decoder_a", 1, 0], ["decoder_a", 1, 1]], [["dense", 0, 0]]])
    original = copy.deepcopy(top)
    rewrite_config(top)

    layers = top["config"]["layers"]
    # outputs flattened, node indices kept (Keras 3 subtracts 1 itself for sub-models)
    assert top["config"]["output_layers"] == [["decoder_a", 1, 0], ["decoder_a", 1, 1],
                                              ["dense", 0, 0]]
    assert layers[1]["config"]["output_layers"] == [["face_out", 0, 0], ["mask_out", 0, 0]]
    # inbound references to sub-models one lower; to other layers unchanged
    assert layers[1]["inbound_nodes"] == [[["encoder", 0, 0, {}]]]
    assert layers[2]["inbound_nodes"] == [[["encoder", 1, 0, {}]], [["face_in_a", 1, 0, {}]]]
    assert layers[0]["inbound_nodes"] == original["config"]["layers"][0]["inbound_nodes"]
    inner = layers[0]["config"]["layers"]
    scalar = inner[1]
    assert scalar["class_name"] == "ScalarOp" and scalar["registered_name"] == "ScalarOp"
    assert scalar["config"] == {"name": "tf.math.multiply", "trainable": True, "dtype": {
        "module": "keras", "class_name": "DTypePolicy", "config": {"name": "mixed_float16"},
        "registered_name": None}, "operation": "multiply", "value": 255.0}
    assert scalar["inbound_nodes"] == [[["input_1", 0, 0, {}]]]
    assert inner[2]["config"]["negative_slope"] == 0.2 and "alpha" not in inner[2]["config"]
    assert inner[2]["config"]["dtype"]["config"] == {"name": "float32"}
    assert set(inner[3]["config"]) == {"name", "depthwise_initializer"}
    assert inner[4]["config"] == {"name": "dw"}
    assert inner[5]["class_name"] == "L2Normalize"
    assert inner[0]["config"] == original["config"]["layers"][0]["config"]["layers"][0]["config"]


@pytest.mark.parametrize("outputs", [[["a", 0]], "x", [[["a", 0, "b"]]]])
def test_rewrite_config_refuses_bad_outputs(outputs):
    with pytest.raises(ValueError):
        rewrite_config(_functional(None, [], outputs))


def _clip_model_config() -> dict:
    """A Keras 2 model whose encoder is Phaze-A's CLIP encoder, a sub-model named ``visual``
    (its Keras 2 internals are not read: the upgrade rebuilds it)."""
    visual = _functional("visual", [{"class_name": "TFOpLambda", "name": "tf.einsum",
                                     "config": {}, "inbound_nodes": [["x", 0, 0, {}]]}],
                         [["tf.einsum", 0, 0]],
                         inbound=[[["face_in_a", 0, 0, {}]], [["face_in_b", 0, 0, {}]]])
    inputs = [{"class_name": "InputLayer", "name": f"face_in_{side}", "inbound_nodes": [],
               "config": {"batch_input_shape": [None, 32, 32, 3], "dtype": "float32",
                          "name": f"face_in_{side}"}} for side in "ab"]
    return _functional(None, [*inputs, visual], [["visual", 1, 0], ["visual", 2, 0]],
                       inputs=[["face_in_a", 0, 0], ["face_in_b", 0, 0]])


@pytest.mark.slow  # builds ViT-B-32 (88 M parameters) twice
def test_clip_encoder_is_rebuilt_from_the_state_settings():
    from lib.model.networks import ViT

    config = _clip_model_config()
    rewrite_config(config, {"enc_architecture": "clipv_vit-b-32", "enc_scaling": 16})
    visual = config["config"]["layers"][2]
    assert visual["module"] and visual["config"]["name"] == "visual"
    assert visual["inbound_nodes"] == [[["face_in_a", 0, 0, {}]], [["face_in_b", 0, 0, {}]]]
    model = keras.Model.from_config(config["config"])
    # 224 px at 16 % -> 35.8 -> a multiple of 16 (32), and never below 32
    assert model.get_layer("visual").input_shape == (None, 32, 32, 3)
    expected = ViT("ViT-B-32", input_size=32)()
    assert [tuple(w.shape) for w in model.get_layer("visual").weights] == [
        tuple(w.shape) for w in expected.weights]
    assert len(model.outputs) == 2


@pytest.mark.parametrize(("clip", "message"), [
    (None, "state file is missing"),
    ({"enc_architecture": "efficientnet_b0", "enc_scaling": 100}, "enc_architecture is"),
    ({"enc_architecture": "clipv_vit-b-32", "enc_scaling": 0}, "enc_scaling is 0"),
    ({"enc_architecture": "clipv_vit-b-32"}, "enc_scaling is None")])
def test_clip_encoder_without_usable_settings_is_refused(clip, message):
    with pytest.raises(ValueError, match=f"{message}.*cannot be ported"):
        rewrite_config(_clip_model_config(), clip)
