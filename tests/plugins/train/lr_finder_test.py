"""plugins.train.lr_finder: the learning-rate finder around a real (small) model: the rate found
on a loss curve with a known best rate, weights and optimizer put back, the rate stored in the
state and used on the next run, the graph, graph_and_exit."""
from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from plugins.train.lr_finder import handle_lr_finder
from plugins.train.model._base.settings import Loss
from plugins.train.trainer.original import Trainer as TrainerPlugin
from tests.harness import to_numpy
from tests.plugins.train.model.plugin_helpers import installed_plugins, make_plugin

_BEST = 1e-4


@pytest.fixture(autouse=True, name="plugins_installed")
def fixture_plugins_installed():
    with installed_plugins():
        yield


class _Feeder:
    """Fixed batches of random faces for the ``tiny`` plugin (32 px)."""

    def __init__(self):
        rng = np.random.default_rng(0)
        self.faces = rng.random((2, 2, 32, 32, 3), dtype="float32")
        masks = sum(channel != -1 for channel in Loss.mask_channels())
        self.targets = [np.concatenate(
            [self.faces, np.ones_like(self.faces[..., :1]).repeat(masks, -1)], -1)]

    def get_batch(self):
        return self.faces, self.targets


class _SyntheticLoss(TrainerPlugin):
    """Trains the real model, but reports a loss that depends only on the optimizer's learning
    rate at the step, lowest at ``_BEST`` (one per decade either side)."""

    calls = 0

    def train_batch(self, inputs, targets):
        type(self).calls += 1
        rate = float(to_numpy(self.model.model.optimizer.learning_rate))
        super().train_batch(inputs, targets)
        return np.array([1.0 + abs(math.log10(rate) - math.log10(_BEST)), 0.0])


def _plugin(tmp_path, mode="set", strength="default"):
    options = {"global": {"lr_finder_iterations": 200, "lr_finder_mode": mode,
                          "lr_finder_strength": strength},
               "global.loss": {"loss_function": "mae", "loss_function_2": "none"}}
    plugin = make_plugin("tiny", tmp_path, options)
    plugin.build()
    _SyntheticLoss.calls = 0
    return _SyntheticLoss(plugin, 2)


def _expected_best(iterations: int, beta: float = 0.98) -> float:
    """The rate of the lowest bias-corrected smoothed loss, in closed form over the schedule
    1e-10 * (1e11 ** (1 / iterations)) ** k: lowest at ``_BEST`` in the raw curve, later in the
    smoothed one (smoothing lags)."""
    rates = 1e-10 * (1e11 ** (1 / iterations)) ** np.arange(iterations)
    losses = 1.0 + np.abs(np.log10(rates) - math.log10(_BEST))
    smoothed = [(1 - beta) * np.sum(beta ** (i - np.arange(1, i + 1)) * losses[:i])
                / (1 - beta ** i) for i in range(1, iterations + 1)]
    return float(rates[int(np.argmin(smoothed))])


def _values(model):
    """Every weight and optimizer variable but the learning rate (which the finder sets)."""
    return [to_numpy(variable.value).copy()
            for variable in list(model.weights) + list(model.optimizer.variables)
            if "learning_rate" not in variable.path]


@pytest.mark.parametrize(("strength", "divisor"), [("default", 10.0), ("extreme", 2.5)])
def test_finds_the_rate_and_puts_the_model_back(tmp_path, strength, divisor):
    trainer = _plugin(tmp_path, strength=strength)
    model = trainer.model.model
    model.optimizer.build(model.trainable_variables)
    before = _values(model)
    assert handle_lr_finder(trainer, _Feeder(), use_lr_finder=True) is False
    # the search trained the model (up to the rate where the loss passed 4x the best) ...
    assert 100 < _SyntheticLoss.calls <= 200
    # ... and left every weight and optimizer variable as it was
    after = _values(model)
    assert len(after) == len(before)
    for old, new in zip(before, after, strict=True):
        np.testing.assert_array_equal(old, new)
    found = trainer.model.state.lr_finder
    assert found * divisor == pytest.approx(_expected_best(200), rel=1e-5)
    assert float(to_numpy(model.optimizer.learning_rate)) == pytest.approx(found, rel=1e-6)
    assert trainer.model.state.current_session["config"]["learning_rate"] == found
    assert not list((tmp_path / "model").glob("learning_rate_finder_*.png"))


def test_off_without_the_flag_and_after_training(tmp_path):
    trainer = _plugin(tmp_path)
    rate = float(to_numpy(trainer.model.model.optimizer.learning_rate))
    assert handle_lr_finder(trainer, _Feeder(), use_lr_finder=False) is False
    trainer.model.state.increment_iterations()  # a model that has trained
    assert handle_lr_finder(trainer, _Feeder(), use_lr_finder=True) is False
    assert _SyntheticLoss.calls == 0 and trainer.model.state.lr_finder == -1.0
    assert float(to_numpy(trainer.model.model.optimizer.learning_rate)) == pytest.approx(rate)


def test_graph_and_exit_saves_and_the_next_run_uses_the_rate(tmp_path):
    trainer = _plugin(tmp_path, mode="graph_and_exit")
    assert handle_lr_finder(trainer, _Feeder(), use_lr_finder=True) is True
    found = trainer.model.state.lr_finder
    assert found > 0
    folder = tmp_path / "model"
    graphs = list(folder.glob("learning_rate_finder_*.png"))
    assert len(graphs) == 1 and graphs[0].stat().st_size > 1000
    assert trainer.model.io.model_exists
    keras.backend.clear_session()
    again = _plugin(tmp_path, mode="graph_and_exit")  # loads the saved model and state
    assert again.model.state.lr_finder == pytest.approx(found)
    assert handle_lr_finder(again, _Feeder(), use_lr_finder=True) is False
    assert _SyntheticLoss.calls == 0
    assert float(to_numpy(again.model.model.optimizer.learning_rate)) == pytest.approx(
        found, rel=1e-6)


def test_graph_and_set_writes_the_graph_and_goes_on(tmp_path):
    trainer = _plugin(tmp_path, mode="graph_and_set")
    assert handle_lr_finder(trainer, _Feeder(), use_lr_finder=True) is False
    assert len(list((tmp_path / "model").glob("learning_rate_finder_*.png"))) == 1
    assert not trainer.model.io.model_exists  # nothing saved: training goes on
