"""Mixed precision on every backend: float16 with loss scaling, bfloat16 without, float32
outputs, switching a saved model between precisions (also through a plugin's own ``build()``,
as Phaze-A's), and NaN protection that does not mistake a skipped float16 step for a NaN."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from plugins.train.model._base import get_all_sub_models
from plugins.train.trainer.original import Trainer as TrainerPlugin
from plugins.train.training import Trainer
from tests.harness import to_numpy
from tests.plugins.train.model.plugin_helpers import installed_plugins, make_plugin

pytestmark = pytest.mark.smoke

_FAST = {"global.loss": {"loss_function": "mae", "loss_function_2": "none"}}


@pytest.fixture(autouse=True, name="plugins_installed")
def fixture_plugins_installed():
    with installed_plugins():
        yield


def _plugin(tmp_path, precision: str, name: str = "tiny"):
    """``precision``: ``"float32"``, ``"float16"`` or ``"bfloat16"``; the model in
    ``tmp_path / "model"`` (loaded when it exists)."""
    options = {**_FAST, "global": {"mixed_precision": precision != "float32",
                                   "mixed_precision_dtype": "bfloat16"
                                   if precision == "bfloat16" else "float16"}}
    plugin = make_plugin(name, tmp_path, options)
    plugin.build()
    return plugin


def _batch(plugin, seed: int = 0):
    rng = np.random.default_rng(seed)
    faces = rng.random((2, 2, 32, 32, 3), dtype="float32")
    targets = [rng.random((2, 2, 32, 32, 6), dtype="float32")]
    return faces, targets


def _policies(plugin) -> set[str]:
    return {layer.dtype_policy.name for model in get_all_sub_models(plugin.model)
            for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)}


def _weights(plugin) -> list[np.ndarray]:
    return [to_numpy(weight) for weight in plugin.model.weights]


@pytest.mark.parametrize(("precision", "policy", "scaled"), [
    ("float32", "float32", False), ("float16", "mixed_float16", True),
    ("bfloat16", "mixed_bfloat16", False)])
def test_precision_policy_loss_scaling_and_float32_outputs(tmp_path, precision, policy, scaled):
    plugin = _plugin(tmp_path, precision)
    # every layer follows the policy but the float32 output activations
    assert _policies(plugin) == ({policy, "float32"} if policy != "float32" else {"float32"})
    assert plugin.model.get_layer("decoder_a").get_layer("face_out_a_0").dtype_policy.name == (
        "float32")
    assert isinstance(plugin.model.optimizer, keras.optimizers.LossScaleOptimizer) is scaled
    faces, targets = _batch(plugin)
    outputs = keras.tree.flatten(plugin.model([faces[0], faces[1]]))
    assert all(to_numpy(output).dtype == np.float32 for output in outputs)
    losses = TrainerPlugin(plugin, 2).train_batch(faces, targets)
    assert losses.shape == (2,) and np.all(np.isfinite(losses)) and np.all(losses > 0)


@pytest.mark.parametrize("plugin_name", ["tiny", "own_build"])
def test_switching_precision_keeps_the_weights(tmp_path, plugin_name):
    """full -> float16 -> bfloat16 -> full on the saved model, each load keeping every weight;
    ``own_build`` loads through its own ``build()`` as Phaze-A does."""
    previous = None
    for precision, policy in (("float32", "float32"), ("float16", "mixed_float16"),
                              ("bfloat16", "mixed_bfloat16"), ("float32", "float32")):
        plugin = _plugin(tmp_path, precision, plugin_name)
        assert policy in _policies(plugin)
        assert _policies(plugin) <= {policy, "float32"}
        if previous is not None:
            for before, after in zip(previous, _weights(plugin), strict=True):
                np.testing.assert_array_equal(after, before)
        faces, targets = _batch(plugin)
        assert np.all(np.isfinite(TrainerPlugin(plugin, 2).train_batch(faces, targets)))
        plugin.io.save()
        previous = _weights(plugin)


class _Feeder:
    def __init__(self, plugin) -> None:
        self._plugin = plugin

    def get_batch(self):
        return _batch(self._plugin)


def test_a_skipped_float16_step_is_not_a_nan(tmp_path):
    """A loss scale so large that the float16 gradients overflow: the step is skipped (weights
    unchanged, scale halved), the loss is finite, so NaN protection lets training go on."""
    plugin = _plugin(tmp_path, "float16")
    trainer = Trainer(TrainerPlugin(plugin, 2), _Feeder(plugin))
    optimizer = plugin.model.optimizer
    trainer.train_one_step()  # builds the optimizer
    optimizer.dynamic_scale.assign(2.0 ** 60)  # loss * 2**60 overflows float16 (max 65504)
    before = _weights(plugin)
    loss = trainer.train_one_step()  # no FaceswapError from NaN protection
    assert np.all(np.isfinite(loss))
    for old, new in zip(before, _weights(plugin), strict=True):
        np.testing.assert_array_equal(new, old)
    assert float(to_numpy(optimizer.dynamic_scale)) == 2.0 ** 59
    optimizer.dynamic_scale.assign(1.0)
    trainer.train_one_step()
    assert any(not np.array_equal(new, old) for old, new in zip(before, _weights(plugin),
                                                                  strict=True))
