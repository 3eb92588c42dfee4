"""Fuzzing the model file loader (``.keras``): :func:`plugins.train.model._base.io.
_load_keras_file`, what ``train`` (resume), ``convert``, ``export`` and ``--load-weights`` load
a model with, and :func:`~plugins.train.model._base.state.read_embedded_state`.

The genuine files: the tiny test plugin's model trained for two iterations by the command line
(optimizer state and the state copy included; in the default run, only built and saved by the
plugin), and two hostile files whose code would create
the sentinel file if it ran (a ``Lambda`` layer, a config naming ``os.system`` as a layer
class). Besides the byte and tree mutations of :mod:`tests.fuzzing` (a tree mutation rewrites
``config.json`` in a valid archive), one member of the archive is mutated byte-wise under a
valid CRC, or replaced by a zip bomb (1.5 GiB: beyond the child's 1 GiB address-space bound,
so a reader that unpacks it fails). See :mod:`tests.fuzzing`."""
from __future__ import annotations

import io
import json
import random
import zipfile
from pathlib import Path
from typing import Any

import keras
import pytest

from lib.errors import ModelFileError
from plugins.train.model._base.io import _load_keras_file
from plugins.train.model._base.state import read_embedded_state
from tests.conftest import BACKEND
from tests.fuzzing import (
    BYTE_MUTATIONS,
    SENTINEL,
    Target,
    check,
    counts,
    fuzz,
    read_seeds,
    write_seeds,
)
from tests.plugins.train.model.plugin_helpers import installed_plugins, make_plugin
from tests.reliability.helpers import NAME, make_data, trained_folder

FAST_OPTIONS = {"global.loss": {"loss_function": "mae", "loss_function_2": "none"}}

_SEED = 20261211


def _members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _archive(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _mutate_member(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    """One member's bytes mutated, in an archive with valid CRCs."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if sum(member.file_size for member in archive.infolist()) > 1 << 26:
                return "member (a bomb: not unpacked here)", data
        members = _members(data)
    except Exception:  # noqa: BLE001 - an earlier mutation broke the archive
        return "member (no archive)", data
    name = rng.choice(sorted(members))
    description, members[name] = rng.choice(BYTE_MUTATIONS)(rng, members[name])
    return f"member {name}: {description}", _archive(members)


_BOMB_BYTES = 1536 << 20  # more than the child's address-space bound beyond its start


def _bomb_archive(members: dict[str, bytes], name: str) -> bytes:
    """``members`` as an archive in which ``name`` inflates to 1.5 GiB of zeros (deflated to
    about 1.5 MB, written block by block so that making it stays within the bound)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for member, content in members.items():
            if member != name:
                archive.writestr(member, content)
                continue
            info = zipfile.ZipInfo(member)
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w", force_zip64=True) as handle:
                block = b"\x00" * (1 << 20)
                for _ in range(_BOMB_BYTES >> 20):
                    handle.write(block)
    return buffer.getvalue()


def _read(path: Path) -> None:
    _load_keras_file(path)
    read_embedded_state(path)


def model_file_target(seed_dir: Path) -> Target:
    seeds = read_seeds(seed_dir)

    def parse(data: bytes) -> Any:
        return json.loads(_members(data)["config.json"])

    def serialise(tree: Any) -> bytes:
        return _archive({**_members(seeds[0]), "config.json": json.dumps(tree).encode()})

    bombs: dict[str, bytes] = {}

    def bomb(rng: random.Random, data: bytes) -> tuple[str, bytes]:
        """A member of the genuine file replaced by a zip bomb (made once per member)."""
        members = _members(seeds[0])
        name = rng.choice(sorted(members))
        if name not in bombs:
            bombs[name] = _bomb_archive(members, name)
        return f"member {name} inflating to {_BOMB_BYTES} bytes", bombs[name]

    return Target(seeds, _read, f"{NAME}.keras", parse=parse, serialise=serialise,
                  extra=[_mutate_member, _mutate_member, bomb])


def _genuine(root: Path, sentinel: Path, trained: bool) -> list[bytes]:
    """The tiny plugin's model file: trained for two iterations by the command line (optimizer
    state included), or only built and saved by the plugin (seconds, for the default run)."""
    if trained:
        model_dir = trained_folder(root, make_data(root / "data"))
    else:
        with installed_plugins():
            plugin = make_plugin(NAME, root, FAST_OPTIONS)
            plugin.build()
            plugin.io.save()
        model_dir = root / "model"
    genuine = (model_dir / f"{NAME}.keras").read_bytes()
    target = str(sentinel)
    inputs = keras.Input((4,))
    outputs = keras.layers.Lambda(lambda x: (open(target, "w").close(), x)[1],
                                  name="sneaky")(inputs)
    keras.Model(inputs, outputs, name=NAME).save(root / "lambda.keras")
    sentinel.unlink(missing_ok=True)  # building the model ran it once
    members = _members(genuine)
    config = json.loads(members["config.json"])
    layers = config["config"]["layers"]
    layers[-1].update({"module": "os", "class_name": "system",
                       "config": f"touch {sentinel}", "registered_name": None})
    injected = _archive({**members, "config.json": json.dumps(config).encode()})
    return [genuine, (root / "lambda.keras").read_bytes(), injected]


@counts(30)
def test_fuzz_model_file(tmp_path, count):
    work = tmp_path / "work"
    work.mkdir()
    seeds = write_seeds(tmp_path / "seeds", _genuine(tmp_path / "genuine", work / SENTINEL,
                                                     trained=count >= 1000))
    # the default subset loads with Keras's NumPy backend (a fast start); the full run with the
    # backend under test
    report = fuzz(f"{__name__}:model_file_target", seeds, work, _SEED, count,
                  backend=BACKEND if count >= 1000 else "numpy", memory_mb=1024)
    check(report, count)


def test_zip_bombs_are_refused_before_unpacking(tmp_path):
    """What the fuzzing found: a member declared (and deflated) to unpack far beyond the file
    was unpacked whole (config.json read into memory; the weights given to HDF5)."""
    inputs = keras.Input((4,))
    keras.Model(inputs, keras.layers.Dense(2)(inputs), name=NAME).save(tmp_path / "small.keras")
    members = _members((tmp_path / "small.keras").read_bytes())
    for member, message in (("config.json", "'config.json' would unpack to"),
                            ("model.weights.h5", "would unpack to .* bytes from a file of")):
        path = tmp_path / f"bomb_{member}.keras"
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for name, content in members.items():
                archive.writestr(name, b"\x00" * (80 << 20) if name == member else content,
                                 compress_type=zipfile.ZIP_DEFLATED)
        path.write_bytes(buffer.getvalue())
        with pytest.raises(ModelFileError, match=message):
            _load_keras_file(path)
