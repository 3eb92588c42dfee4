"""Crash safety: a training process killed with SIGKILL at random moments, saves included, always
leaves a model folder that loads, whose state matches the saved weights, and that resumes.

One training process per trial: it resumes what the previous kill left, trains, and is killed
at a moment drawn from a seeded generator: after a random delay, or as soon as a save reaches
one of its two critical points. Every save is slowed (see :mod:`tests.reliability.driver`) so
that kills land inside one: while the model file's temporary copy is complete but not yet
renamed, between the model file and the state file, or during a backup.

The trials run on every backend: under TensorFlow (the default run) 4 kills; in the smoke subset
that CI also runs under JAX and PyTorch, 4; with ``--runslow``, 20 on the backend in use, and 4
more on the Original plugin at its default size (64 px, full widths: a file of about 300 MB
whose saves take seconds).
"""
from __future__ import annotations

import argparse
import collections
import json
import random
import re
import shutil
import signal
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from plugins.plugin_loader import PluginLoader
from plugins.train import train_config as cfg
from tests.conftest import BACKEND
from tests.plugins.train.model.plugin_helpers import installed_plugins
from tests.reliability.helpers import (
    NAME,
    embedded_state,
    make_data,
    optimizer_iterations,
    popen,
    run_main,
    train_args,
)

# Kills per run: the default (TensorFlow) run, the smoke subset under JAX and PyTorch, --runslow.
DEFAULT_TRIALS = 4
SMOKE_TRIALS = 4
FULL_TRIALS = 20
FULL_SIZE_TRIALS = 4
# Half the kills come at a random time; the other half wait for one of the two moments that
# matter most, so each is hit whatever the machine's speed. Each run of four kills takes the
# four moments in a seeded order, so even a short run hits both saves' critical points.
_MOMENTS = ("random", "random", "model write", "between files")
_STEP = re.compile(r"\[#(\d+)\]")


def _wait_for_first_step(process, log: Path, timeout: float = 300) -> int:
    """The iteration number of the first status line the process prints."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = _STEP.search(log.read_text(encoding="utf-8", errors="replace"))
        if found:
            return int(found.group(1))
        if process.poll() is not None:
            pytest.fail(f"the training process ended early:\n{log.read_text()[-3000:]}")
        time.sleep(0.05)
    process.kill()
    pytest.fail("the training process printed no status line in time")


def _model_file_id(model_dir: Path, name: str) -> tuple[int, int] | None:
    try:
        stat = (model_dir / f"{name}.keras").stat()
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_mtime_ns


def _wait_for_moment(moment: str, delay: float, model_dir: Path, name: str,
                     timeout: float = 120) -> None:
    """Return at the moment to kill: after ``delay`` seconds (``"random"``), while a model file's
    temporary copy is complete but not renamed (``"model write"``), or just after the model file
    was renamed, before the state file is written (``"between files"``; once a state file
    exists, so that the kill leaves it one save behind)."""
    if moment == "random":
        time.sleep(delay)
        return
    deadline = time.monotonic() + timeout
    if moment == "between files":
        # a state file to be one save behind: wait for this process's first save if the folder
        # has none yet
        while not (model_dir / f"{name}_state.json").is_file():
            if time.monotonic() > deadline:
                pytest.fail(f"no save was seen in {timeout} s")
            time.sleep(0.005)
    start = _model_file_id(model_dir, name)
    while time.monotonic() < deadline:
        if moment == "model write" and model_dir.is_dir() and any(
                path.name.startswith(f".{name}.keras.") and path.name.endswith(".keras")
                for path in model_dir.iterdir()):
            return
        if moment == "between files" and _model_file_id(model_dir, name) != start:
            return
        time.sleep(0.005)
    pytest.fail(f"no save was seen in {timeout} s")


def _where_it_landed(model_dir: Path, name: str) -> set[str]:
    """Which writes the kill interrupted, from what is on disk (read before anything loads)."""
    landed = set()
    names = [path.name for path in model_dir.iterdir()]
    if any(file.startswith(f".{name}.keras.") and not file.startswith(f".{name}.keras.bk")
           for file in names):
        landed.add("model file write")
    if any(file.startswith((f".{name}.keras.bk.", f".{name}_state.json.bk."))
           for file in names):
        landed.add("backup")
    model_file, state_file = model_dir / f"{name}.keras", model_dir / f"{name}_state.json"
    if model_file.is_file() and state_file.is_file() and (
            embedded_state(model_file)["iterations"]
            != json.loads(state_file.read_text())["iterations"]):
        landed.add("between model and state")
    return landed


def _check_folder(model_dir: Path, config: Path, name: str) -> int:
    """Assert the folder loads and is consistent; returns the saved iteration count (0 when
    nothing was saved yet)."""
    model_file = model_dir / f"{name}.keras"
    if not model_file.exists():
        assert not (model_dir / f"{name}_state.json").exists()
        return 0
    saved = optimizer_iterations(model_file)
    assert embedded_state(model_file)["iterations"] == saved  # one file, one moment
    keras.saving.load_model(model_file, compile=False, safe_mode=True)  # a complete file
    with installed_plugins():
        plugin = PluginLoader.get_model(name, disable_logging=True)(
            model_dir, argparse.Namespace(configfile=str(config)))
        assert plugin.iterations == saved  # the state the trainer resumes with
    cfg.reset_config()
    for backup in (model_dir / f"{name}.keras.bk",):
        if backup.exists():
            assert embedded_state(backup)["iterations"] == optimizer_iterations(backup)
            copy = model_dir.parent / "backup_copy.keras"  # Keras wants the extension
            shutil.copyfile(backup, copy)
            keras.saving.load_model(copy, compile=False, safe_mode=True)
            copy.unlink()
    return saved


def _train_args(data: tuple[Path, Path, Path], model_dir: Path, iterations: int,
                name: str) -> list[str]:
    """:func:`~tests.reliability.helpers.train_args` for the plugin ``name``."""
    args = train_args(data, model_dir, iterations)
    args[args.index("-t") + 1] = name
    return args


def _moments(rng: random.Random, trials: int) -> list[str]:
    """The moment of each kill: every four kills take the four moments in a seeded order."""
    moments: list[str] = []
    while len(moments) < trials:
        moments.extend(rng.sample(_MOMENTS, len(_MOMENTS)))
    return moments[:trials]


def _sigkill_trials(tmp_path: Path, trials: int, name: str = NAME, size: int = 32,
                    slow_save: float = 0.15) -> None:
    """Kill ``trials`` training processes of the plugin ``name`` (faces of ``size`` px), each
    resuming what the last kill left, then check that training resumes and finishes."""
    data = make_data(tmp_path / "data", size=size)
    model_dir = tmp_path / "model"
    rng = random.Random(20240811)
    landed: collections.Counter[str] = collections.Counter()
    saved = 0
    started = time.monotonic()
    for trial, moment in enumerate(_moments(rng, trials)):
        log = tmp_path / f"trial_{trial}.log"
        process = popen(_train_args(data, model_dir, 100_000, name), log, slow_save=slow_save)
        try:
            first = _wait_for_first_step(process, log)
            # the process resumed exactly where the last kill left the saved model
            assert first == saved + 1, (trial, first, saved)
            _wait_for_moment(moment, rng.uniform(0.0, 1.5), model_dir, name)
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=60)
        finally:
            process.kill()
        assert process.returncode == -signal.SIGKILL
        hit = _where_it_landed(model_dir, name)
        print(f"trial {trial}: {moment}, interrupted {sorted(hit)}", flush=True)
        landed.update(hit)
        previous, saved = saved, _check_folder(model_dir, data[2], name)
        assert saved >= previous  # a kill never loses a completed save
    print(f"{BACKEND}, {name}: {trials} kills in {time.monotonic() - started:.0f} s, "
          f"interrupted: {dict(landed)}; model saved at {saved} iterations")
    # the kills really hit the saves (a quarter of the kills wait for each of the two moments)
    expected = min(2, trials // len(_MOMENTS))
    assert landed["model file write"] >= expected, landed
    assert landed["between model and state"] >= expected, landed

    # and training resumes and finishes normally after all that
    assert run_main(_train_args(data, model_dir, 2, name)) == 0
    final = json.loads((model_dir / f"{name}_state.json").read_text())
    assert final["iterations"] == saved + 2
    assert optimizer_iterations(model_dir / f"{name}.keras") == saved + 2
    # no temporary file of a save is left (they start with '.<name>'; lock files stay)
    assert not [path.name for path in model_dir.iterdir() if path.name.startswith(f".{name}")]
    weights = keras.saving.load_model(model_dir / f"{name}.keras", compile=False).get_weights()
    assert all(np.isfinite(weight).all() for weight in weights)


_POSIX = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")


@_POSIX
@pytest.mark.smoke
def test_sigkill_at_random_moments(tmp_path):
    """The tiny plugin: 4 kills under TensorFlow and in the JAX and PyTorch smoke runs
    (test_sigkill_at_random_moments_full: 20, with --runslow)."""
    _sigkill_trials(tmp_path, DEFAULT_TRIALS if BACKEND == "tensorflow" else SMOKE_TRIALS)


@_POSIX
@pytest.mark.slow
def test_sigkill_at_random_moments_full(tmp_path):
    """The full count of kills, on the backend in use."""
    _sigkill_trials(tmp_path, FULL_TRIALS)


@_POSIX
@pytest.mark.slow
def test_sigkill_full_size_plugin(tmp_path):
    """The Original plugin at its default size: saves of a full-size model file take seconds,
    so the kills land in them as they would on a user's model."""
    _sigkill_trials(tmp_path, FULL_SIZE_TRIALS, name="original", size=64, slow_save=0.5)
