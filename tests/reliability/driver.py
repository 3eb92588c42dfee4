"""``python -m tests.reliability.driver ARGS``: the faceswap-original command line with the test
plugins installed. ``RELIABILITY_SLOW_SAVE=<seconds>`` widens the windows a crash can hit: each
atomic file replacement waits that long before its rename, and each file of a save (model, state,
backups: one atomic group) waits that long after its rename, before the next one's."""
from __future__ import annotations

import contextlib
import os
import sys
import time

from faceswap_original.cli import main
from tests.plugins.train.model.plugin_helpers import installed_plugins


def _slow_saves(delay: float) -> None:
    from lib import utils
    from lib.model import backup_restore
    from plugins.train.model._base import state

    def slow(real):
        @contextlib.contextmanager
        def replace(path, suffix=".tmp"):
            with real(path, suffix) as temp:
                yield temp
                time.sleep(delay)  # the temporary file is complete, not yet renamed
        return replace

    backup_restore.atomic_replace = slow(backup_restore.atomic_replace)
    rename = utils.AtomicGroup._rename

    def slow_rename(temp, path):
        rename(temp, path)
        time.sleep(delay)  # this file of the save is in place, the next ones not yet

    utils.AtomicGroup._rename = staticmethod(slow_rename)
    save = state.State.save

    def late_save(self):
        time.sleep(delay)  # the model file is in place, the state file not yet
        save(self)

    state.State.save = late_save


if __name__ == "__main__":
    delay = float(os.environ.get("RELIABILITY_SLOW_SAVE", "0") or 0)
    if delay:
        _slow_saves(delay)
    with installed_plugins():
        sys.exit(main(sys.argv[1:]))
