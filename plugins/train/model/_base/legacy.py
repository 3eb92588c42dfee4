"""Legacy model upgrade: a Faceswap 2 model (``<name>.h5``, Keras 2) becomes ``<name>.keras``.

Faceswap 3 upgrades a Faceswap 2 model folder the first time it is opened (for training or
converting) when it holds ``<name>.h5`` and no ``<name>.keras``. :class:`Legacy` does the same,
in the same steps:

1. The Keras 2 model config is read from the ``.h5`` file's root attributes (``keras_version``
   must be 2.x, ``model_config`` a functional model) without Keras, and rewritten for Keras 3:
   the nested output lists of the sub-models flattened; every inbound reference to a sub-model's
   call one lower (a Keras 2 sub-model counts its own construction as call 0); ``TFOpLambda``
   scalar arithmetic turned into :class:`~lib.model.layers.ScalarOp`; ``LeakyReLU``'s ``alpha``
   renamed ``negative_slope``; ``groups`` dropped from ``DepthwiseConv2D``, ``SeparableConv2D``
   and ``Conv2DTranspose`` and the kernel arguments from ``SeparableConv2D``; Keras 2 dtype
   policies (strings and ``Policy``) written as Keras 3 ``DTypePolicy``; Faceswap 2's
   ``L2_normalize`` named ``L2Normalize``.
2. The Keras 3 model is built from that config and the weights are read from the file's own
   layout (Keras's order-based HDF5 reader: top-level layers with weights in model order, each
   one's variables trainable first).
3. Only then is anything written: the whole folder is renamed to ``<model_dir>_fs2_backup``
   (refused when that folder exists and is not empty), a new folder is made with the model saved
   as ``<name>.keras`` (no optimizer: Keras 2's optimizer state is not carried over, as in
   Faceswap 3), and the state file and the TensorBoard logs are copied back. The state file's
   old fields are converted when :class:`~plugins.train.model._base.state.State` reads it.

Anything that cannot be read or converted raises :class:`~lib.errors.ModelFileError` naming the
file, before the folder is touched. A failure after the rename puts the folder back as it was.

A Phaze-A CLIP encoder (a sub-model named ``visual``) is rebuilt as Faceswap 3 does: its config
is replaced by that of a new :class:`~lib.model.networks.clip.ViT` for the state file's
``enc_architecture`` and ``enc_scaling`` (refused when the state file, the architecture or the
scaling is missing).
"""
from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import keras

from lib.errors import FaceswapError, ModelFileError
from lib.model.model_folder import FS2_BACKUP_SUFFIX, MODEL_EXTENSION, ModelFolder
from lib.model.model_folder import LEGACY_EXTENSION as LEGACY_EXTENSION
from lib.model.save_error import save_error, write_error_in
from lib.utils import atomic_replace

__all__ = ["BACKUP_SUFFIX", "LEGACY_EXTENSION", "Legacy", "rewrite_config"]

logger = logging.getLogger(__name__)

BACKUP_SUFFIX = FS2_BACKUP_SUFFIX
_MAX_CONFIG_BYTES = 64 * 1024 * 1024
_SCALAR_OPERATIONS = ("multiply", "truediv", "add", "subtract")
_NO_GROUPS = ("DepthwiseConv2D", "SeparableConv2D", "Conv2DTranspose")
_RENAMED = {"L2_normalize": "L2Normalize"}
_CODE_CLASSES = ("Lambda", "__lambda__")
# Phaze-A's CLIP encoders: the ViT model and its native input size.
_CLIP_MODELS = {"clipv_farl-b-16-16": ("FaRL-B-16-16", 224),
                "clipv_farl-b-16-64": ("FaRL-B-16-64", 224),
                "clipv_vit-b-16": ("ViT-B-16", 224),
                "clipv_vit-b-32": ("ViT-B-32", 224),
                "clipv_vit-l-14": ("ViT-L-14", 224),
                "clipv_vit-l-14-336px": ("ViT-L-14-336px", 336)}
_MAX_STATE_BYTES = 64 * 1024 * 1024


class _Unsupported(ValueError):
    """A part of the Keras 2 config that cannot be converted."""


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _unwrap_outputs(outputs: Any) -> list[list[Any]]:
    """Nested ``output_layers`` as a flat list of ``[layer, node, tensor]``."""
    if (isinstance(outputs, list) and len(outputs) == 3 and isinstance(outputs[0], str)
            and all(isinstance(item, int) for item in outputs[1:])):
        return [[outputs[0], int(outputs[1]), int(outputs[2])]]
    if not isinstance(outputs, list):
        raise _Unsupported(f"an output reference {outputs!r} is not a list")
    flat: list[list[Any]] = []
    for item in outputs:
        flat.extend(_unwrap_outputs(item))
    return flat


def _dtype_policy(dtype: Any) -> Any:
    """A Keras 2 dtype (a string, or a ``Policy`` dict) as a Keras 3 ``DTypePolicy``."""
    if isinstance(dtype, str):
        name = dtype
    elif isinstance(dtype, dict) and dtype.get("class_name") == "Policy":
        name = dtype.get("config", {}).get("name")
    else:
        return dtype
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": name},
            "registered_name": None}


def _convert_lambda(layer: dict[str, Any]) -> None:
    """A ``TFOpLambda`` holding scalar arithmetic as a ``ScalarOp`` (Faceswap 3's rule: the
    operation is the layer name's last part, the value the ``y`` argument of the call)."""
    name = layer.get("name") or layer["config"].get("name", "")
    operation = name.rsplit(".", 1)[-1]
    if operation not in _SCALAR_OPERATIONS:
        raise _Unsupported(f"the TFOpLambda layer '{name}' is not supported (only scalar "
                           f"{', '.join(_SCALAR_OPERATIONS)} are)")
    inbound = layer.get("inbound_nodes") or []
    first = inbound[0] if inbound else None
    if not (isinstance(first, list) and len(first) == 4 and isinstance(first[3], dict)
            and isinstance(first[3].get("y"), (int, float))
            and not isinstance(first[3].get("y"), bool)):
        raise _Unsupported(f"the TFOpLambda layer '{name}' does not apply a number to a tensor")
    value = float(first[3]["y"])
    # a Keras 3 entry (module and registered name): Keras's Keras 2 reader would take the
    # operation's name for a function
    layer["class_name"] = "ScalarOp"
    layer["module"] = "lib.model.layers"
    layer["registered_name"] = "ScalarOp"
    layer["config"] = {"name": name, "trainable": layer["config"].get("trainable", True),
                       "dtype": layer["config"].get("dtype", "float32"),
                       "operation": operation, "value": value}
    layer["inbound_nodes"] = [[[item[0], item[1], item[2], {}] for item in inbound]]


def _process_deprecations(layer: dict[str, Any]) -> None:
    class_name = layer.get("class_name")
    config = layer.get("config")
    if not isinstance(config, dict):
        raise _Unsupported(f"layer '{layer.get('name')}' has no config")
    if class_name == "LeakyReLU" and "alpha" in config:
        config["negative_slope"] = config.pop("alpha")
    if class_name == "TFOpLambda":
        _convert_lambda(layer)
        config = layer["config"]
    if class_name in _RENAMED:
        layer["class_name"] = _RENAMED[class_name]
    if class_name in _NO_GROUPS:
        config.pop("groups", None)
    if class_name == "SeparableConv2D":
        for key in ("kernel_initializer", "kernel_regularizer", "kernel_constraint"):
            config.pop(key, None)
    if "dtype" in config:
        config["dtype"] = _dtype_policy(config["dtype"])


def _process_inbounds(layer: dict[str, Any], functional: set[str]) -> None:
    """Sub-model calls count from 1 in Keras 2 and from 0 in Keras 3."""
    def fix(reference: Any) -> None:
        if (isinstance(reference, list) and len(reference) >= 3 and isinstance(reference[0], str)
                and isinstance(reference[1], int)):
            if reference[0] in functional and reference[1] > 0:
                reference[1] -= 1
        elif isinstance(reference, list):
            for item in reference:
                fix(item)

    fix(layer.get("inbound_nodes"))


def _clip_entry(clip: Any) -> dict[str, Any]:
    """The Keras 3 entry of the CLIP encoder Faceswap 3 rebuilds from the state file's
    ``config`` (``clip``): a new ViT for ``enc_architecture`` at ``enc_scaling`` percent of its
    native size (rounded down to a multiple of 16, at least 32)."""
    from lib.model.networks import ViT

    if callable(clip):  # the state file is read only when the model holds a CLIP encoder
        clip = clip()
    if clip is None:
        raise _Unsupported("the model holds a CLIP encoder ('visual'), which is rebuilt from the "
                           "state file's encoder settings, and the state file is missing. This "
                           "model cannot be ported")
    architecture, scaling = clip.get("enc_architecture"), clip.get("enc_scaling")
    if architecture not in _CLIP_MODELS:
        raise _Unsupported(f"the model holds a CLIP encoder ('visual') but the state file's "
                           f"enc_architecture is {architecture!r}, not one of "
                           f"{sorted(_CLIP_MODELS)}. This model cannot be ported")
    if (isinstance(scaling, bool) or not isinstance(scaling, (int, float))
            or not 0 < scaling <= 200):
        raise _Unsupported(f"the model holds a CLIP encoder ('visual') but the state file's "
                           f"enc_scaling is {scaling!r}. This model cannot be ported")
    name, default = _CLIP_MODELS[architecture]
    size = max(32, int(default * scaling / 100 / 16) * 16)
    return keras.saving.serialize_keras_object(ViT(name, input_size=size)())


def _update_layers(layers: list[Any], functional: set[str], clip: Any = None) -> None:
    for layer in layers:
        if not isinstance(layer, dict):
            raise _Unsupported(f"a layer entry is {type(layer).__name__}, not an object")
        class_name = layer.get("class_name")
        if not isinstance(class_name, str) or not isinstance(layer.get("name", ""), str):
            raise _Unsupported(f"a layer entry has the class name {str(class_name)[:80]} and the "
                               f"name {str(layer.get('name'))[:80]}, not strings")
        if class_name in _CODE_CLASSES:
            raise _Unsupported(f"the layer '{layer.get('name')}' is a {class_name} layer, which "
                               "holds Python code; it is not loaded")
        if class_name in ("Functional", "Model") and layer.get("name") == "visual":
            # Phaze-A's CLIP encoder: rebuilt (Keras 3 entry), its Keras 2 internals unread
            functional.add("visual")
            entry = _clip_entry(clip)
            for key in ("module", "class_name", "config", "registered_name"):
                layer[key] = entry.get(key)
            _process_inbounds(layer, functional)
            continue
        if class_name in ("Functional", "Model"):
            if layer.get("name"):
                functional.add(layer["name"])
            config = layer.get("config")
            if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
                raise _Unsupported(f"the sub-model '{layer.get('name')}' has no layer list")
            config["output_layers"] = _unwrap_outputs(config.get("output_layers", []))
            _update_layers(config["layers"], functional, clip)
        if not layer.get("inbound_nodes"):
            continue
        _process_deprecations(layer)
        _process_inbounds(layer, functional)


def rewrite_config(config: dict[str, Any], clip: Any = None) -> dict[str, Any]:
    """The Keras 2 functional config ``{"class_name": "Functional", "config": {...}}`` rewritten
    for Keras 3 (in place; returned for convenience). ``clip`` is the state file's ``config``
    (``enc_architecture``, ``enc_scaling``), or a function returning it (``None`` for no state
    file), needed only when the model holds a CLIP encoder.

    Raises
    ------
    ValueError
        For anything the upgrade cannot convert (the message says what).
    """
    if not isinstance(config, dict) or config.get("class_name") not in ("Functional", "Model"):
        raise _Unsupported("the model config is not a functional model")
    body = config.get("config")
    if not isinstance(body, dict) or not all(
            isinstance(body.get(key), list) for key in ("layers", "input_layers",
                                                        "output_layers")):
        raise _Unsupported("the model config has no layers, inputs or outputs")
    _update_layers([config], set(), clip)
    return config


class Legacy:
    """Upgrade the Faceswap 2 model ``<model_dir>/<name>.h5`` to ``<name>.keras``.

    Parameters
    ----------
    model_dir
        The model folder.
    name
        The plugin name (``original``): the files are ``<name>.h5``, ``<name>_state.json`` and
        ``<name>_logs``.
    """

    def __init__(self, model_dir: str | Path, name: str) -> None:
        self._folder = ModelFolder(model_dir, name)
        self._model_dir = self._folder.path
        self._name = name
        self._h5 = self._folder.legacy_model_file
        self._backup = self._folder.legacy_backup_dir

    @staticmethod
    def needed(model_dir: str | Path, name: str) -> bool:
        """Whether the folder holds ``<name>.h5`` and no ``<name>.keras``."""
        folder = ModelFolder(model_dir, name)
        return folder.legacy_model_file.is_file() and not folder.model_file.exists()

    @property
    def backup_dir(self) -> Path:
        """``<model_dir>_fs2_backup``: where the Faceswap 2 folder is kept."""
        return self._backup

    def _error(self, problem: str) -> ModelFileError:
        return ModelFileError(
            f"The Faceswap 2 model file '{self._h5}' cannot be upgraded: {problem}. Nothing in "
            f"'{self._model_dir}' has been changed. Open the model with Faceswap 2, or train a "
            "new model in another folder.")

    def read_config(self) -> dict[str, Any]:
        """The Keras 2 model config stored in the ``.h5`` file, checked.

        Raises
        ------
        lib.errors.ModelFileError
            When the file is not a Faceswap 2 (Keras 2) model file.
        """
        import h5py

        try:
            with h5py.File(self._h5, "r") as handle:
                version = handle.attrs.get("keras_version")
                config = handle.attrs.get("model_config")
                has_weights = "model_weights" in handle or "layer_names" in handle.attrs
        except OSError as err:
            raise self._error(f"it is not a readable HDF5 file ({err})") from err
        if version is None or config is None:
            raise self._error("it is not a valid Faceswap 2 model file (no 'keras_version' or "
                              "'model_config' attribute)")
        parts = _text(version).split(".")
        if len(parts) < 2 or parts[0] != "2":
            raise self._error(f"it was written by Keras {_text(version)}, not Keras 2")
        if not has_weights:
            raise self._error("it holds no model weights")
        text = _text(config)
        if len(text) > _MAX_CONFIG_BYTES:
            raise self._error(f"its model config is {len(text)} bytes, more than the "
                              f"{_MAX_CONFIG_BYTES} allowed")
        try:
            document = json.loads(text)
        except (ValueError, RecursionError) as err:
            raise self._error(f"its model config is not valid JSON ({err})") from err
        return document

    def build(self) -> keras.Model:
        """The Keras 3 model with the file's weights: nothing is written.

        Raises
        ------
        lib.errors.ModelFileError
            When the config cannot be converted, the model cannot be built, or the weights do
            not fit it.
        """
        config = self.read_config()
        try:
            rewrite_config(config, self._state_config)
        except _Unsupported as err:
            raise self._error(str(err)) from err
        except (TypeError, AttributeError, KeyError, IndexError, RecursionError) as err:
            # an entry of another type or shape than Keras 2 writes, met during the rewrite
            raise self._error(f"its model config is not a Keras 2 model config "
                              f"({type(err).__name__}: {str(err)[:200]})") from err
        self._import_custom_layers()
        try:
            model = keras.Model.from_config(config["config"])
        except Exception as err:
            raise self._error(f"Keras cannot build its network ({type(err).__name__}: "
                              f"{str(err).strip().splitlines()[0][:300] if str(err) else ''})"
                              ) from err
        inputs = [tensor.name for tensor in model.inputs]
        if len(inputs) != 2 or [tuple(t.shape) for t in model.inputs].count(
                tuple(model.inputs[0].shape)) != 2:
            raise self._error(f"it has the inputs {inputs}, not two faces of one shape")
        try:
            model.load_weights(self._h5)
        except Exception as err:
            raise self._error(f"its weights do not fit the network ({type(err).__name__}: "
                              f"{str(err).strip().splitlines()[0][:300] if str(err) else ''})"
                              ) from err
        return model

    def _state_config(self) -> dict[str, Any] | None:
        """The ``config`` of the state file beside the model (``None`` when missing)."""
        path = self._folder.state_file
        if not path.is_file():
            return None
        try:
            if path.stat().st_size > _MAX_STATE_BYTES:
                raise ValueError(f"larger than {_MAX_STATE_BYTES} bytes")
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise self._error(f"its state file '{path}' cannot be read ({err})") from err
        config = document.get("config") if isinstance(document, dict) else None
        return config if isinstance(config, dict) else {}

    @staticmethod
    def _import_custom_layers() -> None:
        """Register Faceswap's layers (bare names) before the config is deserialized."""
        import lib.model.initializers
        import lib.model.layers
        import lib.model.normalization  # noqa: F401

    def _check_backup_folder(self) -> None:
        if self._backup.exists() and (not self._backup.is_dir() or any(self._backup.iterdir())):
            raise ModelFileError(
                f"The Faceswap 2 model in '{self._model_dir}' needs upgrading, and its original "
                f"files are to be kept in '{self._backup}', which already exists and is not "
                "empty. Delete or move that folder (or use another model folder) and try "
                "again. Nothing has been changed.")

    def upgrade(self) -> Path:
        """Upgrade the folder (see the module's description); returns the new model file.

        Raises
        ------
        lib.errors.ModelFileError
            When the model cannot be upgraded; the folder is then as it was.
        """
        logger.info("Upgrading the Faceswap 2 model '%s' to the Keras 3 format...", self._h5)
        self._check_backup_folder()
        model = self.build()
        if self._backup.exists():
            self._backup.rmdir()  # empty (checked)
        os.rename(self._model_dir, self._backup)
        target = self._folder.model_file
        try:
            self._model_dir.mkdir()
            self._save(model, target)
            self._restore_files()
        except BaseException as err:
            shutil.rmtree(self._model_dir, ignore_errors=True)
            os.rename(self._backup, self._model_dir)
            written = None if isinstance(err, FaceswapError) else write_error_in(err)
            if written is None:
                raise
            sizes = {"model": self._h5.stat().st_size}
            raise save_error(
                "the upgraded Faceswap 3 model", self._model_dir, written, sizes,
                stopped="The upgrade stopped.",
                kept=f"The Faceswap 2 folder '{self._model_dir}' was put back as it was: nothing "
                     "was changed, and the upgrade runs again the next time the model is "
                     "loaded.") from err
        logger.info("Upgraded the Faceswap 2 model to '%s'. The original folder is kept in "
                    "'%s' (Keras 2's optimizer state is not carried over: the optimizer starts "
                    "afresh).", target, self._backup)
        return target

    @staticmethod
    def _save(model: keras.Model, target: Path) -> None:
        from plugins.train.model._base.io import rewrite_for_faceswap3

        with atomic_replace(target, suffix=MODEL_EXTENSION) as temp:
            model.save(temp)
            rewrite_for_faceswap3(temp)

    def _restore_files(self) -> None:
        """Copy the state file and the logs back from the backup folder (Faceswap 3 keeps only
        those in the new folder)."""
        kept = ModelFolder(self._backup, self._name)
        logs = kept.logs_dir
        if logs.is_dir():
            shutil.copytree(logs, self._model_dir / logs.name)
        state = kept.state_file
        if state.is_file():
            shutil.copy2(state, self._model_dir / state.name)
