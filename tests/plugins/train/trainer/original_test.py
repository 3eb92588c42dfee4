"""The default trainer: one Keras step per batch, returning that batch's loss per output."""
from __future__ import annotations

from types import SimpleNamespace

import keras
import numpy as np
import pytest

from lib.errors import FaceswapError
from plugins.train.trainer.original import Trainer
from tests.harness import to_numpy


def _plugin() -> SimpleNamespace:
    """A compiled two-input, two-output network (decoder_a, decoder_b) as a plugin shows it."""
    face_a, face_b = keras.Input((4, 4, 3), name="face_in_a"), keras.Input((4, 4, 3),
                                                                          name="face_in_b")
    out_a = keras.layers.Dense(3, name="decoder_a")(face_a)
    out_b = keras.layers.Dense(3, name="decoder_b")(face_b)
    model = keras.Model([face_a, face_b], [out_a, out_b])
    model.compile(keras.optimizers.SGD(0.1), loss=["mse", "mae"])
    return SimpleNamespace(name="fake", model=model,
                           distribute_batch=lambda inputs, targets: (inputs, targets))


def test_returns_this_batchs_loss_per_output():
    plugin = _plugin()
    rng = np.random.default_rng(0)
    trainer = Trainer(plugin, batch_size=2)
    for _ in range(2):  # the second step's losses are not running means of both
        inputs = rng.random((2, 2, 4, 4, 3), dtype="float32")
        targets = [rng.random((2, 2, 4, 4, 3), dtype="float32")]
        predicted = [to_numpy(out) for out in plugin.model([inputs[0], inputs[1]])]
        expected = [np.mean((predicted[0] - targets[0][0]) ** 2),
                    np.mean(np.abs(predicted[1] - targets[0][1]))]
        losses = trainer.train_batch(inputs, targets)
        assert losses.dtype == np.float32 and losses.shape == (2,)
        np.testing.assert_allclose(losses, expected, rtol=1e-5)


def test_a_step_without_per_output_losses_is_refused():
    plugin = _plugin()
    plugin.model.train_on_batch = lambda *args, **kwargs: {"loss": 1.0}
    inputs = np.zeros((2, 1, 4, 4, 3), dtype="float32")
    with pytest.raises(FaceswapError, match=r"did not report the losses \['decoder_a_loss', "
                                            r"'decoder_b_loss'\].*ModelBase.build"):
        Trainer(plugin, batch_size=1).train_batch(inputs, [np.zeros((2, 1, 4, 4, 3))])
