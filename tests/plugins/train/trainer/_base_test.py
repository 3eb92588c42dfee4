"""TrainerBase: the batch size check and the order of the targets."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from lib.errors import FaceswapError
from plugins.train.trainer._base import TrainerBase


def _plugin(outputs: int) -> SimpleNamespace:
    return SimpleNamespace(name="fake", model=SimpleNamespace(outputs=[None] * outputs))


@pytest.mark.parametrize("batch_size", [0, -1, 1.5, "2", True, None])
def test_batch_size_must_be_a_positive_int(batch_size):
    with pytest.raises(ValueError, match="`batch_size` must be a positive integer"):
        TrainerBase(_plugin(2), batch_size)


def test_train_batch_is_the_plugins_job():
    with pytest.raises(NotImplementedError):
        TrainerBase(_plugin(2), 1).train_batch([], [])


def test_flat_targets_are_every_side_a_target_then_every_side_b_one():
    face = np.stack([np.full((1, 4), 1.0), np.full((1, 4), 2.0)])   # (side, batch, ...)
    mask = np.stack([np.full((1, 2), 3.0), np.full((1, 2), 4.0)])
    flat = TrainerBase(_plugin(4), 1)._flat_targets([face, mask])
    assert [float(target[0, 0]) for target in flat] == [1.0, 3.0, 2.0, 4.0]
    assert [target.shape for target in flat] == [(1, 4), (1, 2), (1, 4), (1, 2)]


def test_targets_must_match_the_outputs():
    target = np.zeros((2, 1, 4))
    with pytest.raises(FaceswapError, match=r"'fake' model has 4 outputs \(2 per side\), but "
                                            r"the batch holds 1 target\(s\) per side"):
        TrainerBase(_plugin(4), 1)._flat_targets([target])
