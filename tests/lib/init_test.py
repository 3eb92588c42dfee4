"""``lib/__init__.py``: the backend defaults set before Keras loads."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

_PROBE = """
import json, os, sys
import {module}
print(json.dumps({{"keras_loaded": "keras" in sys.modules,
                  "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS")}}))
"""


def _probe(module: str, value: str | None) -> dict:
    env = {key: val for key, val in os.environ.items() if key != "TF_ENABLE_ONEDNN_OPTS"}
    if value is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = value
    done = subprocess.run([sys.executable, "-c", _PROBE.format(module=module)], env=env,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("module", ["lib", "plugins", "faceswap_original"])
def test_onednn_is_on_before_keras_loads(module):
    """Importing any of our packages sets TF_ENABLE_ONEDNN_OPTS=1 without loading Keras, so
    TensorFlow (which reads it when Keras loads it) gets its oneDNN kernels on every CPU."""
    assert _probe(module, None) == {"keras_loaded": False, "onednn": "1"}


def test_users_onednn_setting_wins():
    assert _probe("plugins", "0")["onednn"] == "0"


def test_plugin_file_importing_keras_first_still_gets_the_default():
    """A plugin module imports ``keras`` before ``lib``, but its package ``plugins`` runs
    first."""
    probe = _PROBE.format(module="plugins.train.model.original").replace(
        '"keras" in sys.modules', '"tensorflow" in sys.modules')
    env = {key: val for key, val in os.environ.items() if key != "TF_ENABLE_ONEDNN_OPTS"}
    code = ("import sys, os\nimport plugins\nassert 'keras' not in sys.modules\n" + probe)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1])["onednn"] == "1"
