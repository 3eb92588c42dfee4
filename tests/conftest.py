"""Test set-up: backend choice, markers, and Keras state reset between tests."""
from __future__ import annotations

import os

# TensorFlow is the default backend; `KERAS_BACKEND=jax|torch pytest -m smoke` runs the subset.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Tests build many small models: PyTorch's compilation (about a minute for the Original model)
# would cost more than it saves, so tests compile as Keras's "auto" says (eager on PyTorch).
# settings_test.py tests the default choice itself; subprocesses inherit this.
os.environ.setdefault("FACESWAP_JIT_COMPILE", "auto")

import sys

import keras
import pytest

BACKEND = keras.backend.backend()
SEED = 1234


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", help="also run tests marked slow")
    parser.addoption("--rungpu", action="store_true", help="also run tests marked gpu")


def pytest_report_header(config: pytest.Config) -> str:
    return f"keras {keras.version()}, backend {BACKEND}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for marker, option in (("slow", "--runslow"), ("gpu", "--rungpu")):
        if config.getoption(option):
            continue
        skip = pytest.mark.skip(reason=f"marked {marker}: give {option} to run it")
        for item in items:
            if marker in item.keywords:
                item.add_marker(skip)


# Tests that build whole models (up to 400 M parameters): Keras layers form reference cycles, so
# only a full garbage collection frees their weights. Elsewhere free_memory=False skips that
# collection (0.15-0.4 s a test) and reference counting frees the small tensors. In these folders
# the collection runs once the process has grown by _COLLECT_GROWTH since the last one (so at
# most that much garbage waits; most tests there build small models and skip it), and after every
# test where the resident size cannot be read (outside Linux).
_MODEL_TEST_FOLDERS = ("tests/plugins/", "tests/faceswap_original/", "tests/lib/model/networks/")
_COLLECT_GROWTH = 256 << 20
_collected_at: list[int] = []  # the resident size after the last collection


def _resident_bytes() -> int | None:
    """This process's resident set size (Linux: /proc/self/statm), None where unknown."""
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def _needs_collection() -> bool:
    resident = _resident_bytes()
    return resident is None or not _collected_at or resident > _collected_at[-1] + _COLLECT_GROWTH


def _reset_keras_state(free_memory: bool = False) -> None:
    keras.backend.clear_session(free_memory=free_memory)
    keras.config.set_dtype_policy("float32")
    nn_blocks = sys.modules.get("lib.model.nn_blocks")  # only where a test imported it
    if nn_blocks is not None:
        nn_blocks.reset_naming()
        nn_blocks.set_config({"icnr_init": False, "conv_aware_init": False,
                              "reflect_padding": False})
    train_config = sys.modules.get("plugins.train.train_config")
    if train_config is not None:
        train_config.reset_config()
    keras.utils.set_random_seed(SEED)


@pytest.fixture(autouse=True, params=[BACKEND])
def keras_state(request: pytest.FixtureRequest):
    """Fresh Keras state for every test; parametrised so the backend shows in each test ID."""
    path = request.node.path.as_posix()
    model_test = any(folder in path for folder in _MODEL_TEST_FOLDERS)
    _reset_keras_state()
    yield request.param
    free_memory = model_test and _needs_collection()
    _reset_keras_state(free_memory)
    if free_memory:
        _collected_at[:] = [_resident_bytes() or 0]
