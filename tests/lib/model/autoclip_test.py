"""Tests for lib.model.autoclip (AutoClipper)."""
from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops

from lib.model.autoclip import AutoClipper
from tests.harness import assert_config_roundtrip, assert_serialization_roundtrip, to_numpy

_SHAPES = ((3, 2), (4,), (2, 2, 2))


def _gradients_with_norm(norm: float, rng: np.random.Generator) -> list[np.ndarray]:
    """Random gradients for three variables whose global L2 norm is ``norm``."""
    grads = [rng.normal(size=shape) for shape in _SHAPES]
    total = np.sqrt(sum(np.sum(grad ** 2) for grad in grads))
    return [(grad * norm / total).astype("float32") for grad in grads]


def _global_norm(grads: list[np.ndarray]) -> float:
    return float(np.sqrt(sum(np.sum(np.asarray(grad, "float64") ** 2) for grad in grads)))


def _attached(clip_percentile: int, history_size: int) -> AutoClipper:
    clipper = AutoClipper(clip_percentile, history_size=history_size)
    clipper.attach(keras.optimizers.SGD())
    return clipper


@pytest.mark.smoke
@pytest.mark.parametrize("clip_percentile", [0, 10, 37, 50, 100])
def test_percentile_matches_numpy(clip_percentile):
    """Before the buffer is full, when it is full, and after it has wrapped around twice."""
    history_size = 5
    rng = np.random.default_rng(clip_percentile)
    norms = rng.uniform(0.5, 5.0, size=13)
    clipper = _attached(clip_percentile, history_size)
    buffer = np.zeros(history_size)
    clipped_steps = 0
    for step, norm in enumerate(norms):
        clipped = [to_numpy(grad) for grad in clipper(_gradients_with_norm(norm, rng))]
        window = norms[max(0, step + 1 - history_size):step + 1]
        threshold = np.percentile(window, clip_percentile)  # linear interpolation
        expected = min(norm, threshold)
        clipped_steps += int(threshold < norm)
        np.testing.assert_allclose(_global_norm(clipped), expected, rtol=1e-5,
                                   err_msg=f"step {step}")
        buffer[step % history_size] = norm
        assert int(to_numpy(clipper.count)) == step + 1
        np.testing.assert_allclose(to_numpy(clipper.history), buffer, rtol=1e-6)
    if clip_percentile < 100:
        assert clipped_steps >= 2  # the data does exercise the clipping


@pytest.mark.smoke
def test_clips_all_gradients_by_global_norm():
    rng = np.random.default_rng(1)
    clipper = _attached(0, 10)  # the 0th percentile is the smallest norm seen
    small = _gradients_with_norm(0.5, rng)
    clipper(small)
    grads = [rng.normal(size=shape).astype("float32") * scale
             for shape, scale in zip(_SHAPES, (0.1, 3.0, 1.0), strict=True)]
    clipped = clipper([grads[0], None, grads[1], grads[2]])
    assert clipped[1] is None
    scale = 0.5 / _global_norm(grads)
    for grad, result in zip(grads, [clipped[0], clipped[2], clipped[3]], strict=True):
        # One factor for every tensor (per-tensor clipping would scale each differently)
        np.testing.assert_allclose(to_numpy(result), grad * scale, rtol=1e-5, atol=1e-7)


@pytest.mark.smoke
def test_gradients_below_the_clip_are_unchanged():
    rng = np.random.default_rng(2)
    clipper = _attached(90, 10)
    clipper(_gradients_with_norm(10.0, rng))
    grads = _gradients_with_norm(1.0, rng)
    for grad, result in zip(grads, clipper(grads), strict=True):
        np.testing.assert_array_equal(to_numpy(result), grad)


def test_non_finite_norm_is_not_recorded():
    rng = np.random.default_rng(3)
    clipper = _attached(50, 4)
    clipper(_gradients_with_norm(2.0, rng))
    bad = _gradients_with_norm(1.0, rng)
    bad[0][0, 0] = np.nan
    result = clipper(bad)
    assert not np.all(np.isfinite(to_numpy(result[0])))  # non-finite stays non-finite
    assert int(to_numpy(clipper.count)) == 1
    np.testing.assert_allclose(to_numpy(clipper.history), [2.0, 0.0, 0.0, 0.0], rtol=1e-6)
    clipped = clipper(_gradients_with_norm(4.0, rng))
    np.testing.assert_allclose(_global_norm([to_numpy(g) for g in clipped]),
                               np.percentile([2.0, 4.0], 50), rtol=1e-5)


def _regression_data(samples: int = 64) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(samples, 4)).astype("float32")
    targets = (features @ rng.normal(size=(4, 2)) + 1.0).astype("float32")
    return features, targets


def _model() -> keras.Model:
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])


@pytest.mark.smoke
def test_fit_with_attached_adam_counts_every_step():
    features, targets = _regression_data()
    optimizer = keras.optimizers.Adam(learning_rate=0.01)
    clipper = AutoClipper(10, history_size=16)
    assert clipper.attach(optimizer) is optimizer
    model = _model()
    model.compile(optimizer=optimizer, loss="mse")
    history = model.fit(features, targets, batch_size=16, epochs=2, verbose=0).history
    steps = 2 * 64 // 16
    assert int(to_numpy(clipper.count)) == steps == int(to_numpy(optimizer.iterations))
    recorded = to_numpy(clipper.history)
    assert np.all(recorded[:steps] > 0.0) and np.all(recorded[steps:] == 0.0)
    assert len(set(recorded[:steps].tolist())) == steps  # one fresh norm per step
    assert history["loss"][1] < history["loss"][0]


@pytest.mark.smoke
def test_fit_step_size_is_bounded_by_the_clip():
    """With the 0th percentile and SGD(lr=1), each step moves the weights by min(norms so far)."""
    features, targets = _regression_data()
    clipper = AutoClipper(0, history_size=32)
    model = _model()
    model.compile(optimizer=clipper.attach(keras.optimizers.SGD(learning_rate=1.0)), loss="mse")
    moves = []
    for batch in range(6):
        before = [to_numpy(weight) for weight in model.trainable_weights]
        model.train_on_batch(features[batch * 8:(batch + 1) * 8],
                             targets[batch * 8:(batch + 1) * 8])
        after = [to_numpy(weight) for weight in model.trainable_weights]
        moves.append(_global_norm([a - b for a, b in zip(after, before, strict=True)]))
    norms = to_numpy(clipper.history)[:6]
    assert int(to_numpy(clipper.count)) == 6
    clipped = 0
    for step, move in enumerate(moves):
        np.testing.assert_allclose(move, norms[:step + 1].min(), rtol=1e-4,
                                   err_msg=f"step {step}")
        clipped += int(move < 0.99 * norms[step])
    assert clipped >= 1  # clipping did happen


@pytest.mark.smoke
def test_attach_to_loss_scale_optimizer_uses_inner_optimizer():
    features, targets = _regression_data()
    inner = keras.optimizers.Adam(learning_rate=0.01)
    optimizer = keras.optimizers.LossScaleOptimizer(inner)
    clipper = AutoClipper(10, history_size=8)
    assert clipper.attach(optimizer) is optimizer
    assert "_clip_gradients" in vars(inner)
    model = _model()
    model.compile(optimizer=optimizer, loss="mse")
    model.fit(features, targets, batch_size=16, epochs=1, verbose=0)
    assert int(to_numpy(clipper.count)) == 64 // 16
    assert np.all(to_numpy(clipper.history)[:4] > 0.0)


def test_gradient_accumulation_records_one_norm_per_update():
    features, targets = _regression_data()
    optimizer = keras.optimizers.Adam(gradient_accumulation_steps=2)
    clipper = AutoClipper(10, history_size=8)
    model = _model()
    model.compile(optimizer=clipper.attach(optimizer), loss="mse")
    model.fit(features, targets, batch_size=8, epochs=1, verbose=0)
    assert int(to_numpy(clipper.count)) == 64 // 8 // 2 == int(to_numpy(optimizer.iterations))
    recorded = to_numpy(clipper.history)
    assert np.all(recorded[:4] > 0.0) and np.all(recorded[4:] == 0.0)


def test_history_restored_with_a_reattached_clipper(tmp_path):
    """The history is optimizer state: a fresh optimizer with a clipper reloads it."""
    features, targets = _regression_data()
    clipper = AutoClipper(10, history_size=8)
    model = _model()
    model.compile(optimizer=clipper.attach(keras.optimizers.Adam()), loss="mse")
    model.fit(features, targets, batch_size=16, epochs=1, verbose=0)
    path = tmp_path / "autoclip.keras"
    model.save(path)

    resumed_clipper = AutoClipper(10, history_size=8)
    resumed = _model()
    resumed.compile(optimizer=resumed_clipper.attach(keras.optimizers.Adam()), loss="mse")
    resumed.optimizer.build(resumed.trainable_variables)
    resumed.load_weights(path)
    assert int(to_numpy(resumed_clipper.count)) == 4
    np.testing.assert_array_equal(to_numpy(resumed_clipper.history), to_numpy(clipper.history))


def test_attach_changes_only_that_instance():
    class_hook = keras.optimizers.Adam._clip_gradients
    optimizer, other = keras.optimizers.Adam(), keras.optimizers.Adam()
    clipper = AutoClipper(10)
    clipper.attach(optimizer)
    assert keras.optimizers.Adam._clip_gradients is class_hook
    assert "_clip_gradients" in vars(optimizer)
    assert "_clip_gradients" not in vars(other)
    # The history lives in the optimizer's own variables (saved with it, carried by JAX).
    names = [variable.name for variable in optimizer.variables]
    assert "autoclip_history" in names and "autoclip_count" in names
    assert clipper.history.shape == (10000,)
    other_grads = [ops.convert_to_tensor(np.full((2,), 100.0, "float32"))]
    np.testing.assert_array_equal(to_numpy(other._clip_gradients(other_grads)[0]), [100., 100.])


def test_errors():
    with pytest.raises(ValueError, match="clip_percentile"):
        AutoClipper(101)
    with pytest.raises(ValueError, match="clip_percentile"):
        AutoClipper(1.5)
    with pytest.raises(ValueError, match="history_size"):
        AutoClipper(10, history_size=0)
    with pytest.raises(ValueError, match="history_size"):
        AutoClipper(10, history_size=2**31)
    with pytest.raises(ValueError, match="attach"):
        AutoClipper(10)([np.ones(2, "float32")])
    with pytest.raises(TypeError, match="optimizer"):
        AutoClipper(10).attach("adam")
    with pytest.raises(ValueError, match="global_clipnorm"):
        AutoClipper(10).attach(keras.optimizers.Adam(global_clipnorm=1.0))
    clipper = AutoClipper(10)
    optimizer = keras.optimizers.Adam()
    clipper.attach(optimizer)
    with pytest.raises(ValueError, match="already attached"):
        clipper.attach(keras.optimizers.Adam())
    with pytest.raises(ValueError, match="custom gradient clipping"):
        AutoClipper(20).attach(optimizer)


@pytest.mark.smoke
def test_config_roundtrip():
    clipper = AutoClipper(25, history_size=500)
    assert clipper.get_config() == {"clip_percentile": 25, "history_size": 500}
    clone = assert_config_roundtrip(clipper)
    assert clone.history is None  # settings only; the history belongs to the optimizer
    assert_serialization_roundtrip(clipper)
    serialized = keras.saving.serialize_keras_object(clipper)
    assert serialized["registered_name"] == "AutoClipper"  # bare, as Faceswap 3
