"""Tests for lib.model.optimizers (AdaBelief)."""
from __future__ import annotations

import itertools

import keras
import numpy as np
import pytest
from keras import ops

from lib.model.optimizers import AdaBelief
from tests.harness import assert_config_roundtrip, assert_serialization_roundtrip, to_numpy

# Eight steps; the shrinking gradients make amsgrad differ from plain AdaBelief.
_GRADIENT_SCALES = (3.0, 0.1, 0.2, 2.0, 0.05, 1.0, 0.3, 0.02)


def _gradients(shape: tuple[int, ...] = (3, 2)) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [(scale * rng.normal(size=shape)).astype("float32") for scale in _GRADIENT_SCALES]


def _initial_value(shape: tuple[int, ...] = (3, 2)) -> np.ndarray:
    return np.random.default_rng(3).normal(size=shape).astype("float32")


def _reference(initial: np.ndarray, gradients: list[np.ndarray], *, learning_rate: float = 0.001,
               beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-14,
               amsgrad: bool = False, rectify: bool = True, sma_threshold: float = 5.0,
               total_steps: int = 0, warmup_proportion: float = 0.1,
               min_learning_rate: float = 0.0, weight_decay: float | None = None
               ) -> list[np.ndarray]:
    """AdaBelief written out in float64 NumPy from the paper / Faceswap's formulas."""
    var = initial.astype("float64")
    m = np.zeros_like(var)
    v = np.zeros_like(var)
    v_max = np.zeros_like(var)
    values = []
    for index, grad in enumerate(gradients):
        grad = grad.astype("float64")
        t = index + 1
        lr_t = learning_rate
        if total_steps > 0:
            warm = total_steps * warmup_proportion
            decay_steps = max(total_steps - warm, 1)
            decay_rate = (min_learning_rate - learning_rate) / decay_steps
            if t <= warm:
                lr_t = learning_rate * t / warm
            else:
                lr_t = learning_rate + decay_rate * min(t - warm, decay_steps)
        if weight_decay is not None:  # Keras' decoupled decay, before the update
            var = var - var * weight_decay * learning_rate
        m = beta_1 * m + (1 - beta_1) * grad
        v = beta_2 * v + (1 - beta_2) * (grad - m) ** 2 + epsilon
        if amsgrad:
            v_max = np.maximum(v_max, v)
            second = v_max
        else:
            second = v
        m_hat = m / (1 - beta_1 ** t)
        v_hat = np.sqrt(second / (1 - beta_2 ** t))
        if rectify:
            rho_inf = 2 / (1 - beta_2) - 1
            rho_t = rho_inf - 2 * t * beta_2 ** t / (1 - beta_2 ** t)
            if rho_t >= sma_threshold:
                r = np.sqrt((rho_t - 4) / (rho_inf - 4) * (rho_t - 2) / (rho_inf - 2)
                            * rho_inf / rho_t)
                step = r * m_hat / (v_hat + epsilon)
            else:
                step = m_hat
        else:
            step = m_hat / (v_hat + epsilon)
        var = var - lr_t * step
        values.append(var.copy())
    return values


def _run(optimizer: AdaBelief, initial: np.ndarray,
         gradients: list[np.ndarray]) -> list[np.ndarray]:
    variable = keras.Variable(initial, name="weight")
    optimizer.build([variable])
    values = []
    for grad in gradients:
        optimizer.apply([ops.convert_to_tensor(grad)], [variable])
        values.append(to_numpy(variable))
    return values


@pytest.mark.smoke
@pytest.mark.parametrize(("amsgrad", "rectify"), list(itertools.product([False, True], repeat=2)))
@pytest.mark.parametrize("epsilon", [1e-8, 0.05])
def test_steps_match_reference(amsgrad, rectify, epsilon):
    # beta_2=0.8 makes rho_t pass sma_threshold=5 at step 7, so the rectified branch and the
    # momentum-only branch both run within 8 steps. A large epsilon checks where it is added.
    settings = {"learning_rate": 0.1, "beta_1": 0.7, "beta_2": 0.8, "epsilon": epsilon,
                "amsgrad": amsgrad, "rectify": rectify}
    initial, gradients = _initial_value(), _gradients()
    expected = _reference(initial, gradients, **settings)
    actual = _run(AdaBelief(**settings), initial, gradients)
    for step, (act, exp) in enumerate(zip(actual, expected, strict=True), start=1):
        np.testing.assert_allclose(act, exp, atol=1e-5, rtol=1e-5, err_msg=f"step {step}")


def test_reference_covers_each_option():
    """The fixture data makes amsgrad and rectification change the result (else tests are void)."""
    settings = {"learning_rate": 0.1, "beta_1": 0.7, "beta_2": 0.8, "epsilon": 1e-8}
    initial, gradients = _initial_value(), _gradients()
    plain = _reference(initial, gradients, **settings, amsgrad=False, rectify=False)[-1]
    ams = _reference(initial, gradients, **settings, amsgrad=True, rectify=False)[-1]
    rectified = _reference(initial, gradients, **settings, amsgrad=False, rectify=True)
    momentum_only = _reference(initial, gradients, **settings, amsgrad=False, rectify=True,
                               sma_threshold=1e9)
    assert not np.allclose(plain, ams, atol=1e-4)
    np.testing.assert_allclose(rectified[5], momentum_only[5])  # steps 1-6 not rectified
    assert not np.allclose(rectified[-1], momentum_only[-1], atol=1e-4)


def test_default_settings_match_reference():
    initial, gradients = _initial_value(), _gradients()[:5]
    expected = _reference(initial, gradients)
    actual = _run(AdaBelief(), initial, gradients)
    for act, exp in zip(actual, expected, strict=True):
        np.testing.assert_allclose(act, exp, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize(("total_steps", "warmup_proportion"), [(6, 0.5), (10, 0.25)])
@pytest.mark.parametrize("rectify", [False, True])
def test_warmup_and_decay_match_reference(total_steps, warmup_proportion, rectify):
    # (6, 0.5): warm-up for t<=3, decay for 4..6, then held at min_learning_rate for 7, 8.
    # (10, 0.25): warm-up length 2.5 (fractional), decay from t=3.
    settings = {"learning_rate": 0.1, "beta_1": 0.7, "beta_2": 0.8, "epsilon": 1e-8,
                "rectify": rectify, "total_steps": total_steps,
                "warmup_proportion": warmup_proportion, "min_learning_rate": 0.02}
    initial, gradients = _initial_value(), _gradients()
    expected = _reference(initial, gradients, **settings)
    actual = _run(AdaBelief(**settings), initial, gradients)
    for step, (act, exp) in enumerate(zip(actual, expected, strict=True), start=1):
        np.testing.assert_allclose(act, exp, atol=1e-5, rtol=1e-5, err_msg=f"step {step}")


def test_decay_branch_is_not_faceswaps_misbracketed_formula():
    """Quirk Q11: after warm-up the rate is lr + decay_rate * k, not (lr + decay_rate) * k."""
    lr, min_lr = 0.1, 0.02
    optimizer = AdaBelief(learning_rate=lr, total_steps=6, warmup_proportion=0.5,
                          min_learning_rate=min_lr)
    decay_rate = (min_lr - lr) / 3.0
    cases = [(1.0, lr / 3), (3.0, lr), (4.0, lr + decay_rate), (5.0, lr + 2 * decay_rate),
             (9.0, min_lr)]
    for step, expected in cases:
        actual = to_numpy(optimizer._scheduled_learning_rate(
            ops.convert_to_tensor(lr, "float32"), ops.convert_to_tensor(step, "float32")))
        np.testing.assert_allclose(actual, expected, rtol=1e-6, err_msg=f"t={step}")


def test_weight_decay_is_keras_decoupled_decay():
    settings = {"learning_rate": 0.1, "beta_1": 0.7, "beta_2": 0.8, "epsilon": 1e-8,
                "rectify": False}
    initial, gradients = _initial_value(), _gradients()[:3]
    expected = _reference(initial, gradients, **settings, weight_decay=0.05)
    actual = _run(AdaBelief(**settings, weight_decay=0.05), initial, gradients)
    for act, exp in zip(actual, expected, strict=True):
        np.testing.assert_allclose(act, exp, atol=1e-5, rtol=1e-5)


@pytest.mark.smoke
def test_slots():
    variables = [keras.Variable(np.zeros((3, 2), "float32")),
                 keras.Variable(np.zeros(2, "float32"))]
    plain = AdaBelief()
    plain.build(variables)
    ams = AdaBelief(amsgrad=True)
    ams.build(variables)
    # iteration + learning rate, then momentum and velocity (and velocity_hat) per variable
    assert len(plain.variables) == 2 + 2 * len(variables)
    assert len(ams.variables) == 2 + 3 * len(variables)
    names = [variable.name for variable in ams.variables]
    assert sum("velocity_hat" in name for name in names) == 2
    assert sum(name.endswith("momentum") for name in names) == 2


def test_invalid_arguments():
    with pytest.raises(ValueError, match="beta_1"):
        AdaBelief(beta_1=1.0)
    with pytest.raises(ValueError, match="beta_2"):
        AdaBelief(beta_2=-0.1)
    with pytest.raises(TypeError, match="beta_2"):
        AdaBelief(beta_2="0.9")
    with pytest.raises(ValueError, match="epsilon"):
        AdaBelief(epsilon=-1e-7)
    with pytest.raises(ValueError, match="total_steps"):
        AdaBelief(total_steps=-1)
    with pytest.raises(ValueError, match="total_steps"):
        AdaBelief(total_steps=2.5)
    with pytest.raises(ValueError, match="warmup_proportion"):
        AdaBelief(warmup_proportion=1.5)
    with pytest.raises(ValueError, match="min_learning_rate"):
        AdaBelief(min_learning_rate=-0.1)
    with pytest.raises(TypeError, match="sma_threshold"):
        AdaBelief(sma_threshold=None)
    with pytest.raises(ValueError, match="not recognized"):
        AdaBelief(min_lr=0.1)  # Faceswap 2's name is not accepted


def test_default_config():
    config = AdaBelief().get_config()
    expected = {"name": "AdaBeliefOptimizer", "learning_rate": 0.001, "beta_1": 0.9,
                "beta_2": 0.999, "epsilon": 1e-14, "amsgrad": False, "rectify": True,
                "sma_threshold": 5.0, "total_steps": 0, "warmup_proportion": 0.1,
                "min_learning_rate": 0.0, "weight_decay": None, "clipnorm": None,
                "global_clipnorm": None, "clipvalue": None, "use_ema": False,
                "gradient_accumulation_steps": None}
    assert config["learning_rate"] == pytest.approx(expected.pop("learning_rate"))  # float32
    assert {key: config[key] for key in expected} == expected


@pytest.mark.smoke
def test_config_and_serialization_roundtrip():
    optimizer = AdaBelief(learning_rate=5e-4, beta_1=0.5, beta_2=0.99, epsilon=1e-16,
                          amsgrad=True, rectify=False, sma_threshold=4.0, total_steps=1000,
                          warmup_proportion=0.2, min_learning_rate=1e-5, weight_decay=0.01,
                          global_clipnorm=1.0, name="custom")
    clone = assert_config_roundtrip(optimizer)
    assert clone.amsgrad is True and clone.rectify is False and clone.total_steps == 1000
    assert clone.global_clipnorm == 1.0 and clone.weight_decay == 0.01
    assert_serialization_roundtrip(optimizer)

    # Faceswap's test: serialize -> deserialize -> serialize gives the same config.
    serialized = keras.optimizers.serialize(optimizer)
    assert serialized["registered_name"] == "AdaBelief"  # bare, as Faceswap 3
    restored = keras.optimizers.deserialize(serialized)
    assert isinstance(restored, AdaBelief)
    again = keras.optimizers.serialize(restored)
    assert again["class_name"].lower() == serialized["class_name"].lower() == "adabelief"
    assert again["config"] == serialized["config"]


def _classifier_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(128, 8)).astype("float32")
    labels = np.argmax(features[:, :4], axis=1)
    return features, keras.utils.to_categorical(labels, 4).astype("float32")


def _classifier() -> keras.Model:
    return keras.Sequential([keras.Input((8,)),
                             keras.layers.Dense(16, activation="relu"),
                             keras.layers.Dense(4, activation="softmax")])


@pytest.mark.smoke
def test_fit_reduces_loss():
    features, labels = _classifier_data()
    model = _classifier()
    model.compile(optimizer=AdaBelief(), loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(features, labels, batch_size=16, epochs=2, verbose=0).history
    assert history["loss"][1] < history["loss"][0]
    assert int(to_numpy(model.optimizer.iterations)) == 2 * 128 // 16


@pytest.mark.smoke
def test_model_file_keeps_optimizer_variables(tmp_path):
    features, labels = _classifier_data()
    model = _classifier()
    model.compile(optimizer=AdaBelief(amsgrad=True, beta_1=0.5, beta_2=0.99),
                  loss="categorical_crossentropy")
    model.fit(features, labels, batch_size=32, epochs=1, verbose=0)
    path = tmp_path / "adabelief.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.optimizer, AdaBelief)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    expected = [to_numpy(variable) for variable in model.optimizer.variables]
    actual = [to_numpy(variable) for variable in loaded.optimizer.variables]
    assert len(actual) == len(expected) == 2 + 3 * len(model.trainable_variables)
    assert int(actual[0]) == 128 // 32  # the iteration count came back
    for act, exp in zip(actual, expected, strict=True):
        np.testing.assert_allclose(act, exp, atol=1e-6, rtol=1e-6)


def test_mixed_precision_with_loss_scale_optimizer():
    keras.config.set_dtype_policy("mixed_float16")
    features, labels = _classifier_data()
    model = _classifier()
    optimizer = keras.optimizers.LossScaleOptimizer(AdaBelief(learning_rate=1e-2))
    model.compile(optimizer=optimizer, loss="categorical_crossentropy")
    before = [to_numpy(weight) for weight in model.trainable_weights]
    history = model.fit(features, labels, batch_size=32, epochs=2, verbose=0).history
    assert model.layers[0].compute_dtype == "float16"
    assert all(weight.dtype == "float32" for weight in model.trainable_weights)
    assert all(np.isfinite(history["loss"]))
    # At least one step was applied by the inner AdaBelief (the first may be skipped on overflow)
    assert int(to_numpy(optimizer.inner_optimizer.iterations)) >= 1
    after = [to_numpy(weight) for weight in model.trainable_weights]
    assert any(not np.allclose(old, new) for old, new in zip(before, after, strict=True))
