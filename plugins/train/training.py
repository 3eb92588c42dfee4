"""Drive a model plugin through training: batches from the feeder, one step each, losses,
TensorBoard logs, the learning-rate warm-up and previews (Faceswap's ``plugins.train.training``).
"""
from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from lib.errors import FaceswapError
from lib.training.augmentation import AugmentationOptions
from lib.training.generator import FeederOptions
from lib.training.tensorboard import EventWriter
from lib.utils import get_module_objects
from plugins.train.nan_recovery import NanRollback
from plugins.train.trainer import _display

if TYPE_CHECKING:
    import argparse

    from lib.training.generator import Feeder
    from plugins.train.trainer._base import TrainerBase

logger = logging.getLogger(__name__)


class LearningRateWarmup:
    """Ramp the learning rate up linearly over the first ``steps`` training steps.

    Step ``n`` (1-based) trains at ``n / steps * target_learning_rate``, so the first step uses
    ``target / steps`` and step ``steps`` the target; nothing happens when ``steps`` is 0.

    Parameters
    ----------
    model
        The compiled Keras model (its optimizer's learning rate is set).
    target_learning_rate
        The learning rate to reach.
    steps
        The number of warm-up steps.
    """

    def __init__(self, model: keras.Model, target_learning_rate: float, steps: int) -> None:
        if steps < 0:
            raise ValueError(f"`steps` must be 0 or more. Received: {steps!r}")
        self._model = model
        self._target = float(target_learning_rate)
        self._steps = int(steps)
        self._step = 0
        self._report = {int(self._steps * i / 10) for i in range(1, 11)}

    @property
    def finished(self) -> bool:
        return self._step >= self._steps

    def scale_target(self, factor: float) -> None:
        """Multiply the learning rate to reach by ``factor`` (a NaN rollback lowers it)."""
        self._target *= float(factor)

    def __call__(self) -> None:
        if self.finished:
            return
        self._step += 1
        learning_rate = self._step / self._steps * self._target
        self._model.optimizer.learning_rate.assign(learning_rate)
        if self._step == 1:
            logger.info("Learning rate warm-up: start %.3g, target %.3g, over %s steps",
                        learning_rate, self._target, self._steps)
        elif self._step in self._report:
            logger.verbose("Learning rate warm-up: step %s of %s, learning rate %.3g",
                           self._step, self._steps, learning_rate)
        if self._step == self._steps:
            logger.info("Learning rate warm-up finished at %.3g", learning_rate)


class Trainer:
    """Train a built model plugin with a trainer plugin and a data feeder.

    Parameters
    ----------
    plugin
        The trainer plugin (it holds the model plugin and the batch size).
    feeder
        The data feeder for both sides (:class:`lib.training.generator.Feeder`).
    preview_path
        Where to write the preview PNG at every save (``None`` for
        ``<model_dir>/<name>_preview.png``).
    """

    def __init__(self, plugin: TrainerBase, feeder: Feeder,
                 preview_path: str | Path | None = None,
                 timelapse: tuple[Feeder, str | Path] | None = None) -> None:
        self._plugin = plugin
        self._model = plugin.model
        self._feeder = feeder
        self._timelapse = None if timelapse is None else (timelapse[0], Path(timelapse[1]))
        self._preview_path = (Path(preview_path) if preview_path
                              else self._model.io.folder.preview_file)
        optimizer = self._model.model.optimizer
        self._warmup = LearningRateWarmup(
            self._model.model, float(keras.ops.convert_to_numpy(optimizer.learning_rate)),
            self._model.warmup_steps)
        self._rollback = _nan_rollback(self._model)
        self._model.state.add_session_batchsize(plugin.batch_size)
        self._log_failed = False
        self._tensorboard = self._set_tensorboard()
        self._start_time = time.monotonic()
        self._session_steps = 0
        self._last_loss: np.ndarray | None = None

    @property
    def last_loss(self) -> np.ndarray | None:
        """``[total, <one per output>]`` of the last training step."""
        return self._last_loss

    @property
    def iterations(self) -> int:
        """The model's total iteration count."""
        return self._model.iterations

    @property
    def examples_per_second(self) -> float:
        elapsed = time.monotonic() - self._start_time
        return 2 * self._plugin.batch_size * self._session_steps / elapsed if elapsed else 0.0

    def _set_tensorboard(self) -> EventWriter | None:
        if self._model.state.current_session.get("no_logs"):
            logger.verbose("TensorBoard logging disabled")
            return None
        log_dir = self._model.io.folder.session_logs_dir(self._model.state.session_id)
        logger.debug("TensorBoard logs in '%s'", log_dir)
        try:
            return EventWriter(log_dir)
        except OSError as err:
            self._log_failed = True
            logger.warning("The TensorBoard log could not be started in '%s' (%s). Training "
                           "goes on; the log starts at the first save that can write it.",
                           log_dir, _reason(err))
            return None

    def _log(self, write: Callable[[EventWriter], None]) -> None:
        """One write of the TensorBoard log. A write the disk refuses (full, I/O error) is a
        warning: training goes on, the file is closed (the events before the failure stay
        readable), and the log resumes in a new file of the session at the next save that can
        write one."""
        if self._tensorboard is None:
            return
        try:
            write(self._tensorboard)
        except OSError as err:
            writer, self._tensorboard, self._log_failed = self._tensorboard, None, True
            logger.warning("Writing the TensorBoard log '%s' failed (%s). Training goes on; the "
                           "log resumes in a new file at the next save that can write it.",
                           writer.path, _reason(err))
            with contextlib.suppress(OSError):
                writer.close()

    def _reopen_log(self) -> None:
        """After a failed log write, try a new event file (at a save)."""
        if self._log_failed and self._tensorboard is None:
            self._log_failed = False
            self._tensorboard = self._set_tensorboard()

    def train_one_step(self) -> np.ndarray:
        """One iteration: count it, train on one batch, log and check the losses.

        Returns
        -------
        ``[total, <loss of each output>]``.

        Raises
        ------
        lib.errors.FaceswapError
            When a loss is NaN or infinite and ``nan_protection`` is on (and no NaN rollback,
            ``nan_rollbacks``, is left). Nothing is saved: the last saved model stays the last
            good one. With a rollback left, the model goes back to the last save instead
            (:mod:`plugins.train.nan_recovery`) and the losses of the skipped batch are
            returned.
        """
        from plugins.train import train_config as cfg

        self._model.state.increment_iterations()
        inputs, targets = self._feeder.get_batch()
        self._warmup()
        losses = self._plugin.train_batch(inputs, targets)
        self._session_steps += 1
        loss = np.concatenate([[float(np.sum(losses))], losses]).astype("float32")
        iteration = self._model.iterations
        if self._tensorboard is not None:
            scalars = {f"batch_{name}": float(value)
                       for name, value in zip(self._model.state.loss_names, loss, strict=False)}
            self._log(lambda writer: writer.add_scalars(scalars, iteration))
        if not np.all(np.isfinite(loss)) and self._rollback.available:
            self._rollback.roll_back(iteration, self._warmup)
            self._model.io.history.clear()  # the steps since the save are undone
            self._last_loss = None
            return loss
        if cfg.nan_protection() and not np.all(np.isfinite(loss)):
            if self._rollback.enabled:
                logger.error("No NaN rollback is left (%s used this session, nan_rollbacks = "
                             "%s)", self._rollback.used, self._rollback.limit)
            names = self._model.state.loss_names
            details = ", ".join(f"{name}: {value}" for name, value in zip(names, loss,
                                                                          strict=False))
            raise FaceswapError(
                f"A NaN or infinite loss was detected at iteration {iteration} ({details}). "
                "Training stopped without saving, so the model files hold the last good save. "
                "Resume from it, perhaps with a lower learning rate, gradient clipping "
                "('gradient_clipping' in [global.optimizer]) or without mixed precision.")
        half = len(losses) // 2
        self._model.add_history(np.array([np.sum(losses[:half]), np.sum(losses[half:])]))
        self._last_loss = loss
        return loss

    def status_line(self) -> str:
        """``[hh:mm:ss] [#iteration] Loss A: x, Loss B: y | face_a: ... | N ex/s``."""
        elapsed = int(time.monotonic() - self._start_time)
        stamp = f"{elapsed // 3600:02d}:{elapsed // 60 % 60:02d}:{elapsed % 60:02d}"
        loss = self._last_loss
        if loss is None:
            return f"[{stamp}] [#{self._model.iterations:05d}]"
        outputs = loss[1:]
        half = len(outputs) // 2
        per_output = " ".join(f"{name}: {value:.5f}" for name, value in
                              zip(self._model.state.loss_names[1:], outputs, strict=False))
        return (f"[{stamp}] [#{self._model.iterations:05d}] "
                f"Loss A: {np.sum(outputs[:half]):.5f}, Loss B: {np.sum(outputs[half:]):.5f} "
                f"| {per_output} | {self.examples_per_second:.1f} ex/s")

    def save(self, is_exit: bool = False) -> None:
        """Save the model (and state), write the preview (as its PNG and, with the losses, into
        the session's TensorBoard event file, tag ``preview`` at the iteration count), flush the
        logs and, when a timelapse is set, add its image.

        A failed write of the model, state or backups (a full disk, an I/O error) stops training
        with a :class:`~lib.model.save_error.SaveError` (the previous save is intact); a failed
        write of the preview, the timelapse image or the TensorBoard log is a warning, and
        training goes on.
        """
        self._model.io.save(is_exit=is_exit)
        self._rollback.remember()
        image = self._preview_image(self._feeder)
        if image is not None:
            self._write_optional_image(image, self._preview_path, "Preview")
        self._reopen_log()
        iteration = self._model.iterations
        if image is not None:
            self._log(lambda writer: writer.add_image("preview", image[..., ::-1], iteration))
        self._log(lambda writer: writer.flush())
        timelapse = self._timelapse_image()
        if timelapse is not None:
            self._write_optional_image(*timelapse, "Timelapse image")

    def snapshot(self) -> None:
        """Copy the model folder, as just saved, to ``<model_dir>_snapshot_<iterations>_iters``.

        Faceswap calls ``io.snapshot()`` one iteration after the save, which labels the folder
        ``iterations - 1``; we snapshot right after the save, labelled with the saved count
        (through the model's IO, whose backup object also keeps the backups).
        """
        self._model.io.snapshot(self._model.iterations)

    def write_preview(self) -> Path | None:
        """Write the preview PNG: per side, original / reconstruction / swap."""
        return self._write_preview_of(self._feeder, self._preview_path, "Preview")

    def write_timelapse(self) -> Path | None:
        """Add ``<timelapse folder>/<iterations, 8 digits>.png``: the preview of the timelapse
        feeder's fixed faces (the same faces every time, so the images show the learning).

        Faceswap compat: Faceswap names each timelapse image by the Unix time of the save (as a
        JPEG); we name it by the model's iteration count (as a PNG), which sorts in the order of
        training and says how far training had got.
        """
        timelapse = self._timelapse_image()
        return None if timelapse is None else self._write_image(*timelapse, "Timelapse image")

    def _timelapse_image(self) -> tuple[np.ndarray, Path] | None:
        """The timelapse image and its path, or ``None`` without a timelapse (or faces)."""
        if self._timelapse is None:
            return None
        feeder, folder = self._timelapse
        image = self._preview_image(feeder)
        return None if image is None else (image, folder / f"{self._model.iterations:08d}.png")

    def _write_preview_of(self, feeder: Feeder, path: Path, what: str) -> Path | None:
        """Compose the preview of ``feeder``'s fixed faces and write it to ``path``."""
        image = self._preview_image(feeder)
        return None if image is None else self._write_image(image, path, what)

    def _preview_image(self, feeder: Feeder) -> np.ndarray | None:
        """The preview (BGR uint8) of ``feeder``'s fixed faces; ``None`` without faces."""
        samples = feeder.generate_preview(preview_count())
        if not samples:
            return None
        return _display.compose_preview(self._model, samples)

    @staticmethod
    def _write_image(image: np.ndarray, path: Path, what: str) -> Path:
        _display.write_png(path, image)
        logger.verbose("%s written to '%s'", what, path)
        return path

    def _write_optional_image(self, image: np.ndarray, path: Path, what: str) -> Path | None:
        """:meth:`_write_image`, where a write the disk refuses is a warning (the previous image
        stays as it was): the preview and the timelapse are not the model."""
        try:
            return self._write_image(image, path, what)
        except OSError as err:
            logger.warning("%s '%s' could not be written (%s). Training goes on; the previous "
                           "image, if any, is unchanged.", what, path, _reason(err))
            return None

    def close(self) -> None:
        """Close the TensorBoard writer (the feeders belong to the caller)."""
        self._log(lambda writer: writer.close())
        self._tensorboard = None


def _reason(err: OSError) -> str:
    """``"No space left on device"`` for an OSError with an errno, else its message."""
    return (os.strerror(err.errno) if err.errno is not None else str(err)) or type(err).__name__


def _nan_rollback(model: Any) -> NanRollback:
    """The NaN rollback of ``[global]``'s ``nan_rollbacks`` and ``nan_rollback_factor``."""
    from plugins.train import train_config as cfg
    return NanRollback(model, cfg.nan_rollbacks(), cfg.nan_rollback_factor())


def feeder_options(model: Any = None, args: argparse.Namespace | None = None,
                   **changes: Any) -> FeederOptions:
    """The feeder's options from the training config (as loaded now) and the command line.

    Parameters
    ----------
    model
        The model plugin: its ``coverage_ratio`` is used when given (else ``coverage`` of the
        config).
    args
        The ``train`` command's arguments: ``warp_to_landmarks`` (``-M``), ``no_flip``
        (``-P``), ``no_warp`` (``-W``) and ``no_augment_color`` (``-c``) are read from it when
        present (all default to False).
    changes
        Fields of :class:`~lib.training.generator.FeederOptions` to set instead (tests, tools).

    Returns
    -------
    The frozen options value :class:`~lib.training.generator.Feeder` takes.
    """
    from plugins.train import train_config as cfg
    from plugins.train.model._base.settings import Loss
    from plugins.train.trainer import trainer_config as tcfg

    loss = cfg.Loss
    coverage = (float(model.coverage_ratio) if model is not None
                and hasattr(model, "coverage_ratio") else cfg.coverage() / 100)
    augmentation = AugmentationOptions(**{
        name: getattr(tcfg, name)() for name in (
            "zoom_amount", "rotation_range", "shift_range", "flip_chance", "color_lightness",
            "color_ab", "color_clahe_chance", "color_clahe_max_size")})
    values: dict[str, Any] = {
        "centering": cfg.centering(), "coverage": coverage,
        "vertical_offset": cfg.vertical_offset() / 100, "mask_type": loss.mask_type(),
        "mask_blur_kernel": int(loss.mask_blur_kernel()),
        "mask_threshold": int(loss.mask_threshold()),
        "mask_dilation": float(loss.mask_dilation()),
        "mask_channels": tuple(Loss.mask_channels()),
        "learn_mask": bool(loss.learn_mask()),
        "penalized_mask_loss": bool(loss.penalized_mask_loss()),
        "augmentation": augmentation}
    for name in ("warp_to_landmarks", "no_flip", "no_warp", "no_augment_color"):
        values[name] = bool(getattr(args, name, False)) if args is not None else False
    values.update(changes)
    return FeederOptions(**values)


def preview_count() -> int:
    """The number of faces per side a preview shows (``preview_images`` of the trainer
    config)."""
    from plugins.train.trainer import trainer_config
    return max(1, math.floor(trainer_config.preview_images()))


def train_iterations(trainer: Trainer, iterations: int, save_interval: int,
                     snapshot_interval: int, should_stop: Any = None,
                     on_step: Any = None) -> int:
    """Faceswap's outer loop: ``iterations`` steps, a save at the session's first step and every
    ``save_interval`` steps, a snapshot after the save at every ``snapshot_interval`` total
    iterations, and a save on exit (also when ``should_stop()`` turns true).

    Returns
    -------
    The number of steps run.
    """
    steps = 0
    try:
        for iteration in range(1, iterations + 1):
            trainer.train_one_step()
            steps += 1
            if on_step is not None:
                on_step(trainer)
            stop = bool(should_stop and should_stop())
            last = stop or iteration == iterations
            snapshot = bool(snapshot_interval) and trainer.iterations % snapshot_interval == 0
            if last:
                trainer.save(is_exit=True)
            elif iteration == 1 or iteration % save_interval == 0 or snapshot:
                trainer.save(is_exit=False)
            if snapshot:
                trainer.snapshot()
            if stop:
                break
    finally:
        trainer.close()
    return steps


__all__ = get_module_objects(__name__)
