"""Tests for :mod:`lib.model.networks.simple_nets`: the LPIPS trunks against parameter-count
formulas, PyTorch's output-size rules and a NumPy forward pass."""
from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from lib.errors import FaceswapError
from lib.model.networks import AlexNet, SqueezeNet
from tests.harness import (
    assert_model_config_roundtrip,
    assert_model_file_roundtrip,
    to_numpy,
)

_RNG = np.random.default_rng(20240613)

# torchvision's feature extractors: (features index, in, out, kernel, stride, padding).
_ALEX_CONVS = [(0, 3, 64, 11, 4, 2), (3, 64, 192, 5, 1, 2), (6, 192, 384, 3, 1, 1),
               (8, 384, 256, 3, 1, 1), (10, 256, 256, 3, 1, 1)]
_ALEX_POOLS_BEFORE = {3, 6}
# SqueezeNet 1.1 Fire modules: features index -> (in, squeeze, expand); pools at 2, 5 and 8.
_FIRES = {3: (64, 16, 64), 4: (128, 16, 64), 6: (128, 32, 128), 7: (256, 32, 128),
          9: (256, 48, 192), 10: (384, 48, 192), 11: (384, 64, 256), 12: (512, 64, 256)}
_SQUEEZE_POOLS = (2, 5, 8)
_SQUEEZE_TAPS = (0, 4, 7, 9, 10, 11, 12)


def _random(shape: tuple[int, ...], scale: float = 1.0) -> np.ndarray:
    return (_RNG.standard_normal(shape) * scale).astype("float32")


def _conv_parameters(cin: int, cout: int, kernel: int) -> int:
    return cin * cout * kernel * kernel + cout


def alexnet_parameters() -> int:
    return sum(_conv_parameters(cin, cout, k) for _, cin, cout, k, _, _ in _ALEX_CONVS)


def squeezenet_parameters() -> int:
    total = _conv_parameters(3, 64, 3)
    for cin, squeeze, expand in _FIRES.values():
        total += (_conv_parameters(cin, squeeze, 1) + _conv_parameters(squeeze, expand, 1)
                  + _conv_parameters(squeeze, expand, 3))
    return total


def _torch_size(size: int, kernel: int, stride: int, padding: int = 0,
                ceil_mode: bool = False) -> int:
    """PyTorch's Conv2d/MaxPool2d output size."""
    span = size + 2 * padding - kernel
    out = (math.ceil(span / stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1  # the last window must start inside the input
    return out


def alexnet_sizes(size: int) -> list[int]:
    sizes = []
    for index, _, _, kernel, stride, padding in _ALEX_CONVS:
        if index in _ALEX_POOLS_BEFORE:
            size = _torch_size(size, 3, 2)
        size = _torch_size(size, kernel, stride, padding)
        sizes.append(size)
    return sizes


def squeezenet_sizes(size: int) -> list[int]:
    size = _torch_size(size, 3, 2)
    sizes = [size]
    for index in range(2, 13):
        if index in _SQUEEZE_POOLS:
            size = _torch_size(size, 3, 2, ceil_mode=True)
        elif index in _SQUEEZE_TAPS:
            sizes.append(size)
    return sizes


def test_parameter_formulas_match_torchvision():
    assert alexnet_parameters() == 2_469_696
    assert squeezenet_parameters() == 722_496


# ------------------------------------------------------------------------------------------------
# Structure
# ------------------------------------------------------------------------------------------------
def test_alexnet_counts_names_and_shapes():
    model = AlexNet((224, 224, 3))()
    assert model.name == "alexnet"
    assert model.count_params() == alexnet_parameters()
    assert model.non_trainable_weights == []
    channels = [64, 192, 384, 256, 256]
    expected = [(None, size, size, filters)
                for size, filters in zip(alexnet_sizes(224), channels, strict=True)]
    assert [tuple(output.shape) for output in model.outputs] == expected
    assert expected[0] == (None, 55, 55, 64) and expected[-1] == (None, 13, 13, 256)
    for index in AlexNet.outputs:
        assert model.get_layer(f"features_{index}").output is model.outputs[
            AlexNet.outputs.index(index)]


def test_squeezenet_counts_names_and_shapes():
    model = SqueezeNet((224, 224, 3))()
    assert model.name == "squeezenet"
    assert model.count_params() == squeezenet_parameters()
    channels = [64, 128, 256, 384, 384, 512, 512]
    expected = [(None, size, size, filters)
                for size, filters in zip(squeezenet_sizes(224), channels, strict=True)]
    assert [tuple(output.shape) for output in model.outputs] == expected
    assert expected[0] == (None, 111, 111, 64) and expected[-1] == (None, 13, 13, 512)
    for position, index in enumerate(SqueezeNet.outputs):
        assert model.get_layer(f"features_{index}").output is model.outputs[position]


@pytest.mark.parametrize("size", [33, 64, 67, 100])
def test_output_sizes_follow_pytorch_rules(size):
    alex = AlexNet((size, size, 3))()
    assert [output.shape[1] for output in alex.outputs] == alexnet_sizes(size)
    squeeze = SqueezeNet((size, size, 3))()
    assert [output.shape[1] for output in squeeze.outputs] == squeezenet_sizes(size)


def test_default_input_shape_is_dynamic():
    model = SqueezeNet()()
    assert model.input_shape == (None, None, None, 3)
    for size in (33, 48):
        outputs = model(_random((1, size, size, 3)))
        assert [output.shape[1] for output in outputs] == squeezenet_sizes(size)


@pytest.mark.parametrize("cls", [AlexNet, SqueezeNet])
@pytest.mark.parametrize("input_shape", [(64, 64), (0, 64, 3), (64, 64, None), "64", (64.0, 64, 3),
                                         (True, 64, 3)])
def test_bad_input_shape_raises(cls, input_shape):
    with pytest.raises(ValueError, match="`input_shape` must be None or"):
        cls(input_shape)


@pytest.mark.parametrize("cls", [AlexNet, SqueezeNet])
def test_load_weights_must_be_bool(cls):
    with pytest.raises(TypeError, match="`load_weights` must be a bool. Received: "
                                        "load_weights='yes'"):
        cls(load_weights="yes")


# ------------------------------------------------------------------------------------------------
# Numeric correctness against NumPy (PyTorch semantics, written from the definitions)
# ------------------------------------------------------------------------------------------------
def _np_conv(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, stride: int,
             padding: int) -> np.ndarray:
    x = np.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    size_k = kernel.shape[0]
    out_h = (x.shape[1] - size_k) // stride + 1
    out_w = (x.shape[2] - size_k) // stride + 1
    result = np.zeros((x.shape[0], out_h, out_w, kernel.shape[-1])) + bias
    for i in range(size_k):
        for j in range(size_k):
            window = x[:, i:i + stride * (out_h - 1) + 1:stride,
                       j:j + stride * (out_w - 1) + 1:stride]
            result += window @ kernel[i, j]
    return result


def _np_max_pool(x: np.ndarray, ceil_mode: bool) -> np.ndarray:
    """3x3 stride 2 max pooling; in ceil mode the last windows are clipped to the input."""
    out_h = _torch_size(x.shape[1], 3, 2, ceil_mode=ceil_mode)
    out_w = _torch_size(x.shape[2], 3, 2, ceil_mode=ceil_mode)
    result = np.empty((x.shape[0], out_h, out_w, x.shape[-1]))
    for row in range(out_h):
        for col in range(out_w):
            window = x[:, 2 * row:2 * row + 3, 2 * col:2 * col + 3]
            result[:, row, col] = window.max(axis=(1, 2))
    return result


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def _randomise(model: keras.Model) -> dict[str, np.ndarray]:
    """Random kernels scaled by 1/sqrt(fan-in) (activations stay near 1) and random biases."""
    values = [_random(tuple(weight.shape), 0.1 if len(weight.shape) == 1
                      else 1.0 / math.sqrt(np.prod(weight.shape[:-1])))
              for weight in model.weights]
    model.set_weights(values)
    return {weight.path: value.astype("float64")
            for weight, value in zip(model.weights, values, strict=True)}


def np_alexnet(x: np.ndarray, w: dict[str, np.ndarray]) -> list[np.ndarray]:
    taps = []
    for index, _, _, _, stride, padding in _ALEX_CONVS:
        if index in _ALEX_POOLS_BEFORE:
            x = _np_max_pool(x, ceil_mode=False)
        name = f"features_{index}"
        x = _relu(_np_conv(x, w[f"{name}/kernel"], w[f"{name}/bias"], stride, padding))
        taps.append(x)
    return taps


def np_squeezenet(x: np.ndarray, w: dict[str, np.ndarray]) -> list[np.ndarray]:
    x = _relu(_np_conv(x, w["features_0/kernel"], w["features_0/bias"], 2, 0))
    taps = [x]
    for index in range(2, 13):
        if index in _SQUEEZE_POOLS:
            x = _np_max_pool(x, ceil_mode=True)
            continue
        name = f"features_{index}"
        squeezed = _relu(_np_conv(x, w[f"{name}_squeeze/kernel"], w[f"{name}_squeeze/bias"],
                                  1, 0))
        x = np.concatenate([
            _relu(_np_conv(squeezed, w[f"{name}_expand1x1/kernel"],
                           w[f"{name}_expand1x1/bias"], 1, 0)),
            _relu(_np_conv(squeezed, w[f"{name}_expand3x3/kernel"],
                           w[f"{name}_expand3x3/bias"], 1, 1))], axis=-1)
        if index in _SQUEEZE_TAPS:
            taps.append(x)
    return taps


@pytest.mark.smoke
def test_alexnet_matches_numpy():
    model = AlexNet((67, 67, 3))()
    weights = _randomise(model)
    images = _random((2, 67, 67, 3))
    expected = np_alexnet(images.astype("float64"), weights)
    actual = model.predict(images, verbose=0)
    assert len(actual) == 5
    for act, exp in zip(actual, expected, strict=True):
        assert act.shape == exp.shape
        assert np.any(exp > 0)
        np.testing.assert_allclose(act, exp, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("size", [pytest.param(33, marks=pytest.mark.smoke), 35])
def test_squeezenet_matches_numpy(size):
    # 33 px puts an even size before every pool, where ceil mode adds a window; 35 px an odd one.
    model = SqueezeNet((size, size, 3))()
    weights = _randomise(model)
    images = _random((2, size, size, 3))
    expected = np_squeezenet(images.astype("float64"), weights)
    actual = model.predict(images, verbose=0)
    assert len(actual) == 7
    for act, exp in zip(actual, expected, strict=True):
        assert act.shape == exp.shape
        assert np.any(exp > 0)
        np.testing.assert_allclose(act, exp, rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------------------------------------
# Serialisation and weights
# ------------------------------------------------------------------------------------------------
@pytest.mark.smoke
@pytest.mark.parametrize("cls", [AlexNet, SqueezeNet])
def test_file_and_config_roundtrip(cls, tmp_path):
    model = cls((67, 67, 3))()
    images = _random((2, 67, 67, 3))
    assert_model_file_roundtrip(model, images, tmp_path)
    assert_model_config_roundtrip(model, images)


@pytest.mark.smoke
@pytest.mark.parametrize("cls", [AlexNet, SqueezeNet])
def test_missing_weights_raise_faceswap_error(cls, tmp_path, monkeypatch):
    monkeypatch.setenv("FACESWAP_MODEL_CACHE", str(tmp_path))
    with pytest.raises(FaceswapError) as info:
        cls(load_weights=True)()
    message = str(info.value)
    assert str(tmp_path / cls.weights_file) in message
    assert "LPIPS" in message
    assert cls.weights_file == f"{cls.__name__.lower()}.weights.h5"


@pytest.mark.parametrize("cls", [AlexNet, SqueezeNet])
def test_cached_weights_are_loaded(cls, tmp_path, monkeypatch):
    monkeypatch.setenv("FACESWAP_MODEL_CACHE", str(tmp_path))
    source = cls((64, 64, 3))()
    source.save_weights(tmp_path / cls.weights_file)
    keras.utils.set_random_seed(7)
    loaded = cls(load_weights=True)()  # another input size: conv weights do not depend on it
    for expected, actual in zip(source.weights, loaded.weights, strict=True):
        np.testing.assert_array_equal(to_numpy(actual), to_numpy(expected))


# Keras warns about every container it walks after the first failed assignment.
@pytest.mark.filterwarnings("ignore:Skipping nested container:UserWarning")
def test_wrong_weights_file_raises_faceswap_error(tmp_path, monkeypatch):
    monkeypatch.setenv("FACESWAP_MODEL_CACHE", str(tmp_path))
    AlexNet()().save_weights(tmp_path / "squeezenet.weights.h5")
    with pytest.raises(FaceswapError, match="could not be loaded"):
        SqueezeNet(load_weights=True)()
