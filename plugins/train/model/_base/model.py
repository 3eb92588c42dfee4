"""``ModelBase``: everything around a model plugin's network.

A plugin subclasses :class:`ModelBase`, calls ``super().__init__(*args, **kwargs)`` first, sets
``self.input_shape`` and overrides :meth:`ModelBase.build_model`. ``ModelBase`` loads the
configuration, keeps the state file, builds (or loads) the model inside the distribution strategy
scope, compiles it with the configured optimizer and losses, loads and freezes weights, saves it
and cuts out the swap (inference) model.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

import keras
import numpy as np

from lib.errors import FaceswapError
from lib.logger import VERBOSE
from lib.model import nn_blocks
from lib.model.model_folder import ModelFolder
from plugins.train import train_config as cfg
from plugins.train.model._base.inference import Inference
from plugins.train.model._base.io import IO, Weights, get_all_sub_models
from plugins.train.model._base.settings import Loss, Optimizer, Settings
from plugins.train.model._base.state import State

__all__ = ["ModelBase"]

logger = logging.getLogger(__name__)


class ModelBase:
    """Base class for Faceswap model plugins.

    Parameters
    ----------
    model_dir
        The folder that holds (or will hold) the model files.
    arguments
        The command line arguments. Read, with defaults when missing: ``configfile`` (or
        ``config_file``), ``no_logs``, ``summary``, ``swap_model``, ``freeze_weights``,
        ``load_weights``, ``distribution_strategy``, ``exclude_gpus``.
    predict
        ``True`` to load the model for inference (convert) instead of training.

    Attributes
    ----------
    input_shape
        ``(height, width, channels)`` of the faces; every plugin sets it after calling
        ``super().__init__``.
    color_order
        ``"bgr"`` (default) or ``"rgb"``: the colour order the plugin expects.
    """

    def __init__(self, model_dir: str | Path, arguments: argparse.Namespace | None = None,
                 predict: bool = False) -> None:
        self.input_shape: tuple[int, ...] = ()
        self.color_order = "bgr"
        self._args = arguments if arguments is not None else argparse.Namespace()
        self._is_predict = predict
        self._model: keras.Model | None = None
        config_file = (getattr(self._args, "configfile", None)
                       or getattr(self._args, "config_file", None))
        cfg.load_config(config_file)
        self._validate_mask_options()
        self._io = IO(ModelFolder(model_dir, self.name), predict, cfg.Optimizer.save_optimizer(),
                      get_model=lambda: self.model, get_state=lambda: self._state)
        self._check_multiple_models()
        # Faceswap 3 upgrades a Faceswap 2 model (.h5) on first load, for training and converting
        self._io.upgrade_legacy()
        self._state = State(self._io.folder.path, self.name,
                            False if predict else bool(getattr(self._args, "no_logs", False)))
        # After State: fixed options now hold the values stored with the model.
        nn_blocks.set_config({"icnr_init": cfg.icnr_init(),
                              "conv_aware_init": cfg.conv_aware_init(),
                              "reflect_padding": cfg.reflect_padding()})
        self._settings = Settings(self._args, cfg.mixed_precision(), predict,
                                  cfg.mixed_precision_dtype())
        self._building = False  # True while ModelBase.build() builds or loads the model
        logger.debug("Initialized ModelBase (%s)", type(self).__name__)

    # --- properties ----------------------------------------------------------------------------
    @property
    def model(self) -> keras.Model:
        """The compiled model (the swap model in inference mode)."""
        if self._model is None:
            raise FaceswapError(f"The '{self.name}' model has not been built yet: call build().")
        return self._model

    @property
    def command_line_arguments(self) -> argparse.Namespace:
        return self._args

    @property
    def coverage_ratio(self) -> float:
        """The configured coverage as a ratio. Turn it into pixels with
        ``(size * coverage_ratio // 2) * 2`` so the crop is even."""
        return cfg.coverage() / 100.0

    @property
    def io(self) -> IO:
        """Input/Output operations for the model."""
        return self._io

    @property
    def name(self) -> str:
        """The plugin's name: its module's file name, lower case (``"original"``)."""
        return type(self).__module__.rsplit(".", 1)[-1].lower()

    @property
    def model_name(self) -> str:
        """The Keras model's name; the plugin name unless a plugin overrides it."""
        return self.name

    @property
    def input_shapes(self) -> list[tuple[int | None, ...]]:
        """The shapes of all the model's inputs."""
        return [tuple(tensor.shape) for tensor in self.model.inputs]

    @property
    def output_shapes(self) -> list[tuple[int | None, ...]]:
        """The shapes of all the model's outputs, in output order."""
        return [tuple(tensor.shape) for tensor in self.model.outputs]

    @property
    def iterations(self) -> int:
        """The total number of iterations the model has trained."""
        return self._state.iterations

    @property
    def warmup_steps(self) -> int:
        """The number of learning-rate warm-up steps (``--warmup``; 0 for none)."""
        return int(getattr(self._args, "warmup", 0) or 0)

    @property
    def freeze_layers(self) -> list[str]:
        """Sub-models that ``--freeze-weights`` freezes. Override in a plugin."""
        return ["encoder"]

    @property
    def load_layers(self) -> list[str]:
        """Sub-models that ``--load-weights`` loads. Override in a plugin."""
        return ["encoder"]

    @property
    def state(self) -> State:
        """The state settings for the current plugin."""
        return self._state

    # --- building ------------------------------------------------------------------------------
    def build_model(self, inputs: list[keras.KerasTensor]) -> keras.Model:
        """Create the model's structure. Plugins must override this.

        Parameters
        ----------
        inputs
            ``[face_in_a, face_in_b]``, each of shape :attr:`input_shape`.

        Returns
        -------
        A model named :attr:`model_name` with these inputs and, in order, all side-A outputs then
        all side-B outputs, each from a ``Conv2DOutput``.
        """
        raise NotImplementedError(f"{type(self).__name__} must override build_model(inputs).")

    def build(self) -> None:
        """Build the model (or load it when a model file exists) and compile it for training; in
        inference mode keep only the swap model. A summary goes to the log (to stdout with
        ``--summary``)."""
        is_summary = bool(getattr(self._args, "summary", False))
        self._building = True
        try:
            with self._settings.strategy_scope():
                if self._io.model_exists:
                    model = self._io.load()
                    if self._is_predict:
                        model = Inference(model, getattr(self._args, "swap_model", False)).model
                    elif self._needs_precision_rebuild(model):
                        model = self._rebuild_for_precision(model)
                    self._model = model
                else:
                    if self._is_predict:
                        self._io.load()  # raises: nothing to predict with
                    self._validate_input_shape()
                    self._model = self._build_new(is_summary)
                if not is_summary and not self._is_predict:
                    self._compile_model()
        finally:
            self._building = False
        self._output_summary()

    def _build_new(self, is_summary: bool) -> keras.Model:
        """Build a new model. In full precision, first build it under mixed precision to record
        which layers follow the global policy (stored in the state file, so a later switch of
        precision knows them), then rebuild it in float32, as Faceswap 3 does."""
        if self._settings.use_mixed_precision or is_summary:
            return self._call_build_model()
        mixed = self._call_build_model("mixed_float16")
        layers = [layer.name for model in get_all_sub_models(mixed) for layer in model.layers
                  if not isinstance(layer, keras.layers.InputLayer)
                  and layer.dtype_policy.name == "mixed_float16"]
        del mixed
        self._state.add_mixed_precision_layers(layers)
        return self._call_build_model()

    def _call_build_model(self, policy: str | None = None) -> keras.Model:
        """Build from scratch: fresh Keras names and block counters, under ``policy`` (the
        configured precision when ``None``)."""
        self._settings.clear_session()  # inside a strategy scope too
        keras.config.set_dtype_policy(policy or self._settings.policy)
        nn_blocks.reset_naming()
        model = self.build_model(self._get_inputs())
        if model.name != self.model_name:
            raise FaceswapError(f"The '{self.name}' plugin's build_model() returned a model "
                                f"named '{model.name}'. It must be named '{self.model_name}' "
                                "(pass name=self.model_name to keras.Model).")
        return model

    def _rebuild_for_precision(self, model: keras.Model) -> keras.Model:
        """Rebuild a loaded model under the current precision policy, keeping its weights.

        Faceswap compat: Faceswap rewrites the dtypes in the saved config; rebuilding with the
        plugin's own ``build_model`` gives the same layers and needs no config surgery.
        """
        weights = model.get_weights()
        rebuilt = self._call_build_model()
        rebuilt.set_weights(weights)
        logger.info("Switched the model to %s precision.",
                    self._settings.policy if self._settings.use_mixed_precision else "full")
        return rebuilt

    def _needs_precision_rebuild(self, model: keras.Model) -> bool:
        """Whether a loaded model's layers were built under another precision policy than the
        configured one (full/mixed, or float16/bfloat16), or the state file says so."""
        if self._state.model_needs_rebuild:
            return True
        mixed = {layer.dtype_policy.name for sub_model in get_all_sub_models(model)
                 for layer in sub_model.layers
                 if layer.dtype_policy.name in ("mixed_float16", "mixed_bfloat16")}
        wanted = self._settings.policy
        return bool(mixed) if wanted == "float32" else mixed != {wanted}

    def _compile_loaded_model(self) -> None:
        """Compile a model that a plugin's own ``build()`` loaded (as Phaze-A does): rebuild it
        inside the strategy scope (so a TensorFlow strategy owns its variables) and under the
        configured precision when either needs it, keeping its weights, then compile it there."""
        with self._settings.strategy_scope():
            if (self._settings.replicas > 1 or self._settings.num_processes > 1
                    or self._needs_precision_rebuild(self.model)):
                self._model = self._rebuild_for_precision(self.model)
            self._building = True
            try:
                self._compile_model()
            finally:
                self._building = False

    def _side_input_shapes(self) -> list[tuple[int, ...]]:
        """The input shape of side A and of side B: :attr:`input_shape` is one 3-tuple for both
        sides, or a list of two 3-tuples when the sides differ (as the seed document allows)."""
        shape = self.input_shape
        if (isinstance(shape, (list, tuple)) and len(shape) == 2
                and all(isinstance(side, (list, tuple)) for side in shape)):
            return [tuple(side) for side in shape]
        return [tuple(shape)] * 2

    def _get_inputs(self) -> list[keras.KerasTensor]:
        """``face_in_a`` and ``face_in_b``, of the shapes :attr:`input_shape` gives."""
        return [keras.Input(shape=shape, name=f"face_in_{side}")
                for shape, side in zip(self._side_input_shapes(), "ab", strict=True)]

    def _validate_input_shape(self) -> None:
        shapes = self._side_input_shapes()
        if not all(len(shape) == 3 and all(isinstance(dim, int) and not isinstance(dim, bool)
                                           and dim > 0 for dim in shape) for shape in shapes):
            raise FaceswapError(
                f"The '{self.name}' plugin must set `self.input_shape` to (height, width, "
                "channels), or to a list of two such tuples (side A, side B), after calling "
                f"super().__init__(). Found: {self.input_shape!r}")

    def _validate_mask_options(self) -> None:
        if cfg.Loss.mask_type() != "none":
            return
        for option in ("penalized_mask_loss", "learn_mask"):
            if getattr(cfg.Loss, option)():
                raise FaceswapError(
                    f"The option '{option}' needs a mask, but 'mask_type' is 'none'. Choose a "
                    "mask_type or switch the option off in the [global.loss] section of the "
                    "training config.")

    def _check_multiple_models(self) -> None:
        others = self._io.multiple_models_in_folder
        if not others:
            return
        if len(others) == 1:
            raise FaceswapError(
                f"A model file for the '{others[0]}' plugin already exists in the folder "
                f"'{self._io.model_dir}'. You cannot train a '{self.name}' model there: choose "
                f"another folder, or train with the '{others[0]}' plugin.")
        raise FaceswapError(
            f"Model files of several plugins ({', '.join(others)}) are stored in the folder "
            f"'{self._io.model_dir}'. Keep one model per folder.")

    def _compile_model(self) -> None:
        """Optimizer, weights, losses and ``model.compile``."""
        if not self._building:
            self._compile_loaded_model()
            return
        optimizer = Optimizer().optimizer
        if self._settings.use_loss_scaling:
            optimizer = self._settings.loss_scale_optimizer(optimizer)
        weights = Weights(self.model, self.model_name, self._args, self.freeze_layers,
                          self.load_layers)
        weights.load(self._io.model_exists)
        weights.freeze()
        loss = Loss(self.color_order)  # read now: plugins set color_order after __init__
        loss.configure(self.model)
        # Outputs of one decoder share its name (api_spec Q12), so Keras's per-output loss
        # metrics would collide: name the outputs by their losses (face_a, mask_a, ...).
        self.model.output_names = loss.names[1:]
        self.model.compile(optimizer=optimizer, loss=list(loss.functions.values()),
                           jit_compile=self._settings.jit_compile)
        if self._io.model_exists:
            self._io.restore_optimizer(self.model)
        self._state.add_session_loss_names(loss.names)
        logger.debug("Compiled model with losses %s", loss.names)

    def _output_summary(self) -> None:
        """Every sub-model's summary, then the whole model's: to stdout with ``--summary``,
        otherwise to the log at VERBOSE level."""
        to_stdout = bool(getattr(self._args, "summary", False))

        def write(line: str) -> None:
            if to_stdout:
                sys.stdout.write(line + "\n")
            else:
                logger.log(VERBOSE, line)

        models = get_all_sub_models(self.model)
        for model in [*models[1:], models[0]]:
            model.summary(line_length=100, print_fn=lambda line, **_: write(line))

    # --- training helpers ----------------------------------------------------------------------
    def distribute_batch(self, inputs: Any, targets: Any) -> tuple[Any, Any]:
        """``(inputs, targets)`` of one batch, ready for ``model.train_on_batch``: split over the
        replicas of a TensorFlow distribution strategy, unchanged otherwise."""
        return self._settings.distribute_batch(inputs, targets)

    def add_history(self, loss: Any) -> None:
        """Add the current iteration's loss history to ``io.history``.

        Parameters
        ----------
        loss
            The loss values of the current iteration (the collated values of each side); their
            sum is stored.
        """
        self._io.history.append(float(np.sum(loss)))
