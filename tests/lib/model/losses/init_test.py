"""Tests for lib/model/losses/__init__.py: re-exports, LOSS_NAMES and get_loss_function."""
from __future__ import annotations

import keras
import numpy as np
import pytest

import lib.model.losses as losses
from lib.errors import FaceswapError
from lib.model.losses import LOSS_NAMES, get_loss_function
from tests.harness import to_numpy

EXPECTED_CLASSES = {
    "ffl": losses.FocalFrequencyLoss,
    "flip": losses.LDRFLIPLoss,
    "gmsd": losses.GMSDLoss,
    "l_inf_norm": losses.LInfNorm,
    "laploss": losses.LaplacianPyramidLoss,
    "logcosh": keras.losses.LogCosh,
    "mae": keras.losses.MeanAbsoluteError,
    "ms_ssim": losses.MSSIMLoss,
    "mse": keras.losses.MeanSquaredError,
    "pixel_gradient_diff": losses.GradientLoss,
    "smooth_loss": losses.GeneralizedLoss,
    "ssim": losses.DSSIMObjective,
}
LPIPS_NAMES = ("lpips_alex", "lpips_squeeze", "lpips_vgg16")


@pytest.mark.smoke
def test_loss_names_are_faceswaps_sorted_list():
    assert LOSS_NAMES == (
        "ffl", "flip", "gmsd", "l_inf_norm", "laploss", "logcosh", "lpips_alex",
        "lpips_squeeze", "lpips_vgg16", "mae", "ms_ssim", "mse", "pixel_gradient_diff",
        "smooth_loss", "ssim")
    assert list(LOSS_NAMES) == sorted(LOSS_NAMES)
    assert set(LOSS_NAMES) == set(EXPECTED_CLASSES) | set(LPIPS_NAMES)


@pytest.mark.smoke
def test_reexports():
    from lib.model.losses import feature_loss, loss, perceptual_loss

    expected = {
        "FocalFrequencyLoss": loss, "GeneralizedLoss": loss, "GradientLoss": loss,
        "LaplacianPyramidLoss": loss, "LInfNorm": loss, "LossWrapper": loss,
        "DSSIMObjective": perceptual_loss, "GMSDLoss": perceptual_loss,
        "LDRFLIPLoss": perceptual_loss, "MSSIMLoss": perceptual_loss, "LPIPSLoss": feature_loss}
    for name, module in expected.items():
        assert name in losses.__all__
        assert getattr(losses, name) is getattr(module, name)
    assert set(losses.__all__) == set(expected) | {"LOSS_NAMES", "get_loss_function"}


@pytest.mark.smoke
@pytest.mark.parametrize("name", sorted(EXPECTED_CLASSES))
def test_every_name_maps_to_its_class(name):
    first = get_loss_function(name)
    second = get_loss_function(name)
    assert type(first) is EXPECTED_CLASSES[name]
    assert isinstance(first, keras.losses.Loss)
    assert first is not second
    assert first.reduction == "sum_over_batch_size"


def test_every_loss_runs_on_faceswap_sized_images():
    rng = np.random.default_rng(0)
    y_true = rng.random((2, 32, 32, 3)).astype("float32")
    y_pred = rng.random((2, 32, 32, 3)).astype("float32")
    for name in EXPECTED_CLASSES:
        value = to_numpy(get_loss_function(name)(y_true, y_pred))
        assert value.shape == () and np.isfinite(value) and value > 0.0, name
        np.testing.assert_allclose(to_numpy(get_loss_function(name)(y_true, y_true)), 0.0,
                                   atol=1e-5, err_msg=name)


def test_names_are_case_insensitive():
    assert type(get_loss_function("SSIM")) is losses.DSSIMObjective
    assert type(get_loss_function("Pixel_Gradient_Diff")) is losses.GradientLoss
    assert type(get_loss_function("MSE")) is keras.losses.MeanSquaredError


def test_flip_gets_the_colour_order():
    assert get_loss_function("flip").get_config()["color_order"] == "bgr"
    assert get_loss_function("flip", color_order="rgb").get_config()["color_order"] == "rgb"


@pytest.mark.parametrize("name", LPIPS_NAMES)
def test_lpips_raise_faceswap_error_naming_the_option(name):
    with pytest.raises(FaceswapError, match=f"'{name}' needs pretrained.*Choose another loss"):
        get_loss_function(name)
    with pytest.raises(FaceswapError, match=name):
        get_loss_function(name.upper())


def test_unknown_name():
    with pytest.raises(ValueError, match=r"Unknown loss function 'ssmi'.*'ffl'.*'ssim'"):
        get_loss_function("ssmi")
    with pytest.raises(ValueError, match="Unknown loss function 'none'"):
        get_loss_function("none")
    with pytest.raises(TypeError, match="string"):
        get_loss_function(None)
