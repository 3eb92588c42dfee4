"""The faceswap-original command line, end to end on tiny demo data."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from faceswap_original.cli import main
from faceswap_original.demo_data import generate_demo_data
from lib.model.backup_restore import Backup

_ROOT = Path(__file__).parents[2]
_FAST_CONFIG = ("[global.loss]\nloss_function = mae\nloss_function_2 = none\n"
                "[global.optimizer]\nsave_optimizer = always\n"
                "[model.original]\nlowmem = True\n")


@pytest.fixture(name="data", scope="module")
def fixture_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_data")
    faces_a, faces_b = generate_demo_data(root, count=6, seed=1, size=64)
    config = root / "train.ini"
    config.write_text(_FAST_CONFIG)
    return faces_a, faces_b, config


def _run(*args: str, timeout: float = 600, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", "faceswap_original", *args], cwd=_ROOT,
                          capture_output=True, text=True, timeout=timeout, env=env, **kwargs)


def _train_args(data, model_dir, iterations: int, *extra: str) -> list[str]:
    faces_a, faces_b, config = data
    return ["train", "-A", str(faces_a), "-B", str(faces_b), "-m", str(model_dir), "-bs", "2",
            "-it", str(iterations), "-s", "2", "-c", str(config), "--seed", "3", *extra]


def _folder_state(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def test_train_resume_convert_restore(data, tmp_path):
    model_dir = tmp_path / "model"
    first = _run(*_train_args(data, model_dir, 3))
    assert first.returncode == 0, first.stderr
    state = json.loads((model_dir / "original_state.json").read_text())
    assert state["iterations"] == 3 and list(state["sessions"]) == ["1"]
    assert (model_dir / "original_preview.png").is_file()
    assert list((model_dir / "original_logs" / "session_1").glob("events.out.tfevents.*"))
    assert "Loss A:" in first.stdout

    second = _run(*_train_args(data, model_dir, 2))
    assert second.returncode == 0, second.stderr
    state = json.loads((model_dir / "original_state.json").read_text())
    assert state["iterations"] == 5 and list(state["sessions"]) == ["1", "2"]
    assert "Restored the optimizer state" in second.stderr

    out_dir = tmp_path / "swapped"
    assert main(["convert", "-i", str(data[0]), "-o", str(out_dir), "-m", str(model_dir),
                 "-c", str(data[2])]) == 0
    inputs = sorted(data[0].glob("*.png"))
    outputs = sorted(out_dir.glob("*.png"))
    assert [p.name for p in outputs] == [p.name for p in inputs]
    for source, result in zip(inputs, outputs, strict=True):
        before = cv2.imread(str(source), cv2.IMREAD_UNCHANGED)
        after = cv2.imread(str(result), cv2.IMREAD_UNCHANGED)
        assert after.shape == before.shape
        assert not np.array_equal(after[..., :3], before[..., :3])  # the face was replaced
        if before.ndim == 3 and before.shape[-1] == 4:  # an alpha mask is kept as it was
            np.testing.assert_array_equal(after[..., 3], before[..., 3])

    if not (model_dir / "original_state.json.bk").exists():  # the loss never fell: back up
        for name in ("original.keras", "original_state.json"):
            Backup.backup_model(model_dir / name)
    backed_up = (model_dir / "original_state.json.bk").read_bytes()
    (model_dir / "original_state.json").write_text("garbage")
    assert main(["restore", "-m", str(model_dir)]) == 0
    assert (model_dir / "original_state.json").read_bytes() == backed_up
    assert list(model_dir.glob("original_archived_*"))


def test_sigint_saves_and_exits_cleanly(data, tmp_path):
    model_dir = tmp_path / "model"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen(
        [sys.executable, "-m", "faceswap_original",
         *_train_args(data, model_dir, 100_000)], cwd=_ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 600
        while not (model_dir / "original_state.json").exists():  # the first save is done
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline
            time.sleep(0.5)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=600)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    assert "Stop requested" in stderr
    state = json.loads((model_dir / "original_state.json").read_text())
    assert state["iterations"] >= 1
    assert (model_dir / "original.keras").is_file()


@pytest.mark.parametrize("case", ["missing_a", "empty_b", "batch_too_big", "bad_plugin",
                                  "bad_config", "negative_iterations"])
def test_bad_input_exits_1_and_changes_nothing(case, data, tmp_path, capsys):
    faces_a, faces_b, config = data
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "keep.txt").write_text("untouched")
    empty = tmp_path / "empty"
    empty.mkdir()
    bad_config = tmp_path / "bad.ini"
    bad_config.write_text("[global.optimizer]\nlearning_rate = fast\n")
    args = {"missing_a": _train_args((tmp_path / "nope", faces_b, config), model_dir, 1),
            "empty_b": _train_args((faces_a, empty, config), model_dir, 1),
            "batch_too_big": [*_train_args(data, model_dir, 1), "-bs", "64"],
            "bad_plugin": [*_train_args(data, model_dir, 1), "-t", "../original"],
            "bad_config": _train_args((faces_a, faces_b, bad_config), model_dir, 1),
            "negative_iterations": _train_args(data, model_dir, -5)}[case]
    before = _folder_state(model_dir)
    if case == "negative_iterations":
        assert main(args) == 1  # argparse's usage error, with exit status 1
        assert "out of range" in capsys.readouterr().err
    else:
        assert main(args) == 1
        err = capsys.readouterr().err
        assert err.strip().splitlines()[-1].startswith("ERROR: ") and "Traceback" not in err
    assert _folder_state(model_dir) == before


def test_restore_without_backup_refuses(tmp_path, capsys):
    (tmp_path / "original_state.json").write_text("{}")
    assert main(["restore", "-m", str(tmp_path)]) == 1
    assert "backed-up state files" in capsys.readouterr().err


def test_plugins_lists_every_model():
    result = _run("plugins")
    assert result.returncode == 0, result.stderr
    names = [line.split()[0] for line in result.stdout.splitlines() if line.strip()]
    assert {"original", "dfaker", "phaze_a", "villain"} <= set(names)
