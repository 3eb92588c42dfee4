"""Tests for :mod:`lib.model.normalization`, each layer against an independent NumPy reference."""
from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import pytest

from lib.model import normalization
from lib.model.normalization import (
    AdaInstanceNormalization,
    GroupNormalization,
    InstanceNormalization,
    LayerNormalization,
    RMSNormalization,
)
from tests.harness import (
    ROUNDTRIP_TOL,
    assert_config_roundtrip,
    assert_model_config_roundtrip,
    assert_model_file_roundtrip,
    assert_serialization_roundtrip,
    to_numpy,
    train_one_step,
)

# Golden-value tolerance for float32 maths against a float64 reference.
TOL = {"atol": 1e-4, "rtol": 1e-4}

_RNG = np.random.default_rng(20240612)


def _random(shape: tuple[int, ...], low: float = -2.0, high: float = 3.0) -> np.ndarray:
    return _RNG.uniform(low, high, shape).astype("float32")


def _randomize_weights(layer: keras.layers.Layer) -> dict[str, np.ndarray]:
    """Give every weight a random, non-trivial value; returns them by weight name."""
    values = {}
    for weight in layer.weights:
        low, high = (0.5, 1.5) if weight.name in ("gamma", "scale") else (-1.0, 1.0)
        values[weight.name] = _RNG.uniform(low, high, tuple(weight.shape)).astype("float32")
        weight.assign(values[weight.name])
    return values


# ------------------------------------------------------------------------------------------------
# NumPy references, written independently of the layer code (float64)
# ------------------------------------------------------------------------------------------------
def np_instance_norm(x: np.ndarray, axis: int | None, epsilon: float,
                     gamma: np.ndarray | None, beta: np.ndarray | None) -> np.ndarray:
    """Per sample: ``(x - mean) / (std + eps)`` over all axes but 0 and ``axis``."""
    x = x.astype("float64")
    kept = None if axis is None else axis % x.ndim
    axes = tuple(i for i in range(1, x.ndim) if i != kept)
    out = (x - x.mean(axis=axes, keepdims=True)) / (x.std(axis=axes, keepdims=True) + epsilon)
    shape = [1] * x.ndim
    if kept is not None:
        shape[kept] = x.shape[kept]
    if gamma is not None:
        out = out * gamma.reshape(shape)
    if beta is not None:
        out = out + beta.reshape(shape)
    return out


def np_group_norm(x: np.ndarray, group: int, epsilon: float, gamma: np.ndarray,
                  beta: np.ndarray, data_format: str = "channels_last") -> np.ndarray:
    """Loop over samples and groups; rank 2 uses the statistics of the whole tensor."""
    x = x.astype("float64")
    if x.ndim == 2:
        out = (x - x.mean()) / np.sqrt(x.var() + epsilon)
        return gamma * out + beta
    if data_format == "channels_first":
        x = np.moveaxis(x, 1, -1)
    out = np.empty_like(x)
    per_group = x.shape[-1] // group
    for n in range(x.shape[0]):
        for g in range(group):
            block = x[n, :, :, g * per_group:(g + 1) * per_group]
            out[n, :, :, g * per_group:(g + 1) * per_group] = (
                (block - block.mean()) / np.sqrt(block.var() + epsilon))
    if data_format == "channels_first":
        out = np.moveaxis(out, -1, 1)
    return gamma * out + beta


def np_rms_norm(x: np.ndarray, axis: int, epsilon: float, partial: float, scale: np.ndarray,
                offset: np.ndarray | None) -> np.ndarray:
    """``scale * x / sqrt(mean(x[:k]**2) + eps) + offset`` with ``k`` from ``partial``."""
    x = np.moveaxis(x.astype("float64"), axis, -1)
    size = x.shape[-1]
    count = size if partial in (0.0, 1.0) else int(size * partial)
    mean_square = (x[..., :count] ** 2).sum(axis=-1, keepdims=True) / count
    out = scale * x / np.sqrt(mean_square + epsilon)
    if offset is not None:
        out = out + offset
    return np.moveaxis(out, -1, axis)


def np_layer_norm(x: np.ndarray, axes: list[int], epsilon: float, gamma: np.ndarray | None,
                  beta: np.ndarray | None) -> np.ndarray:
    """Normalise over ``axes``; parameters are shaped like the (sorted) normalised axes."""
    x = x.astype("float64")
    axes = sorted(axis % x.ndim for axis in axes)
    mean = x.mean(axis=tuple(axes), keepdims=True)
    var = ((x - mean) ** 2).mean(axis=tuple(axes), keepdims=True)
    out = (x - mean) / np.sqrt(var + epsilon)
    shape = [x.shape[i] if i in axes else 1 for i in range(x.ndim)]
    if gamma is not None:
        out = out * gamma.reshape(shape)
    if beta is not None:
        out = out + beta.reshape(shape)
    return out


def test_np_references_match_hand_values() -> None:
    """Sanity check of the references on a tiny hand-computed example."""
    x = np.array([[1.0, 3.0]])  # mean 2, std 1, var 1, mean square 5
    np.testing.assert_allclose(np_instance_norm(x, None, 0.0, None, None), [[-1.0, 1.0]])
    np.testing.assert_allclose(np_instance_norm(x, None, 1.0, None, None), [[-0.5, 0.5]])
    np.testing.assert_allclose(np_layer_norm(x, [-1], 0.0, None, None), [[-1.0, 1.0]])
    np.testing.assert_allclose(np_rms_norm(x, -1, 0.0, 0.0, np.ones(2), None),
                               [[1 / np.sqrt(5), 3 / np.sqrt(5)]])
    np.testing.assert_allclose(np_rms_norm(x, -1, 0.0, 0.5, np.ones(2), None), [[1.0, 3.0]])
    np.testing.assert_allclose(np_group_norm(x, 1, 0.0, np.ones(2), np.zeros(2)), [[-1.0, 1.0]])


# ------------------------------------------------------------------------------------------------
# Module surface and Faceswap defaults
# ------------------------------------------------------------------------------------------------
def test_public_names() -> None:
    assert normalization.__all__ == ["AdaInstanceNormalization", "GroupNormalization",
                                     "InstanceNormalization", "LayerNormalization",
                                     "RMSNormalization"]


@pytest.mark.smoke
def test_registered_names() -> None:
    for name in normalization.__all__:
        cls = getattr(normalization, name)
        assert keras.saving.get_registered_name(cls) == name  # the bare name, as Faceswap 3
        assert keras.saving.get_registered_object(f"faceswap>{name}") is cls
        assert keras.saving.get_custom_objects()[name] is cls  # Faceswap's bare-name alias


def test_faceswap_defaults() -> None:
    config = InstanceNormalization().get_config()
    assert (config["axis"], config["epsilon"], config["center"], config["scale"]) == (
        None, 1e-3, True, True)
    assert config["beta_initializer"]["class_name"] == "Zeros"
    assert config["gamma_initializer"]["class_name"] == "Ones"
    assert [config[f"{p}_{k}"] for p in ("beta", "gamma") for k in ("regularizer", "constraint")
            ] == [None] * 4

    config = AdaInstanceNormalization().get_config()
    assert {k: config[k] for k in ("axis", "momentum", "epsilon", "center", "scale")} == {
        "axis": -1, "momentum": 0.99, "epsilon": 1e-3, "center": True, "scale": True}

    config = GroupNormalization().get_config()
    assert {k: config[k] for k in ("axis", "epsilon", "group", "data_format",
                                   "gamma_regularizer", "beta_regularizer")} == {
        "axis": [-1], "epsilon": 1e-6, "group": 32, "data_format": "channels_last",
        "gamma_regularizer": None, "beta_regularizer": None}
    assert config["gamma_init"]["class_name"] == "Ones"
    assert config["beta_init"]["class_name"] == "Zeros"

    config = RMSNormalization().get_config()
    assert {k: config[k] for k in ("axis", "epsilon", "partial", "bias")} == {
        "axis": -1, "epsilon": 1e-8, "partial": 0.0, "bias": False}

    config = LayerNormalization().get_config()
    assert (config["axis"], config["epsilon"], config["center"], config["scale"]) == (
        -1, 1e-3, True, True)
    assert config["beta_initializer"]["class_name"] == "Zeros"
    assert config["gamma_initializer"]["class_name"] == "Ones"


# ------------------------------------------------------------------------------------------------
# InstanceNormalization
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(4, 6, 16), (4, 3, 4, 16)], ids=["rank3", "rank4"])
def test_instance_norm_matches_numpy(shape: tuple[int, ...]) -> None:
    """Faceswap's test arguments (axis None and 1, center/scale off), with random gamma/beta."""
    x = _random(shape)
    for axis in (None, 1, -1):
        for center, scale in ((True, True), (False, False), (True, False), (False, True)):
            layer = InstanceNormalization(axis=axis, epsilon=1e-3, center=center, scale=scale,
                                          gamma_initializer="ones", beta_initializer="ones",
                                          gamma_regularizer="l2", beta_regularizer="l2")
            layer.build(shape)
            weights = _randomize_weights(layer)
            expected = np_instance_norm(x, axis, 1e-3, weights.get("gamma"),
                                        weights.get("beta"))
            np.testing.assert_allclose(to_numpy(layer(x)), expected, **TOL,
                                       err_msg=f"axis={axis} center={center} scale={scale}")


@pytest.mark.smoke
def test_instance_norm_default_matches_numpy() -> None:
    x = _random((2, 5, 5, 8))
    layer = InstanceNormalization()
    layer.build(x.shape)
    weights = _randomize_weights(layer)
    assert weights["gamma"].shape == (1,)
    expected = np_instance_norm(x, None, 1e-3, weights["gamma"], weights["beta"])
    np.testing.assert_allclose(to_numpy(layer(x)), expected, **TOL)


def test_instance_norm_rank2_without_axis() -> None:
    x = _random((4, 64))
    layer = InstanceNormalization(epsilon=0.01)
    layer.build(x.shape)
    weights = _randomize_weights(layer)
    expected = np_instance_norm(x, None, 0.01, weights["gamma"], weights["beta"])
    np.testing.assert_allclose(to_numpy(layer(x)), expected, **TOL)


def test_instance_norm_epsilon_is_added_to_std() -> None:
    """Constant offset 0/1 per sample: std 0.5, so output is ±0.5 / (0.5 + eps)."""
    x = np.tile(np.array([0.0, 1.0], "float32"), (2, 4, 4, 1))
    out = to_numpy(InstanceNormalization(epsilon=0.5)(x))
    np.testing.assert_allclose(np.unique(np.round(out, 6)), [-0.5, 0.5], atol=1e-6)


def test_instance_norm_weights() -> None:
    for kwargs, weights in (({}, {"gamma": (1,), "beta": (1,)}),
                            ({"axis": -1}, {"gamma": (16,), "beta": (16,)}),
                            ({"axis": 2}, {"gamma": (4,), "beta": (4,)}),
                            ({"axis": -1, "center": False}, {"gamma": (16,)}),
                            ({"axis": -1, "scale": False}, {"beta": (16,)}),
                            ({"center": False, "scale": False}, {})):
        layer = InstanceNormalization(**kwargs)
        layer.build((None, 3, 4, 16))
        assert {w.name: tuple(w.shape) for w in layer.trainable_weights} == weights, kwargs
        assert layer.non_trainable_weights == []


def test_instance_norm_errors() -> None:
    with pytest.raises(ValueError, match="batch axis"):
        InstanceNormalization(axis=0)
    with pytest.raises(TypeError, match="axis"):
        InstanceNormalization(axis="channels")
    with pytest.raises(TypeError, match="axis"):
        InstanceNormalization(axis=1.0)
    with pytest.raises(ValueError, match="epsilon"):
        InstanceNormalization(epsilon=-1.0)
    with pytest.raises(ValueError, match="rank-2"):
        InstanceNormalization(axis=1)(np.ones((4, 8), "float32"))
    with pytest.raises(ValueError, match="rank-2"):
        InstanceNormalization(axis=-1).build((None, 8))
    with pytest.raises(ValueError, match="batch axis"):
        InstanceNormalization(axis=-4).build((None, 3, 4, 8))
    with pytest.raises(ValueError, match="out of range"):
        InstanceNormalization(axis=4).build((None, 3, 4, 8))
    with pytest.raises(ValueError, match="defined size"):
        InstanceNormalization(axis=-1).build((None, 3, 4, None))


# ------------------------------------------------------------------------------------------------
# AdaInstanceNormalization
# ------------------------------------------------------------------------------------------------
def test_adain_matches_numpy() -> None:
    """Faceswap's shapes with fewer channels; center/scale do not change the maths."""
    x, beta, gamma = _random((4, 8, 8, 32)), _random((4, 1, 1, 32)), _random((4, 1, 1, 32))
    expected = np_instance_norm(x, -1, 1e-3, None, None) * gamma + beta
    for center, scale in ((True, True), (False, False), (True, False)):
        layer = AdaInstanceNormalization(center=center, scale=scale)
        np.testing.assert_allclose(to_numpy(layer([x, beta, gamma])), expected, **TOL,
                                   err_msg=f"center={center} scale={scale}")


@pytest.mark.smoke
def test_adain_axis_none_and_epsilon() -> None:
    x, beta, gamma = _random((2, 4, 4, 8)), _random((2, 1, 1, 1)), _random((2, 1, 1, 1))
    out = to_numpy(AdaInstanceNormalization(axis=None, epsilon=0.1)([x, beta, gamma]))
    expected = np_instance_norm(x, None, 0.1, None, None) * gamma + beta
    np.testing.assert_allclose(out, expected, **TOL)


def test_adain_shape_and_no_weights() -> None:
    layer = AdaInstanceNormalization()
    shapes = [(4, 8, 8, 1280), (4, 1, 1, 1280), (4, 1, 1, 1280)]
    layer.build(shapes)
    assert layer.weights == []
    assert layer.compute_output_shape(shapes) == (4, 8, 8, 1280)


def test_adain_errors() -> None:
    with pytest.raises(ValueError, match="batch axis"):
        AdaInstanceNormalization(axis=0)
    with pytest.raises(TypeError, match="axis"):
        AdaInstanceNormalization(axis=[1, 2])
    with pytest.raises(TypeError, match="momentum"):
        AdaInstanceNormalization(momentum="fast")
    with pytest.raises(ValueError, match="three tensors"):
        AdaInstanceNormalization().build([(4, 8, 8, 3), (4, 1, 1, 3)])
    with pytest.raises(ValueError, match="three tensors"):
        AdaInstanceNormalization().compute_output_shape((4, 8, 8, 3))
    with pytest.raises(ValueError, match="defined size"):
        AdaInstanceNormalization().build([(4, 8, 8, None), (4, 1, 1, 3), (4, 1, 1, 3)])


# ------------------------------------------------------------------------------------------------
# GroupNormalization
# ------------------------------------------------------------------------------------------------
def test_group_norm_matches_numpy() -> None:
    """Faceswap's own test shapes and arguments, with random gamma/beta."""
    for shape in ((4, 3, 4, 128), (4, 1, 4, 256), (4, 64), (3, 64)):
        x = _random(shape)
        layer = GroupNormalization(epsilon=1e-6, gamma_regularizer="l2", beta_regularizer="l2",
                                   axis=1, gamma_init="ones", beta_init="ones", group=16)
        layer.build(shape)
        weights = _randomize_weights(layer)
        expected = np_group_norm(x, 16, 1e-6, weights["gamma"], weights["beta"])
        np.testing.assert_allclose(to_numpy(layer(x)), expected, **TOL, err_msg=str(shape))


@pytest.mark.smoke
def test_group_norm_default_matches_numpy() -> None:
    x = _random((2, 3, 3, 64))
    layer = GroupNormalization()
    layer.build(x.shape)
    weights = _randomize_weights(layer)
    expected = np_group_norm(x, 32, 1e-6, weights["gamma"], weights["beta"])
    np.testing.assert_allclose(to_numpy(layer(x)), expected, **TOL)


@pytest.mark.smoke
def test_group_norm_channels_first() -> None:
    x = _random((2, 16, 3, 5))
    layer = GroupNormalization(group=4, data_format="channels_first", epsilon=1e-3)
    layer.build(x.shape)
    weights = _randomize_weights(layer)
    assert weights["gamma"].shape == (1, 16, 1, 1)
    expected = np_group_norm(x, 4, 1e-3, weights["gamma"], weights["beta"], "channels_first")
    np.testing.assert_allclose(to_numpy(layer(x)), expected, **TOL)


def test_group_norm_rank2_uses_whole_tensor() -> None:
    """Faceswap quirk: the batch is pooled, so one sample's output depends on the others."""
    x = _random((4, 64))
    layer = GroupNormalization(group=16)
    alone = to_numpy(layer(x[:1]))
    together = to_numpy(layer(x))[:1]
    assert not np.allclose(alone, together, atol=1e-3)


def test_group_norm_data_format_default_follows_keras_config() -> None:
    previous = keras.config.image_data_format()
    try:
        keras.config.set_image_data_format("channels_first")
        assert GroupNormalization().data_format == "channels_first"
    finally:
        keras.config.set_image_data_format(previous)
    assert GroupNormalization().data_format == previous


def test_group_norm_weights() -> None:
    for shape, data_format, weight_shape in (
            ((None, 3, 4, 64), "channels_last", (1, 1, 1, 64)),
            ((None, 64, 3, 4), "channels_first", (1, 64, 1, 1)),
            ((None, 64), "channels_last", (1, 64))):
        layer = GroupNormalization(group=16, data_format=data_format)
        layer.build(shape)
        assert {w.name: tuple(w.shape) for w in layer.trainable_weights} == {
            "gamma": weight_shape, "beta": weight_shape}, (shape, data_format)
        assert layer.non_trainable_weights == []


def test_group_norm_errors() -> None:
    with pytest.raises(ValueError, match="at least `group`"):
        GroupNormalization(group=16).build((None, 4, 4, 8))
    with pytest.raises(ValueError, match="at least `group`"):
        GroupNormalization(group=16)(np.ones((2, 4, 4, 8), "float32"))
    with pytest.raises(ValueError, match="divisible"):
        GroupNormalization(group=16).build((None, 4, 4, 24))
    with pytest.raises(ValueError, match="rank 4 or 2"):
        GroupNormalization(group=4).build((None, 4, 8))
    with pytest.raises(ValueError, match="rank 4 or 2"):
        GroupNormalization(group=4).compute_output_shape((None, 2, 4, 4, 8))
    with pytest.raises(ValueError, match="channel size"):
        GroupNormalization(group=4).build((None, 4, 4, None))
    with pytest.raises(ValueError, match="data_format"):
        GroupNormalization(data_format="NHWC")
    with pytest.raises(ValueError, match="group"):
        GroupNormalization(group=0)
    with pytest.raises(TypeError, match="group"):
        GroupNormalization(group=2.0)
    with pytest.raises(TypeError, match="axis"):
        GroupNormalization(axis="x")


def test_group_norm_serialises_each_regularizer_from_its_own_value() -> None:
    """Faceswap writes gamma_regularizer into beta_regularizer; we do not."""
    layer = GroupNormalization(gamma_regularizer=keras.regularizers.L2(0.25),
                               beta_regularizer=keras.regularizers.L1(0.5), axis=(1, 2))
    config = layer.get_config()
    assert config["axis"] == [1, 2]
    assert config["gamma_regularizer"]["class_name"] == "L2"
    assert config["beta_regularizer"]["class_name"] == "L1"
    assert config["beta_regularizer"]["config"]["l1"] == pytest.approx(0.5)
    clone = assert_serialization_roundtrip(layer)
    assert isinstance(clone.beta_regularizer, keras.regularizers.L1)


# ------------------------------------------------------------------------------------------------
# RMSNormalization
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bias", [False, True])
def test_rms_norm_matches_numpy(bias: bool) -> None:
    """Faceswap's test: partial 0, 0.25, 0.5, 0.75, 1.0 on (4, 512)."""
    x = _random((4, 512))
    for partial in (0.0, 0.25, 0.5, 0.75, 1.0):
        layer = RMSNormalization(partial=partial, bias=bias)
        layer.build(x.shape)
        weights = _randomize_weights(layer)
        expected = np_rms_norm(x, -1, 1e-8, partial, weights["scale"], weights.get("offset"))
        np.testing.assert_allclose(to_numpy(layer(x)), expected, **TOL,
                                   err_msg=f"partial={partial}")


@pytest.mark.smoke
def test_rms_norm_partial_with_bias_matches_numpy() -> None:
    x = _random((4, 64))
    layer = RMSNormalization(partial=0.25, bias=True, epsilon=1e-3)
    layer.build(x.shape)
    weights = _randomize_weights(layer)
    expected = np_rms_norm(x, -1, 1e-3, 0.25, weights["scale"], weights["offset"])
    np.testing.assert_allclose(to_numpy(layer(x)), expected, **TOL)


def test_rms_norm_partial_uses_only_leading_entries() -> None:
    """Changing entries past the partial window rescales nothing else."""
    x = _random((2, 16))
    changed = x.copy()
    changed[:, 8:] *= 10.0
    layer = RMSNormalization(partial=0.5)
    np.testing.assert_allclose(to_numpy(layer(changed))[:, :8], to_numpy(layer(x))[:, :8],
                               **ROUNDTRIP_TOL)
    full = RMSNormalization(partial=0.0)
    assert not np.allclose(to_numpy(full(changed))[:, :8], to_numpy(full(x))[:, :8])


def test_rms_norm_on_inner_axis() -> None:
    """``scale``/``offset`` broadcast along ``axis``, not the last axis."""
    x = _random((2, 6, 5))
    layer = RMSNormalization(axis=1, bias=True, partial=0.5)
    layer.build(x.shape)
    weights = _randomize_weights(layer)
    assert weights["scale"].shape == (6,)
    expected = np_rms_norm(x, 1, 1e-8, 0.5, weights["scale"], weights["offset"])
    np.testing.assert_allclose(to_numpy(layer(x)), expected, **TOL)
    assert layer.get_config()["axis"] == 1


def test_rms_norm_weights() -> None:
    for bias, names in ((False, ["scale"]), (True, ["scale", "offset"])):
        layer = RMSNormalization(bias=bias)
        layer.build((None, 32))
        assert [w.name for w in layer.trainable_weights] == names
        assert all(tuple(w.shape) == (32,) for w in layer.weights)
        np.testing.assert_array_equal(to_numpy(layer.scale), np.ones(32))
        if bias:
            np.testing.assert_array_equal(to_numpy(layer.offset), np.zeros(32))
        assert layer.non_trainable_weights == []


def test_rms_norm_errors() -> None:
    for partial in (-0.1, 1.5):
        with pytest.raises(ValueError, match="partial"):
            RMSNormalization(partial=partial)
    for axis in (1.0, "last", [1], True):
        with pytest.raises(TypeError, match="axis"):
            RMSNormalization(axis=axis)
    with pytest.raises(ValueError, match="selects no entries"):
        RMSNormalization(partial=0.1).build((None, 4))
    with pytest.raises(ValueError, match="out of range"):
        RMSNormalization(axis=2).build((None, 4))
    with pytest.raises(ValueError, match="defined size"):
        RMSNormalization().build((None, None))


# ------------------------------------------------------------------------------------------------
# LayerNormalization (Faceswap's own)
# ------------------------------------------------------------------------------------------------
def test_layer_norm_matches_numpy() -> None:
    """Rank 2 and 4, single and multiple axes (unsorted too), center/scale on and off."""
    for shape, axis in (((4, 32), -1), ((4, 32), 1), ((2, 3, 4, 8), -1), ((2, 3, 4, 8), [2]),
                        ((2, 3, 4, 8), [1, 2, 3]), ((2, 3, 4, 8), [1, 3]),
                        ((2, 3, 4, 8), (-1, 1))):
        x = _random(shape)
        axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
        for center, scale in ((True, True), (False, False), (False, True)):
            layer = LayerNormalization(axis=axis, epsilon=1e-3, center=center, scale=scale)
            layer.build(shape)
            weights = _randomize_weights(layer)
            expected = np_layer_norm(x, axes, 1e-3, weights.get("gamma"), weights.get("beta"))
            np.testing.assert_allclose(
                to_numpy(layer(x)), expected, **TOL,
                err_msg=f"shape={shape} axis={axis} center={center} scale={scale}")


@pytest.mark.smoke
def test_layer_norm_default_matches_numpy() -> None:
    x = _random((2, 3, 4, 8))
    layer = LayerNormalization(axis=[1, 2, 3])
    layer.build(x.shape)
    weights = _randomize_weights(layer)
    assert weights["gamma"].shape == (3, 4, 8)
    expected = np_layer_norm(x, [1, 2, 3], 1e-3, weights["gamma"], weights["beta"])
    np.testing.assert_allclose(to_numpy(layer(x)), expected, **TOL)


def test_layer_norm_weights() -> None:
    for axis, shape in ((-1, (8,)), ([1, 2, 3], (3, 4, 8)), ([3, 1], (3, 8))):
        layer = LayerNormalization(axis=axis)
        layer.build((None, 3, 4, 8))
        assert {w.name: tuple(w.shape) for w in layer.trainable_weights} == {
            "gamma": shape, "beta": shape}, axis
        assert layer.non_trainable_weights == []
        assert layer.get_config()["axis"] == axis  # kept as given, not rewritten by build


def test_layer_norm_errors() -> None:
    with pytest.raises(TypeError, match="axis"):
        LayerNormalization(axis="channels")
    with pytest.raises(TypeError, match="axis"):
        LayerNormalization(axis=[1, "2"])
    with pytest.raises(TypeError, match="axis"):
        LayerNormalization(axis=[])
    with pytest.raises(ValueError, match="twice"):
        LayerNormalization(axis=[1, -3]).build((None, 3, 4, 8))
    with pytest.raises(ValueError, match="out of range"):
        LayerNormalization(axis=4).build((None, 3, 4, 8))
    with pytest.raises(ValueError, match="defined size"):
        LayerNormalization(axis=[1, 2]).build((None, None, 4, 8))
    with pytest.raises(ValueError, match="epsilon"):
        LayerNormalization(epsilon="small")


def test_layer_norm_is_distinct_from_keras() -> None:
    """Ours is its own class, and Keras' built-in still loads as the built-in."""
    assert LayerNormalization is not keras.layers.LayerNormalization
    assert not issubclass(LayerNormalization, keras.layers.LayerNormalization)
    builtin = keras.layers.LayerNormalization(axis=-1)
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(builtin))
    assert type(clone) is keras.layers.LayerNormalization


# ------------------------------------------------------------------------------------------------
# Shared checks over every class: shapes, configs, files, training, mixed precision
# ------------------------------------------------------------------------------------------------
# (id, factory, build shape) with one shape per input; AdaIN takes three inputs.
CASES: list[tuple[str, Callable[[], keras.layers.Layer], list[tuple[int | None, ...]]]] = [
    ("instance", lambda: InstanceNormalization(), [(5, 6, 8)]),
    ("instance_axis", lambda: InstanceNormalization(
        axis=-1, epsilon=1e-2, beta_initializer="ones",
        gamma_initializer=keras.initializers.RandomUniform(0.5, 1.5, seed=1),
        gamma_regularizer=keras.regularizers.L2(0.01), beta_regularizer="l1",
        gamma_constraint=keras.constraints.NonNeg(), beta_constraint="max_norm"), [(5, 6, 8)]),
    ("adain", lambda: AdaInstanceNormalization(momentum=0.5, epsilon=1e-2, center=False),
     [(5, 6, 8), (1, 1, 8), (1, 1, 8)]),
    ("group", lambda: GroupNormalization(group=4, gamma_regularizer="l2",
                                         beta_regularizer=keras.regularizers.L1(0.1)),
     [(5, 6, 8)]),
    ("group_rank2", lambda: GroupNormalization(group=4, epsilon=1e-3), [(16,)]),
    ("rms", lambda: RMSNormalization(partial=0.5, bias=True, epsilon=1e-6), [(5, 6, 8)]),
    ("layer", lambda: LayerNormalization(
        axis=[1, 3], gamma_regularizer="l2", beta_constraint=keras.constraints.NonNeg()),
     [(5, 6, 8)]),
]
CASE_IDS = [case[0] for case in CASES]
SMOKE_CASES = [pytest.param(*case, marks=pytest.mark.smoke, id=case[0]) for case in CASES]


def _inputs(shapes: list[tuple[int, ...]], batch: int = 2) -> list[np.ndarray]:
    return [_random((batch, *shape)) for shape in shapes]


def _model(factory: Callable[[], keras.layers.Layer], shapes: list[tuple]) -> keras.Model:
    inputs = [keras.Input(shape=shape) for shape in shapes]
    layer = factory()
    outputs = layer(inputs if len(inputs) > 1 else inputs[0])
    return keras.Model(inputs, outputs)


def _call(layer: keras.layers.Layer, arrays: list[np.ndarray]) -> Any:
    return layer(arrays if len(arrays) > 1 else arrays[0])


@pytest.mark.parametrize("name,factory,shapes", CASES, ids=CASE_IDS)
def test_compute_output_shape_matches_symbolic_and_eager(name: str, factory: Callable,
                                                         shapes: list[tuple]) -> None:
    # Spatial sizes unknown where the layer allows it (the weight axes must stay defined).
    symbolic_shapes = [(None, *shape) for shape in shapes]
    if name in ("instance", "instance_axis", "adain", "group", "rms"):
        symbolic_shapes[0] = (None, None, None, shapes[0][-1])
    layer = factory()
    tensors = [keras.Input(batch_shape=shape) for shape in symbolic_shapes]
    out = layer(tensors if len(tensors) > 1 else tensors[0])
    expected = layer.compute_output_shape(
        symbolic_shapes if len(symbolic_shapes) > 1 else symbolic_shapes[0])
    assert tuple(out.shape) == tuple(expected) == symbolic_shapes[0]
    assert out.dtype == "float32"
    arrays = _inputs(shapes)
    assert tuple(to_numpy(_call(layer, arrays)).shape) == arrays[0].shape


@pytest.mark.parametrize("name,factory,shapes", SMOKE_CASES)
def test_config_roundtrip_same_outputs(name: str, factory: Callable, shapes: list[tuple]) -> None:
    layer = factory()
    arrays = _inputs(shapes)
    _call(layer, arrays)
    _randomize_weights(layer)
    config = layer.get_config()
    json.dumps(config)
    clone = assert_config_roundtrip(layer)
    _call(clone, arrays)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(to_numpy(_call(clone, arrays)), to_numpy(_call(layer, arrays)),
                               **ROUNDTRIP_TOL)


@pytest.mark.parametrize("name,factory,shapes", SMOKE_CASES)
def test_serialization_roundtrip(name: str, factory: Callable, shapes: list[tuple]) -> None:
    layer = factory()
    clone = assert_serialization_roundtrip(layer)
    for key in ("epsilon", "axis", "center", "scale", "group", "partial", "bias",
                "data_format", "momentum"):
        if hasattr(layer, key) and not isinstance(getattr(layer, key), keras.Variable):
            assert getattr(clone, key) == getattr(layer, key)


def test_config_holds_every_constructor_argument() -> None:
    for name in normalization.__all__:
        cls = getattr(normalization, name)
        arguments = [p for p in inspect.signature(cls.__init__).parameters
                     if p not in ("self", "kwargs")]
        assert set(arguments) <= set(cls().get_config()), name


@pytest.mark.parametrize("name,factory,shapes", SMOKE_CASES)
def test_model_file_roundtrip(name: str, factory: Callable, shapes: list[tuple],
                              tmp_path) -> None:
    model = _model(factory, shapes)
    for layer in model.layers:
        _randomize_weights(layer)
    arrays = _inputs(shapes)
    loaded = assert_model_file_roundtrip(model, arrays, tmp_path)
    assert type(loaded.layers[-1]) is type(model.layers[-1])
    assert_model_config_roundtrip(model, arrays)


@pytest.mark.parametrize("name,factory,shapes", SMOKE_CASES)
def test_one_training_step(name: str, factory: Callable, shapes: list[tuple]) -> None:
    if name == "adain":
        # AdaIN has no weights of its own: learn beta/gamma with a Dense layer from a style code.
        image, style = keras.Input(shape=shapes[0]), keras.Input(shape=(4,))
        channels = shapes[0][-1]
        beta, gamma = (keras.layers.Reshape((1, 1, channels))(keras.layers.Dense(channels)(style))
                       for _ in range(2))
        model = keras.Model([image, style], factory()([image, beta, gamma]))
        arrays = [_random((2, *shapes[0])), _random((2, 4))]
    else:
        model = _model(factory, shapes)
        arrays = _inputs(shapes)
    before = [to_numpy(w) for w in model.trainable_weights]
    assert before, "nothing to train"
    targets = _random((2, *model.output.shape[1:]))
    train_one_step(model, arrays, targets)
    after = [to_numpy(w) for w in model.trainable_weights]
    assert all(np.all(np.isfinite(w)) for w in after)
    assert any(not np.allclose(b, a) for b, a in zip(before, after, strict=True))


@pytest.mark.parametrize("name,factory,shapes", SMOKE_CASES)
def test_mixed_precision(name: str, factory: Callable, shapes: list[tuple]) -> None:
    arrays = _inputs(shapes)
    reference_layer = factory()
    _call(reference_layer, arrays)
    _randomize_weights(reference_layer)
    expected = to_numpy(_call(reference_layer, arrays))

    keras.config.set_dtype_policy("mixed_float16")
    layer = factory()
    model = _model(lambda: layer, shapes)
    assert model.output.dtype == "float16"
    layer.set_weights(reference_layer.get_weights())
    assert all(w.dtype == "float32" for w in layer.weights)
    out = _call(layer, arrays)
    assert keras.backend.standardize_dtype(out.dtype) == "float16"
    # float16 inputs and output: about three significant digits.
    np.testing.assert_allclose(to_numpy(out).astype("float32"), expected, atol=2e-2, rtol=1e-2)


@pytest.mark.parametrize("factory", [
    lambda: InstanceNormalization(axis=-1), lambda: GroupNormalization(group=2),
    lambda: RMSNormalization(), lambda: LayerNormalization(axis=[1, 2, 3])],
    ids=["instance", "group", "rms", "layer"])
def test_mixed_precision_statistics_in_float32(factory: Callable) -> None:
    """Values of 1000-3000: their squares overflow float16, so the maths must run in float32."""
    x = _random((2, 4, 4, 8), low=1000.0, high=3000.0)
    expected = to_numpy(factory()(x))
    keras.config.set_dtype_policy("mixed_float16")
    out = to_numpy(factory()(x)).astype("float32")
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, expected, atol=2e-2, rtol=1e-2)
