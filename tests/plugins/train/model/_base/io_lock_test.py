"""The model folder's save lock around IO's reads and writes: a load (``convert``, ``export``)
while another process writes a save is refused, naming that process; a save takes the lock and
leaves no lock file behind."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lib.errors import FaceswapError
from lib.model.folder_lock import SAVE_LOCK
from tests.plugins.train.model.plugin_helpers import installed_plugins, make_plugin

_ROOT = Path(__file__).parents[5]
_SAVER = ("import sys, time\n"
          "from lib.model.folder_lock import FolderLock, train_lock\n"
          "train_lock(sys.argv[1]).acquire()\n"
          "FolderLock(sys.argv[1], '" + SAVE_LOCK + "', purpose='save').acquire()\n"
          "print('ready', flush=True)\n"
          "time.sleep(120)\n")


def test_load_refused_while_another_process_saves(tmp_path: Path) -> None:
    with installed_plugins():
        plugin = make_plugin("tiny", tmp_path)
        plugin.build()
        plugin.io.save()
        model_dir = tmp_path / "model"
        assert not (model_dir / SAVE_LOCK).exists()  # released and removed after the save
        child = subprocess.Popen([sys.executable, "-c", _SAVER, str(model_dir)], cwd=_ROOT,
                                 stdout=subprocess.PIPE,
                                 env={**os.environ, "PYTHONPATH": str(_ROOT)})
        try:
            assert child.stdout is not None and child.stdout.readline().strip() == b"ready"
            with pytest.raises(FaceswapError) as err:
                plugin.io.load()
            message = str(err.value)
            assert f"process {child.pid} on" in message and "writing a save" in message
        finally:
            child.kill()
            child.wait()
        assert plugin.io.load() is not None  # the killed saver's lock is free


def test_save_holds_the_lock_exclusively(tmp_path: Path, monkeypatch) -> None:
    """While the save writes, a reader is refused; a reader that holds the lock makes the save
    wait, then refuse with the folder named; nothing is left behind."""
    from lib.model import folder_lock
    from plugins.train.model._base import io

    with installed_plugins():
        plugin = make_plugin("tiny", tmp_path)
        plugin.build()
        model_dir = tmp_path / "model"
        seen = []
        write_model = io.IO._write_model

        def probing_write(self, *args, **kwargs):
            with pytest.raises(FaceswapError, match="writing a save"), \
                    folder_lock.save_lock(model_dir, shared=True):
                pass
            seen.append(True)
            return write_model(self, *args, **kwargs)

        monkeypatch.setattr(io.IO, "_write_model", probing_write)
        plugin.io.save()
        assert seen == [True]
        assert not (model_dir / SAVE_LOCK).exists()
        monkeypatch.setattr(io.IO, "_write_model", write_model)
        monkeypatch.setattr(folder_lock, "SAVE_WAIT", 0.2)
        before = {path.name: path.read_bytes() for path in model_dir.iterdir()}
        with folder_lock.save_lock(model_dir, shared=True):
            with pytest.raises(FaceswapError, match="reading the model files"):
                plugin.io.save()
        # the last reader removed the lock file; the save changed nothing
        assert {path.name: path.read_bytes() for path in model_dir.iterdir()} == before
