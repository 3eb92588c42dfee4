"""A full disk (``ENOSPC``) and an I/O error (``EIO``) at every write of a save.

One save of the trainer (model file, state file, both backups, the preview, the TensorBoard
events and their flush) followed by a snapshot is run once with every write counted: each
``write``/``flush`` of a file opened for writing, each ``os.sendfile`` (``shutil``'s file copy)
and each ``os.fsync``. Then the same save is run again and again, failing the k-th of those
writes with ``OSError(ENOSPC)`` or ``OSError(EIO)``, for every k (a seeded sample of them in the
default run, every k with ``--runslow``). After each failure:

* a write of the model, the state, a backup or the snapshot: the save raises a
  :class:`~lib.model.save_error.SaveError` (a FaceswapError naming what failed, the space the
  save needs and the folder); the previous model, state and backups (or, for a snapshot, the
  previous snapshot) are byte-identical and no temporary file is left;
* a write of the preview or of the event file: a warning, the save completes, the previous
  preview is unchanged and no temporary file is left;
* an fsync of a folder (made durable where the platform allows, a no-op otherwise): the save
  completes.

The command line exits 1 on such an error, and a real run on a small filesystem ends the same
way where one can be made without root.
"""
from __future__ import annotations

import builtins
import errno
import io
import logging
import os
import random
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lib.model.save_error import SaveError
from plugins.train.trainer.original import Trainer as TrainerPlugin
from plugins.train.training import Trainer
from tests.plugins.train.model.plugin_helpers import installed_plugins, make_plugin

_CODES = (errno.ENOSPC, errno.EIO)
_SAMPLE = 4  # writes tried per code by default, besides the first of each kind and the last
_ROOT = Path(__file__).resolve().parents[2]


class _Feeder:
    """Random batches and previews for the tiny plugin."""

    def __init__(self, model) -> None:
        self._rng = np.random.default_rng(0)
        self._model = model

    def get_batch(self):
        size = self._model.model.inputs[0].shape[1]
        inputs = self._rng.random((2, 2, size, size, 3), dtype="float32")
        half = len(self._model.model.outputs) // 2
        targets = [self._rng.random((2, 2, out.shape[1], out.shape[1],
                                     1 if out.shape[-1] == 1 else 6), dtype="float32")
                   for out in self._model.model.outputs[:half]]
        return inputs, targets

    def generate_preview(self, count):
        size = self._model.model.inputs[0].shape[1]
        out = self._model.model.outputs[0].shape[1]
        return {side: (self._rng.random((count, size, size, 3), dtype="float32"),
                       self._rng.random((count, out, out, 4), dtype="float32"))
                for side in "ab"}


def _fd_path(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return "?"


class _Writer:
    """A file opened for writing, whose writes go through the fault injector."""

    def __init__(self, handle, faults: DiskFaults, path: str) -> None:
        self._handle = handle
        self._faults = faults
        self._path = path

    def write(self, data):
        self._faults.hit("write", self._path)
        return self._handle.write(data)

    def writelines(self, lines):
        self._faults.hit("write", self._path)
        return self._handle.writelines(lines)

    def flush(self):
        self._faults.hit("flush", self._path)
        return self._handle.flush()

    def __getattr__(self, name):
        return getattr(self._handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self._handle.__exit__(*exc)

    def __iter__(self):
        return iter(self._handle)


class DiskFaults:
    """Counts the writes made while armed and fails the ``fail_at``-th with ``OSError(code)``.

    Every file opened for writing (``open``/``io.open``, which ``pathlib``, ``zipfile`` and
    tensorboardX use) is wrapped; ``os.sendfile`` and ``os.fsync`` are wrapped too.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.armed = False
        self.fail_at: int | None = None
        self.code = errno.ENOSPC
        self.events: list[tuple[str, str]] = []
        real_open, real_sendfile, real_fsync = builtins.open, os.sendfile, os.fsync

        def fake_open(file, mode="r", *args, **kwargs):
            handle = real_open(file, mode, *args, **kwargs)
            if isinstance(file, int) or not any(flag in mode for flag in "wax+"):
                return handle
            return _Writer(handle, self, os.fspath(file))

        def sendfile(out_fd, in_fd, offset, count):
            self.hit("sendfile", _fd_path(out_fd))
            return real_sendfile(out_fd, in_fd, offset, count)

        def fsync(fd):
            self.hit("fsync", _fd_path(fd if isinstance(fd, int) else fd.fileno()))
            return real_fsync(fd)

        monkeypatch.setattr(builtins, "open", fake_open)
        monkeypatch.setattr(io, "open", fake_open)
        monkeypatch.setattr(os, "sendfile", sendfile)
        monkeypatch.setattr(os, "fsync", fsync)

    def hit(self, kind: str, path: str) -> None:
        if not self.armed:
            return
        self.events.append((kind, path))
        if len(self.events) == self.fail_at:
            raise OSError(self.code, os.strerror(self.code))


def _kind(event: tuple[str, str], model_dir: Path) -> str:
    """What a write belongs to: model (model, state, backups), snapshot, preview, events or
    folder (an fsync of a folder)."""
    _, path = event
    name = Path(path).name
    if os.path.isdir(path):
        return "folder"
    if "_snapshot_" in path:
        return "snapshot"
    if "tfevents" in name:
        return "events"
    if "_preview.png" in name:
        return "preview"
    if Path(path).parent == model_dir and name.startswith((".tiny.keras.", ".tiny_state.json.")):
        return "model"
    raise AssertionError(f"a write the test does not know: {event}")


def _files(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` but the TensorBoard logs (which the trainer keeps open)."""
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*"))
            if path.is_file() and "tiny_logs" not in path.parts}


def _temporaries(folder: Path) -> list[str]:
    return sorted(str(path) for path in folder.rglob(".*") if "tiny_logs" not in path.parts)


@pytest.fixture(name="setup")
def fixture_setup(tmp_path, monkeypatch):
    """A tiny model with a save, backups, a preview and a snapshot, trained one step further
    (so the next save writes other bytes), with its trainer, and the fault injector."""
    with installed_plugins():
        plugin = make_plugin("tiny", tmp_path, {"global.loss": {"learn_mask": True}})
        plugin.build()
        faults = DiskFaults(monkeypatch)  # unarmed: files opened from now on are wrapped
        trainer = Trainer(TrainerPlugin(plugin, 2), _Feeder(plugin))
        for average in (1.0, 0.5):  # the first save stores the average, the second backs up
            trainer.train_one_step()
            plugin.io.history[:] = [average]
            trainer.save()
        trainer.train_one_step()
        trainer.snapshot()  # labelled 3 (the count now), holding the last save
        yield plugin, trainer, faults, tmp_path
        trainer.close()


def _pristine(tmp_path: Path) -> dict[str, dict[str, bytes]]:
    return {folder.name: _files(folder) for folder in sorted(tmp_path.iterdir())
            if folder.is_dir() and folder.name.startswith("model")}


def _put_back(tmp_path: Path, pristine: dict[str, dict[str, bytes]]) -> None:
    """Write the pristine files back (the folders hold nothing else but the logs)."""
    for folder, files in pristine.items():
        for relative, data in files.items():
            target = tmp_path / folder / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        for path in (tmp_path / folder).rglob("*"):
            if (path.is_file() and "tiny_logs" not in path.parts
                    and str(path.relative_to(tmp_path / folder)) not in files):
                path.unlink()


def _save(plugin, trainer) -> None:
    plugin.io.history[:] = [0.1]
    plugin.state.lowest_avg_loss = 0.5  # lower average: this save backs up too
    trainer.save()
    trainer.snapshot()


def _trial(setup, code: int, fail_at: int, pristine, caplog) -> str:
    """Run the save failing the ``fail_at``-th write with ``code``; check the outcome; return
    what the failed write belonged to."""
    plugin, trainer, faults, tmp_path = setup
    model_dir = tmp_path / "model"
    _put_back(tmp_path, pristine)
    faults.events, faults.fail_at, faults.code, faults.armed = [], fail_at, code, True
    caplog.clear()
    error = None
    try:
        _save(plugin, trainer)
    except SaveError as err:
        error = err
    finally:
        faults.armed = False
    event = faults.events[fail_at - 1]
    kind = _kind(event, model_dir)
    where = f"{errno.errorcode[code]} at write {fail_at} ({kind}: {event})"
    if (event[0] == "sendfile" and code != errno.ENOSPC
            and event not in faults.events[:fail_at - 1]):
        # shutil gives up on sendfile when its first call for a file fails with another error
        # than ENOSPC, and copies with read/write instead: the copy, and the save, succeed.
        kind = "absorbed"
    assert _temporaries(tmp_path) == [], where
    after = _pristine(tmp_path)
    snapshot = "model_snapshot_3_iters"
    if kind in ("model", "snapshot"):  # the save stops with the previous files intact
        assert error is not None, where
        assert error.errno == code, where
        message = str(error)
        assert os.strerror(code) in message and "The save needs about" in message, message
        assert "MiB" in message or "KiB" in message, message
        if kind == "model":
            assert str(model_dir) in message and "Saving the model failed" in message, message
            assert after == pristine, where  # model, state, backups, preview, snapshot
        else:
            assert "Saving a snapshot failed" in message and str(tmp_path) in message, message
            assert after[snapshot] == pristine[snapshot], where
            assert after["model"]["tiny.keras"] != pristine["model"]["tiny.keras"], where
    else:  # the save completes
        assert error is None, where
        assert after["model"]["tiny.keras"] != pristine["model"]["tiny.keras"], where
        assert after["model"]["tiny.keras.bk"] == after["model"]["tiny.keras"], where
        assert after[snapshot] != pristine[snapshot], where
        warnings = [record.getMessage() for record in caplog.records
                    if record.levelno == logging.WARNING]
        if kind == "preview":
            assert after["model"]["tiny_preview.png"] == pristine["model"]["tiny_preview.png"]
            assert any("Preview" in line and "Training goes on" in line for line in warnings)
        if kind == "events":
            assert any("TensorBoard log" in line and "Training goes on" in line
                       for line in warnings), warnings
    return kind


def _count(setup) -> list[tuple[str, str]]:
    plugin, trainer, faults, tmp_path = setup
    pristine = _pristine(tmp_path)
    faults.events, faults.fail_at, faults.armed = [], None, True
    try:
        _save(plugin, trainer)
    finally:
        faults.armed = False
    _put_back(tmp_path, pristine)
    return list(faults.events)


def _run_every_write(setup, caplog, request, sample: bool) -> dict[str, int]:
    plugin, trainer, faults, tmp_path = setup
    events = _count(setup)
    kinds = [_kind(event, tmp_path / "model") for event in events]
    # every kind of write is there: model and state (and their backups), preview, events,
    # snapshot
    assert {"model", "preview", "events", "snapshot"} <= set(kinds), kinds
    pristine = _pristine(tmp_path)
    points = list(range(1, len(events) + 1))
    if sample:
        # the first write of each kind, the last write, and a seeded sample of the others
        firsts = {kinds.index(kind) + 1 for kind in set(kinds)}
        rest = sorted(set(points) - firsts - {len(events)})
        points = sorted(firsts | {len(events)}
                        | set(random.Random(18).sample(rest, min(_SAMPLE, len(rest)))))
    survived: dict[str, int] = {}
    with caplog.at_level(logging.WARNING):
        for code in _CODES:
            for fail_at in points:
                kind = _trial(setup, code, fail_at, pristine, caplog)
                survived[kind] = survived.get(kind, 0) + 1
    request.node.user_properties.append(("writes_per_save", len(events)))
    request.node.user_properties.append(("trials", sum(survived.values())))
    points_by_kind = {kind: kinds.count(kind) for kind in sorted(set(kinds))}
    print(f"\n{len(events)} writes per save {points_by_kind}; trials survived by kind: "
          f"{survived}")
    return survived


def test_full_disk_and_io_error_at_sampled_writes_of_a_save(setup, caplog, request):
    survived = _run_every_write(setup, caplog, request, sample=True)
    assert {"model", "preview", "events", "snapshot"} <= set(survived)


@pytest.mark.slow
def test_full_disk_and_io_error_at_every_write_of_a_save(setup, caplog, request):
    _run_every_write(setup, caplog, request, sample=False)


# --- the command line ----------------------------------------------------------------------------
def _cli_args(tmp_path: Path, model_dir: Path) -> list[str]:
    """``train`` of the small test plugin ``tiny`` on 4 demo faces a side, unaugmented."""
    from faceswap_original.demo_data import generate_demo_data

    faces_a, faces_b = generate_demo_data(tmp_path / "data", count=4, seed=1, size=64)
    config = tmp_path / "data" / "train.ini"
    config.write_text("[global.loss]\nloss_function = mae\nloss_function_2 = none\n")
    return ["train", "-A", str(faces_a), "-B", str(faces_b), "-m", str(model_dir), "-t", "tiny",
            "-b", "2", "-i", "2", "-s", "1", "-C", str(config), "--seed", "3", "-W", "-P",
            "-c"]


def test_command_line_exits_1_on_a_full_disk(tmp_path, monkeypatch, capsys):
    """``train`` whose first model save meets a full disk: one ERROR line, no traceback, exit 1,
    nothing left in the model folder but the folder itself."""
    from faceswap_original.cli import main
    from plugins.train.model._base import io as model_io

    def full(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(model_io, "rewrite_for_faceswap3", full)
    model_dir = tmp_path / "model"
    args = _cli_args(tmp_path, model_dir)
    capsys.readouterr()  # only what the command writes
    with installed_plugins():
        assert main(args) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("ERROR: Saving the model failed") and "No space left" in last, err
    assert "The save needs about" in last and str(model_dir) in last
    assert not any(path.suffix in (".keras", ".json") for path in model_dir.rglob("*"))


_FSIZE_CHILD = """
import resource, sys
from tests.plugins.train.model.plugin_helpers import installed_plugins
from faceswap_original.cli import main
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
with installed_plugins():
    sys.exit(main(sys.argv[2:]))
"""


def test_real_size_limited_run(tmp_path):
    """A real limit instead of an injected error. Making a small filesystem (a tmpfs or loop
    mount) needs root here, so the limit is ``RLIMIT_FSIZE`` in a child process: a write past it
    fails with ``EFBIG`` (a file too large), the stand-in for a full disk. The limit lets the
    state and preview through but not the model file, so the first save fails part way through
    its model file: exit 1, the message, and no partial or temporary file in the folder."""
    if not hasattr(resource, "RLIMIT_FSIZE"):
        pytest.skip("no RLIMIT_FSIZE on this platform")
    model_dir = tmp_path / "model"
    args = _cli_args(tmp_path, model_dir)
    env = {**os.environ, "PYTHONPATH": str(_ROOT)}
    # SIGXFSZ would kill the child: ignore it so the write fails with EFBIG instead.
    result = subprocess.run(
        [sys.executable, "-c", "import signal; signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
         + _FSIZE_CHILD, str(64 * 1024), *args],
        capture_output=True, text=True, env=env, cwd=_ROOT, timeout=600, check=False)
    assert result.returncode == 1, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ERROR: Saving the model failed") and "File too large" in last, last
    assert "The save needs about" in last
    assert "Traceback" not in result.stderr
    left = sorted(path.name for path in model_dir.rglob("*") if path.is_file())
    assert not any(name.startswith(".") or name.endswith((".keras", "_state.json"))
                   for name in left), left

