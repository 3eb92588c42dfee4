"""Neural network blocks that Faceswap plugins compose into encoders and decoders.

A block is a plain callable, not a Keras layer: constructing it creates standard, named Keras
layers (and our registered custom layers), and calling it on a tensor applies them. Calling one
block instance twice therefore shares its weights, as in Faceswap 3. Saved models contain only
Keras built-ins and registered layers, never the blocks themselves.

Module state is kept to what Faceswap's plugin API needs:

* three global options, set with :func:`set_config`: ``icnr_init`` (ICNR for the convolutions of
  upscale blocks), ``conv_aware_init`` (Convolution Aware initialisation for every convolution)
  and ``reflect_padding`` (reflection padding instead of zero padding in conv and residual
  blocks). They are read when a block is constructed;
* a name counter per prefix, so that layer names are deterministic and equal to Faceswap's for the
  same build order (saved models, weight loading, freezing and the mixed-precision layer list all
  match layers by name). :func:`reset_naming` clears it; ``ModelBase`` calls it before every build.

Faceswap compat: Faceswap 3 reads the three options from its global training configuration when a
block is constructed; ``lib`` must not depend on ``plugins``, so they are pushed in with
:func:`set_config` (Faceswap 2's mechanism) by ``ModelBase`` from ``plugins.train.train_config``.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import keras
from keras import layers

from lib.model.initializers import ICNR, ConvolutionAware
from lib.model.layers import KResizeImages, PixelShuffler, ReflectionPadding2D, Swish
from lib.model.normalization import InstanceNormalization

__all__ = [
    "Conv2D",
    "Conv2DBlock",
    "Conv2DOutput",
    "DepthwiseConv2D",
    "ResidualBlock",
    "SeparableConv2DBlock",
    "Upscale2xBlock",
    "UpscaleBlock",
    "UpscaleDNYBlock",
    "UpscaleResizeImagesBlock",
    "get_config",
    "reset_naming",
    "set_config",
]

logger = logging.getLogger(__name__)

_CONFIG: dict[str, bool] = {"icnr_init": False, "conv_aware_init": False,
                            "reflect_padding": False}
_NAMES: dict[str, int] = {}

_NORMALIZATIONS = ("batch", "instance")
_ACTIVATIONS = ("leakyrelu", "prelu", "swish")


def set_config(configuration: Mapping[str, Any]) -> None:
    """Set the global block options.

    Parameters
    ----------
    configuration
        Any of the keys ``icnr_init``, ``conv_aware_init`` and ``reflect_padding`` with boolean
        values. Keys not given keep their current value.

    Raises
    ------
    ValueError
        For any other key.
    """
    unknown = sorted(set(configuration) - set(_CONFIG))
    if unknown:
        raise ValueError(f"Unknown nn_blocks option(s) {unknown}. Allowed: {sorted(_CONFIG)}")
    _CONFIG.update({key: bool(value) for key, value in configuration.items()})
    logger.debug("nn_blocks configuration: %s", _CONFIG)


def get_config() -> dict[str, bool]:
    """A copy of the current global block options."""
    return dict(_CONFIG)


def reset_naming() -> None:
    """Clear the per-prefix name counters, so the next block names start from ``_0`` again."""
    _NAMES.clear()


def _get_name(prefix: str) -> str:
    """``f"{prefix}_{n}"`` where ``n`` counts the uses of ``prefix`` since the last reset."""
    count = _NAMES.get(prefix, -1) + 1
    _NAMES[prefix] = count
    return f"{prefix}_{count}"


def _get_default_initializer(initializer: Any = None) -> Any:
    """Convolution Aware when ``conv_aware_init`` is set (it overrides anything passed),
    otherwise the given initializer, or He uniform when none is given."""
    if _CONFIG["conv_aware_init"]:
        return ConvolutionAware()
    if initializer is None:
        return keras.initializers.HeUniform()
    if isinstance(initializer, dict) and initializer.get("class_name") == "ConvolutionAware":
        return initializer  # Faceswap compat: a serialized ConvolutionAware stays as it is
    return initializer


def _to_pair(value: int | tuple[int, int] | list[int], argument: str) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    pair = tuple(value)
    if len(pair) != 2:
        raise ValueError(f"`{argument}` must be an int or a pair of ints. Received: {value}")
    return int(pair[0]), int(pair[1])


class Conv2D:
    """A ``keras.layers.Conv2D`` with Faceswap's defaults.

    Parameters
    ----------
    *args, **kwargs
        As ``keras.layers.Conv2D``.
    padding
        ``"same"`` by default (Keras: ``"valid"``).
    is_upscale
        ``True`` when the convolution feeds a pixel shuffle: with ``icnr_init`` its kernel
        initializer is wrapped in :class:`~lib.model.initializers.ICNR`.

    The layer is named ``conv2d_{filters}_{n}`` unless ``name`` is given. The kernel initializer
    defaults to He uniform, or Convolution Aware with ``conv_aware_init``.

    Faceswap compat: as in Faceswap 3 this is a wrapper that holds a stock Keras layer (exposed as
    :attr:`layer`), so saved models contain plain ``Conv2D`` layers.
    """

    def __init__(self, *args: Any, padding: str = "same", is_upscale: bool = False,
                 **kwargs: Any) -> None:
        filters = args[0] if args else kwargs["filters"]
        if kwargs.get("name") is None:
            kwargs["name"] = _get_name(f"conv2d_{filters}")
        initializer = _get_default_initializer(kwargs.pop("kernel_initializer", None))
        if is_upscale and _CONFIG["icnr_init"]:
            initializer = ICNR(initializer=initializer)
        self.layer = layers.Conv2D(*args, padding=padding, kernel_initializer=initializer,
                                   **kwargs)

    @property
    def name(self) -> str:
        return self.layer.name

    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        return self.layer(inputs, *args, **kwargs)


class DepthwiseConv2D:
    """A ``keras.layers.DepthwiseConv2D`` with Faceswap's defaults.

    As :class:`Conv2D`, for the depthwise initializer: padding ``"same"``, name
    ``dwconv2d_{n}`` unless given, He uniform (or Convolution Aware) depthwise initializer, wrapped
    in ICNR when ``is_upscale`` and ``icnr_init``.
    """

    def __init__(self, *args: Any, padding: str = "same", is_upscale: bool = False,
                 **kwargs: Any) -> None:
        if kwargs.get("name") is None:
            kwargs["name"] = _get_name("dwconv2d")
        initializer = _get_default_initializer(kwargs.pop("depthwise_initializer", None))
        if is_upscale and _CONFIG["icnr_init"]:
            initializer = ICNR(initializer=initializer)
        self.layer = layers.DepthwiseConv2D(*args, padding=padding,
                                            depthwise_initializer=initializer, **kwargs)

    @property
    def name(self) -> str:
        return self.layer.name

    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        return self.layer(inputs, *args, **kwargs)


class Conv2DOutput:
    """The output head of a decoder: a convolution followed by a float32 activation.

    Every model output must come from this block: its activation layer has ``dtype="float32"``,
    so the model's outputs stay float32 under mixed precision.

    Parameters
    ----------
    filters
        Output channels (3 for a face, 1 for a mask).
    kernel_size
        Kernel size of the convolution.
    activation
        Final activation, ``"sigmoid"`` by default.
    padding
        Convolution padding.
    **kwargs
        Passed to the convolution. A ``name`` gets a counter added: ``face_out_a`` names the
        activation ``face_out_a_0`` and the convolution ``face_out_a_0_conv2d``. Without a name
        the base name is ``conv_output_{filters}_{n}``.
    """

    def __init__(self, filters: int, kernel_size: int | tuple[int, int],
                 activation: str = "sigmoid", padding: str = "same", **kwargs: Any) -> None:
        name = kwargs.pop("name", None)
        self.name = _get_name(name) if name else _get_name(f"conv_output_{filters}")
        self._conv = Conv2D(filters, kernel_size, padding=padding, name=f"{self.name}_conv2d",
                            **kwargs)
        self._activation = layers.Activation(activation, dtype="float32", name=self.name)

    def __call__(self, inputs: Any) -> Any:
        return self._activation(self._conv(inputs))


def _activation_layer(activation: str | None, name: str, relu_alpha: float) -> Any:
    """The activation layer a block appends, or ``None``."""
    if activation is None:
        return None
    if activation == "leakyrelu":
        return layers.LeakyReLU(negative_slope=relu_alpha, name=f"{name}_leakyrelu")
    if activation == "swish":
        return Swish(name=f"{name}_swish")
    if activation == "prelu":
        return layers.PReLU(name=f"{name}_prelu")
    raise ValueError(f"Unknown activation {activation!r}. Allowed: {list(_ACTIVATIONS)} or None")


def _apply(stack: list[Any], inputs: Any) -> Any:
    for layer in stack:
        inputs = layer(inputs)
    return inputs


class Conv2DBlock:
    """Convolution, then optional normalization and activation.

    Layers, for the base name ``B`` (``conv_{filters}_{n}`` unless ``name`` is given):
    ``B_reflectionpadding2d`` (with ``reflect_padding``, which turns the convolution's padding to
    ``"valid"``), ``B_conv2d`` (or ``B_dwconv2d``), ``B_instancenorm`` or ``B_batchnorm``, then
    ``B_leakyrelu``, ``B_swish`` or ``B_prelu``.

    Parameters
    ----------
    filters
        Output channels (ignored by a depthwise convolution).
    kernel_size, strides, padding
        Of the convolution.
    normalization
        ``None``, ``"batch"`` or ``"instance"`` (case-insensitive).
    activation
        ``None``, ``"leakyrelu"``, ``"swish"`` or ``"prelu"``.
    use_depthwise
        Use a depthwise convolution instead of a full one.
    relu_alpha
        Negative slope of the leaky ReLU.
    **kwargs
        Passed to the convolution (e.g. ``is_upscale``, ``kernel_initializer``, ``use_bias``).
    """

    def __init__(self, filters: int, kernel_size: int | tuple[int, int] = 5,
                 strides: int | tuple[int, int] = 2, padding: str = "same",
                 normalization: str | None = None, activation: str | None = "leakyrelu",
                 use_depthwise: bool = False, relu_alpha: float = 0.1, **kwargs: Any) -> None:
        normalization = normalization.lower() if normalization else None
        if normalization not in (None, *_NORMALIZATIONS):
            raise ValueError(f"Unknown normalization {normalization!r}. "
                             f"Allowed: {list(_NORMALIZATIONS)} or None")
        if activation not in (None, *_ACTIVATIONS):
            raise ValueError(f"Unknown activation {activation!r}. "
                             f"Allowed: {list(_ACTIVATIONS)} or None")
        self.name = kwargs.pop("name", None) or _get_name(f"conv_{filters}")
        kernel_size = _to_pair(kernel_size, "kernel_size")
        strides = _to_pair(strides, "strides")
        self._layers: list[Any] = []
        if _CONFIG["reflect_padding"]:
            self._layers.append(ReflectionPadding2D(stride=strides[0], kernel_size=kernel_size[0],
                                                    name=f"{self.name}_reflectionpadding2d"))
            padding = "valid"
        if use_depthwise:
            self._layers.append(DepthwiseConv2D(kernel_size, strides=strides, padding=padding,
                                                name=f"{self.name}_dwconv2d", **kwargs))
        else:
            self._layers.append(Conv2D(filters, kernel_size, strides=strides, padding=padding,
                                       name=f"{self.name}_conv2d", **kwargs))
        if normalization == "instance":
            self._layers.append(InstanceNormalization(name=f"{self.name}_instancenorm"))
        elif normalization == "batch":
            self._layers.append(layers.BatchNormalization(axis=3,
                                                          name=f"{self.name}_batchnorm"))
        activation_layer = _activation_layer(activation, self.name, relu_alpha)
        if activation_layer is not None:
            self._layers.append(activation_layer)

    def __call__(self, inputs: Any) -> Any:
        return _apply(self._layers, inputs)


class SeparableConv2DBlock:
    """A depthwise-separable convolution (padding ``"same"``) followed by ReLU.

    Layers: ``B_seperableconv2d`` (Faceswap's spelling, kept for weight compatibility) and
    ``B_relu``, with ``B = separableconv2d_{filters}_{n}``. The default initializer is used for
    both the depthwise and the pointwise kernel.
    """

    def __init__(self, filters: int, kernel_size: int | tuple[int, int] = 5,
                 strides: int | tuple[int, int] = 2, **kwargs: Any) -> None:
        self.name = _get_name(f"separableconv2d_{filters}")
        initializer = kwargs.pop("kernel_initializer", None)
        self._layers = [
            layers.SeparableConv2D(
                filters, kernel_size=kernel_size, strides=strides, padding="same",
                # Separate instances: ConvolutionAware marks itself initialized after one call.
                depthwise_initializer=_get_default_initializer(initializer),
                pointwise_initializer=_get_default_initializer(initializer),
                name=f"{self.name}_seperableconv2d", **kwargs),
            layers.Activation("relu", name=f"{self.name}_relu")]

    def __call__(self, inputs: Any) -> Any:
        return _apply(self._layers, inputs)


class UpscaleBlock:
    """Sub-pixel upscale: a stride-1 :class:`Conv2DBlock` with ``filters * scale_factor**2``
    channels, then :class:`~lib.model.layers.PixelShuffler`.

    Output: ``(H * scale_factor, W * scale_factor, filters)``. Layers, for
    ``B = upscale_{filters}_{n}``: ``B_conv2d_conv2d``, ``B_conv2d_<norm>``,
    ``B_conv2d_<activation>``, ``B_pixelshuffler``. The convolution is marked ``is_upscale``, so
    ``icnr_init`` applies to it.
    """

    def __init__(self, filters: int, kernel_size: int | tuple[int, int] = 3,
                 padding: str = "same", scale_factor: int = 2,
                 normalization: str | None = None, activation: str | None = "leakyrelu",
                 **kwargs: Any) -> None:
        self.name = _get_name(f"upscale_{filters}")
        self._conv = Conv2DBlock(filters * scale_factor * scale_factor, kernel_size=kernel_size,
                                 strides=(1, 1), padding=padding, normalization=normalization,
                                 activation=activation, name=f"{self.name}_conv2d",
                                 is_upscale=True, **kwargs)
        self._shuffle = PixelShuffler(name=f"{self.name}_pixelshuffler", size=scale_factor)

    def __call__(self, inputs: Any) -> Any:
        return self._shuffle(self._conv(inputs))


class Upscale2xBlock:
    """Sub-pixel upscale combined with a convolution + ``UpSampling2D`` branch.

    * ``fast=True``: ``Add()`` of the two branches, each with ``filters`` channels.
    * ``fast=False`` (hybrid): each branch has ``filters - int(filters * sr_ratio)`` channels and
      they are concatenated (``B_concatenate``); with no channels left for the convolution branch
      only the sub-pixel branch is used.

    Layers, for ``B = upscale2x_{filters}_{fast|hyb}_{n}``: ``B_conv2d``, ``B_upsampling2D``,
    ``B_concatenate`` (hybrid only), plus an inner :class:`UpscaleBlock` (named after its own
    counter, taken after this block's).
    """

    def __init__(self, filters: int, kernel_size: int | tuple[int, int] = 3,
                 padding: str = "same", activation: str | None = "leakyrelu",
                 interpolation: str = "bilinear", sr_ratio: float = 0.5, scale_factor: int = 2,
                 fast: bool = False, **kwargs: Any) -> None:
        self.name = _get_name(f"upscale2x_{filters}_{'fast' if fast else 'hyb'}")
        self._fast = fast
        self.filters = filters if fast else filters - int(filters * sr_ratio)
        self._branch: list[Any] = []
        if fast or self.filters > 0:
            self._branch = [
                Conv2D(self.filters, 3, padding=padding, is_upscale=True,
                       name=f"{self.name}_conv2d", **kwargs),
                layers.UpSampling2D(size=(scale_factor, scale_factor),
                                    interpolation=interpolation,
                                    name=f"{self.name}_upsampling2D")]
        self._upscale = UpscaleBlock(self.filters, kernel_size=kernel_size, padding=padding,
                                     scale_factor=scale_factor, activation=activation, **kwargs)
        self._merge = None
        if self._branch:
            self._merge = (layers.Add() if fast
                           else layers.Concatenate(name=f"{self.name}_concatenate"))

    def __call__(self, inputs: Any) -> Any:
        upscaled = self._upscale(inputs)
        if self._merge is None:
            return upscaled
        resized = _apply(self._branch, inputs)
        if self._fast:
            return self._merge([resized, upscaled])
        return self._merge([upscaled, resized])


class UpscaleResizeImagesBlock:
    """Upscale by resizing and by a transposed convolution, added together.

    ``KResizeImages`` (``B_resize``) + convolution (``B_conv``) added to a stride-2
    ``Conv2DTranspose`` (``B_convtrans``), then LeakyReLU(0.2), Swish or PReLU
    (``B_leakyrelu`` ...), with ``B = upscale_ri_{filters}_{n}``.

    Faceswap compat: Faceswap 3 raises for ``activation=None``; we then add no activation, as
    Faceswap 2 did.
    """

    def __init__(self, filters: int, kernel_size: int | tuple[int, int] = 3,
                 padding: str = "same", activation: str | None = "leakyrelu",
                 scale_factor: int = 2, interpolation: str = "bilinear") -> None:
        self.name = _get_name(f"upscale_ri_{filters}")
        self._resize = KResizeImages(size=scale_factor, interpolation=interpolation,
                                     name=f"{self.name}_resize")
        self._conv = Conv2D(filters, kernel_size, strides=1, padding=padding, is_upscale=True,
                            name=f"{self.name}_conv")
        self._transpose = layers.Conv2DTranspose(filters, 3, strides=2, padding=padding,
                                                 name=f"{self.name}_convtrans")
        self._add = layers.Add()
        self._activation = _activation_layer(activation, self.name, 0.2)

    def __call__(self, inputs: Any) -> Any:
        outputs = self._add([self._conv(self._resize(inputs)), self._transpose(inputs)])
        return outputs if self._activation is None else self._activation(outputs)


class UpscaleDNYBlock:
    """Upscale by ``UpSampling2D`` (``B_upsample2d``) followed by two stride-1
    :class:`Conv2DBlock` s (``B_conv2d_1``, ``B_conv2d_2``, LeakyReLU slope 0.2), with
    ``B = upscale_dny_{filters}_{n}``."""

    def __init__(self, filters: int, kernel_size: int | tuple[int, int] = 3,
                 padding: str = "same", activation: str | None = "leakyrelu", size: int = 2,
                 interpolation: str = "bilinear", **kwargs: Any) -> None:
        self.name = _get_name(f"upscale_dny_{filters}")
        self._layers: list[Any] = [layers.UpSampling2D(size=size, interpolation=interpolation,
                                                       name=f"{self.name}_upsample2d")]
        self._layers.extend(
            Conv2DBlock(filters, kernel_size=kernel_size, strides=1, padding=padding,
                        activation=activation, relu_alpha=0.2, name=f"{self.name}_conv2d_{idx}",
                        is_upscale=True, **kwargs)
            for idx in (1, 2))

    def __call__(self, inputs: Any) -> Any:
        return _apply(self._layers, inputs)


class ResidualBlock:
    """Two convolutions with a skip connection.

    conv (``B_conv2d_0``) -> LeakyReLU(0.2) (``B_leakyrelu_1``) -> conv (``B_conv2d_1``) ->
    add the input -> LeakyReLU(0.2) (``B_leakyrelu_3``), with ``B = residual_{filters}_{n}`` and
    ``B_reflectionpadding2d_{0|1}`` before each convolution with ``reflect_padding``. The second
    convolution is initialised with ``VarianceScaling(0.2, "fan_in", "uniform")`` (the caller's
    ``kernel_initializer`` applies to the first only) unless ``conv_aware_init`` is set. The input
    must already have ``filters`` channels.
    """

    def __init__(self, filters: int, kernel_size: int | tuple[int, int] = 3,
                 padding: str = "same", **kwargs: Any) -> None:
        self.name = _get_name(f"residual_{filters}")
        reflect = _CONFIG["reflect_padding"]
        if reflect:
            padding = "valid"
        kernel = _to_pair(kernel_size, "kernel_size")
        second_kwargs = {key: value for key, value in kwargs.items()
                         if key != "kernel_initializer"}
        if not _CONFIG["conv_aware_init"]:
            second_kwargs["kernel_initializer"] = keras.initializers.VarianceScaling(
                scale=0.2, mode="fan_in", distribution="uniform")
        self._layers: list[Any] = []
        for idx, conv_kwargs in enumerate((kwargs, second_kwargs)):
            if reflect:
                self._layers.append(ReflectionPadding2D(
                    stride=1, kernel_size=kernel[0],
                    name=f"{self.name}_reflectionpadding2d_{idx}"))
            self._layers.append(Conv2D(filters, kernel_size=kernel, padding=padding,
                                       name=f"{self.name}_conv2d_{idx}", **conv_kwargs))
            if idx == 0:
                self._layers.append(layers.LeakyReLU(negative_slope=0.2,
                                                     name=f"{self.name}_leakyrelu_1"))
        self._add = layers.Add()
        self._activation = layers.LeakyReLU(negative_slope=0.2, name=f"{self.name}_leakyrelu_3")

    def __call__(self, inputs: Any) -> Any:
        return self._activation(self._add([_apply(self._layers, inputs), inputs]))
