"""Feature-space losses: LPIPS.

LPIPS compares the activations of a pretrained image classifier (AlexNet, SqueezeNet or VGG16)
through pretrained linear layers. Faceswap downloads both sets of weights at run time; this
package ships none and cannot download them, so :class:`LPIPSLoss` keeps Faceswap's name,
signature and registration but refuses to be built, with a message that says what to do instead.
"""
from __future__ import annotations

from typing import Any, Literal

import keras

from lib.errors import FaceswapError
from lib.registry import register_serializable

__all__ = ["LPIPSLoss"]

Reduction = Literal["sum", "sum_over_batch_size", "mean", "mean_with_sample_weight", "none"] | None

# Faceswap's trunk names and the network each one needs.
_TRUNKS = {"alex": "AlexNet", "squeeze": "SqueezeNet 1.1", "vgg16": "VGG16"}


@register_serializable()
class LPIPSLoss(keras.losses.Loss):
    """Learned Perceptual Image Patch Similarity (not available in faceswap-original).

    In Faceswap, LPIPS feeds both images (scaled to ``[-1, 1]`` when ``normalize``, then shifted
    and scaled per channel) through a pretrained trunk network, unit-normalises the activations
    of several layers over their channels, squares their difference, weights the channels with
    pretrained 1x1 convolutions (``lpips``) or sums them, averages over space (or resizes the
    maps when ``spatial``) and sums over layers and batch, divided by 10.

    Faceswap compat: the trunk and linear-layer weights are pretrained files that Faceswap's
    model fetcher downloads at run time. faceswap-original does not ship them and cannot download
    them, so the constructor validates ``trunk_network`` and then raises
    :class:`~lib.errors.FaceswapError` telling the user to choose another loss. The class stays
    registered under Faceswap's name so configurations that mention it fail with that message.

    Parameters
    ----------
    trunk_network
        The trunk: ``"alex"``, ``"squeeze"`` or ``"vgg16"``.
    trunk_pretrained
        Use the pretrained trunk weights. Default: ``True``.
    trunk_eval_mode
        Freeze the trunk. Default: ``True``.
    linear_pretrained
        Use the pretrained LPIPS linear weights. Default: ``True``.
    linear_eval_mode
        Freeze the linear layers. Default: ``True``.
    linear_use_dropout
        Dropout (0.5) before each linear layer. Default: ``True``.
    lpips
        Weight the channels with the linear layers (``False``: plain channel sum).
        Default: ``True``.
    spatial
        Return a spatial map instead of a scalar. Default: ``False``.
    normalize
        Scale inputs from ``[0, 1]`` to ``[-1, 1]``. Default: ``True``.
    ret_per_layer
        Also return the per-layer values. Default: ``False``.
    name
        Name of the loss. Default: ``"LPIPSLoss"``.
    reduction
        Keras reduction. Default: ``"sum_over_batch_size"``.
    dtype
        Dtype of the loss computation. Default: ``None`` (float32).

    Raises
    ------
    ValueError
        If ``trunk_network`` is not one of ``"alex"``, ``"squeeze"``, ``"vgg16"``.
    FaceswapError
        Always, for a valid trunk: the pretrained weights are not available.

    References
    ----------
    Zhang, Isola, Efros, Shechtman and Wang, "The Unreasonable Effectiveness of Deep Features as
    a Perceptual Metric", CVPR 2018.
    """

    def __init__(self, trunk_network: Literal["alex", "squeeze", "vgg16"],
                 trunk_pretrained: bool = True, trunk_eval_mode: bool = True,
                 linear_pretrained: bool = True, linear_eval_mode: bool = True,
                 linear_use_dropout: bool = True, lpips: bool = True, spatial: bool = False,
                 normalize: bool = True, ret_per_layer: bool = False, name: str = "LPIPSLoss",
                 reduction: Reduction = "sum_over_batch_size",
                 dtype: Any = None) -> None:
        if not isinstance(trunk_network, str) or trunk_network not in _TRUNKS:
            raise ValueError(f"`trunk_network` must be one of {sorted(_TRUNKS)}. "
                             f"Received: trunk_network={trunk_network!r}")
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.trunk_network = trunk_network
        self.trunk_pretrained = trunk_pretrained
        self.trunk_eval_mode = trunk_eval_mode
        self.linear_pretrained = linear_pretrained
        self.linear_eval_mode = linear_eval_mode
        self.linear_use_dropout = linear_use_dropout
        self.lpips = lpips
        self.spatial = spatial
        self.normalize = normalize
        self.ret_per_layer = ret_per_layer
        raise FaceswapError(
            f"The LPIPS loss 'lpips_{trunk_network}' needs pretrained "
            f"{_TRUNKS[trunk_network]} and LPIPS linear-layer weights, which Faceswap downloads "
            "at run time. faceswap-original does not ship these weights and cannot download "
            "them. Choose another loss (for example 'ssim', 'ms_ssim', 'gmsd' or 'ffl', or "
            "'none') for `loss_function_2`, `loss_function_3` or `loss_function_4` in the "
            "[global.loss] section of the training config (train.ini).")

    def call(self, y_true: Any, y_pred: Any) -> Any:  # pragma: no cover - never constructed
        raise FaceswapError("LPIPSLoss is not available in faceswap-original.")

    def get_config(self) -> dict[str, Any]:  # pragma: no cover - never constructed
        return {**super().get_config(), "dtype": self.dtype, "trunk_network": self.trunk_network,
                "trunk_pretrained": self.trunk_pretrained,
                "trunk_eval_mode": self.trunk_eval_mode,
                "linear_pretrained": self.linear_pretrained,
                "linear_eval_mode": self.linear_eval_mode,
                "linear_use_dropout": self.linear_use_dropout, "lpips": self.lpips,
                "spatial": self.spatial, "normalize": self.normalize,
                "ret_per_layer": self.ret_per_layer}
