"""The ``restore`` command."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from lib.errors import FaceswapError
from lib.model.backup_restore import Backup
from lib.model.folder_lock import train_lock
from lib.model.model_folder import ModelFolder

__all__ = ["model_name_in_folder", "restore"]

logger = logging.getLogger(__name__)


def model_name_in_folder(model_dir: str | Path, backups: bool = False) -> str:
    """The plugin name of the one model in ``model_dir``, from its ``<name>_state.json`` (or,
    with ``backups``, its ``<name>_state.json.bk``).

    Raises
    ------
    lib.errors.FaceswapError
        When the folder is missing or holds no state file, or several.
    """
    folder = Path(model_dir)
    if not folder.is_dir():
        raise FaceswapError(f"The model folder '{folder}' does not exist. Check the path given "
                            "with -m/--model-dir.")
    names = ModelFolder.names_in(folder, backups=backups)
    if len(names) != 1:
        pattern = ModelFolder.state_file_pattern(backups)
        kind = f"backed-up state files ({pattern})" if backups else f"state files ({pattern})"
        raise FaceswapError(f"There should be 1 state file in the model folder '{folder}'. "
                            f"{len(names)} {kind} were found"
                            + (f": {', '.join(names)}." if names else ". Is this a model "
                               "folder?"))
    return names[0]


def restore(args: argparse.Namespace) -> int:
    """Roll the model folder back to its backups."""
    name = model_name_in_folder(args.model_dir, backups=True)
    with train_lock(args.model_dir, purpose="train"):  # never under a live trainer
        Backup(ModelFolder(args.model_dir, name)).restore()
    logger.info("Restored the '%s' model in '%s' from its backups.", name, args.model_dir)
    print(f"Restored the '{name}' model in '{args.model_dir}' from its backups.")
    return 0

