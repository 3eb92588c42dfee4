"""Shared assertions for layer, block, loss, initializer and optimizer tests.

Everything here is backend neutral: gradients are read off one plain SGD step, so the same helper
works on TensorFlow, JAX and PyTorch.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import keras
import numpy as np
from keras import ops

from tests.conftest import BACKEND

ROUNDTRIP_TOL = {"atol": 1e-6, "rtol": 1e-6}


def to_numpy(value: Any) -> np.ndarray:
    """A backend tensor (or a list of them) as NumPy."""
    return np.asarray(ops.convert_to_numpy(value))


def sorted_json(config: dict) -> str:
    return json.dumps(config, sort_keys=True, default=str)


def assert_config_roundtrip(obj: Any) -> Any:
    """``from_config(get_config())`` gives an object with the same config. Returns the copy."""
    config = obj.get_config()
    clone = type(obj).from_config(config)
    assert type(clone) is type(obj)
    assert sorted_json(clone.get_config()) == sorted_json(config)
    return clone


def assert_serialization_roundtrip(obj: Any) -> Any:
    """Serialise and deserialise through Keras **without** ``custom_objects``."""
    serialized = keras.saving.serialize_keras_object(obj)
    json.dumps(serialized)  # must be JSON-able, as it is inside a .keras file
    clone = keras.saving.deserialize_keras_object(serialized)
    assert type(clone) is type(obj)
    assert sorted_json(clone.get_config()) == sorted_json(obj.get_config())
    return clone


def assert_model_file_roundtrip(model: keras.Model, inputs: Any, tmp_path: Path,
                                atol: float = 1e-6, rtol: float = 1e-6) -> keras.Model:
    """Save to ``.keras``, load with no ``custom_objects``; layer classes and outputs equal."""
    expected = model.predict(inputs, verbose=0)
    path = Path(tmp_path) / "roundtrip.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
    actual = loaded.predict(inputs, verbose=0)
    for exp, act in zip(keras.tree.flatten(expected), keras.tree.flatten(actual), strict=True):
        np.testing.assert_allclose(to_numpy(act), to_numpy(exp), atol=atol, rtol=rtol)
    return loaded


def assert_model_config_roundtrip(model: keras.Model, inputs: Any) -> keras.Model:
    """``Model.from_config(get_config())`` + ``set_weights`` gives the same outputs."""
    clone = keras.Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    expected = keras.tree.flatten(model.predict(inputs, verbose=0))
    actual = keras.tree.flatten(clone.predict(inputs, verbose=0))
    for exp, act in zip(expected, actual, strict=True):
        np.testing.assert_allclose(to_numpy(act), to_numpy(exp), **ROUNDTRIP_TOL)
    return clone


class _Parameter(keras.layers.Layer):
    """Outputs its own weight (the input only fixes the graph), so SGD steps reveal gradients."""

    def __init__(self, value: np.ndarray, **kwargs):
        super().__init__(**kwargs)
        self.value = self.add_weight(shape=value.shape, initializer="zeros", name="value")
        self.value.assign(value)

    def call(self, inputs):
        return self.value + ops.sum(inputs) * 0.0


def loss_gradient(loss: Any, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """The gradient of ``loss(y_true, y_pred)`` with respect to ``y_pred``, on any backend.

    Computed as the change of ``y_pred`` after one SGD step with learning rate 1.
    """
    y_pred = np.asarray(y_pred, dtype="float32")
    inputs = keras.Input(shape=(1,), batch_size=y_pred.shape[0])
    parameter = _Parameter(y_pred)
    model = keras.Model(inputs, parameter(inputs))
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0), loss=loss, jit_compile=False)
    model.train_on_batch(np.zeros((y_pred.shape[0], 1), "float32"),
                         np.asarray(y_true, dtype="float32"))
    return y_pred - to_numpy(parameter.value)


def assert_finite_gradient(loss: Any, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """The gradient w.r.t. ``y_pred`` exists (non-zero somewhere) and is finite everywhere."""
    grad = loss_gradient(loss, y_true, y_pred)
    assert np.all(np.isfinite(grad)), "gradient has non-finite values"
    assert np.any(grad != 0.0), "gradient is zero everywhere"
    return grad


def train_one_step(model: keras.Model, inputs: Any, targets: Any,
                   loss: Any = "mse") -> list[np.ndarray]:
    """One SGD step; returns the weights after it (all must be finite)."""
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1e-3), loss=loss)
    model.train_on_batch(inputs, targets)
    weights = [to_numpy(weight) for weight in model.weights]
    for weight in weights:
        assert np.all(np.isfinite(weight))
    return weights


__all__ = [
    "BACKEND",
    "ROUNDTRIP_TOL",
    "assert_config_roundtrip",
    "assert_finite_gradient",
    "assert_model_config_roundtrip",
    "assert_model_file_roundtrip",
    "assert_serialization_roundtrip",
    "loss_gradient",
    "sorted_json",
    "to_numpy",
    "train_one_step",
]
