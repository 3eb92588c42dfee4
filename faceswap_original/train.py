"""The ``train`` command: build (or resume) a model plugin and train it on two face folders."""
from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

from lib.errors import FaceswapError
from lib.model.folder_lock import train_lock

__all__ = ["StopRequest", "train", "run_training"]

logger = logging.getLogger(__name__)


class StopRequest:
    """Turns SIGINT (Ctrl+C) and SIGTERM into a request to stop after the current step; a second
    Ctrl+C stops at once (the model files keep the last save)."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        logger.info("Stop requested (%s): finishing the current step, then saving. Press "
                    "Ctrl+C again to stop without saving.", signal.Signals(signum).name)

    def __enter__(self) -> StopRequest:
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *_exc: Any) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def __call__(self) -> bool:
        return self.requested


def _check_folders(args: argparse.Namespace) -> None:
    from lib.training.generator import get_image_paths

    for side, folder in (("A", args.input_a), ("B", args.input_b)):
        path = Path(folder)
        if not path.is_dir():
            raise FaceswapError(f"The side {side} input folder '{folder}' does not exist or is "
                                "not a folder. Give a folder of aligned face images with "
                                f"-{side}.")
    timelapse = (getattr(args, "timelapse_input_a", None),
                 getattr(args, "timelapse_input_b", None))
    if any(timelapse) and not all(timelapse):
        raise FaceswapError("A timelapse needs faces of both sides: give -x and -y together "
                            "(or neither).")
    for side, folder in zip("AB", timelapse, strict=True):
        if folder and not Path(folder).is_dir():
            raise FaceswapError(f"The timelapse side {side} folder '{folder}' does not exist or "
                                f"is not a folder. Give a folder of aligned face images with "
                                f"-{'x' if side == 'A' else 'y'}.")
        if folder:
            get_image_paths(folder)  # an empty folder is an error before the model is built
    model_dir = Path(args.model_dir)
    if model_dir.exists() and not model_dir.is_dir():
        raise FaceswapError(f"The model folder '{model_dir}' exists but is not a folder. Give "
                            "a folder (new or holding a model) with -m.")


class _Status:
    """The live one-line status (a progress bar when the iteration count is known)."""

    def __init__(self, total: int | None, every: int) -> None:
        self._total = total
        self._every = max(1, every)
        self._tty = sys.stdout.isatty()
        self._count = 0

    def __call__(self, trainer: Any) -> None:
        self._count += 1
        line = trainer.status_line()
        if self._total:
            done = self._count / self._total
            bar = "#" * int(20 * done) + "-" * (20 - int(20 * done))
            line += f" [{bar}] {self._count}/{self._total}"
        if self._tty:
            sys.stdout.write("\r" + line[:200] + "\033[K")
            sys.stdout.flush()
        elif self._count == 1 or self._count % self._every == 0 or self._count == self._total:
            print(line, flush=True)

    def close(self) -> None:
        if self._tty and self._count:
            sys.stdout.write("\n")
            sys.stdout.flush()


def run_training(args: argparse.Namespace, stop: StopRequest | None = None,
                 status_every: int = 10) -> Any:
    """Build the model and train it as ``args`` say; returns the model plugin.

    Raises
    ------
    lib.errors.FaceswapError
        For bad input or a failed step (nothing in the model folder has changed then, except
        by saves made before the failure), or when another process trains or restores the
        model folder (its train lock, :mod:`lib.model.folder_lock`).
    """
    from lib.training.generator import get_image_paths

    _check_folders(args)
    # The batch size is checked by the trainer (and -b by the same check); a side with fewer
    # usable faces than a batch is refused by the feeder, which counts the faces it can use.
    images = {"a": get_image_paths(args.input_a), "b": get_image_paths(args.input_b)}
    with train_lock(args.model_dir):
        return _train_locked(args, images, stop, status_every)


def _train_locked(args: argparse.Namespace, images: dict[str, list[str]],
                  stop: StopRequest | None, status_every: int) -> Any:
    """:func:`run_training` once the model folder's train lock is held."""
    from lib.training.generator import Feeder
    from plugins.plugin_loader import PluginLoader
    from plugins.train.lr_finder import handle_lr_finder
    from plugins.train.training import Trainer, feeder_options, train_iterations

    model = PluginLoader.get_model(args.trainer)(args.model_dir, args, predict=False)
    model.build()
    if getattr(args, "summary", False):
        return model
    plugin = PluginLoader.get_trainer()(model, args.batch_size)
    preview = _preview_path(args, model.name)
    with contextlib.ExitStack() as stack:
        feeder = stack.enter_context(Feeder(
            images, model, plugin.batch_size, feeder_options(model, args),
            seed=getattr(args, "seed", None)))
        if handle_lr_finder(plugin, feeder, getattr(args, "use_lr_finder", False)):
            return model  # lr_finder_mode = graph_and_exit
        trainer = Trainer(plugin, feeder, preview_path=preview,
                          timelapse=_timelapse(args, model, stack))
        status = _Status(args.iterations if getattr(args, "progress", True) else None,
                         status_every)
        started = time.monotonic()
        try:
            steps = train_iterations(trainer, args.iterations, args.save_interval,
                                     args.snapshot_interval, should_stop=stop, on_step=status)
        finally:
            status.close()
    logger.info("Trained %s iterations in %.0f s (model total: %s). Model saved in '%s'.",
                steps, time.monotonic() - started, model.iterations, model.io.model_dir)
    return model


def _preview_path(args: argparse.Namespace, name: str) -> Path | None:
    """Where the preview image goes: ``--preview-dir``, else ``training_preview.png`` in the
    current folder with ``-w`` (Faceswap writes that file beside faceswap.py), else ``None``
    (the model folder's ``<name>_preview.png``)."""
    from lib.model.model_folder import ModelFolder

    if getattr(args, "preview_dir", None):
        path: Path | None = ModelFolder(args.preview_dir, name).preview_file
    elif getattr(args, "write_image", False):
        path = Path.cwd() / "training_preview.png"
    else:
        path = None
    if getattr(args, "preview", False):
        logger.info("There is no preview window in faceswap-original (-p): the preview image is "
                    "written to '%s' at every save.",
                    path or ModelFolder("<model dir>", name).preview_file)
    return path


def _timelapse(args: argparse.Namespace, model: Any, stack: contextlib.ExitStack
               ) -> tuple[Any, Path] | None:
    """The timelapse's feeder (its fixed faces, no workers) and output folder, when asked for."""
    from lib.training.generator import Feeder, get_image_paths
    from plugins.train.training import feeder_options, preview_count

    if not getattr(args, "timelapse_input_a", None):
        return None
    # only the faces the timelapse shows are read (a whole training folder may be given)
    faces = {side: get_image_paths(folder)[:preview_count()]
             for side, folder in (("a", args.timelapse_input_a), ("b", args.timelapse_input_b))}
    folder = Path(args.timelapse_output or Path(args.model_dir) / "timelapse")
    folder.mkdir(parents=True, exist_ok=True)
    feeder = stack.enter_context(Feeder(faces, model, 1, feeder_options(model, args), seed=0,
                                        workers=0))
    logger.info("Timelapse images of '%s' and '%s' go to '%s'", args.timelapse_input_a,
                args.timelapse_input_b, folder)
    return feeder, folder


def train(args: argparse.Namespace) -> int:
    """The ``train`` command."""
    with StopRequest() as stop:
        try:
            run_training(args, stop)
        except KeyboardInterrupt:
            print("\nStopped without saving: the model folder holds the last save.",
                  file=sys.stderr)
            return 130
    return 0
