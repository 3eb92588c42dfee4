"""Pixel, gradient, pyramid and frequency losses, and the masking :class:`LossWrapper`.

Every loss is a registered :class:`keras.losses.Loss`: ``call(y_true, y_pred)`` returns the
unreduced loss map and the base class reduces it (by default to the mean over every element, as
Keras reduced Faceswap's loss functions). Inputs are channels-last ``(N, H, W, C)`` images. The
base class casts both inputs to the loss dtype (``float32`` unless ``dtype`` says otherwise), so
the maths stays in ``float32`` under a mixed precision policy.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
from keras import ops

from lib.registry import register_serializable

__all__ = [
    "FocalFrequencyLoss",
    "GeneralizedLoss",
    "GradientLoss",
    "LInfNorm",
    "LaplacianPyramidLoss",
    "LossWrapper",
]


def _check_rank4(y_true: Any, y_pred: Any, name: str) -> None:
    """Raise if either input is not a rank 4 ``(N, H, W, C)`` tensor."""
    for label, tensor in (("y_true", y_true), ("y_pred", y_pred)):
        if len(tensor.shape) != 4:
            raise ValueError(f"`{name}` expects rank 4 (N, H, W, C) inputs. Received: "
                             f"{label}.shape={tuple(tensor.shape)}")


def _replicate_pad(inputs: Any, pad: int) -> Any:
    """Pad H and W of an NHWC tensor by ``pad`` copies of the edge pixels (replicate padding).

    Built from slices because TensorFlow's ``pad`` has no ``edge`` mode.
    """
    if pad == 0:
        return inputs
    top = ops.repeat(inputs[:, :1], pad, axis=1)
    bottom = ops.repeat(inputs[:, -1:], pad, axis=1)
    padded = ops.concatenate([top, inputs, bottom], axis=1)
    left = ops.repeat(padded[:, :, :1], pad, axis=2)
    right = ops.repeat(padded[:, :, -1:], pad, axis=2)
    return ops.concatenate([left, padded, right], axis=2)


class _FaceswapLoss(keras.losses.Loss):
    """Shared constructor plumbing: ``name``, ``reduction`` and ``dtype`` in the config."""

    def __init__(self, name: str, reduction: str | None, dtype: Any) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "dtype": self.dtype}


@register_serializable()
class GeneralizedLoss(_FaceswapLoss):
    """Generalized robust loss (Barron), a smooth blend between L1 and L2 ("smooth_loss").

    With ``d = y_pred - y_true`` each element is::

        L = abs(2 - alpha) / alpha * (((d / beta) ** 2 / abs(2 - alpha) + 1) ** (alpha / 2) - 1)

    then the mean over channels is taken and multiplied by ``beta``.

    Parameters
    ----------
    alpha
        Shape of the loss: 1.0 is a smoothed L1 (pseudo-Huber), values near 2 approach L2. Must
        not be 0 or 2 (the formula divides by both).
    beta
        Scale of the residual below which the loss is quadratic. Must be positive.
    name, reduction, dtype
        As for :class:`keras.losses.Loss`.

    Call arguments: ``y_true`` and ``y_pred``, ``(N, H, W, C)``. ``call`` returns ``(N, H, W)``.

    Examples
    --------
    >>> loss = GeneralizedLoss()
    >>> value = loss(np.zeros((1, 4, 4, 3)), np.full((1, 4, 4, 3), 0.5))

    References
    ----------
    J. T. Barron, "A General and Adaptive Robust Loss Function", CVPR 2019.
    https://arxiv.org/abs/1701.03077
    """

    def __init__(self,
                 alpha: float = 1.0,
                 beta: float = 1.0 / 255.0,
                 name: str = "GeneralizedLoss",
                 reduction: str | None = "sum_over_batch_size",
                 dtype: Any = None) -> None:
        alpha = float(alpha)
        beta = float(beta)
        if alpha in (0.0, 2.0):
            raise ValueError(f"`alpha` must not be 0 or 2 (the formula divides by `alpha` and "
                             f"by `abs(2 - alpha)`). Received: alpha={alpha}")
        if beta <= 0.0:
            raise ValueError(f"`beta` must be positive. Received: beta={beta}")
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.alpha = alpha
        self.beta = beta

    def call(self, y_true: Any, y_pred: Any) -> Any:
        abs_2_alpha = abs(2.0 - self.alpha)
        scaled = ops.square((y_pred - y_true) / self.beta) / abs_2_alpha
        loss = (abs_2_alpha / self.alpha) * (ops.power(scaled + 1.0, self.alpha / 2.0) - 1.0)
        return ops.mean(loss, axis=-1) * self.beta

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "alpha": self.alpha, "beta": self.beta}


@register_serializable()
class GradientLoss(_FaceswapLoss):
    """Difference of the first and second image derivatives ("pixel_gradient_diff").

    The image is edge-clamped (an index outside the image reads the nearest edge pixel, i.e.
    replicate padding of 1) and, along the width axis ``x`` (axis 2) and the height axis ``y``
    (axis 1), with ``I[i, j]`` the pixel in row ``i`` and column ``j``::

        dx  = 0.5  * (I[i, j+1] - I[i, j-1])
        dy  = 0.5  * (I[i+1, j] - I[i-1, j])
        dxx = I[i, j+1] + I[i, j-1] - 2 * I[i, j]
        dyy = I[i+1, j] + I[i-1, j] - 2 * I[i, j]
        dxy = 0.25 * (I[i+1, j+1] - I[i+1, j-1] - I[i-1, j+1] + I[i-1, j-1])

    On the first and last column ``dx`` is therefore the one-sided difference halved, as in
    Faceswap. With ``GL`` a :class:`GeneralizedLoss` with ``alpha=1.9999`` (and the default
    ``beta``) applied to the derivative of ``y_true`` and of ``y_pred``, the loss is::

        ([GL(dx) + GL(dy)] + [GL(dxx) + GL(dyy) + 2 * GL(dxy)]) / 2

    (total variation and second order weights of 1 each). ``call`` returns this per pixel,
    ``(N, H, W)``; its mean is Faceswap's value, the sum of the means of the ``GL`` terms / 2.

    Faceswap compat: Faceswap builds both halves of its cross derivative from the same tensors, so
    its ``dxy`` is always zero and the ``2 * GL(dxy)`` term vanishes. This class uses the
    intended cross derivative above, so its values differ from Faceswap's by that term.

    Parameters
    ----------
    name, reduction, dtype
        As for :class:`keras.losses.Loss`.

    Call arguments: ``y_true`` and ``y_pred``, ``(N, H, W, C)``.

    Examples
    --------
    >>> loss = GradientLoss()
    >>> value = loss(np.zeros((1, 8, 8, 3)), np.random.rand(1, 8, 8, 3))
    """

    def __init__(self,
                 name: str = "GradientLoss",
                 reduction: str | None = "sum_over_batch_size",
                 dtype: Any = None) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self._generalized = GeneralizedLoss(alpha=1.9999, reduction="none", dtype=dtype)
        self._tv_weight = 1.0
        self._tv2_weight = 1.0

    @staticmethod
    def _derivatives(images: Any) -> tuple[Any, Any, Any, Any, Any]:
        """``dx, dy, dxx, dyy, dxy`` of an NHWC tensor with edge clamping."""
        padded = _replicate_pad(images, 1)
        right = padded[:, 1:-1, 2:]
        left = padded[:, 1:-1, :-2]
        below = padded[:, 2:, 1:-1]
        above = padded[:, :-2, 1:-1]
        d_x = 0.5 * (right - left)
        d_y = 0.5 * (below - above)
        d_xx = right + left - 2.0 * images
        d_yy = below + above - 2.0 * images
        d_xy = 0.25 * (padded[:, 2:, 2:] - padded[:, 2:, :-2]
                       - padded[:, :-2, 2:] + padded[:, :-2, :-2])
        return d_x, d_y, d_xx, d_yy, d_xy

    def call(self, y_true: Any, y_pred: Any) -> Any:
        _check_rank4(y_true, y_pred, type(self).__name__)
        t_x, t_y, t_xx, t_yy, t_xy = self._derivatives(y_true)
        p_x, p_y, p_xx, p_yy, p_xy = self._derivatives(y_pred)
        gen = self._generalized.call
        first = gen(t_x, p_x) + gen(t_y, p_y)
        second = gen(t_xx, p_xx) + gen(t_yy, p_yy) + 2.0 * gen(t_xy, p_xy)
        loss = self._tv_weight * first + self._tv2_weight * second
        return loss / (self._tv_weight + self._tv2_weight)


@register_serializable()
class LaplacianPyramidLoss(_FaceswapLoss):
    """Weighted L1 distance between the Laplacian pyramids of two images ("laploss").

    Each channel is blurred with a normalised ``gaussian_size`` x ``gaussian_size`` Gaussian
    (``x = linspace(-(size // 2), size // 2, size) / (sqrt(2) * sigma)``,
    ``k[i, j] = exp(-x[i]**2 - x[j]**2) / sum``) after replicate padding of ``size // 2``. For
    each of ``max_levels`` levels the pyramid keeps ``current - blur(current)`` and continues
    with the 2x2 average pool of ``blur(current)``; the last ``current`` is the final level. The
    loss is ``sum_l 2**(-2 l) * mean(abs(pyr_pred[l] - pyr_true[l]))``.

    ``call`` returns one value per sample, ``(N,)``; their mean is Faceswap's scalar (Faceswap
    averaged each level over the batch as well, which gives the same number).

    Parameters
    ----------
    max_levels
        Number of band-pass levels; the pyramid has ``max_levels + 1`` levels. Height and width
        must be at least ``2 ** max_levels``.
    gaussian_size
        Width of the (square) Gaussian kernel; a positive odd number.
    gaussian_sigma
        Standard deviation of the Gaussian, in pixels; positive.
    name, reduction, dtype
        As for :class:`keras.losses.Loss`.

    Call arguments: ``y_true`` and ``y_pred``, ``(N, H, W, C)``.

    Examples
    --------
    >>> loss = LaplacianPyramidLoss(max_levels=3)
    >>> value = loss(np.zeros((1, 16, 16, 3)), np.random.rand(1, 16, 16, 3))

    References
    ----------
    P. Bojanowski et al., "Optimizing the Latent Space of Generative Networks", 2017.
    https://arxiv.org/abs/1707.05776
    """

    def __init__(self,
                 max_levels: int = 5,
                 gaussian_size: int = 5,
                 gaussian_sigma: float = 1.0,
                 name: str = "LaplacianPyramidLoss",
                 reduction: str | None = "sum_over_batch_size",
                 dtype: Any = None) -> None:
        if isinstance(max_levels, bool) or not isinstance(max_levels, int) or max_levels < 0:
            raise ValueError(f"`max_levels` must be a non-negative integer. Received: "
                             f"max_levels={max_levels!r}")
        if (isinstance(gaussian_size, bool) or not isinstance(gaussian_size, int)
                or gaussian_size < 1 or gaussian_size % 2 == 0):
            raise ValueError(f"`gaussian_size` must be a positive odd integer. Received: "
                             f"gaussian_size={gaussian_size!r}")
        gaussian_sigma = float(gaussian_sigma)
        if gaussian_sigma <= 0.0:
            raise ValueError(f"`gaussian_sigma` must be positive. Received: "
                             f"gaussian_sigma={gaussian_sigma}")
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.max_levels = max_levels
        self.gaussian_size = gaussian_size
        self.gaussian_sigma = gaussian_sigma
        self._weights = [2.0 ** (-2 * level) for level in range(max_levels + 1)]
        self._kernel = self._gaussian_kernel(gaussian_size, gaussian_sigma)

    @staticmethod
    def _gaussian_kernel(size: int, sigma: float) -> np.ndarray:
        """The normalised ``(size, size, 1, 1)`` Gaussian kernel."""
        half = size // 2
        coords = np.linspace(-half, half, size, dtype="float64") / (np.sqrt(2.0) * sigma)
        kernel = np.exp(-coords[:, None] ** 2 - coords[None, :] ** 2)
        kernel /= kernel.sum()
        return kernel.reshape((size, size, 1, 1)).astype("float32")

    def _blur(self, images: Any, kernel: Any) -> Any:
        padded = _replicate_pad(images, self.gaussian_size // 2)
        return ops.depthwise_conv(padded, kernel, strides=1, padding="valid",
                                  data_format="channels_last")

    def _pyramid(self, images: Any, kernel: Any) -> list[Any]:
        pyramid = []
        current = images
        for _ in range(self.max_levels):
            blurred = self._blur(current, kernel)
            pyramid.append(current - blurred)
            current = ops.average_pool(blurred, pool_size=2, strides=2, padding="valid",
                                       data_format="channels_last")
        pyramid.append(current)
        return pyramid

    def call(self, y_true: Any, y_pred: Any) -> Any:
        _check_rank4(y_true, y_pred, type(self).__name__)
        min_size = 2 ** self.max_levels
        for dim in y_pred.shape[1:3]:
            if dim is not None and dim < min_size:
                raise ValueError(
                    f"`LaplacianPyramidLoss` with max_levels={self.max_levels} needs images of "
                    f"at least {min_size}x{min_size} pixels. Received: shape="
                    f"{tuple(y_pred.shape)}")
        channels = y_pred.shape[-1]
        if channels is None:
            raise ValueError("`LaplacianPyramidLoss` needs a known channel dimension. "
                             f"Received: shape={tuple(y_pred.shape)}")
        kernel = ops.tile(ops.convert_to_tensor(self._kernel, dtype=y_pred.dtype),
                          (1, 1, channels, 1))
        pyramid_true = self._pyramid(y_true, kernel)
        pyramid_pred = self._pyramid(y_pred, kernel)
        loss = 0.0
        for weight, level_true, level_pred in zip(self._weights, pyramid_true, pyramid_pred,
                                                  strict=True):
            loss = loss + weight * ops.mean(ops.abs(level_pred - level_true), axis=(1, 2, 3))
        return loss

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(),
                "max_levels": self.max_levels,
                "gaussian_size": self.gaussian_size,
                "gaussian_sigma": self.gaussian_sigma}


@register_serializable()
class LInfNorm(_FaceswapLoss):
    """L-infinity norm: the largest absolute error in each channel, averaged over channels.

    Parameters
    ----------
    name, reduction, dtype
        As for :class:`keras.losses.Loss`.

    Call arguments: ``y_true`` and ``y_pred``, ``(N, H, W, C)``. ``call`` returns
    ``(N, 1, 1)``: ``mean_c(max_{h, w} abs(y_true - y_pred))``.

    Examples
    --------
    >>> loss = LInfNorm()
    >>> value = loss(np.zeros((1, 4, 4, 3)), np.random.rand(1, 4, 4, 3))
    """

    def __init__(self,
                 name: str = "LInfNorm",
                 reduction: str | None = "sum_over_batch_size",
                 dtype: Any = None) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        _check_rank4(y_true, y_pred, type(self).__name__)
        largest = ops.max(ops.abs(y_true - y_pred), axis=(1, 2), keepdims=True)
        return ops.mean(largest, axis=-1)


@register_serializable()
class FocalFrequencyLoss(_FaceswapLoss):
    """Focal Frequency Loss: a weighted distance between 2-D spectra ("ffl").

    The image is cut into ``patch_factor ** 2`` equal patches (row-major). Each patch and channel
    gets an orthonormal 2-D FFT (scaled by ``1 / sqrt(h * w)`` of the patch, as NumPy's and
    PyTorch's ``norm="ortho"``). With ``D`` the complex difference of the spectra of ``y_pred``
    and ``y_true`` (optionally of their batch means, ``ave_spectrum``), the weight is
    ``w = abs(D) ** alpha``, optionally ``log(w + 1)`` (``log_matrix``), divided by its maximum
    floored at ``epsilon`` (over the whole batch if ``batch_matrix``, else over each spatial map
    of one sample, patch and channel) and clipped to ``[0, 1]``. The loss is ``w * abs(D) ** 2``.

    The weight matrix is a constant for back-propagation (``stop_gradient``), as in the paper's
    reference implementation; it also keeps the gradient finite where the spectra agree.

    ``call`` returns the map ``(N, P, h, w, C)`` with ``P = patch_factor ** 2`` and
    ``h, w = H // patch_factor, W // patch_factor`` (``N`` is 1 with ``ave_spectrum``).

    Faceswap compat: the orthonormal scale uses the patch size. For the default ``patch_factor=1``
    that is the image size, as in Faceswap; Faceswap's documentation warns that ``patch_factor``
    above 1 does not work properly there.

    Parameters
    ----------
    alpha
        Exponent of the spectrum weight.
    patch_factor
        Number of patches along each side; must divide the image height and width.
    ave_spectrum
        Compare the batch-mean spectra instead of each sample's.
    log_matrix
        Take ``log(w + 1)`` of the weight before normalising it.
    batch_matrix
        Normalise the weight by its maximum over the whole batch.
    epsilon
        Floor of the normalising maximum; non-negative.
    name, reduction, dtype
        As for :class:`keras.losses.Loss`.

    Call arguments: ``y_true`` and ``y_pred``, ``(N, H, W, C)``.

    Examples
    --------
    >>> loss = FocalFrequencyLoss()
    >>> value = loss(np.zeros((1, 8, 8, 3)), np.random.rand(1, 8, 8, 3))

    References
    ----------
    L. Jiang et al., "Focal Frequency Loss for Image Reconstruction and Synthesis", ICCV 2021.
    https://arxiv.org/abs/2012.12821
    """

    def __init__(self,
                 alpha: float = 1.0,
                 patch_factor: int = 1,
                 ave_spectrum: bool = False,
                 log_matrix: bool = False,
                 batch_matrix: bool = False,
                 epsilon: float = 1e-6,
                 name: str = "FocalFrequencyLoss",
                 reduction: str | None = "sum_over_batch_size",
                 dtype: Any = None) -> None:
        if isinstance(patch_factor, bool) or not isinstance(patch_factor, int) or patch_factor < 1:
            raise ValueError(f"`patch_factor` must be a positive integer. Received: "
                             f"patch_factor={patch_factor!r}")
        epsilon = float(epsilon)
        if epsilon < 0.0:
            raise ValueError(f"`epsilon` must be non-negative. Received: epsilon={epsilon}")
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.alpha = float(alpha)
        self.patch_factor = patch_factor
        self.ave_spectrum = bool(ave_spectrum)
        self.log_matrix = bool(log_matrix)
        self.batch_matrix = bool(batch_matrix)
        self.epsilon = epsilon

    def _patches(self, images: Any) -> Any:
        """``(N, H, W, C)`` -> ``(N, P, h, w, C)``, patches in row-major order."""
        factor = self.patch_factor
        if factor == 1:
            return ops.expand_dims(images, 1)
        _, rows, cols, channels = images.shape
        patch_rows, patch_cols = rows // factor, cols // factor
        patches = ops.reshape(images, (-1, factor, patch_rows, factor, patch_cols, channels))
        patches = ops.transpose(patches, (0, 1, 3, 2, 4, 5))
        return ops.reshape(patches, (-1, factor * factor, patch_rows, patch_cols, channels))

    def _spectrum(self, images: Any) -> tuple[Any, Any]:
        """Real and imaginary parts of the orthonormal FFT of each patch, ``(N, P, h, w, C)``."""
        patches = self._patches(images)
        scale = 1.0 / math.sqrt(patches.shape[2] * patches.shape[3])
        channels_first = ops.transpose(patches, (0, 1, 4, 2, 3)) * scale
        real, imag = ops.fft2((channels_first, ops.zeros_like(channels_first)))
        return ops.transpose(real, (0, 1, 3, 4, 2)), ops.transpose(imag, (0, 1, 3, 4, 2))

    def call(self, y_true: Any, y_pred: Any) -> Any:
        _check_rank4(y_true, y_pred, type(self).__name__)
        rows, cols = y_pred.shape[1:3]
        if rows is None or cols is None:
            raise ValueError(f"`FocalFrequencyLoss` needs a known height and width. Received: "
                             f"shape={tuple(y_pred.shape)}")
        if rows % self.patch_factor or cols % self.patch_factor:
            raise ValueError(
                f"`patch_factor` must divide the image height and width. Received: "
                f"patch_factor={self.patch_factor}, height={rows}, width={cols}")
        true_real, true_imag = self._spectrum(y_true)
        pred_real, pred_imag = self._spectrum(y_pred)
        if self.ave_spectrum:
            true_real = ops.mean(true_real, axis=0, keepdims=True)
            true_imag = ops.mean(true_imag, axis=0, keepdims=True)
            pred_real = ops.mean(pred_real, axis=0, keepdims=True)
            pred_imag = ops.mean(pred_imag, axis=0, keepdims=True)
        distance = ops.square(pred_real - true_real) + ops.square(pred_imag - true_imag)

        weight = ops.power(ops.sqrt(ops.stop_gradient(distance)), self.alpha)
        if self.log_matrix:
            weight = ops.log(weight + 1.0)
        if self.batch_matrix:
            largest = ops.max(weight)
        else:
            largest = ops.max(weight, axis=(2, 3), keepdims=True)
        weight = ops.clip(weight / ops.maximum(largest, self.epsilon), 0.0, 1.0)
        return ops.stop_gradient(weight) * distance

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(),
                "alpha": self.alpha,
                "patch_factor": self.patch_factor,
                "ave_spectrum": self.ave_spectrum,
                "log_matrix": self.log_matrix,
                "batch_matrix": self.batch_matrix,
                "epsilon": self.epsilon}


@register_serializable()
class LossWrapper(keras.losses.Loss):
    """A weighted sum of losses, each optionally computed on a masked copy of the images.

    ``y_true`` carries the 3 image channels followed by ``M`` mask channels; ``y_pred`` the 3
    image channels. For each loss added with :meth:`add_loss`, the first 3 channels of both are
    used as they are (``mask_channel == -1``) or multiplied by channel ``mask_channel`` of
    ``y_true`` (repeated over the 3 channels), and::

        loss = sum_i weight_i * mean(function_i(t_i, p_i))

    ``call`` returns that scalar. The functions are usually :class:`keras.losses.Loss` instances
    (already reduced to their mean); a plain function is averaged over all its elements.

    Parameters
    ----------
    name, reduction, dtype
        As for :class:`keras.losses.Loss`.

    Examples
    --------
    >>> loss = LossWrapper()
    >>> loss.add_loss(keras.losses.MeanAbsoluteError(), weight=1.0)
    >>> loss.add_loss(keras.losses.MeanSquaredError(), weight=2.0, mask_channel=3)
    >>> value = loss(np.random.rand(2, 8, 8, 4), np.random.rand(2, 8, 8, 3))
    """

    def __init__(self,
                 name: str = "LossWrapper",
                 reduction: str | None = "sum_over_batch_size",
                 dtype: Any = None) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self._loss_functions: list[Callable[[Any, Any], Any]] = []
        self._loss_weights: list[float] = []
        self._mask_channels: list[int] = []

    def add_loss(self,
                 function: Callable[[Any, Any], Any],
                 weight: float = 1.0,
                 mask_channel: int = -1) -> None:
        """Add a loss to the weighted sum.

        Parameters
        ----------
        function
            A callable ``function(y_true, y_pred)``, usually a :class:`keras.losses.Loss`.
        weight
            The multiplier of this loss in the sum.
        mask_channel
            The channel of ``y_true`` holding the mask to apply, or -1 for no mask.

        Raises
        ------
        TypeError
            If ``function`` is not callable.
        ValueError
            If ``mask_channel`` is not an integer of at least -1.
        """
        if not callable(function):
            raise TypeError(f"`function` must be callable. Received: function={function!r}")
        if (isinstance(mask_channel, bool) or not isinstance(mask_channel, (int, np.integer))
                or mask_channel < -1):
            raise ValueError(f"`mask_channel` must be -1 (no mask) or a channel index of "
                             f"`y_true`. Received: mask_channel={mask_channel!r}")
        self._loss_functions.append(function)
        self._loss_weights.append(float(weight))
        self._mask_channels.append(int(mask_channel))

    @staticmethod
    def _apply_mask(y_true: Any, y_pred: Any, mask_channel: int) -> tuple[Any, Any]:
        """The first 3 channels of both inputs, multiplied by the mask if there is one."""
        if mask_channel == -1:
            return y_true[..., :3], y_pred[..., :3]
        channels = y_true.shape[-1]
        if channels is not None and mask_channel >= channels:
            raise ValueError(f"`mask_channel` {mask_channel} is out of range for `y_true` with "
                             f"{channels} channels. Received: y_true.shape="
                             f"{tuple(y_true.shape)}")
        mask = ops.repeat(y_true[..., mask_channel:mask_channel + 1], 3, axis=-1)
        return y_true[..., :3] * mask, y_pred[..., :3] * mask

    def call(self, y_true: Any, y_pred: Any) -> Any:
        loss = ops.zeros((), dtype=self.dtype)
        for function, weight, mask_channel in zip(self._loss_functions, self._loss_weights,
                                                  self._mask_channels, strict=True):
            masked_true, masked_pred = self._apply_mask(y_true, y_pred, mask_channel)
            value = ops.cast(function(masked_true, masked_pred), self.dtype)
            loss = loss + weight * ops.mean(value)
        return loss

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(),
                "dtype": self.dtype,
                "losses": [keras.saving.serialize_keras_object(function)
                           for function in self._loss_functions],
                "weights": list(self._loss_weights),
                "mask_channels": list(self._mask_channels)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LossWrapper:
        config = dict(config)
        functions = config.pop("losses", [])
        weights = config.pop("weights", [])
        mask_channels = config.pop("mask_channels", [])
        if not len(functions) == len(weights) == len(mask_channels):
            raise ValueError(f"`losses`, `weights` and `mask_channels` must have the same length. "
                             f"Received: {len(functions)}, {len(weights)} and "
                             f"{len(mask_channels)} entries")
        wrapper = cls(**config)
        for function, weight, mask_channel in zip(functions, weights, mask_channels, strict=True):
            wrapper.add_loss(keras.saving.deserialize_keras_object(function), weight,
                             mask_channel)
        return wrapper
