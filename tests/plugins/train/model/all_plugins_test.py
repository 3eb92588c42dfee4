"""Every model plugin the loader lists (ours, plus the test plugins installed as third-party
plugins) builds, trains, saves, resumes with its optimizer, and swaps."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from plugins.plugin_loader import PluginLoader
from plugins.train import train_config as cfg
from plugins.train.model._base.settings import Loss
from plugins.train.trainer.original import Trainer
from tests.harness import to_numpy
from tests.plugins.train.model.plugin_helpers import (
    TEST_PLUGINS,
    installed_plugins,
    make_plugin,
)

# The small plugins run in the default suite; the full-size ones (50-400 M parameters, half a
# minute to minutes each on 2 CPU cores) with --runslow. Their parameter counts and forward passes
# are checked in their own test files, and original_test.py covers this cycle for Original.
_FAST = set(TEST_PLUGINS)


def _listed_plugins() -> list:
    with installed_plugins():
        names = PluginLoader.get_available_models()
    return [pytest.param(name, marks=() if name in _FAST else pytest.mark.slow)
            for name in names]


@pytest.fixture(autouse=True, name="plugins_installed")
def fixture_plugins_installed():
    with installed_plugins():
        yield


def _free_memory() -> None:
    """Release the previous model: Keras layers form reference cycles."""
    keras.backend.clear_session(free_memory=True)


def _batch(plugin, seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Inputs ``[side a, side b]`` and targets per output position ``(2, batch, ...)``."""
    rng = np.random.default_rng(seed)
    model = plugin.model
    inputs = [rng.random((1, *tensor.shape[1:]), dtype="float32") for tensor in model.inputs]
    extra = sum(channel != -1 for channel in Loss.mask_channels())
    half = len(model.outputs) // 2
    targets = []
    for output in model.outputs[:half]:
        size, channels = output.shape[1], output.shape[-1]
        target = rng.random((2, 1, size, size, 1 if channels == 1 else 3 + extra),
                            dtype="float32")
        targets.append(target.round() if channels == 1 else target)
    return inputs, targets


@pytest.mark.parametrize("name", _listed_plugins())
def test_build_train_save_resume_swap(name, tmp_path):
    options = {"global.optimizer": {"save_optimizer": "always"}}
    plugin = make_plugin(name, tmp_path, options)
    plugin.build()
    model = plugin.model
    assert model.name == plugin.model_name
    assert [tensor.name for tensor in model.inputs] == ["face_in_a", "face_in_b"]
    assert len(model.outputs) % 2 == 0
    assert plugin.state.loss_names[0] == "total"
    assert len(plugin.state.loss_names) == len(model.outputs) + 1
    assert plugin.state.mixed_precision_layers  # discovered on the first build

    inputs, targets = _batch(plugin, seed=0)
    losses = Trainer(plugin, batch_size=1).train_batch(inputs, targets)
    assert losses.shape == (len(model.outputs),) and np.all(np.isfinite(losses))
    plugin.state.increment_iterations()
    plugin.add_history(losses)
    plugin.io.save(is_exit=True)
    weights = [to_numpy(weight) for weight in model.weights]
    del plugin, model  # the full-size plugins need their memory back before the next build
    _free_memory()

    resumed = make_plugin(name, tmp_path, options)
    resumed.build()
    assert resumed.state.session_id == 2 and resumed.iterations == 1
    assert int(to_numpy(resumed.model.optimizer.iterations)) == 1  # optimizer restored
    for before, after in zip(weights, resumed.model.weights, strict=True):
        np.testing.assert_array_equal(to_numpy(after), before)
    losses = Trainer(resumed, batch_size=1).train_batch(*_batch(resumed, seed=1))
    assert np.all(np.isfinite(losses))
    resumed.io.save(is_exit=True)

    faces = inputs[0]
    expected = [to_numpy(out) for out in resumed.model.predict([faces, faces], verbose=0)]
    del resumed, weights
    half = len(expected) // 2
    for switch, side_outputs in ((False, expected[half:]), (True, expected[:half])):
        _free_memory()
        swap = make_plugin(name, tmp_path, options, predict=True, swap_model=switch)
        swap.build()
        assert len(swap.model.inputs) == 1
        actual = keras.tree.flatten(swap.model.predict(faces, verbose=0))
        for exp, act in zip(side_outputs, actual, strict=True):
            np.testing.assert_allclose(to_numpy(act), exp, rtol=1e-5, atol=1e-5)


def test_the_loader_lists_ours_and_installed_plugins():
    names = PluginLoader.get_available_models()
    assert "original" in names and set(TEST_PLUGINS) <= set(names)
    assert names == sorted(names)
    assert {f"model.{name}" for name in ("tiny", "own_build", "arch_names")} <= set(
        cfg.get_config().sections)  # an installed plugin's defaults become its section
