"""The Original plugin: its build table (parameter counts, sub-models, shapes, layer names; the
shared harness of plugin_table.py), then through ModelBase: compile, train, save, resume, swap."""
from __future__ import annotations

import argparse
import json
import logging

import keras
import numpy as np
import pytest

from lib.errors import FaceswapError, ModelFileError
from plugins.train import train_config as cfg
from plugins.train.model._base import get_all_sub_models
from plugins.train.model.original import Model
from plugins.train.trainer.original import Trainer
from tests.harness import to_numpy
from tests.plugins.train.model.plugin_helpers import LEARN_MASK
from tests.plugins.train.model.plugin_table import BuildCase, check_build, table

_FACE = [(None, 64, 64, 3)] * 2
_SUB_MODELS = ["original", "encoder", "decoder_a", "decoder_b"]
_DECODER = ("upscale_256_0_pixelshuffler", "upscale_128_0_pixelshuffler",
            "upscale_64_0_pixelshuffler", "face_out_a_0_conv2d", "face_out_a_0")
CASES = [
    BuildCase(
        "default", "original", 82_062_470, _FACE, ["decoder_a", "decoder_b"], smoke=True,
        attributes={"input_shape": (64, 64, 3), "low_mem": False, "learn_mask": False,
                    "encoder_dim": 1024},
        sub_models=_SUB_MODELS, input_shapes=_FACE,
        sub_model_params={"encoder": 69_662_976, "decoder_a": 6_199_747},
        sub_model_outputs={"encoder": (None, 8, 8, 512)},
        layers={"encoder": ("conv_128_0_conv2d", "conv_256_0_conv2d", "conv_512_0_conv2d",
                            "conv_1024_0_conv2d", "upscale_512_0_pixelshuffler"),
                "decoder_a": _DECODER},
        absent={"decoder_a": ("mask_out_a_0",)}),
    BuildCase(
        "learn_mask", "original", 94_455_560, [(None, 64, 64, 3), (None, 64, 64, 1)] * 2,
        ["decoder_a", "decoder_a", "decoder_b", "decoder_b"], options=LEARN_MASK,
        attributes={"learn_mask": True}, sub_models=_SUB_MODELS,
        # the mask branch: its own three upscales and a one-channel output
        sub_model_params={"decoder_a": 12_396_292},
        layers={"decoder_a": (*_DECODER, "upscale_64_1_pixelshuffler", "mask_out_a_0_conv2d",
                              "mask_out_a_0")}),
    # lowmem: no 1024 convolution and a 512-wide dense bottleneck
    BuildCase(
        "lowmem", "original", 60_565_126, _FACE, ["decoder_a", "decoder_b"],
        options={"model.original": {"lowmem": True}},
        attributes={"low_mem": True, "encoder_dim": 512}, sub_models=_SUB_MODELS,
        sub_model_params={"encoder": 48_165_632, "decoder_a": 6_199_747},
        absent={"encoder": ("conv_1024_0_conv2d",)}),
]


@pytest.mark.parametrize("case", table(CASES))
def test_build(case, tmp_path):
    check_build(case, tmp_path)


@pytest.fixture(name="config_file")
def fixture_config_file(tmp_path):
    return tmp_path / "train.ini"


def _write_ini(path, **sections) -> None:
    lines = []
    for section, values in sections.items():
        lines.append(f"[{section.replace('__', '.')}]")
        lines.extend(f"{key} = {value}" for key, value in values.items())
    path.write_text("\n".join(lines) + "\n")


def _model(model_dir, config_file, predict=False, **arguments) -> Model:
    cfg.reset_config()
    keras.backend.clear_session(free_memory=False)
    model = Model(model_dir, argparse.Namespace(configfile=str(config_file), **arguments),
                  predict=predict)
    model.build()
    return model


def _batch(mask_channels: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    faces = rng.random((2, 64, 64, 3), dtype="float32")
    masks = (rng.random((2, 64, 64, mask_channels)) > 0.5).astype("float32")
    return faces, np.concatenate([faces, masks], axis=-1)


def test_new_model_builds_and_compiles(tmp_path, config_file):
    model = _model(tmp_path / "model", config_file)
    # the network itself: CASES' "default" row
    assert model.name == model.model_name == model.model.name == "original"
    assert model.model.count_params() == CASES[0].params
    assert [sub.name for sub in get_all_sub_models(model.model)] == CASES[0].sub_models
    assert model.input_shapes == [(None, 64, 64, 3)] * 2
    assert model.output_shapes == [(None, 64, 64, 3)] * 2
    assert model.state.loss_names == ["total", "face_a", "face_b"]
    assert model.coverage_ratio == 1.0
    assert isinstance(model.model.optimizer, keras.optimizers.Adam)
    # mixed-precision discovery: every layer but the float32 output heads follows the policy
    layers = model.state.mixed_precision_layers
    assert "conv_128_0_conv2d" in layers and "upscale_64_1_pixelshuffler" in layers
    assert "face_out_a_0" not in layers and "face_out_a_0_conv2d" in layers
    assert config_file.exists()  # written with the defaults


@pytest.mark.smoke
def test_train_save_resume_and_backup(tmp_path, config_file):
    model_dir = tmp_path / "model"
    model = _model(model_dir, config_file)
    faces, targets = _batch()
    losses = model.model.train_on_batch([faces, faces], [targets, targets])
    assert len(losses) == 3 and all(np.isfinite(losses))
    model.state.increment_iterations()
    model.add_history([0.4, 0.5])
    model.io.save(is_exit=True)
    assert model.io.history == []
    state = json.loads((model_dir / "original_state.json").read_text())
    # Faceswap's keys in Faceswap's order, then our version stamp (which Faceswap ignores)
    assert list(state) == ["name", "sessions", "lowest_avg_loss", "iterations",
                           "mixed_precision_layers", "lr_finder", "config", "written_by"]
    assert state["iterations"] == 1 and state["lowest_avg_loss"] == pytest.approx(0.9)
    assert sorted(path.name for path in model_dir.iterdir()) == [
        "original.keras", "original_state.json"]  # the first save never backs up

    model.add_history([0.3, 0.3])  # lower than 0.9: backed up
    model.io.save()
    assert (model_dir / "original.keras.bk").is_file()
    assert (model_dir / "original_state.json.bk").is_file()

    weights = [to_numpy(w) for w in model.model.weights]
    resumed = _model(model_dir, config_file)
    assert resumed.state.session_id == 2 and resumed.iterations == 1
    for before, after in zip(weights, resumed.model.weights, strict=True):
        np.testing.assert_array_equal(to_numpy(after), before)
    assert resumed.model.optimizer is not None


@pytest.mark.smoke
def test_swap_model_is_decoder_b_of_encoder(tmp_path, config_file):
    model_dir = tmp_path / "model"
    trained = _model(model_dir, config_file)
    trained.io.save()
    faces, _ = _batch()
    encoder, decoder_b = (trained.model.get_layer(name) for name in ("encoder", "decoder_b"))
    expected = to_numpy(keras.tree.flatten(decoder_b(encoder(faces)))[0])
    swap = _model(model_dir, config_file, predict=True)
    assert swap.model.name == "original_inference"
    assert [tensor.name for tensor in swap.model.inputs] == ["face_in_b"]
    np.testing.assert_allclose(to_numpy(swap.model(faces)), expected, atol=1e-5)
    back = _model(model_dir, config_file, predict=True, swap_model=True)
    decoder_a = trained.model.get_layer("decoder_a")
    np.testing.assert_allclose(to_numpy(back.model(faces)),
                               to_numpy(keras.tree.flatten(decoder_a(encoder(faces)))[0]),
                               atol=1e-5)


def test_learn_mask_outputs_losses_and_swap(tmp_path, config_file):
    _write_ini(config_file, global__loss={"learn_mask": "True"})
    model_dir = tmp_path / "model"
    model = _model(model_dir, config_file)
    assert model.model.count_params() == CASES[1].params  # built as the "learn_mask" row
    assert model.state.loss_names == ["total", "face_a", "mask_a", "face_b", "mask_b"]
    faces, targets = _batch()
    masks = targets[..., 3:4]
    losses = model.model.train_on_batch([faces, faces], [targets, masks, targets, masks])
    assert len(losses) == 5
    model.io.save()
    swap = _model(model_dir, config_file, predict=True)
    assert [tuple(out.shape) for out in swap.model.outputs] == [(None, 64, 64, 3),
                                                                 (None, 64, 64, 1)]


def test_fixed_option_is_kept_on_resume(tmp_path, config_file, caplog):
    _write_ini(config_file, model__original={"lowmem": "True"})
    model_dir = tmp_path / "model"
    model = _model(model_dir, config_file)
    assert model.model.count_params() == 60_565_126
    faces, targets = _batch()
    assert np.all(np.isfinite(model.model.train_on_batch([faces, faces], [targets, targets])))
    model.state.increment_iterations()
    model.io.save()
    _write_ini(config_file, model__original={"lowmem": "False"})
    with caplog.at_level(logging.WARNING):
        resumed = _model(model_dir, config_file)
    assert resumed.low_mem is True
    assert resumed.model.count_params() == 60_565_126
    assert "lowmem" in caplog.text


def test_corrupt_model_file(tmp_path, config_file):
    model_dir = tmp_path / "model"
    _model(model_dir, config_file).io.save()
    path = model_dir / "original.keras"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ModelFileError, match=r"original.keras.*truncated or corrupt.*restore"):
        _model(model_dir, config_file)


def test_other_plugin_in_folder(tmp_path, config_file):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "villain.keras").write_bytes(b"")
    with pytest.raises(FaceswapError, match="'villain' plugin already exists in the folder"):
        _model(model_dir, config_file)


def test_predict_without_model(tmp_path, config_file):
    with pytest.raises(ModelFileError, match="No model file found"):
        _model(tmp_path / "empty", config_file, predict=True)


def test_mask_options_need_a_mask_type(tmp_path, config_file):
    _write_ini(config_file, global__loss={"mask_type": "none"})
    with pytest.raises(FaceswapError, match="'penalized_mask_loss' needs a mask"):
        _model(tmp_path / "model", config_file)


def test_freeze_and_load_weights(tmp_path, config_file):
    source_dir = tmp_path / "source"
    source = _model(source_dir, config_file)
    source.io.save()
    encoder_weights = [to_numpy(w) for w in source.model.get_layer("encoder").weights]
    target = _model(tmp_path / "target", config_file, freeze_weights=True,
                    load_weights=str(source_dir / "original.keras"))
    assert target.model.get_layer("encoder").trainable is False
    assert target.model.get_layer("decoder_a").trainable is True
    for before, after in zip(encoder_weights, target.model.get_layer("encoder").weights,
                             strict=True):
        np.testing.assert_array_equal(to_numpy(after), before)
    faces, targets = _batch()
    target.model.train_on_batch([faces, faces], [targets, targets])
    for before, after in zip(encoder_weights, target.model.get_layer("encoder").weights,
                             strict=True):
        np.testing.assert_array_equal(to_numpy(after), before)  # frozen: unchanged by a step
    with pytest.raises(FaceswapError, match="does not exist"):
        _model(tmp_path / "other", config_file, load_weights=str(tmp_path / "missing.keras"))


def _numpy_mae_mse(target: np.ndarray, prediction: np.ndarray, mse_weight: float) -> float:
    error = target.astype("float64") - prediction.astype("float64")
    return float(np.mean(np.abs(error)) + mse_weight * np.mean(error ** 2))


@pytest.mark.smoke
def test_per_output_losses_are_this_batchs(tmp_path, config_file):
    """Every output's loss from a training step equals the loss recomputed in NumPy from the
    predictions just before the step, batch after batch (not running means)."""
    _write_ini(config_file,
               global__loss={"learn_mask": "True", "penalized_mask_loss": "False",
                             "loss_function": "mae", "loss_function_2": "mse",
                             "loss_weight_2": "25", "mask_loss_function": "mse"})
    model = _model(tmp_path / "model", config_file)
    trainer = Trainer(model, batch_size=2)
    assert model.model.output_names == ["face_a", "mask_a", "face_b", "mask_b"]
    for seed in range(3):
        rng = np.random.default_rng(seed)
        inputs = rng.random((2, 2, 64, 64, 3), dtype="float32")
        faces = rng.random((2, 2, 64, 64, 3), dtype="float32")
        masks = (rng.random((2, 2, 64, 64, 1)) > 0.5).astype("float32")
        predictions = [to_numpy(p) for p in model.model.predict([inputs[0], inputs[1]],
                                                                verbose=0)]
        flat_targets = [faces[0], masks[0], faces[1], masks[1]]
        expected = [_numpy_mae_mse(faces[0], predictions[0], 0.25),
                    float(np.mean((masks[0] - predictions[1]) ** 2)),
                    _numpy_mae_mse(faces[1], predictions[2], 0.25),
                    float(np.mean((masks[1] - predictions[3]) ** 2))]
        assert all(p.dtype == np.float32 for p in predictions)
        losses = trainer.train_batch(inputs, [faces, masks])
        assert losses.dtype == np.float32 and losses.shape == (4,)
        np.testing.assert_allclose(losses, expected, rtol=2e-5, atol=1e-6)
        assert len(flat_targets) == len(predictions)


def test_trainer_rejects_wrong_targets(tmp_path, config_file):
    model = _model(tmp_path / "model", config_file)
    faces = np.zeros((2, 1, 64, 64, 4), dtype="float32")
    with pytest.raises(FaceswapError, match="2 outputs .* 2 target"):
        Trainer(model, batch_size=1).train_batch(faces[..., :3], [faces, faces])
    with pytest.raises(ValueError, match="batch_size"):
        Trainer(model, batch_size=0)


def test_summary_goes_to_stdout_without_compiling(tmp_path, config_file, capsys):
    model = _model(tmp_path / "model", config_file, summary=True)
    printed = capsys.readouterr().out
    for name in ("encoder", "decoder_a", "decoder_b", "original"):
        assert f'Model: "{name}"' in printed
    assert printed.index('Model: "decoder_b"') < printed.index('Model: "original"')
    assert "82,062,470" in printed
    assert getattr(model.model, "optimizer", None) is None
    assert not (tmp_path / "model").exists() or not any((tmp_path / "model").iterdir())


def test_mixed_precision_outputs_are_float32(tmp_path, config_file):
    _write_ini(config_file, **{"global": {"mixed_precision": "True",
                                          "mixed_precision_dtype": "float16"}})
    model = _model(tmp_path / "model", config_file)
    encoder = model.model.get_layer("encoder")
    assert encoder.get_layer("conv_128_0_conv2d").compute_dtype == "float16"
    assert isinstance(model.model.optimizer, keras.optimizers.LossScaleOptimizer)
    faces, targets = _batch()
    assert all(to_numpy(out).dtype == np.float32 for out in model.model([faces, faces]))
    losses = model.model.train_on_batch([faces, faces], [targets, targets])
    assert np.all(np.isfinite(losses))
