"""Building blocks shared by Faceswap plugins: models, configuration, training data.

The package is called ``lib`` on purpose: Faceswap plugin files import ``lib.model.nn_blocks``,
``lib.config`` and ``lib.utils`` by these exact names, so a plugin written for Faceswap drops in
unchanged. Nothing in ``lib`` imports ``plugins`` or ``faceswap_original``.
"""

import os as _os

# TensorFlow reads TF_ENABLE_ONEDNN_OPTS once, when it loads (at `import keras`), so the default
# is set here, before any of our modules imports Keras (``plugins`` and ``faceswap_original``
# import this package first). oneDNN holds TensorFlow's fastest CPU kernels, yet TensorFlow
# leaves it off on CPUs without AVX-512/AMX, where forcing it on makes a training step much
# faster (see docs/performance.md). A value the user has set wins; other backends ignore it.
_os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
