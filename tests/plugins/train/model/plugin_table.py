"""One harness for the build tables of the model plugin tests (as KerasHub's backbone tests feed
one table per model to shared checks): each plugin's test file lists its builds as
:class:`BuildCase` rows (parameter counts, shapes, sub-models, layer names) and
:func:`check_build` asserts all of them the same way; a test adds only what is particular to its
plugin, on the model that :func:`check_build` returns."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import pytest

from tests.plugins.train.model.plugin_helpers import (
    build_network,
    layer_names,
    make_plugin,
    sub_model_names,
)


@dataclass(frozen=True)
class BuildCase:
    """One build of one plugin and what it must give.

    Parameters
    ----------
    id
        The test id (``"default"``, ``"learn_mask"``).
    plugin
        The plugin name.
    params
        ``model.count_params()`` (Faceswap 3's build; ``None``: not checked).
    output_shapes
        Every output's shape, batch dimension ``None``.
    output_names
        ``model.output_names`` (``None``: not checked).
    options
        The config options, as :func:`~plugin_helpers.make_plugin` takes them.
    attributes
        Plugin attributes and their values, checked before the build.
    sub_models
        Every sub-model name, depth first (``None``: not checked).
    last_sub_model
        The name of the last sub-model (``None``: not checked).
    input_shapes
        Every input's shape (``None``: not checked); the inputs are always named
        ``face_in_a``, ``face_in_b``.
    sub_model_inputs, sub_model_outputs
        Sub-model name -> the shape of its (single) input / output.
    sub_model_params
        Sub-model name -> its parameter count.
    layers, absent
        Sub-model name -> layer names that it holds / must not hold (at any depth); the
        model's own name stands for the whole model.
    activations
        ``(sub-model, layer)`` -> the layer's configured activation.
    extra
        A check of the plugin's own, called with the built network after the others.
    smoke, slow
        Whether the row belongs to the smoke subset / runs only with ``--runslow``.
    """
    id: str
    plugin: str
    params: int | None
    output_shapes: list[tuple[Any, ...]]
    output_names: list[str] | None = None
    options: dict[str, dict[str, Any]] | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    sub_models: list[str] | None = None
    last_sub_model: str | None = None
    input_shapes: list[tuple[Any, ...]] | None = None
    sub_model_inputs: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    sub_model_outputs: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    sub_model_params: dict[str, int] = field(default_factory=dict)
    layers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    absent: dict[str, tuple[str, ...]] = field(default_factory=dict)
    activations: dict[tuple[str, str], str] = field(default_factory=dict)
    extra: Callable[[keras.Model], None] | None = None
    smoke: bool = False
    slow: bool = False


def table(cases: list[BuildCase]) -> list[Any]:
    """The rows as ``pytest.param`` objects with their ids (and the smoke and slow marks where
    set)."""
    return [pytest.param(case, id=case.id,
                         marks=[mark for mark, on in ((pytest.mark.smoke, case.smoke),
                                                      (pytest.mark.slow, case.slow)) if on])
            for case in cases]


def check_build(case: BuildCase, tmp_path: Path) -> keras.Model:
    """Build ``case``'s plugin with its options and assert every entry of the row; returns the
    bare network for the plugin's own checks."""
    plugin = make_plugin(case.plugin, tmp_path, case.options)
    for attribute, value in case.attributes.items():
        assert getattr(plugin, attribute) == value, attribute
    model = build_network(plugin)
    if case.params is not None:
        assert model.count_params() == case.params
    names = sub_model_names(model)
    if case.sub_models is not None:
        assert names == case.sub_models
    if case.last_sub_model is not None:
        assert names[-1] == case.last_sub_model
    assert [tensor.name for tensor in model.inputs] == ["face_in_a", "face_in_b"]
    if case.input_shapes is not None:
        assert [tuple(tensor.shape) for tensor in model.inputs] == case.input_shapes
    assert [tuple(tensor.shape) for tensor in model.outputs] == case.output_shapes
    assert all(tensor.dtype == "float32" for tensor in model.outputs)
    if case.output_names is not None:
        assert model.output_names == case.output_names
    for name, shape in case.sub_model_inputs.items():
        assert tuple(model.get_layer(name).input.shape) == shape, name
    for name, shape in case.sub_model_outputs.items():
        assert tuple(model.get_layer(name).output.shape) == shape, name
    for name, count in case.sub_model_params.items():
        assert model.get_layer(name).count_params() == count, name
    def held_by(sub_model: str) -> set[str]:
        return layer_names(model, None if sub_model == model.name else sub_model)

    for sub_model, expected in case.layers.items():
        held = held_by(sub_model)
        missing = [name for name in expected if name not in held]
        assert not missing, f"{sub_model} lacks {missing}"
    for sub_model, unexpected in case.absent.items():
        held = held_by(sub_model)
        present = [name for name in unexpected if name in held]
        assert not present, f"{sub_model} holds {present}"
    for (sub_model, layer), activation in case.activations.items():
        config = model.get_layer(sub_model).get_layer(layer).get_config()
        assert config["activation"] == activation, (sub_model, layer)
    if case.extra is not None:
        case.extra(model)
    return model
