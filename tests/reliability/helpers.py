"""Shared pieces of the reliability tests: tiny training data, the ``tiny`` test plugin driven
through the real command line (in-process or as a subprocess) and independent readers of the
files in a model folder."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from faceswap_original.cli import main
from faceswap_original.demo_data import generate_demo_data
from tests.plugins.train.model.plugin_helpers import installed_plugins

ROOT = Path(__file__).parents[2]
NAME = "tiny"
FAST_CONFIG = ("[global.loss]\nloss_function = mae\nloss_function_2 = none\n"
               "penalized_mask_loss = False\n"
               "[global.optimizer]\nsave_optimizer = always\n")


def make_data(root: Path, count: int = 4, size: int = 32) -> tuple[Path, Path, Path]:
    """Two folders of ``count`` faces of ``size`` px and a fast training config."""
    faces_a, faces_b = generate_demo_data(root, count=count, seed=1, size=size)
    config = root / "train.ini"
    config.write_text(FAST_CONFIG)
    return faces_a, faces_b, config


def train_args(data: tuple[Path, Path, Path], model_dir: Path, iterations: int,
               *extra: str) -> list[str]:
    """``train`` arguments for the tiny plugin, batch size 2."""
    faces_a, faces_b, config = data
    return ["train", "-t", NAME, "-A", str(faces_a), "-B", str(faces_b), "-m", str(model_dir),
            "-b", "2", "-i", str(iterations), "-s", "1", "-C", str(config), "--seed", "3",
            *extra]


def run_main(args: list[str]) -> int:
    """The command line, in-process, with the test plugins installed."""
    with installed_plugins():
        return main(args)


def popen(args: list[str], log: Path, slow_save: float = 0.0) -> subprocess.Popen:
    """The command line as a subprocess (through :mod:`tests.reliability.driver`), its output
    going to ``log``."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "3",
           "RELIABILITY_SLOW_SAVE": str(slow_save)}
    with open(log, "w", encoding="utf-8") as handle:
        return subprocess.Popen([sys.executable, "-m", "tests.reliability.driver", *args],
                                cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT)


def folder_snapshot(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` (relative path -> bytes)."""
    return {str(path.relative_to(folder)): path.read_bytes()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def embedded_state(model_file: Path) -> dict[str, Any]:
    """The state copy inside a ``.keras`` file, read with zipfile and json only."""
    with zipfile.ZipFile(model_file) as archive:
        return json.loads(archive.read("faceswap_state.json"))


def optimizer_iterations(model_file: Path) -> int:
    """The optimizer's step counter stored in a ``.keras`` file's weights (h5py only)."""
    with zipfile.ZipFile(model_file) as archive:
        data = archive.read("model.weights.h5")
    with h5py.File(io.BytesIO(data), "r") as weights:
        return int(np.asarray(weights["optimizer/vars/0"]))


def model_weights(model_file: Path) -> list[np.ndarray]:
    """Every layer weight stored in a ``.keras`` file, in file order (h5py only)."""
    with zipfile.ZipFile(model_file) as archive:
        data = archive.read("model.weights.h5")
    found: list[np.ndarray] = []
    with h5py.File(io.BytesIO(data), "r") as weights:
        weights["layers"].visititems(
            lambda _, obj: found.append(np.asarray(obj)) if isinstance(obj, h5py.Dataset)
            else None)
    return found


def trained_folder(root: Path, data: tuple[Path, Path, Path]) -> Path:
    """A tiny model trained for 2 iterations, with backups of both files."""
    from lib.model.backup_restore import Backup
    model_dir = root / "model"
    code = run_main(train_args(data, model_dir, 2))
    if code != 0:
        raise RuntimeError(f"training the tiny model failed with exit status {code}")
    for name in (f"{NAME}.keras", f"{NAME}_state.json"):
        if not (model_dir / f"{name}.bk").exists():  # the loss did not fall: back up by hand
            Backup.backup_model(model_dir / name)
    return model_dir
