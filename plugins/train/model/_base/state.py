"""The state of a model between training runs: the ``<name>_state.json`` file, :class:`State`.

The state file records the training sessions, the total iteration count, the lowest average loss
(for backups), the layers that mixed precision may switch, the learning-rate finder's result and
the configuration the model was created with. Options declared ``fixed`` take the value stored
here when a model is resumed; changeable options always take the value of the configuration file.
"""
from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import re
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lib.config import ConfigItem
from lib.errors import ConfigError, ModelFileError
from lib.model.model_folder import ModelFolder
from lib.utils import write_atomic
from plugins.train import train_config

__all__ = ["EMBEDDED_STATE", "PROGRAM", "State", "program_version", "read_embedded_state"]

logger = logging.getLogger(__name__)

# Faceswap compat: values used for options missing from an old state file, i.e. the behaviour of
# the Faceswap release that created the model, rather than today's defaults.
_LEGACY_DEFAULTS: dict[str, Any] = {"centering": "legacy",
                                    "mask_loss_function": "mse",
                                    "optimizer": "adam",
                                    "mixed_precision": False,
                                    "coverage": 62.5}
# Changeable options whose change means the model must be rebuilt (its layers' dtypes differ).
_REBUILD_OPTIONS = ("mixed_precision",)
EMBEDDED_STATE = "faceswap_state.json"
"""The member of a ``.keras`` archive that holds a copy of the state saved with the weights."""
PROGRAM = "faceswap-original"
"""The program name recorded in the state's ``written_by`` stamp."""
_STAMP = "written_by"
_MAX_STATE_BYTES = 64 * 1024 * 1024  # a genuine state file is a few kB
# A genuine state nests 5 levels deep and holds about 50 values a session.
_MAX_DEPTH = 16
_MAX_VALUES = 1_000_000


def program_version() -> str | None:
    """The installed version of this program, or ``None`` when it is not installed (run from
    a source tree without ``pip install``)."""
    try:
        return importlib.metadata.version(PROGRAM)
    except importlib.metadata.PackageNotFoundError:
        return None


def _version_tuple(version: str) -> tuple[int, ...]:
    """``"1.2.3rc1"`` -> ``(1, 2, 3)``: the leading number of each dot-separated part, up to the
    first part without one."""
    numbers = []
    for part in str(version).split("."):
        match = re.match(r"\d+", part)
        if match is None:
            break
        numbers.append(int(match.group()))
    return tuple(numbers)


def read_embedded_state(model_file: str | Path) -> dict[str, Any] | None:
    """The copy of the state stored inside a ``.keras`` model file.

    Returns
    -------
    The state document, or ``None`` when the file is missing, not a zip archive, holds no copy
    (a model saved by another program) or the copy is unreadable; loading the model itself
    reports a damaged file.
    """
    try:
        with zipfile.ZipFile(model_file) as archive:
            if EMBEDDED_STATE not in archive.namelist():
                return None
            if archive.getinfo(EMBEDDED_STATE).file_size > _MAX_STATE_BYTES:
                raise ValueError(f"the copy is larger than {_MAX_STATE_BYTES} bytes")
            state = json.loads(archive.read(EMBEDDED_STATE).decode("utf-8"))
    except (OSError, zipfile.BadZipFile, UnicodeDecodeError, ValueError, EOFError,
            RuntimeError) as err:
        logger.debug("No usable state copy in '%s': %s", model_file, err)
        return None
    if not isinstance(state, dict) or not isinstance(state.get("iterations"), int):
        return None
    return state


class State:
    """The state of a model, stored as ``<model_dir>/<model_name>_state.json``.

    Creating a :class:`State` reads an existing state file (if any), merges its stored
    configuration with the live training configuration (:mod:`plugins.train.train_config`) and
    opens a new training session. Nothing is written until :meth:`save`.

    Merging the configuration of an existing model:

    1. Legacy keys of older Faceswap releases are renamed (``dssim_loss``, ``l2_reg_term``,
       ``clipnorm``, ``autoclip``, ``mask_type`` values ``facehull``/``dfl_full``, dotted
       ``mixed_precision_layers`` names); if anything was renamed the file is saved at once.
    2. Options missing from the stored configuration are added with their current value, except
       ``centering`` (``"legacy"``), ``mask_loss_function`` (``"mse"``), ``optimizer``
       (``"adam"``), ``mixed_precision`` (``False``) and ``coverage`` (``62.5``), which take the
       value of the release that predates them.
    3. Fixed options take the stored value, which is pushed into the live
       :class:`~lib.config.ConfigItem` (a stored ``None`` reads as ``"none"``); a different
       value in the configuration file is ignored with a warning. Changeable options take the
       current value, which overwrites the stored one (logged at INFO); a change of
       ``mixed_precision`` sets :attr:`model_needs_rebuild`. Stored keys that are no longer
       options are kept in the file but used nowhere.

    The state records which program and version wrote it (``"written_by": {"program":
    "faceswap-original", "version": ...}``; Faceswap ignores the key). A model written by a newer
    version of this program is refused (:class:`~lib.errors.ModelFileError`) before anything is
    written.

    A copy of the state is also stored inside the model file (member ``faceswap_state.json`` of
    the ``.keras`` archive, written by the model's IO with every save). The model file is written
    first and the state file second, so a crash between the two leaves a state file one save
    behind the model. When the copy inside the model file records another iteration count than
    the state file (or the state file is missing), the copy wins: the state always describes the
    weights that are loaded.

    Parameters
    ----------
    model_dir
        The folder that holds the model.
    model_name
        The plugin name; the file is ``<model_name>_state.json`` and the plugin's own options are
        those of section ``model.<model_name>``.
    no_logs
        Whether the new session writes no TensorBoard logs.

    Attributes
    ----------
    lowest_avg_loss
        The lowest average total loss seen at a save, used to decide on backups. ``0.0`` means
        none recorded yet (the model's IO tests it for truth, as Faceswap 3 does). A legacy
        ``{"a": .., "b": ..}`` value is summed when read.

    Raises
    ------
    lib.errors.ModelFileError
        If the state file exists but is not a readable state document (truncated or corrupt),
        or a newer version of this program wrote the state file or the model file.

    Examples
    --------
    >>> state = State(tmp_dir, "original", no_logs=False)  # doctest: +SKIP
    >>> state.add_session_batchsize(16)  # doctest: +SKIP
    >>> state.increment_iterations()  # doctest: +SKIP
    >>> state.save()  # doctest: +SKIP
    """

    def __init__(self, model_dir: str | Path, model_name: str, no_logs: bool) -> None:
        if not isinstance(model_name, str) or not model_name:
            raise ValueError(f"`model_name` must be a non-empty string. Received: {model_name!r}")
        logger.debug("Initializing State (model_dir: '%s', model_name: '%s', no_logs: %s)",
                     model_dir, model_name, no_logs)
        folder = ModelFolder(model_dir, model_name)
        self._filename = os.path.join(str(model_dir), folder.state_file.name)
        self._model_file = os.path.join(str(model_dir), folder.model_file.name)
        self._name = model_name
        self._iterations = 0
        self._mixed_precision_layers: list[str] = []
        self._lr_finder = -1.0
        self._rebuild_model = False
        self._sessions: dict[int, dict[str, Any]] = {}
        self._config: dict[str, Any] = {}
        self.lowest_avg_loss: float = 0.0
        self._options = train_config.get_config().items(["global", f"model.{model_name}"])

        self._load()
        self._session_id = self._new_session_id()
        self._create_new_session(no_logs)
        logger.debug("Initialized State (session_id: %s, iterations: %s)",
                     self._session_id, self._iterations)

    # --- properties ----------------------------------------------------------------------------
    @property
    def filename(self) -> str:
        """Full path of the state file."""
        return self._filename

    @property
    def loss_names(self) -> list[str]:
        """The names of the losses reported in the current session."""
        return self._sessions[self._session_id]["loss_names"]

    @property
    def current_session(self) -> dict[str, Any]:
        """The current session's entry (``timestamp``, ``no_logs``, ``loss_names``,
        ``batchsize``, ``iterations``, ``config``); changes to it are saved."""
        return self._sessions[self._session_id]

    @property
    def iterations(self) -> int:
        """The total number of iterations over all sessions."""
        return self._iterations

    @property
    def session_id(self) -> int:
        """The id of the current session (1 for a new model)."""
        return self._session_id

    @property
    def sessions(self) -> dict[int, dict[str, Any]]:
        """Every session, keyed by integer session id."""
        return {int(key): value for key, value in self._sessions.items()}

    @property
    def mixed_precision_layers(self) -> list[str]:
        """The names of the layers that may be switched between float16 and float32."""
        return self._mixed_precision_layers

    @property
    def lr_finder(self) -> float:
        """The learning rate found by the learning-rate finder, ``-1.0`` if it never ran."""
        return self._lr_finder

    @property
    def model_needs_rebuild(self) -> bool:
        """``True`` when an option that changes the model's layers (``mixed_precision``) differs
        from the value the model was saved with."""
        return self._rebuild_model

    # --- updates -------------------------------------------------------------------------------
    def update_session_config(self, key: str, value: Any) -> None:
        """Change one option in the current session's configuration record.

        Parameters
        ----------
        key
            A changeable option recorded in the session (e.g. ``"learning_rate"``).
        value
            Its new value, of the same type as the recorded one.

        Raises
        ------
        ValueError
            If ``key`` is not in the session's configuration.
        TypeError
            If ``value`` is not an instance of the recorded value's type.
        """
        config = self.current_session["config"]
        if key not in config:
            raise ValueError(f"Unknown session configuration key {key!r}. Allowed: "
                             f"{sorted(config)}")
        old_value = config[key]
        if not isinstance(value, type(old_value)):
            raise TypeError(f"The session configuration value of {key!r} must be of type "
                            f"{type(old_value).__name__}. Received: {value!r} "
                            f"({type(value).__name__})")
        logger.debug("Updating session configuration '%s' from %r to %r", key, old_value, value)
        config[key] = value

    def add_session_loss_names(self, loss_names: Sequence[str]) -> None:
        """Record the names of the losses reported in the current session."""
        logger.debug("Adding session loss names: %s", loss_names)
        self.current_session["loss_names"] = list(loss_names)

    def add_session_batchsize(self, batch_size: int) -> None:
        """Record the batch size of the current session."""
        logger.debug("Adding session batch size: %s", batch_size)
        self.current_session["batchsize"] = batch_size

    def increment_iterations(self) -> None:
        """Count one more iteration, in the total and in the current session."""
        self._iterations += 1
        self.current_session["iterations"] += 1

    def rewind_iterations(self, total: int, session: int) -> None:
        """Set the iteration counts back to an earlier save's (a NaN rollback,
        :mod:`plugins.train.nan_recovery`)."""
        if not 0 <= session <= total or total > self._iterations:
            raise ValueError(f"Cannot rewind {self._iterations} iterations to {total} "
                             f"(session: {session})")
        self._iterations = int(total)
        self.current_session["iterations"] = int(session)

    def add_mixed_precision_layers(self, layers: Sequence[str]) -> None:
        """Replace the list of layers that may be switched between float16 and float32."""
        logger.debug("Storing mixed precision layers: %s", layers)
        self._mixed_precision_layers = list(layers)

    def add_lr_finder(self, learning_rate: float) -> None:
        """Store the learning rate found by the learning-rate finder."""
        logger.debug("Storing learning rate finder result: %s", learning_rate)
        self._lr_finder = learning_rate

    def to_json(self) -> str:
        """The state document that :meth:`save` writes (sessions with no iterations left out)."""
        sessions = {str(key): value for key, value in sorted(self._sessions.items())
                    if value.get("iterations", 0) > 0}
        state = {"name": self._name,
                 "sessions": sessions,
                 "lowest_avg_loss": self.lowest_avg_loss,
                 "iterations": self._iterations,
                 "mixed_precision_layers": self._mixed_precision_layers,
                 "lr_finder": self._lr_finder,
                 "config": self._config,
                 _STAMP: {"program": PROGRAM, "version": program_version() or "unknown"}}
        return json.dumps(state, indent=2)

    def save(self) -> None:
        """Write the state file atomically. Sessions with no iterations are left out."""
        logger.debug("Saving State to '%s'", self._filename)
        write_atomic(self._filename, self.to_json())

    # --- loading -------------------------------------------------------------------------------
    def _new_session_id(self) -> int:
        return max(self._sessions) + 1 if self._sessions else 1

    def _create_new_session(self, no_logs: bool) -> None:
        self._sessions[self._session_id] = {
            "timestamp": time.time(),
            "no_logs": no_logs,
            "loss_names": [],
            "batchsize": 0,
            "iterations": 0,
            "config": {key: _plain(item()) for key, item in self._options.items()
                       if not item.fixed}}

    def _load(self) -> None:
        """Read the state file, if any, and merge its configuration with the live one."""
        embedded = read_embedded_state(self._model_file)
        if embedded is not None:
            self._check_writer(embedded, f"the model file '{self._model_file}'")
        if not os.path.exists(self._filename) and embedded is None:
            logger.info("No existing state file found. Generating.")
            self._config = {key: _plain(item()) for key, item in self._options.items()}
            return
        state = self._reconcile(embedded)
        self._name = state.get("name", self._name)
        self._sessions = {int(key): value for key, value in state.get("sessions", {}).items()}
        lowest = state.get("lowest_avg_loss", 0.0)
        # Faceswap compat: Faceswap 2 kept one lowest loss per side; Faceswap 3 sums them.
        self.lowest_avg_loss = float(sum(lowest.values()) if isinstance(lowest, dict) else lowest)
        self._iterations = state.get("iterations", 0)
        self._mixed_precision_layers = state.get("mixed_precision_layers", [])
        self._lr_finder = state.get("lr_finder", -1.0)
        self._config = state.get("config", {})
        logger.debug("Loaded state: %s", state)

        legacy_updated = self._update_legacy_config()
        self._add_missing_options()
        self._merge_options()
        if legacy_updated:
            logger.info("Updated the legacy configuration in the state file '%s'.",
                        self._filename)
            self.save()
        logger.info("Using configuration saved in state file")

    def _reconcile(self, embedded: dict[str, Any] | None) -> dict[str, Any]:
        """The state file's document, or the copy saved inside the model file when the state
        file is missing or records another iteration count (a crash between the two writes of a
        save, or a partly restored folder). A corrupt state file is always an error."""
        if not os.path.exists(self._filename):
            logger.warning("The state file '%s' is missing: using the copy saved inside the model "
                           "file '%s' (%s iterations).", self._filename, self._model_file,
                           embedded["iterations"] if embedded else 0)
            if embedded:
                self._check_document(embedded, "the copy of the state inside "
                                     f"'{self._model_file}'")
            return embedded or {}
        state = self._read()
        if embedded is None or embedded["iterations"] == state.get("iterations", 0):
            return state
        logger.warning("The state file '%s' records %s iterations but the model file '%s' was "
                       "saved at %s (the last save was interrupted between the two files): using "
                       "the state saved inside the model file.", self._filename,
                       state.get("iterations", 0), self._model_file, embedded["iterations"])
        self._check_document(embedded, f"the copy of the state inside '{self._model_file}'")
        return embedded

    def _advice(self) -> str:
        folder = os.path.dirname(self._filename) or "."
        return (f"Restore the model folder from its backups with `faceswap-original restore -m "
                f"{folder}` if it has any ('{ModelFolder.backup_of(self._filename)}'), or delete "
                "the file: the copy of the state saved inside the model file is then used (or, "
                "when there is none, a new state, losing the stored settings and iteration "
                "count).")

    def _read(self) -> dict[str, Any]:
        """The parsed state file, or a ModelFileError saying how to recover."""
        try:
            if os.path.getsize(self._filename) > _MAX_STATE_BYTES:
                raise ValueError(f"larger than {_MAX_STATE_BYTES} bytes")
            with open(self._filename, encoding="utf-8") as handle:
                state = json.load(handle)
        except (ValueError, RecursionError, OSError) as err:  # JSON, UTF-8, nesting, size
            raise ModelFileError(f"The model state file '{self._filename}' is corrupt or "
                                 f"truncated ({err}). {self._advice()}") from err
        self._check_document(state, f"the model state file '{self._filename}'")
        self._check_writer(state, f"the model state file '{self._filename}'")
        return state

    @staticmethod
    def _check_writer(state: Any, where: str) -> None:
        """Refuse a model that a newer version of this program wrote (its ``written_by``
        stamp): it may hold what this version cannot read, and saving over it would lose that.
        Models without the stamp (Faceswap's, or older versions') pass."""
        stamp = state.get(_STAMP) if isinstance(state, dict) else None
        if not isinstance(stamp, dict) or stamp.get("program") != PROGRAM:
            return
        theirs, ours = str(stamp.get("version", "")), program_version()
        if ours is None or not _version_tuple(theirs) or not _version_tuple(ours):
            logger.debug("Not comparing versions: %s wrote %r, this is %r", where, theirs, ours)
            return
        if _version_tuple(theirs) > _version_tuple(ours):
            raise ModelFileError(
                f"{where[0].upper()}{where[1:]} was written by {PROGRAM} {theirs}, a newer "
                f"version than this one ({ours}); it may hold settings or layers this version "
                f"cannot read, and nothing has been changed. Upgrade {PROGRAM} (`pip install "
                f"--upgrade {PROGRAM}`) to use this model, or choose another model folder.")

    def _check_document(self, state: Any, where: str) -> None:
        """Raise a ModelFileError when ``state`` is not shaped like a state document."""
        problem = ""
        iterations = state.get("iterations", 0) if isinstance(state, dict) else 0
        if not isinstance(state, dict):
            problem = f"expected a JSON object, found {type(state).__name__}"
        elif not isinstance(state.get("sessions", {}), dict):
            problem = "its 'sessions' entry is not a JSON object"
        elif not isinstance(state.get("config", {}), dict):
            problem = "its 'config' entry is not a JSON object"
        elif not all(str(key).isdigit() for key in state.get("sessions", {})):
            problem = "its 'sessions' entry has keys that are not session numbers"
        elif isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 0:
            problem = f"its 'iterations' entry is {iterations!r}, not a count"
        else:
            problem = _size_problem(state) or _entry_problem(state)
        if problem:
            raise ModelFileError(f"{where[0].upper()}{where[1:]} is not a valid state file: "
                                 f"{problem}. {self._advice()}")

    def _update_legacy_config(self) -> bool:
        """Rename the options of older Faceswap releases. Returns whether anything changed."""
        config = self._config
        updated = False
        if "dssim_loss" in config:
            config["loss_function"] = "ssim" if config.pop("dssim_loss") else "mae"
            logger.info("Updated legacy option 'dssim_loss' to 'loss_function': '%s'",
                        config["loss_function"])
            updated = True
        if "mask_type" in config and "learn_mask" not in config:
            config["learn_mask"] = config["mask_type"] is not None
            logger.info("Added option 'learn_mask' (%s) from the legacy 'mask_type'",
                        config["learn_mask"])
            updated = True
        if config.get("mask_type") in ("facehull", "dfl_full"):
            logger.info("Updated legacy mask_type '%s' to 'components'", config["mask_type"])
            config["mask_type"] = "components"
            updated = True
        if "l2_reg_term" in config:
            config["loss_function_2"] = "mse"
            config["loss_weight_2"] = config.pop("l2_reg_term")
            logger.info("Updated legacy option 'l2_reg_term' to 'loss_function_2': 'mse', "
                        "'loss_weight_2': %s", config["loss_weight_2"])
            updated = True
        if "clipnorm" in config:
            config["gradient_clipping"] = "norm" if config.pop("clipnorm") else "none"
            logger.info("Updated legacy option 'clipnorm' to 'gradient_clipping': '%s'",
                        config["gradient_clipping"])
            updated = True
        if "autoclip" in config:
            # Faceswap compat: Faceswap 3 writes this to the key 'clipping', which is no option
            # (quirk Q10), so the legacy setting was silently lost; we write 'gradient_clipping'.
            # A false autoclip does not undo a clipping mode already taken from 'clipnorm'.
            if config.pop("autoclip"):
                config["gradient_clipping"] = "autoclip"
            else:
                config.setdefault("gradient_clipping", "none")
            logger.info("Updated legacy option 'autoclip' to 'gradient_clipping': '%s'",
                        config["gradient_clipping"])
            updated = True
        if any("." in layer for layer in self._mixed_precision_layers):
            self._mixed_precision_layers = [layer.replace(".", "_")
                                            for layer in self._mixed_precision_layers]
            logger.info("Updated legacy mixed precision layer names")
            updated = True
        return updated

    def _add_missing_options(self) -> None:
        for key, item in self._options.items():
            if key in self._config:
                continue
            value = _LEGACY_DEFAULTS[key] if key in _LEGACY_DEFAULTS else _plain(item())
            logger.debug("Adding option '%s' missing from the state file: %r", key, value)
            self._config[key] = value

    def _merge_options(self) -> None:
        """Fixed options: stored value wins and goes live. Changeable ones: live value wins."""
        for key, item in self._options.items():
            stored = "none" if self._config[key] is None else self._config[key]
            current = _plain(item())
            if not item.fixed:
                if _normalise(stored) != _normalise(current):
                    logger.info("Config item: '%s' has been updated from '%s' to '%s'",
                                key, stored, current)
                    if key in _REBUILD_OPTIONS:
                        self._rebuild_model = True
                self._config[key] = current
                continue
            self._push_fixed(key, item, stored, current)

    def _push_fixed(self, key: str, item: ConfigItem, stored: Any, current: Any) -> None:
        """Set a fixed option to its stored value; if that value is no longer allowed, warn and
        keep (and store) the configured value."""
        name = item.name or key
        try:
            item.set(stored)
        except ConfigError as err:
            logger.warning("The value %r stored for the fixed option '%s' in '%s' is no longer "
                           "valid (%s). Using the configured value %r instead.",
                           stored, name, self._filename, err, current)
            self._config[key] = current
            return
        restored = _plain(item())
        if _normalise(restored) != _normalise(current):
            logger.warning("The option '%s' cannot be changed for an existing model: using the "
                           "value stored with the model (%r) and ignoring the configured value "
                           "(%r).", name, restored, current)
        self._config[key] = restored


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _size_problem(state: dict[str, Any]) -> str:
    """``""``, or why the document is too deep or too large to be a state (what :class:`State`
    does with it would take unbounded time)."""
    pending, count = [(state, 0)], 0
    while pending:
        node, depth = pending.pop()
        count += 1
        if depth > _MAX_DEPTH or count > _MAX_VALUES:
            return (f"it nests deeper than {_MAX_DEPTH} levels" if depth > _MAX_DEPTH
                    else f"it holds more than {_MAX_VALUES} values")
        if isinstance(node, dict):
            pending.extend((value, depth + 1) for value in node.values())
        elif isinstance(node, list):
            pending.extend((value, depth + 1) for value in node)
    return ""


def _entry_problem(state: dict[str, Any]) -> str:
    """What is wrong with the entries of a state document that :class:`State` reads (beyond
    ``sessions``, ``config`` and ``iterations``), or ``""``."""
    for key, session in state.get("sessions", {}).items():
        count = session.get("iterations", 0) if isinstance(session, dict) else None
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            return f"its 'sessions' entry {key!r} is not a session record with an iteration count"
    lowest = state.get("lowest_avg_loss", 0.0)
    values = list(lowest.values()) if isinstance(lowest, dict) else [lowest]
    if not all(_is_number(value) for value in values) or len(values) > 2:
        return f"its 'lowest_avg_loss' entry is {str(lowest)[:80]}, not a loss"
    layers = state.get("mixed_precision_layers", [])
    if not isinstance(layers, list) or not all(isinstance(name, str) for name in layers):
        return "its 'mixed_precision_layers' entry is not a list of layer names"
    if not _is_number(state.get("lr_finder", -1.0)):
        return f"its 'lr_finder' entry is {str(state.get('lr_finder'))[:80]}, not a number"
    if not isinstance(state.get("name", ""), str):
        return "its 'name' entry is not a string"
    return ""


def _plain(value: Any) -> Any:
    """A JSON-ready copy of an option value (lists are copied)."""
    return list(value) if isinstance(value, (list, tuple)) else value


def _normalise(value: Any) -> Any:
    """An option value for comparison: strings and list elements stripped and in lower case."""
    if value is None:
        return "none"
    if isinstance(value, str):
        return value.strip().lower()
    if isinstance(value, (list, tuple)):
        return [_normalise(element) for element in value]
    return value
