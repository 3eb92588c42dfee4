"""Phaze-A: Faceswap's highly configurable model.

The network is assembled from parts, each a Keras sub-model:

* ``encoder``: Faceswap's own encoder (``fs_original``), a Keras Applications network or the
  visual transformer of a CLIP model, optionally followed by the bottleneck. Shared by both
  sides.
* ``fc_a``/``fc_b`` (or ``fc_both``), optionally ``fc_shared``: the fully connected layers, which
  turn the bottleneck vector into a small feature map (and may already run some decoder
  upscales).
* ``fc_gblock`` and ``g_block_both`` (or ``g_block_a``/``g_block_b``): the G-Block, a small
  StyleGAN-like network whose adaptive instance normalization is driven by its own fully
  connected layers.
* ``decoder_both`` (or ``decoder_a``/``decoder_b``): the upscales to the output size, with a
  separate mask branch when ``learn_mask`` is on.

Faceswap compat: this module fixes four Faceswap 3 bugs (see docs/differences.md):
``dec_upscales_in_fc > 0`` with ``learn_mask`` and the G-Block builds instead of crashing (the
G-Block takes the face stream and the mask stream bypasses it); the MobileNet v3 encoders get
their ``alpha``/``minimalistic`` options and ``include_preprocessing=False``; ``keras_encoder``
in ``freeze_layers`` freezes the nested Keras model by its real name; and the decoder filter list
is recomputed for every build instead of leaking from an earlier build in the same process.
A Keras Applications encoder whose ImageNet weights cannot be downloaded raises a
``FaceswapError`` that says how to build without them.
"""
from __future__ import annotations

import logging
import typing as T
import urllib.error
from dataclasses import dataclass

import keras
import numpy as np
from keras import applications as kapp
from keras import layers as kl

from lib.logger import parse_class_init
from lib.model.nn_blocks import (
    Conv2D,
    Conv2DBlock,
    Conv2DOutput,
    ResidualBlock,
    Upscale2xBlock,
    UpscaleBlock,
    UpscaleDNYBlock,
    UpscaleResizeImagesBlock,
)
from lib.model.normalization import (
    AdaInstanceNormalization,
    GroupNormalization,
    InstanceNormalization,
    RMSNormalization,
)
from lib.utils import FaceswapError, get_keras_version, get_module_objects
from plugins.train.train_config import Loss as cfg_loss

from . import phaze_a_defaults as cfg
from ._base import ModelBase, get_all_sub_models

if T.TYPE_CHECKING:
    from keras import KerasTensor

logger = logging.getLogger(__name__)

_SECTION = "[model.phaze_a]"


@dataclass
class _EncoderInfo:
    """How to build one Phaze-A encoder.

    Parameters
    ----------
    keras_name
        The constructor's name in ``keras.applications`` (or the CLIP model's name for the
        ``clipv_*`` encoders); ``""`` for Faceswap's own encoder.
    default_size
        The encoder's usual input size, which ``enc_scaling`` scales.
    keras_min
        The lowest ``(major, minor)`` Keras version that has the encoder.
    scaling
        The input range the encoder expects; the model's ``[0, 1]`` faces are rescaled to it.
    min_size
        The smallest input size the encoder accepts.
    enforce_for_weights
        ``True`` when pretrained weights only exist for ``default_size`` inputs.
    color_order
        The channel order the encoder expects (``"bgr"`` or ``"rgb"``).
    """

    keras_name: str
    default_size: int
    keras_min: tuple[int, int] = (3, 0)
    scaling: tuple[int, int] = (0, 1)
    min_size: int = 32
    enforce_for_weights: bool = False
    color_order: T.Literal["bgr", "rgb"] = "rgb"


def _clip(name: str, size: int = 224) -> _EncoderInfo:
    return _EncoderInfo(keras_name=name, default_size=size, enforce_for_weights=True)


_MODEL_MAPPING: dict[str, _EncoderInfo] = {
    "clipv_farl-b-16-16": _clip("FaRL-B-16-16"),
    "clipv_farl-b-16-64": _clip("FaRL-B-16-64"),
    "clipv_vit-b-16": _clip("ViT-B-16"),
    "clipv_vit-b-32": _clip("ViT-B-32"),
    "clipv_vit-l-14": _clip("ViT-L-14"),
    "clipv_vit-l-14-336px": _clip("ViT-L-14-336px", 336),
    "convnext_tiny": _EncoderInfo(keras_name="ConvNeXtTiny", scaling=(0, 255), default_size=224),
    "convnext_small": _EncoderInfo(keras_name="ConvNeXtSmall", scaling=(0, 255),
                                   default_size=224),
    "convnext_base": _EncoderInfo(keras_name="ConvNeXtBase", scaling=(0, 255), default_size=224),
    "convnext_large": _EncoderInfo(keras_name="ConvNeXtLarge", scaling=(0, 255),
                                   default_size=224),
    "convnext_xlarge": _EncoderInfo(keras_name="ConvNeXtXLarge", scaling=(0, 255),
                                    default_size=224),
    "densenet121": _EncoderInfo(keras_name="DenseNet121", default_size=224),
    "densenet169": _EncoderInfo(keras_name="DenseNet169", default_size=224),
    "densenet201": _EncoderInfo(keras_name="DenseNet201", default_size=224),
    "efficientnet_b0": _EncoderInfo(keras_name="EfficientNetB0", scaling=(0, 255),
                                    default_size=224),
    "efficientnet_b1": _EncoderInfo(keras_name="EfficientNetB1", scaling=(0, 255),
                                    default_size=240),
    "efficientnet_b2": _EncoderInfo(keras_name="EfficientNetB2", scaling=(0, 255),
                                    default_size=260),
    "efficientnet_b3": _EncoderInfo(keras_name="EfficientNetB3", scaling=(0, 255),
                                    default_size=300),
    "efficientnet_b4": _EncoderInfo(keras_name="EfficientNetB4", scaling=(0, 255),
                                    default_size=380),
    "efficientnet_b5": _EncoderInfo(keras_name="EfficientNetB5", scaling=(0, 255),
                                    default_size=456),
    "efficientnet_b6": _EncoderInfo(keras_name="EfficientNetB6", scaling=(0, 255),
                                    default_size=528),
    "efficientnet_b7": _EncoderInfo(keras_name="EfficientNetB7", scaling=(0, 255),
                                    default_size=600),
    "efficientnet_v2_b0": _EncoderInfo(keras_name="EfficientNetV2B0", scaling=(-1, 1),
                                       default_size=224),
    "efficientnet_v2_b1": _EncoderInfo(keras_name="EfficientNetV2B1", scaling=(-1, 1),
                                       default_size=240),
    "efficientnet_v2_b2": _EncoderInfo(keras_name="EfficientNetV2B2", scaling=(-1, 1),
                                       default_size=260),
    "efficientnet_v2_b3": _EncoderInfo(keras_name="EfficientNetV2B3", scaling=(-1, 1),
                                       default_size=300),
    "efficientnet_v2_s": _EncoderInfo(keras_name="EfficientNetV2S", scaling=(-1, 1),
                                      default_size=384),
    "efficientnet_v2_m": _EncoderInfo(keras_name="EfficientNetV2M", scaling=(-1, 1),
                                      default_size=480),
    "efficientnet_v2_l": _EncoderInfo(keras_name="EfficientNetV2L", scaling=(-1, 1),
                                      default_size=480),
    "fs_original": _EncoderInfo(keras_name="", color_order="bgr", min_size=32,
                                default_size=1024),
    "inception_resnet_v2": _EncoderInfo(keras_name="InceptionResNetV2", scaling=(-1, 1),
                                        min_size=75, default_size=299),
    "inception_v3": _EncoderInfo(keras_name="InceptionV3", scaling=(-1, 1), min_size=75,
                                 default_size=299),
    "mobilenet": _EncoderInfo(keras_name="MobileNet", scaling=(-1, 1), default_size=224),
    "mobilenet_v2": _EncoderInfo(keras_name="MobileNetV2", scaling=(-1, 1), default_size=224),
    "mobilenet_v3_large": _EncoderInfo(keras_name="MobileNetV3Large", scaling=(-1, 1),
                                       default_size=224),
    "mobilenet_v3_small": _EncoderInfo(keras_name="MobileNetV3Small", scaling=(-1, 1),
                                       default_size=224),
    "nasnet_large": _EncoderInfo(keras_name="NASNetLarge", scaling=(-1, 1), default_size=331,
                                 enforce_for_weights=True),
    "nasnet_mobile": _EncoderInfo(keras_name="NASNetMobile", scaling=(-1, 1), default_size=224,
                                  enforce_for_weights=True),
    "resnet50": _EncoderInfo(keras_name="ResNet50", scaling=(-1, 1), min_size=32,
                             default_size=224),
    "resnet50_v2": _EncoderInfo(keras_name="ResNet50V2", scaling=(-1, 1), min_size=32,
                                default_size=224),
    "resnet101": _EncoderInfo(keras_name="ResNet101", scaling=(-1, 1), min_size=32,
                              default_size=224),
    "resnet101_v2": _EncoderInfo(keras_name="ResNet101V2", scaling=(-1, 1), min_size=32,
                                 default_size=224),
    "resnet152": _EncoderInfo(keras_name="ResNet152", scaling=(-1, 1), min_size=32,
                              default_size=224),
    "resnet152_v2": _EncoderInfo(keras_name="ResNet152V2", scaling=(-1, 1), min_size=32,
                                 default_size=224),
    "vgg16": _EncoderInfo(keras_name="VGG16", color_order="bgr", scaling=(0, 255),
                          default_size=224),
    "vgg19": _EncoderInfo(keras_name="VGG19", color_order="bgr", scaling=(0, 255),
                          default_size=224),
    "xception": _EncoderInfo(keras_name="Xception", scaling=(-1, 1), min_size=71,
                             default_size=299)}


def _is_download_error(error: BaseException) -> bool:
    """Whether a Keras Applications constructor failed while fetching or reading its weights:
    ``keras.utils.get_file`` re-raises network failures as a bare ``Exception``; a missing or
    unreadable weights file is an ``OSError``."""
    return isinstance(error, (OSError, urllib.error.URLError)) or type(error) is Exception


def _weights_error(arch: str, error: BaseException) -> FaceswapError:
    return FaceswapError(
        f"The pretrained weights of the '{arch}' encoder could not be downloaded or loaded "
        f"({type(error).__name__}: {error}). They are downloaded the first time they are used, "
        "which needs network access. Connect to the internet and try again, or set "
        f"`enc_load_weights = False` in the {_SECTION} section of the training config to "
        "train the encoder from scratch.")


# --- module helpers ------------------------------------------------------------------------------
def _bottleneck(inputs: KerasTensor, bottleneck: str, size: int, normalization: str
                ) -> KerasTensor:
    """The bottleneck, at the end of the encoder or at the start of the fully connected layers.

    Parameters
    ----------
    inputs
        The encoder's output.
    bottleneck
        ``"average_pooling"``, ``"dense"``, ``"max_pooling"`` or ``"flatten"``.
    size
        Nodes of the ``"dense"`` bottleneck.
    normalization
        ``"none"``, ``"instance"``, ``"layer"`` or ``"rms"``: applied first.

    Returns
    -------
    The flat bottleneck output.
    """
    norms = {"layer": kl.LayerNormalization,
             "rms": RMSNormalization,
             "instance": InstanceNormalization}
    var_x = inputs
    if normalization and normalization != "none":
        var_x = norms[normalization]()(var_x)
    if bottleneck == "dense" and var_x.ndim > 2:
        var_x = kl.Flatten()(var_x)  # a dense bottleneck works on a vector
    if bottleneck == "dense":
        var_x = kl.Dense(size)(var_x)
    elif bottleneck == "average_pooling":
        var_x = kl.GlobalAveragePooling2D()(var_x)
    elif bottleneck == "max_pooling":
        var_x = kl.GlobalMaxPooling2D()(var_x)
    if var_x.ndim > 2:
        var_x = kl.Flatten()(var_x)  # the fully connected layers need a vector
    return var_x


def _get_upscale_layer(method: T.Literal["resize_images", "subpixel", "upscale_dny",
                                         "upscale_fast", "upscale_hybrid", "upsample2d"],
                       filters: int,
                       activation: str | None = None,
                       upsamples: int | None = None,
                       interpolation: str | None = None) -> T.Any:
    """An instance of the requested upscaler.

    Parameters
    ----------
    method
        The upscale method.
    filters
        Output filters (ignored by ``"upsample2d"``, which keeps its input's filters).
    activation
        Activation of the upscale block (not used by ``"upsample2d"``).
    upsamples
        ``"upsample2d"`` only: the ``size`` of the ``UpSampling2D`` layer.
    interpolation
        ``"upsample2d"`` only: its ``interpolation``.

    Returns
    -------
    A layer or block to call on a tensor.
    """
    if method == "upsample2d":
        kwargs: dict[str, T.Any] = {}
        if upsamples:
            kwargs["size"] = upsamples
        if interpolation:
            kwargs["interpolation"] = interpolation
        return kl.UpSampling2D(**kwargs)
    if method == "subpixel":
        return UpscaleBlock(filters, activation=activation)
    if method == "upscale_fast":
        return Upscale2xBlock(filters, activation=activation, fast=True)
    if method == "upscale_hybrid":
        return Upscale2xBlock(filters, activation=activation, fast=False)
    if method == "upscale_dny":
        return UpscaleDNYBlock(filters, activation=activation)
    if method == "resize_images":
        return UpscaleResizeImagesBlock(filters, activation=activation)
    raise ValueError(f"Unknown upscale method {method!r}. Allowed: ['resize_images', "
                     "'subpixel', 'upsample2d', 'upscale_dny', 'upscale_fast', "
                     "'upscale_hybrid']")


def _get_curve(start_y: int, end_y: int, num_points: int, scale: float,
               mode: T.Literal["full", "cap_max", "cap_min"] = "full") -> list[int]:
    """The y values of a curve from ``start_y`` to ``end_y``, each rounded down to a multiple of
    8 (filter and node counts).

    Parameters
    ----------
    start_y
        The first value.
    end_y
        The last value.
    num_points
        How many values.
    scale
        The curve's shape, clipped to ``[-0.99, 0.99]``. In ``"full"`` mode a normalised tunable
        sigmoid: negative values move away from ``start_y`` fast at first, positive values slowly
        at first, 0 linearly. In the cap modes its absolute value is the fraction dropped at
        each step (0.5 halves).
    mode
        ``"full"``: the curve runs from ``start_y`` to ``end_y`` over all the points.
        ``"cap_max"``: a fixed-rate fall that ends at ``end_y``, padded at the start with
        ``start_y``. ``"cap_min"``: a fixed-rate fall from ``start_y``, padded at the end with
        ``end_y``.

    Returns
    -------
    The ``num_points`` values.

    Examples
    --------
    >>> _get_curve(512, 64, 4, -0.45)
    [512, 256, 128, 64]
    >>> _get_curve(512, 64, 6, 0.5, mode="cap_min")
    [512, 256, 128, 64, 64, 64]
    """
    scale = min(0.99, max(-0.99, scale))
    logger.debug("Obtaining curve: (start_y: %s, end_y: %s, num_points: %s, scale: %s, "
                 "mode: %s)", start_y, end_y, num_points, scale, mode)
    if mode == "full":
        x_axis = np.linspace(0.0, 1.0, num=num_points)
        y_axis = (x_axis - x_axis * scale) / (scale - np.abs(x_axis) * 2 * scale + 1)
        y_axis = y_axis * (end_y - start_y) + start_y
        return [int((y // 8) * 8) for y in y_axis]
    if mode not in ("cap_max", "cap_min"):
        raise ValueError(f"Unknown curve mode {mode!r}. Allowed: ['cap_max', 'cap_min', 'full']")
    if num_points <= 0:
        return []
    factor = 1.0 - abs(scale)
    steps = [start_y]
    while steps[-1] != end_y:
        current = steps[-1]
        if end_y < start_y:
            value = max(end_y, int(((current * factor) // 8) * 8))
        else:
            value = min(end_y, int(((current / factor) // 8) * 8))
        if value == current:  # a zero slope never moves: the values stay where they are
            break
        steps.append(value)
    if mode == "cap_min":
        return (steps + [steps[-1]] * num_points)[:num_points]
    if len(steps) >= num_points:
        return steps[-num_points:]
    return [start_y] * (num_points - len(steps)) + steps


def _scale_dim(target_resolution: int, original_dim: int) -> int:
    """The largest size, at most ``original_dim``, that doubles exactly up to
    ``target_resolution`` (``target_resolution`` halved while it stays an integer above
    ``original_dim``).

    Examples
    --------
    >>> _scale_dim(128, 8)
    8
    >>> _scale_dim(192, 8)
    6
    """
    new_dim = target_resolution
    while new_dim > original_dim:
        next_dim = new_dim / 2
        if not next_dim.is_integer():
            break
        new_dim = int(next_dim)
    return new_dim


def _side_inputs(features: KerasTensor | list[KerasTensor]
                 ) -> tuple[KerasTensor, KerasTensor | None]:
    """A fully connected output split into its face stream and its mask stream (``None`` unless
    decoder upscales run in the fully connected layers with ``learn_mask``)."""
    if isinstance(features, (list, tuple)):
        return features[0], features[1]
    return features, None


# --- encoder -------------------------------------------------------------------------------------
class Encoder:
    """The Phaze-A encoder: input scaling, the selected network, then (by default) the
    bottleneck.

    Parameters
    ----------
    input_shape
        The model's input shape.
    """

    def __init__(self, input_shape: tuple[int, int, int]) -> None:
        logger.debug(parse_class_init(locals()))
        self._input_shape = input_shape

    @property
    def _model_kwargs(self) -> dict[str, dict[str, T.Any]]:
        """Keyword arguments of the Keras Applications constructors, by architecture.

        Faceswap compat: Faceswap keys the MobileNet v3 options ``"mobilenet_v3"``, which matches
        neither ``mobilenet_v3_large`` nor ``mobilenet_v3_small``, so its v3 encoders ignore
        ``mobilenet_width``/``mobilenet_minimalistic`` and keep the built-in preprocessing on
        inputs already scaled to [-1, 1]; :meth:`_selected_model` applies them to both.
        """
        return {"mobilenet": {"alpha": cfg.mobilenet_width(),
                              "depth_multiplier": cfg.mobilenet_depth(),
                              "dropout": cfg.mobilenet_dropout()},
                "mobilenet_v2": {"alpha": cfg.mobilenet_width()},
                "mobilenet_v3": {"alpha": cfg.mobilenet_width(),
                                 "minimalistic": cfg.mobilenet_minimalistic(),
                                 "include_preprocessing": False}}

    @property
    def _selected_model(self) -> tuple[_EncoderInfo, dict[str, T.Any]]:
        """The selected encoder's information and its constructor's keyword arguments."""
        arch = cfg.enc_architecture()
        key = "mobilenet_v3" if arch.startswith("mobilenet_v3") else arch
        kwargs = dict(self._model_kwargs.get(key, {}))
        if arch.startswith("efficientnet_v2"):
            kwargs["include_preprocessing"] = False
        return _MODEL_MAPPING[arch], kwargs

    def __call__(self) -> keras.Model:
        """The encoder model, named ``"encoder"``."""
        input_ = kl.Input(shape=self._input_shape)
        var_x = input_
        scaling = self._selected_model[0].scaling
        if scaling == (0, 255):
            var_x = var_x * 255.0
        elif scaling == (-1, 1):
            var_x = var_x * 2.0
            var_x = var_x - 1.0

        var_x = self._get_encoder_model()(var_x)

        if cfg.bottleneck_in_encoder():
            var_x = _bottleneck(var_x, cfg.bottleneck_type(), cfg.bottleneck_size(),
                                cfg.bottleneck_norm())
        return keras.models.Model(input_, var_x, name="encoder")

    def _get_encoder_model(self) -> T.Any:
        """The selected network: a Keras model, or Faceswap's encoder as a callable."""
        model, kwargs = self._selected_model
        arch = cfg.enc_architecture()
        if not model.keras_name:
            return _EncoderFaceswap()
        load_weights = cfg.enc_load_weights()
        if arch.startswith("clipv_"):
            return self._get_clip_model(model, load_weights)
        kwargs["input_shape"] = self._input_shape
        kwargs["include_top"] = False
        kwargs["weights"] = "imagenet" if load_weights else None
        try:
            return getattr(kapp, model.keras_name)(**kwargs)
        except Exception as err:  # only weight-fetch failures are converted
            if not load_weights or not _is_download_error(err):
                raise
            raise _weights_error(arch, err) from err

    def _get_clip_model(self, model: _EncoderInfo, load_weights: bool) -> keras.Model:
        """The CLIP visual transformer (a model named ``"visual"``)."""
        # Imported here: the CLIP networks are large and only the clipv_* encoders need them.
        from lib.model.networks import TypeModelsViT, ViT
        if model.keras_name not in T.get_args(TypeModelsViT):
            raise FaceswapError(f"The CLIP model '{model.keras_name}' is not available. Choose "
                                f"another `enc_architecture` in the {_SECTION} section.")
        vit = ViT(T.cast(TypeModelsViT, model.keras_name), input_size=self._input_shape[0],
                  load_weights=load_weights)
        try:
            return vit()
        except Exception as err:  # only weight-fetch failures are converted
            if not load_weights or not _is_download_error(err):
                raise
            raise _weights_error(cfg.enc_architecture(), err) from err


class _EncoderFaceswap:
    """Faceswap's own configurable encoder (``fs_original``), based on the Original model's.

    Standard: ``fs_original_depth`` stride-2 ``Conv2DBlock`` s (kernel 5, leaky ReLU 0.1) named
    ``fs_enc_convblk_{i}``. Alternative (``fs_original_use_alt``): a 1x1 entry convolution, then
    per depth two stride-1 kernel-3 blocks (leaky ReLU 0.2) and a max pooling, the last depth
    ending in a kernel-4 "valid" convolution instead. The filters double at each depth from
    ``fs_original_min_filters`` up to ``fs_original_max_filters``.
    """

    def __init__(self) -> None:
        self._type = cfg.enc_architecture()
        self._depth = getattr(cfg, f"{self._type}_depth")()
        self._min_filters = cfg.fs_original_min_filters()
        self._max_filters = cfg.fs_original_max_filters()
        self._is_alt = cfg.fs_original_use_alt()
        self._relu_alpha = 0.2 if self._is_alt else 0.1
        self._kernel_size = 3 if self._is_alt else 5
        self._strides = 1 if self._is_alt else 2

    def __call__(self, inputs: KerasTensor) -> KerasTensor:
        var_x = inputs
        filters = self._min_filters
        if self._is_alt:
            var_x = Conv2DBlock(filters, kernel_size=1, strides=self._strides,
                                relu_alpha=self._relu_alpha)(var_x)
        name = f"fs_{'dny_' if self._is_alt else ''}enc"
        for idx in range(self._depth):
            var_x = Conv2DBlock(filters, kernel_size=self._kernel_size, strides=self._strides,
                                relu_alpha=self._relu_alpha,
                                name=f"{name}_convblk_{idx}")(var_x)
            filters = min(self._max_filters, filters * 2)
            if self._is_alt and idx == self._depth - 1:
                var_x = Conv2DBlock(filters, kernel_size=4, strides=self._strides,
                                    padding="valid", relu_alpha=self._relu_alpha,
                                    name=f"{name}_convblk_{idx}_1")(var_x)
            elif self._is_alt:
                var_x = Conv2DBlock(filters, kernel_size=self._kernel_size,
                                    strides=self._strides, relu_alpha=self._relu_alpha,
                                    name=f"{name}_convblk_{idx}_1")(var_x)
                var_x = kl.MaxPooling2D(2, name=f"{name}_pool_{idx}")(var_x)
        return var_x


# --- fully connected layers ----------------------------------------------------------------------
class FullyConnected:
    """The fully connected (intermediate) layers of one side, of both, shared, or of the G-Block.

    Optional bottleneck (when not in the encoder), then per node count on the curve a
    ``Dropout(rate, name=f"{rate}_{i}")`` and a ``Dense``. The side layers then reshape to
    ``(fc_dimensions, fc_dimensions, filters)``, upscale ``fc_upsamples`` times and run the first
    ``dec_upscales_in_fc`` decoder upscales. The G-Block layers stay a vector.

    Parameters
    ----------
    side
        ``"a"``, ``"b"``, ``"both"``, ``"shared"`` or ``"gblock"``; the model is ``fc_{side}``.
    input_shape
        The encoder's output shape.
    """

    def __init__(self, side: T.Literal["a", "b", "both", "shared", "gblock"],
                 input_shape: tuple[int, ...]) -> None:
        logger.debug(parse_class_init(locals()))
        self._side = side
        self._input_shape = input_shape
        self._final_dims = cfg.fc_dimensions() * 2 ** cfg.fc_upsamples()
        self._prefix = "fc_gblock" if self._side == "gblock" else "fc"

    @property
    def _min_nodes(self) -> int:
        """Nodes of the first Dense: the G-Block's option, or the (scaled) minimum filters times
        ``fc_dimensions`` squared."""
        if self._side == "gblock":
            return cfg.fc_gblock_min_nodes()
        return int(self._scale_filters(cfg.fc_min_filters()) * cfg.fc_dimensions() ** 2)

    @property
    def _max_nodes(self) -> int:
        """Nodes of the last Dense: the G-Block's option, or the (scaled) maximum filters times
        ``fc_dimensions`` squared."""
        if self._side == "gblock":
            return cfg.fc_gblock_max_nodes()
        return int(self._scale_filters(cfg.fc_max_filters()) * cfg.fc_dimensions() ** 2)

    def _scale_filters(self, original_filters: int) -> int:
        """Lower ``original_filters`` so that the fully connected output can be reshaped to the
        size the decoder's upscales need for ``output_size``.

        Faceswap compat: the upscaled size is ``fc_dimensions * 2 ** fc_upsamples``.
        """
        scaled_dim = _scale_dim(cfg.output_size(), self._final_dims)
        if scaled_dim == self._final_dims:
            return original_filters
        flat = self._final_dims ** 2 * original_filters
        modifier = self._final_dims ** 2 * scaled_dim ** 2
        retval = int((flat // modifier) * modifier)
        retval = int(retval / self._final_dims ** 2)
        logger.debug("original_filters: %s, scaled_filters: %s", original_filters, retval)
        return retval

    def _do_upsampling(self, inputs: KerasTensor) -> KerasTensor:
        """The ``fc_upsamples`` upscales at the end of the side layers."""
        upsampler = cfg.fc_upsampler()
        upsamples = cfg.fc_upsamples()
        var_x = inputs
        if upsampler == "upsample2d":
            if upsamples:
                var_x = _get_upscale_layer(upsampler, cfg.fc_upsample_filters(),
                                           upsamples=2 ** upsamples,
                                           interpolation="bilinear")(var_x)
            return kl.LeakyReLU(negative_slope=0.1)(var_x)
        for _ in range(upsamples):
            var_x = _get_upscale_layer(upsampler, cfg.fc_upsample_filters(),
                                       activation="leakyrelu")(var_x)
        return var_x

    def __call__(self) -> keras.Model:
        """The model ``fc_{side}``: one output, or ``[face, mask]`` when decoder upscales with
        ``learn_mask`` run here."""
        input_ = kl.Input(shape=self._input_shape)
        var_x = input_
        node_curve = _get_curve(self._min_nodes, self._max_nodes,
                                getattr(cfg, f"{self._prefix}_depth")(),
                                getattr(cfg, f"{self._prefix}_filter_slope")())
        if not cfg.bottleneck_in_encoder():
            var_x = _bottleneck(var_x, cfg.bottleneck_type(), cfg.bottleneck_size(),
                                cfg.bottleneck_norm())
        dropout = getattr(cfg, f"{self._prefix}_dropout")()
        for idx, nodes in enumerate(node_curve):
            var_x = kl.Dropout(dropout, name=f"{dropout}_{idx}")(var_x)
            var_x = kl.Dense(nodes)(var_x)

        if self._side != "gblock":
            dim = cfg.fc_dimensions()
            nodes = var_x.shape[-1]
            if var_x.ndim != 2 or nodes % dim ** 2:
                raise FaceswapError(
                    f"The fully connected layers cannot reshape {nodes} nodes to "
                    f"({dim}, {dim}, filters). Change `fc_depth`, `fc_dimensions` or the "
                    f"bottleneck options in the {_SECTION} section.")
            var_x = kl.Reshape((dim, dim, nodes // dim ** 2))(var_x)
            var_x = self._do_upsampling(var_x)
            num_upscales = cfg.dec_upscales_in_fc()
            if num_upscales:
                var_x = UpscaleBlocks(self._side, layer_indicies=(0, num_upscales))(var_x)
        return keras.models.Model(input_, var_x, name=f"fc_{self._side}")


# --- decoder upscales ----------------------------------------------------------------------------
class UpscaleBlocks:
    """The chain of decoder upscales, or a slice of it.

    The chain can be split between the end of the fully connected layers
    (``dec_upscales_in_fc``) and the decoder, so its filter list is kept on the class, shared by
    every instance of one build.

    Faceswap compat: Faceswap never clears the list, so a later build in the same process
    reuses the first build's filters (and output size); :meth:`Model.build_model` clears it
    before every build.

    Parameters
    ----------
    side
        The side this chain belongs to (for logging).
    layer_indicies
        ``(start, end)`` of the slice of upscales to build (``end == -1``: to the last one), or
        ``None`` for all.
    """

    _filters: list[int] = []

    def __init__(self, side: T.Literal["a", "b", "both", "shared"],
                 layer_indicies: tuple[int, int] | None = None) -> None:
        logger.debug(parse_class_init(locals()))
        self._side = side
        self._is_dny = cfg.dec_upscale_method() == "upscale_dny"
        self._layer_indicies = layer_indicies

    @classmethod
    def reset_filters(cls) -> None:
        """Forget the filter list, so the next chain computes it for the current options."""
        cls._filters.clear()

    def _reshape_for_output(self, inputs: KerasTensor) -> KerasTensor:
        """Reshape the input so that the chain of upscales ends at ``output_size`` (the fully
        connected layers have chosen a filter count that makes this exact)."""
        var_x = inputs
        new_size = cfg.output_size() // 2 ** len(self._filters)
        old_size, old_filters = var_x.shape[1], var_x.shape[-1]
        if old_size != new_size:
            new_shape = (new_size, new_size,
                         int(np.prod((old_size, old_size, old_filters))) // new_size ** 2)
            logger.debug("Reshaping %s to %s", var_x.shape, new_shape)
            var_x = kl.Reshape(new_shape)(var_x)
        return var_x

    def _upscale_block(self, inputs: KerasTensor, filters: int, skip_residual: bool = False,
                       is_mask: bool = False) -> KerasTensor:
        """One upscale with its noise, normalization, activation and residual blocks (the last
        three only on the face branch)."""
        upscaler = _get_upscale_layer(cfg.dec_upscale_method(), filters,
                                      activation="leakyrelu", upsamples=2,
                                      interpolation="bilinear")
        var_x = upscaler(inputs)
        if not is_mask and cfg.dec_gaussian():
            var_x = kl.GaussianNoise(1.0)(var_x)
        if not is_mask and cfg.dec_res_blocks() and not skip_residual:
            var_x = self._normalization(var_x)
            var_x = kl.LeakyReLU(negative_slope=0.2)(var_x)
            for _ in range(cfg.dec_res_blocks()):
                var_x = ResidualBlock(filters)(var_x)
        else:
            var_x = self._normalization(var_x)
            if not self._is_dny:
                var_x = kl.LeakyReLU(negative_slope=0.1)(var_x)
        return var_x

    @staticmethod
    def _normalization(inputs: KerasTensor) -> KerasTensor:
        """The ``dec_norm`` layer, if any."""
        norm = cfg.dec_norm()
        if norm == "batch":
            return kl.BatchNormalization()(inputs)
        if norm == "group":
            channels = inputs.shape[-1]
            if channels is not None and (channels < 32 or channels % 32):
                raise FaceswapError(
                    f"Phaze-A's 'dec_norm = group' splits each decoder upscale's channels into 32 "
                    f"groups, but one upscale has {channels} channels (from 'dec_min_filters', "
                    "'dec_max_filters', 'dec_filter_slope' and 'dec_slope_mode'). Choose filters "
                    "that give multiples of 32, or another 'dec_norm', in train.ini.")
            return GroupNormalization()(inputs)
        if norm == "instance":
            return InstanceNormalization()(inputs)
        if norm == "layer":
            return kl.LayerNormalization()(inputs)
        if norm == "rms":
            return RMSNormalization()(inputs)
        return inputs

    @staticmethod
    def _dny_entry(inputs: KerasTensor) -> KerasTensor:
        """The two entry convolutions of the ``upscale_dny`` method."""
        var_x = Conv2DBlock(cfg.dec_max_filters(), kernel_size=4, strides=1, padding="same",
                            relu_alpha=0.2)(inputs)
        return Conv2DBlock(cfg.dec_max_filters(), kernel_size=3, strides=1, padding="same",
                           relu_alpha=0.2)(var_x)

    def __call__(self, inputs: KerasTensor | list[KerasTensor]
                 ) -> KerasTensor | list[KerasTensor]:
        """Upscale ``inputs`` (``[face, mask]`` when a slice after the first runs with
        ``learn_mask``); returns the face features, or ``[face, mask]`` with ``learn_mask``."""
        start_idx, end_idx = (0, None) if self._layer_indicies is None else self._layer_indicies
        end_idx = None if end_idx == -1 else end_idx
        learn_mask = cfg_loss.learn_mask()

        if learn_mask and start_idx == 0:
            var_x = var_y = inputs
        elif learn_mask:
            var_x, var_y = inputs
        else:
            var_x, var_y = inputs, None

        if not self._filters:
            upscales = int(np.log2(cfg.output_size() / var_x.shape[1]))
            self._filters.extend(_get_curve(cfg.dec_max_filters(), cfg.dec_min_filters(),
                                            upscales, cfg.dec_filter_slope(),
                                            mode=cfg.dec_slope_mode()))
            logger.debug("Generated class filters: %s", self._filters)

        if start_idx == 0:
            var_x = self._reshape_for_output(var_x)
            if learn_mask:
                var_y = self._reshape_for_output(var_y)
            if self._is_dny:
                var_x = self._dny_entry(var_x)
            if self._is_dny and learn_mask:
                var_y = self._dny_entry(var_y)

        filters = self._filters[start_idx:end_idx]
        for idx, filts in enumerate(filters):
            skip_res = idx == len(filters) - 1 and cfg.dec_skip_last_residual()
            var_x = self._upscale_block(var_x, filts, skip_residual=skip_res)
            if learn_mask:
                var_y = self._upscale_block(var_y, filts, is_mask=True)
        return [var_x, var_y] if learn_mask else var_x


# --- g-block -------------------------------------------------------------------------------------
class GBlock:
    """The G-Block, adapted from StyleGAN's adaptive instance normalization.

    A style vector (from ``fc_gblock``, through three Dense layers) sets the scale and offset of
    the instance-normalised features from the side's fully connected layers, with learned noise
    added at each step.

    Parameters
    ----------
    side
        ``"a"``, ``"b"`` or ``"both"``; the model is ``g_block_{side}``.
    input_shapes
        Shapes of ``[features, style]``.
    """

    def __init__(self, side: T.Literal["a", "b", "both"],
                 input_shapes: list[tuple[int, ...]]) -> None:
        logger.debug(parse_class_init(locals()))
        self._side = side
        self._inputs = [kl.Input(shape=shape) for shape in input_shapes]
        self._dense_nodes = 512
        self._dense_recursions = 3

    @classmethod
    def _g_block(cls, inputs: KerasTensor, style: KerasTensor, filters: int,
                 recursions: int = 2) -> KerasTensor:
        """The style-modulated block: per recursion, AdaIN with two styles, plus noise."""
        var_x = inputs
        for idx in range(recursions):
            styles = [kl.Reshape([1, 1, filters])(kl.Dense(filters)(style)) for _ in range(2)]
            noise = kl.Conv2D(filters, 1, padding="same")(kl.GaussianNoise(1.0)(var_x))
            if idx == recursions - 1:
                var_x = kl.Conv2D(filters, 3, padding="same")(var_x)
            var_x = AdaInstanceNormalization(dtype="float32")([var_x, *styles])
            var_x = kl.Add()([var_x, noise])
            var_x = kl.LeakyReLU(negative_slope=0.2)(var_x)
        return var_x

    def __call__(self) -> keras.Model:
        """The model ``g_block_{side}`` on ``[features, style]``."""
        var_x, style = self._inputs
        for idx in range(self._dense_recursions):
            style = kl.Dense(self._dense_nodes, kernel_initializer="he_normal")(style)
            if idx != self._dense_recursions - 1:  # no activation on the final style
                style = kl.LeakyReLU(negative_slope=0.1)(style)
        g_filts = var_x.shape[-1]
        var_x = Conv2D(g_filts, 3, strides=1, padding="same")(var_x)
        var_x = kl.GaussianNoise(1.0)(var_x)
        var_x = self._g_block(var_x, style, g_filts)
        return keras.models.Model(self._inputs, var_x, name=f"g_block_{self._side}")


# --- decoder -------------------------------------------------------------------------------------
class Decoder:
    """A Phaze-A decoder: the remaining upscales and the output convolutions.

    Parameters
    ----------
    side
        ``"a"``, ``"b"`` or ``"both"``; the model is ``decoder_{side}``.
    input_shape
        The shape of its input (of each input when it takes ``[face, mask]`` features).
    """

    def __init__(self, side: T.Literal["a", "b", "both"], input_shape: tuple[int, ...]) -> None:
        logger.debug(parse_class_init(locals()))
        self._side = side
        self._input_shape = input_shape

    def __call__(self) -> keras.Model:
        """The model ``decoder_{side}``, whose output is ``[face]`` or ``[face, mask]``."""
        learn_mask = cfg_loss.learn_mask()
        num_ups_in_fc = cfg.dec_upscales_in_fc()
        input_ = kl.Input(shape=self._input_shape)
        inputs: KerasTensor | list[KerasTensor] = input_
        if learn_mask and num_ups_in_fc:
            inputs = [input_, kl.Input(shape=self._input_shape)]
        indicies = None if not num_ups_in_fc else (num_ups_in_fc, -1)

        upscales = UpscaleBlocks(self._side, layer_indicies=indicies)(inputs)
        var_x, var_y = (upscales if learn_mask else (upscales, None))

        kernel = cfg.dec_output_kernel()
        outputs = [Conv2DOutput(3, kernel, name="face_out")(var_x)]
        if learn_mask:
            outputs.append(Conv2DOutput(1, kernel, name="mask_out")(var_y))
        return keras.models.Model(inputs, outputs=outputs, name=f"decoder_{self._side}")


# --- the plugin ----------------------------------------------------------------------------------
class Model(ModelBase):
    """Phaze-A: a highly configurable model (see the ``model.phaze_a`` options).

    Sets ``input_shape`` from the encoder's usual size and ``enc_scaling``, and ``color_order``
    from the encoder ("bgr" for fs_original and VGG, "rgb" otherwise).

    Raises
    ------
    FaceswapError
        If ``output_size`` is not a multiple of 64, or the encoder is not available.
    """

    def __init__(self, *args: T.Any, **kwargs: T.Any) -> None:
        super().__init__(*args, **kwargs)
        if cfg.output_size() % 64 != 0:
            raise FaceswapError(
                f"Phaze-A's output size must be a multiple of 64, but `output_size` is "
                f"{cfg.output_size()}. Set `output_size` in the {_SECTION} section of the "
                "training config to a multiple of 64 (64 to 2048).")
        self._validate_encoder_architecture()
        self.input_shape: tuple[int, int, int] = self._get_input_shape()
        self.color_order = _MODEL_MAPPING[cfg.enc_architecture()].color_order

    # --- ModelBase overrides -------------------------------------------------------------------
    @property
    def freeze_layers(self) -> list[str]:
        """The sub-models ``--freeze-weights`` freezes (``freeze_layers`` with
        ``keras_encoder`` replaced by the nested Keras model's name)."""
        return self._select_freeze_layers()

    @property
    def load_layers(self) -> list[str]:
        """The sub-models ``--load-weights`` loads (the ``load_layers`` option)."""
        return cfg.load_layers()

    def build(self) -> None:
        """Build a new model, or load the existing one.

        An existing model is loaded with the dropout rates of the current configuration (the
        only structural options that can change), then compiled and summarised. New models,
        inference and ``--summary`` use :meth:`ModelBase.build`.
        """
        is_summary = hasattr(self._args, "summary") and self._args.summary
        if not self._io.model_exists or self._is_predict or is_summary:
            logger.debug("New model, inference or summary. Using the default build: "
                         "(exists: %s, inference: %s, is_summary: %s)",
                         self._io.model_exists, self._is_predict, is_summary)
            super().build()
            return
        model = self.io.load()
        self._model = self._update_dropouts(model)
        self._compile_model()
        self._output_summary()

    def build_model(self, inputs: list[KerasTensor]) -> keras.Model:
        """Encoder, fully connected layers, G-Block and decoders; a flat output list, side A
        first.

        Parameters
        ----------
        inputs
            ``[face_in_a, face_in_b]``.

        Returns
        -------
        The model, named :attr:`model_name`.
        """
        UpscaleBlocks.reset_filters()
        encoders = self._build_encoders(inputs)
        inters = self._build_fully_connected(encoders)
        g_blocks = self._build_g_blocks(inters)
        decoders = self._build_decoders(g_blocks)
        return keras.models.Model(inputs, decoders["a"] + decoders["b"], name=self.model_name)

    # --- set up --------------------------------------------------------------------------------
    def _update_dropouts(self, model: keras.Model) -> keras.Model:
        """Apply the configured dropout rates to a loaded model.

        Setting a Dropout's ``rate`` changes its config, so the model is cloned (which rebuilds
        its layers from their configs) and the weights are copied over.
        """
        dropouts = {"fc": cfg.fc_dropout(), "gblock": cfg.fc_gblock_dropout()}
        logger.debug("Config dropouts: %s", dropouts)
        updated = False
        for mod in get_all_sub_models(model):
            if not mod.name.startswith("fc_"):
                continue
            key = "gblock" if "gblock" in mod.name else "fc"
            for layer in mod.layers:
                if not isinstance(layer, kl.Dropout) or layer.rate == dropouts[key]:
                    continue
                logger.info("Updating dropout rate for '%s - %s' from %s to %s", mod.name,
                            layer.name, layer.rate, dropouts[key])
                layer.rate = dropouts[key]
                updated = True
        if not updated:
            return model
        logger.debug("Dropout rate updated. Cloning model")
        new_model = keras.models.clone_model(model)
        new_model.set_weights(model.get_weights())
        del model
        return new_model

    def _keras_encoder_name(self) -> str | None:
        """The name of the Keras (or CLIP) model nested in the built encoder, if any."""
        if self._model is None:
            return None
        for sub_model in get_all_sub_models(self._model):
            if sub_model.name != "encoder":
                continue
            for layer in sub_model.layers:
                if isinstance(layer, keras.Model):
                    return layer.name
        return None

    def _select_freeze_layers(self) -> list[str]:
        """``freeze_layers`` with ``keras_encoder`` replaced by the real name of the nested
        Keras model, or removed when there is none (fs_original).

        Faceswap compat: Faceswap substitutes the Keras constructor's name (``ResNet50``), which
        only matches MobileNetV3 and CLIP models; we read the name from the built model.
        """
        layers = cfg.freeze_layers()
        if "keras_encoder" not in layers:
            return layers
        keras_name = self._keras_encoder_name()
        if keras_name:
            logger.debug("Substituting 'keras_encoder' for '%s'", keras_name)
            return [keras_name if layer == "keras_encoder" else layer for layer in layers]
        logger.debug("Removing 'keras_encoder' for '%s'", cfg.enc_architecture())
        return [layer for layer in layers if layer != "keras_encoder"]

    def _get_input_shape(self) -> tuple[int, int, int]:
        """The input shape: the encoder's usual size scaled by ``enc_scaling``, rounded down to
        a multiple of 16, at least the encoder's minimum; the usual size itself when
        pretrained weights only exist for it."""
        arch = cfg.enc_architecture()
        info = _MODEL_MAPPING[arch]
        scaling = cfg.enc_scaling() / 100
        size = int(max(info.min_size, ((info.default_size * scaling) // 16) * 16))
        if cfg.enc_load_weights() and info.enforce_for_weights and size != info.default_size:
            logger.warning("%s needs an input size of %spx when loading its pretrained weights. "
                           "Adjusting the input size from %spx to %spx.", arch,
                           info.default_size, size, info.default_size)
            size = info.default_size
        logger.debug("Encoder input set to: %s", (size, size, 3))
        return size, size, 3

    @staticmethod
    def _validate_encoder_architecture() -> None:
        """Check that the selected encoder exists in this version of Keras."""
        arch = cfg.enc_architecture()
        model = _MODEL_MAPPING.get(arch)
        if model is None:
            raise FaceswapError(f"'{arch}' is not a valid choice for `enc_architecture`. Choose "
                                f"one of {sorted(_MODEL_MAPPING)} in the {_SECTION} section.")
        keras_version = get_keras_version()
        if keras_version < model.keras_min:
            raise FaceswapError(
                f"The '{arch}' encoder needs Keras {'.'.join(map(str, model.keras_min))} or "
                f"later, but Keras {'.'.join(map(str, keras_version))} is installed. Upgrade "
                f"Keras or choose another `enc_architecture` in the {_SECTION} section.")

    # --- building ------------------------------------------------------------------------------
    def _build_encoders(self, inputs: list[KerasTensor]) -> dict[str, KerasTensor]:
        """One encoder, shared by both sides."""
        encoder = Encoder(self.input_shape)()
        return {"a": encoder(inputs[0]), "b": encoder(inputs[1])}

    def _build_fully_connected(self, inputs: dict[str, KerasTensor]
                               ) -> dict[str, list[T.Any]]:
        """Each side's ``[fully connected output(, g-block style)]``; a fully connected output
        is ``[face, mask]`` when decoder upscales with ``learn_mask`` run in it."""
        input_shapes = tuple(inputs["a"].shape[1:])
        fc_a = fc_both = None
        if cfg.split_fc():
            fc_a = FullyConnected("a", input_shapes)()
            inter_a = [fc_a(inputs["a"])]
            inter_b = [FullyConnected("b", input_shapes)()(inputs["b"])]
        else:
            fc_both = FullyConnected("both", input_shapes)()
            inter_a = [fc_both(inputs["a"])]
            inter_b = [fc_both(inputs["b"])]

        shared = cfg.shared_fc()
        if shared != "none":
            if shared == "full":
                fc_shared = FullyConnected("shared", input_shapes)()
            else:
                fc_shared = fc_a if cfg.split_fc() else fc_both
            inter_a = [self._concatenate(inter_a[0], fc_shared(inputs["a"]), "inter_a")]
            inter_b = [self._concatenate(inter_b[0], fc_shared(inputs["b"]), "inter_b")]

        if cfg.enable_gblock():
            fc_gblock = FullyConnected("gblock", input_shapes)()
            inter_a.append(fc_gblock(inputs["a"]))
            inter_b.append(fc_gblock(inputs["b"]))
        return {"a": inter_a, "b": inter_b}

    @staticmethod
    def _concatenate(side: T.Any, shared: T.Any, name: str) -> T.Any:
        """Concatenate a side's and the shared fully connected outputs (stream by stream when
        they are ``[face, mask]``)."""
        side_face, side_mask = _side_inputs(side)
        shared_face, shared_mask = _side_inputs(shared)
        face = kl.Concatenate(name=name)([side_face, shared_face])
        if side_mask is None or shared_mask is None:
            return face
        return [face, kl.Concatenate(name=f"{name}_mask")([side_mask, shared_mask])]

    def _build_g_blocks(self, inters: dict[str, list[T.Any]]) -> dict[str, T.Any]:
        """Each side's decoder input: the G-Block output (with the mask stream alongside when
        there is one), or the fully connected output when the G-Block is disabled.

        Faceswap compat: Faceswap feeds a ``[face, mask]`` fully connected output to the G-Block
        and crashes (``dec_upscales_in_fc > 0`` with ``learn_mask``); the G-Block takes the face
        stream and the mask stream goes straight to the decoder.
        """
        if not cfg.enable_gblock():
            return {side: inters[side][0] for side in ("a", "b")}
        streams = {side: _side_inputs(inters[side][0]) for side in ("a", "b")}
        input_shapes = [tuple(streams["a"][0].shape[1:]), tuple(inters["a"][1].shape[1:])]
        if cfg.split_gblock():
            g_blocks = {side: GBlock(side, input_shapes)() for side in ("a", "b")}
        else:
            g_block = GBlock("both", input_shapes)()
            g_blocks = {"a": g_block, "b": g_block}
        retval: dict[str, T.Any] = {}
        for side in ("a", "b"):
            face, mask = streams[side]
            output = g_blocks[side]([face, inters[side][1]])
            retval[side] = output if mask is None else [output, mask]
        return retval

    def _build_decoders(self, inputs: dict[str, T.Any]) -> dict[str, list[KerasTensor]]:
        """Each side's ``[face(, mask)]`` outputs, from a shared or split decoder."""
        input_shape = tuple(_side_inputs(inputs["a"])[0].shape[1:])
        if cfg.split_decoders():
            return {side: Decoder(side, input_shape)()(inputs[side]) for side in ("a", "b")}
        decoder = Decoder("both", input_shape)()
        return {"a": decoder(inputs["a"]), "b": decoder(inputs["b"])}


__all__ = get_module_objects(__name__)
