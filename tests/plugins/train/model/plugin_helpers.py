"""Helpers for model plugin tests: make a plugin with given options, build its bare network,
collect its layer names and run random faces through it."""
from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.metadata
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import keras
import numpy as np

from lib.model import nn_blocks
from plugins.train import train_config as cfg
from tests.harness import to_numpy

LEARN_MASK = {"global.loss": {"learn_mask": True}}
"""The options that make a plugin learn a mask (a mask output after each face output)."""


def write_ini(path: Path, options: dict[str, dict[str, Any]] | None) -> Path:
    """Write ``{"section": {"option": value}}`` as an ini file; returns the path."""
    lines = []
    for section, values in (options or {}).items():
        lines.append(f"[{section}]")
        lines.extend(f"{key} = {value}" for key, value in values.items())
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def make_plugin(name: str, tmp_path: Path, options: dict[str, dict[str, Any]] | None = None,
                predict: bool = False, model_dir: Path | None = None, **arguments: Any) -> Any:
    """An instance of plugin ``name`` (module ``plugins.train.model.<name>``) configured with
    ``options`` (e.g. ``{"model.dfaker": {"output_size": 256}, "global.loss":
    {"learn_mask": True}}``), its model folder ``tmp_path / "model"`` unless given."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    config_file = write_ini(tmp_path / "train.ini", options)
    cfg.reset_config()
    keras.backend.clear_session(free_memory=False)
    from plugins.plugin_loader import PluginLoader
    return PluginLoader.get_model(name, disable_logging=True)(model_dir or tmp_path / "model",
                        argparse.Namespace(configfile=str(config_file), **arguments),
                        predict=predict)


def build_network(plugin: Any, policy: str | None = None) -> keras.Model:
    """The plugin's bare network from ``build_model`` (not compiled, no state), built the way
    ``ModelBase`` builds it: fresh Keras names and block counters first. ``policy`` (e.g.
    ``"mixed_float16"``) is set as the global dtype policy after the session reset (which resets
    the policy to ``float32``); ``None`` leaves it at that."""
    keras.backend.clear_session(free_memory=False)
    nn_blocks.reset_naming()
    if policy is not None:
        keras.config.set_dtype_policy(policy)
    return plugin.build_model(plugin._get_inputs())  # pylint: disable=protected-access


def sub_model_names(model: keras.Model) -> list[str]:
    """The model's name, then its nested models' names, depth first."""
    from plugins.train.model._base import get_all_sub_models
    return [sub.name for sub in get_all_sub_models(model)]


def layer_names(model: keras.Model, sub_model: str | None = None) -> set[str]:
    """Every layer name of ``model``, or of its nested model named ``sub_model`` (found at any
    depth), including the layers of the models nested in it."""
    if sub_model is not None:
        from plugins.train.model._base import get_all_sub_models
        found = [sub for sub in get_all_sub_models(model)[1:] if sub.name == sub_model]
        if not found:
            raise ValueError(f"{model.name!r} has no nested model {sub_model!r}. Nested models: "
                             f"{sub_model_names(model)[1:]}")
        model = found[0]
    names = set()
    for layer in model.layers:
        names.add(layer.name)
        if isinstance(layer, keras.Model):
            names |= layer_names(layer)
    return names


def random_faces(input_size: int, seed: int = 0, batch: int = 1) -> np.ndarray:
    """``batch`` random float32 faces in [0, 1) of ``input_size`` square, 3 channels."""
    return np.random.default_rng(seed).random((batch, input_size, input_size, 3),
                                              dtype="float32")


def forward_outputs(model: keras.Model, input_size: int, seed: int = 0,
                    batch: int = 1) -> list[np.ndarray]:
    """The model's outputs (as NumPy, in order) for the same :func:`random_faces` on both
    inputs, in inference mode; asserts each is float32 and within [0, 1] (sigmoid heads)."""
    faces = random_faces(input_size, seed=seed, batch=batch)
    outputs = [to_numpy(out) for out in keras.tree.flatten(model([faces, faces], training=False))]
    for idx, output in enumerate(outputs):
        assert output.dtype == np.float32, f"output {idx} is {output.dtype}, not float32"
        assert np.all((output >= 0.0) & (output <= 1.0)), (
            f"output {idx} leaves [0, 1]: {output.min()} to {output.max()}")
    return outputs


TEST_PLUGINS = ("arch_names", "four_out", "own_build", "resize", "sub_original", "tiny")
_TEST_PLUGIN_PACKAGE = "tests.plugins.train.model.test_plugins"


def test_plugin_entry_points() -> list[importlib.metadata.EntryPoint]:
    """Entry points that install our test plugins as third-party model plugins."""
    from plugins.plugin_loader import MODEL_ENTRY_POINT_GROUP
    return [importlib.metadata.EntryPoint(name=name, value=f"{_TEST_PLUGIN_PACKAGE}.{name}",
                                          group=MODEL_ENTRY_POINT_GROUP)
            for name in TEST_PLUGINS]


@contextlib.contextmanager
def installed_plugins(extra: list[importlib.metadata.EntryPoint] | None = None
                      ) -> Iterator[None]:
    """Make ``importlib.metadata.entry_points`` report the test plugins (and ``extra``) as
    installed model plugins, as a package's ``pyproject.toml`` entry points would (the plugin
    registry is refreshed on entry and exit)."""
    from plugins.plugin_loader import MODEL_ENTRY_POINT_GROUP
    real = importlib.metadata.entry_points
    ours = test_plugin_entry_points() + list(extra or [])

    def entry_points(**params: Any) -> Any:
        if params.get("group") == MODEL_ENTRY_POINT_GROUP:
            return importlib.metadata.EntryPoints(ours)
        return real(**params)

    from plugins import plugin_registry
    with mock.patch("importlib.metadata.entry_points", entry_points):
        plugin_registry.refresh()  # the registry caches what it found: look again
        cfg.reset_config()
        try:
            yield
        finally:
            plugin_registry.refresh()
            cfg.reset_config()


def decoder_face(model: keras.Model, side: str, faces: np.ndarray) -> np.ndarray:
    """The face that ``decoder_<side>(encoder(faces))`` gives, computed through the sub-models
    directly (an independent path to compare the whole model's outputs with)."""
    decoder = model.get_layer(f"decoder_{side}")
    return to_numpy(keras.tree.flatten(decoder(model.get_layer("encoder")(faces)))[0])
