"""Tests for plugins.train.model._base.settings: Loss, Optimizer and Settings from the config."""
from __future__ import annotations

import argparse
import logging

import keras
import numpy as np
import pytest

from lib.errors import FaceswapError
from lib.hardware import CpuInfo
from lib.model.losses import DSSIMObjective, LossWrapper
from lib.model.optimizers import AdaBelief
from plugins.train import train_config as cfg
from plugins.train.model._base.settings import Loss, Optimizer, Settings, choose_policy
from tests.harness import BACKEND, to_numpy

pytestmark = pytest.mark.smoke  # cheap, and the optimizer classes differ per backend


def _set(**values) -> None:
    items = cfg.get_config().items()
    for option, value in values.items():
        items[option].set(value)


def _model(channels_per_side: list[int]) -> keras.Model:
    face_in_a = keras.Input((8, 8, 3), name="face_in_a")
    face_in_b = keras.Input((8, 8, 3), name="face_in_b")
    outputs = [keras.layers.Conv2D(ch, 1)(inp) for inp in (face_in_a, face_in_b)
               for ch in channels_per_side]
    return keras.Model([face_in_a, face_in_b], outputs)


def _wrapper_entries(wrapper: LossWrapper) -> list[tuple[str, float, int]]:
    config = wrapper.get_config()
    return [(loss["class_name"], weight, channel) for loss, weight, channel in zip(
        config["losses"], config["weights"], config["mask_channels"], strict=True)]


@pytest.mark.parametrize(("options", "expected"), [
    ({}, [3, 4, 5]),
    ({"eye_multiplier": 1, "mouth_multiplier": 1}, [3, -1, -1]),
    ({"eye_multiplier": 1}, [3, -1, 4]),
    ({"mouth_multiplier": 1}, [3, 4, -1]),
    ({"penalized_mask_loss": False, "eye_multiplier": 1, "mouth_multiplier": 1}, [-1, -1, -1]),
])
def test_mask_channels(options, expected):
    _set(**options)
    assert Loss.mask_channels() == expected


def test_multipliers_without_penalized_loss_are_disabled(caplog):
    _set(penalized_mask_loss=False)
    with caplog.at_level(logging.WARNING):
        assert Loss.mask_channels() == [-1, -1, -1]
    assert "disabled" in caplog.text
    loss = Loss()
    loss.configure(_model([3]))
    # Faceswap compat (quirk Q1 fixed): no unmasked extra copies for the multipliers
    assert _wrapper_entries(loss.functions["face_a"]) == [
        ("DSSIMObjective", 1.0, -1), ("MeanSquaredError", 1.0, -1)]


@pytest.mark.parametrize(("channels", "names"), [
    ([3], ["total", "face_a", "face_b"]),
    ([3, 1], ["total", "face_a", "mask_a", "face_b", "mask_b"]),
    ([3, 3, 1], ["total", "face_a_0", "face_a_1", "mask_a", "face_b_0", "face_b_1", "mask_b"]),
])
def test_loss_names(channels, names):
    loss = Loss()
    loss.configure(_model(channels))
    assert loss.names == names
    assert list(loss.functions) == names[1:]


def test_default_face_and_mask_losses():
    loss = Loss()
    loss.configure(_model([3, 1]))
    face = loss.functions["face_a"]
    assert isinstance(face, LossWrapper)
    # ssim at 100 %, mse at loss_weight_2 = 100 %, each masked, plus eye x3 and mouth x2 copies
    assert _wrapper_entries(face) == [
        ("DSSIMObjective", 1.0, 3), ("DSSIMObjective", 3.0, 4), ("DSSIMObjective", 2.0, 5),
        ("MeanSquaredError", 1.0, 3), ("MeanSquaredError", 3.0, 4), ("MeanSquaredError", 2.0, 5)]
    assert isinstance(loss.functions["mask_a"], keras.losses.MeanSquaredError)
    assert loss.functions["face_a"] is not loss.functions["face_b"]


def test_loss_weights_none_and_zero_are_dropped():
    _set(loss_function="mae", loss_function_2="none", loss_function_3="ssim", loss_weight_3=50,
         loss_function_4="gmsd", loss_weight_4=0, eye_multiplier=1, mouth_multiplier=1,
         mask_loss_function="mae")
    loss = Loss()
    loss.configure(_model([3, 1]))
    assert _wrapper_entries(loss.functions["face_b"]) == [
        ("MeanAbsoluteError", 1.0, 3), ("DSSIMObjective", 0.5, 3)]
    assert isinstance(loss.functions["mask_b"], keras.losses.MeanAbsoluteError)
    assert isinstance(loss.functions["face_b"]._loss_functions[1], DSSIMObjective)


def test_configured_face_loss_value_against_numpy():
    """mae masked by the face mask plus 3 x mae masked by the eye mask."""
    _set(loss_function="mae", loss_function_2="none", mouth_multiplier=1)
    loss = Loss()
    loss.configure(_model([3]))
    rng = np.random.default_rng(0)
    y_pred = rng.random((2, 8, 8, 3), dtype="float32")
    colours = rng.random((2, 8, 8, 3), dtype="float32")
    face_mask = (rng.random((2, 8, 8, 1)) > 0.3).astype("float32")
    eye_mask = (rng.random((2, 8, 8, 1)) > 0.8).astype("float32")
    y_true = np.concatenate([colours, face_mask, eye_mask], axis=-1)
    expected = (np.mean(np.abs(colours * face_mask - y_pred * face_mask))
                + 3.0 * np.mean(np.abs(colours * eye_mask - y_pred * eye_mask)))
    actual = float(to_numpy(loss.functions["face_a"](y_true, y_pred)))
    assert actual == pytest.approx(expected, rel=1e-5)


def test_unpaired_outputs_are_refused():
    inputs = keras.Input((4, 4, 3))
    with pytest.raises(FaceswapError, match="has 3 outputs.*same outputs for side A and side B"):
        Loss().configure(keras.Model(inputs, [inputs, inputs, inputs]))


def test_lpips_selection_gives_a_clear_error():
    """The LPIPS losses are not offered (their weights are not available): naming one is
    refused when the option is set, with the reason."""
    with pytest.raises(FaceswapError, match="'lpips_alex' .*not available here: the LPIPS "
                                            "losses need pretrained weights"):
        _set(loss_function_2="lpips_alex")


def test_default_optimizer():
    optimizer = Optimizer().optimizer
    assert isinstance(optimizer, keras.optimizers.Adam)
    config = optimizer.get_config()
    assert config["learning_rate"] == pytest.approx(5e-5)
    assert config["epsilon"] == pytest.approx(1e-7)
    assert (config["beta_1"], config["beta_2"], config["amsgrad"]) == (0.9, 0.999, False)
    assert config["use_ema"] is False
    assert config["clipnorm"] is None and config["global_clipnorm"] is None
    assert Optimizer().optimizer is not Optimizer().optimizer


@pytest.mark.parametrize(("name", "cls", "absent"), [
    ("adabelief", AdaBelief, ()), ("adamax", keras.optimizers.Adamax, ("amsgrad",)),
    ("adamw", keras.optimizers.AdamW, ()), ("lion", keras.optimizers.Lion, ("epsilon",)),
    ("nadam", keras.optimizers.Nadam, ("amsgrad",)),
    ("rms-prop", keras.optimizers.RMSprop, ("beta_1", "beta_2", "amsgrad"))])
def test_optimizer_choices(name, cls, absent):
    _set(optimizer=name, ada_beta_1=0.5, ada_beta_2=0.99, epsilon_exponent=-16)
    optimizer = Optimizer().optimizer
    assert isinstance(optimizer, cls)  # torch swaps in backend subclasses
    assert optimizer.__class__.__name__ == cls.__name__
    config = optimizer.get_config()
    for key, value in (("beta_1", 0.5), ("beta_2", 0.99), ("epsilon", 1e-16)):
        if key not in absent:
            assert config[key] == pytest.approx(value)
    if name == "lion":
        assert "epsilon" not in config


@pytest.mark.parametrize(("clipping", "key"), [("global_norm", "global_clipnorm"),
                                               ("norm", "clipnorm"), ("value", "clipvalue")])
def test_gradient_clipping(clipping, key):
    _set(gradient_clipping=clipping, clipping_value=2.5)
    assert Optimizer().optimizer.get_config()[key] == pytest.approx(2.5)


def test_autoclip_and_update_options():
    _set(gradient_clipping="autoclip", clipping_value=1.5, autoclip_history=2000,
         weight_decay=0.01, gradient_accumulation=4, use_ema=True, ema_momentum=0.9,
         ema_frequency=50)
    optimizer = Optimizer().optimizer
    clipper = optimizer._clip_gradients.__self__  # the attached AutoClipper
    assert clipper.get_config() == {"clip_percentile": 15, "history_size": 2000}
    config = optimizer.get_config()
    assert config["weight_decay"] == pytest.approx(0.01)
    assert config["gradient_accumulation_steps"] == 4
    assert (config["use_ema"], config["ema_momentum"], config["ema_overwrite_frequency"]) == (
        True, pytest.approx(0.9), 50)


def test_settings_precision_and_strategy():
    arguments = argparse.Namespace()
    settings = Settings(arguments, mixed_precision=True, is_predict=False,
                        mixed_precision_dtype="float16")
    assert settings.use_mixed_precision
    assert keras.config.dtype_policy().name == "mixed_float16"
    assert isinstance(Settings.loss_scale_optimizer(keras.optimizers.Adam()),
                      keras.optimizers.LossScaleOptimizer)
    predict = Settings(arguments, mixed_precision=True, is_predict=True)
    assert not predict.use_mixed_precision
    assert keras.config.dtype_policy().name == "float32"
    with predict.strategy_scope():
        layer = keras.layers.Dense(2)
        layer.build((None, 3))
    assert predict.strategy_name == "default"


_CPU_BF16 = CpuInfo("x86 with AMX", frozenset({"avx512f", "avx512_bf16", "amx_tile", "amx_bf16"}))
_CPU_PLAIN = CpuInfo("x86 with AVX-512 only", frozenset({"avx2", "avx512f"}))


@pytest.mark.parametrize(("mixed", "dtype", "gpu", "cpu", "policy"), [
    # Faceswap's boolean off: float32 whatever the dtype and hardware
    (False, "auto", True, _CPU_BF16, "float32"),
    (False, "bfloat16", None, _CPU_BF16, "float32"),
    # an explicit dtype is taken as it is
    (True, "float16", None, _CPU_PLAIN, "mixed_float16"),
    (True, "bfloat16", None, _CPU_PLAIN, "mixed_bfloat16"),
    (True, "float16", True, _CPU_PLAIN, "mixed_float16"),
    # auto follows the hardware: the GPU when there is one, else the CPU
    (True, "auto", True, _CPU_PLAIN, "mixed_bfloat16"),
    (True, "auto", False, _CPU_BF16, "mixed_float16"),
    (True, "auto", None, _CPU_BF16, "mixed_bfloat16"),
    (True, "auto", None, _CPU_PLAIN, "float32"),
])
def test_choose_policy(mixed, dtype, gpu, cpu, policy):
    chosen, reason = choose_policy(mixed, dtype, gpu, cpu)
    assert chosen == policy
    if mixed and dtype == "auto" and gpu is None:
        assert cpu.model in reason and "avx512_bf16" in reason  # the flags that decided


def test_choose_policy_refuses_unknown_dtype():
    with pytest.raises(ValueError, match="mixed_precision_dtype"):
        choose_policy(True, "float8", None, _CPU_PLAIN)


def test_settings_auto_precision_follows_this_cpu(monkeypatch, caplog):
    """On this (GPU-less) test machine ``auto`` gives bfloat16 exactly when the CPU reports
    bfloat16 units, and logs the choice."""
    import plugins.train.model._base.settings as settings_module

    for cpu, policy in ((_CPU_BF16, "mixed_bfloat16"), (_CPU_PLAIN, "float32")):
        monkeypatch.setattr(settings_module, "cpu_info", lambda cpu=cpu: cpu)
        caplog.clear()
        with caplog.at_level(logging.INFO):
            settings = Settings(argparse.Namespace(), mixed_precision=True, is_predict=False,
                                mixed_precision_dtype="auto")
        assert settings.policy == policy
        assert keras.config.dtype_policy().name == policy
        assert settings.use_mixed_precision is (policy != "float32")
        assert any("Mixed precision 'auto'" in record.message for record in caplog.records)
    keras.config.set_dtype_policy("float32")


def test_settings_unavailable_strategy():
    """central-storage: TensorFlow only, and there not with float16 (more in strategy_test)."""
    reason = ("cannot train with float16 mixed precision" if BACKEND == "tensorflow"
              else f"is not available on the {BACKEND} backend")
    with pytest.raises(FaceswapError, match=f"'central-storage' {reason}"):
        Settings(argparse.Namespace(distribution_strategy="central-storage"), True, False,
                 "float16")


@pytest.mark.smoke
@pytest.mark.parametrize(("value", "expected"), [
    (None, {"tensorflow": "auto", "jax": True, "torch": True}[BACKEND]),
    ("auto", "auto"), ("TRUE", True), ("1", True), ("false", False), ("0", False)])
def test_jit_compile_choice(value, expected, monkeypatch):
    """Per backend by default (measured: XLA on TF CPUs was 9x slower, torch.compile 1.3-1.5x
    faster), overridden by FACESWAP_JIT_COMPILE."""
    monkeypatch.delenv("FACESWAP_JIT_COMPILE", raising=False)
    if value is not None:
        monkeypatch.setenv("FACESWAP_JIT_COMPILE", value)
    assert Settings(argparse.Namespace(), False, False).jit_compile == expected


def test_jit_compile_bad_value(monkeypatch):
    monkeypatch.setenv("FACESWAP_JIT_COMPILE", "fast")
    with pytest.raises(FaceswapError, match="FACESWAP_JIT_COMPILE is 'fast'.*'auto'"):
        Settings(argparse.Namespace(), False, False).jit_compile  # noqa: B018
