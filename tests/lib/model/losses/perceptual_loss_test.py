"""Tests for lib.model.losses.perceptual_loss: DSSIM, MS-SSIM, GMSD and LDR-FLIP.

The references below are written from the published formulas in NumPy (float64), independently
of the code under test; under the TensorFlow backend DSSIM and MS-SSIM are also compared with
``tf.image.ssim`` / ``tf.image.ssim_multiscale``, which Faceswap called.
"""
from __future__ import annotations

import math

import keras
import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from lib.model.losses.perceptual_loss import DSSIMObjective, GMSDLoss, LDRFLIPLoss, MSSIMLoss
from lib.utils import get_backend
from tests.harness import (
    BACKEND,
    assert_config_roundtrip,
    assert_finite_gradient,
    assert_serialization_roundtrip,
    to_numpy,
)

ALL_LOSSES = [DSSIMObjective, GMSDLoss, LDRFLIPLoss, MSSIMLoss]
# Shape of the unreduced output for (2, 32, 32, 3) inputs.
UNREDUCED_SHAPES = {DSSIMObjective: (2, 3), GMSDLoss: (2, 1, 1), LDRFLIPLoss: (2, 32, 32, 1),
                    MSSIMLoss: (2,)}
NON_DEFAULT_ARGS = {
    DSSIMObjective: {"k_1": 0.02, "k_2": 0.05, "filter_size": 7, "filter_sigma": 1.2,
                     "max_value": 2.0, "name": "dssim", "reduction": "sum"},
    GMSDLoss: {"name": "gmsd", "reduction": "none"},
    LDRFLIPLoss: {"computed_distance_exponent": 0.6, "feature_exponent": 0.4,
                  "lower_threshold_exponent": 0.3, "upper_threshold_exponent": 0.9,
                  "epsilon": 1e-10, "pixels_per_degree": 30.0, "color_order": "rgb",
                  "name": "flip", "reduction": "sum"},
    MSSIMLoss: {"k_1": 0.02, "k_2": 0.05, "filter_size": 5, "filter_sigma": 1.0,
                "max_value": 2.0, "power_factors": (0.5, 0.3, 0.2), "name": "ms",
                "reduction": "none"},
}


def _images(shape=(2, 32, 32, 3), seed=0):
    rng = np.random.default_rng(seed)
    return rng.random(shape).astype("float32"), rng.random(shape).astype("float32")


def _correlated(shape=(2, 32, 32, 3), seed=0, noise=0.1):
    """A random image and a noisy copy of it (SSIM terms stay well away from 0)."""
    rng = np.random.default_rng(seed)
    y_true = rng.random(shape)
    y_pred = np.clip(y_true + noise * rng.standard_normal(shape), 0.0, 1.0)
    return y_true.astype("float32"), y_pred.astype("float32")


# --------------------------------------------------------------------------------------------
# NumPy references (float64)
# --------------------------------------------------------------------------------------------
def _np_correlate(images, kernel):
    """Valid 2-D cross-correlation of every (N, H, W, C) channel with one (kh, kw) kernel."""
    windows = sliding_window_view(images, kernel.shape, axis=(1, 2))  # N, H', W', C, kh, kw
    return np.einsum("nhwcij,ij->nhwc", windows, kernel)


def _np_gaussian(size, sigma):
    coords = np.arange(size) - (size - 1) / 2.0
    kernel = np.exp(-(coords[None, :] ** 2 + coords[:, None] ** 2) / (2.0 * sigma ** 2))
    return kernel / kernel.sum()


def _np_ssim(y_true, y_pred, k_1=0.01, k_2=0.03, size=11, sigma=1.5, max_value=1.0):
    """Textbook SSIM with a Gaussian window, valid padding: (ssim, cs), each (N, C)."""
    y_true, y_pred = np.float64(y_true), np.float64(y_pred)
    window = _np_gaussian(size, sigma)
    c_1, c_2 = (k_1 * max_value) ** 2, (k_2 * max_value) ** 2
    mu_t, mu_p = _np_correlate(y_true, window), _np_correlate(y_pred, window)
    var_t = _np_correlate(y_true ** 2, window) - mu_t ** 2
    var_p = _np_correlate(y_pred ** 2, window) - mu_p ** 2
    cov = _np_correlate(y_true * y_pred, window) - mu_t * mu_p
    luminance = (2 * mu_t * mu_p + c_1) / (mu_t ** 2 + mu_p ** 2 + c_1)
    contrast = (2 * cov + c_2) / (var_t + var_p + c_2)
    return (luminance * contrast).mean(axis=(1, 2)), contrast.mean(axis=(1, 2))


def _np_ms_ssim(y_true, y_pred, power_factors=(0.0448, 0.2856, 0.3001, 0.2363, 0.1333),
                size=11, **kwargs):
    """MS-SSIM per image, (N,): window side fitted to the smallest scale."""
    size = min(size, y_true.shape[1] // 2 ** (len(power_factors) - 1))
    y_true, y_pred = np.float64(y_true), np.float64(y_pred)
    values = []
    for scale in range(len(power_factors)):
        if scale > 0:
            pooled = []
            for image in (y_true, y_pred):
                pads = ((0, 0), (0, image.shape[1] % 2), (0, image.shape[2] % 2), (0, 0))
                image = np.pad(image, pads, mode="symmetric")
                n, h, w, c = image.shape
                pooled.append(image.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4)))
            y_true, y_pred = pooled
        ssim, contrast = _np_ssim(y_true, y_pred, size=size, **kwargs)
        values.append(np.maximum(contrast, 0.0))
    values[-1] = np.maximum(ssim, 0.0)
    powers = [val ** factor for val, factor in zip(values, power_factors, strict=True)]
    product = np.prod(powers, axis=0)
    return product.mean(axis=-1)


_GMSD_ROWS = np.array([[0.0007, 0.0052, 0.0370, 0.0052, 0.0007],
                       [0.0037, 0.1187, 0.2589, 0.1187, 0.0037],
                       [0.0, 0.0, 0.0, 0.0, 0.0],
                       [-0.0037, -0.1187, -0.2589, -0.1187, -0.0037],
                       [-0.0007, -0.0052, -0.0370, -0.0052, -0.0007]])


def _np_gmsd(y_true, y_pred):
    """GMSD per image, (N,)."""
    def edges(image):
        padded = np.pad(np.float64(image), ((0, 0), (2, 2), (2, 2), (0, 0)), mode="reflect")
        maps = [_np_correlate(padded, _GMSD_ROWS), _np_correlate(padded, _GMSD_ROWS.T)]
        return np.stack(maps, axis=-1).reshape(*image.shape[:3], -1)  # [c0k0, c0k1, c1k0...]

    e_t, e_p = edges(y_true), edges(y_pred)
    gms = (2 * e_t * e_p + 0.0025) / (e_t ** 2 + e_p ** 2 + 0.0025)
    return gms.reshape(len(gms), -1).std(axis=-1)


# LDR-FLIP, from the formulas of Andersson et al. 2020 (channels last, RGB order).
_M_RGB_XYZ = np.array([[10135552 / 24577794, 8788810 / 24577794, 4435075 / 24577794],
                       [2613072 / 12288897, 8788810 / 12288897, 887015 / 12288897],
                       [1425312 / 73733382, 8788810 / 73733382, 70074185 / 73733382]])
_M_XYZ_RGB = np.array([[3.241003275, -1.537398934, -0.498615861],
                       [-0.969224334, 1.875930071, 0.041554224],
                       [0.055639423, -0.204011202, 1.057148933]])
_WHITE = np.array([0.950428545, 1.0, 1.088900371])
_PPD = 3840 * np.pi / 180


def _np_srgb_to_linear(srgb):
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)


def _np_lab(linear):
    xyz = linear @ _M_RGB_XYZ.T / _WHITE
    delta = 6 / 29
    f = np.where(xyz > delta ** 3, np.cbrt(xyz), xyz / (3 * delta ** 2) + 4 / 29)
    lab = np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]),
                    200 * (f[..., 1] - f[..., 2])], axis=-1)
    lab[..., 1:] *= 0.01 * lab[..., :1]  # Hunt adjustment
    return lab


def _np_hyab(lab_1, lab_2):
    delta = lab_1 - lab_2
    return np.abs(delta[..., 0]) + np.sqrt(delta[..., 1] ** 2 + delta[..., 2] ** 2 + 1e-15)


def _np_cmax(q_c=0.7):
    return _np_hyab(_np_lab(np.array([0.0, 1.0, 0.0])), _np_lab(np.array([0.0, 0.0, 1.0]))) ** q_c


def _np_redistribute(power_distance, cmax, p_c=0.4, p_t=0.95):
    return np.where(power_distance < p_c * cmax, p_t / (p_c * cmax) * power_distance,
                    p_t + (power_distance - p_c * cmax) / (cmax - p_c * cmax) * (1 - p_t))


def _np_flip(reference, test, ppd=_PPD, q_c=0.7, q_f=0.5, epsilon=1e-15):
    """LDR-FLIP error map (N, H, W) of RGB images in [0, 1]."""
    def ycxcz(srgb):
        xyz = _np_srgb_to_linear(np.clip(np.float64(srgb), 0, 1)) @ _M_RGB_XYZ.T / _WHITE
        return np.stack([116 * xyz[..., 1] - 16, 500 * (xyz[..., 0] - xyz[..., 1]),
                         200 * (xyz[..., 1] - xyz[..., 2])], axis=-1)

    # Contrast sensitivity filters of the opponent channels.
    params = [(1, 0.0047, 0, 1e-5), (1, 0.0053, 0, 1e-5), (34.1, 0.04, 13.5, 0.025)]
    radius = int(np.ceil(3 * np.sqrt(0.04 / (2 * np.pi ** 2)) * ppd))
    grid_x, grid_y = np.meshgrid(range(-radius, radius + 1), range(-radius, radius + 1))
    z_sq = (grid_x / ppd) ** 2 + (grid_y / ppd) ** 2
    csf = []
    for a_1, b_1, a_2, b_2 in params:
        weights = (a_1 * np.sqrt(np.pi / b_1) * np.exp(-np.pi ** 2 * z_sq / b_1)
                   + a_2 * np.sqrt(np.pi / b_2) * np.exp(-np.pi ** 2 * z_sq / b_2))
        csf.append(weights / weights.sum())

    def color_lab(opponent):
        padded = np.pad(opponent, ((0, 0), (radius, radius), (radius, radius), (0, 0)),
                        mode="edge")
        filtered = np.concatenate([_np_correlate(padded[..., i:i + 1], csf[i])
                                   for i in range(3)], axis=-1)
        y_lum = (filtered[..., 0] + 16) / 116
        xyz = np.stack([y_lum + filtered[..., 1] / 500, y_lum, y_lum - filtered[..., 2] / 200],
                       axis=-1) * _WHITE
        return _np_lab(np.clip(xyz @ _M_XYZ_RGB.T, 0, 1))

    ref_opp, test_opp = ycxcz(reference), ycxcz(test)
    delta_color = _np_redistribute(_np_hyab(color_lab(ref_opp), color_lab(test_opp)) ** q_c,
                                   _np_cmax(q_c))

    # Edge and point detectors on the normalised achromatic channel.
    sigma = 0.5 * 0.082 * ppd
    f_radius = int(np.ceil(3 * sigma))
    grid_x, grid_y = np.meshgrid(range(-f_radius, f_radius + 1), range(-f_radius, f_radius + 1))
    gaussian = np.exp(-(grid_x ** 2 + grid_y ** 2) / (2 * sigma ** 2))

    def normalised(kernel):
        return np.where(kernel < 0, kernel / -kernel[kernel < 0].sum(),
                        kernel / kernel[kernel > 0].sum())

    edge = normalised(-grid_x * gaussian)
    point = normalised((grid_x ** 2 / sigma ** 2 - 1) * gaussian)

    def magnitudes(opponent):
        lum = (opponent[..., :1] + 16) / 116
        padded = np.pad(lum, ((0, 0), (f_radius, f_radius), (f_radius, f_radius), (0, 0)),
                        mode="edge")
        out = []
        for kernel in (edge, point):
            grad_x = _np_correlate(padded, kernel)[..., 0]
            grad_y = _np_correlate(padded, kernel.T)[..., 0]
            out.append(np.sqrt(grad_x ** 2 + grad_y ** 2 + 1e-15))
        return out

    (ref_edge, ref_point), (test_edge, test_point) = magnitudes(ref_opp), magnitudes(test_opp)
    delta_feature = np.maximum(np.abs(ref_edge - test_edge), np.abs(test_point - ref_point))
    delta_feature = (np.maximum(delta_feature, epsilon) / np.sqrt(2)) ** q_f
    return delta_color ** (1 - delta_feature)


# --------------------------------------------------------------------------------------------
# Every loss
# --------------------------------------------------------------------------------------------
@pytest.mark.smoke
@pytest.mark.parametrize("loss_class", ALL_LOSSES, ids=lambda cls: cls.__name__)
def test_random_images_give_a_finite_float32_scalar_below_one(loss_class):
    """Faceswap's own test: default construction, two random (2, 32, 32, 3) images."""
    value = loss_class()(*_images())
    assert tuple(value.shape) == ()
    assert keras.backend.standardize_dtype(value.dtype) == "float32"
    value = float(to_numpy(value))
    assert np.isfinite(value)
    assert 0.0 < value < 1.0


@pytest.mark.smoke
@pytest.mark.parametrize("loss_class", ALL_LOSSES, ids=lambda cls: cls.__name__)
def test_name_and_reduction_defaults(loss_class):
    loss = loss_class()
    assert loss.name == loss_class.__name__
    assert loss.reduction == "sum_over_batch_size"


@pytest.mark.smoke
@pytest.mark.parametrize("loss_class", [DSSIMObjective, GMSDLoss, MSSIMLoss],
                         ids=lambda cls: cls.__name__)
def test_identical_images_give_zero(loss_class):
    images, _ = _images()
    np.testing.assert_allclose(to_numpy(loss_class()(images, images)), 0.0, atol=1e-6)


@pytest.mark.smoke
@pytest.mark.parametrize("loss_class", ALL_LOSSES, ids=lambda cls: cls.__name__)
def test_reductions(loss_class):
    y_true, y_pred = _images()
    unreduced = to_numpy(loss_class(reduction="none")(y_true, y_pred))
    assert unreduced.shape == UNREDUCED_SHAPES[loss_class]
    assert np.all(np.isfinite(unreduced)) and np.all(unreduced >= 0.0)
    total = to_numpy(loss_class(reduction="sum")(y_true, y_pred))
    np.testing.assert_allclose(total, unreduced.sum(), rtol=1e-5)
    mean = to_numpy(loss_class()(y_true, y_pred))
    np.testing.assert_allclose(mean, unreduced.mean(), rtol=1e-5)


@pytest.mark.smoke
@pytest.mark.parametrize("loss_class", ALL_LOSSES, ids=lambda cls: cls.__name__)
def test_finite_gradient(loss_class):
    assert_finite_gradient(loss_class(), *_correlated(shape=(2, 16, 16, 3)))


@pytest.mark.smoke
@pytest.mark.parametrize("loss_class", ALL_LOSSES, ids=lambda cls: cls.__name__)
def test_config_and_serialization_roundtrip(loss_class):
    loss = loss_class(**NON_DEFAULT_ARGS[loss_class])
    config = loss.get_config()
    for key, value in NON_DEFAULT_ARGS[loss_class].items():
        assert config[key] == (list(value) if isinstance(value, tuple) else value)
    clone = assert_config_roundtrip(loss)
    assert_serialization_roundtrip(loss)
    y_true, y_pred = _correlated(shape=(2, 32, 32, 3))
    y_true, y_pred = 2.0 * y_true, 2.0 * y_pred  # max_value 2 for the SSIM losses
    np.testing.assert_allclose(to_numpy(clone(y_true, y_pred)), to_numpy(loss(y_true, y_pred)),
                               atol=1e-6, rtol=1e-6)


@pytest.mark.smoke
@pytest.mark.parametrize("loss_class", ALL_LOSSES, ids=lambda cls: cls.__name__)
def test_model_file_roundtrip(loss_class, tmp_path):
    """A model compiled with the loss saves to .keras and loads with no custom_objects."""
    loss = loss_class(**{k: v for k, v in NON_DEFAULT_ARGS[loss_class].items()
                         if k != "max_value"})
    inputs = keras.Input((16, 16, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(3, 3, padding="same")(inputs))
    model.compile(optimizer="sgd", loss=loss)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert type(loaded.loss) is loss_class
    assert loaded.loss.get_config() == loss.get_config()


@pytest.mark.parametrize("loss_class", ALL_LOSSES, ids=lambda cls: cls.__name__)
def test_mixed_precision_keeps_float32(loss_class):
    y_true, y_pred = _correlated()
    expected = to_numpy(loss_class()(y_true, y_pred))
    keras.config.set_dtype_policy("mixed_float16")
    loss = loss_class()
    value = loss(y_true.astype("float16"), y_pred.astype("float16"))
    assert loss.dtype == "float32"
    assert keras.backend.standardize_dtype(value.dtype) == "float32"
    # float16 inputs are rounded to about 3 decimal digits before the float32 maths.
    np.testing.assert_allclose(to_numpy(value), expected, rtol=1e-2, atol=1e-3)


# --------------------------------------------------------------------------------------------
# DSSIMObjective
# --------------------------------------------------------------------------------------------
@pytest.mark.smoke
def test_dssim_matches_numpy_reference():
    y_true, y_pred = _images(seed=3)
    expected = (1.0 - _np_ssim(y_true, y_pred)[0]) / 2.0
    actual = to_numpy(DSSIMObjective(reduction="none")(y_true, y_pred))
    np.testing.assert_allclose(actual, expected, atol=1e-5)


@pytest.mark.smoke
def test_dssim_matches_numpy_reference_with_arguments():
    y_true, y_pred = _correlated(shape=(2, 20, 24, 2), seed=4)
    y_true, y_pred = 2.0 * y_true, 2.0 * y_pred
    args = {"k_1": 0.02, "k_2": 0.05, "filter_size": 7, "filter_sigma": 1.2, "max_value": 2.0}
    expected = (1.0 - _np_ssim(y_true, y_pred, k_1=0.02, k_2=0.05, size=7, sigma=1.2,
                               max_value=2.0)[0]) / 2.0
    actual = to_numpy(DSSIMObjective(**args, reduction="none")(y_true, y_pred))
    np.testing.assert_allclose(actual, expected, atol=1e-5)


def test_dssim_matches_tf_image_ssim():
    if BACKEND != "tensorflow":
        pytest.skip("tf.image.ssim needs the TensorFlow backend")
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    for y_true, y_pred in (_images(seed=5), _correlated(seed=6)):
        expected = tf.reduce_mean((1.0 - tf.image.ssim(y_true, y_pred, max_val=1.0)) / 2.0)
        np.testing.assert_allclose(to_numpy(DSSIMObjective()(y_true, y_pred)),
                                   expected.numpy(), atol=1e-5)


@pytest.mark.smoke
@pytest.mark.parametrize("args, match", [
    ({"filter_size": 0}, "filter_size"),
    ({"filter_size": 2.5}, "filter_size"),
    ({"filter_sigma": 0.0}, "filter_sigma"),
    ({"max_value": -1.0}, "max_value"),
    ({"k_1": -0.1}, "k_1"),
    ({"k_2": "a"}, "k_2"),
])
def test_dssim_rejects_bad_arguments(args, match):
    with pytest.raises(ValueError, match=match):
        DSSIMObjective(**args)


def test_dssim_rejects_non_images():
    with pytest.raises(ValueError, match="DSSIMObjective expects"):
        DSSIMObjective()(np.zeros((2, 32, 32), "float32"), np.zeros((2, 32, 32), "float32"))


# --------------------------------------------------------------------------------------------
# MSSIMLoss
# --------------------------------------------------------------------------------------------
@pytest.mark.smoke
@pytest.mark.parametrize("shape", [(2, 64, 64, 3), (2, 50, 46, 3), (2, 32, 32, 3)],
                         ids=["64", "odd-50x46", "32"])
def test_mssim_matches_numpy_reference(shape):
    y_true, y_pred = _correlated(shape=shape, seed=7)
    expected = 1.0 - _np_ms_ssim(y_true, y_pred)
    actual = to_numpy(MSSIMLoss(reduction="none")(y_true, y_pred))
    np.testing.assert_allclose(actual, expected, atol=2e-5)


@pytest.mark.smoke
def test_mssim_matches_numpy_reference_with_arguments():
    y_true, y_pred = _correlated(shape=(2, 40, 40, 2), seed=8)
    y_true, y_pred = 2.0 * y_true, 2.0 * y_pred
    loss = MSSIMLoss(k_1=0.02, k_2=0.05, filter_size=5, filter_sigma=1.0, max_value=2.0,
                     power_factors=(0.5, 0.3, 0.2), reduction="none")
    # 40 // 4 = 10 > 5, so the window keeps its 5 pixels.
    expected = 1.0 - _np_ms_ssim(y_true, y_pred, power_factors=(0.5, 0.3, 0.2), size=5,
                                 k_1=0.02, k_2=0.05, sigma=1.0, max_value=2.0)
    np.testing.assert_allclose(to_numpy(loss(y_true, y_pred)), expected, atol=2e-5)


@pytest.mark.parametrize("shape, filter_size", [((2, 64, 64, 3), 4), ((2, 50, 50, 3), 3),
                                                ((2, 32, 32, 3), 2)], ids=["64", "50", "32"])
def test_mssim_matches_tf_ssim_multiscale(shape, filter_size):
    if BACKEND != "tensorflow":
        pytest.skip("tf.image.ssim_multiscale needs the TensorFlow backend")
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    y_true, y_pred = _correlated(shape=shape, seed=9)
    expected = tf.reduce_mean(
        1.0 - tf.image.ssim_multiscale(y_true, y_pred, 1.0, filter_size=filter_size))
    np.testing.assert_allclose(to_numpy(MSSIMLoss()(y_true, y_pred)), expected.numpy(),
                               atol=2e-5)


@pytest.mark.smoke
@pytest.mark.parametrize("power_factors", [(), "abc", (0.5, "a"), 3.0])
def test_mssim_rejects_bad_power_factors(power_factors):
    with pytest.raises(ValueError, match="power_factors"):
        MSSIMLoss(power_factors=power_factors)


def test_mssim_rejects_images_smaller_than_the_pyramid():
    images = np.zeros((1, 8, 8, 3), "float32")
    with pytest.raises(ValueError, match="at least 16 pixels"):
        MSSIMLoss()(images, images)


# --------------------------------------------------------------------------------------------
# GMSDLoss
# --------------------------------------------------------------------------------------------
@pytest.mark.smoke
@pytest.mark.parametrize("maker", [_images, _correlated], ids=["random", "correlated"])
def test_gmsd_matches_numpy_reference(maker):
    y_true, y_pred = maker(shape=(2, 24, 20, 3), seed=10)
    expected = _np_gmsd(y_true, y_pred)[:, None, None]
    np.testing.assert_allclose(to_numpy(GMSDLoss(reduction="none")(y_true, y_pred)), expected,
                               atol=1e-5)


@pytest.mark.smoke
def test_gmsd_kernel_orientation():
    """A horizontal step only excites the vertical-gradient kernel (kernel 0), a vertical one only
    kernel 1, so a single-channel image with a horizontal edge against a flat one gives a known
    GMSD: gms is c/(e² + c) on the edge rows of kernel 0 and 1 elsewhere."""
    y_true = np.zeros((1, 12, 12, 1), "float32")
    y_true[:, 6:] = 1.0
    flat = np.zeros_like(y_true)
    padded = np.pad(np.float64(y_true[0, :, :, 0]), 2, mode="reflect")
    # Rows above and below the step (rows 4..7) see the kernel-0 response of the step.
    edge = np.array([(sliding_window_view(padded, (5, 5))[row, 0] * _GMSD_ROWS).sum()
                     for row in range(12)])
    gms = np.ones((12, 12, 2))
    gms[:, :, 0] = (0.0025 / (edge ** 2 + 0.0025))[:, None]
    expected = gms.std()
    assert expected > 0.1
    np.testing.assert_allclose(to_numpy(GMSDLoss()(y_true, flat)), expected, rtol=1e-5)


# --------------------------------------------------------------------------------------------
# LDRFLIPLoss
# --------------------------------------------------------------------------------------------
# On a GPU, JAX/XLA and PyTorch run float32 convolutions in TF32 by default (10-bit mantissa);
# FLIP's large CSF kernels then differ from the float64 reference by about 2e-3 relative (seen on
# an H100). On the CPU the tight tolerances hold.
_FLIP_TOL = ({"rtol": 1e-3, "atol": 2e-4} if get_backend() == "cpu"
             else {"rtol": 1e-2, "atol": 5e-3})


@pytest.mark.smoke
def test_flip_identical_images_give_the_known_minimum():
    """With identical images HyAB is sqrt(1e-15) (Faceswap's norm epsilon), so the loss is
    0.95 / (0.4 cmax) · 1e-15^0.35 everywhere: about 3e-7."""
    images, _ = _images()
    expected = 0.95 / (0.4 * _np_cmax()) * 1e-15 ** 0.35
    value = to_numpy(LDRFLIPLoss(reduction="none")(images, images))
    assert value.shape == (2, 32, 32, 1)
    np.testing.assert_allclose(value, expected, rtol=1e-3)
    assert float(expected) < 1e-6


@pytest.mark.smoke
@pytest.mark.parametrize("colors", [((0.5, 0.5, 0.5), (0.55, 0.5, 0.45)),
                                    ((0.9, 0.1, 0.1), (0.1, 0.2, 0.9)),
                                    ((0.2, 0.7, 0.3), (0.25, 0.6, 0.3))],
                         ids=["close", "far", "green"])
def test_flip_uniform_images(colors):
    """Uniform images: the CSF filters keep them uniform and the feature term vanishes, so the
    map is the redistributed HyAB distance of the two colours everywhere."""
    reference, test = (np.array(color) for color in colors)
    distance = _np_hyab(_np_lab(_np_srgb_to_linear(reference)),
                        _np_lab(_np_srgb_to_linear(test))) ** 0.7
    expected = _np_redistribute(distance, _np_cmax())
    y_true = np.broadcast_to(reference, (1, 24, 24, 3)).astype("float32")
    y_pred = np.broadcast_to(test, (1, 24, 24, 3)).astype("float32")
    value = to_numpy(LDRFLIPLoss(color_order="rgb", reduction="none")(y_true, y_pred))
    # The feature term is float32 rounding noise (~1e-8 before its square root), so ΔE equals
    # ΔE_color ** (1 - ~1e-4).
    np.testing.assert_allclose(value, expected, rtol=_FLIP_TOL["rtol"])


def test_flip_uniform_images_cover_both_redistribution_branches():
    """Guards the parametrisation above: 'close' is below pc·cmax and 'far' above it."""
    cmax = _np_cmax()
    close = _np_hyab(_np_lab(_np_srgb_to_linear(np.array([0.5, 0.5, 0.5]))),
                     _np_lab(_np_srgb_to_linear(np.array([0.55, 0.5, 0.45])))) ** 0.7
    far = _np_hyab(_np_lab(_np_srgb_to_linear(np.array([0.9, 0.1, 0.1]))),
                   _np_lab(_np_srgb_to_linear(np.array([0.1, 0.2, 0.9])))) ** 0.7
    assert close < 0.4 * cmax < far


@pytest.mark.smoke
def test_flip_matches_numpy_reference():
    y_true, y_pred = _correlated(shape=(2, 24, 24, 3), seed=11, noise=0.2)
    expected = _np_flip(y_true, y_pred)[..., None]
    actual = to_numpy(LDRFLIPLoss(color_order="rgb", reduction="none")(y_true, y_pred))
    # float32 against float64 through powers and square roots of small feature differences.
    np.testing.assert_allclose(actual, expected, **_FLIP_TOL)


@pytest.mark.smoke
def test_flip_matches_numpy_reference_with_arguments():
    y_true, y_pred = _images(shape=(1, 20, 20, 3), seed=12)
    y_pred = y_pred * 1.2 - 0.1  # outside [0, 1]: exercises the input clipping
    args = {"computed_distance_exponent": 0.6, "feature_exponent": 0.4, "epsilon": 1e-10,
            "pixels_per_degree": 30.0}
    expected = _np_flip(y_true, y_pred, ppd=30.0, q_c=0.6, q_f=0.4, epsilon=1e-10)[..., None]
    actual = to_numpy(LDRFLIPLoss(**args, color_order="rgb", reduction="none")(y_true, y_pred))
    np.testing.assert_allclose(actual, expected, **_FLIP_TOL)


@pytest.mark.smoke
def test_flip_bgr_equals_rgb_on_reversed_channels():
    y_true, y_pred = _correlated(seed=13, noise=0.2)
    rgb = to_numpy(LDRFLIPLoss(color_order="rgb", reduction="none")(y_true, y_pred))
    bgr = to_numpy(LDRFLIPLoss(color_order="bgr", reduction="none")(y_true[..., ::-1].copy(),
                                                                       y_pred[..., ::-1].copy()))
    np.testing.assert_allclose(bgr, rgb, atol=1e-6, rtol=1e-6)
    default = to_numpy(LDRFLIPLoss(reduction="none")(y_true, y_pred))
    assert not np.allclose(default, rgb, atol=1e-3)  # the default really is bgr


def test_flip_default_pixels_per_degree():
    y_true, y_pred = _correlated(shape=(1, 24, 24, 3), seed=14, noise=0.2)
    default = to_numpy(LDRFLIPLoss()(y_true, y_pred))
    explicit = to_numpy(LDRFLIPLoss(pixels_per_degree=3840 * math.pi / 180)(y_true, y_pred))
    np.testing.assert_allclose(default, explicit, rtol=1e-6)
    assert LDRFLIPLoss().get_config()["pixels_per_degree"] is None


@pytest.mark.smoke
@pytest.mark.parametrize("args, match", [
    ({"color_order": "RGB"}, "color_order"),
    ({"color_order": "yuv"}, "color_order"),
    ({"pixels_per_degree": 0}, "pixels_per_degree"),
    ({"epsilon": 0.0}, "epsilon"),
    ({"upper_threshold_exponent": 1.5}, "upper_threshold_exponent"),
    ({"computed_distance_exponent": -1}, "computed_distance_exponent"),
])
def test_flip_rejects_bad_arguments(args, match):
    with pytest.raises(ValueError, match=match):
        LDRFLIPLoss(**args)
