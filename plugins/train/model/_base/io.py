"""Model files: loading, atomic saving, backups and snapshots (:class:`IO`), and loading or
freezing sub-model weights (:class:`Weights`)."""
from __future__ import annotations

import json
import logging
import os
import shutil
import warnings
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from lib.errors import FaceswapError, ModelFileError
from lib.model.backup_restore import Backup
from lib.model.folder_lock import save_lock
from lib.model.model_folder import MODEL_EXTENSION, ModelFolder
from lib.model.save_error import save_error, write_error_in
from lib.utils import atomic_replace_group
from plugins.train.model._base.legacy import Legacy
from plugins.train.model._base.state import EMBEDDED_STATE

if TYPE_CHECKING:
    import argparse

    from plugins.train.model._base.state import State

__all__ = ["IO", "KERAS_3_12_UNKNOWN_KEYS", "Weights", "faceswap3_config",
           "get_all_sub_models", "rewrite_for_faceswap3"]

logger = logging.getLogger(__name__)

_EXTENSION = MODEL_EXTENSION
# Serialised objects that carry Python code: Keras's Lambda layer and its bytecode functions.
_CODE_CLASSES = ("Lambda", "__lambda__")
# Bounds on what a model archive may unpack to: Keras stores the weights uncompressed, so a
# genuine file unpacks to about its own size; its JSON members are a few MB at most.
_MAX_INFLATION = 4
_MAX_JSON_BYTES = 64 * 1024 * 1024

KERAS_3_12_UNKNOWN_KEYS: dict[str, dict[str, Any]] = {
    **{name: {"input_axes": None, "output_axes": None}
       for name in ("VarianceScaling", "GlorotNormal", "GlorotUniform", "HeNormal", "HeUniform",
                    "LecunNormal", "LecunUniform")},
    **{name: {"quantization_config": None} for name in ("Dense", "EinsumDense", "Embedding")},
    "BatchNormalization": {"renorm": False, "renorm_clipping": None, "renorm_momentum": 0.99},
    **{name: {"sliding_window": None, "use_gate": False}
       for name in ("MultiHeadAttention", "GroupQueryAttention")},
}
"""Config keys that the Keras we run (3.15) writes for its built-in classes and that Keras 3.12
(Faceswap 3's pin) does not accept, with the default value each holds when unused: the new
constructor arguments of those classes between Keras 3.12 and 3.15."""


def faceswap3_config(node: Any) -> bool:
    """Make a saved model config readable by Faceswap 3 (Keras 3.12 to 3.14), in place.

    Every Keras built-in object (``"module"`` starting with ``keras``) loses the config keys of
    :data:`KERAS_3_12_UNKNOWN_KEYS` that hold their default value: older Keras refuses them as
    unknown arguments ("unexpected keyword argument 'input_axes'"), and without them it builds
    the same object. A key holding another value is kept (the model then needs a newer Keras).

    Returns
    -------
    Whether anything was removed.
    """
    changed = False
    if isinstance(node, dict):
        config = node.get("config")
        defaults = KERAS_3_12_UNKNOWN_KEYS.get(node.get("class_name"), {})
        if isinstance(config, dict) and str(node.get("module") or "").startswith("keras"):
            for key, default in defaults.items():
                if key in config and config[key] == default:
                    del config[key]
                    changed = True
        for value in node.values():
            changed = faceswap3_config(value) or changed
    elif isinstance(node, list):
        for value in node:
            changed = faceswap3_config(value) or changed
    return changed


def rewrite_for_faceswap3(filename: Path) -> None:
    """Rewrite the ``config.json`` of the ``.keras`` archive ``filename`` with
    :func:`faceswap3_config` (the other members are copied unchanged, in order)."""
    with zipfile.ZipFile(filename) as archive:
        config = json.loads(archive.read("config.json"))
        if not faceswap3_config(config):
            return
        rewritten = filename.with_name(filename.name + ".fs3.keras")
        try:
            with zipfile.ZipFile(rewritten, "w") as target:
                for info in archive.infolist():
                    if info.filename == "config.json":
                        target.writestr(info, json.dumps(config))
                        continue
                    with archive.open(info) as source, target.open(info, "w") as member:
                        shutil.copyfileobj(source, member, 1 << 20)
        except BaseException:
            rewritten.unlink(missing_ok=True)
            raise
    os.replace(rewritten, filename)


def get_all_sub_models(model: keras.Model, models: list[keras.Model] | None = None
                       ) -> list[keras.Model]:
    """The model, then every model nested in it, depth first."""
    models = [] if models is None else models
    models.append(model)
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            get_all_sub_models(layer, models)
    return models


def _code_file_error(filename: Path, err: BaseException) -> ModelFileError:
    return ModelFileError(
        f"The model file '{filename}' contains code (a Lambda layer or another serialised Python "
        "function) and will not be loaded: running code from a model file could do anything. "
        "Model plugins build their layers from registered classes only; if you made this file "
        "yourself and trust it, rebuild it without Lambda layers. (Keras said: "
        f"{str(err).splitlines()[0] if str(err) else type(err).__name__})")


def _load_keras_file(filename: Path) -> keras.Model:
    """``keras.saving.load_model`` in safe mode (never runs code stored in the file), with every
    failure turned into a :class:`~lib.errors.ModelFileError` naming the file."""
    if not zipfile.is_zipfile(filename):
        raise _corrupt_file_error(filename, ValueError("not a zip archive"))
    inflated = _inflated_size_problem(filename)
    if inflated:
        raise _corrupt_file_error(filename, ValueError(inflated))
    code = _code_in_config(filename)
    if code:
        raise _code_file_error(filename, ValueError(f"the model config holds {code}"))
    try:
        return keras.saving.load_model(filename, compile=False, safe_mode=True)
    except ValueError as err:
        if "safe_mode" in str(err) or "arbitrary code" in str(err):
            raise _code_file_error(filename, err) from err
        raise _corrupt_file_error(filename, err) from err
    except Exception as err:
        raise _corrupt_file_error(filename, err) from err


def _inflated_size_problem(filename: Path) -> str:
    """Why the archive's members may not be unpacked (a zip bomb: more than
    :data:`_MAX_INFLATION` times the file's size, or more than :data:`_MAX_JSON_BYTES` for a JSON
    member), or ``""``. The sizes are those the archive declares, which are also the most its
    reader unpacks. An unreadable archive is left for Keras to report."""
    try:
        with zipfile.ZipFile(filename) as archive:
            members = archive.infolist()
        size = os.path.getsize(filename)
    except Exception:  # noqa: BLE001 - reported by the load itself
        return ""
    for member in members:
        if member.filename.endswith(".json") and member.file_size > _MAX_JSON_BYTES:
            return (f"its member '{member.filename}' would unpack to {member.file_size} bytes, "
                    f"more than the {_MAX_JSON_BYTES} allowed")
    total = sum(member.file_size for member in members)
    if total > _MAX_INFLATION * size + _MAX_JSON_BYTES:
        return (f"its members would unpack to {total} bytes from a file of {size} bytes (a "
                "damaged or malicious archive)")
    return ""


def _code_in_config(filename: Path) -> str:
    """What in the archive's ``config.json`` would carry code (a ``Lambda`` layer, a serialised
    Python function), or ``""``. An unreadable config is left for Keras to report."""
    try:
        with zipfile.ZipFile(filename) as archive:
            config = json.loads(archive.read("config.json"))
    except Exception:  # noqa: BLE001 - reported by the load itself
        return ""
    found = []

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("class_name") in _CODE_CLASSES:
                found.append(f"a {node['class_name']} layer ('{node.get('config', {}).get('name')}"
                             "')" if isinstance(node.get("config"), dict) else
                             f"a {node['class_name']}")
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(config)
    return ", ".join(found[:3])


def _corrupt_file_error(filename: Path, err: BaseException) -> ModelFileError:
    logger.debug("Loading '%s' failed: %r", filename, err)
    reason = str(err).strip().splitlines()[0][:300] if str(err).strip() else ""
    return ModelFileError(
        f"The model file '{filename}' could not be loaded ({type(err).__name__}: {reason}). It is "
        "probably truncated or corrupt. If a backup exists next to it "
        f"('{ModelFolder.backup_of(filename).name}'), restore it with `faceswap-original "
        f"restore -m {filename.parent}`; otherwise delete the file to start a new model.")


class IO:
    """Files of one model folder.

    Parameters
    ----------
    folder
        The model folder and the model's name (:class:`~lib.model.model_folder.ModelFolder`):
        every file name comes from it.
    is_predict
        Whether the model is loaded for inference (the file must then exist).
    save_optimizer
        ``"never"``, ``"always"`` or ``"exit"``: when the optimizer state goes into the file.
    get_model
        Returns the Keras model to save (it is built after the IO, so it is asked for at each
        save).
    get_state
        Returns the model's :class:`~plugins.train.model._base.state.State` (written with each
        save, and holding the lowest average loss that decides backups).
    """

    def __init__(self, folder: ModelFolder, is_predict: bool, save_optimizer: str,
                 get_model: Callable[[], keras.Model], get_state: Callable[[], State]) -> None:
        if not isinstance(folder, ModelFolder):
            raise TypeError(f"`folder` must be a ModelFolder. Received: {folder!r} of type "
                            f"{type(folder).__name__}")
        if save_optimizer not in ("never", "always", "exit"):
            raise ValueError(f"`save_optimizer` must be 'never', 'always' or 'exit'. "
                             f"Received: {save_optimizer!r}")
        self._folder = folder
        self._get_model = get_model
        self._get_state = get_state
        self._is_predict = is_predict
        self._save_optimizer = save_optimizer
        self._history: list[float] = []
        self._backup = Backup(folder)
        if not is_predict:
            self._remove_stale_temporary_files()

    @property
    def folder(self) -> ModelFolder:
        """The model folder value: every file name of the model."""
        return self._folder

    @property
    def backup(self) -> Backup:
        """Backups, snapshots and restores of the model's folder."""
        return self._backup

    def _remove_stale_temporary_files(self) -> None:
        """Delete the temporary files that a save killed half-way left behind (those of the
        model file, the state file, their backups and the preview:
        :meth:`~lib.model.model_folder.ModelFolder.temporary_prefixes`); the files they were
        to replace are intact."""
        if not self._folder.path.is_dir():
            return
        for path in self._folder.path.iterdir():
            if self._folder.is_temporary_name(path.name) and path.is_file():
                logger.info("Removing '%s', left by an interrupted save.", path)
                path.unlink(missing_ok=True)

    def upgrade_legacy(self) -> bool:
        """Upgrade a Faceswap 2 model (``<name>.h5`` and no ``<name>.keras``) to the Keras 3
        format, as Faceswap 3 does when it opens one (:class:`~plugins.train.model._base.
        legacy.Legacy`: the original folder is kept as ``<model_dir>_fs2_backup``).

        Returns
        -------
        Whether a model was upgraded.

        Raises
        ------
        lib.errors.ModelFileError
            When the Faceswap 2 model cannot be upgraded (the folder is left unchanged).
        """
        if not Legacy.needed(self._folder.path, self._folder.name):
            return False
        Legacy(self._folder.path, self._folder.name).upgrade()
        return True

    @property
    def model_dir(self) -> str:
        return str(self._folder.path)

    @property
    def filename(self) -> str:
        """``<model_dir>/<name>.keras``."""
        return str(self._folder.model_file)

    @property
    def model_exists(self) -> bool:
        return os.path.isfile(self.filename)

    @property
    def history(self) -> list[float]:
        """Total losses added since the last save."""
        return self._history

    @property
    def multiple_models_in_folder(self) -> list[str] | None:
        """The other plugins whose ``.keras`` (or Faceswap 2 ``.h5``) model file is in the
        folder, or ``None``.

        Faceswap compat: Faceswap compares only the common prefix of the file names with the
        plugin name (so ``other.keras`` passes beside ``original``); we compare whole names.
        """
        if not self._folder.path.is_dir():
            return None
        others = sorted(ModelFolder.model_stems(self._folder.path.iterdir())
                        - {self._folder.name})
        return others or None

    def load(self) -> keras.Model:
        """Load the saved model (without compiling it), in Keras's safe mode: a file that holds
        code (a ``Lambda`` layer) is refused, never run.

        The folder's save lock is held shared while the file is read
        (:mod:`lib.model.folder_lock`), so a load while another process writes a save is
        refused, naming that process.

        Raises
        ------
        lib.errors.ModelFileError
            When the file is missing in inference mode, truncated or corrupt, or holds code.
        lib.errors.FaceswapError
            When another process is writing a save of the model.
        """
        filename = Path(self.filename)
        if not filename.is_file():
            raise ModelFileError(f"No model file found at '{filename}'. Check the model folder, "
                                 "or train a model there first.")
        with save_lock(self._folder.path, shared=True):
            model = _load_keras_file(filename)
        logger.info("Loaded model from disk: '%s'", filename)
        return model

    def restore_optimizer(self, model: keras.Model) -> bool:
        """Restore the optimizer state saved in the model file into ``model``'s (compiled)
        optimizer, when the file holds one that matches it.

        The optimizer is built for the model's trainable variables, then the file's weights are
        read into the model and its optimizer (the model weights are those just loaded). The
        learning rate stays the configured one: it is a changeable option.

        Faceswap compat: Faceswap never reads the saved optimizer state back (api_spec quirk Q2),
        so every resume restarts Adam's moments and step count; we restore them.

        Returns
        -------
        ``True`` when the optimizer state was restored.
        """
        optimizer = model.optimizer
        learning_rate = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
        optimizer.build(model.trainable_variables)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.load_weights(self.filename)
        skipped = []
        for warning in caught:
            message = str(warning.message)
            if "optimizer" in message and "Skipping variable loading" in message:
                skipped.append(message)
            else:
                warnings.warn_explicit(warning.message, warning.category, warning.filename,
                                       warning.lineno)
        optimizer.learning_rate.assign(learning_rate)
        if not skipped:
            logger.info("Restored the optimizer state saved with the model (step %s).",
                        int(keras.ops.convert_to_numpy(optimizer.iterations)))
            return True
        if any("saved optimizer has 0 variables" in message for message in skipped):
            logger.info("The model file holds no optimizer state (save_optimizer = '%s'): the "
                        "optimizer starts afresh.", self._save_optimizer)
        else:
            logger.warning("The optimizer state saved with the model does not match the "
                           "configured optimizer (the optimizer, its options, precision or "
                           "frozen layers changed): the optimizer starts afresh.")
        logger.debug("Optimizer restore skipped: %s", skipped)
        return False

    def _include_optimizer(self, is_exit: bool, force_save_optimizer: bool) -> bool:
        return (force_save_optimizer or self._save_optimizer == "always"
                or (self._save_optimizer == "exit" and is_exit))

    def _detach_optimizer(self, include_optimizer: bool) -> bool:
        """Whether the optimizer stays out of the file: when asked to, and when it never stepped
        (it has no state worth saving, and would not match the built optimizer on resume)."""
        optimizer = getattr(self._get_model(), "optimizer", None)
        return optimizer is not None and (not include_optimizer
                                          or not getattr(optimizer, "built", True))

    def _write_model(self, temp: Path, include_optimizer: bool, state_json: str) -> None:
        """Write the model file to ``temp`` (renamed into place by the caller), with a copy of
        the state stored in the archive."""
        model = self._get_model()
        optimizer = getattr(model, "optimizer", None)
        detach = self._detach_optimizer(include_optimizer)
        if detach:
            # The .keras format has no include_optimizer flag: detach it while saving.
            model.optimizer = None
        try:
            model.save(temp)
        finally:
            if detach:
                model.optimizer = optimizer
        # Faceswap 3 (Keras 3.12) must be able to open what we write.
        rewrite_for_faceswap3(temp)
        # The state goes inside the model file too, so the weights and their iteration count
        # are renamed into place together (see State: the copy wins on a mismatch).
        with zipfile.ZipFile(temp, "a") as archive:
            archive.writestr(EMBEDDED_STATE, state_json)

    def _save_sizes(self, include_optimizer: bool, backup: bool, state_json: str
                    ) -> dict[str, int]:
        """The bytes a save writes, estimated before writing: the model file (its weights, and
        the optimizer's when included), the state file, and their backups."""
        model = self._get_model()
        variables = list(model.weights)
        optimizer = getattr(model, "optimizer", None)
        if optimizer is not None and not self._detach_optimizer(include_optimizer):
            variables += list(optimizer.variables)
        model_bytes = sum(int(np.prod(variable.shape)) * np.dtype(variable.dtype).itemsize
                          for variable in variables)
        sizes = {"model file": model_bytes, "state file": len(state_json.encode("utf-8"))}
        if backup:
            sizes["backups"] = sizes["model file"] + sizes["state file"]
        return sizes

    def _should_backup(self, average: float) -> bool:
        """Faceswap 3's rule: the first average is stored without a backup; later, back up (and
        store the average) whenever it is lower than the lowest seen."""
        state = self._get_state()
        if not state.lowest_avg_loss:
            state.lowest_avg_loss = average
            return False
        if average < state.lowest_avg_loss:
            state.lowest_avg_loss = average
            return True
        return False

    def save(self, is_exit: bool = False, force_save_optimizer: bool = False) -> None:
        """Save the model and its state; back both up when the average loss since the last save
        is the lowest seen.

        The save is one atomic group (:func:`lib.utils.atomic_replace_group`): the model file,
        the state file and, when backing up, their backups are written as temporary files and
        fsynced, and only then renamed into place. A failure while writing any of them (a full
        disk, an I/O error) changes none of the previous files and leaves no temporary file.
        The folder's save lock (:mod:`lib.model.folder_lock`) is held exclusively meanwhile,
        waiting up to a minute for another process that is reading the model.

        Parameters
        ----------
        is_exit
            The training session is ending (``save_optimizer="exit"`` includes the optimizer).
        force_save_optimizer
            Include the optimizer whatever ``save_optimizer`` says (for snapshots).

        Raises
        ------
        lib.model.save_error.SaveError
            When the disk refuses a write (what failed, the space the save needs, the folder).

        Faceswap compat: Faceswap writes the model, then the state, then copies each to its
        backup, each file on its own; a failure part way leaves a new model beside an old state
        or backup. Here they change together or not at all.
        """
        logger.debug("Saving Model...")
        average = float(np.mean(self._history)) if self._history else 0.0
        self._history.clear()
        state = self._get_state()
        lowest = state.lowest_avg_loss
        backup = bool(average) and self._should_backup(average)
        include_optimizer = self._include_optimizer(is_exit, force_save_optimizer)
        state_json = state.to_json()
        writing: Path | None = self._folder.model_file
        try:
            # readers (convert, export) are refused while the group is written
            with save_lock(self._folder.path), atomic_replace_group() as group:
                model_temp = group.temp_for(self._folder.model_file, suffix=_EXTENSION)
                self._write_model(model_temp, include_optimizer, state_json)
                writing = self._folder.state_file
                state_temp = group.temp_for(self._folder.state_file)
                state_temp.write_bytes(state_json.encode("utf-8"))
                if backup:
                    for temp, path in ((model_temp, self._folder.model_file),
                                       (state_temp, self._folder.state_file)):
                        writing = ModelFolder.backup_of(path)
                        shutil.copyfile(temp, group.temp_for(writing))
                writing = None  # the group's fsyncs and renames
        except Exception as err:
            state.lowest_avg_loss = lowest  # no backup was made
            cause = write_error_in(err)
            if cause is None:
                raise
            raise save_error("the model", self._folder.path, cause,
                             self._save_sizes(include_optimizer, backup, state_json),
                             target=writing) from err
        message = ("[Saved optimizer state for Snapshot]" if force_save_optimizer
                   else "[Saved model]")
        if average:
            message += f" - Average total loss since last save: {average:.5f}"
        if backup:
            message += " [Model backed up]"
        logger.info(message)

    def snapshot(self, iterations: int | None = None) -> None:
        """Copy the model folder to ``<model_dir>_snapshot_<iterations>_iters``
        (:meth:`~lib.model.backup_restore.Backup.snapshot_models`).

        Parameters
        ----------
        iterations
            The label; by default Faceswap's, the model's iteration count less one (Faceswap's
            trainer snapshots one iteration after the save).
        """
        if iterations is None:
            iterations = self._get_state().iterations - 1
        self._backup.snapshot_models(iterations)  # a failed write raises a SaveError


class Weights:
    """Freeze sub-models, and load sub-model weights from another model file.

    Parameters
    ----------
    model
        The plugin's Keras model.
    model_name
        The Keras model's name (a weights file must hold a model of that name).
    arguments
        The command line arguments: ``freeze_weights`` (bool) and ``load_weights`` (a ``.keras``
        path) switch the features on.
    freeze_layers, load_layers
        The sub-models that ``freeze_weights`` freezes and ``load_weights`` loads.
    """

    def __init__(self, model: keras.Model, model_name: str, arguments: argparse.Namespace,
                 freeze_layers: Sequence[str], load_layers: Sequence[str]) -> None:
        self._model = model
        self._model_name = model_name
        self._do_freeze = bool(getattr(arguments, "freeze_weights", False))
        self._weights_file = self._check_weights_file(getattr(arguments, "load_weights", None))
        self._freeze_layers = list(freeze_layers)
        self._load_layers = list(load_layers)

    @staticmethod
    def _check_weights_file(path: Any) -> Path | None:
        if not path:
            return None
        weights_file = Path(path)
        if not weights_file.exists():
            raise FaceswapError(f"Load weights selected, but the path '{path}' does not exist. "
                                "Please check and try again.")
        if weights_file.suffix.lower() != _EXTENSION:
            raise FaceswapError(f"Load weights selected, but the path '{path}' is not a valid "
                                f"Keras model ({_EXTENSION}) file. Please check and try again.")
        return weights_file

    def freeze(self) -> None:
        """Make every sub-model trainable, then freeze the named ones when asked to."""
        models = get_all_sub_models(self._model)
        for model in models:
            model.trainable = True
        if not self._do_freeze:
            return
        remaining = list(self._freeze_layers)
        for model in models[1:]:
            if model.name in remaining:
                logger.info("Freezing weights for '%s' in model '%s'", model.name,
                            self._model_name)
                model.trainable = False
                remaining.remove(model.name)
        if remaining:
            logger.warning("Could not find the sub-model(s) %s to freeze in model '%s'.",
                           remaining, self._model_name)

    def load(self, model_exists: bool) -> None:
        """Copy the weights of the ``load_layers`` sub-models from the weights file.

        Raises
        ------
        lib.errors.FaceswapError
            If the file holds another kind of model, no sub-models, or nothing could be loaded.
        """
        if self._weights_file is None:
            return
        if model_exists:
            logger.warning("Ignoring weights file '%s' as this model is resuming.",
                           self._weights_file)
            return
        source = _load_keras_file(self._weights_file)
        source_models = {model.name: model for model in get_all_sub_models(source)[1:]}
        if not source_models:
            raise FaceswapError(f"The weights file '{self._weights_file}' holds no sub-models "
                                "to load weights from.")
        if source.name != self._model_name:
            raise FaceswapError(f"You are attempting to load weights from a '{source.name}' "
                                f"model into a '{self._model_name}' model. This is not "
                                "supported.")
        targets = {model.name: model for model in get_all_sub_models(self._model)[1:]}
        loaded = skipped = 0
        for name in self._load_layers:
            if name not in targets or name not in source_models:
                logger.warning("Sub-model '%s' is missing from the model or the weights file; "
                               "not loading it.", name)
                continue
            source_layers = {layer.name: layer for layer in source_models[name].layers}
            for layer in targets[name].layers:
                if not layer.weights:
                    continue
                other = source_layers.get(layer.name)
                if other is None or [tuple(w.shape) for w in other.weights] != [
                        tuple(w.shape) for w in layer.weights]:
                    logger.warning("Skipping layer '%s' of '%s': not found, or of another "
                                   "shape, in the weights file.", layer.name, name)
                    skipped += 1
                    continue
                layer.set_weights(other.get_weights())
                loaded += 1
        if not loaded:
            raise FaceswapError(f"No weights were successfully loaded from "
                                f"'{self._weights_file}'. Check that it holds a "
                                f"'{self._model_name}' model with the same structure.")
        if skipped:
            logger.warning("%s layers were skipped when loading weights.", skipped)
        logger.info("Loaded weights of %s layers from '%s'", loaded, self._weights_file)
