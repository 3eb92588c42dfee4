"""NaN rollbacks (``nan_rollbacks``): with NaN injected at a chosen iteration, the model goes back
to the last save (checked against the saved ``.keras`` file), trains on at a lower learning
rate, records the rollback in the state, and the limit stops training as Faceswap does."""
from __future__ import annotations

import json

import keras
import numpy as np
import pytest

import lib.model.custom_objects  # noqa: F401  (registers the plugins' layers for load_model)
from lib.errors import FaceswapError
from plugins.train.trainer.original import Trainer as TrainerPlugin
from plugins.train.training import Trainer, train_iterations
from tests.harness import to_numpy
from tests.plugins.train.model.plugin_helpers import installed_plugins, make_plugin


class _Feeder:
    """Random batches for the tiny plugin; the calls numbered in ``poison`` give NaN faces."""

    def __init__(self, model, poison: set[int]) -> None:
        self._rng = np.random.default_rng(0)
        self._model = model
        self._poison = poison
        self.calls = 0

    def get_batch(self):
        self.calls += 1
        size = self._model.model.inputs[0].shape[1]
        inputs = self._rng.random((2, 2, size, size, 3), dtype="float32")
        if self.calls in self._poison:
            inputs[:] = np.nan
        half = len(self._model.model.outputs) // 2
        targets = [self._rng.random((2, 2, out.shape[1], out.shape[1], 6), dtype="float32")
                   for out in self._model.model.outputs[:half]]
        return inputs, targets

    def generate_preview(self, count):
        del count
        return {}


def _plugin(tmp_path, rollbacks: int):
    options = {"global": {"nan_rollbacks": rollbacks, "nan_rollback_factor": 0.25},
               "global.optimizer": {"save_optimizer": "always"}}
    plugin = make_plugin("tiny", tmp_path, options, warmup=0)
    plugin.build()
    return plugin


def _values(variables) -> dict[str, np.ndarray]:
    return {variable.path: to_numpy(variable) for variable in variables}


def test_rollback_restores_the_last_save_then_trains_on(tmp_path):
    with installed_plugins():
        plugin = _plugin(tmp_path, rollbacks=2)
        feeder = _Feeder(plugin, poison={4})
        trainer = Trainer(TrainerPlugin(plugin, 2), feeder)
        learning_rate = float(to_numpy(plugin.model.optimizer.learning_rate))
        trainer.train_one_step()
        trainer.train_one_step()
        trainer.save()
        saved_file = tmp_path / "model" / "tiny.keras"
        trainer.train_one_step()  # moves the weights on from the save
        assert plugin.iterations == 3
        loss = trainer.train_one_step()  # NaN at iteration 4: rolled back
        assert not np.all(np.isfinite(loss))

        # the model is the saved file's, weights and optimizer (independently loaded)
        saved = keras.saving.load_model(saved_file, compile=True)
        now = _values(plugin.model.weights)
        expected = _values(saved.weights)
        assert now.keys() == expected.keys()
        for path, value in expected.items():
            np.testing.assert_array_equal(now[path], value, err_msg=path)
        saved_optimizer = {path: value
                           for path, value in _values(saved.optimizer.variables).items()
                           if "learning_rate" not in path}
        now_optimizer = _values(plugin.model.optimizer.variables)
        assert saved_optimizer and set(saved_optimizer) <= set(now_optimizer)
        for path, value in saved_optimizer.items():
            np.testing.assert_array_equal(now_optimizer[path], value, err_msg=path)
        assert plugin.iterations == 2
        lowered = float(to_numpy(plugin.model.optimizer.learning_rate))
        assert lowered == pytest.approx(learning_rate * 0.25)
        assert plugin.state.current_session["nan_rollbacks"] == [
            {"iteration": 4, "restored_iteration": 2, "learning_rate": pytest.approx(lowered)}]

        # the next batch trains on from there
        loss = trainer.train_one_step()
        assert np.all(np.isfinite(loss)) and plugin.iterations == 3
        assert any(not np.array_equal(to_numpy(weight), expected[weight.path])
                   for weight in plugin.model.weights)
        trainer.save()
        state = json.loads((tmp_path / "model" / "tiny_state.json").read_text())
        assert state["iterations"] == 3
        assert state["sessions"]["1"]["nan_rollbacks"][0]["restored_iteration"] == 2
        trainer.close()


def test_limit_reached_stops_as_faceswap_does(tmp_path):
    with installed_plugins():
        plugin = _plugin(tmp_path, rollbacks=1)
        feeder = _Feeder(plugin, poison={4, 7})
        trainer = Trainer(TrainerPlugin(plugin, 2), feeder)
        with pytest.raises(FaceswapError, match="NaN or infinite loss .* iteration 5"):
            train_iterations(trainer, iterations=20, save_interval=2, snapshot_interval=0)
        # call 4 (iteration 4) rolled back to the save at 2; call 7 is iteration 5 and stops
        state = json.loads((tmp_path / "model" / "tiny_state.json").read_text())
        assert state["iterations"] == 4  # the last good save, from after the rollback
        assert [entry["iteration"] for entry in state["sessions"]["1"]["nan_rollbacks"]] == [4]


def test_no_save_yet_or_option_off_stops(tmp_path):
    with installed_plugins():
        plugin = _plugin(tmp_path / "first", rollbacks=3)
        trainer = Trainer(TrainerPlugin(plugin, 2), _Feeder(plugin, poison={1}))
        with pytest.raises(FaceswapError, match="iteration 1"):
            trainer.train_one_step()  # nothing saved in this session to go back to
        trainer.close()
        plugin = _plugin(tmp_path / "off", rollbacks=0)
        trainer = Trainer(TrainerPlugin(plugin, 2), _Feeder(plugin, poison={2}))
        trainer.train_one_step()
        trainer.save()
        with pytest.raises(FaceswapError, match="iteration 2"):
            trainer.train_one_step()
        assert "nan_rollbacks" not in plugin.state.current_session
        trainer.close()
