"""Building blocks shared by Faceswap plugins: models, configuration, training data.

The package is called ``lib`` on purpose: Faceswap plugin files import ``lib.model.nn_blocks``,
``lib.config`` and ``lib.utils`` by these exact names, so a plugin written for Faceswap drops in
unchanged. Nothing in ``lib`` imports ``plugins`` or ``faceswap_original``.
"""
