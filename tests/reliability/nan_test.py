"""NaN protection: a loss that becomes NaN or infinite stops training with a clear message, the
last good model, state and backups stay byte for byte as saved, and training resumes from them."""
from __future__ import annotations

import json

import numpy as np
import pytest

from lib.training.generator import Feeder
from tests.reliability.helpers import (
    NAME,
    make_data,
    model_weights,
    optimizer_iterations,
    run_main,
    train_args,
)

_KEPT = (f"{NAME}.keras", f"{NAME}_state.json", f"{NAME}.keras.bk", f"{NAME}_state.json.bk")


def _poison(batch, value: float):
    if isinstance(batch, (list, tuple)):
        return type(batch)(_poison(item, value) for item in batch)
    poisoned = np.array(batch, copy=True)
    poisoned[..., 0, 0, :] = value
    return poisoned


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_loss_stops_and_keeps_the_last_good_save(tmp_path, monkeypatch, capsys,
                                                            value):
    data = make_data(tmp_path / "data")
    model_dir = tmp_path / "model"
    real_get_batch = Feeder.get_batch
    calls = {"count": 0}
    good: dict[str, bytes | None] = {}

    def get_batch(self):
        inputs, targets = real_get_batch(self)
        calls["count"] += 1
        if calls["count"] == 3:  # iterations 1 and 2 were trained and saved
            good.update({name: (model_dir / name).read_bytes()
                         if (model_dir / name).exists() else None for name in _KEPT})
            targets = _poison(targets, value)
        return inputs, targets

    monkeypatch.setattr(Feeder, "get_batch", get_batch)
    assert run_main(train_args(data, model_dir, 10)) == 1
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert message.startswith("ERROR: A NaN or infinite loss was detected at iteration 3")
    assert "last good save" in message and "Resume" in message
    assert calls["count"] == 3
    assert good[f"{NAME}.keras"] is not None and good[f"{NAME}_state.json"] is not None
    for name, content in good.items():
        now = (model_dir / name).read_bytes() if (model_dir / name).exists() else None
        assert now == content, name
    assert json.loads(good[f"{NAME}_state.json"])["iterations"] == 2

    monkeypatch.setattr(Feeder, "get_batch", real_get_batch)
    assert run_main(train_args(data, model_dir, 1)) == 0
    assert json.loads((model_dir / f"{NAME}_state.json").read_text())["iterations"] == 3
    assert optimizer_iterations(model_dir / f"{NAME}.keras") == 3
    weights = model_weights(model_dir / f"{NAME}.keras")
    assert weights and all(np.isfinite(weight).all() for weight in weights)
