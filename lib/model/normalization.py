"""Normalization layers for Faceswap plugins.

Faceswap's ``lib.model.normalization`` classes, with Faceswap's names, arguments, defaults and
maths, written with ``keras.ops`` so they run on TensorFlow, JAX and PyTorch:

* :class:`InstanceNormalization`: per-sample normalisation over the spatial (and, by default,
  channel) axes; used by ``Conv2DBlock(normalization="instance")``.
* :class:`AdaInstanceNormalization`: adaptive instance normalisation, called on
  ``[x, beta, gamma]``.
* :class:`GroupNormalization`: normalisation over groups of channels.
* :class:`RMSNormalization`: root-mean-square normalisation, optionally over a leading part of
  the axis.
* :class:`LayerNormalization`: Faceswap's own layer normalisation (a distinct class from
  ``keras.layers.LayerNormalization``).

Under a mixed precision policy every layer here computes its statistics in float32 and casts
the output back to the layer's compute dtype, so float16 over- and underflow in the variance
cannot happen. The weights are float32 variables that are not auto-cast inside ``call``.
"""
from __future__ import annotations

from collections.abc import Sequence
from numbers import Real
from typing import TYPE_CHECKING, Any, Literal

import keras
from keras import ops

from lib.registry import register_serializable

if TYPE_CHECKING:
    from keras.constraints import Constraint
    from keras.initializers import Initializer
    from keras.regularizers import Regularizer

__all__ = [
    "AdaInstanceNormalization",
    "GroupNormalization",
    "InstanceNormalization",
    "LayerNormalization",
    "RMSNormalization",
]

_LOW_PRECISION = ("float16", "bfloat16")
_DATA_FORMATS = ("channels_first", "channels_last")


def _maths_dtype(compute_dtype: str) -> str:
    """The dtype the statistics are computed in: float32 for half-precision policies."""
    return "float32" if compute_dtype in _LOW_PRECISION else compute_dtype


def _check_epsilon(epsilon: Any) -> float:
    """``epsilon`` as a float; it must be a non-negative real number."""
    if isinstance(epsilon, bool) or not isinstance(epsilon, Real) or epsilon < 0:
        raise ValueError(f"`epsilon` must be a non-negative number. Received: epsilon={epsilon!r}")
    return float(epsilon)


def _check_int(name: str, value: Any) -> int:
    """``value`` as an int; bools and non-integers raise ``TypeError``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"`{name}` must be an int. Received: {name}={value!r} "
                        f"of type {type(value).__name__}")
    return int(value)


def _resolve_axis(name: str, axis: int, ndim: int) -> int:
    """A possibly negative ``axis`` as a non-negative index into a rank-``ndim`` shape."""
    if not -ndim <= axis < ndim:
        raise ValueError(f"`{name}` is out of range for an input of rank {ndim}: allowed values "
                         f"are {-ndim} to {ndim - 1}. Received: {name}={axis}")
    return axis % ndim


def _instance_axes(layer_name: str, axis: int | None, input_shape: Sequence[int | None]
                   ) -> list[int]:
    """The axes Faceswap's instance norms reduce over: all but the batch axis and ``axis``."""
    ndim = len(input_shape)
    axes = list(range(1, ndim))
    if axis is None:
        return axes
    resolved = _resolve_axis("axis", axis, ndim)
    if resolved == 0:
        raise ValueError(f"{layer_name}: `axis` must not be the batch axis. Received: axis={axis} "
                         f"for an input of shape {tuple(input_shape)}")
    if input_shape[resolved] is None:
        raise ValueError(f"{layer_name}: axis {axis} of the input must have a defined size. "
                         f"Received an input of shape {tuple(input_shape)}")
    axes.remove(resolved)
    return axes


def _instance_normalize(inputs: Any, axes: list[int], epsilon: float, dtype: str) -> Any:
    """``(x - mean) / (std + epsilon)`` over ``axes``, computed in ``dtype``."""
    inputs = ops.cast(inputs, dtype)
    mean = ops.mean(inputs, axis=axes, keepdims=True)
    stddev = ops.std(inputs, axis=axes, keepdims=True) + epsilon
    return (inputs - mean) / stddev


class _AffineNormalization(keras.layers.Layer):
    """Shared by the normalizations with optional learned ``gamma`` (scale) and ``beta``
    (center): storing, building and serialising those two weights and their options."""

    def _init_affine(self, center: bool, scale: bool, beta_initializer: Any,
                     gamma_initializer: Any, beta_regularizer: Any, gamma_regularizer: Any,
                     beta_constraint: Any, gamma_constraint: Any) -> None:
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = keras.initializers.get(beta_initializer)
        self.gamma_initializer = keras.initializers.get(gamma_initializer)
        self.beta_regularizer = keras.regularizers.get(beta_regularizer)
        self.gamma_regularizer = keras.regularizers.get(gamma_regularizer)
        self.beta_constraint = keras.constraints.get(beta_constraint)
        self.gamma_constraint = keras.constraints.get(gamma_constraint)
        self.gamma = None
        self.beta = None

    def _build_affine(self, shape: tuple[int, ...]) -> None:
        """Create ``gamma`` (with ``scale``) and ``beta`` (with ``center``), kept float32."""
        if self.scale:
            self.gamma = self.add_weight(name="gamma", shape=shape,
                                         initializer=self.gamma_initializer,
                                         regularizer=self.gamma_regularizer,
                                         constraint=self.gamma_constraint,
                                         autocast=False)
        if self.center:
            self.beta = self.add_weight(name="beta", shape=shape,
                                        initializer=self.beta_initializer,
                                        regularizer=self.beta_regularizer,
                                        constraint=self.beta_constraint,
                                        autocast=False)

    def _affine_config(self) -> dict[str, Any]:
        return {
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": keras.initializers.serialize(self.beta_initializer),
            "gamma_initializer": keras.initializers.serialize(self.gamma_initializer),
            "beta_regularizer": keras.regularizers.serialize(self.beta_regularizer),
            "gamma_regularizer": keras.regularizers.serialize(self.gamma_regularizer),
            "beta_constraint": keras.constraints.serialize(self.beta_constraint),
            "gamma_constraint": keras.constraints.serialize(self.gamma_constraint),
        }


@register_serializable()
class InstanceNormalization(_AffineNormalization):
    """Instance normalization (Ulyanov et al., 2016), as in Faceswap.

    Each sample is normalised on its own, over every axis except the batch axis and ``axis``:
    ``(x - mean) / (std + epsilon)``, then scaled by ``gamma`` and shifted by ``beta``. Note
    that ``epsilon`` is added to the standard deviation, not to the variance. With the default
    ``axis=None`` the statistics are taken over the spatial axes **and** the channels together,
    and ``gamma``/``beta`` are single values (shape ``(1,)``); with an ``axis`` they hold one
    value per entry of that axis (shape ``(C,)``).

    Parameters
    ----------
    axis
        The axis that is kept (typically the channels, ``-1``), or ``None`` to normalise over
        all non-batch axes. Must not be the batch axis, and must be ``None`` for rank-2 inputs.
        Default: ``None``.
    epsilon
        Added to the standard deviation. Default: ``1e-3``.
    center
        Add the learned offset ``beta``. Default: ``True``.
    scale
        Multiply by the learned ``gamma``. Default: ``True``.
    beta_initializer, gamma_initializer
        Initializers for ``beta`` (default ``"zeros"``) and ``gamma`` (default ``"ones"``).
    beta_regularizer, gamma_regularizer
        Optional regularizers for ``beta`` and ``gamma``. Default: ``None``.
    beta_constraint, gamma_constraint
        Optional constraints for ``beta`` and ``gamma``. Default: ``None``.
    **kwargs
        Standard :class:`keras.layers.Layer` arguments (``name``, ``dtype``, ...).

    Call input: a tensor of rank 2 or more. Output: the same shape.

    Raises
    ------
    ValueError
        If ``axis`` is the batch axis (``0``), is out of range, has an undefined size, or is
        given for a rank-2 input.

    Faceswap compat: an ``axis`` that is out of range, or negative and resolving to the batch
    axis (e.g. ``-4`` on a rank-4 input), raises ``ValueError``; Faceswap silently reduces over
    the wrong axes. Statistics are computed in float32 under mixed precision.

    Examples
    --------
    >>> layer = InstanceNormalization(axis=-1)
    >>> layer(keras.ops.ones((2, 8, 8, 3))).shape
    (2, 8, 8, 3)

    References
    ----------
    Ulyanov, Vedaldi, Lempitsky. Instance Normalization: The Missing Ingredient for Fast
    Stylization. https://arxiv.org/abs/1607.08022
    """

    def __init__(self,
                 axis: int | None = None,
                 epsilon: float = 1e-3,
                 center: bool = True,
                 scale: bool = True,
                 beta_initializer: str | Initializer = "zeros",
                 gamma_initializer: str | Initializer = "ones",
                 beta_regularizer: str | Regularizer | None = None,
                 gamma_regularizer: str | Regularizer | None = None,
                 beta_constraint: str | Constraint | None = None,
                 gamma_constraint: str | Constraint | None = None,
                 **kwargs: Any) -> None:
        if axis is not None:
            axis = _check_int("axis", axis)
            if axis == 0:
                raise ValueError("`axis` must not be 0 (the batch axis): use None or a non-batch "
                                 f"axis such as -1. Received: axis={axis}")
        epsilon = _check_epsilon(epsilon)
        super().__init__(**kwargs)
        self.axis = axis
        self.epsilon = epsilon
        self._init_affine(center, scale, beta_initializer, gamma_initializer, beta_regularizer,
                          gamma_regularizer, beta_constraint, gamma_constraint)

    def build(self, input_shape: Sequence[int | None]) -> None:
        ndim = len(input_shape)
        if ndim < 2:
            raise ValueError("InstanceNormalization needs an input of rank 2 or more. "
                             f"Received an input of shape {tuple(input_shape)}")
        if self.axis is not None and ndim == 2:
            raise ValueError("InstanceNormalization: `axis` must be None for a rank-2 input. "
                             f"Received: axis={self.axis} for an input of shape "
                             f"{tuple(input_shape)}")
        _instance_axes(self.name, self.axis, input_shape)  # validates ``axis``
        shape = (1,) if self.axis is None else (input_shape[self.axis],)
        self._build_affine(shape)

    def call(self, inputs: Any) -> Any:
        ndim = len(inputs.shape)
        dtype = _maths_dtype(self.compute_dtype)
        axes = _instance_axes(self.name, self.axis, inputs.shape)
        outputs = _instance_normalize(inputs, axes, self.epsilon, dtype)
        broadcast_shape = [1] * ndim
        if self.axis is not None:
            broadcast_shape[self.axis] = inputs.shape[self.axis]
        if self.gamma is not None:
            outputs = outputs * ops.reshape(ops.cast(self.gamma, dtype), broadcast_shape)
        if self.beta is not None:
            outputs = outputs + ops.reshape(ops.cast(self.beta, dtype), broadcast_shape)
        return ops.cast(outputs, self.compute_dtype)

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple[int | None, ...]:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "axis": self.axis,
            "epsilon": self.epsilon,
            **self._affine_config(),
        }


@register_serializable()
class AdaInstanceNormalization(keras.layers.Layer):
    """Adaptive instance normalization (Huang and Belongie, 2017), as in Faceswap.

    Called on ``[x, beta, gamma]``: ``x`` is normalised per sample over every axis except the
    batch axis and ``axis``, as ``(x - mean) / (std + epsilon)``, and the result is
    ``normed * gamma + beta``, with ``beta`` and ``gamma`` supplied as inputs (typically of
    shape ``(N, 1, 1, C)``, broadcast against ``x``). The layer has no weights.

    Parameters
    ----------
    axis
        The axis that is kept (the channels), or ``None`` to normalise over all non-batch axes.
        Default: ``-1``.
    momentum
        Stored and serialised for Faceswap compatibility; it has no effect. Default: ``0.99``.
    epsilon
        Added to the standard deviation. Default: ``1e-3``.
    center, scale
        Stored and serialised for Faceswap compatibility; as in Faceswap, ``gamma`` and
        ``beta`` are always applied. Default: ``True``.
    **kwargs
        Standard :class:`keras.layers.Layer` arguments (``name``, ``dtype``, ...).

    Call input: a list ``[x, beta, gamma]``. Output: the shape of ``x``.

    Raises
    ------
    ValueError
        If the input is not a list of three tensors, or ``axis`` is the batch axis, out of
        range, or of undefined size.

    Faceswap compat: statistics are computed in float32 under mixed precision.

    Examples
    --------
    >>> x = keras.ops.ones((2, 8, 8, 4))
    >>> beta = gamma = keras.ops.ones((2, 1, 1, 4))
    >>> AdaInstanceNormalization()([x, beta, gamma]).shape
    (2, 8, 8, 4)

    References
    ----------
    Huang, Belongie. Arbitrary Style Transfer in Real-time with Adaptive Instance
    Normalization. https://arxiv.org/abs/1703.06868
    """

    def __init__(self,
                 axis: int | None = -1,
                 momentum: float = 0.99,
                 epsilon: float = 1e-3,
                 center: bool = True,
                 scale: bool = True,
                 **kwargs: Any) -> None:
        if axis is not None:
            axis = _check_int("axis", axis)
            if axis == 0:
                raise ValueError("`axis` must not be 0 (the batch axis): use None or a non-batch "
                                 f"axis such as -1. Received: axis={axis}")
        if isinstance(momentum, bool) or not isinstance(momentum, Real):
            raise TypeError(f"`momentum` must be a number. Received: momentum={momentum!r}")
        epsilon = _check_epsilon(epsilon)
        super().__init__(**kwargs)
        self.axis = axis
        self.momentum = float(momentum)
        self.epsilon = epsilon
        self.center = bool(center)
        self.scale = bool(scale)

    @staticmethod
    def _check_inputs(input_shape: Any) -> None:
        if (not isinstance(input_shape, (list, tuple)) or len(input_shape) != 3
                or not all(isinstance(shape, (list, tuple)) for shape in input_shape)):
            raise ValueError("AdaInstanceNormalization must be called on a list of three tensors "
                             f"[x, beta, gamma]. Received input shape(s): {input_shape}")

    def build(self, input_shape: Sequence[Sequence[int | None]]) -> None:
        self._check_inputs(input_shape)
        _instance_axes(self.name, self.axis, input_shape[0])  # validates ``axis``

    def call(self, inputs: Sequence[Any]) -> Any:
        features, beta, gamma = inputs
        dtype = _maths_dtype(self.compute_dtype)
        axes = _instance_axes(self.name, self.axis, features.shape)
        normed = _instance_normalize(features, axes, self.epsilon, dtype)
        outputs = normed * ops.cast(gamma, dtype) + ops.cast(beta, dtype)
        return ops.cast(outputs, self.compute_dtype)

    def compute_output_shape(self, input_shape: Sequence[Sequence[int | None]]
                             ) -> tuple[int | None, ...]:
        self._check_inputs(input_shape)
        return tuple(input_shape[0])

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "axis": self.axis,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
        }


@register_serializable()
class GroupNormalization(keras.layers.Layer):
    """Group normalization (Wu and He, 2018), as in Faceswap.

    For a rank-4 input the channels are split into ``group`` groups; each sample and group is
    normalised over its spatial positions and its channels as ``(x - mean) /
    sqrt(var + epsilon)``, then scaled by ``gamma`` and shifted by ``beta`` (one value per
    channel, shaped ``(1, 1, 1, C)`` for channels-last, ``(1, C, 1, 1)`` for channels-first).
    For a rank-2 input, as in Faceswap, the mean and variance are those of the **whole tensor**
    (across the batch too), and ``gamma``/``beta`` are shaped ``(1, C)``.

    Parameters
    ----------
    axis
        Stored (as a list) and serialised for Faceswap compatibility; it does not affect the
        maths. Default: ``-1``.
    gamma_init, beta_init
        Initializers for ``gamma`` (default ``"one"``) and ``beta`` (default ``"zero"``).
    gamma_regularizer, beta_regularizer
        Optional regularizers for ``gamma`` and ``beta``. Default: ``None``.
    epsilon
        Added to the variance. Default: ``1e-6``.
    group
        The number of channel groups. The channels must be at least ``group`` and divisible by
        it. Default: ``32``.
    data_format
        ``"channels_last"`` or ``"channels_first"``; ``None`` takes
        ``keras.config.image_data_format()``. Default: ``None``.
    **kwargs
        Standard :class:`keras.layers.Layer` arguments (``name``, ``dtype``, ...).

    Call input: a tensor of rank 4 or 2. Output: the same shape.

    Raises
    ------
    ValueError
        If the input rank is not 2 or 4, if a rank-4 input has fewer channels than ``group``
        or a channel count not divisible by it, or ``data_format`` is unknown.

    Faceswap compat: Faceswap serialises ``beta_regularizer`` from ``gamma_regularizer`` (a
    bug); we serialise each from its own value. We also serialise ``data_format``, and raise
    ``ValueError`` when the channels are not divisible by ``group`` (Faceswap fails inside the
    backend's reshape). Statistics are computed in float32 under mixed precision.

    Examples
    --------
    >>> layer = GroupNormalization(group=4)
    >>> layer(keras.ops.ones((2, 8, 8, 16))).shape
    (2, 8, 8, 16)

    References
    ----------
    Wu, He. Group Normalization. https://arxiv.org/abs/1803.08494
    """

    def __init__(self,
                 axis: int | Sequence[int] = -1,
                 gamma_init: str | Initializer = "one",
                 beta_init: str | Initializer = "zero",
                 gamma_regularizer: str | Regularizer | None = None,
                 beta_regularizer: str | Regularizer | None = None,
                 epsilon: float = 1e-6,
                 group: int = 32,
                 data_format: Literal["channels_first", "channels_last"] | None = None,
                 **kwargs: Any) -> None:
        axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
        axes = [_check_int("axis", value) for value in axes]
        epsilon = _check_epsilon(epsilon)
        group = _check_int("group", group)
        if group < 1:
            raise ValueError(f"`group` must be a positive int. Received: group={group}")
        if data_format is None:
            data_format = keras.config.image_data_format()
        if data_format not in _DATA_FORMATS:
            raise ValueError(f"`data_format` must be one of {sorted(_DATA_FORMATS)} or None. "
                             f"Received: data_format={data_format!r}")
        super().__init__(**kwargs)
        self.axis = axes
        self.gamma_init = keras.initializers.get(gamma_init)
        self.beta_init = keras.initializers.get(beta_init)
        self.gamma_regularizer = keras.regularizers.get(gamma_regularizer)
        self.beta_regularizer = keras.regularizers.get(beta_regularizer)
        self.epsilon = epsilon
        self.group = group
        self.data_format = data_format
        self.gamma = None
        self.beta = None

    @property
    def _channel_axis(self) -> int:
        return -1 if self.data_format == "channels_last" else 1

    def _check_shape(self, input_shape: Sequence[int | None]) -> None:
        ndim = len(input_shape)
        if ndim not in (2, 4):
            raise ValueError("GroupNormalization needs an input of rank 4 or 2. Received an "
                             f"input of rank {ndim}, shape {tuple(input_shape)}")
        channels = input_shape[self._channel_axis]
        if channels is None:
            raise ValueError("GroupNormalization needs a defined channel size. Received an input "
                             f"of shape {tuple(input_shape)} ({self.data_format})")
        if ndim == 4 and channels < self.group:
            raise ValueError("GroupNormalization: the input channels must be at least `group`. "
                             f"Received: {channels} channels, group={self.group}")
        if ndim == 4 and channels % self.group:
            raise ValueError("GroupNormalization: the input channels must be divisible by "
                             f"`group`. Received: {channels} channels, group={self.group}")

    def build(self, input_shape: Sequence[int | None]) -> None:
        self._check_shape(input_shape)
        shape = [1] * len(input_shape)
        shape[self._channel_axis] = input_shape[self._channel_axis]
        self.gamma = self.add_weight(name="gamma", shape=tuple(shape),
                                     initializer=self.gamma_init,
                                     regularizer=self.gamma_regularizer, autocast=False)
        self.beta = self.add_weight(name="beta", shape=tuple(shape),
                                    initializer=self.beta_init,
                                    regularizer=self.beta_regularizer, autocast=False)

    def call(self, inputs: Any) -> Any:
        dtype = _maths_dtype(self.compute_dtype)
        features = ops.cast(inputs, dtype)
        if len(inputs.shape) == 2:
            mean = ops.mean(features, keepdims=True)
            variance = ops.var(features, keepdims=True)
            normed = (features - mean) / ops.sqrt(variance + self.epsilon)
        else:
            dynamic_shape = ops.shape(features)
            channels = inputs.shape[self._channel_axis]
            per_group = channels // self.group
            if self.data_format == "channels_last":
                height, width = dynamic_shape[1], dynamic_shape[2]
                grouped_shape = (-1, height, width, self.group, per_group)
                axes = [1, 2, 4]
                out_shape = (-1, height, width, channels)
            else:
                height, width = dynamic_shape[2], dynamic_shape[3]
                grouped_shape = (-1, self.group, per_group, height, width)
                axes = [2, 3, 4]
                out_shape = (-1, channels, height, width)
            grouped = ops.reshape(features, grouped_shape)
            mean = ops.mean(grouped, axis=axes, keepdims=True)
            variance = ops.var(grouped, axis=axes, keepdims=True)
            grouped = (grouped - mean) / ops.sqrt(variance + self.epsilon)
            normed = ops.reshape(grouped, out_shape)
        outputs = ops.cast(self.gamma, dtype) * normed + ops.cast(self.beta, dtype)
        return ops.cast(outputs, self.compute_dtype)

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple[int | None, ...]:
        self._check_shape(input_shape)
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "axis": list(self.axis),
            "gamma_init": keras.initializers.serialize(self.gamma_init),
            "beta_init": keras.initializers.serialize(self.beta_init),
            "gamma_regularizer": keras.regularizers.serialize(self.gamma_regularizer),
            # Faceswap compat: Faceswap writes gamma_regularizer here; we write our own value.
            "beta_regularizer": keras.regularizers.serialize(self.beta_regularizer),
            "epsilon": self.epsilon,
            "group": self.group,
            "data_format": self.data_format,
        }


@register_serializable()
class RMSNormalization(keras.layers.Layer):
    """Root mean square layer normalization (Zhang and Sennrich, 2019), as in Faceswap.

    ``out = scale * x * rsqrt(mean_square + epsilon) + offset``, where ``mean_square`` is the
    mean of ``x**2`` over ``axis``. With ``0 < partial < 1`` (partial RMSNorm) the mean square is
    taken over only the first ``int(size * partial)`` entries of ``axis``, while the whole
    input is rescaled. ``scale`` (initialised to ones) and, with ``bias``, ``offset``
    (initialised to zeros) hold one value per entry of ``axis``.

    Parameters
    ----------
    axis
        The axis to normalise over. Default: ``-1``.
    epsilon
        Added to the mean square. Default: ``1e-8``.
    partial
        The leading fraction of ``axis`` the mean square is estimated from, in ``[0, 1]``;
        ``0`` and ``1`` both mean the whole axis. Default: ``0.0``.
    bias
        Add a learned ``offset``. Default: ``False``.
    **kwargs
        Standard :class:`keras.layers.Layer` arguments (``name``, ``dtype``, ...).

    Call input: a tensor of any rank with a defined size on ``axis``. Output: the same shape.

    Raises
    ------
    TypeError
        If ``axis`` is not an int.
    ValueError
        If ``partial`` is outside ``[0, 1]``, ``axis`` is out of range or of undefined size, or
        ``partial`` selects no entries of ``axis``.

    Faceswap compat: ``scale`` and ``offset`` are broadcast along ``axis`` (Faceswap broadcasts
    them against the last axis whatever ``axis`` is); ``axis`` is serialised as given (Faceswap
    rewrites a negative axis as a positive one when it builds); a ``partial`` that selects no
    entries raises ``ValueError`` (Faceswap returns NaN). Statistics are computed in float32
    under mixed precision.

    Examples
    --------
    >>> layer = RMSNormalization(partial=0.25, bias=True)
    >>> layer(keras.ops.ones((2, 16))).shape
    (2, 16)

    References
    ----------
    Zhang, Sennrich. Root Mean Square Layer Normalization. https://arxiv.org/abs/1910.07467
    """

    def __init__(self,
                 axis: int = -1,
                 epsilon: float = 1e-8,
                 partial: float = 0.0,
                 bias: bool = False,
                 **kwargs: Any) -> None:
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise TypeError(f"Expected an int for the argument `axis`. Received: axis={axis!r} "
                            f"of type {type(axis).__name__}")
        if isinstance(partial, bool) or not isinstance(partial, Real) or not 0.0 <= partial <= 1.0:
            raise ValueError(f"`partial` must be a number between 0.0 and 1.0. Received: "
                             f"partial={partial!r}")
        epsilon = _check_epsilon(epsilon)
        super().__init__(**kwargs)
        self.axis = int(axis)
        self.epsilon = epsilon
        self.partial = float(partial)
        self.bias = bool(bias)
        self.scale = None
        self.offset = None

    def _partial_size(self, size: int) -> int | None:
        """Entries of ``axis`` the mean square uses, or ``None`` for all of them."""
        if self.partial in (0.0, 1.0):
            return None
        return int(size * self.partial)

    def build(self, input_shape: Sequence[int | None]) -> None:
        axis = _resolve_axis("axis", self.axis, len(input_shape))
        size = input_shape[axis]
        if size is None:
            raise ValueError(f"RMSNormalization: axis {self.axis} of the input must have a "
                             f"defined size. Received an input of shape {tuple(input_shape)}")
        if self._partial_size(size) == 0:
            raise ValueError(f"RMSNormalization: `partial`={self.partial} selects no entries of "
                             f"an axis of size {size}; use a larger `partial` or 0.0 for all.")
        self.scale = self.add_weight(name="scale", shape=(size,), initializer="ones",
                                     autocast=False)
        if self.bias:
            self.offset = self.add_weight(name="offset", shape=(size,), initializer="zeros",
                                          autocast=False)

    def call(self, inputs: Any) -> Any:
        ndim = len(inputs.shape)
        axis = _resolve_axis("axis", self.axis, ndim)
        size = inputs.shape[axis]
        dtype = _maths_dtype(self.compute_dtype)
        features = ops.cast(inputs, dtype)
        partial_size = self._partial_size(size)
        sample = features
        if partial_size is not None:
            sample = ops.split(features, [partial_size], axis=axis)[0]
        mean_square = ops.mean(ops.square(sample), axis=axis, keepdims=True)
        broadcast_shape = [1] * ndim
        broadcast_shape[axis] = size
        scale = ops.reshape(ops.cast(self.scale, dtype), broadcast_shape)
        outputs = scale * features * ops.rsqrt(mean_square + self.epsilon)
        if self.offset is not None:
            outputs = outputs + ops.reshape(ops.cast(self.offset, dtype), broadcast_shape)
        return ops.cast(outputs, self.compute_dtype)

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple[int | None, ...]:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "axis": self.axis,
            "epsilon": self.epsilon,
            "partial": self.partial,
            "bias": self.bias,
        }


@register_serializable()
class LayerNormalization(_AffineNormalization):
    """Layer normalization (Ba et al., 2016), Faceswap's own implementation.

    Each sample is normalised over ``axis`` (one axis or several) as ``(x - mean) /
    sqrt(var + epsilon)``, then scaled by ``gamma`` and shifted by ``beta``, which are shaped
    like the normalised axes (for example ``(C,)`` for ``axis=-1``, ``(H, W, C)`` for
    ``axis=[1, 2, 3]``). This is a distinct class from ``keras.layers.LayerNormalization``,
    which stays available under its own name.

    Parameters
    ----------
    axis
        The axis or list of axes to normalise over. Default: ``-1``.
    epsilon
        Added to the variance. Default: ``1e-3``.
    center
        Add the learned offset ``beta``. Default: ``True``.
    scale
        Multiply by the learned ``gamma``. Default: ``True``.
    beta_initializer, gamma_initializer
        Initializers for ``beta`` (default ``"zeros"``) and ``gamma`` (default ``"ones"``).
    beta_regularizer, gamma_regularizer
        Optional regularizers for ``beta`` and ``gamma``. Default: ``None``.
    beta_constraint, gamma_constraint
        Optional constraints for ``beta`` and ``gamma``. Default: ``None``.
    **kwargs
        Standard :class:`keras.layers.Layer` arguments (``name``, ``dtype``, ...).

    Call input: a tensor with defined sizes on ``axis``. Output: the same shape.

    Raises
    ------
    TypeError
        If ``axis`` is not an int or a list/tuple of ints.
    ValueError
        If an axis is out of range, repeated, or of undefined size.

    Faceswap compat: ``axis`` is serialised as given (Faceswap rewrites it as a list of
    non-negative axes when it builds), and with several axes ``gamma``/``beta`` follow the
    axes in ascending order whatever order they were given in (Faceswap keeps the given order
    and then reshapes, which scrambles the parameters for an unsorted list). Statistics are
    computed in float32 under mixed precision.

    Examples
    --------
    >>> layer = LayerNormalization(axis=[1, 2, 3])
    >>> layer(keras.ops.ones((2, 4, 4, 3))).shape
    (2, 4, 4, 3)

    References
    ----------
    Ba, Kiros, Hinton. Layer Normalization. https://arxiv.org/abs/1607.06450
    """

    def __init__(self,
                 axis: int | Sequence[int] = -1,
                 epsilon: float = 1e-3,
                 center: bool = True,
                 scale: bool = True,
                 beta_initializer: str | Initializer = "zeros",
                 gamma_initializer: str | Initializer = "ones",
                 beta_regularizer: str | Regularizer | None = None,
                 gamma_regularizer: str | Regularizer | None = None,
                 beta_constraint: str | Constraint | None = None,
                 gamma_constraint: str | Constraint | None = None,
                 **kwargs: Any) -> None:
        if isinstance(axis, (list, tuple)):
            if not axis or any(isinstance(value, bool) or not isinstance(value, int)
                               for value in axis):
                raise TypeError("Expected an int or a non-empty list/tuple of ints for the "
                                f"argument `axis`. Received: axis={axis!r}")
            axis = [int(value) for value in axis]
        elif isinstance(axis, bool) or not isinstance(axis, int):
            raise TypeError("Expected an int or a non-empty list/tuple of ints for the argument "
                            f"`axis`. Received: axis={axis!r} of type {type(axis).__name__}")
        epsilon = _check_epsilon(epsilon)
        super().__init__(**kwargs)
        self.axis = axis
        self.epsilon = epsilon
        self._init_affine(center, scale, beta_initializer, gamma_initializer, beta_regularizer,
                          gamma_regularizer, beta_constraint, gamma_constraint)

    def _axes(self, input_shape: Sequence[int | None]) -> list[int]:
        """The normalised axes, non-negative and sorted; validated against ``input_shape``."""
        given = self.axis if isinstance(self.axis, list) else [self.axis]
        axes = [_resolve_axis("axis", value, len(input_shape)) for value in given]
        if len(set(axes)) != len(axes):
            raise ValueError(f"LayerNormalization: `axis` names an axis twice. Received: "
                             f"axis={self.axis} for an input of rank {len(input_shape)}")
        for value in axes:
            if input_shape[value] is None:
                raise ValueError(f"LayerNormalization: axis {value} of the input must have a "
                                 f"defined size. Received an input of shape "
                                 f"{tuple(input_shape)}")
        return sorted(axes)

    def build(self, input_shape: Sequence[int | None]) -> None:
        shape = tuple(input_shape[value] for value in self._axes(input_shape))
        self._build_affine(shape)

    def call(self, inputs: Any) -> Any:
        axes = self._axes(inputs.shape)
        dtype = _maths_dtype(self.compute_dtype)
        features = ops.cast(inputs, dtype)
        mean = ops.mean(features, axis=axes, keepdims=True)
        variance = ops.mean(ops.square(features - mean), axis=axes, keepdims=True)
        outputs = (features - mean) / ops.sqrt(variance + self.epsilon)
        broadcast_shape = [1] * len(inputs.shape)
        for value in axes:
            broadcast_shape[value] = inputs.shape[value]
        if self.gamma is not None:
            outputs = outputs * ops.reshape(ops.cast(self.gamma, dtype), broadcast_shape)
        if self.beta is not None:
            outputs = outputs + ops.reshape(ops.cast(self.beta, dtype), broadcast_shape)
        return ops.cast(outputs, self.compute_dtype)

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple[int | None, ...]:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "axis": list(self.axis) if isinstance(self.axis, list) else self.axis,
            "epsilon": self.epsilon,
            **self._affine_config(),
        }
