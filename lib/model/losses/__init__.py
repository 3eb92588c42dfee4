"""Faceswap's loss functions, and the mapping from configuration names to them.

Importing this package registers every loss class with Keras, so a ``.keras`` file compiled with
any of them loads without ``custom_objects``.
"""
from __future__ import annotations

import keras

from .feature_loss import LPIPSLoss
from .loss import (
    FocalFrequencyLoss,
    GeneralizedLoss,
    GradientLoss,
    LaplacianPyramidLoss,
    LInfNorm,
    LossWrapper,
)
from .perceptual_loss import DSSIMObjective, GMSDLoss, LDRFLIPLoss, MSSIMLoss

__all__ = [
    "DSSIMObjective",
    "FocalFrequencyLoss",
    "GMSDLoss",
    "GeneralizedLoss",
    "GradientLoss",
    "LDRFLIPLoss",
    "LInfNorm",
    "LOSS_NAMES",
    "LPIPSLoss",
    "LaplacianPyramidLoss",
    "LossWrapper",
    "MSSIMLoss",
    "get_loss_function",
]

LOSS_NAMES: tuple[str, ...] = (
    "ffl",
    "flip",
    "gmsd",
    "l_inf_norm",
    "laploss",
    "logcosh",
    "lpips_alex",
    "lpips_squeeze",
    "lpips_vgg16",
    "mae",
    "ms_ssim",
    "mse",
    "pixel_gradient_diff",
    "smooth_loss",
    "ssim",
)
"""The loss names a Faceswap configuration accepts (``loss_function``, ``mask_loss_function``)."""

_SIMPLE_LOSSES: dict[str, type[keras.losses.Loss]] = {
    "ffl": FocalFrequencyLoss,
    "gmsd": GMSDLoss,
    "l_inf_norm": LInfNorm,
    "laploss": LaplacianPyramidLoss,
    "logcosh": keras.losses.LogCosh,
    "mae": keras.losses.MeanAbsoluteError,
    "ms_ssim": MSSIMLoss,
    "mse": keras.losses.MeanSquaredError,
    "pixel_gradient_diff": GradientLoss,
    "smooth_loss": GeneralizedLoss,
    "ssim": DSSIMObjective,
}

_LPIPS_TRUNKS: dict[str, str] = {
    "lpips_alex": "alex",
    "lpips_squeeze": "squeeze",
    "lpips_vgg16": "vgg16",
}


def get_loss_function(name: str, color_order: str = "bgr") -> keras.losses.Loss:
    """A new instance of the loss that a Faceswap configuration name selects.

    ``mae``, ``mse`` and ``logcosh`` give Keras' ``MeanAbsoluteError``, ``MeanSquaredError`` and
    ``LogCosh``; ``flip`` gives ``LDRFLIPLoss(color_order=color_order)``; ``lpips_alex``,
    ``lpips_squeeze`` and ``lpips_vgg16`` give ``LPIPSLoss`` with that trunk network; the other
    names give the Faceswap loss with its default arguments. Every call returns a new object.

    Parameters
    ----------
    name
        One of :data:`LOSS_NAMES`, in any letter case.
    color_order
        The channel order of the training images, ``"bgr"`` or ``"rgb"`` (used by ``flip``).

    Returns
    -------
    keras.losses.Loss
        The loss, with its default reduction (the mean).

    Raises
    ------
    TypeError
        If ``name`` is not a string.
    ValueError
        If ``name`` is not one of :data:`LOSS_NAMES`.
    lib.errors.FaceswapError
        If the loss cannot be built here (the LPIPS losses need pretrained weights).

    Examples
    --------
    >>> loss = get_loss_function("ssim")
    >>> type(loss).__name__
    'DSSIMObjective'
    """
    if not isinstance(name, str):
        raise TypeError(f"`name` must be a string. Received: name={name!r}")
    key = name.lower()
    if key in _SIMPLE_LOSSES:
        return _SIMPLE_LOSSES[key]()
    if key == "flip":
        return LDRFLIPLoss(color_order=color_order)
    if key in _LPIPS_TRUNKS:
        return LPIPSLoss(_LPIPS_TRUNKS[key])  # raises FaceswapError naming `key` and the fix
    raise ValueError(f"Unknown loss function '{name}'. Available: {list(LOSS_NAMES)}.")
