"""TrainerBase: the batch size check and the order of the targets."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from lib.errors import FaceswapError
from plugins.train.trainer._base import BatchSizeError, TrainerBase, check_batch_size


def _plugin(outputs: int) -> SimpleNamespace:
    return SimpleNamespace(name="fake", model=SimpleNamespace(outputs=[None] * outputs))


@pytest.mark.parametrize("batch_size", [0, -1, 1.5, "2", True, None])
def test_batch_size_must_be_a_positive_int(batch_size):
    with pytest.raises(ValueError, match="`batch_size` must be a positive integer"):
        TrainerBase(_plugin(2), batch_size)


@pytest.mark.parametrize("batch_size", [257, 10**9, np.int64(0), 2.0])
def test_batch_size_out_of_range_is_one_error(batch_size):
    """Too large, a NumPy zero, a float: the one check's error, a FaceswapError (printed by the
    command line without traceback) and a ValueError."""
    with pytest.raises(BatchSizeError, match="`batch_size` must be a positive integer, at most "
                       "256") as caught:
        TrainerBase(_plugin(2), batch_size)
    assert isinstance(caught.value, FaceswapError) and isinstance(caught.value, ValueError)


@pytest.mark.parametrize(("batch_size", "expected"), [(1, 1), (256, 256), (np.int32(16), 16)])
def test_batch_size_accepted_as_int(batch_size, expected):
    trainer = TrainerBase(_plugin(2), batch_size)
    assert trainer.batch_size == expected and type(trainer.batch_size) is int
    assert check_batch_size(batch_size) == expected


@pytest.mark.parametrize("flag", ["-b", "-bs"])
@pytest.mark.parametrize("text", ["0", "257", "-3"])
def test_command_line_batch_size_goes_through_the_one_check(flag, text, capsys):
    """``-b`` (and Faceswap 2's ``-bs``) is refused with the check's own message."""
    from faceswap_original.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "-A", "a", "-B", "b", "-m", "m", flag, text])
    err = capsys.readouterr().err
    assert "`batch_size` must be a positive integer, at most 256" in err
    assert f"Received: {int(text)}" in err
    assert build_parser().parse_args(["train", "-A", "a", "-B", "b", "-m", "m", flag,
                                      "256"]).batch_size == 256


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
