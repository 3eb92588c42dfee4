"""Perceptual losses: SSIM, multi-scale SSIM, gradient magnitude similarity deviation and LDR-FLIP.

Every class is a registered :class:`keras.losses.Loss`: ``call`` returns an unreduced map and the
base class reduces it (the mean over every element by default, as Keras reduces Faceswap's loss
functions). Inputs are channels-last ``(N, H, W, C)`` images in ``[0, max_value]``; Keras casts
them to the loss dtype (float32) first, so the maths stays in float32 under mixed precision.
Constant windows and kernels are built once with NumPy in ``__init__``; ``call`` uses only
``keras.ops`` and runs on the TensorFlow, JAX and PyTorch backends.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any, Literal

import keras
import numpy as np
from keras import ops

from lib.registry import register_serializable

__all__ = ["DSSIMObjective", "GMSDLoss", "LDRFLIPLoss", "MSSIMLoss"]

Reduction = Literal["sum", "sum_over_batch_size", "mean", "mean_with_sample_weight", "none"] | None

_MSSSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
# Faceswap's `lib/keras_utils.frobenius_norm` adds this under the square root, which keeps the
# gradient of a zero-length vector finite.
_FROBENIUS_EPSILON = 1e-15
# GMSD: the stabilising constant of the gradient magnitude similarity.
_GMSD_CONSTANT = 0.0025
# 5x5 modified Scharr kernel for vertical gradients (rows top to bottom); the horizontal kernel is
# its transpose.
_GMSD_KERNEL = np.array([[0.0007, 0.0052, 0.0370, 0.0052, 0.0007],
                         [0.0037, 0.1187, 0.2589, 0.1187, 0.0037],
                         [0.0000, 0.0000, 0.0000, 0.0000, 0.0000],
                         [-0.0037, -0.1187, -0.2589, -0.1187, -0.0037],
                         [-0.0007, -0.0052, -0.0370, -0.0052, -0.0007]], dtype="float32")
# LDR-FLIP contrast sensitivity functions of the opponent channels (Y: achromatic "A", Cx:
# red-green "RG", Cz: blue-yellow "BY"), as (a1, b1, a2, b2). b2 = 1e-5 avoids a division by 0.
_FLIP_CSF = {"A": (1.0, 0.0047, 0.0, 1e-5),
             "RG": (1.0, 0.0053, 0.0, 1e-5),
             "BY": (34.1, 0.04, 13.5, 0.025)}
# LDR-FLIP: peak-to-trough width (in degrees) of the human edge detection filter.
_FLIP_FEATURE_WIDTH = 0.082
# Linear sRGB (D65) to CIE XYZ.
_RGB_TO_XYZ = np.array([[10135552 / 24577794, 8788810 / 24577794, 4435075 / 24577794],
                        [2613072 / 12288897, 8788810 / 12288897, 887015 / 12288897],
                        [1425312 / 73733382, 8788810 / 73733382, 70074185 / 73733382]])
_XYZ_TO_RGB = np.linalg.inv(_RGB_TO_XYZ)
_D65_WHITE = np.array([0.950428545, 1.0, 1.088900371])


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_number(name: str, value: Any, minimum: float = 0.0, inclusive: bool = False) -> float:
    """A real number above ``minimum`` (or at least it when ``inclusive``), as a float."""
    if not _is_number(value) or not (value >= minimum if inclusive else value > minimum):
        relation = "at least" if inclusive else "greater than"
        raise ValueError(f"`{name}` must be a number {relation} {minimum}. "
                         f"Received: {name}={value!r}")
    return float(value)


def _check_positive_int(name: str, value: Any) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
    return int(value)


def _check_rank4(loss: keras.losses.Loss, tensor: Any) -> None:
    if len(tensor.shape) != 4:
        raise ValueError(f"{type(loss).__name__} expects (batch, height, width, channels) "
                         f"images. Received a tensor of shape {tuple(tensor.shape)}")


def _gaussian_window(size: int, sigma: float) -> np.ndarray:
    """``(size, size, 1, 1)`` window: softmax of ``-0.5 (x_i² + x_j²) / sigma²`` on a grid centred
    at 0 (tf.image.ssim's window)."""
    coords = np.arange(size, dtype="float64") - (size - 1) / 2.0
    logits = -0.5 * coords ** 2 / sigma ** 2
    logits = logits[None, :] + logits[:, None]
    window = np.exp(logits - logits.max())
    window /= window.sum()
    return window.reshape(size, size, 1, 1).astype("float32")


def _depthwise(images: Any, kernel: np.ndarray) -> Any:
    """Valid depthwise cross-correlation; a ``(h, w, 1, multiplier)`` kernel is tiled over the
    channels of ``images``, a ``(h, w, C, multiplier)`` one is used as it is."""
    kernel = ops.convert_to_tensor(kernel, dtype=images.dtype)
    if kernel.shape[2] == 1:
        kernel = ops.tile(kernel, (1, 1, images.shape[-1], 1))
    return ops.depthwise_conv(images, kernel, strides=1, padding="valid")


def _ssim_per_channel(y_true: Any, y_pred: Any, window: np.ndarray, c_1: float,
                      c_2: float) -> tuple[Any, Any]:
    """SSIM and contrast-structure, each averaged over height and width: two ``(N, C)`` tensors.

    As tf.image.ssim with compensation 1.0: ``cs = (2 E[tp] - 2 μt μp + c2) / (E[t²] + E[p²] -
    μt² - μp² + c2)``.
    """
    mean_true = _depthwise(y_true, window)
    mean_pred = _depthwise(y_pred, window)
    num_luminance = mean_true * mean_pred * 2.0
    den_luminance = ops.square(mean_true) + ops.square(mean_pred)
    luminance = (num_luminance + c_1) / (den_luminance + c_1)

    num_contrast = _depthwise(y_true * y_pred, window) * 2.0
    den_contrast = _depthwise(ops.square(y_true) + ops.square(y_pred), window)
    contrast = (num_contrast - num_luminance + c_2) / (den_contrast - den_luminance + c_2)

    ssim = ops.mean(luminance * contrast, axis=(1, 2))
    return ssim, ops.mean(contrast, axis=(1, 2))


def _replicate_pad(images: Any, pad: int) -> Any:
    """Pad height and width by ``pad`` pixels, repeating the edge pixels (PyTorch "replicate")."""
    if pad == 0:
        return images
    rows = [ops.repeat(images[:, :1], pad, axis=1), images,
            ops.repeat(images[:, -1:], pad, axis=1)]
    images = ops.concatenate(rows, axis=1)
    cols = [ops.repeat(images[:, :, :1], pad, axis=2), images,
            ops.repeat(images[:, :, -1:], pad, axis=2)]
    return ops.concatenate(cols, axis=2)


def _reflect_pad(images: Any, pad: int) -> Any:
    """Pad height and width by ``pad`` pixels, mirroring without repeating the edge (TensorFlow
    "REFLECT")."""
    rows = [ops.flip(images[:, 1:pad + 1], axis=1), images,
            ops.flip(images[:, -pad - 1:-1], axis=1)]
    images = ops.concatenate(rows, axis=1)
    cols = [ops.flip(images[:, :, 1:pad + 1], axis=2), images,
            ops.flip(images[:, :, -pad - 1:-1], axis=2)]
    return ops.concatenate(cols, axis=2)


def _pad_to_even(images: Any) -> Any:
    """Repeat the last row / column where height / width is odd (tf "SYMMETRIC" padding of 1 at
    the end, as tf.image.ssim_multiscale does before each 2x2 pooling)."""
    if images.shape[1] % 2:
        images = ops.concatenate([images, images[:, -1:]], axis=1)
    if images.shape[2] % 2:
        images = ops.concatenate([images, images[:, :, -1:]], axis=2)
    return images


def _frobenius_norm(tensor: Any) -> Any:
    """Norm over the last axis with Faceswap's epsilon under the root, keeping the axis."""
    return ops.sqrt(ops.sum(ops.square(tensor), axis=-1, keepdims=True) + _FROBENIUS_EPSILON)


def _matmul_channels(images: Any, matrix: np.ndarray) -> Any:
    """Apply a 3x3 colour matrix to the channel vector of every pixel."""
    matrix = ops.convert_to_tensor(matrix.T.astype("float32"), dtype=images.dtype)
    return ops.matmul(images, matrix)


def _srgb_to_ycxcz(images: Any) -> Any:
    """sRGB in [0, 1] → linear RGB → XYZ → YCxCz (D65)."""
    limit = 0.04045
    linear = ops.where(images > limit,
                       ops.power((ops.maximum(images, limit) + 0.055) / 1.055, 2.4),
                       images / 12.92)
    xyz = _matmul_channels(linear, _RGB_TO_XYZ)
    xyz = xyz * ops.convert_to_tensor((1.0 / _D65_WHITE).astype("float32"), dtype=xyz.dtype)
    y_channel = 116.0 * xyz[..., 1:2] - 16.0
    cx_channel = 500.0 * (xyz[..., 0:1] - xyz[..., 1:2])
    cz_channel = 200.0 * (xyz[..., 1:2] - xyz[..., 2:3])
    return ops.concatenate([y_channel, cx_channel, cz_channel], axis=-1)


def _ycxcz_to_linear_rgb(images: Any) -> Any:
    """YCxCz → XYZ → linear RGB (D65)."""
    y_channel = (images[..., 0:1] + 16.0) / 116.0
    x_channel = y_channel + images[..., 1:2] / 500.0
    z_channel = y_channel - images[..., 2:3] / 200.0
    xyz = ops.concatenate([x_channel, y_channel, z_channel], axis=-1)
    xyz = xyz * ops.convert_to_tensor(_D65_WHITE.astype("float32"), dtype=xyz.dtype)
    return _matmul_channels(xyz, _XYZ_TO_RGB)


def _linear_rgb_to_lab(images: Any) -> Any:
    """Linear RGB → XYZ → CIE L*a*b* (D65)."""
    xyz = _matmul_channels(images, _RGB_TO_XYZ)
    xyz = xyz * ops.convert_to_tensor((1.0 / _D65_WHITE).astype("float32"), dtype=xyz.dtype)
    delta = 6.0 / 29.0
    delta_cube = delta ** 3
    # The clamp keeps the cube root's gradient finite in the branch that `where` discards.
    xyz = ops.where(xyz > delta_cube,
                    ops.power(ops.maximum(xyz, delta_cube), 1.0 / 3.0),
                    xyz / (3.0 * delta ** 2) + 4.0 / 29.0)
    lightness = 116.0 * xyz[..., 1:2] - 16.0
    a_channel = 500.0 * (xyz[..., 0:1] - xyz[..., 1:2])
    b_channel = 200.0 * (xyz[..., 1:2] - xyz[..., 2:3])
    return ops.concatenate([lightness, a_channel, b_channel], axis=-1)


def _hunt_adjust(lab: Any) -> Any:
    """Hunt effect: scale a* and b* by ``0.01 L*``."""
    lightness = lab[..., 0:1]
    return ops.concatenate([lightness, 0.01 * lightness * lab[..., 1:3]], axis=-1)


def _hyab(reference: Any, test: Any) -> Any:
    """HyAB distance ``|ΔL| + ||(Δa, Δb)||`` per pixel, ``(..., 1)``."""
    delta = reference - test
    return ops.abs(delta[..., 0:1]) + _frobenius_norm(delta[..., 1:3])


@register_serializable()
class DSSIMObjective(keras.losses.Loss):
    """Structural dissimilarity: ``(1 - SSIM) / 2``.

    SSIM compares local luminance, contrast and structure inside a Gaussian window that slides
    over each channel with *valid* padding (the window of ``tf.image.ssim``: a softmax of
    ``-0.5 (x_i² + x_j²) / filter_sigma²`` on a ``filter_size`` grid centred at 0, compensation
    1.0). With ``c1 = (k_1 max_value)²`` and ``c2 = (k_2 max_value)²``::

        luminance = (2 μt μp + c1) / (μt² + μp² + c1)
        cs        = (2 σtp + c2) / (σt² + σp² + c2)
        SSIM      = spatial mean of luminance · cs, per image and channel

    Parameters
    ----------
    k_1
        Luminance stabiliser. Default: 0.01.
    k_2
        Contrast stabiliser. Default: 0.03.
    filter_size
        Side of the Gaussian window. Images must be at least this large. Default: 11.
    filter_sigma
        Standard deviation of the Gaussian window. Default: 1.5.
    max_value
        Dynamic range of the images. Default: 1.0.
    name
        Name of the loss. Default: ``"DSSIMObjective"``.
    reduction
        Keras reduction of the ``call`` output. Default: ``"sum_over_batch_size"`` (the mean).
    dtype
        Dtype of the loss computation. Default: ``None`` (``keras.config.floatx()``, float32,
        also under a mixed precision policy).

    Notes
    -----
    ``call(y_true, y_pred)`` takes two ``(N, H, W, C)`` images and returns ``(1 - SSIM) / 2`` of
    shape ``(N, C)``; its mean is Faceswap's scalar.

    Examples
    --------
    >>> import numpy as np
    >>> images = np.random.rand(2, 32, 32, 3).astype("float32")
    >>> float(DSSIMObjective()(images, images))
    0.0

    References
    ----------
    Wang, Bovik, Sheikh and Simoncelli, "Image quality assessment: from error visibility to
    structural similarity", IEEE TIP 13(4), 2004.
    """

    def __init__(self, k_1: float = 0.01, k_2: float = 0.03, filter_size: int = 11,
                 filter_sigma: float = 1.5, max_value: float = 1.0,
                 name: str = "DSSIMObjective",
                 reduction: Reduction = "sum_over_batch_size",
                 dtype: Any = None) -> None:
        k_1 = _check_number("k_1", k_1, inclusive=True)
        k_2 = _check_number("k_2", k_2, inclusive=True)
        filter_size = _check_positive_int("filter_size", filter_size)
        filter_sigma = _check_number("filter_sigma", filter_sigma)
        max_value = _check_number("max_value", max_value)
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.k_1 = k_1
        self.k_2 = k_2
        self.filter_size = filter_size
        self.filter_sigma = filter_sigma
        self.max_value = max_value
        self._c1 = (k_1 * max_value) ** 2
        self._c2 = (k_2 * max_value) ** 2
        self._window = _gaussian_window(filter_size, filter_sigma)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        _check_rank4(self, y_true)
        ssim, _ = _ssim_per_channel(y_true, y_pred, self._window, self._c1, self._c2)
        return (1.0 - ssim) / 2.0

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "dtype": self.dtype, "k_1": self.k_1, "k_2": self.k_2,
                "filter_size": self.filter_size, "filter_sigma": self.filter_sigma,
                "max_value": self.max_value}


@register_serializable()
class MSSIMLoss(keras.losses.Loss):
    """Multi-scale SSIM loss: ``1 - MS-SSIM``.

    A ``keras.ops`` port of ``tf.image.ssim_multiscale`` (which Faceswap calls). At each of
    ``len(power_factors)`` scales the SSIM and contrast-structure terms are computed as in
    :class:`DSSIMObjective` (same window, valid padding) and averaged over height and width;
    between scales both images are padded to an even size by repeating their last row / column
    and halved by 2x2 average pooling. The ``relu`` of the contrast-structure values of all but
    the last scale and of the last scale's SSIM are raised to their power factors and multiplied;
    MS-SSIM is the mean of that product over the channels.

    The window side is ``min(filter_size, H // 2 ** (len(power_factors) - 1))`` so it fits the
    smallest scale (4 for 64 px images), as in Faceswap.

    Parameters
    ----------
    k_1
        Luminance stabiliser. Default: 0.01.
    k_2
        Contrast stabiliser. Default: 0.03.
    filter_size
        Largest side of the Gaussian window. Default: 11.
    filter_sigma
        Standard deviation of the Gaussian window. Default: 1.5.
    max_value
        Dynamic range of the images. Default: 1.0.
    power_factors
        The weight of each scale, finest first. Default: ``(0.0448, 0.2856, 0.3001, 0.2363,
        0.1333)`` (Wang et al.).
    name
        Name of the loss. Default: ``"MSSIMLoss"``.
    reduction
        Keras reduction of the ``call`` output. Default: ``"sum_over_batch_size"`` (the mean).
    dtype
        Dtype of the loss computation. Default: ``None`` (``keras.config.floatx()``, float32,
        also under a mixed precision policy).

    Notes
    -----
    ``call(y_true, y_pred)`` takes two ``(N, H, W, C)`` images with static height and width and
    returns ``1 - MS-SSIM`` of shape ``(N,)``.

    Examples
    --------
    >>> import numpy as np
    >>> images = np.random.rand(2, 64, 64, 3).astype("float32")
    >>> round(float(MSSIMLoss()(images, images)), 6)
    0.0

    References
    ----------
    Wang, Simoncelli and Bovik, "Multiscale structural similarity for image quality assessment",
    Asilomar Conference on Signals, Systems and Computers, 2003.
    """

    def __init__(self, k_1: float = 0.01, k_2: float = 0.03, filter_size: int = 11,
                 filter_sigma: float = 1.5, max_value: float = 1.0,
                 power_factors: Sequence[float] = _MSSSIM_WEIGHTS,
                 name: str = "MSSIMLoss",
                 reduction: Reduction = "sum_over_batch_size",
                 dtype: Any = None) -> None:
        k_1 = _check_number("k_1", k_1, inclusive=True)
        k_2 = _check_number("k_2", k_2, inclusive=True)
        filter_size = _check_positive_int("filter_size", filter_size)
        filter_sigma = _check_number("filter_sigma", filter_sigma)
        max_value = _check_number("max_value", max_value)
        if (isinstance(power_factors, (str, bytes)) or not isinstance(power_factors, Sequence)
                or not power_factors or not all(_is_number(val) for val in power_factors)):
            raise ValueError("`power_factors` must be a non-empty sequence of numbers. "
                             f"Received: power_factors={power_factors!r}")
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.k_1 = k_1
        self.k_2 = k_2
        self.filter_size = filter_size
        self.filter_sigma = filter_sigma
        self.max_value = max_value
        self.power_factors = tuple(float(val) for val in power_factors)
        self._c1 = (k_1 * max_value) ** 2
        self._c2 = (k_2 * max_value) ** 2
        # The window side depends on the image size, so build every candidate once here.
        self._windows = {size: _gaussian_window(size, filter_sigma)
                         for size in range(1, filter_size + 1)}

    def call(self, y_true: Any, y_pred: Any) -> Any:
        _check_rank4(self, y_true)
        height, width = y_true.shape[1], y_true.shape[2]
        if height is None or width is None:
            raise ValueError("MSSIMLoss needs images with a static height and width. Received a "
                             f"tensor of shape {tuple(y_true.shape)}")
        num_scales = len(self.power_factors)
        filter_size = min(self.filter_size, height // 2 ** (num_scales - 1))
        if filter_size < 1:
            raise ValueError(
                f"MSSIMLoss with {num_scales} scales needs images of at least "
                f"{2 ** (num_scales - 1)} pixels. Received images of shape "
                f"{tuple(y_true.shape)}")
        window = self._windows[filter_size]

        contrasts = []
        for scale in range(num_scales):
            if scale > 0:
                y_true = ops.average_pool(_pad_to_even(y_true), 2, strides=2, padding="valid")
                y_pred = ops.average_pool(_pad_to_even(y_pred), 2, strides=2, padding="valid")
            ssim, contrast = _ssim_per_channel(y_true, y_pred, window, self._c1, self._c2)
            contrasts.append(ops.relu(contrast))
        # The last scale contributes its full SSIM instead of its contrast-structure term.
        values = ops.stack(contrasts[:-1] + [ops.relu(ssim)], axis=-1)
        factors = ops.convert_to_tensor(np.array(self.power_factors, dtype="float32"),
                                        dtype=values.dtype)
        ms_ssim = ops.mean(ops.prod(ops.power(values, factors), axis=-1), axis=-1)
        return 1.0 - ms_ssim

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "dtype": self.dtype, "k_1": self.k_1, "k_2": self.k_2,
                "filter_size": self.filter_size, "filter_sigma": self.filter_sigma,
                "max_value": self.max_value, "power_factors": list(self.power_factors)}


@register_serializable()
class GMSDLoss(keras.losses.Loss):
    """Gradient Magnitude Similarity Deviation.

    Each channel is reflect-padded by 2 pixels and correlated with two 5x5 modified Scharr
    kernels (vertical gradient and its transpose, the horizontal gradient), giving ``2C`` signed
    edge maps ordered ``[c0 vertical, c0 horizontal, c1 vertical, ...]``. The similarity map
    ``gms = (2 e_t e_p + 0.0025) / (e_t² + e_p² + 0.0025)`` is computed on the signed responses
    and the loss is its (population) standard deviation over height, width and all ``2C`` maps.

    Parameters
    ----------
    name
        Name of the loss. Default: ``"GMSDLoss"``.
    reduction
        Keras reduction of the ``call`` output. Default: ``"sum_over_batch_size"`` (the mean).
    dtype
        Dtype of the loss computation. Default: ``None`` (``keras.config.floatx()``, float32,
        also under a mixed precision policy).

    Notes
    -----
    ``call(y_true, y_pred)`` takes two ``(N, H, W, C)`` images (``H, W >= 3``) and returns the
    deviation of shape ``(N, 1, 1)``.

    Examples
    --------
    >>> import numpy as np
    >>> images = np.random.rand(2, 32, 32, 3).astype("float32")
    >>> float(GMSDLoss()(images, images))
    0.0

    References
    ----------
    Xue, Zhang, Mou and Bovik, "Gradient Magnitude Similarity Deviation: A Highly Efficient
    Perceptual Image Quality Index", IEEE TIP 23(2), 2014.
    """

    def __init__(self, name: str = "GMSDLoss",
                 reduction: Reduction = "sum_over_batch_size",
                 dtype: Any = None) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self._kernel = np.stack([_GMSD_KERNEL, _GMSD_KERNEL.T], axis=-1)[:, :, None, :]

    def _edges(self, images: Any) -> Any:
        return _depthwise(_reflect_pad(images, 2), self._kernel)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        _check_rank4(self, y_true)
        true_edges = self._edges(y_true)
        pred_edges = self._edges(y_pred)
        upper = 2.0 * true_edges * pred_edges
        lower = ops.square(true_edges) + ops.square(pred_edges)
        gms = (upper + _GMSD_CONSTANT) / (lower + _GMSD_CONSTANT)
        return ops.std(gms, axis=(1, 2, 3))[:, None, None]

    def get_config(self) -> dict[str, Any]:
        # GMSD has no parameters of its own.
        return {**super().get_config(), "dtype": self.dtype}


@register_serializable()
class LDRFLIPLoss(keras.losses.Loss):
    """NVIDIA's FLIP image difference for low dynamic range images, as a loss.

    Both images are put in RGB order, clipped to ``[0, 1]`` and converted from sRGB to the
    opponent space YCxCz. Two error terms follow:

    * **colour**: each opponent channel is filtered with its contrast sensitivity function
      (replicate padding), the result converted to linear RGB, clipped to ``[0, 1]``, converted
      to L*a*b* and Hunt-adjusted (``a, b *= 0.01 L``); the HyAB distance of the two images is
      raised to ``computed_distance_exponent`` and redistributed to ``[0, 1]`` around
      ``pc · cmax`` (``cmax`` = the same distance between pure green and pure blue, ``pc =
      lower_threshold_exponent``, ``pt = upper_threshold_exponent``);
    * **feature**: edge and point detectors (first and second derivatives of a Gaussian with
      ``σ = 0.5 · 0.082 · pixels_per_degree``, positive and negative weights normalised to ±1)
      are applied to ``(Y + 16) / 116``; the larger difference of the edge and point magnitudes,
      floored at ``epsilon``, gives ``ΔE_f = (Δ / √2) ^ feature_exponent``.

    The loss map is ``ΔE_color ^ (1 - ΔE_f)``.

    Parameters
    ----------
    computed_distance_exponent
        Exponent of the HyAB distance (``qc``). Default: 0.7.
    feature_exponent
        Exponent of the feature difference (``qf``). Default: 0.5.
    lower_threshold_exponent
        ``pc``: the fraction of ``cmax`` below which errors map linearly to ``[0, pt]``.
        Default: 0.4.
    upper_threshold_exponent
        ``pt``: the error value at ``pc · cmax``. Default: 0.95.
    epsilon
        Floor of the feature difference, for stable training. Default: 1e-15.
    pixels_per_degree
        Observer's pixels per degree of visual angle. ``None`` (the default) gives FLIP's
        default observer, a 0.7 m wide 4K monitor at 0.7 m: ``3840 π / 180`` (about 67.02).
    color_order
        Channel order of the images, ``"bgr"`` (Faceswap's default) or ``"rgb"``.
    name
        Name of the loss. Default: ``"LDRFLIPLoss"``.
    reduction
        Keras reduction of the ``call`` output. Default: ``"sum_over_batch_size"`` (the mean).
    dtype
        Dtype of the loss computation. Default: ``None`` (``keras.config.floatx()``, float32,
        also under a mixed precision policy).

    Notes
    -----
    ``call(y_true, y_pred)`` takes two ``(N, H, W, 3)`` images (``y_true`` is FLIP's reference,
    ``y_pred`` its test image) and returns the error map of shape ``(N, H, W, 1)``. Identical
    images give about 3e-7 everywhere, not 0: the HyAB norm keeps ``epsilon = 1e-15`` under its
    square root, as Faceswap's ``frobenius_norm`` does.

    Examples
    --------
    >>> import numpy as np
    >>> images = np.random.rand(2, 32, 32, 3).astype("float32")
    >>> float(LDRFLIPLoss()(images, images)) < 1e-6
    True

    References
    ----------
    Andersson, Nilsson, Akenine-Möller, Oskarsson, Åström and Fairchild, "FLIP: A Difference
    Evaluator for Alternating Images", Proceedings of the ACM on Computer Graphics and
    Interactive Techniques 3(2), 2020.
    """

    def __init__(self, computed_distance_exponent: float = 0.7, feature_exponent: float = 0.5,
                 lower_threshold_exponent: float = 0.4, upper_threshold_exponent: float = 0.95,
                 epsilon: float = 1e-15, pixels_per_degree: float | None = None,
                 color_order: Literal["bgr", "rgb"] = "bgr", name: str = "LDRFLIPLoss",
                 reduction: Reduction = "sum_over_batch_size",
                 dtype: Any = None) -> None:
        computed_distance_exponent = _check_number("computed_distance_exponent",
                                                   computed_distance_exponent)
        feature_exponent = _check_number("feature_exponent", feature_exponent)
        lower_threshold_exponent = _check_number("lower_threshold_exponent",
                                                 lower_threshold_exponent)
        upper_threshold_exponent = _check_number("upper_threshold_exponent",
                                                 upper_threshold_exponent)
        if lower_threshold_exponent >= 1.0 or upper_threshold_exponent >= 1.0:
            raise ValueError(
                "`lower_threshold_exponent` and `upper_threshold_exponent` must be below 1. "
                f"Received: lower_threshold_exponent={lower_threshold_exponent!r}, "
                f"upper_threshold_exponent={upper_threshold_exponent!r}")
        epsilon = _check_number("epsilon", epsilon)
        if pixels_per_degree is not None:
            pixels_per_degree = _check_number("pixels_per_degree", pixels_per_degree)
        if color_order not in ("bgr", "rgb"):
            raise ValueError("`color_order` must be one of ['bgr', 'rgb']. "
                             f"Received: color_order={color_order!r}")
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.computed_distance_exponent = computed_distance_exponent
        self.feature_exponent = feature_exponent
        self.lower_threshold_exponent = lower_threshold_exponent
        self.upper_threshold_exponent = upper_threshold_exponent
        self.epsilon = epsilon
        self.pixels_per_degree = pixels_per_degree
        self.color_order = color_order

        ppd = 3840.0 * math.pi / 180.0 if pixels_per_degree is None else pixels_per_degree
        self._csf_kernel, self._csf_radius = self._csf_filters(ppd)
        self._feature_kernel, self._feature_radius = self._feature_filters(ppd)
        self._cmax = self._max_color_distance()

    @staticmethod
    def _csf_filters(ppd: float) -> tuple[np.ndarray, int]:
        """Depthwise ``(k, k, 3, 1)`` contrast sensitivity filters for Y, Cx, Cz; their radius."""
        max_scale = max(value for params in _FLIP_CSF.values() for value in params[1::2])
        radius = int(np.ceil(3.0 * np.sqrt(max_scale / (2.0 * np.pi ** 2)) * ppd))
        grid = np.arange(-radius, radius + 1) / ppd
        domain = grid[None, :] ** 2 + grid[:, None] ** 2
        filters = []
        for a_1, b_1, a_2, b_2 in (_FLIP_CSF["A"], _FLIP_CSF["RG"], _FLIP_CSF["BY"]):
            weights = (a_1 * np.sqrt(np.pi / b_1) * np.exp(-np.pi ** 2 * domain / b_1)
                       + a_2 * np.sqrt(np.pi / b_2) * np.exp(-np.pi ** 2 * domain / b_2))
            filters.append(weights / weights.sum())
        return np.stack(filters, axis=-1)[:, :, :, None].astype("float32"), radius

    @staticmethod
    def _feature_filters(ppd: float) -> tuple[np.ndarray, int]:
        """``(k, k, 1, 4)`` kernel: edge x, edge y, point x, point y detectors; their radius."""
        sigma = 0.5 * _FLIP_FEATURE_WIDTH * ppd
        radius = int(np.ceil(3.0 * sigma))
        coords = np.arange(-radius, radius + 1, dtype="float64")
        x_grid = np.broadcast_to(coords[None, :], (coords.size, coords.size))
        gaussian = np.exp(-(x_grid ** 2 + x_grid.T ** 2) / (2.0 * sigma ** 2))
        kernels = []
        for detector in (-x_grid * gaussian, (x_grid ** 2 / sigma ** 2 - 1.0) * gaussian):
            # Positive weights sum to 1 and negative ones to -1, so flat regions give 0.
            detector = np.where(detector < 0,
                                detector / -detector[detector < 0].sum(),
                                detector / detector[detector > 0].sum())
            kernels.extend([detector, detector.T])
        return np.stack(kernels, axis=-1)[:, :, None, :].astype("float32"), radius

    def _max_color_distance(self) -> float:
        """``cmax``: the redistributed-distance scale, from pure green to pure blue."""
        green_blue = np.array([[[[0.0, 1.0, 0.0]], [[0.0, 0.0, 1.0]]]], dtype="float32")
        lab = _hunt_adjust(_linear_rgb_to_lab(ops.convert_to_tensor(green_blue)))
        distance = _hyab(lab[:, 0:1], lab[:, 1:2])
        return float(ops.convert_to_numpy(distance).item()) ** self.computed_distance_exponent

    def _color_error(self, y_true: Any, y_pred: Any) -> Any:
        """Redistributed HyAB distance of the CSF-filtered images, ``(N, H, W, 1)``."""
        labs = []
        for image in (y_true, y_pred):
            filtered = _depthwise(_replicate_pad(image, self._csf_radius), self._csf_kernel)
            linear = ops.clip(_ycxcz_to_linear_rgb(filtered), 0.0, 1.0)
            labs.append(_hunt_adjust(_linear_rgb_to_lab(linear)))
        distance = ops.power(_hyab(labs[0], labs[1]), self.computed_distance_exponent)

        cmax = self._cmax
        pccmax = self.lower_threshold_exponent * cmax
        upper = self.upper_threshold_exponent
        return ops.where(distance < pccmax,
                         (upper / pccmax) * distance,
                         upper + ((distance - pccmax) / (cmax - pccmax)) * (1.0 - upper))

    def _feature_error(self, y_true: Any, y_pred: Any) -> Any:
        """``ΔE_f``: the larger of the edge and point magnitude differences, ``(N, H, W, 1)``."""
        features = []
        for image in (y_true, y_pred):
            achromatic = (image[..., 0:1] + 16.0) / 116.0
            padded = _replicate_pad(achromatic, self._feature_radius)
            kernel = ops.convert_to_tensor(self._feature_kernel, dtype=image.dtype)
            features.append(ops.conv(padded, kernel, strides=1, padding="valid"))
        true_features, pred_features = features
        edges = ops.abs(_frobenius_norm(true_features[..., 0:2])
                        - _frobenius_norm(pred_features[..., 0:2]))
        points = ops.abs(_frobenius_norm(pred_features[..., 2:4])
                         - _frobenius_norm(true_features[..., 2:4]))
        difference = ops.maximum(ops.maximum(edges, points), self.epsilon)
        return ops.power(difference / math.sqrt(2.0), self.feature_exponent)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        _check_rank4(self, y_true)
        y_true, y_pred = y_true[..., :3], y_pred[..., :3]
        if self.color_order == "bgr":
            y_true = ops.flip(y_true, axis=-1)
            y_pred = ops.flip(y_pred, axis=-1)
        y_true = _srgb_to_ycxcz(ops.clip(y_true, 0.0, 1.0))
        y_pred = _srgb_to_ycxcz(ops.clip(y_pred, 0.0, 1.0))
        color_error = self._color_error(y_true, y_pred)
        feature_error = self._feature_error(y_true, y_pred)
        return ops.power(color_error, 1.0 - feature_error)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "dtype": self.dtype,
                "computed_distance_exponent": self.computed_distance_exponent,
                "feature_exponent": self.feature_exponent,
                "lower_threshold_exponent": self.lower_threshold_exponent,
                "upper_threshold_exponent": self.upper_threshold_exponent,
                "epsilon": self.epsilon,
                "pixels_per_degree": self.pixels_per_degree,
                "color_order": self.color_order}
