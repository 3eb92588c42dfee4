"""``import lib.model.custom_objects`` alone registers every custom object: a fresh Python process
that imports only Keras and that module loads every plugin's saved ``.keras`` file (with its
optimizer and losses) and predicts what the plugin predicted before saving."""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from tests.harness import to_numpy
from tests.plugins.train.model.plugin_helpers import (
    LEARN_MASK,
    installed_plugins,
    make_plugin,
    random_faces,
)

_REPO = Path(__file__).resolve().parents[3]

# What the fresh process runs: Keras and the one documented import, nothing else of ours.
_LOADER = """
import json, sys
import numpy as np
import keras

# Without the import, Keras cannot resolve our classes (the failure this module ends).
try:
    keras.saving.load_model(sys.argv[1], safe_mode=True)
    before = ""
except Exception as err:
    before = str(err)

import lib.model.custom_objects
from lib.model.custom_objects import get_custom_objects

report = {"before_import": before, "registered": sorted(get_custom_objects()),
          "plugins_imported": sorted(name for name in sys.modules
                                     if name.split(".")[0] in ("plugins", "tests")),
          "models": {}}
for path in sys.argv[1:]:
    model = keras.saving.load_model(path, safe_mode=True)
    faces = np.load(path + ".faces.npy")
    outputs = [keras.ops.convert_to_numpy(out)
               for out in keras.tree.flatten(model([faces, faces], training=False))]
    np.savez(path + ".loaded.npz", *outputs)
    report["models"][path] = {"optimizer": type(model.optimizer).__name__,
                              "loss": sorted({type(loss).__name__ for loss in
                                              keras.tree.flatten(model.loss)})}
print(json.dumps(report))
"""


def _load_in_fresh_process(paths: list[Path]) -> dict:
    env = {**os.environ, "PYTHONPATH": str(_REPO)}
    result = subprocess.run([sys.executable, "-c", _LOADER, *map(str, paths)], cwd=_REPO,
                            env=env, capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _registered_in_lib() -> set[str]:
    """Every class in ``lib`` decorated with ``@register_serializable()`` (read from the source,
    not from Keras's registry)."""
    names = set()
    for path in (_REPO / "lib").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and any(
                    isinstance(dec, ast.Call) and getattr(dec.func, "id", "")
                    == "register_serializable" for dec in node.decorator_list):
                names.add(node.name)
    return names


def _save(name: str, tmp_path: Path, options: dict) -> Path:
    """Build plugin ``name`` with ``options``, save it with its optimizer, and store random faces
    and the model's outputs for them beside the file."""
    options = {**options, "global.optimizer": {"save_optimizer": "always",
                                               **options.get("global.optimizer", {})}}
    plugin = make_plugin(name, tmp_path / name, options)
    plugin.build()
    plugin.io.save(is_exit=True)
    path = Path(plugin.io.filename)  # <plugin name>.keras (dfl_sae's model is dfl_sae_df)
    assert path.is_file() and path.parent == tmp_path / name / "model"
    faces = random_faces(plugin.model.inputs[0].shape[1], seed=3)
    np.save(f"{path}.faces.npy", faces)
    np.savez(f"{path}.saved.npz", *[to_numpy(out) for out in keras.tree.flatten(
        plugin.model([faces, faces], training=False))])
    keras.backend.clear_session(free_memory=True)
    return path


def _assert_same_outputs(path: Path) -> None:
    saved = np.load(f"{path}.saved.npz")
    loaded = np.load(f"{path}.loaded.npz")
    assert len(saved.files) == len(loaded.files) > 0
    for key in saved.files:
        np.testing.assert_allclose(loaded[key], saved[key], rtol=1e-5, atol=1e-6)


# Small configurations: our test plugins (installed as third-party plugins) and Phaze-A with
# narrow layers, with losses, the optimizer and AutoClip that register their own classes.
_FAST = {
    "tiny": {**LEARN_MASK, "global.loss": {"learn_mask": True, "loss_function": "ssim",
                                          "loss_function_2": "ffl", "loss_weight_2": 50,
                                          "loss_function_3": "gmsd", "loss_weight_3": 10}},
    "sub_original": {"global.optimizer": {"optimizer": "adabelief",
                                          "gradient_clipping": "autoclip"}},
    "resize": {"global.loss": {"loss_function": "ms_ssim", "loss_function_2": "laploss",
                               "loss_weight_2": 20}},
    "phaze_a": {"model.phaze_a": {
        "fc_min_filters": 128, "fc_max_filters": 128, "fc_gblock_min_nodes": 128,
        "fc_gblock_max_nodes": 128, "dec_max_filters": 256, "fs_original_max_filters": 256,
        "bottleneck_size": 128}},
}
_FULL_SIZE = ("dfaker", "dfl_h128", "dfl_sae", "dlight", "iae", "lightweight", "original",
              "phaze_a", "realface", "unbalanced", "villain")


def test_one_import_registers_every_custom_object_and_loads_every_small_plugin(tmp_path):
    with installed_plugins():
        paths = [_save(name, tmp_path, options) for name, options in _FAST.items()]
    report = _load_in_fresh_process(paths)
    assert "Could not locate class" in report["before_import"]
    assert report["plugins_imported"] == []
    assert set(report["registered"]) == _registered_in_lib()
    for path in paths:
        _assert_same_outputs(path)
    models = report["models"]
    assert models[str(paths[1])]["optimizer"] == "AdaBelief"
    assert "LossWrapper" in models[str(paths[0])]["loss"]


@pytest.mark.slow
@pytest.mark.parametrize("name", _FULL_SIZE)
def test_full_size_plugin_file_loads_after_the_one_import(name, tmp_path):
    path = _save(name, tmp_path, {})
    _load_in_fresh_process([path])
    _assert_same_outputs(path)
