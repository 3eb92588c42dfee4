"""Tests for lib/model/losses/loss.py, checked against NumPy references written here."""
from __future__ import annotations

import itertools

import keras
import numpy as np
import pytest

from lib.model.losses.loss import (
    FocalFrequencyLoss,
    GeneralizedLoss,
    GradientLoss,
    LaplacianPyramidLoss,
    LInfNorm,
    LossWrapper,
)
from tests.harness import (
    assert_config_roundtrip,
    assert_finite_gradient,
    assert_serialization_roundtrip,
    loss_gradient,
    to_numpy,
)

TOL = {"atol": 1e-5, "rtol": 1e-4}
PIXEL_LOSSES = [GeneralizedLoss, GradientLoss, LaplacianPyramidLoss, LInfNorm,
                FocalFrequencyLoss]


def _images(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random(shape).astype("float32")


def _pair(shape: tuple[int, ...] = (2, 16, 16, 3)) -> tuple[np.ndarray, np.ndarray]:
    return _images(shape, 1), _images(shape, 2)


def _small(cls: type) -> keras.losses.Loss:
    """An instance that works on 16x16 images (the pyramid needs 2**max_levels pixels)."""
    return cls(max_levels=3) if cls is LaplacianPyramidLoss else cls()


# ------------------------------------------------------------------------------------------------
# NumPy references (float64)
# ------------------------------------------------------------------------------------------------
def np_generalized(y_true, y_pred, alpha=1.0, beta=1.0 / 255.0):
    diff = np.asarray(y_pred, "float64") - np.asarray(y_true, "float64")
    c = abs(2.0 - alpha)
    per_elem = c / alpha * (((diff / beta) ** 2 / c + 1.0) ** (alpha / 2.0) - 1.0)
    return per_elem.mean(axis=-1) * beta


def np_derivatives(img):
    """dx, dy, dxx, dyy, dxy with clamped indices, written with explicit index arrays."""
    img = np.asarray(img, "float64")
    rows, cols = img.shape[1:3]
    r = np.arange(rows)
    c = np.arange(cols)
    rp, rm = np.minimum(r + 1, rows - 1), np.maximum(r - 1, 0)
    cp, cm = np.minimum(c + 1, cols - 1), np.maximum(c - 1, 0)

    def at(ri, ci):
        return img[:, ri][:, :, ci]

    d_x = 0.5 * (at(r, cp) - at(r, cm))
    d_y = 0.5 * (at(rp, c) - at(rm, c))
    d_xx = at(r, cp) + at(r, cm) - 2.0 * img
    d_yy = at(rp, c) + at(rm, c) - 2.0 * img
    d_xy = 0.25 * (at(rp, cp) - at(rp, cm) - at(rm, cp) + at(rm, cm))
    return d_x, d_y, d_xx, d_yy, d_xy


def np_gradient_loss(y_true, y_pred):
    """Scalar: ([GL(dx)+GL(dy)] + [GL(dxx)+GL(dyy)+2 GL(dxy)]) / 2, each GL a mean."""
    t_d = np_derivatives(y_true)
    p_d = np_derivatives(y_pred)
    gls = [np_generalized(t, p, alpha=1.9999).mean() for t, p in zip(t_d, p_d, strict=True)]
    return (gls[0] + gls[1] + gls[2] + gls[3] + 2.0 * gls[4]) / 2.0


def np_gaussian_kernel(size=5, sigma=1.0):
    half = size // 2
    x = np.linspace(-half, half, size) / (np.sqrt(2.0) * sigma)
    kernel = np.exp(-(x[:, None] ** 2) - x[None, :] ** 2)
    return kernel / kernel.sum()


def np_blur(img, kernel):
    size = kernel.shape[0]
    pad = size // 2
    padded = np.pad(img, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="edge")
    rows, cols = img.shape[1:3]
    out = np.zeros_like(img)
    for i, j in itertools.product(range(size), range(size)):
        out += kernel[i, j] * padded[:, i:i + rows, j:j + cols]
    return out


def np_avgpool2(img):
    n, rows, cols, ch = img.shape
    img = img[:, :rows // 2 * 2, :cols // 2 * 2]
    return img.reshape(n, rows // 2, 2, cols // 2, 2, ch).mean(axis=(2, 4))


def np_laplacian_loss(y_true, y_pred, max_levels=5, size=5, sigma=1.0):
    """Per-sample losses (N,)."""
    kernel = np_gaussian_kernel(size, sigma)

    def pyramid(img):
        levels, current = [], np.asarray(img, "float64")
        for _ in range(max_levels):
            blurred = np_blur(current, kernel)
            levels.append(current - blurred)
            current = np_avgpool2(blurred)
        return levels + [current]

    total = 0.0
    for level, (t, p) in enumerate(zip(pyramid(y_true), pyramid(y_pred), strict=True)):
        total = total + 4.0 ** -level * np.abs(p - t).mean(axis=(1, 2, 3))
    return total


def np_linf(y_true, y_pred):
    diff = np.abs(np.asarray(y_true, "float64") - np.asarray(y_pred, "float64"))
    return diff.max(axis=(1, 2), keepdims=True).mean(axis=-1)


def np_ffl(y_true, y_pred, alpha=1.0, patch_factor=1, ave_spectrum=False, log_matrix=False,
           batch_matrix=False, epsilon=1e-6):
    """The (N, P, h, w, C) loss map, patches cut with explicit slicing loops."""
    def spectrum(img):
        img = np.asarray(img, "float64")
        rows, cols = img.shape[1] // patch_factor, img.shape[2] // patch_factor
        patches = [img[:, i * rows:(i + 1) * rows, j * cols:(j + 1) * cols]
                   for i in range(patch_factor) for j in range(patch_factor)]
        return np.fft.fft2(np.stack(patches, axis=1), axes=(2, 3), norm="ortho")

    f_true, f_pred = spectrum(y_true), spectrum(y_pred)
    if ave_spectrum:
        f_true = f_true.mean(axis=0, keepdims=True)
        f_pred = f_pred.mean(axis=0, keepdims=True)
    distance = np.abs(f_pred - f_true) ** 2
    weight = np.sqrt(distance) ** alpha
    if log_matrix:
        weight = np.log(weight + 1.0)
    largest = weight.max() if batch_matrix else weight.max(axis=(2, 3), keepdims=True)
    weight = np.clip(weight / np.maximum(largest, epsilon), 0.0, 1.0)
    return weight * distance


def np_unreduced(cls, y_true, y_pred):
    """The reference for ``_small(cls).call`` (reduction 'none')."""
    if cls is GeneralizedLoss:
        return np_generalized(y_true, y_pred)
    if cls is GradientLoss:
        return None  # checked through its mean only, see test_gradient_loss_matches_reference
    if cls is LaplacianPyramidLoss:
        return np_laplacian_loss(y_true, y_pred, max_levels=3)
    if cls is LInfNorm:
        return np_linf(y_true, y_pred)
    return np_ffl(y_true, y_pred)


# ------------------------------------------------------------------------------------------------
# Every pixel loss
# ------------------------------------------------------------------------------------------------
@pytest.mark.smoke
@pytest.mark.parametrize("cls", PIXEL_LOSSES, ids=lambda cls: cls.__name__)
def test_identical_images_give_zero_and_different_positive(cls):
    y_true, y_pred = _pair()
    loss = _small(cls)
    assert loss.name == cls.__name__
    assert loss.reduction == "sum_over_batch_size"
    same = to_numpy(loss(y_true, y_true))
    diff = to_numpy(loss(y_true, y_pred))
    assert tuple(same.shape) == () and tuple(diff.shape) == ()
    assert str(same.dtype) == "float32" and str(diff.dtype) == "float32"
    np.testing.assert_allclose(same, 0.0, atol=1e-7)
    assert np.isfinite(diff) and diff > 0.0


def test_faceswap_test_bounds_on_default_instances():
    """Faceswap's own test: defaults, two random (2, 32, 32, 3) tensors, finite and bounded."""
    y_true, y_pred = _pair((2, 32, 32, 3))
    for cls in PIXEL_LOSSES:
        value = to_numpy(cls()(y_true, y_pred))
        bound = 200.0 if cls is GradientLoss else 1.0
        assert np.isfinite(value) and 0.0 < value < bound, cls.__name__


@pytest.mark.parametrize("cls", PIXEL_LOSSES, ids=lambda cls: cls.__name__)
def test_reductions(cls):
    y_true, y_pred = _pair()
    shapes = {GeneralizedLoss: (2, 16, 16), GradientLoss: (2, 16, 16),
              LaplacianPyramidLoss: (2,), LInfNorm: (2, 1, 1),
              FocalFrequencyLoss: (2, 1, 16, 16, 3)}
    kwargs = {"max_levels": 3} if cls is LaplacianPyramidLoss else {}
    unreduced = to_numpy(cls(reduction="none", **kwargs)(y_true, y_pred))
    assert unreduced.shape == shapes[cls]
    assert np.all(np.isfinite(unreduced)) and np.all(unreduced >= 0.0)
    reference = np_unreduced(cls, y_true, y_pred)
    if reference is not None:
        np.testing.assert_allclose(unreduced, reference, **TOL)
    total = to_numpy(cls(reduction="sum", **kwargs)(y_true, y_pred))
    np.testing.assert_allclose(total, unreduced.astype("float64").sum(), rtol=1e-4)
    mean = to_numpy(cls(**kwargs)(y_true, y_pred))
    np.testing.assert_allclose(mean, unreduced.astype("float64").mean(), rtol=1e-4)


@pytest.mark.smoke
@pytest.mark.parametrize("cls", PIXEL_LOSSES, ids=lambda cls: cls.__name__)
def test_finite_gradient(cls):
    y_true, y_pred = _pair((2, 16, 16, 3))
    grad = assert_finite_gradient(_small(cls), y_true, y_pred)
    assert grad.shape == y_pred.shape


def test_gradient_of_identical_images_is_finite():
    """Where every difference is zero the gradient must not be NaN (sqrt / power at 0)."""
    y_true = _images((1, 8, 8, 3), 3)
    for cls in PIXEL_LOSSES:
        grad = loss_gradient(_small(cls), y_true, y_true.copy())
        assert np.all(np.isfinite(grad)), cls.__name__


@pytest.mark.smoke
@pytest.mark.parametrize("loss", [
    GeneralizedLoss(alpha=0.5, beta=0.1),
    GradientLoss(reduction="sum"),
    LaplacianPyramidLoss(max_levels=2, gaussian_size=3, gaussian_sigma=0.7),
    LInfNorm(name="linf"),
    FocalFrequencyLoss(alpha=2.0, patch_factor=2, ave_spectrum=True, log_matrix=True,
                       batch_matrix=True, epsilon=1e-4),
], ids=lambda loss: type(loss).__name__)
def test_config_and_serialization_roundtrip(loss):
    y_true, y_pred = _pair((2, 8, 8, 3))
    config = loss.get_config()
    assert config["name"] == loss.name and config["reduction"] == loss.reduction
    assert config["dtype"] == "float32"
    clone = assert_config_roundtrip(loss)
    restored = assert_serialization_roundtrip(loss)
    expected = to_numpy(loss(y_true, y_pred))
    np.testing.assert_allclose(to_numpy(clone(y_true, y_pred)), expected, atol=1e-6, rtol=1e-6)
    np.testing.assert_allclose(to_numpy(restored(y_true, y_pred)), expected, atol=1e-6,
                               rtol=1e-6)


def test_configs_hold_every_argument():
    assert GeneralizedLoss(alpha=0.5, beta=0.1).get_config() == {
        "name": "GeneralizedLoss", "reduction": "sum_over_batch_size", "dtype": "float32",
        "alpha": 0.5, "beta": 0.1}
    assert LaplacianPyramidLoss(3, 7, 2.0).get_config() == {
        "name": "LaplacianPyramidLoss", "reduction": "sum_over_batch_size", "dtype": "float32",
        "max_levels": 3, "gaussian_size": 7, "gaussian_sigma": 2.0}
    assert FocalFrequencyLoss(0.5, 2, True, True, True, 1e-3).get_config() == {
        "name": "FocalFrequencyLoss", "reduction": "sum_over_batch_size", "dtype": "float32",
        "alpha": 0.5, "patch_factor": 2, "ave_spectrum": True, "log_matrix": True,
        "batch_matrix": True, "epsilon": 1e-3}
    assert GradientLoss().get_config() == {
        "name": "GradientLoss", "reduction": "sum_over_batch_size", "dtype": "float32"}
    assert LInfNorm().get_config() == {
        "name": "LInfNorm", "reduction": "sum_over_batch_size", "dtype": "float32"}


def test_mixed_precision_inputs_computed_in_float32():
    keras.config.set_dtype_policy("mixed_float16")
    y_true, y_pred = _pair((1, 16, 16, 3))
    for cls in PIXEL_LOSSES:
        loss = _small(cls)
        value = loss(keras.ops.convert_to_tensor(y_true, "float16"),
                     keras.ops.convert_to_tensor(y_pred, "float16"))
        assert keras.backend.standardize_dtype(value.dtype) == "float32", cls.__name__
        expected = to_numpy(loss(y_true.astype("float16").astype("float32"),
                                 y_pred.astype("float16").astype("float32")))
        np.testing.assert_allclose(to_numpy(value), expected, rtol=1e-5, err_msg=cls.__name__)


# ------------------------------------------------------------------------------------------------
# Individual maths
# ------------------------------------------------------------------------------------------------
def test_generalized_loss_hand_computed():
    # alpha=1, beta=1, d=1: |2-1|/1 * ((1/1 + 1)**0.5 - 1) = sqrt(2) - 1; channel mean; * beta.
    loss = GeneralizedLoss(alpha=1.0, beta=1.0, reduction="none")
    value = to_numpy(loss(np.zeros((1, 1, 1, 2)), np.array([[[[1.0, -1.0]]]])))
    np.testing.assert_allclose(value, [[[np.sqrt(2.0) - 1.0]]], rtol=1e-6)
    # alpha=-2, beta=0.5, d=1: 4/-2 * ((4/4 + 1)**-1 - 1) = 1; * 0.5.
    value = to_numpy(GeneralizedLoss(alpha=-2.0, beta=0.5)(np.zeros((1, 1, 1, 1)),
                                                           np.ones((1, 1, 1, 1))))
    np.testing.assert_allclose(value, 0.5, rtol=1e-6)


def test_generalized_loss_matches_reference():
    y_true, y_pred = _pair((2, 5, 6, 3))
    for alpha, beta in [(1.0, 1.0 / 255.0), (1.9999, 1.0 / 255.0), (0.5, 0.2)]:
        actual = to_numpy(GeneralizedLoss(alpha, beta, reduction="none")(y_true, y_pred))
        np.testing.assert_allclose(actual, np_generalized(y_true, y_pred, alpha, beta), **TOL)


def test_gradient_loss_matches_reference():
    for shape in [(2, 9, 7, 3), (1, 2, 3, 1)]:
        y_true, y_pred = _pair(shape)
        value = to_numpy(GradientLoss()(y_true, y_pred))
        np.testing.assert_allclose(value, np_gradient_loss(y_true, y_pred), rtol=1e-4)


def test_gradient_loss_cross_derivative_is_used():
    """A saddle x*y has zero second differences inside, but a cross derivative of 1 per pixel.

    Faceswap's (always zero) cross term would give no loss for the inner pixels; the intended
    term does, and only the cross term separates a saddle from a flat image.
    """
    grid = np.arange(6, dtype="float32")
    saddle = (grid[:, None] * grid[None, :])[None, :, :, None] / 25.0
    flat_offset = np.zeros_like(saddle)
    d_x, d_y, d_xx, d_yy, d_xy = np_derivatives(saddle)
    np.testing.assert_allclose(d_xy[0, 1:-1, 1:-1, 0], 1.0 / 25.0, rtol=1e-6)
    np.testing.assert_allclose(d_xx[0, :, 1:-1], 0.0, atol=1e-7)
    expected = np_gradient_loss(flat_offset, saddle)
    without_cross = expected - np_generalized(np.zeros_like(d_xy), d_xy, 1.9999).mean()
    value = to_numpy(GradientLoss()(flat_offset, saddle))
    np.testing.assert_allclose(value, expected, rtol=1e-4)
    assert value > without_cross * (1.0 + 1e-3)


def test_laplacian_kernel_hand_computed():
    kernel = LaplacianPyramidLoss._gaussian_kernel(5, 1.0)
    assert kernel.shape == (5, 5, 1, 1)
    # 1-D weights exp(-x**2 / 2) at x = -2..2, normalised; the 2-D kernel is their outer product
    one_d = np.exp(-np.array([4.0, 1.0, 0.0, 1.0, 4.0]) / 2.0)
    one_d /= one_d.sum()
    np.testing.assert_allclose(kernel[..., 0, 0], np.outer(one_d, one_d), rtol=1e-6)


def test_laplacian_matches_reference():
    for kwargs, shape in [
            ({}, (2, 32, 32, 3)),
            ({"max_levels": 2, "gaussian_size": 3, "gaussian_sigma": 0.8}, (1, 9, 12, 2)),
            ({"max_levels": 0}, (1, 3, 3, 1))]:
        y_true, y_pred = _pair(shape)
        actual = to_numpy(LaplacianPyramidLoss(reduction="none", **kwargs)(y_true, y_pred))
        expected = np_laplacian_loss(y_true, y_pred, kwargs.get("max_levels", 5),
                                     kwargs.get("gaussian_size", 5),
                                     kwargs.get("gaussian_sigma", 1.0))
        np.testing.assert_allclose(actual, expected, **TOL, err_msg=str(kwargs))


def test_laplacian_constant_offset_only_hits_last_level():
    # A constant offset survives only in the final low-pass level: weight 2**-10 * offset.
    y_true = _images((1, 32, 32, 3), 4)
    value = to_numpy(LaplacianPyramidLoss()(y_true, y_true + 0.5))
    # atol: the band-pass levels cancel the offset only to float32 rounding (~1e-7 in total)
    np.testing.assert_allclose(value, 0.5 / 1024.0, atol=5e-7, rtol=0)


def test_linf_hand_computed():
    y_true = np.zeros((1, 2, 2, 2), "float32")
    y_pred = np.array([[[[0.1, -0.4], [0.3, 0.2]], [[-0.5, 0.0], [0.2, 0.1]]]], "float32")
    # channel 0: max |.| = 0.5, channel 1: 0.4 -> mean 0.45
    value = to_numpy(LInfNorm(reduction="none")(y_true, y_pred))
    np.testing.assert_allclose(value, [[[0.45]]], rtol=1e-6)


def test_ffl_hand_computed():
    # One 1x2 image: fft_ortho([0, 0]) = 0, fft_ortho([1, 1]) = [sqrt(2), 0]. The distance map is
    # [2, 0]; the normalised weight [1, 0]; so the loss map is [2, 0].
    value = to_numpy(FocalFrequencyLoss(reduction="none")(np.zeros((1, 1, 2, 1)),
                                                          np.ones((1, 1, 2, 1))))
    np.testing.assert_allclose(value.reshape(-1), [2.0, 0.0], atol=1e-6)


def test_ffl_matches_reference():
    y_true, y_pred = _pair((3, 8, 12, 2))
    for kwargs in [
            {},
            {"alpha": 2.0},
            {"log_matrix": True},
            {"batch_matrix": True},
            {"ave_spectrum": True},
            {"patch_factor": 2},
            {"patch_factor": 2, "log_matrix": True, "batch_matrix": True, "ave_spectrum": True,
             "alpha": 0.5}]:
        actual = to_numpy(FocalFrequencyLoss(reduction="none", **kwargs)(y_true, y_pred))
        expected = np_ffl(y_true, y_pred, **kwargs)
        assert actual.shape == expected.shape, kwargs
        np.testing.assert_allclose(actual, expected, atol=1e-5, rtol=1e-4, err_msg=str(kwargs))


def test_ffl_epsilon_floors_the_normaliser():
    # Tiny differences: the maximum weight is below epsilon, so weights are not scaled up to 1.
    y_true = _images((1, 4, 4, 1), 5)
    y_pred = y_true + 1e-4 * _images((1, 4, 4, 1), 6)
    actual = to_numpy(FocalFrequencyLoss(epsilon=1.0, reduction="none")(y_true, y_pred))
    expected = np_ffl(y_true, y_pred, epsilon=1.0)
    np.testing.assert_allclose(actual, expected, atol=1e-12, rtol=1e-3)
    unfloored = np_ffl(y_true, y_pred, epsilon=0.0)
    assert unfloored.sum() > 100.0 * expected.sum()


# ------------------------------------------------------------------------------------------------
# Argument errors
# ------------------------------------------------------------------------------------------------
def test_constructor_errors():
    cases = [(GeneralizedLoss, {"alpha": 2.0}, "alpha=2.0"),
             (GeneralizedLoss, {"alpha": 0.0}, "alpha=0.0"),
             (GeneralizedLoss, {"beta": 0.0}, "beta=0.0"),
             (LaplacianPyramidLoss, {"max_levels": -1}, "max_levels=-1"),
             (LaplacianPyramidLoss, {"max_levels": 2.0}, "max_levels=2.0"),
             (LaplacianPyramidLoss, {"gaussian_size": 4}, "gaussian_size=4"),
             (LaplacianPyramidLoss, {"gaussian_sigma": 0.0}, "gaussian_sigma=0.0"),
             (FocalFrequencyLoss, {"patch_factor": 0}, "patch_factor=0"),
             (FocalFrequencyLoss, {"epsilon": -1.0}, "epsilon=-1.0"),
             (LInfNorm, {"reduction": "average"}, "reduction")]
    for cls, kwargs, match in cases:
        with pytest.raises(ValueError, match=match):
            cls(**kwargs)


def test_call_errors():
    y_true, y_pred = _pair((1, 6, 6, 3))
    with pytest.raises(ValueError, match="patch_factor.*Received: patch_factor=4, height=6"):
        FocalFrequencyLoss(patch_factor=4)(y_true, y_pred)
    with pytest.raises(ValueError, match="at least 8x8"):
        LaplacianPyramidLoss(max_levels=3)(y_true, y_pred)
    with pytest.raises(ValueError, match="rank 4"):
        LInfNorm()(y_true[0], y_pred[0])


# ------------------------------------------------------------------------------------------------
# LossWrapper
# ------------------------------------------------------------------------------------------------
def _wrapper() -> LossWrapper:
    wrapper = LossWrapper()
    wrapper.add_loss(keras.losses.MeanAbsoluteError())
    wrapper.add_loss(keras.losses.MeanSquaredError(), 2.0, 3)
    wrapper.add_loss(GeneralizedLoss(alpha=0.5, beta=0.1), weight=0.5, mask_channel=5)
    return wrapper


def np_wrapper(y_true, y_pred):
    y_true = np.asarray(y_true, "float64")
    y_pred = np.asarray(y_pred, "float64")
    t, p = y_true[..., :3], y_pred[..., :3]
    mask_3 = np.repeat(y_true[..., 3:4], 3, axis=-1)
    mask_5 = np.repeat(y_true[..., 5:6], 3, axis=-1)
    return (np.abs(t - p).mean()
            + 2.0 * ((t * mask_3 - p * mask_3) ** 2).mean()
            + 0.5 * np_generalized(t * mask_5, p * mask_5, alpha=0.5, beta=0.1).mean())


def _wrapper_data(batch: int = 2) -> tuple[np.ndarray, np.ndarray]:
    y_true = _images((batch, 8, 8, 6), 7)
    y_true[..., 3:] = (y_true[..., 3:] > 0.5).astype("float32")
    return y_true, _images((batch, 8, 8, 3), 8)


@pytest.mark.smoke
def test_loss_wrapper_matches_reference():
    y_true, y_pred = _wrapper_data()
    wrapper = _wrapper()
    assert wrapper.name == "LossWrapper" and wrapper.reduction == "sum_over_batch_size"
    value = to_numpy(wrapper(y_true, y_pred))
    assert value.shape == () and str(value.dtype) == "float32"
    np.testing.assert_allclose(value, np_wrapper(y_true, y_pred), rtol=1e-5)


def test_loss_wrapper_mask_changes_result_and_empty_is_zero():
    y_true, y_pred = _wrapper_data()
    unmasked, masked = LossWrapper(), LossWrapper()
    unmasked.add_loss(keras.losses.MeanSquaredError())
    masked.add_loss(keras.losses.MeanSquaredError(), 1.0, 4)
    mask = np.repeat(y_true[..., 4:5], 3, axis=-1)
    np.testing.assert_allclose(to_numpy(unmasked(y_true, y_pred)),
                               ((y_true[..., :3] - y_pred) ** 2).mean(), rtol=1e-5)
    np.testing.assert_allclose(to_numpy(masked(y_true, y_pred)),
                               (((y_true[..., :3] - y_pred) * mask) ** 2).mean(), rtol=1e-5)
    np.testing.assert_allclose(to_numpy(LossWrapper()(y_true, y_pred)), 0.0)


def test_loss_wrapper_faceswap_test_all_losses():
    """Faceswap's test: each loss plus a masked MSE (weight 2, channel 3), 4-channel y_true."""
    y_true = _images((2, 32, 32, 4), 9)
    y_pred = _images((2, 32, 32, 3), 10)
    for function in [cls() for cls in PIXEL_LOSSES] + [keras.losses.LogCosh(),
                                                       keras.losses.MeanAbsoluteError(),
                                                       keras.losses.MeanSquaredError()]:
        wrapper = LossWrapper()
        wrapper.add_loss(function, 1.0, -1)
        wrapper.add_loss(keras.losses.MeanSquaredError(), 2.0, 3)
        value = to_numpy(wrapper(y_true, y_pred))
        assert value.shape == () and str(value.dtype) == "float32" and np.isfinite(value)
        expected = (to_numpy(function(y_true[..., :3], y_pred))
                    + 2.0 * ((y_true[..., :3] - y_pred) ** 2 * y_true[..., 3:] ** 2).mean())
        np.testing.assert_allclose(value, expected, rtol=1e-5)


def test_loss_wrapper_plain_function_is_averaged():
    y_true, y_pred = _wrapper_data()
    wrapper = LossWrapper()
    wrapper.add_loss(keras.losses.mean_squared_error, 3.0)  # returns (N, H, W)
    np.testing.assert_allclose(to_numpy(wrapper(y_true, y_pred)),
                               3.0 * ((y_true[..., :3] - y_pred) ** 2).mean(), rtol=1e-5)


def test_loss_wrapper_gradient():
    y_true, y_pred = _wrapper_data()
    grad = assert_finite_gradient(_wrapper(), y_true, y_pred)
    assert grad.shape == y_pred.shape


def test_loss_wrapper_errors():
    wrapper = LossWrapper()
    with pytest.raises(TypeError, match="callable"):
        wrapper.add_loss("mse")
    with pytest.raises(ValueError, match="mask_channel"):
        wrapper.add_loss(keras.losses.MeanSquaredError(), 1.0, -2)
    wrapper.add_loss(keras.losses.MeanSquaredError(), 1.0, 6)
    y_true, y_pred = _wrapper_data()
    with pytest.raises(ValueError, match="out of range"):
        wrapper(y_true, y_pred)


@pytest.mark.smoke
def test_loss_wrapper_roundtrip():
    y_true, y_pred = _wrapper_data()
    wrapper = _wrapper()
    config = wrapper.get_config()
    assert config["weights"] == [1.0, 2.0, 0.5]
    assert config["mask_channels"] == [-1, 3, 5]
    assert len(config["losses"]) == 3
    expected = to_numpy(wrapper(y_true, y_pred))
    for clone in (assert_config_roundtrip(wrapper), assert_serialization_roundtrip(wrapper)):
        assert [type(fn) for fn in clone._loss_functions] == [
            keras.losses.MeanAbsoluteError, keras.losses.MeanSquaredError, GeneralizedLoss]
        np.testing.assert_allclose(to_numpy(clone(y_true, y_pred)), expected, rtol=1e-6)


@pytest.mark.smoke
def test_loss_wrapper_compiled_model_file_roundtrip(tmp_path):
    y_true, _ = _wrapper_data(4)
    inputs = keras.Input((8, 8, 3))
    outputs = keras.layers.Conv2D(3, 3, padding="same", name="conv")(inputs)
    model = keras.Model(inputs, outputs)
    wrapper = LossWrapper()
    wrapper.add_loss(GradientLoss(), 0.5, 4)
    wrapper.add_loss(keras.losses.MeanAbsoluteError(), 1.0, -1)
    model.compile(optimizer="sgd", loss=wrapper)
    x = _images((4, 8, 8, 3), 11)
    expected = model.evaluate(x, y_true, verbose=0)

    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, compile=True)
    assert isinstance(loaded.loss, LossWrapper)
    assert loaded.loss.get_config() == wrapper.get_config()
    actual = loaded.evaluate(x, y_true, verbose=0)
    np.testing.assert_allclose(actual, expected, rtol=1e-6)
    # and the value is the reference maths on the model's prediction
    prediction = to_numpy(model.predict(x, verbose=0))
    mask = np.repeat(y_true[..., 4:5], 3, axis=-1)
    reference = (0.5 * np_gradient_loss(y_true[..., :3] * mask, prediction * mask)
                 + np.abs(y_true[..., :3] - prediction).mean())
    np.testing.assert_allclose(actual, reference, rtol=1e-4)
