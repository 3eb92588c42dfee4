"""Custom Keras layers used by Faceswap model plugins and blocks.

Every class is registered for serialization under its bare class name, as Faceswap registers
them (``faceswap>ClassName``, our older spelling, still loads), so a model holding one saves to
and loads from a ``.keras`` file with no
``custom_objects`` once this module is imported. All maths uses ``keras.ops`` and runs on the
TensorFlow, JAX and PyTorch backends.
"""
from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any, Literal

import keras
from keras import ops

from lib.registry import register_serializable

__all__ = [
    "GlobalMinPooling2D",
    "GlobalStdDevPooling2D",
    "KResizeImages",
    "L2Normalize",
    "PixelShuffler",
    "QuickGELU",
    "ReflectionPadding2D",
    "ScalarOp",
    "SubPixelUpscaling",
    "Swish",
]

DataFormat = Literal["channels_last", "channels_first"]
Shape = Sequence[int | None]

_DATA_FORMATS = ("channels_first", "channels_last")
# The interpolation names that `keras.ops.image.resize` knows. Not every backend implements all
# of them (PyTorch has no lanczos, only TensorFlow has area); the backend raises for those.
_INTERPOLATIONS = ("area", "bicubic", "bilinear", "lanczos3", "lanczos5", "nearest")
_SCALAR_OPERATIONS = ("add", "multiply", "subtract", "truediv")
# tf.math.l2_normalize's floor on the squared norm (Faceswap 2 used K.l2_normalize).
_L2_EPSILON = 1e-12


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _data_format(data_format: str | None) -> DataFormat:
    """``None`` → ``"channels_last"``; otherwise a validated, lower-case data format."""
    if data_format is None:
        return "channels_last"
    value = data_format.lower() if isinstance(data_format, str) else data_format
    if value not in _DATA_FORMATS:
        raise ValueError(f"`data_format` must be one of {list(_DATA_FORMATS)} or None. "
                         f"Received: data_format={data_format!r}")
    return value


def _positive_int(name: str, value: Any) -> int:
    if not _is_int(value) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
    return int(value)


def _check_rank4(layer: keras.layers.Layer, shape: Shape) -> None:
    if len(shape) != 4:
        raise ValueError(f"Layer {type(layer).__name__} expects inputs of rank 4. Received input "
                         f"shape: {tuple(shape)} (rank {len(shape)})")


def _depth_to_space(inputs: Any, rows: int, cols: int, data_format: DataFormat) -> Any:
    """Move channel blocks to ``rows`` × ``cols`` spatial blocks, in depth_to_space order.

    Input channel ``(i * cols + j) * out_channels + c`` goes to the pixel at offset ``(i, j)`` of
    each output block, output channel ``c``.
    """
    static = inputs.shape
    dynamic = ops.shape(inputs)
    # Static sizes where known (JAX and PyTorch always know them); dynamic ones otherwise.
    dims = [dynamic[axis] if static[axis] is None else static[axis] for axis in range(4)]
    if data_format == "channels_last":
        _, height, width, channels = dims
        out_channels = channels // (rows * cols)
        outputs = ops.reshape(inputs, (-1, height, width, rows, cols, out_channels))
        outputs = ops.transpose(outputs, (0, 1, 3, 2, 4, 5))
        return ops.reshape(outputs, (-1, height * rows, width * cols, out_channels))
    _, channels, height, width = dims
    out_channels = channels // (rows * cols)
    outputs = ops.reshape(inputs, (-1, rows, cols, out_channels, height, width))
    outputs = ops.transpose(outputs, (0, 3, 4, 1, 5, 2))
    return ops.reshape(outputs, (-1, out_channels, height * rows, width * cols))


def _depth_to_space_shape(layer: keras.layers.Layer, input_shape: Shape, rows: int, cols: int,
                          data_format: DataFormat) -> tuple[int | None, ...]:
    _check_rank4(layer, input_shape)
    if data_format == "channels_last":
        batch, height, width, channels = input_shape
    else:
        batch, channels, height, width = input_shape
    if channels is not None and channels % (rows * cols) != 0:
        raise ValueError(
            f"Layer {type(layer).__name__} needs the number of input channels to be divisible by "
            f"{rows} * {cols} = {rows * cols}. Received input shape: {tuple(input_shape)} "
            f"({channels} channels)")
    out_channels = None if channels is None else channels // (rows * cols)
    out_height = None if height is None else height * rows
    out_width = None if width is None else width * cols
    if data_format == "channels_last":
        return (batch, out_height, out_width, out_channels)
    return (batch, out_channels, out_height, out_width)


@register_serializable()
class PixelShuffler(keras.layers.Layer):
    """Sub-pixel upscale: trade channels for spatial resolution (depth to space).

    An input of shape ``(N, H, W, C)`` becomes ``(N, H * rh, W * rw, C / (rh * rw))``. Input
    channel ``(i * rw + j) * C_out + c`` moves to the pixel at offset ``(i, j)`` of each
    ``rh`` × ``rw`` output block, channel ``c``: the ordering of TensorFlow's ``depth_to_space``
    (which covers square blocks only; this layer also takes ``rh != rw``).

    Parameters
    ----------
    size
        The upscale factor ``(rh, rw)``; an int is used for both.
    data_format
        ``"channels_last"`` (``(N, H, W, C)``) or ``"channels_first"`` (``(N, C, H, W)``).
        ``None`` means ``"channels_last"``.
    **kwargs
        Standard :class:`keras.layers.Layer` arguments (``name``, ``dtype``, ...).

    Call input: a rank 4 tensor whose channel count is divisible by ``rh * rw``.

    Examples
    --------
    >>> layer = PixelShuffler(size=2)
    >>> layer(keras.ops.zeros((1, 8, 8, 64))).shape
    (1, 16, 16, 16)

    References
    ----------
    Shi et al., "Real-Time Single Image and Video Super-Resolution Using an Efficient Sub-Pixel
    Convolutional Neural Network", 2016, https://arxiv.org/abs/1609.05158
    """

    def __init__(self, size: int | Sequence[int] = (2, 2), data_format: str | None = None,
                 **kwargs: Any) -> None:
        if _is_int(size):
            size = (size, size)
        if (isinstance(size, str) or not isinstance(size, Sequence) or len(size) != 2
                or not all(_is_int(item) and item >= 1 for item in size)):
            raise ValueError("`size` must be a positive integer or a pair of positive integers. "
                             f"Received: size={size!r}")
        data_format = _data_format(data_format)
        super().__init__(**kwargs)
        self.size = (int(size[0]), int(size[1]))
        self.data_format = data_format

    def call(self, inputs: Any) -> Any:
        _check_rank4(self, inputs.shape)
        return _depth_to_space(inputs, self.size[0], self.size[1], self.data_format)

    def compute_output_shape(self, input_shape: Shape) -> tuple[int | None, ...]:
        return _depth_to_space_shape(self, input_shape, self.size[0], self.size[1],
                                     self.data_format)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "size": self.size, "data_format": self.data_format}


@register_serializable()
class SubPixelUpscaling(keras.layers.Layer):
    """Faceswap 2's sub-pixel upscale: depth to space with a square block.

    This layer comes from Faceswap 2 (Faceswap 3 dropped it in favour of :class:`PixelShuffler`);
    it is kept so that plugins and saved models that use it still work. The maths is that of
    :class:`PixelShuffler` with ``size=(scale_factor, scale_factor)``: ``(N, H, W, C)`` becomes
    ``(N, H * s, W * s, C / s**2)`` in ``depth_to_space`` channel order.

    Parameters
    ----------
    scale_factor
        The upscale factor ``s`` for both spatial dimensions.
    data_format
        ``"channels_last"`` or ``"channels_first"``; ``None`` means ``"channels_last"``.
    **kwargs
        Standard :class:`keras.layers.Layer` arguments.

    Faceswap compat: Faceswap 2 resolved ``data_format=None`` to Keras' global
    ``image_data_format()``; we resolve it to ``"channels_last"`` (the same value unless that
    global was changed), as :class:`PixelShuffler` does.

    Examples
    --------
    >>> SubPixelUpscaling(scale_factor=2)(keras.ops.zeros((1, 4, 4, 12))).shape
    (1, 8, 8, 3)
    """

    def __init__(self, scale_factor: int = 2, data_format: str | None = None,
                 **kwargs: Any) -> None:
        scale_factor = _positive_int("scale_factor", scale_factor)
        data_format = _data_format(data_format)
        super().__init__(**kwargs)
        self.scale_factor = scale_factor
        self.data_format = data_format

    def call(self, inputs: Any) -> Any:
        _check_rank4(self, inputs.shape)
        return _depth_to_space(inputs, self.scale_factor, self.scale_factor, self.data_format)

    def compute_output_shape(self, input_shape: Shape) -> tuple[int | None, ...]:
        return _depth_to_space_shape(self, input_shape, self.scale_factor, self.scale_factor,
                                     self.data_format)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "scale_factor": self.scale_factor,
                "data_format": self.data_format}


@register_serializable()
class ReflectionPadding2D(keras.layers.Layer):
    """Reflection padding that makes a following ``"valid"`` convolution behave like ``"same"``.

    For a spatial dimension of size ``n``, stride ``s`` and kernel size ``k`` the padding is
    ``max(k - s, 0)`` when ``n`` is divisible by ``s`` and ``max(k - n % s, 0)`` otherwise, split
    as ``before = pad // 2`` and ``after = pad - before``. Values are mirrored without repeating
    the edge (NumPy's ``mode="reflect"``), so every padding amount must be smaller than the
    dimension it pads. Channels last.

    Parameters
    ----------
    stride
        The stride of the convolution that follows; a pair must hold two equal values.
    kernel_size
        The kernel size of the convolution that follows.
    **kwargs
        Standard :class:`keras.layers.Layer` arguments.

    Call input: ``(N, H, W, C)`` with static ``H`` and ``W`` (taken from the call, or else from
    the shape the layer was built with). Output: ``(N, H + pad_h, W + pad_w, C)``.

    Examples
    --------
    >>> ReflectionPadding2D(stride=2, kernel_size=5)(keras.ops.zeros((1, 8, 8, 3))).shape
    (1, 11, 11, 3)
    """

    def __init__(self, stride: int | Sequence[int] = 2, kernel_size: int = 5,
                 **kwargs: Any) -> None:
        if isinstance(stride, Sequence) and not isinstance(stride, str):
            if len(stride) != 2 or stride[0] != stride[1]:
                raise ValueError("`stride` must be an integer or a pair of two equal integers. "
                                 f"Received: stride={stride!r}")
            stride = stride[0]
        stride = _positive_int("stride", stride)
        kernel_size = _positive_int("kernel_size", kernel_size)
        super().__init__(**kwargs)
        self.stride = stride
        self.kernel_size = kernel_size
        self._built_spatial: tuple[int | None, int | None] = (None, None)

    def build(self, input_shape: Shape) -> None:
        _check_rank4(self, input_shape)
        # Faceswap takes the padding from the shape seen here. We use the call's static shape when
        # it is known, which is the same shape whenever Faceswap's layer accepts the input.
        self._built_spatial = (input_shape[1], input_shape[2])

    def _padding(self, size: int) -> tuple[int, int]:
        remainder = size % self.stride
        total = max(self.kernel_size - (self.stride if remainder == 0 else remainder), 0)
        return total // 2, total - total // 2

    def call(self, inputs: Any) -> Any:
        _check_rank4(self, inputs.shape)
        sizes = [inputs.shape[axis] if inputs.shape[axis] is not None else built
                 for axis, built in zip((1, 2), self._built_spatial, strict=True)]
        if any(size is None for size in sizes):
            raise ValueError(f"Layer {type(self).__name__} needs static height and width. "
                             f"Received input shape: {tuple(inputs.shape)}")
        top, bottom = self._padding(sizes[0])
        left, right = self._padding(sizes[1])
        if max(top, bottom) >= sizes[0] or max(left, right) >= sizes[1]:
            # A reflection that does not repeat the edge cannot pad by the dimension or more.
            raise ValueError(
                f"Layer {type(self).__name__} (stride={self.stride}, "
                f"kernel_size={self.kernel_size}) would pad height by {(top, bottom)} and width "
                f"by {(left, right)}; reflection padding must be smaller than the padded "
                f"dimension. Received input shape: {tuple(inputs.shape)}")
        if top == bottom == left == right == 0:
            # Nothing to pad (and Keras' PyTorch reflect pad fails on all-zero widths).
            return inputs
        return ops.pad(inputs, [[0, 0], [top, bottom], [left, right], [0, 0]], mode="reflect")

    def compute_output_shape(self, input_shape: Shape) -> tuple[int | None, ...]:
        _check_rank4(self, input_shape)
        batch, height, width, channels = input_shape
        out_height = None if height is None else height + sum(self._padding(height))
        out_width = None if width is None else width + sum(self._padding(width))
        return (batch, out_height, out_width, channels)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "stride": self.stride, "kernel_size": self.kernel_size}


@register_serializable()
class KResizeImages(keras.layers.Layer):
    """Resize images by a factor with ``keras.ops.image.resize``.

    ``(N, H, W, C)`` becomes ``(N, round(H * size), round(W * size), C)``. Channels last.

    Parameters
    ----------
    size
        The resize factor (an int or a float), applied to height and width.
    interpolation
        A ``keras.ops.image.resize`` method: ``"nearest"``, ``"bilinear"``, ``"bicubic"``,
        ``"lanczos3"``, ``"lanczos5"`` or ``"area"`` (not every backend has every method).
    **kwargs
        Standard :class:`keras.layers.Layer` arguments.

    Call input: ``(N, H, W, C)`` with static ``H`` and ``W``.

    Faceswap compat: Faceswap 3 passes the target size width first, ``(round(W * size),
    round(H * size))``, to a resize that reads it height first, so a non-square input comes out
    with its sides swapped (and disagrees with its own ``compute_output_shape``). We pass
    ``(round(H * size), round(W * size))``; square inputs are unaffected.

    Examples
    --------
    >>> KResizeImages(size=2)(keras.ops.zeros((1, 4, 6, 3))).shape
    (1, 8, 12, 3)
    """

    def __init__(self, size: int | float = 2, interpolation: str = "nearest",
                 **kwargs: Any) -> None:
        if not _is_number(size) or size <= 0:
            raise ValueError(f"`size` must be a positive number. Received: size={size!r}")
        if interpolation not in _INTERPOLATIONS:
            raise ValueError(f"`interpolation` must be one of {list(_INTERPOLATIONS)}. "
                             f"Received: interpolation={interpolation!r}")
        super().__init__(**kwargs)
        self.size = int(size) if _is_int(size) else float(size)
        self.interpolation = interpolation

    def _target(self, height: int, width: int) -> tuple[int, int]:
        return round(height * self.size), round(width * self.size)

    def call(self, inputs: Any) -> Any:
        _check_rank4(self, inputs.shape)
        height, width = inputs.shape[1], inputs.shape[2]
        if height is None or width is None:
            raise ValueError(f"Layer {type(self).__name__} needs static height and width. "
                             f"Received input shape: {tuple(inputs.shape)}")
        outputs = ops.image.resize(inputs, self._target(height, width),
                                   interpolation=self.interpolation, data_format="channels_last")
        return ops.cast(outputs, self.compute_dtype)

    def compute_output_shape(self, input_shape: Shape) -> tuple[int | None, ...]:
        _check_rank4(self, input_shape)
        batch, height, width, channels = input_shape
        out_height = None if height is None else round(height * self.size)
        out_width = None if width is None else round(width * self.size)
        return (batch, out_height, out_width, channels)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "size": self.size, "interpolation": self.interpolation}


@register_serializable()
class L2Normalize(keras.layers.Layer):
    """Divide by the L2 norm along an axis: ``x / sqrt(max(sum(x**2, axis), 1e-12))``.

    The reduction runs in float32 and the result is cast back to the layer's compute dtype.

    Parameters
    ----------
    axis
        The axis, or axes, to normalise along.
    **kwargs
        Standard :class:`keras.layers.Layer` arguments.

    Call input: any tensor; the output has its shape.

    Examples
    --------
    >>> L2Normalize(axis=-1)(keras.ops.convert_to_tensor([[3.0, 4.0]]))  # [[0.6, 0.8]]
    """

    def __init__(self, axis: int | Sequence[int], **kwargs: Any) -> None:
        if _is_int(axis):
            axis = int(axis)
        elif (isinstance(axis, Sequence) and not isinstance(axis, str) and axis
              and all(_is_int(item) for item in axis)):
            axis = [int(item) for item in axis]
        else:
            raise ValueError("`axis` must be an integer or a list of integers. "
                             f"Received: axis={axis!r}")
        super().__init__(**kwargs)
        self.axis = axis

    def call(self, inputs: Any) -> Any:
        values = ops.cast(inputs, "float32")
        squared = ops.sum(ops.square(values), axis=self.axis, keepdims=True)
        outputs = values * ops.rsqrt(ops.maximum(squared, _L2_EPSILON))
        return ops.cast(outputs, self.compute_dtype)

    def compute_output_shape(self, input_shape: Shape) -> tuple[int | None, ...]:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}


class _GlobalPooling2D(keras.layers.Layer):
    """Reduce the spatial axes of a rank 4 tensor to give ``(N, C)``; float32 reduction."""

    def __init__(self, data_format: str | None = None, **kwargs: Any) -> None:
        data_format = _data_format(data_format)
        super().__init__(**kwargs)
        self.data_format = data_format

    def _reduce(self, values: Any, axis: tuple[int, int]) -> Any:
        raise NotImplementedError

    def call(self, inputs: Any) -> Any:
        _check_rank4(self, inputs.shape)
        axis = (1, 2) if self.data_format == "channels_last" else (2, 3)
        return ops.cast(self._reduce(ops.cast(inputs, "float32"), axis), self.compute_dtype)

    def compute_output_shape(self, input_shape: Shape) -> tuple[int | None, ...]:
        _check_rank4(self, input_shape)
        channels = input_shape[3] if self.data_format == "channels_last" else input_shape[1]
        return (input_shape[0], channels)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "data_format": self.data_format}


@register_serializable()
class GlobalMinPooling2D(_GlobalPooling2D):
    """Global minimum pooling: the minimum over height and width, ``(N, H, W, C)`` → ``(N, C)``.

    Parameters
    ----------
    data_format
        ``"channels_last"`` or ``"channels_first"``; ``None`` means ``"channels_last"``.
    **kwargs
        Standard :class:`keras.layers.Layer` arguments.

    Faceswap compat: Faceswap resolves ``data_format=None`` through Keras' global
    ``image_data_format()``; we resolve it to ``"channels_last"`` (the same value unless that
    global was changed).

    Examples
    --------
    >>> GlobalMinPooling2D()(keras.ops.zeros((2, 4, 4, 3))).shape
    (2, 3)
    """

    def _reduce(self, values: Any, axis: tuple[int, int]) -> Any:
        return ops.min(values, axis=axis)


@register_serializable()
class GlobalStdDevPooling2D(_GlobalPooling2D):
    """Global standard deviation pooling over height and width, ``(N, H, W, C)`` → ``(N, C)``.

    The population standard deviation (divisor ``H * W``), computed in float32.

    Parameters
    ----------
    data_format
        ``"channels_last"`` or ``"channels_first"``; ``None`` means ``"channels_last"``.
    **kwargs
        Standard :class:`keras.layers.Layer` arguments.

    Faceswap compat: Faceswap resolves ``data_format=None`` through Keras' global
    ``image_data_format()``; we resolve it to ``"channels_last"`` (the same value unless that
    global was changed).

    Examples
    --------
    >>> GlobalStdDevPooling2D()(keras.ops.zeros((2, 4, 4, 3))).shape
    (2, 3)
    """

    def _reduce(self, values: Any, axis: tuple[int, int]) -> Any:
        return ops.std(values, axis=axis)


@register_serializable()
class Swish(keras.layers.Layer):
    """Swish activation applied to ``beta * x``: ``beta * x * sigmoid(beta * x)``.

    Note the scale: this is ``swish(beta * x)``, not the ``x * sigmoid(beta * x)`` of the paper.
    With the default ``beta=1`` the two agree.

    Parameters
    ----------
    beta
        The factor applied to the input before the swish.
    **kwargs
        Standard :class:`keras.layers.Layer` arguments.

    Examples
    --------
    >>> Swish(beta=1.0)(keras.ops.zeros((1, 4)))

    References
    ----------
    Ramachandran et al., "Searching for Activation Functions", 2017,
    https://arxiv.org/abs/1710.05941
    """

    def __init__(self, beta: float = 1.0, **kwargs: Any) -> None:
        if not _is_number(beta):
            raise ValueError(f"`beta` must be a number. Received: beta={beta!r}")
        super().__init__(**kwargs)
        self.beta = float(beta)

    def call(self, inputs: Any) -> Any:
        return ops.silu(inputs * self.beta)

    def compute_output_shape(self, input_shape: Shape) -> tuple[int | None, ...]:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "beta": self.beta}


@register_serializable()
class QuickGELU(keras.layers.Layer):
    """The sigmoid approximation of GELU used by CLIP: ``x * sigmoid(1.702 * x)``.

    Parameters
    ----------
    name
        The layer name. The default is a fixed ``"QuickGELU"``, as in Faceswap, so a model holding
        several of them must name them.
    **kwargs
        Standard :class:`keras.layers.Layer` arguments.

    Examples
    --------
    >>> QuickGELU()(keras.ops.zeros((1, 4)))

    References
    ----------
    Hendrycks and Gimpel, "Gaussian Error Linear Units (GELUs)", 2016,
    https://arxiv.org/abs/1606.08415
    """

    def __init__(self, name: str = "QuickGELU", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)

    def call(self, inputs: Any) -> Any:
        return inputs * ops.sigmoid(inputs * 1.702)

    def compute_output_shape(self, input_shape: Shape) -> tuple[int | None, ...]:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        return super().get_config()  # `name`, the only argument, is in the base config


@register_serializable()
class ScalarOp(keras.layers.Layer):
    """Element-wise arithmetic with a constant: ``x <operation> value``.

    Parameters
    ----------
    operation
        ``"multiply"``, ``"truediv"``, ``"add"`` or ``"subtract"``.
    value
        The constant on the right-hand side.
    **kwargs
        Standard :class:`keras.layers.Layer` arguments. ``name`` defaults to
        ``"ScalarOp_<operation>"`` (so a model holding two alike must name them).

    Examples
    --------
    >>> ScalarOp("multiply", 2.0)(keras.ops.ones((1, 4)))  # all 2.0
    """

    def __init__(self, operation: Literal["multiply", "truediv", "add", "subtract"],
                 value: float, **kwargs: Any) -> None:
        if operation not in _SCALAR_OPERATIONS:
            raise ValueError(f"`operation` must be one of {list(_SCALAR_OPERATIONS)}. "
                             f"Received: operation={operation!r}")
        if not _is_number(value):
            raise ValueError(f"`value` must be a number. Received: value={value!r}")
        if kwargs.get("name") is None:
            kwargs["name"] = f"ScalarOp_{operation}"
        super().__init__(**kwargs)
        self.operation = operation
        self.value = float(value)

    def call(self, inputs: Any) -> Any:
        if self.operation == "multiply":
            return ops.multiply(inputs, self.value)
        if self.operation == "truediv":
            return ops.divide(inputs, self.value)
        if self.operation == "add":
            return ops.add(inputs, self.value)
        return ops.subtract(inputs, self.value)

    def compute_output_shape(self, input_shape: Shape) -> tuple[int | None, ...]:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "operation": self.operation, "value": self.value}
