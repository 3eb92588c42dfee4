"""Tests for lib.model.initializers: ICNR, ConvolutionAware and compute_fans."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from lib.model import initializers
from tests.harness import (
    assert_config_roundtrip,
    assert_model_file_roundtrip,
    assert_serialization_roundtrip,
    to_numpy,
)

# Faceswap's own initializer test: mean ~ 0 and std ~ sqrt(2 / fan_in) within 0.03
_SHAPE = (3, 3, 256, 2048)
_TARGET_STD = np.sqrt(2.0 / (3 * 3 * 256))


@pytest.mark.parametrize(("shape", "fans"), [
    ((), (1, 1)), ((7,), (7, 7)), ((4, 5), (4, 5)), ((3, 8, 16), (24, 48)),
    ((3, 3, 8, 16), (72, 144)), ((2, 3, 3, 8, 16), (144, 288))])
def test_compute_fans(shape, fans):
    assert initializers.compute_fans(shape) == fans


def test_icnr_statistics_and_repetition():
    init = initializers.ICNR(initializer=keras.initializers.he_uniform(), scale=2)
    kernel = to_numpy(init(_SHAPE))
    assert kernel.shape == _SHAPE
    assert abs(kernel.mean()) < 0.03
    assert abs(kernel.std() - _TARGET_STD) < 0.03
    # sub-kernel of 2048 / 4 = 512 channels, repeated 4 times along the output axis
    sub = kernel[..., :512]
    for block in range(1, 4):
        np.testing.assert_array_equal(kernel[..., 512 * block:512 * (block + 1)], sub)
    assert np.unique(sub.reshape(-1, 512), axis=1).shape[1] == 512  # sub-kernels all differ


def test_icnr_scale_three_and_one():
    kernel = to_numpy(initializers.ICNR("glorot_uniform", scale=3)((3, 3, 4, 18)))
    for channel in range(18):
        np.testing.assert_array_equal(kernel[..., channel], kernel[..., channel % 2])
    seeded = keras.initializers.GlorotUniform(seed=5)
    np.testing.assert_array_equal(
        to_numpy(initializers.ICNR(seeded, scale=1)((3, 3, 4, 6))),
        to_numpy(keras.initializers.GlorotUniform(seed=5)((3, 3, 4, 6))))


def test_icnr_errors():
    with pytest.raises(ValueError, match="`scale` must be a positive integer"):
        initializers.ICNR("he_uniform", scale=0)
    with pytest.raises(ValueError, match="divisible by scale\\*\\*2 = 4"):
        initializers.ICNR("he_uniform", scale=2)((3, 3, 4, 6))


@pytest.mark.smoke
def test_icnr_serialization_roundtrips():
    init = initializers.ICNR(initializer=initializers.ConvolutionAware(seed=3), scale=2)
    clone = assert_config_roundtrip(init)
    assert isinstance(clone.initializer, initializers.ConvolutionAware)
    assert_serialization_roundtrip(init)
    # Faceswap stores the wrapped initializer as a serialized dict
    from_dict = initializers.ICNR(initializer={"class_name": "HeNormal", "config": {}}, scale=2)
    assert isinstance(from_dict.initializer, keras.initializers.HeNormal)


def test_convolution_aware_statistics():
    kernel = to_numpy(initializers.ConvolutionAware(seed=123)(_SHAPE))
    assert kernel.shape == _SHAPE
    assert abs(kernel.mean()) < 0.03
    assert abs(kernel.std() - _TARGET_STD) < 0.03


def test_convolution_aware_seeded_determinism_and_initialized_flag():
    first = to_numpy(initializers.ConvolutionAware(seed=11)((3, 3, 8, 16)))
    second = to_numpy(initializers.ConvolutionAware(seed=11)((3, 3, 8, 16)))
    np.testing.assert_array_equal(first, second)
    other = to_numpy(initializers.ConvolutionAware(seed=12)((3, 3, 8, 16)))
    assert not np.allclose(first, other)

    init = initializers.ConvolutionAware(seed=11)
    init((3, 3, 8, 16))
    assert init.initialized and init.get_config()["initialized"] is True
    # once initialized, a cheap He-uniform kernel is returned (weights are about to be loaded)
    limit = np.sqrt(6.0 / 72)
    again = to_numpy(init((3, 3, 8, 16)))
    assert np.abs(again).max() <= limit and not np.allclose(again, first)


def test_convolution_aware_other_ranks():
    conv1d = to_numpy(initializers.ConvolutionAware(seed=1)((5, 64, 32)))
    assert conv1d.shape == (5, 64, 32)
    assert conv1d.std() == pytest.approx(np.sqrt(2.0 / (5 * 64)), rel=1e-3)
    conv3d = to_numpy(initializers.ConvolutionAware(seed=1)((3, 3, 3, 8, 16)))
    assert conv3d.shape == (3, 3, 3, 8, 16)
    assert conv3d.std() == pytest.approx(np.sqrt(2.0 / (27 * 8)), rel=1e-3)
    dense = to_numpy(initializers.ConvolutionAware(seed=1)((6, 6)))
    np.testing.assert_allclose(dense @ dense.T, np.eye(6), atol=1e-5)  # orthogonal fallback


def test_convolution_aware_errors():
    with pytest.raises(ValueError, match="`eps_std` must not be negative"):
        initializers.ConvolutionAware(eps_std=-1.0)


@pytest.mark.smoke
def test_convolution_aware_serialization_and_model_file(tmp_path):
    init = initializers.ConvolutionAware(eps_std=0.1, seed=9)
    assert_config_roundtrip(init)
    assert_serialization_roundtrip(init)
    inputs = keras.Input((8, 8, 3))
    conv = keras.layers.Conv2D(8, 3, padding="same", kernel_initializer=init)
    upscale = keras.layers.Conv2D(
        16, 3, padding="same",
        kernel_initializer=initializers.ICNR(initializers.ConvolutionAware(seed=2)))
    model = keras.Model(inputs, upscale(conv(inputs)))
    batch = np.random.default_rng(0).random((2, 8, 8, 3)).astype("float32")
    loaded = assert_model_file_roundtrip(model, batch, tmp_path, atol=1e-5)
    assert isinstance(loaded.layers[1].kernel_initializer, initializers.ConvolutionAware)
    assert isinstance(loaded.layers[2].kernel_initializer, initializers.ICNR)
