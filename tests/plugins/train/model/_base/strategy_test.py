"""Distribution strategies, several processes and GPU exclusion (Settings in _base.settings).

Devices must be set up before a backend starts them, so the runs on several devices happen in
child processes (``distributed_worker``): TensorFlow with the CPU split into two logical devices,
JAX with two host devices (``XLA_FLAGS``) and with two processes on 127.0.0.1. They run from the
default (TensorFlow) test run; the in-process checks are smoke tests for every backend.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from faceswap_original.cli import build_parser
from lib.errors import FaceswapError
from plugins.train.model._base.settings import PROCESS_ENVIRONMENT, Settings, visible_gpu_ids
from tests.harness import BACKEND

needs_jax = pytest.mark.skipif(
    importlib.util.find_spec("jax") is None,
    reason="JAX is not installed (pip install -e '.[jax]'); CI installs it before the TF run")

_ROOT = Path(__file__).parents[5]
LOSS_TOLERANCE = 1e-5
"""Largest relative difference allowed between the per-step losses of a strategy and of the
default strategy on the same data (float32 sums in another order: about 1e-7 is seen)."""

tf_only = pytest.mark.skipif(BACKEND != "tensorflow", reason="runs backends in child processes "
                             "from the TensorFlow run")


def _worker(spec: dict[str, Any], backend: str, **env: str) -> subprocess.Popen:
    environment = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3",
                   "PYTHONUNBUFFERED": "1", **env}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.plugins.train.model._base.distributed_worker",
         json.dumps(spec)], cwd=_ROOT, env=environment, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)


def _result(process: subprocess.Popen, timeout: float = 300) -> dict[str, Any]:
    output, _ = process.communicate(timeout=timeout)
    lines = [line for line in output.splitlines() if line.startswith("RESULT ")]
    assert process.returncode == 0 and lines, output[-4000:]
    return json.loads(lines[-1][len("RESULT "):])


def _assert_same_losses(losses: list[list[float]], reference: list[list[float]]) -> None:
    np.testing.assert_allclose(np.array(losses), np.array(reference), rtol=LOSS_TOLERANCE)


@tf_only
def test_tensorflow_strategies_on_two_logical_cpus(tmp_path):
    """mirrored and central-storage split each batch over two replicas, train, save and load,
    and their first losses match the default strategy's on the same data."""
    spec = {"work_dir": str(tmp_path), "strategies": ["default", "mirrored", "central-storage"],
            "logical_cpus": 2, "steps": 3, "batch": 4, "save": True, "resume_steps": 1}
    runs = _result(_worker(spec, "tensorflow"))["runs"]
    default = runs["default"]
    assert default["replicas"] == 1 and default["split"] == [4]
    for name in ("mirrored", "central-storage"):
        run = runs[name]
        assert run["replicas"] == 2, name
        assert run["split"] == [2, 2], name  # the global batch of 4: 2 faces per replica
        assert run["built_checksum"] == pytest.approx(default["built_checksum"], rel=1e-12)
        _assert_same_losses(run["losses"], default["losses"])
        assert run["checksum"] != run["built_checksum"]  # it trained
        assert run["checksum"] == pytest.approx(default["checksum"], rel=1e-6)
        # saved, then loaded in the strategy's scope with the same weights, and it trains on
        assert run["loaded_checksum"] == pytest.approx(run["saved_checksum"], rel=1e-12)
        _assert_same_losses(run["resumed_losses"], default["resumed_losses"])


@tf_only
@needs_jax
def test_jax_data_parallel_on_two_host_devices(tmp_path):
    """``mirrored`` on JAX is DataParallel: weights on both devices, same losses as one device."""
    spec = {"work_dir": str(tmp_path), "strategies": ["default", "mirrored"], "steps": 2,
            "batch": 4, "save": True, "resume_steps": 1}
    result = _result(_worker(spec, "jax", XLA_FLAGS="--xla_force_host_platform_device_count=2"))
    assert result["backend"] == "jax"
    default, mirrored = result["runs"]["default"], result["runs"]["mirrored"]
    assert (default["replicas"], default["weight_devices"]) == (1, 1)
    assert (mirrored["replicas"], mirrored["weight_devices"]) == (2, 2)
    _assert_same_losses(mirrored["losses"], default["losses"])
    assert mirrored["loaded_checksum"] == pytest.approx(mirrored["saved_checksum"], rel=1e-12)
    _assert_same_losses(mirrored["resumed_losses"], default["resumed_losses"])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@tf_only
@needs_jax
def test_two_jax_processes_train_the_same_weights(tmp_path):
    """Two processes on 127.0.0.1 (jax.distributed through keras.distribution.initialize), each
    feeding its own batches: both end with the same, trained weights."""
    address = f"127.0.0.1:{_free_port()}"
    processes = [_worker({"work_dir": str(tmp_path / f"process_{index}"), "strategy": "mirrored",
                          "steps": 2, "batch": 2, "save": True,
                          "processes": [address, 2, index]}, "jax") for index in range(2)]
    first, second = (_result(process, timeout=400) for process in processes)
    assert first["replicas"] == second["replicas"] == 2  # one CPU device in each process
    assert first["weight_devices"] == 2
    assert first["built_checksum"] == pytest.approx(second["built_checksum"], rel=1e-12)
    assert first["checksum"] != pytest.approx(first["built_checksum"], rel=1e-9)
    assert first["checksum"] == pytest.approx(second["checksum"], rel=1e-12)
    assert first["saved_checksum"] == pytest.approx(second["saved_checksum"], rel=1e-12)
    for index in range(2):
        assert (tmp_path / f"process_{index}" / "model" / "tiny.keras").is_file()


# --- in process: every backend ------------------------------------------------------------------
@pytest.mark.smoke
def test_strategies_each_backend_cannot_run():
    if BACKEND == "tensorflow":
        with pytest.raises(FaceswapError, match="'central-storage' cannot train with float16 "
                                                "mixed precision.*Use '-D mirrored'"):
            Settings(argparse.Namespace(distribution_strategy="central-storage"), True, False,
                     "float16")
    elif BACKEND == "jax":
        with pytest.raises(FaceswapError, match="'central-storage' is not available on the jax "
                                                "backend.*Use '-D mirrored'"):
            Settings(argparse.Namespace(distribution_strategy="central-storage"), False, False)
    else:
        for name in ("mirrored", "central-storage"):
            with pytest.raises(FaceswapError, match=f"'{name}' is not available on the torch "
                                                    "backend, which trains on one device"):
                Settings(argparse.Namespace(distribution_strategy=name), False, False)
    with pytest.raises(ValueError, match="must be one of .*Received: 'parameter-server'"):
        Settings(argparse.Namespace(distribution_strategy="parameter-server"), False, False)


@pytest.mark.smoke
def test_default_strategy_leaves_batches_alone():
    settings = Settings(argparse.Namespace(), False, False)
    inputs, targets = [np.zeros((3, 2))], [np.ones((3, 2))]
    assert settings.distribute_batch(inputs, targets) == (inputs, targets)
    assert settings.replicas == 1 and settings.num_processes == 1


@pytest.mark.smoke
@pytest.mark.parametrize(("exclude", "visible", "count", "expected"), [
    ([1], None, 3, ["0", "2"]),
    ([0, 2], None, 3, ["1"]),
    ([1], "3,5,7", 8, ["3", "7"]),  # indices into the already visible GPUs
    ([5], "0,1", 2, ["0", "1"]),
    ([], "GPU-uuid-a, GPU-uuid-b", 0, ["GPU-uuid-a", "GPU-uuid-b"]),
])
def test_visible_gpu_ids(exclude, visible, count, expected):
    assert visible_gpu_ids(exclude, visible, count) == expected


@pytest.mark.smoke
def test_visible_gpu_ids_rejects_bad_indices():
    with pytest.raises(ValueError, match=r"GPU indices .*Received: \[-1\]"):
        visible_gpu_ids([-1], None, 2)


@pytest.mark.smoke
def test_excluding_a_gpu_that_is_not_there_warns(caplog, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    with caplog.at_level(logging.WARNING):
        Settings(argparse.Namespace(exclude_gpus=[7]), False, False)
    assert "Cannot exclude GPU(s) [7]" in caplog.text
    assert "CUDA_VISIBLE_DEVICES" not in os.environ  # nothing hidden: none of them exist


@pytest.mark.smoke
def test_process_options_come_from_the_environment(monkeypatch):
    monkeypatch.setenv(PROCESS_ENVIRONMENT["num_processes"], "2")
    monkeypatch.setenv(PROCESS_ENVIRONMENT["process_id"], "1")
    with pytest.raises(FaceswapError, match="needs the coordinator's address.*"
                                            "FACESWAP_COORDINATOR_ADDRESS"):
        Settings(argparse.Namespace(), False, False)
    monkeypatch.setenv(PROCESS_ENVIRONMENT["process_id"], "2")
    with pytest.raises(FaceswapError, match="id 2, count 2"):
        Settings(argparse.Namespace(coordinator_address="127.0.0.1:1"), False, False)
    monkeypatch.setenv(PROCESS_ENVIRONMENT["process_id"], "one")
    with pytest.raises(FaceswapError, match="must be whole numbers"):
        Settings(argparse.Namespace(), False, False)


@pytest.mark.smoke
@pytest.mark.skipif(BACKEND == "jax", reason="JAX would join the job")
def test_several_processes_need_jax():
    arguments = argparse.Namespace(coordinator_address="127.0.0.1:1", num_processes=2,
                                   process_id=0, distribution_strategy="mirrored")
    with pytest.raises(FaceswapError, match=f"needs the JAX backend.*the {BACKEND} backend "
                                            "runs in one process"):
        Settings(arguments, False, False)


@pytest.mark.smoke
def test_cli_distribution_options():
    args = build_parser().parse_args(
        ["train", "-A", "a", "-B", "b", "-m", "m", "-D", "mirrored", "-X", "0", "2",
         "--coordinator-address", "10.0.0.1:1234", "--num-processes", "2", "--process-id", "1"])
    assert (args.distribution_strategy, args.exclude_gpus) == ("mirrored", [0, 2])
    assert (args.coordinator_address, args.num_processes, args.process_id) == (
        "10.0.0.1:1234", 2, 1)
    defaults = build_parser().parse_args(["train", "-A", "a", "-B", "b", "-m", "m"])
    assert (defaults.distribution_strategy, defaults.exclude_gpus, defaults.num_processes) == (
        "default", None, None)
    assert build_parser().parse_args(["convert", "-i", "i", "-o", "o", "-m", "m", "-X", "1"]
                                     ).exclude_gpus == [1]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "-A", "a", "-B", "b", "-m", "m", "-X", "-1"])
