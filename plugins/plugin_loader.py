"""Find and import model and trainer plugins by name.

Which plugins exist is the plugin registry's answer (:mod:`plugins.plugin_registry`): the
modules of :mod:`plugins.train.model` plus those that installed packages declare in the entry
point group ``faceswap_original.models``::

    [project.entry-points."faceswap_original.models"]
    my_model = "my_package.my_model"          # a module holding a ``Model`` class
    other = "my_package.models:OtherModel"    # or the class itself

A built-in plugin wins over an entry point of the same name. Plugin names are plain identifiers
(letters, digits and ``_``; ``-`` is read as ``_``, as in Faceswap), so a name can never reach a
module outside the plugin packages.
"""
from __future__ import annotations

import importlib
import logging
from types import ModuleType
from typing import TYPE_CHECKING, Any

from lib.errors import PluginError, PluginLoadError, PluginNotFoundError
from plugins.plugin_registry import MODEL_ENTRY_POINT_GROUP, MODELS, NAME, TRAINERS

if TYPE_CHECKING:
    from plugins.train.model._base import ModelBase
    from plugins.train.trainer._base import TrainerBase

logger = logging.getLogger(__name__)

__all__ = ["MODEL_ENTRY_POINT_GROUP", "PluginLoader"]

_DEFAULT_MODEL = "original"


class PluginLoader:
    """Retrieve plugins by name (Faceswap's ``plugins.plugin_loader.PluginLoader``, for the
    training plugins)."""

    @staticmethod
    def _check_name(name: Any, kind: str) -> str:
        """The plugin name, normalised (lower case, ``-`` as ``_``), or a
        :class:`~lib.errors.PluginNotFoundError` when it is not a plain identifier."""
        if not isinstance(name, str):
            raise PluginNotFoundError(f"A {kind} plugin name must be text. Received: {name!r}")
        normalised = name.strip().lower().replace("-", "_")
        if not NAME.fullmatch(normalised):
            raise PluginNotFoundError(
                f"'{name}' is not a valid {kind} plugin name: a plugin name is made of letters, "
                "digits and '_' (no paths, dots or spaces). List the available plugins with "
                "`faceswap-original plugins`.")
        return normalised

    @staticmethod
    def get_available_models() -> list[str]:
        """The names of every available model plugin, sorted: the built-in ones and those of
        installed packages."""
        return MODELS.names()

    @staticmethod
    def get_default_model() -> str:
        """``"original"`` (the first available model if it were missing)."""
        models = PluginLoader.get_available_models()
        return _DEFAULT_MODEL if _DEFAULT_MODEL in models else models[0]

    @staticmethod
    def get_model(name: str, disable_logging: bool = False) -> type[ModelBase]:
        """The ``Model`` class of model plugin ``name``.

        Raises
        ------
        lib.errors.PluginNotFoundError
            When no plugin has that name (the message lists the available ones).
        lib.errors.PluginLoadError
            When the plugin's module fails to import.
        """
        name = PluginLoader._check_name(name, "model")
        spec = MODELS.get(name)
        if spec is None:
            raise PluginNotFoundError(
                f"No model plugin named '{name}'. Available: "
                f"{', '.join(PluginLoader.get_available_models())}.")
        if spec.entry_point is None:
            loaded: Any = PluginLoader._import_module(spec.target, name)
        else:
            entry_point = spec.entry_point
            try:
                loaded = entry_point.load()
            except Exception as err:  # any import failure of a third party
                raise PluginLoadError(f"The model plugin '{name}' ({entry_point.value}) could "
                                      f"not be imported: {type(err).__name__}: {err}") from err
        model = loaded.Model if isinstance(loaded, ModuleType) else loaded
        PluginLoader._check_model_class(name, model)
        module_name = model.__module__.rsplit(".", 1)[-1].lower()
        if module_name != name:
            # ModelBase.name (file names, config section, state) comes from the module's name
            raise PluginError(f"The model plugin '{name}' is defined in a module named "
                              f"'{module_name}'. A plugin's module must be named after the "
                              f"plugin: rename the module or the entry point to '{name}'.")
        if not disable_logging:
            logger.info("Loading Model from %s plugin...", name.title())
        return model

    @staticmethod
    def get_trainer(name: str = "original", disable_logging: bool = False) -> type[TrainerBase]:
        """The ``Trainer`` class of trainer plugin ``name`` (``"original"``)."""
        name = PluginLoader._check_name(name, "trainer")
        spec = TRAINERS.get(name)
        if spec is None:
            raise PluginNotFoundError(
                f"No trainer plugin named '{name}'. Available: {', '.join(TRAINERS.names())}.")
        module = PluginLoader._import_module(spec.target, name)
        if not disable_logging:
            logger.debug("Loading Trainer from %s plugin...", name.title())
        return module.Trainer

    @staticmethod
    def _import_module(module_name: str, name: str) -> ModuleType:
        try:
            return importlib.import_module(module_name)
        except Exception as err:  # report any failure of the plugin's code
            raise PluginLoadError(f"The plugin '{name}' ({module_name}) could not be imported: "
                                  f"{type(err).__name__}: {err}") from err

    @staticmethod
    def _check_model_class(name: str, model: Any) -> None:
        from plugins.train.model._base import ModelBase
        if not (isinstance(model, type) and issubclass(model, ModelBase)):
            raise PluginError(f"The model plugin '{name}' does not provide a `Model` class "
                              f"that subclasses ModelBase (found {model!r}).")

