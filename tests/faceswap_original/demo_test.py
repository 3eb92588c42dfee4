"""The ``demo`` command (the README's first command), end to end with a few iterations."""
from __future__ import annotations

import configparser
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from faceswap_original.demo import DEMO_CONFIG, demo_config

_ROOT = Path(__file__).parents[2]


def test_demo_config_uses_auto_precision_only_where_measured_faster():
    for backend in ("tensorflow", "torch"):
        options = demo_config(backend)["global"]
        assert options["mixed_precision"] is True
        assert options["mixed_precision_dtype"] == "auto"
    assert "mixed_precision" not in demo_config("jax")["global"]
    assert "mixed_precision" not in DEMO_CONFIG["global"]  # the shared dict is not changed


def test_demo_trains_previews_and_swaps(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    # -o: the demo's folder; -m: the model folder, as in every other command
    done = subprocess.run([sys.executable, "-m", "faceswap_original", "demo", "-o",
                           str(tmp_path / "demo"), "-m", str(tmp_path / "my_model"), "-it",
                           "2"], cwd=_ROOT, env=env,
                          capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    root = tmp_path / "demo"
    assert "Done after 2 iterations." in done.stdout
    assert not (root / "model").exists()
    reported = next(line.split()[1] for line in done.stdout.splitlines()
                    if line.strip().startswith("model:"))
    assert Path(reported) == tmp_path / "my_model"
    assert (tmp_path / "my_model" / "original.keras").is_file()
    preview = cv2.imread(str(root / "original_preview.png"))
    assert preview is not None and preview.shape[0] > 5 * 64
    assert sorted(path.name for path in (root / "timelapse").iterdir()) == [
        "00000001.png", "00000002.png"]
    swapped = sorted((root / "swapped").glob("*.png"))
    assert len(swapped) == 8
    original = cv2.imread(str(root / "swap_input" / swapped[0].name), cv2.IMREAD_UNCHANGED)
    assert cv2.imread(str(swapped[0]), cv2.IMREAD_UNCHANGED).shape == original.shape
    # the clip: A's video and alignments file, converted to a video of the same rate, size and
    # length, faces changed and the scene kept; and the before/after sheet
    from lib.align.alignments import load_alignments
    from lib.video import VideoReader

    assert load_alignments(root / "clip" / "clip_alignments.fsa").faces_count == 36
    with VideoReader(root / "clip" / "clip.mp4") as before, \
            VideoReader(root / "clip" / "swapped" / "clip_converted.mp4") as after:
        assert (after.fps, after.width, after.height) == (before.fps, before.width,
                                                          before.height)
        frames_before, frames_after = list(before), list(after)
    assert len(frames_after) == len(frames_before) == 36
    change = np.abs(frames_after[0].astype(int) - frames_before[0].astype(int)).max(axis=-1)
    assert change[:16].mean() < 3 < change[96:160, 96:160].mean()  # sky kept, face swapped
    sheet = cv2.imread(str(root / "clip_before_after.png"))
    assert sheet is not None and sheet.shape[1] == 6 * 256
    assert "clip_converted.mp4" in done.stdout
    config = configparser.ConfigParser()
    config.read(root / "train.ini")
    import keras
    expected = demo_config(keras.backend.backend())
    augmentation = config["trainer.augmentation"]  # the demo trains without augmentation
    assert [augmentation.getint(name) for name in (
        "zoom_amount", "rotation_range", "shift_range", "flip_chance", "color_lightness",
        "color_ab", "color_clahe_chance")] == [0] * 7
    assert config["global.optimizer"]["save_optimizer"] == "exit"
    loss = config["global.loss"]  # Faceswap's default loss, on the whole crop
    assert (loss["loss_function"], loss["loss_function_2"], loss.getint("loss_weight_2"),
            loss.getboolean("penalized_mask_loss")) == ("ssim", "mse", 100, False)
    assert config["global"].getboolean("mixed_precision", False) == bool(
        expected["global"].get("mixed_precision", False))
    # the folder the demo reports is a model folder: convert -m takes it
    from faceswap_original.cli import main
    assert main(["convert", "-i", str(root / "swap_input"), "-o", str(tmp_path / "converted"),
                 "-m", reported, "-C", str(root / "train.ini")]) == 0
    converted = sorted(path.name for path in (tmp_path / "converted").glob("*.png"))
    assert converted == sorted(path.name for path in swapped)
