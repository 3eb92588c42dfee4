"""Tests for :mod:`lib.model.layers`, each layer against an independent NumPy reference."""
from __future__ import annotations

import json
from collections.abc import Callable

import keras
import numpy as np
import pytest
from keras import ops

from lib.model import layers
from tests.harness import (
    BACKEND,
    ROUNDTRIP_TOL,
    assert_config_roundtrip,
    assert_model_config_roundtrip,
    assert_model_file_roundtrip,
    assert_serialization_roundtrip,
    to_numpy,
    train_one_step,
)

_RNG = np.random.default_rng(20240611)


def _random(shape: tuple[int, ...]) -> np.ndarray:
    return _RNG.standard_normal(shape).astype("float32")


# ------------------------------------------------------------------------------------------------
# NumPy references, written independently of the layer code
# ------------------------------------------------------------------------------------------------
def np_depth_to_space(x: np.ndarray, rows: int, cols: int, data_format: str) -> np.ndarray:
    """Index-by-index depth to space: channel block ``i * cols + j`` fills offset ``(i, j)``."""
    if data_format == "channels_last":
        batch, height, width, channels = x.shape
    else:
        batch, channels, height, width = x.shape
    depth = channels // (rows * cols)
    if data_format == "channels_last":
        out = np.zeros((batch, height * rows, width * cols, depth), x.dtype)
    else:
        out = np.zeros((batch, depth, height * rows, width * cols), x.dtype)
    for n in range(batch):
        for h in range(height):
            for w in range(width):
                for i in range(rows):
                    for j in range(cols):
                        for c in range(depth):
                            channel = (i * cols + j) * depth + c
                            if data_format == "channels_last":
                                out[n, h * rows + i, w * cols + j, c] = x[n, h, w, channel]
                            else:
                                out[n, c, h * rows + i, w * cols + j] = x[n, channel, h, w]
    return out


def faceswap_reflect_amounts(size: int, stride: int, kernel: int) -> tuple[int, int]:
    """Faceswap's padding for one spatial dimension (api_spec 5.2)."""
    if size % stride == 0:
        pad = max(kernel - stride, 0)
    else:
        pad = max(kernel - (size % stride), 0)
    return pad // 2, pad - pad // 2


def np_bilinear_half_pixel(x: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Bilinear resize with half-pixel centres (no antialias), channels last."""
    def axis_weights(n_in: int, n_out: int) -> np.ndarray:
        weights = np.zeros((n_out, n_in), "float64")
        for d in range(n_out):
            src = min(max((d + 0.5) * n_in / n_out - 0.5, 0.0), n_in - 1)
            low = int(np.floor(src))
            high = min(low + 1, n_in - 1)
            frac = src - low
            weights[d, low] += 1.0 - frac
            weights[d, high] += frac
        return weights

    rows = axis_weights(x.shape[1], out_h)
    cols = axis_weights(x.shape[2], out_w)
    return np.einsum("ph,nhwc,qw->npqc", rows, x.astype("float64"), cols).astype("float32")


def np_nearest_half_pixel(x: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Nearest-neighbour resize with half-pixel centres, channels last."""
    rows = np.minimum(np.floor((np.arange(out_h) + 0.5) * x.shape[1] / out_h).astype(int),
                      x.shape[1] - 1)
    cols = np.minimum(np.floor((np.arange(out_w) + 0.5) * x.shape[2] / out_w).astype(int),
                      x.shape[2] - 1)
    return x[:, rows][:, :, cols]


def np_sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x.astype("float64")))


def _run(layer: keras.layers.Layer, x: np.ndarray) -> np.ndarray:
    return to_numpy(layer(ops.convert_to_tensor(x)))


# ------------------------------------------------------------------------------------------------
# Cases shared by the generic tests: (id, factory, input shape)
# ------------------------------------------------------------------------------------------------
CASES: list[tuple[str, Callable[[], keras.layers.Layer], tuple[int, ...]]] = [
    ("pixelshuffler", lambda: layers.PixelShuffler(), (2, 4, 4, 8)),
    ("pixelshuffler_cf_2x3",
     lambda: layers.PixelShuffler(size=(2, 3), data_format="channels_first"), (2, 12, 3, 4)),
    ("subpixel", lambda: layers.SubPixelUpscaling(scale_factor=2), (2, 4, 4, 8)),
    ("subpixel_cf",
     lambda: layers.SubPixelUpscaling(scale_factor=2, data_format="channels_first"),
     (2, 8, 4, 4)),
    ("reflectionpadding", lambda: layers.ReflectionPadding2D(), (2, 8, 9, 3)),
    ("kresize", lambda: layers.KResizeImages(), (2, 4, 4, 3)),
    ("kresize_bilinear_float",
     lambda: layers.KResizeImages(size=1.5, interpolation="bilinear"), (2, 4, 6, 3)),
    ("l2normalize", lambda: layers.L2Normalize(axis=1), (2, 4, 4, 3)),
    ("minpool", lambda: layers.GlobalMinPooling2D(), (2, 4, 4, 3)),
    ("minpool_cf", lambda: layers.GlobalMinPooling2D(data_format="channels_first"), (2, 3, 4, 4)),
    ("stdpool", lambda: layers.GlobalStdDevPooling2D(), (2, 4, 4, 3)),
    ("stdpool_cf",
     lambda: layers.GlobalStdDevPooling2D(data_format="channels_first"), (2, 3, 4, 4)),
    ("swish", lambda: layers.Swish(beta=1.5), (2, 4, 4, 3)),
    ("quickgelu", lambda: layers.QuickGELU(), (2, 4, 4, 3)),
    *[(f"scalarop_{op}", (lambda op=op: layers.ScalarOp(operation=op, value=2.0)), (2, 4, 4, 3))
      for op in ("multiply", "truediv", "add", "subtract")],
]
CASE_IDS = [case[0] for case in CASES]


def _model(factory: Callable[[], keras.layers.Layer], shape: tuple[int, ...]) -> keras.Model:
    """Input → Dense (gives the model weights, works on either data format) → the layer."""
    inputs = keras.Input(shape=shape[1:])
    features = keras.layers.Dense(shape[-1], name="dense")(inputs)
    return keras.Model(inputs, factory()(features))


# ------------------------------------------------------------------------------------------------
# Generic tests, every layer
# ------------------------------------------------------------------------------------------------
@pytest.mark.smoke
def test_all_layers_registered() -> None:
    for name in layers.__all__:
        cls = getattr(layers, name)
        assert keras.saving.get_registered_name(cls) == name  # the bare name, as Faceswap 3
        assert keras.saving.get_custom_objects()[name] is cls
        assert keras.saving.get_registered_object(f"faceswap>{name}") is cls


@pytest.mark.smoke
@pytest.mark.parametrize(("name", "factory", "shape"), CASES, ids=CASE_IDS)
def test_layer_contract(name, factory, shape) -> None:
    """Weights, shapes, config and serialization round-trips, mixed precision output dtype."""
    layer = factory()
    assert layer.get_weights() == []  # Faceswap's test reads/sets weights before build
    layer.set_weights([])
    layer.build(shape)
    assert len(layer.trainable_weights) == 0
    assert len(layer.non_trainable_weights) == 0

    symbolic = factory()
    outputs = symbolic(keras.Input(shape=shape[1:]))
    expected = symbolic.compute_output_shape((None, *shape[1:]))
    assert expected[0] is None
    assert tuple(outputs.shape) == tuple(expected)
    assert outputs.dtype == "float32"

    x = _random(shape)
    eager = _run(layer, x)
    assert eager.shape == tuple(layer.compute_output_shape(shape))
    assert eager.dtype == np.float32

    json.dumps(layer.get_config())
    clone = assert_config_roundtrip(layer)
    np.testing.assert_allclose(_run(clone, x), eager, **ROUNDTRIP_TOL)
    revived = assert_serialization_roundtrip(layer)
    np.testing.assert_allclose(_run(revived, x), eager, **ROUNDTRIP_TOL)

    # Mixed precision (the conftest restores float32 after the test): outputs in float16.
    keras.config.set_dtype_policy("mixed_float16")
    mixed = factory()
    assert mixed.compute_dtype == "float16"
    assert mixed(keras.Input(shape=shape[1:])).dtype == "float16"
    try:
        values = _run(factory(), x)
    except RuntimeError as err:  # pragma: no cover - depends on the torch CPU build
        if BACKEND == "torch":
            pytest.skip(f"float16 not supported by torch on this device: {err}")
        raise
    assert values.dtype == np.float16
    np.testing.assert_allclose(values, eager, atol=1e-2, rtol=1e-2)


@pytest.mark.smoke
@pytest.mark.parametrize(("name", "factory", "shape"), CASES, ids=CASE_IDS)
def test_in_model(name, factory, shape, tmp_path) -> None:
    """Model config and ``.keras`` round-trips, then one training step with finite weights."""
    model = _model(factory, shape)
    x = _random(shape)
    assert_model_config_roundtrip(model, x)
    loaded = assert_model_file_roundtrip(model, x, tmp_path)
    assert loaded.layers[-1].get_config() == model.layers[-1].get_config()

    before = [to_numpy(weight) for weight in model.weights]
    target = _random((shape[0], *model.output.shape[1:]))
    after = train_one_step(model, x, target)
    assert any(not np.allclose(old, new) for old, new in zip(before, after, strict=True))


# ------------------------------------------------------------------------------------------------
# PixelShuffler and SubPixelUpscaling
# ------------------------------------------------------------------------------------------------
@pytest.mark.smoke
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_pixel_shuffler_matches_numpy(data_format) -> None:
    for size in [(2, 2), (3, 3), (2, 3), (3, 1)]:
        depth = 2
        channels = size[0] * size[1] * depth
        shape = (2, 3, 4, channels) if data_format == "channels_last" else (2, channels, 3, 4)
        x = _random(shape)
        layer = layers.PixelShuffler(size=size, data_format=data_format)
        expected = np_depth_to_space(x, size[0], size[1], data_format)
        np.testing.assert_array_equal(_run(layer, x), expected, err_msg=f"size={size}")
        assert layer.compute_output_shape(shape) == expected.shape


def test_pixel_shuffler_hand_computed() -> None:
    # 1x1 pixel, 4 channels [0, 1, 2, 3] -> 2x2 block [[0, 1], [2, 3]].
    x = np.arange(4, dtype="float32").reshape(1, 1, 1, 4)
    out = _run(layers.PixelShuffler(size=2), x)
    np.testing.assert_array_equal(out[0, :, :, 0], [[0.0, 1.0], [2.0, 3.0]])


@pytest.mark.skipif(BACKEND != "tensorflow", reason="tf.nn.depth_to_space needs TensorFlow")
def test_pixel_shuffler_matches_tf_depth_to_space() -> None:
    import tensorflow as tf  # a second, independent reference; only in this test

    for scale in (2, 3):
        channels = scale * scale * 3
        x = _random((2, 4, 5, channels))  # NHWC
        expected = tf.nn.depth_to_space(x, scale).numpy()
        for layer in (layers.PixelShuffler(size=scale),
                      layers.SubPixelUpscaling(scale_factor=scale)):
            np.testing.assert_array_equal(_run(layer, x), expected)
        # channels_first: same maths on NCHW (tf's NCHW kernel is GPU-only, so transpose).
        nchw = np.transpose(x, (0, 3, 1, 2))
        for layer in (layers.PixelShuffler(size=scale, data_format="channels_first"),
                      layers.SubPixelUpscaling(scale_factor=scale, data_format="channels_first")):
            np.testing.assert_array_equal(np.transpose(_run(layer, nchw), (0, 2, 3, 1)),
                                          expected)


@pytest.mark.smoke
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_subpixel_upscaling_matches_numpy(data_format) -> None:
    for scale in (2, 3):
        channels = scale * scale * 2
        shape = (2, 3, 3, channels) if data_format == "channels_last" else (2, channels, 3, 3)
        x = _random(shape)
        layer = layers.SubPixelUpscaling(scale_factor=scale, data_format=data_format)
        np.testing.assert_array_equal(_run(layer, x),
                                      np_depth_to_space(x, scale, scale, data_format))


def test_pixel_shuffler_arguments() -> None:
    assert layers.PixelShuffler().size == (2, 2)
    assert layers.PixelShuffler().data_format == "channels_last"
    assert layers.PixelShuffler(size=3).size == (3, 3)
    assert layers.PixelShuffler(size=[2, 3]).size == (2, 3)
    assert layers.PixelShuffler(data_format="Channels_First").data_format == "channels_first"
    config = layers.PixelShuffler(size=(2, 3), data_format="channels_first").get_config()
    assert tuple(config["size"]) == (2, 3)
    assert config["data_format"] == "channels_first"
    sub = layers.SubPixelUpscaling()
    assert (sub.scale_factor, sub.data_format) == (2, "channels_last")
    assert {"scale_factor", "data_format"} <= set(sub.get_config())


@pytest.mark.smoke
def test_pixel_shuffler_errors() -> None:
    with pytest.raises(ValueError, match="size"):
        layers.PixelShuffler(size=(2, 2, 2))
    with pytest.raises(ValueError, match="size"):
        layers.PixelShuffler(size=0)
    with pytest.raises(ValueError, match="data_format"):
        layers.PixelShuffler(data_format="nhwc")
    with pytest.raises(ValueError, match="scale_factor"):
        layers.SubPixelUpscaling(scale_factor=1.5)
    with pytest.raises(ValueError, match="data_format"):
        layers.SubPixelUpscaling(data_format="channels_middle")
    for layer in (layers.PixelShuffler(), layers.SubPixelUpscaling()):
        with pytest.raises(ValueError, match="rank 4"):
            layer(ops.zeros((2, 4, 8)))
        with pytest.raises(ValueError, match="rank 4"):
            layer(keras.Input(shape=(4, 4, 4, 8)))
        with pytest.raises(ValueError, match="rank 4"):
            layer.compute_output_shape((2, 4, 8))
        with pytest.raises(ValueError, match="divisible"):
            layer.compute_output_shape((2, 4, 4, 6))
        with pytest.raises(ValueError, match="divisible"):
            layer(keras.Input(shape=(4, 4, 6)))
    with pytest.raises(ValueError, match="divisible"):
        layers.PixelShuffler(data_format="channels_first").compute_output_shape((2, 6, 4, 4))


@pytest.mark.smoke
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_pixel_shuffler_unknown_dims(data_format) -> None:
    layer = layers.PixelShuffler(size=(2, 3), data_format=data_format)
    if data_format == "channels_last":
        shape, expected = (None, None, None, 12), (None, None, None, 2)
    else:
        shape, expected = (None, 12, None, None), (None, 2, None, None)
    assert layer.compute_output_shape(shape) == expected
    assert layer.compute_output_shape((None, None, None, None)) == (None, None, None, None)
    inputs = keras.Input(shape=shape[1:])
    model = keras.Model(inputs, layer(inputs))
    assert tuple(model.output.shape) == expected
    # Spatial sizes are only known when the model runs (dynamic shapes on TensorFlow).
    x = _random((2, 3, 2, 12) if data_format == "channels_last" else (2, 12, 3, 2))
    np.testing.assert_array_equal(to_numpy(model.predict(x, verbose=0)),
                                  np_depth_to_space(x, 2, 3, data_format))


# ------------------------------------------------------------------------------------------------
# ReflectionPadding2D
# ------------------------------------------------------------------------------------------------
def test_reflect_amounts_hand_computed() -> None:
    # Guards the test's own formula: worked out by hand from the spec.
    assert faceswap_reflect_amounts(8, 2, 5) == (1, 2)   # 8 % 2 == 0: pad 5 - 2 = 3
    assert faceswap_reflect_amounts(9, 2, 5) == (2, 2)   # 9 % 2 == 1: pad 5 - 1 = 4
    assert faceswap_reflect_amounts(10, 3, 3) == (1, 1)  # 10 % 3 == 1: pad 3 - 1 = 2
    assert faceswap_reflect_amounts(8, 1, 3) == (1, 1)
    assert faceswap_reflect_amounts(8, 4, 3) == (0, 0)   # max(3 - 4, 0)


@pytest.mark.smoke
@pytest.mark.parametrize("kernel_size", [3, 5])
@pytest.mark.parametrize("stride", [1, 2, 3])
def test_reflection_padding_matches_numpy(stride, kernel_size) -> None:
    for height, width in [(8, 8), (9, 9), (10, 10), (64, 64), (9, 10)]:
        x = _random((2, height, width, 2))
        layer = layers.ReflectionPadding2D(stride=stride, kernel_size=kernel_size)
        rows = faceswap_reflect_amounts(height, stride, kernel_size)
        cols = faceswap_reflect_amounts(width, stride, kernel_size)
        expected = np.pad(x, [(0, 0), rows, cols, (0, 0)], mode="reflect")
        out = _run(layer, x)
        np.testing.assert_array_equal(out, expected, err_msg=f"input {height}x{width}")
        assert layer.compute_output_shape(x.shape) == expected.shape


def test_reflection_padding_hand_computed() -> None:
    # One row [0 1 2 3] padded (1, 2) with reflection that skips the edge: [1 | 0 1 2 3 | 2 1].
    x = np.tile(np.arange(4, dtype="float32"), (4, 1)).reshape(1, 4, 4, 1)
    out = _run(layers.ReflectionPadding2D(stride=2, kernel_size=5), x)
    np.testing.assert_array_equal(out[0, 1, :, 0], [1, 0, 1, 2, 3, 2, 1])


def test_reflection_padding_arguments() -> None:
    layer = layers.ReflectionPadding2D()
    assert (layer.stride, layer.kernel_size) == (2, 5)
    pair = layers.ReflectionPadding2D(stride=(2, 2), kernel_size=3)
    assert pair.stride == 2
    assert pair.get_config()["stride"] == 2
    assert pair.get_config()["kernel_size"] == 3


@pytest.mark.smoke
def test_reflection_padding_errors() -> None:
    with pytest.raises(ValueError, match="two equal"):
        layers.ReflectionPadding2D(stride=(1, 2))
    with pytest.raises(ValueError, match="stride"):
        layers.ReflectionPadding2D(stride=0)
    with pytest.raises(ValueError, match="kernel_size"):
        layers.ReflectionPadding2D(kernel_size=-1)
    with pytest.raises(ValueError, match="rank 4"):
        layers.ReflectionPadding2D()(ops.zeros((2, 8, 3)))
    with pytest.raises(ValueError, match="smaller than the padded"):
        layers.ReflectionPadding2D(stride=1, kernel_size=7)(ops.zeros((1, 2, 2, 1)))


@pytest.mark.smoke
def test_reflection_padding_unknown_dims() -> None:
    layer = layers.ReflectionPadding2D(stride=2, kernel_size=5)
    assert layer.compute_output_shape((None, None, 8, 3)) == (None, None, 11, 3)
    symbolic = layer(keras.Input(shape=(9, None, 3)))
    assert tuple(symbolic.shape) == (None, 13, None, 3)


@pytest.mark.skipif(BACKEND != "tensorflow", reason="unknown static dims only when TF traces")
def test_reflection_padding_falls_back_to_build_shape() -> None:
    import tensorflow as tf  # to trace a call whose spatial dims are unknown

    layer = layers.ReflectionPadding2D(stride=2, kernel_size=5)
    layer.build((None, 8, 9, 3))
    traced = tf.function(layer, input_signature=[tf.TensorSpec((None, None, None, 3))])
    x = _random((2, 8, 9, 3))
    expected = np.pad(x, [(0, 0), (1, 2), (2, 2), (0, 0)], mode="reflect")
    np.testing.assert_array_equal(traced(x).numpy(), expected)
    unbuilt_shape = layers.ReflectionPadding2D()
    unbuilt_shape.build((None, None, None, 3))
    traced = tf.function(unbuilt_shape, input_signature=[tf.TensorSpec((None, None, None, 3))])
    with pytest.raises(ValueError, match="static height and width"):
        traced(x)


# ------------------------------------------------------------------------------------------------
# KResizeImages
# ------------------------------------------------------------------------------------------------
@pytest.mark.smoke
def test_kresize_nearest_integer_matches_numpy() -> None:
    x = _random((2, 3, 5, 2))  # non-square: height first
    out = _run(layers.KResizeImages(size=2), x)
    expected = np.repeat(np.repeat(x, 2, axis=1), 2, axis=2)
    assert out.shape == (2, 6, 10, 2)
    np.testing.assert_array_equal(out, expected)


@pytest.mark.smoke
def test_kresize_float_nearest_matches_numpy() -> None:
    # 1.25: round(7.5) = 8 and round(6.25) = 6, Python's rounding as in Faceswap.
    for size, shape, target in [(2, (2, 3, 5, 2), (6, 10)), (1.5, (2, 4, 6, 2), (6, 9)),
                                (0.5, (2, 8, 6, 2), (4, 3)), (1.25, (1, 6, 5, 1), (8, 6))]:
        x = _random(shape)
        layer = layers.KResizeImages(size=size, interpolation="nearest")
        out = _run(layer, x)
        assert out.shape == (shape[0], *target, shape[3])
        assert layer.compute_output_shape(shape) == (shape[0], *target, shape[3])
        np.testing.assert_array_equal(out, np_nearest_half_pixel(x, *target),
                                      err_msg=f"size={size}")


@pytest.mark.smoke
def test_kresize_bilinear_matches_numpy() -> None:
    for size, shape in [(2, (2, 3, 5, 2)), (3, (1, 4, 4, 1))]:
        x = _random(shape)
        out = _run(layers.KResizeImages(size=size, interpolation="bilinear"), x)
        expected = np_bilinear_half_pixel(x, shape[1] * size, shape[2] * size)
        np.testing.assert_allclose(out, expected, atol=1e-5, rtol=1e-5, err_msg=f"size={size}")


@pytest.mark.smoke
def test_kresize_arguments_and_errors() -> None:
    layer = layers.KResizeImages()
    assert (layer.size, layer.interpolation) == (2, "nearest")
    assert layers.KResizeImages(size=1.5).get_config()["size"] == 1.5
    assert layers.KResizeImages(interpolation="bilinear").get_config()["interpolation"] == (
        "bilinear")
    with pytest.raises(ValueError, match="size"):
        layers.KResizeImages(size=0)
    with pytest.raises(ValueError, match="size"):
        layers.KResizeImages(size="2")
    with pytest.raises(ValueError, match="interpolation.*bilinear.*nearest"):
        layers.KResizeImages(interpolation="cubic")
    with pytest.raises(ValueError, match="rank 4"):
        layers.KResizeImages().compute_output_shape((2, 4, 4))
    assert layers.KResizeImages(size=2).compute_output_shape((None, None, 5, 3)) == (
        None, None, 10, 3)


# ------------------------------------------------------------------------------------------------
# L2Normalize, pooling, activations, ScalarOp
# ------------------------------------------------------------------------------------------------
@pytest.mark.smoke
def test_l2_normalize_matches_numpy() -> None:
    x = _random((2, 4, 5, 3))
    for axis in (1, -1, [1, 2]):
        axes = tuple(axis) if isinstance(axis, list) else axis
        expected = x / np.sqrt(np.sum(x.astype("float64") ** 2, axis=axes, keepdims=True))
        layer = layers.L2Normalize(axis=axis)
        out = _run(layer, x)
        np.testing.assert_allclose(out, expected, atol=1e-5, rtol=1e-5, err_msg=f"axis={axis}")
        np.testing.assert_allclose(np.sum(out.astype("float64") ** 2, axis=axes), 1.0,
                                   atol=1e-5)
        assert layer.get_config()["axis"] == axis


def test_l2_normalize_zero_vector_and_errors() -> None:
    x = np.zeros((1, 3), "float32")
    x[0, 0] = 1e-8  # norm below the epsilon floor: divided by sqrt(1e-12) = 1e-6
    np.testing.assert_allclose(_run(layers.L2Normalize(axis=-1), x), [[1e-2, 0.0, 0.0]],
                               rtol=1e-4)
    assert np.all(_run(layers.L2Normalize(axis=-1), np.zeros((1, 3), "float32")) == 0.0)
    with pytest.raises(ValueError, match="axis"):
        layers.L2Normalize(axis="1")
    with pytest.raises(ValueError, match="axis"):
        layers.L2Normalize(axis=[])


@pytest.mark.smoke
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_global_pooling_matches_numpy(data_format) -> None:
    shape = (2, 3, 5, 4) if data_format == "channels_last" else (2, 4, 3, 5)
    axes = (1, 2) if data_format == "channels_last" else (2, 3)
    x = _random(shape)
    minimum = _run(layers.GlobalMinPooling2D(data_format=data_format), x)
    std = _run(layers.GlobalStdDevPooling2D(data_format=data_format), x)
    assert minimum.shape == std.shape == (2, 4)
    np.testing.assert_array_equal(minimum, np.min(x, axis=axes))
    np.testing.assert_allclose(std, np.std(x.astype("float64"), axis=axes, ddof=0),
                               atol=1e-5, rtol=1e-5)


def test_std_pooling_hand_computed_population() -> None:
    # Values 1, 2, 3, 4: population std sqrt(1.25), sample std would be sqrt(5/3).
    x = np.array([1.0, 2.0, 3.0, 4.0], "float32").reshape(1, 2, 2, 1)
    np.testing.assert_allclose(_run(layers.GlobalStdDevPooling2D(), x), [[np.sqrt(1.25)]],
                               rtol=1e-6)
    np.testing.assert_allclose(_run(layers.GlobalMinPooling2D(), x), [[1.0]])


@pytest.mark.smoke
def test_pooling_arguments_and_errors() -> None:
    for cls in (layers.GlobalMinPooling2D, layers.GlobalStdDevPooling2D):
        assert cls().data_format == "channels_last"
        assert cls().get_config()["data_format"] == "channels_last"
        assert cls().compute_output_shape((None, None, None, 5)) == (None, 5)
        assert cls("channels_first").compute_output_shape((None, 5, None, None)) == (None, 5)
        with pytest.raises(ValueError, match="data_format"):
            cls(data_format="NCHW")
        with pytest.raises(ValueError, match="rank 4"):
            cls()(ops.zeros((2, 4, 3)))
        with pytest.raises(ValueError, match="rank 4"):
            cls()(keras.Input(shape=(4, 3)))


@pytest.mark.smoke
def test_swish_matches_numpy() -> None:
    x = _random((2, 4, 3))
    for beta in (1.0, 2.0, 0.5):
        layer = layers.Swish(beta=beta)
        expected = beta * x * np_sigmoid(beta * x)
        np.testing.assert_allclose(_run(layer, x), expected, atol=1e-5, rtol=1e-5)
        assert layer.get_config()["beta"] == beta
        if beta != 1.0:  # the reference really tells the two formulas apart
            assert not np.allclose(expected, x * np_sigmoid(beta * x), atol=1e-3)


@pytest.mark.smoke
def test_swish_default_and_errors() -> None:
    assert layers.Swish().beta == 1.0
    with pytest.raises(ValueError, match="beta"):
        layers.Swish(beta="1")


@pytest.mark.smoke
def test_quick_gelu_matches_numpy() -> None:
    x = _random((2, 4, 3)) * 3.0
    layer = layers.QuickGELU()
    assert layer.name == "QuickGELU"
    assert layers.QuickGELU(name="gelu_1").name == "gelu_1"
    np.testing.assert_allclose(_run(layer, x), x * np_sigmoid(1.702 * x), atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(_run(layer, np.array([1.0], "float32")),
                               [1.0 / (1.0 + np.exp(-1.702))], rtol=1e-6)


@pytest.mark.smoke
@pytest.mark.parametrize(("operation", "reference"),
                         [("multiply", np.multiply), ("truediv", np.true_divide),
                          ("add", np.add), ("subtract", np.subtract)])
def test_scalar_op_matches_numpy(operation, reference) -> None:
    x = _random((2, 4, 4, 3))
    for value in (2.0, -0.5):
        layer = layers.ScalarOp(operation=operation, value=value)
        assert layer.name == f"ScalarOp_{operation}"
        np.testing.assert_allclose(_run(layer, x), reference(x, np.float32(value)),
                                   atol=1e-6, rtol=1e-6)
        config = layer.get_config()
        assert (config["operation"], config["value"], config["name"]) == (
            operation, value, f"ScalarOp_{operation}")


@pytest.mark.smoke
def test_scalar_op_name_and_errors() -> None:
    assert layers.ScalarOp("add", 1.0, name="offset").name == "offset"
    with pytest.raises(ValueError, match=r"operation.*'add', 'multiply', 'subtract', 'truediv'"):
        layers.ScalarOp(operation="power", value=2.0)
    with pytest.raises(ValueError, match="value"):
        layers.ScalarOp(operation="add", value="2")
