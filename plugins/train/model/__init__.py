"""Model plugins. Every ``<name>.py`` here (not starting with ``_``, not ending in ``_defaults``)
is a plugin whose ``Model`` class subclasses ``plugins.train.model._base.ModelBase``."""
