"""The plugin registry: built-in and installed plugins found once and cached, refreshed on
demand, conflicts reported with every candidate; the loader, the training config and the
``plugins`` command all answer from it."""
from __future__ import annotations

import importlib.metadata
import logging
import pkgutil
from unittest import mock

import pytest

from faceswap_original.plugin_list import list_plugins
from plugins import plugin_registry
from plugins.plugin_loader import PluginLoader
from plugins.plugin_registry import MODEL_ENTRY_POINT_GROUP, MODELS, TRAINERS, PluginRegistry
from plugins.train import train_config as cfg
from plugins.train.model import original
from tests.plugins.train.model.plugin_helpers import TEST_PLUGINS, installed_plugins

_TEST_PACKAGE = "tests.plugins.train.model.test_plugins"


def _entry_point(name: str, value: str) -> importlib.metadata.EntryPoint:
    return importlib.metadata.EntryPoint(name=name, value=value, group=MODEL_ENTRY_POINT_GROUP)


@pytest.fixture(name="counting")
def fixture_counting():
    """A fresh model registry whose entry points come from ``counting.entry_points`` (a list to
    edit), counting the scans in ``counting.calls``."""
    state = mock.Mock(entry_points=[_entry_point("tiny", f"{_TEST_PACKAGE}.tiny")], calls=0)
    real = importlib.metadata.entry_points

    def entry_points(**params):
        if params.get("group") == MODEL_ENTRY_POINT_GROUP:
            state.calls += 1
            return importlib.metadata.EntryPoints(state.entry_points)
        return real(**params)

    with mock.patch("importlib.metadata.entry_points", entry_points):
        state.registry = PluginRegistry("model", "plugins.train.model", MODEL_ENTRY_POINT_GROUP)
        yield state


def test_found_once_and_cached_until_refresh(counting):
    registry = counting.registry
    assert "tiny" in registry.names() and "original" in registry.names()
    assert registry.names() == sorted(registry.names())
    registry.get("tiny")
    registry.defaults_modules()
    assert counting.calls == 1
    counting.entry_points.append(_entry_point("four_out", f"{_TEST_PACKAGE}.four_out"))
    assert "four_out" not in registry.names()  # cached
    registry.refresh()
    assert "four_out" in registry.names()
    assert counting.calls == 2


def test_builtin_and_installed_specs(counting):
    registry = counting.registry
    builtin, installed = registry.get("original"), registry.get("tiny")
    assert builtin.builtin and builtin.target == "plugins.train.model.original"
    assert builtin.source == "built-in"
    assert not installed.builtin and installed.module == f"{_TEST_PACKAGE}.tiny"
    assert installed.source.startswith(f"entry point {_TEST_PACKAGE}.tiny")
    assert registry.get("nosuch") is None
    assert not any(name.endswith(("_defaults", "_config")) or name.startswith("_")
                   for name in registry.names())
    defaults = registry.defaults_modules()
    assert defaults["original"] == "plugins.train.model.original_defaults"
    assert defaults["tiny"] == f"{_TEST_PACKAGE}.tiny_defaults"
    assert "lightweight" not in defaults  # a built-in plugin without options


def test_duplicate_entry_points_warn_naming_every_candidate(counting, caplog):
    counting.entry_points[:] = [_entry_point("dup", f"{_TEST_PACKAGE}.tiny"),
                                _entry_point("dup", f"{_TEST_PACKAGE}.four_out"),
                                _entry_point("dup", f"{_TEST_PACKAGE}.resize"),
                                _entry_point("same", f"{_TEST_PACKAGE}.tiny"),
                                _entry_point("same", f"{_TEST_PACKAGE}.tiny")]
    with caplog.at_level(logging.WARNING, logger="plugins.plugin_registry"):
        names = counting.registry.names()
    assert "dup" in names and "same" in names
    assert counting.registry.get("dup").target == f"{_TEST_PACKAGE}.tiny"  # the first listed
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 1, warnings  # one target listed twice is not a conflict
    assert "3 installed packages declare a model plugin named 'dup'" in warnings[0]
    for module in ("tiny", "four_out", "resize"):
        assert f"{_TEST_PACKAGE}.{module}" in warnings[0]


def test_clash_with_builtin_warns_and_the_builtin_wins(counting, caplog):
    counting.entry_points[:] = [_entry_point("original", f"{_TEST_PACKAGE}.sub_original"),
                                _entry_point("original", f"{_TEST_PACKAGE}.tiny")]
    with caplog.at_level(logging.WARNING, logger="plugins.plugin_registry"):
        spec = counting.registry.get("original")
    assert spec.builtin and spec.target == "plugins.train.model.original"
    (message,) = [record.getMessage() for record in caplog.records]
    assert "both built in (plugins.train.model.original)" in message
    assert f"{_TEST_PACKAGE}.sub_original" in message and f"{_TEST_PACKAGE}.tiny" in message


def test_invalid_entry_point_name_is_ignored_with_a_warning(counting, caplog):
    counting.entry_points[:] = [_entry_point("Bad-Name", f"{_TEST_PACKAGE}.tiny")]
    with caplog.at_level(logging.WARNING, logger="plugins.plugin_registry"):
        names = counting.registry.names()
    assert not any("bad" in name.lower() for name in names)
    assert "Ignoring the model plugin entry point 'Bad-Name'" in caplog.text


def test_trainers_are_the_built_in_trainer_modules():
    assert TRAINERS.names() == ["original"]


def test_loader_config_and_listing_answer_from_the_registry(capsys):
    clash = _entry_point("original", f"{_TEST_PACKAGE}.sub_original")
    with installed_plugins([clash]):
        names = MODELS.names()
        assert set(TEST_PLUGINS) <= set(names)
        assert PluginLoader.get_available_models() == names
        assert PluginLoader.get_model("original") is original.Model  # the built-in wins
        sections = [section for section in cfg.get_config().sections
                    if section.startswith("model.")]
        assert sections == [f"model.{name}" for name in MODELS.defaults_modules()]
        assert {"model.tiny", "model.own_build", "model.original"} <= set(sections)
        assert list_plugins() == 0
        listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
        assert listed == names
    assert not set(TEST_PLUGINS) & set(MODELS.names())  # refreshed when uninstalled


def test_module_refresh_refreshes_every_registry():
    MODELS.names(), TRAINERS.names()
    with mock.patch("importlib.metadata.entry_points", wraps=importlib.metadata.entry_points
                    ) as scan, mock.patch("pkgutil.iter_modules",
                                          wraps=pkgutil.iter_modules) as listing:
        MODELS.names(), TRAINERS.names()
        assert scan.call_count == 0 and listing.call_count == 0  # cached
        plugin_registry.refresh()
        MODELS.names(), TRAINERS.names()
        assert scan.call_count == 1 and listing.call_count == 2  # both scanned again
