"""PluginLoader: built-in and installed model plugins, trainers, and names that are refused."""
from __future__ import annotations

import importlib.metadata

import pytest

from lib.errors import PluginError, PluginLoadError, PluginNotFoundError
from plugins.plugin_loader import MODEL_ENTRY_POINT_GROUP, PluginLoader
from plugins.train.model import original
from plugins.train.trainer import original as original_trainer
from tests.plugins.train.model.plugin_helpers import TEST_PLUGINS, installed_plugins


def _entry_point(name: str, value: str) -> importlib.metadata.EntryPoint:
    return importlib.metadata.EntryPoint(name=name, value=value, group=MODEL_ENTRY_POINT_GROUP)


def test_built_in_models():
    names = PluginLoader.get_available_models()
    assert "original" in names and names == sorted(names)
    assert not any(name.startswith("_") or name.endswith("_defaults") for name in names)
    assert PluginLoader.get_default_model() == "original"
    assert PluginLoader.get_model("original") is original.Model
    assert PluginLoader.get_model("Original") is original.Model  # case as Faceswap: lowered


def test_installed_models_and_hyphens():
    with installed_plugins():
        assert set(TEST_PLUGINS) <= set(PluginLoader.get_available_models())
        model = PluginLoader.get_model("sub-original")  # "-" reads as "_", as in Faceswap
        assert model.__module__.endswith("test_plugins.sub_original")
        assert issubclass(model, original.Model)


@pytest.mark.parametrize("name", ["../original", "plugins.train.model.original", "os",
                                  "original/../x", "", " ", "a b", "1abc", "orig;rm", None, 3])
def test_names_that_are_not_plugin_names(name):
    with pytest.raises(PluginNotFoundError):
        PluginLoader.get_model(name)


def test_unknown_model_lists_the_available_ones():
    with pytest.raises(PluginNotFoundError, match=r"No model plugin named 'nosuch'.*original"):
        PluginLoader.get_model("nosuch")


def test_broken_installed_plugins():
    broken = [_entry_point("gone", "no_such_package.gone"),
              _entry_point("misnamed", "tests.plugins.train.model.test_plugins.tiny"),
              _entry_point("notamodel", "tests.plugins.train.model.plugin_helpers:write_ini")]
    with installed_plugins(broken):
        with pytest.raises(PluginLoadError, match="'gone'.*ModuleNotFoundError"):
            PluginLoader.get_model("gone")
        with pytest.raises(PluginError, match="module named 'tiny'"):
            PluginLoader.get_model("misnamed")
        with pytest.raises(PluginError, match="does not provide a `Model` class"):
            PluginLoader.get_model("notamodel")


def test_trainer():
    assert PluginLoader.get_trainer() is original_trainer.Trainer
    with pytest.raises(PluginNotFoundError, match="No trainer plugin named 'fast'"):
        PluginLoader.get_trainer("fast")
    with pytest.raises(PluginNotFoundError):
        PluginLoader.get_trainer("../original")
