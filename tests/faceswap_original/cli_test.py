"""The faceswap-original command line, end to end on tiny demo data."""
from __future__ import annotations

import argparse
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
from tests.plugins.train.model.plugin_helpers import installed_plugins
from tests.reliability.helpers import NAME, make_data, popen, train_args

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
    return ["train", "-A", str(faces_a), "-B", str(faces_b), "-m", str(model_dir), "-b", "2",
            "-i", str(iterations), "-s", "2", "-C", str(config), "--seed", "3", *extra]


def _folder_state(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def _run_with_test_plugins(*args: str) -> subprocess.CompletedProcess:
    """The command line in a subprocess with the test plugins installed
    (:mod:`tests.reliability.driver`: the same ``main``)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", "tests.reliability.driver", *args], cwd=_ROOT,
                          capture_output=True, text=True, timeout=600, env=env)


def test_train_resume_convert_restore(data, tmp_path):
    """train, train again (a resumed session), convert and restore through the command line.
    The plumbing is the plugin's own only in the file names: the small test plugin ``tiny``
    keeps it fast (test_demo_trains_previews_and_swaps trains and converts the Original plugin
    through ``python -m faceswap_original``; original_test.py resumes it)."""
    model_dir = tmp_path / "model"
    first = _run_with_test_plugins(*_train_args(data, model_dir, 3), "-t", NAME)
    assert first.returncode == 0, first.stderr
    state = json.loads((model_dir / f"{NAME}_state.json").read_text())
    assert state["iterations"] == 3 and list(state["sessions"]) == ["1"]
    assert (model_dir / f"{NAME}_preview.png").is_file()
    assert list((model_dir / f"{NAME}_logs" / "session_1").glob("events.out.tfevents.*"))
    assert "Loss A:" in first.stdout

    second = _run_with_test_plugins(*_train_args(data, model_dir, 2), "-t", NAME)
    assert second.returncode == 0, second.stderr
    state = json.loads((model_dir / f"{NAME}_state.json").read_text())
    assert state["iterations"] == 5 and list(state["sessions"]) == ["1", "2"]
    assert "Restored the optimizer state" in second.stderr

    out_dir = tmp_path / "swapped"
    with installed_plugins():
        assert main(["convert", "-i", str(data[0]), "-o", str(out_dir), "-m", str(model_dir),
                     "-C", str(data[2])]) == 0
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

    if not (model_dir / f"{NAME}_state.json.bk").exists():  # the loss never fell: back up
        for name in (f"{NAME}.keras", f"{NAME}_state.json"):
            Backup.backup_model(model_dir / name)
    backed_up = (model_dir / f"{NAME}_state.json.bk").read_bytes()
    (model_dir / f"{NAME}_state.json").write_text("garbage")
    assert main(["restore", "-m", str(model_dir)]) == 0
    assert (model_dir / f"{NAME}_state.json").read_bytes() == backed_up
    assert list(model_dir.glob(f"{NAME}_archived_*"))


def test_sigint_saves_and_exits_cleanly(tmp_path):
    """Ctrl+C during ``train``: the trainer saves and the command exits 0. The stop request is
    the command line's, whatever the plugin: the small test plugin ``tiny`` (through
    :mod:`tests.reliability.driver`, the same ``main`` with the test plugins installed) keeps
    the saves small; demo_test.py runs the Original plugin's command line."""
    data = make_data(tmp_path / "data")
    model_dir = tmp_path / "model"
    log = tmp_path / "train.log"
    process = popen(train_args(data, model_dir, 100_000), log)
    try:
        deadline = time.monotonic() + 600
        while not (model_dir / f"{NAME}_state.json").exists():  # the first save is done
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline
            time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        process.wait(timeout=600)
    finally:
        process.kill()
    output = log.read_text()
    assert process.returncode == 0, output[-3000:]
    assert "Stop requested" in output
    state = json.loads((model_dir / f"{NAME}_state.json").read_text())
    assert state["iterations"] >= 1
    assert (model_dir / f"{NAME}.keras").is_file()


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
            "batch_too_big": [*_train_args(data, model_dir, 1), "-b", "64"],
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


def _hold_train_lock(model_dir: Path) -> subprocess.Popen:
    """Another process holding the folder's train lock, as a live ``train`` does."""
    code = ("import sys, time\nfrom lib.model.folder_lock import train_lock\n"
            "train_lock(sys.argv[1]).acquire()\nprint('ready', flush=True)\ntime.sleep(120)")
    child = subprocess.Popen([sys.executable, "-c", code, str(model_dir)], cwd=_ROOT,
                             stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(_ROOT)})
    assert child.stdout is not None and child.stdout.readline().strip() == b"ready"
    return child


def test_train_and_restore_refused_while_folder_is_trained(data, tmp_path, capsys):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    for name in ("original.keras.bk", "original_state.json.bk"):
        (model_dir / name).write_bytes(b"backup " + name.encode())
    before = _folder_state(model_dir)
    child = _hold_train_lock(model_dir)
    try:
        for argv in (_train_args(data, model_dir, 2), ["restore", "-m", str(model_dir)]):
            assert main(argv) == 1
            err = capsys.readouterr().err
            assert f"in use by process {child.pid} on" in err, err
            assert "Traceback" not in err
            after = _folder_state(model_dir)
            after.pop(".faceswap_original_train.lock")
            assert after == before
    finally:
        child.kill()
        child.wait()


def test_restore_without_backup_refuses(tmp_path, capsys):
    (tmp_path / "original_state.json").write_text("{}")
    assert main(["restore", "-m", str(tmp_path)]) == 1
    assert "backed-up state files" in capsys.readouterr().err


def test_plugins_lists_every_model():
    result = _run("plugins")
    assert result.returncode == 0, result.stderr
    names = [line.split()[0] for line in result.stdout.splitlines() if line.strip()]
    assert {"original", "dfaker", "phaze_a", "villain"} <= set(names)


# --- Faceswap 3's command line -------------------------------------------------------------------
def _parse(*argv: str):
    from faceswap_original.cli import build_parser
    return vars(build_parser().parse_args(list(argv)))


_TRAIN = ("train", "-A", "fa", "-B", "fb", "-m", "model")


@pytest.mark.smoke
@pytest.mark.parametrize(("argv", "expected"), [
    # every train option of Faceswap 3, short forms
    ((*_TRAIN, "-t", "dfaker", "-u", "-f", "-l", "w.keras", "-b", "8", "-i", "500", "-a", "100",
      "-n", "-s", "50", "-I", "1000", "-x", "ta", "-y", "tb", "-z", "tl", "-p", "-w", "-M", "-P",
      "-c", "-W", "-C", "my.ini", "-L", "VERBOSE", "-F", "fs.log", "-X", "0", "1"),
     {"trainer": "dfaker", "summary": True, "freeze_weights": True, "load_weights": "w.keras",
      "batch_size": 8, "iterations": 500, "warmup": 100, "no_logs": True, "save_interval": 50,
      "snapshot_interval": 1000, "timelapse_input_a": "ta", "timelapse_input_b": "tb",
      "timelapse_output": "tl", "preview": True, "write_image": True, "warp_to_landmarks": True,
      "no_flip": True, "no_augment_color": True, "no_warp": True, "configfile": "my.ini",
      "loglevel": "VERBOSE", "logfile": "fs.log", "exclude_gpus": [0, 1],
      "distribution_strategy": "default", "use_lr_finder": False}),
    # the same by long names
    ((*_TRAIN, "--trainer", "iae", "--summary", "--freeze-weights", "--load-weights", "w.keras",
      "--batch-size", "4", "--iterations", "7", "--warmup", "3", "--distributed", "--no-logs",
      "--use-lr-finder", "--save-interval", "5", "--snapshot-interval", "0",
      "--timelapse-input-A", "ta", "--timelapse-input-B", "tb", "--timelapse-output", "tl",
      "--preview", "--write-image", "--warp-to-landmarks", "--no-flip", "--no-augment-color",
      "--no-warp", "--configfile", "my.ini", "--loglevel", "debug", "--logfile", "fs.log",
      "--exclude-gpus", "2"),
     {"trainer": "iae", "summary": True, "freeze_weights": True, "batch_size": 4,
      "iterations": 7, "warmup": 3, "distribution_strategy": "mirrored", "no_logs": True,
      "use_lr_finder": True, "save_interval": 5, "snapshot_interval": 0, "preview": True,
      "write_image": True, "warp_to_landmarks": True, "no_flip": True,
      "no_augment_color": True, "no_warp": True, "configfile": "my.ini", "loglevel": "DEBUG",
      "logfile": "fs.log", "exclude_gpus": [2]}),
    # defaults: nothing switched on, Faceswap 3's default values
    (_TRAIN,
     {"trainer": "original", "batch_size": 16, "iterations": 1_000_000, "warmup": 0,
      "save_interval": 250, "snapshot_interval": 25_000, "summary": False, "no_logs": False,
      "preview": False, "write_image": False, "warp_to_landmarks": False, "no_flip": False,
      "no_augment_color": False, "no_warp": False, "configfile": None, "loglevel": "INFO",
      "logfile": None, "distribution_strategy": "default", "timelapse_input_a": None}),
    # the clashes follow Faceswap 3: -w writes the preview image, -c drops colour augmentation
    ((*_TRAIN, "-w", "-c"),
     {"write_image": True, "warmup": 0, "no_augment_color": True, "configfile": None}),
    # Faceswap 2's short forms (hidden, deprecated in Faceswap 3) still work
    ((*_TRAIN, "-bs", "2", "-it", "9", "-ss", "10", "-tia", "ta", "-tib", "tb", "-to", "tl",
      "-su", "-nl", "-wl", "-nf", "-nac", "-nw", "-LF", "old.log"),
     {"batch_size": 2, "iterations": 9, "snapshot_interval": 10, "timelapse_input_a": "ta",
      "timelapse_input_b": "tb", "timelapse_output": "tl", "summary": True, "no_logs": True,
      "warp_to_landmarks": True, "no_flip": True, "no_augment_color": True, "no_warp": True,
      "logfile": "old.log"}),
    # our own options keep their long names
    ((*_TRAIN, "--preview-dir", "pv", "--seed", "4", "-D", "central-storage",
      "--config-file", "x.ini"),
     {"preview_dir": "pv", "seed": 4, "distribution_strategy": "central-storage",
      "configfile": "x.ini"}),
    # convert and the global options
    (("convert", "-i", "in", "-o", "out", "-m", "model", "-s", "-C", "c.ini", "-L", "DEBUG",
      "-F", "c.log", "-X", "1"),
     {"input_dir": "in", "output_dir": "out", "model_dir": "model", "swap_model": True,
      "configfile": "c.ini", "loglevel": "DEBUG", "logfile": "c.log", "exclude_gpus": [1]}),
    (("convert", "--input-dir", "in", "--output-dir", "out", "--model-dir", "model",
      "--swap-model", "--configfile", "c.ini"),
     {"input_dir": "in", "output_dir": "out", "model_dir": "model", "swap_model": True,
      "configfile": "c.ini"}),
    (("convert", "-i", "v.mp4", "-o", "out", "-m", "model", "-p", "v.fsa", "-r", "ref.mp4",
      "-c", "match-hist", "-M", "components", "-w", "ffmpeg", "-fr", "10-50", "90-100", "-k",
      "-S", "2.5", "-j", "3"),
     {"alignments": "v.fsa", "reference_video": "ref.mp4", "color_adjustment": "match-hist",
      "mask_type": "components", "writer": "ffmpeg", "frame_ranges": ["10-50", "90-100"],
      "keep_unchanged": True, "face_scale": 2.5, "jobs": 3}),
    (("convert", "-i", "f", "-o", "out", "-m", "model", "--alignments", "a.fsa",
      "--color-adjustment", "none", "--mask-type", "predicted", "--writer", "opencv",
      "--frame-ranges", "1-2", "--keep-unchanged", "--face-scale", "-1", "--jobs", "0",
      "--reference-video", "r.mp4"),
     {"alignments": "a.fsa", "color_adjustment": "none", "mask_type": "predicted",
      "writer": "opencv", "frame_ranges": ["1-2"], "keep_unchanged": True, "face_scale": -1.0,
      "jobs": 0, "reference_video": "r.mp4"}),
    (("convert", "-i", "f", "-o", "out", "-m", "model"),
     {"alignments": None, "color_adjustment": "avg-color", "mask_type": "extended",
      "writer": "opencv", "frame_ranges": None, "keep_unchanged": False, "face_scale": 0.0,
      "jobs": 0, "reference_video": None, "backend": "keras"}),
    (("demo", "-i", "3", "-C", "d.ini"), {"iterations": 3, "configfile": "d.ini"}),
    (("demo", "-it", "3", "-c", "d.ini"), {"iterations": 3, "configfile": "d.ini"}),
    (("demo",), {"output_dir": "faceswap_demo", "model_dir": None}),
    (("demo", "-o", "out", "-m", "model"), {"output_dir": "out", "model_dir": "model"}),
    (("demo", "--output-dir", "out", "--model-dir", "model"),
     {"output_dir": "out", "model_dir": "model"}),
    (("restore", "-m", "model", "-F", "r.log"), {"model_dir": "model", "logfile": "r.log"}),
], ids=["train-short", "train-long", "train-defaults", "train-clashes", "train-fs2-aliases",
        "train-ours", "convert-short", "convert-long", "convert-frames-short",
        "convert-frames-long", "convert-frames-defaults", "demo", "demo-old", "demo-defaults",
        "demo-folders", "demo-folders-long", "restore"])
def test_faceswap3_command_lines(argv, expected):
    parsed = _parse(*argv)
    assert {key: parsed[key] for key in expected} == expected


@pytest.mark.parametrize(("argv", "message"), [
    # Faceswap 3: -c is the colour adjustment
    (("convert", "-i", "in", "-o", "out", "-m", "model", "-c", "x.ini"), "invalid choice"),
    ((*_TRAIN, "-c", "x.ini"), "unrecognized arguments"),   # -c takes no value in train now
    ((*_TRAIN, "-p", "folder"), "unrecognized arguments"),  # -p is Faceswap 3's preview switch
])
def test_old_meanings_of_clashing_options_are_refused(argv, message, capsys):
    assert main(list(argv)) == 1
    assert message in capsys.readouterr().err


def test_hidden_aliases_stay_out_of_help():
    from faceswap_original.cli import build_parser
    subparsers = next(action for action in build_parser()._actions
                      if isinstance(action, argparse._SubParsersAction))
    text = subparsers.choices["train"].format_help()
    for alias in ("-bs", "-it", "-ss", "-tia", "-tib", "-to", "-su", "-nl", "-wl", "-nf", "-nac",
                  "-nw", "-LF", "--config-file"):
        assert f"{alias} " not in text and f"{alias}," not in text, alias
    for option in ("-b BATCH_SIZE", "-i ITERATIONS", "-I SNAPSHOT_INTERVAL", "-a WARMUP",
                   "-x TIMELAPSE_INPUT_A", "-M, --warp-to-landmarks", "-c, --no-augment-color",
                   "-C CONFIGFILE", "-F LOGFILE"):
        assert option in text, option


def test_logfile_receives_the_log(tmp_path, capsys):
    import logging

    logfile = tmp_path / "faceswap.log"
    assert main(["plugins", "-F", str(logfile)]) == 0
    capsys.readouterr()
    logging.getLogger("faceswap_original.test").warning("a line for the log file")
    for handler in logging.getLogger().handlers:
        handler.flush()
    assert "WARNING  faceswap_original.test a line for the log file" in logfile.read_text()
    logging.basicConfig(force=True)  # close the file handler


def test_unwritable_logfile_is_a_clear_error(tmp_path, capsys):
    assert main(["plugins", "-F", str(tmp_path / "missing" / "fs.log")]) == 1
    assert "The log file" in capsys.readouterr().err


def test_lr_finder_graph_and_exit(data, tmp_path):
    """-r on a new model with lr_finder_mode = graph_and_exit: the search runs, the graph and
    the untrained model are saved with the rate in the state, and no training happens (the
    small test plugin ``tiny``; every batch holds all six faces, unaugmented: -W -P -c)."""
    faces_a, faces_b, _ = data
    finder_config = tmp_path / "train.ini"
    finder_config.write_text(_FAST_CONFIG + "[global]\nlr_finder_iterations = 100\n"
                             "lr_finder_mode = graph_and_exit\n")
    model_dir = tmp_path / "model"
    with installed_plugins():
        code = main([*_train_args((faces_a, faces_b, finder_config), model_dir, 5), "-r",
                     "-t", "tiny", "-b", "6", "-W", "-P", "-c"])
    assert code == 0
    state = json.loads((model_dir / "tiny_state.json").read_text())
    assert 1e-9 < state["lr_finder"] < 10 and state["iterations"] == 0
    assert len(list(model_dir.glob("learning_rate_finder_*.png"))) == 1


@pytest.mark.parametrize(("switches", "expected"), [
    (("-M", "-P"), (True, True, False, False)),
    (("-c", "-W"), (False, False, True, True)),
    (("-wl", "-nf", "-nac", "-nw"), (True, True, True, True)),
])
def test_augmentation_switches_reach_the_feeder(switches, expected):
    """Faceswap 3's -M -P -c -W (and Faceswap 2's spellings) become the feeder's options."""
    from argparse import Namespace
    from types import SimpleNamespace

    from plugins.train.training import feeder_options

    args = Namespace(**_parse(*_TRAIN, *switches))
    options = feeder_options(SimpleNamespace(coverage_ratio=1.0), args)
    assert (options.warp_to_landmarks, options.no_flip, options.no_augment_color,
            options.no_warp) == expected
