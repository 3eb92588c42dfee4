"""Crash safety: a training process killed with SIGKILL at random moments, saves included, always
leaves a model folder that loads, whose state matches the saved weights, and that resumes.

One training process per trial: it resumes what the previous kill left, trains, and is killed
at a moment drawn from a seeded generator: after a random delay, or as soon as a save reaches
one of its two critical points. Every save is slowed (see :mod:`tests.reliability.driver`) so
that kills land inside one: while the model file's temporary copy is complete but not yet
renamed, between the model file and the state file, or during a backup.
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

_TRIALS = 20
# Half the kills come at a random time; the other half wait for one of the two moments that
# matter most (a seeded draw decides), so each is hit whatever the machine's speed.
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


def _model_file_id(model_dir: Path) -> tuple[int, int] | None:
    try:
        stat = (model_dir / f"{NAME}.keras").stat()
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_mtime_ns


def _wait_for_moment(moment: str, delay: float, model_dir: Path, timeout: float = 60) -> None:
    """Return at the moment to kill: after ``delay`` seconds (``"random"``), while a model file's
    temporary copy is complete but not renamed (``"model write"``), or just after the model file
    was renamed, before the state file is written (``"between files"``)."""
    if moment == "random":
        time.sleep(delay)
        return
    deadline = time.monotonic() + timeout
    start = _model_file_id(model_dir)
    while time.monotonic() < deadline:
        if moment == "model write" and model_dir.is_dir() and any(
                path.name.startswith(f".{NAME}.keras.") and path.name.endswith(".keras")
                for path in model_dir.iterdir()):
            return
        if moment == "between files" and _model_file_id(model_dir) != start:
            return
        time.sleep(0.005)
    pytest.fail(f"no save was seen in {timeout} s")


def _where_it_landed(model_dir: Path) -> set[str]:
    """Which writes the kill interrupted, from what is on disk (read before anything loads)."""
    landed = set()
    names = [path.name for path in model_dir.iterdir()]
    if any(name.startswith(f".{NAME}.keras.") and not name.startswith(f".{NAME}.keras.bk")
           for name in names):
        landed.add("model file write")
    if any(name.startswith((f".{NAME}.keras.bk.", f".{NAME}_state.json.bk."))
           for name in names):
        landed.add("backup")
    model_file, state_file = model_dir / f"{NAME}.keras", model_dir / f"{NAME}_state.json"
    if model_file.is_file() and state_file.is_file() and (
            embedded_state(model_file)["iterations"]
            != json.loads(state_file.read_text())["iterations"]):
        landed.add("between model and state")
    return landed


def _check_folder(model_dir: Path, config: Path) -> int:
    """Assert the folder loads and is consistent; returns the saved iteration count (0 when
    nothing was saved yet)."""
    model_file = model_dir / f"{NAME}.keras"
    if not model_file.exists():
        assert not (model_dir / f"{NAME}_state.json").exists()
        return 0
    saved = optimizer_iterations(model_file)
    assert embedded_state(model_file)["iterations"] == saved  # one file, one moment
    keras.saving.load_model(model_file, compile=False, safe_mode=True)  # a complete file
    with installed_plugins():
        plugin = PluginLoader.get_model(NAME, disable_logging=True)(
            model_dir, argparse.Namespace(configfile=str(config)))
        assert plugin.iterations == saved  # the state the trainer resumes with
    cfg.reset_config()
    for backup in (model_dir / f"{NAME}.keras.bk",):
        if backup.exists():
            assert embedded_state(backup)["iterations"] == optimizer_iterations(backup)
            copy = model_dir.parent / "backup_copy.keras"  # Keras wants the extension
            shutil.copyfile(backup, copy)
            keras.saving.load_model(copy, compile=False, safe_mode=True)
            copy.unlink()
    return saved


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_at_random_moments(tmp_path):
    data = make_data(tmp_path / "data")
    model_dir = tmp_path / "model"
    rng = random.Random(20240811)
    landed: collections.Counter[str] = collections.Counter()
    saved = 0
    for trial in range(_TRIALS):
        log = tmp_path / f"trial_{trial}.log"
        process = popen(train_args(data, model_dir, 100_000), log, slow_save=0.15)
        try:
            first = _wait_for_first_step(process, log)
            # the process resumed exactly where the last kill left the saved model
            assert first == saved + 1, (trial, first, saved)
            _wait_for_moment(rng.choice(_MOMENTS), rng.uniform(0.0, 1.5), model_dir)
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=60)
        finally:
            process.kill()
        assert process.returncode == -signal.SIGKILL
        landed.update(_where_it_landed(model_dir))
        previous, saved = saved, _check_folder(model_dir, data[2])
        assert saved >= previous  # a kill never loses a completed save
    print(f"{_TRIALS} kills, interrupted: {dict(landed)}; model saved at {saved} iterations")
    # the kills really hit the saves
    assert landed["model file write"] >= 2, landed
    assert landed["between model and state"] >= 2, landed

    # and training resumes and finishes normally after all that
    assert run_main(train_args(data, model_dir, 2)) == 0
    final = json.loads((model_dir / f"{NAME}_state.json").read_text())
    assert final["iterations"] == saved + 2
    assert optimizer_iterations(model_dir / f"{NAME}.keras") == saved + 2
    assert not [path.name for path in model_dir.iterdir() if path.name.startswith(".")]
    weights = keras.saving.load_model(model_dir / f"{NAME}.keras", compile=False).get_weights()
    assert all(np.isfinite(weight).all() for weight in weights)
