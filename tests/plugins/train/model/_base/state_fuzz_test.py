"""Fuzzing the state readers (:mod:`plugins.train.model._base.state`): the ``<name>_state.json``
file, and the copy of the state inside a ``.keras`` archive (``faceswap_state.json``), each
from genuine documents (written by :meth:`State.save`, Faceswap 2's layout, a state with every
legacy key the loader renames). See :mod:`tests.fuzzing`."""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from lib.errors import ModelFileError
from plugins.train import train_config as cfg
from plugins.train.model._base.state import EMBEDDED_STATE, State, read_embedded_state
from tests.fuzzing import Target, check, counts, fuzz, read_seeds, write_seeds
from tests.plugins.train.model._base.fs2_models import fs2_state

_NAME = "original"
_SEED = 20261206


def _genuine_states(tmp_path: Path) -> list[bytes]:
    state = State(tmp_path, _NAME, no_logs=False)
    state.add_session_loss_names(["total", "face_a", "face_b"])
    state.add_session_batchsize(16)
    for _ in range(3):
        state.increment_iterations()
    state.add_lr_finder(3.5e-5)
    state.add_mixed_precision_layers(["conv_1", "dense_2"])
    state.lowest_avg_loss = 0.125
    ours = json.loads(state.to_json())
    legacy = json.loads(state.to_json())
    legacy.pop("written_by")
    legacy["config"].update({"dssim_loss": True, "clipnorm": True, "autoclip": False,
                             "l2_reg_term": 100, "mask_type": "facehull"})
    legacy["mixed_precision_layers"] = ["conv.1", "dense.2"]
    legacy["lowest_avg_loss"] = {"a": 0.25, "b": 0.5}
    return [json.dumps(doc, indent=2).encode() for doc in (ours, fs2_state(_NAME), legacy)]


def _read_state(path: Path) -> None:
    cfg.reset_config()
    state = State(path.parent, _NAME, no_logs=True)
    state.to_json()  # what the next save writes


def _parse_json(data: bytes) -> Any:
    return json.loads(data)


def _dump_json(tree: Any) -> bytes:
    return json.dumps(tree).encode("utf-8")


def state_file_target(seed_dir: Path) -> Target:
    """The state file (``original_state.json``)."""
    return Target(read_seeds(seed_dir), _read_state, f"{_NAME}_state.json",
                  parse=_parse_json, serialise=_dump_json)


def _archive(state: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("metadata.json", "{}")
        archive.writestr(EMBEDDED_STATE, state)
    return buffer.getvalue()


def _parse_archive(data: bytes) -> Any:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return json.loads(archive.read(EMBEDDED_STATE))


def embedded_state_target(seed_dir: Path) -> Target:
    """The state copy in a model archive (``original.keras``), with no state file beside it:
    the copy is then the state that is loaded."""
    return Target([_archive(seed) for seed in read_seeds(seed_dir)], _read_state,
                  f"{_NAME}.keras", parse=_parse_archive,
                  serialise=lambda tree: _archive(_dump_json(tree)))


@counts(80)
def test_fuzz_state_file(tmp_path, count):
    seeds = write_seeds(tmp_path / "seeds", _genuine_states(tmp_path / "genuine"))
    report = fuzz(f"{__name__}:state_file_target", seeds, tmp_path / "work", _SEED, count)
    check(report, count)


@counts(50)
def test_fuzz_state_copy_in_the_model_file(tmp_path, count):
    seeds = write_seeds(tmp_path / "seeds", _genuine_states(tmp_path / "genuine"))
    report = fuzz(f"{__name__}:embedded_state_target", seeds, tmp_path / "work", _SEED + 1,
                  count)
    check(report, count)


@pytest.mark.parametrize("entry, value", [
    ("sessions", {"1": 5.0}), ("sessions", {"1": {"iterations": "3"}}),
    ("lowest_avg_loss", "low"), ("lowest_avg_loss", {"a": [1]}),
    ("mixed_precision_layers", "conv_1"), ("mixed_precision_layers", [1, 2]),
    ("lr_finder", None), ("lr_finder", "1e-5"), ("name", 7)])
@pytest.mark.parametrize("where", ["state file", "model file copy"])
def test_entries_of_the_wrong_type_are_refused(tmp_path, entry, value, where):
    """What the fuzzing found: these entries were used unchecked (AttributeError, TypeError or
    ValueError later, or a corrupt state saved); a missing state file let the copy in the model
    file through unchecked."""
    document = json.loads(_genuine_states(tmp_path / "genuine")[0])
    document[entry] = value
    folder = tmp_path / "model"
    folder.mkdir()
    if where == "state file":
        (folder / f"{_NAME}_state.json").write_text(json.dumps(document))
    else:
        (folder / f"{_NAME}.keras").write_bytes(_archive(json.dumps(document).encode()))
    with pytest.raises(ModelFileError, match=f"not a valid state file: its .*{entry}"):
        _read_state(folder / "x")


def test_deeply_nested_state_file_is_refused(tmp_path):
    path = tmp_path / f"{_NAME}_state.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ModelFileError, match="corrupt or truncated"):
        _read_state(path)


def test_too_deep_or_too_large_documents_are_refused(tmp_path):
    """What the fuzzing found: a 15 MB copy in the model file whose session loss names nested
    200 deep, 100,000 times over, was accepted, and writing it back took minutes."""
    document = json.loads(_genuine_states(tmp_path / "genuine")[0])
    nested: Any = "total"
    for _ in range(20):
        nested = [nested]
    document["sessions"]["1"]["loss_names"] = [nested]
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / f"{_NAME}.keras").write_bytes(_archive(json.dumps(document).encode()))
    with pytest.raises(ModelFileError, match="nests deeper than 16 levels"):
        _read_state(folder / "x")
    document["sessions"]["1"]["loss_names"] = ["total"] * 1_000_001
    (folder / f"{_NAME}_state.json").write_text(json.dumps(document))
    with pytest.raises(ModelFileError, match="holds more than 1000000 values"):
        _read_state(folder / "x")


def test_a_copy_larger_than_the_bound_is_not_read(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(EMBEDDED_STATE, b" " * (65 << 20))
    (tmp_path / f"{_NAME}.keras").write_bytes(buffer.getvalue())
    assert read_embedded_state(tmp_path / f"{_NAME}.keras") is None
