"""The training driver: warm-up, steps, losses, NaN protection, saves, snapshots, logs and the
preview, with a stand-in feeder of fixed arrays."""
from __future__ import annotations

import json

import cv2
import keras
import numpy as np
import pytest

from lib.errors import FaceswapError
from plugins.train.trainer.original import Trainer as TrainerPlugin
from plugins.train.training import LearningRateWarmup, Trainer, train_iterations
from tests.harness import to_numpy
from tests.plugins.train.model.plugin_helpers import installed_plugins, make_plugin


class _Feeder:
    """Fixed random batches for the tiny (32 px) plugin."""

    def __init__(self, model, batch_size: int, poison_at: int | None = None) -> None:
        self._rng = np.random.default_rng(0)
        self._model = model
        self._batch_size = batch_size
        self._poison_at = poison_at
        self.calls = 0

    def get_batch(self):
        self.calls += 1
        size = self._model.model.inputs[0].shape[1]
        inputs = self._rng.random((2, self._batch_size, size, size, 3), dtype="float32")
        if self._poison_at is not None and self.calls >= self._poison_at:
            inputs[:] = np.nan
        targets = []
        half = len(self._model.model.outputs) // 2
        for output in self._model.model.outputs[:half]:
            channels = output.shape[-1]
            targets.append(self._rng.random(
                (2, self._batch_size, output.shape[1], output.shape[1],
                 1 if channels == 1 else 6), dtype="float32"))
        return inputs, targets

    def generate_preview(self, count):
        size = self._model.model.inputs[0].shape[1]
        out = self._model.model.outputs[0].shape[1]
        return {side: (self._rng.random((count, size, size, 3), dtype="float32"),
                       self._rng.random((count, out, out, 4), dtype="float32"))
                for side in "ab"}


@pytest.fixture(name="tiny")
def fixture_tiny(tmp_path):
    with installed_plugins():
        plugin = make_plugin("tiny", tmp_path, {"global.loss": {"learn_mask": True}},
                             warmup=4)
        plugin.build()
        yield plugin


def test_learning_rate_warmup_schedule():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(1e-3), "mse")
    warmup = LearningRateWarmup(model, 1e-3, 4)
    seen = []
    for _ in range(6):
        warmup()
        seen.append(float(to_numpy(model.optimizer.learning_rate)))
    np.testing.assert_allclose(seen, [2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3, 1e-3], rtol=1e-6)
    assert warmup.finished
    LearningRateWarmup(model, 5e-4, 0)()  # no steps: nothing happens
    assert float(to_numpy(model.optimizer.learning_rate)) == pytest.approx(1e-3)


@pytest.mark.smoke
def test_train_save_snapshot_logs_and_preview(tiny, tmp_path):
    feeder = _Feeder(tiny, batch_size=2)
    trainer = Trainer(TrainerPlugin(tiny, 2), feeder)
    steps = train_iterations(trainer, iterations=5, save_interval=2, snapshot_interval=4)
    assert steps == 5 and tiny.iterations == 5
    loss = trainer.last_loss
    assert loss.shape == (5,) and loss[0] == pytest.approx(loss[1:].sum(), rel=1e-5)
    model_dir = tmp_path / "model"
    state = json.loads((model_dir / "tiny_state.json").read_text())
    assert state["iterations"] == 5 and state["sessions"]["1"]["batchsize"] == 2
    snapshot = tmp_path / "model_snapshot_4_iters"
    assert json.loads((snapshot / "tiny_state.json").read_text())["iterations"] == 4
    preview = cv2.imread(str(model_dir / "tiny_preview.png"))
    assert preview is not None and preview.shape[0] > 14 * 128  # 14 rows of 128 px faces
    events = list((model_dir / "tiny_logs" / "session_1").glob("events.out.tfevents.*"))
    assert len(events) == 1 and events[0].stat().st_size > 0
    # the warm-up reached the configured learning rate after its 4 steps
    assert float(to_numpy(tiny.model.optimizer.learning_rate)) == pytest.approx(5e-5)
    assert "Loss A:" in trainer.status_line() and "mask_b:" in trainer.status_line()


def test_event_file_holds_the_losses_and_the_preview_of_each_save(tiny, tmp_path):
    """TensorBoard shows losses and faces together: every step's losses, and at each save the
    preview (the PNG's pixels, as RGB) at the iteration count (read with TensorFlow's reader)."""
    from tensorflow.compat.v1.train import summary_iterator

    trainer = Trainer(TrainerPlugin(tiny, 2), _Feeder(tiny, batch_size=2))
    train_iterations(trainer, iterations=4, save_interval=3, snapshot_interval=0)
    trainer.close()
    (path,) = (tmp_path / "model" / "tiny_logs" / "session_1").glob("events.out.tfevents.*")
    scalars, images = {}, {}
    for event in summary_iterator(str(path)):
        for value in event.summary.value:
            if value.WhichOneof("value") == "image":
                images[event.step] = cv2.imdecode(
                    np.frombuffer(value.image.encoded_image_string, np.uint8), cv2.IMREAD_COLOR)
                assert value.tag == "preview"
            else:
                scalars.setdefault(event.step, {})[value.tag] = value.simple_value
    assert sorted(scalars) == [1, 2, 3, 4]
    assert set(scalars[4]) == {f"batch_{name}" for name in tiny.state.loss_names}
    assert sorted(images) == [1, 3, 4]  # the session's first step, the interval and the exit
    preview = cv2.imread(str(tmp_path / "model" / "tiny_preview.png"))
    np.testing.assert_array_equal(images[4], preview)  # cv2 decodes both to BGR


def test_timelapse_adds_one_image_of_fixed_faces_per_save(tiny, tmp_path):
    class _Fixed(_Feeder):
        """The timelapse feeder: the same faces on every call."""

        def generate_preview(self, count):
            self._rng = np.random.default_rng(7)
            return super().generate_preview(count)

    folder = tmp_path / "timelapse"
    folder.mkdir()
    trainer = Trainer(TrainerPlugin(tiny, 2), _Feeder(tiny, batch_size=2),
                      timelapse=(_Fixed(tiny, batch_size=1), folder))
    train_iterations(trainer, iterations=4, save_interval=3, snapshot_interval=0)
    # saves at iteration 1 (session start), 3 (interval) and 4 (exit)
    assert sorted(path.name for path in folder.iterdir()) == [
        "00000001.png", "00000003.png", "00000004.png"]
    first, last = (cv2.imread(str(folder / name)) for name in ("00000001.png", "00000004.png"))
    assert first.shape == last.shape and first.shape[0] > 14 * 128
    # the originals column is the same faces, the model's output columns changed by training
    width = first.shape[1]
    assert np.array_equal(first[:, : width // 8], last[:, : width // 8])
    assert not np.array_equal(first, last)


def test_nan_loss_stops_without_saving(tiny, tmp_path):
    feeder = _Feeder(tiny, batch_size=2, poison_at=4)
    trainer = Trainer(TrainerPlugin(tiny, 2), feeder)
    with pytest.raises(FaceswapError, match="NaN or infinite loss .* iteration 4"):
        train_iterations(trainer, iterations=10, save_interval=2, snapshot_interval=0)
    state = json.loads((tmp_path / "model" / "tiny_state.json").read_text())
    assert state["iterations"] == 2  # the last good save
    resumed = make_plugin("tiny", tmp_path, {"global.loss": {"learn_mask": True}})
    resumed.build()
    assert resumed.iterations == 2 and np.all(np.isfinite(
        [to_numpy(w).sum() for w in resumed.model.weights]))


def test_stop_request_saves_and_ends(tiny, tmp_path):
    feeder = _Feeder(tiny, batch_size=1)
    trainer = Trainer(TrainerPlugin(tiny, 1), feeder)
    steps = train_iterations(trainer, iterations=100, save_interval=50, snapshot_interval=0,
                             should_stop=lambda: feeder.calls >= 3)
    assert steps == 3
    assert json.loads((tmp_path / "model" / "tiny_state.json").read_text())["iterations"] == 3


def test_feeder_options_from_the_config_and_the_switches() -> None:
    from argparse import Namespace
    from types import SimpleNamespace

    from plugins.train import train_config as cfg
    from plugins.train.trainer import trainer_config as tcfg
    from plugins.train.training import feeder_options

    cfg.get_config()  # names the options so that they accept set(); conftest resets them
    cfg.centering.set("head")
    cfg.vertical_offset.set(-12)
    cfg.Loss.mask_type.set("components")
    cfg.Loss.mask_blur_kernel.set(5)
    cfg.Loss.mask_threshold.set(7)
    cfg.Loss.mask_dilation.set(-1.5)
    cfg.Loss.mouth_multiplier.set(1)
    tcfg.flip_chance.set(20)
    args = Namespace(warp_to_landmarks=True, no_flip=False, no_warp=True,
                     no_augment_color=True)
    options = feeder_options(SimpleNamespace(coverage_ratio=0.875), args)
    assert (options.centering, options.coverage, options.vertical_offset) == ("head", 0.875,
                                                                               -0.12)
    assert (options.mask_type, options.mask_blur_kernel, options.mask_threshold,
            options.mask_dilation) == ("components", 5, 7, -1.5)
    assert options.mask_channels == (3, 4, -1)  # penalized, eyes (3), no mouth (1)
    assert (options.warp_to_landmarks, options.no_flip, options.no_warp,
            options.no_augment_color) == (True, False, True, True)
    assert options.augmentation.flip_chance == 20
    defaults = feeder_options()
    assert defaults.coverage == 1.0 and not defaults.warp_to_landmarks
    assert feeder_options(no_flip=True).no_flip
