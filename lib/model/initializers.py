"""Custom weight initializers: :class:`ICNR` and :class:`ConvolutionAware`.

Both are registered for serialization, so a layer that uses one round-trips through a ``.keras``
file with no ``custom_objects``.
"""
from __future__ import annotations

import logging
from typing import Any

import keras
import numpy as np
from keras import ops

from lib.registry import register_serializable

__all__ = ["ConvolutionAware", "ICNR", "compute_fans"]

logger = logging.getLogger(__name__)


def compute_fans(shape: tuple[int, ...] | list[int]) -> tuple[int, int]:
    """The fan in and fan out of a weight of the given shape, as Keras 3 computes them.

    * rank 0: ``(1, 1)``; rank 1: ``(shape[0], shape[0])``; rank 2: ``(shape[0], shape[1])``;
    * rank 3 and above (convolution kernels, channels last): the receptive field is the product
      of the leading spatial dimensions, ``fan_in = shape[-2] * receptive`` and
      ``fan_out = shape[-1] * receptive``.

    Faceswap compat: Faceswap 3 imports Keras' private ``compute_fans`` into this module (its
    tests call ``initializers.compute_fans``). We use only public Keras API, so this is our own
    implementation of the same rule.
    """
    shape = tuple(int(dim) for dim in shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = int(np.prod(shape[:-2]))
    return shape[-2] * receptive, shape[-1] * receptive


@register_serializable()
class ICNR(keras.initializers.Initializer):
    """ICNR initializer for convolutions that feed a sub-pixel (pixel shuffle) upscale.

    The wrapped initializer draws a kernel with ``filters / scale**2`` output channels, which is
    then repeated ``scale**2`` times along the output axis (output channel ``j`` takes sub-kernel
    channel ``j mod (filters / scale**2)``). After :class:`~lib.model.layers.PixelShuffler` every
    sub-pixel of an upscaled cell therefore starts from the same kernel, which removes the
    checkerboard artefacts of a random start.

    Parameters
    ----------
    initializer
        The initializer for the sub-kernel: an initializer, its name, or its serialized config.
    scale
        The upscale factor of the pixel shuffle that follows the convolution.

    Examples
    --------
    >>> init = ICNR(keras.initializers.HeUniform(), scale=2)
    >>> kernel = init((3, 3, 16, 32))  # channels j and j + 8, j + 16, j + 24 are equal

    References
    ----------
    Aitken et al., "Checkerboard artifact free sub-pixel convolution", 2017,
    https://arxiv.org/abs/1707.02937

    Faceswap compat: Faceswap 3 builds the same kernel through nearest-neighbour resizing and a
    space-to-depth hard coded for ``scale=2``; tiling the sub-kernel gives the identical result for
    any scale.
    """

    def __init__(self, initializer: Any, scale: int = 2) -> None:
        scale = int(scale)
        if scale < 1:
            raise ValueError(f"`scale` must be a positive integer. Received: scale={scale}")
        self.scale = scale
        self.initializer = keras.initializers.get(initializer)

    def __call__(self, shape: tuple[int, ...], dtype: Any = None) -> Any:
        shape = tuple(int(dim) for dim in shape)
        if self.scale == 1:
            return self.initializer(shape, dtype=dtype)
        repeats = self.scale ** 2
        if len(shape) != 4 or shape[-1] % repeats:
            raise ValueError(
                "ICNR needs a 4D convolution kernel whose output channels are divisible by "
                f"scale**2 = {repeats}. Received: shape={shape}")
        sub_kernel = self.initializer(shape[:-1] + (shape[-1] // repeats,), dtype=dtype)
        return ops.tile(sub_kernel, (1, 1, 1, repeats))

    def get_config(self) -> dict[str, Any]:
        return {"initializer": keras.initializers.serialize(self.initializer),
                "scale": self.scale}


@register_serializable()
class ConvolutionAware(keras.initializers.Initializer):
    """Convolution Aware Initialization: orthogonal in the Fourier space of the kernel.

    For a kernel ``(rows, cols, stack, filters)`` an orthogonal basis is drawn in the space of
    the real 2D Fourier transform of a ``rows x cols`` filter, turned back into the spatial domain,
    perturbed with Gaussian noise of standard deviation ``eps_std`` and scaled to He variance
    ``2 / fan_in``. 3D kernels (Conv1D) use a 1D transform and 5D kernels (Conv3D) a 3D one; any
    other rank falls back to :class:`keras.initializers.Orthogonal`.
    Faceswap compat: Faceswap's 5D branch transposes the axes into the wrong order; we return the
    kernel in the ``(d1, d2, d3, stack, filters)`` layout Conv3D expects.

    The computation happens once, in NumPy, when the weight is created; afterwards
    ``initialized`` is ``True`` and further calls (e.g. when a saved model is rebuilt before its
    weights are loaded) return a cheap He-uniform kernel instead, as in Faceswap.

    Parameters
    ----------
    eps_std
        Standard deviation of the noise added to the basis.
    seed
        Seed of the random draws. ``None`` draws one from NumPy's global generator, which
        ``keras.utils.set_random_seed`` seeds.
    initialized
        ``True`` once the kernel has been computed.

    References
    ----------
    Aghajanyan, "Convolution Aware Initialization", 2017, https://arxiv.org/abs/1702.06295

    Faceswap compat: Faceswap seeds NumPy's *global* generator and returns a ``keras.Variable``;
    we use a local generator (no global side effect) and return a tensor.
    """

    def __init__(self, eps_std: float = 0.05, seed: int | None = None,
                 initialized: bool = False) -> None:
        if eps_std < 0:
            raise ValueError(f"`eps_std` must not be negative. Received: eps_std={eps_std}")
        self.eps_std = float(eps_std)
        self.seed = seed
        self.initialized = bool(initialized)

    def __call__(self, shape: tuple[int, ...], dtype: Any = None) -> Any:
        shape = tuple(int(dim) for dim in shape)
        dtype = dtype or keras.config.floatx()
        if self.initialized:
            return keras.initializers.HeUniform(seed=self.seed)(shape, dtype=dtype)
        logger.debug("Calculating Convolution Aware Initializer for shape: %s", shape)
        seed = self.seed if self.seed is not None else np.random.randint(0, 2 ** 31 - 1)
        rng = np.random.default_rng(seed)
        kernel = self._kernel(shape, rng)
        self.initialized = True
        if kernel is None:
            return keras.initializers.Orthogonal(seed=self.seed)(shape, dtype=dtype)
        return ops.convert_to_tensor(kernel, dtype=dtype)

    def _kernel(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray | None:
        """The kernel in NumPy, or ``None`` for ranks without a Fourier construction."""
        rank = len(shape)
        if rank not in (3, 4, 5):
            return None
        spatial, stack, filters = shape[:-2], shape[-2], shape[-1]
        axes = tuple(range(2, 2 + len(spatial)))
        fourier_shape = np.fft.rfftn(np.zeros(spatial)).shape
        basis = self._create_basis(filters, stack, int(np.prod(fourier_shape)), rng)
        basis = basis.reshape((filters, stack) + fourier_shape)
        kernel = np.fft.irfftn(basis, spatial, axes=axes)
        kernel = kernel + rng.normal(0.0, self.eps_std, kernel.shape)
        fan_in, _ = compute_fans(shape)
        kernel = kernel * np.sqrt((2.0 / fan_in) / np.var(kernel))
        # (filters, stack, *spatial) -> (*spatial, stack, filters)
        return np.transpose(kernel, axes + (1, 0))

    def _create_basis(self, filters_size: int, filters: int, size: int,
                      rng: np.random.Generator) -> np.ndarray:
        """``filters_size`` sets of ``filters`` orthonormal vectors of length ``size``."""
        if size == 1:
            return rng.normal(0.0, self.eps_std, (filters_size, filters, size))
        blocks = filters // size + 1
        matrices = rng.normal(0.0, 1.0, (filters_size, blocks, size, size))
        diagonal = np.einsum("...ii->...i", matrices)
        symmetric = (matrices + np.swapaxes(matrices, -1, -2)
                     - diagonal[..., :, None] * np.eye(size))
        orthogonal = np.swapaxes(np.linalg.svd(symmetric)[0], -1, -2)
        return orthogonal.reshape(filters_size, blocks * size, size)[:, :filters, :]

    def get_config(self) -> dict[str, Any]:
        return {"eps_std": self.eps_std, "seed": self.seed, "initialized": self.initialized}
