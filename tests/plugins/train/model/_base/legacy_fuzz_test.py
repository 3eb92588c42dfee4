"""Fuzzing the reader of Faceswap 2 model files (``<name>.h5``, Keras 2):
:meth:`plugins.train.model._base.legacy.Legacy.build`, everything the upgrade reads before it
writes anything (the HDF5 attributes, the Keras 2 model config and its conversion, the network
and its weights).

The genuine files: Faceswap 2's Original model (reduced widths) written by Keras 2 itself
(``tf-keras``), with and without a learned mask (the default run: without), and one whose
config holds a Keras 2 ``Lambda`` layer. Besides the byte and tree mutations of
:mod:`tests.fuzzing` (a tree mutation rewrites the ``model_config`` attribute of a valid HDF5
file), the ``keras_version`` attribute is changed. See :mod:`tests.fuzzing`."""
from __future__ import annotations

import base64
import io
import json
import marshal
import random
from pathlib import Path
from typing import Any

import h5py
import pytest

from lib.errors import ModelFileError
from plugins.train.model._base.legacy import Legacy
from tests.conftest import BACKEND
from tests.fuzzing import SENTINEL, Target, check, counts, fuzz, read_seeds, write_seeds
from tests.plugins.train.model._base import fs2_models

_SEED = 20261212
_NAME = "original"


def _attributes(data: bytes) -> dict[str, Any]:
    with h5py.File(io.BytesIO(data), "r") as handle:
        return {key: handle.attrs[key] for key in ("keras_version", "model_config")}


def _with_attributes(data: bytes, **attributes: Any) -> bytes:
    buffer = io.BytesIO(data)
    with h5py.File(buffer, "r+") as handle:
        for key, value in attributes.items():
            handle.attrs[key] = value
    return buffer.getvalue()


def _version(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    version = rng.choice(("2", "3.0.0", "2.x", "", "2." * 10_000, "\x00", "2.15.0"))
    try:
        return f"keras_version {version[:20]!r}", _with_attributes(data, keras_version=version)
    except Exception:  # noqa: BLE001 - an earlier mutation broke the HDF5 file
        return "keras_version (not HDF5)", data


def _read(path: Path) -> None:
    Legacy(path.parent, _NAME).build()


def legacy_target(seed_dir: Path) -> Target:
    seeds = read_seeds(seed_dir)

    def parse(data: bytes) -> Any:
        text = _attributes(data)["model_config"]
        return json.loads(text.decode() if isinstance(text, bytes) else text)

    def serialise(tree: Any) -> bytes:
        return _with_attributes(seeds[0], model_config=json.dumps(tree))

    state = json.dumps(fs2_models.fs2_state(_NAME)).encode()
    return Target(seeds, _read, f"{_NAME}.h5", parse=parse, serialise=serialise,
                  extra=[_version], support={f"{_NAME}_state.json": state})


def _genuine(root: Path, masks: tuple[bool, ...]) -> list[bytes]:
    seeds = []
    for learn_mask in masks:
        folder = root / f"mask_{learn_mask}"
        fs2_models.write_fs2_folder(fs2_models.original(learn_mask=learn_mask), folder, _NAME,
                                    learn_mask=learn_mask)
        seeds.append((folder / f"{_NAME}.h5").read_bytes())
    config = json.loads(_attributes(seeds[0])["model_config"])
    layer = config["config"]["layers"][-1]
    layer["class_name"] = "Lambda"
    # Keras 2's func_dump of a function that would create the sentinel file when run
    payload = (lambda x: (open(SENTINEL, "w").close(), x)[1]).__code__
    layer["config"].update({"function": [base64.b64encode(marshal.dumps(payload)).decode(),
                                         None, None],
                            "function_type": "lambda", "module": "__main__"})
    seeds.append(_with_attributes(seeds[0], model_config=json.dumps(config)))
    return seeds


@counts(25, 1000)
def test_fuzz_faceswap_2_model_file(tmp_path, count):
    pytest.importorskip("tf_keras", reason="tf-keras (Keras 2, in the 'test' extra) writes the "
                                           "Faceswap 2 model files")
    # the default run's genuine model is the one without a mask (Keras 2 writes each in seconds)
    masks = (False, True) if count >= 1000 else (False,)
    seeds = write_seeds(tmp_path / "seeds", _genuine(tmp_path / "genuine", masks))
    # the default subset builds with Keras's NumPy backend (a fast start); the full run with the
    # backend under test
    report = fuzz(f"{__name__}:legacy_target", seeds, tmp_path / "work", _SEED, count,
                  backend=BACKEND if count >= 1000 else "numpy", memory_mb=2048)
    check(report, count)


def _h5_with_config(path: Path, config: str) -> None:
    """A Keras 2 HDF5 file as far as the reader looks before the rewrite: the version, the
    config and a weights group."""
    with h5py.File(path, "w") as handle:
        handle.attrs["keras_version"] = "2.15.0"
        handle.attrs["model_config"] = config
        handle.create_group("model_weights")


@pytest.mark.parametrize("config", [
    {"class_name": "Functional", "config": {"layers": [{"class_name": [0], "name": "x",
                                                        "inbound_nodes": [[]], "config": {}}],
                                            "input_layers": [], "output_layers": []}},
    {"class_name": "Functional", "config": {"layers": [{"class_name": "Functional", "name": [1],
                                                        "config": {"layers": []}}],
                                            "input_layers": [], "output_layers": []}},
    "[" * 100_000 + "]" * 100_000])
def test_malformed_configs_are_refused(tmp_path, config):
    """What the fuzzing found: a class name or layer name of another type, and deep nesting,
    escaped as TypeError or RecursionError."""
    _h5_with_config(tmp_path / f"{_NAME}.h5",
                    config if isinstance(config, str) else json.dumps(config))
    with pytest.raises(ModelFileError, match="cannot be upgraded"):
        Legacy(tmp_path, _NAME).build()
    assert sorted(path.name for path in tmp_path.iterdir()) == [f"{_NAME}.h5"]
