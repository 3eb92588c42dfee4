"""Backends: a small plugin end to end on the running backend (smoke), and one ``.keras`` model
that moves TensorFlow -> JAX -> PyTorch -> TensorFlow, loading and training on in each."""
from __future__ import annotations

import importlib.util

import keras
import numpy as np
import pytest

from tests.harness import BACKEND, to_numpy
from tests.plugins.train.model._base import distributed_worker
from tests.plugins.train.model._base.strategy_test import _result, _worker
from tests.plugins.train.model.plugin_helpers import installed_plugins, make_plugin


@pytest.mark.smoke
def test_tiny_plugin_builds_trains_saves_resumes_and_converts(tmp_path):
    result = distributed_worker.main({"work_dir": str(tmp_path), "steps": 2, "batch": 2,
                                      "save": True, "resume_steps": 1})
    assert result["backend"] == BACKEND
    assert np.all(np.isfinite(result["losses"])) and np.all(np.isfinite(result["resumed_losses"]))
    assert result["checksum"] != result["built_checksum"]
    assert result["loaded_checksum"] == pytest.approx(result["saved_checksum"], rel=1e-12)
    with installed_plugins():
        swap = make_plugin("tiny", tmp_path, distributed_worker.FAST_OPTIONS, predict=True)
        swap.build()
    faces = np.random.default_rng(0).random((2, 32, 32, 3), dtype="float32")
    swapped = to_numpy(keras.tree.flatten(swap.model(faces))[0])
    assert swapped.shape == (2, 32, 32, 3) and swapped.dtype == np.float32
    assert np.all((swapped >= 0) & (swapped <= 1))


@pytest.mark.skipif(BACKEND != "tensorflow", reason="starts the other backends from the "
                                                    "TensorFlow run")
@pytest.mark.skipif(any(importlib.util.find_spec(name) is None for name in ("jax", "torch")),
                    reason="JAX and PyTorch are not both installed (pip install -e "
                           "'.[jax,torch]'); CI installs them before the TensorFlow run")
def test_a_model_moves_between_backends(tmp_path):
    """Saved under TensorFlow, loaded (same weights) and trained under JAX, then PyTorch, then
    TensorFlow again."""
    spec = {"work_dir": str(tmp_path), "model_dir": str(tmp_path / "model"), "steps": 1,
            "batch": 2, "save": True}
    saved = distributed_worker.main(spec)["saved_checksum"]
    for backend in ("jax", "torch"):
        result = _result(_worker(spec, backend))
        assert result["backend"] == backend and result["loaded"]
        assert result["built_checksum"] == pytest.approx(saved, rel=1e-9), backend
        assert np.all(np.isfinite(result["losses"]))
        assert result["saved_checksum"] != pytest.approx(saved, rel=1e-9)  # it trained
        saved = result["saved_checksum"]
    keras.backend.clear_session()
    back = distributed_worker.main(spec)
    assert back["loaded"] and back["built_checksum"] == pytest.approx(saved, rel=1e-9)
