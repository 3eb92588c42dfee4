"""The ``export`` command: write a trained model's swap model as ONNX, DeepFaceLive ``.dfm`` or
TensorFlow SavedModel (see :mod:`plugins.train.model._base.export`)."""
from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import keras

from faceswap_original.restore import model_name_in_folder
from lib.errors import FaceswapError

__all__ = ["dflive_settings", "export", "float32_model", "load_swap_graph", "plugin_swap_graph"]

logger = logging.getLogger(__name__)

# Faceswap's EXTRACT_RATIOS: the part of the aligned-face side outside the training crop at
# coverage 100 %, per centering (the crop side is coverage / (1 - ratio) template squares).
_EXTRACT_RATIOS = {"legacy": 0.375, "face": 0.5, "head": 0.625}
# How far (in template squares) the centre of a frontal face's ``face`` / ``head`` crop sits
# above the ``legacy`` (template) centre: a rough estimate, Faceswap's is pose-dependent.
_CENTRE_SHIFT = {"legacy": 0.0, "face": -0.17, "head": -0.28}
# DeepFaceLive's FROM_POINTS crop is moved up by this much (template squares) before its offsets.
_DFLIVE_UP = 0.08


def dflive_settings(centering: str, coverage: float, vertical_offset: float = 0.0
                    ) -> dict[str, float]:
    """DeepFaceLive face-aligner settings (align mode FROM_POINTS, head mode off) whose crop
    matches the training crop of a model with ``centering``, ``coverage`` (percent) and
    ``vertical_offset`` (percent).

    Returns
    -------
    ``{"face_coverage": ..., "y_offset": ..., "x_offset": ...}``: the crop side is
    ``coverage / (1 - ratio)`` template squares (ratio 0.375 legacy, 0.5 face, 0.625 head);
    ``y_offset = 0.08 + shift - vertical_offset / 100`` cancels DeepFaceLive's built-in upward
    shift and adds the centering's (frontal-pose estimate for ``face`` and ``head``).
    """
    if centering not in _EXTRACT_RATIOS:
        raise FaceswapError(f"Unknown centering '{centering}': expected one of "
                            f"{', '.join(_EXTRACT_RATIOS)}.")
    side = (coverage / 100.0) / (1.0 - _EXTRACT_RATIOS[centering])
    y_offset = _DFLIVE_UP + _CENTRE_SHIFT[centering] - vertical_offset / 100.0
    return {"face_coverage": round(side, 3), "y_offset": round(y_offset, 3),
            "x_offset": -0.01}


def _mixed_policies(model: keras.Model) -> set[str]:
    from plugins.train.model._base import get_all_sub_models
    return {layer.dtype_policy.name for sub in get_all_sub_models(model) for layer in sub.layers
            if layer.dtype_policy.name != "float32"}


def _float32_config(node: Any) -> Any:
    """A model config with every mixed dtype policy replaced by ``float32``."""
    if isinstance(node, list):
        return [_float32_config(item) for item in node]
    if not isinstance(node, dict):
        return node
    if (node.get("class_name") in ("DTypePolicy", "FloatDTypePolicy")
            and isinstance(node.get("config"), dict)
            and str(node["config"].get("name", "")).startswith("mixed_")):
        return {**node, "config": {**node["config"], "name": "float32"}}
    return {key: _float32_config(value) for key, value in node.items()}


def float32_model(model: keras.Model) -> keras.Model:
    """``model`` itself when every layer computes in float32, else the same network rebuilt with
    float32 layers and the same weights (a mixed-precision model exports in float32; its weights
    are float32 already)."""
    if not _mixed_policies(model):
        return model
    logger.info("The model was trained in mixed precision: exporting it in float32.")
    rebuilt = keras.Model.from_config(_float32_config(model.get_config()))
    rebuilt.set_weights(model.get_weights())
    if _mixed_policies(rebuilt):
        raise FaceswapError(f"Could not rebuild the model '{model.name}' in float32 for export.")
    return rebuilt


def load_swap_graph(model_dir: str | Path, switch_sides: bool = False,
                    configfile: str | None = None):
    """The :class:`~plugins.train.model._base.export.SwapGraph` of the model in ``model_dir``,
    loaded through the plugin (its state gives the fixed options) and ``IO.load``.

    Parameters
    ----------
    model_dir
        The model folder.
    switch_sides
        ``False`` for the swap A -> B, ``True`` for B -> A.
    configfile
        A train.ini to use instead of the default one.
    """
    from plugins.plugin_loader import PluginLoader
    from plugins.train import train_config as cfg
    from plugins.train.model._base.export import ExportInfo, SwapGraph
    from plugins.train.model._base.inference import Inference

    name = model_name_in_folder(model_dir)
    arguments = argparse.Namespace(configfile=configfile, swap_model=switch_sides, no_logs=True)
    plugin = PluginLoader.get_model(name, disable_logging=True)(model_dir, arguments,
                                                                 predict=True)
    full = float32_model(plugin.io.load())
    swap = Inference(full, switch_sides).model
    own = Inference(full, not switch_sides).model
    info = ExportInfo(plugin=plugin.name, direction="B -> A" if switch_sides else "A -> B",
                      iterations=plugin.iterations, centering=cfg.centering(),
                      coverage=float(cfg.coverage()), vertical_offset=int(cfg.vertical_offset()),
                      model_color_order=plugin.color_order)
    settings = dflive_settings(info.centering, info.coverage, info.vertical_offset)
    info.extra = {"deepfacelive_" + key: str(value) for key, value in settings.items()}
    return SwapGraph(swap, info, own)


def plugin_swap_graph(plugin: Any):
    """The :class:`~plugins.train.model._base.export.SwapGraph` of a plugin built for inference
    (``predict=True``; its model is the swap model), for ``convert --backend onnx``."""
    from plugins.train import train_config as cfg
    from plugins.train.model._base.export import ExportInfo, SwapGraph

    switch = bool(getattr(plugin.command_line_arguments, "swap_model", False))
    info = ExportInfo(plugin=plugin.name, direction="B -> A" if switch else "A -> B",
                      iterations=plugin.iterations, centering=cfg.centering(),
                      coverage=float(cfg.coverage()), vertical_offset=int(cfg.vertical_offset()),
                      model_color_order=plugin.color_order)
    return SwapGraph(float32_model(plugin.model), info)


def _rerun_on_tensorflow(args: argparse.Namespace) -> int:
    """Run this export in a child process on the TensorFlow backend (the one that converts)."""
    command = [sys.executable, "-m", "faceswap_original", "export", "-m", str(args.model_dir),
               "-o", str(args.output), "--format", args.format, "-L", args.loglevel]
    if args.swap_model:
        command.append("-s")
    if args.half:
        command.append("--half")
    if args.configfile:
        command += ["-C", str(args.configfile)]
    logger.info("Keras uses the '%s' backend: exporting on TensorFlow in a child process.",
                keras.backend.backend())
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    return subprocess.run(command, env=env, check=False).returncode


def export(args: argparse.Namespace) -> int:
    """The ``export`` command."""
    from plugins.train.model._base.export import FORMATS, export_swap_model

    if args.format not in FORMATS:
        raise FaceswapError(f"Unknown format '{args.format}': choose one of "
                            f"{', '.join(FORMATS)}.")
    if args.half and args.format == "saved_model":
        raise FaceswapError("--half applies to ONNX and .dfm files: a SavedModel keeps float32 "
                            "weights (TFLite's converter can quantize it).")
    if not Path(args.model_dir).is_dir():
        raise FaceswapError(f"The model folder '{args.model_dir}' does not exist. Check the "
                            "path given with -m/--model-dir.")
    if keras.backend.backend() != "tensorflow":
        return _rerun_on_tensorflow(args)
    graph = load_swap_graph(args.model_dir, bool(args.swap_model), args.configfile)
    path = export_swap_model(graph, args.output, args.format, half=bool(args.half))
    info = graph.info
    print(f"Exported the '{info.plugin}' swap model ({info.direction}, {info.iterations} "
          f"iterations) as {args.format}{' (float16 weights)' if args.half else ''} to "
          f"'{path}'.")
    if args.format == "dfm":
        settings = dflive_settings(info.centering, info.coverage, info.vertical_offset)
        print(f"DeepFaceLive face aligner for this model (trained at centering "
              f"'{info.centering}', coverage {info.coverage:g} %): align mode FROM_POINTS, "
              f"face coverage {settings['face_coverage']:g}, y offset "
              f"{settings['y_offset']:g}, x offset {settings['x_offset']:g}, resolution "
              f"{graph.input_shape[0]}.")
    return 0
