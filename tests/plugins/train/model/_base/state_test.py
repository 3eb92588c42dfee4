"""Tests for plugins.train.model._base.state: the ``<name>_state.json`` file and config merging."""
from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import pytest

from lib.errors import FaceswapError, ModelFileError
from plugins.train import train_config as cfg
from plugins.train.model import original_defaults
from plugins.train.model._base.state import EMBEDDED_STATE, State, program_version

_LOGGER = "plugins.train.model._base.state"
_KEYS = ["name", "sessions", "lowest_avg_loss", "iterations", "mixed_precision_layers",
         "lr_finder", "config", "written_by"]  # Faceswap's keys, then our version stamp
_SESSION_KEYS = ["timestamp", "no_logs", "loss_names", "batchsize", "iterations", "config"]


@pytest.fixture(name="config")
def fixture_config():
    """The live training config (names its items, so ``item.set`` works)."""
    return cfg.get_config()


def _read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _state_file(tmp_path: Path, name: str = "original") -> Path:
    return tmp_path / f"{name}_state.json"


def _trained_state(tmp_path: Path, iterations: int = 3, name: str = "original") -> State:
    """A saved state whose first session ran ``iterations`` iterations."""
    state = State(tmp_path, name, no_logs=False)
    for _ in range(iterations):
        state.increment_iterations()
    state.save()
    return state


def _write_legacy(tmp_path: Path, config: dict[str, Any], **extra: Any) -> Path:
    """A hand-written state file as an older Faceswap release left it."""
    document = {"name": "original",
                "sessions": {"1": {"timestamp": 1600000000.0, "no_logs": False,
                                   "loss_names": ["total", "face_a", "face_b"], "batchsize": 16,
                                   "iterations": 10, "config": {}}},
                "lowest_avg_loss": 0.5, "iterations": 10, "mixed_precision_layers": [],
                "config": config, **extra}
    path = _state_file(tmp_path)
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def _full_legacy_config(**changes: Any) -> dict[str, Any]:
    """Every current option at its default (as a saved file holds them), plus ``changes``."""
    values = {key: item.default
              for key, item in cfg.get_config().items(["global", "model.original"]).items()}
    values.update(changes)
    return values


def _messages(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [record.getMessage() for record in caplog.records
            if record.name == _LOGGER and record.levelno == level]


# --- new model and resume ------------------------------------------------------------------------
@pytest.mark.smoke
def test_new_model_session_and_file(tmp_path, config, caplog):
    caplog.set_level(logging.INFO, logger=_LOGGER)
    cfg.coverage.set(87.5)                      # fixed, set in the "ini" before creation
    cfg.Optimizer.learning_rate.set(2e-5)       # changeable
    original_defaults.lowmem.set(True)          # plugin option (section model.original)
    before = time.time()
    state = State(tmp_path, "original", no_logs=True)
    after = time.time()

    assert "No existing state file found. Generating." in _messages(caplog, logging.INFO)
    path = _state_file(tmp_path)
    assert state.filename == str(path)
    assert not path.exists()                    # nothing written until save()
    assert state.session_id == 1
    assert state.iterations == 0
    assert state.lowest_avg_loss == 0.0
    assert state.lr_finder == -1.0
    assert state.mixed_precision_layers == []
    assert state.model_needs_rebuild is False
    assert state.loss_names == []

    session = state.current_session
    assert sorted(session) == sorted(_SESSION_KEYS)
    assert before <= session["timestamp"] <= after
    assert session["no_logs"] is True
    assert session["batchsize"] == 0
    assert session["iterations"] == 0
    # session config: every changeable option, none of the fixed ones
    assert session["config"]["learning_rate"] == 2e-5
    assert session["config"]["mixed_precision"] is False
    assert session["config"]["save_optimizer"] == "exit"
    for fixed in ("coverage", "centering", "learn_mask", "optimizer", "lowmem"):
        assert fixed not in session["config"]
    options = cfg.get_config().items(["global", "model.original"])
    changeable = {key for key, item in options.items() if not item.fixed}
    assert set(session["config"]) == changeable
    assert len(changeable) == 27  # Faceswap 3's 24, our mixed_precision_dtype, nan_rollbacks and
    # nan_rollback_factor

    state.add_session_loss_names(["total", "face_a", "face_b"])
    state.add_session_batchsize(8)
    state.increment_iterations()
    state.increment_iterations()
    state.save()

    text = path.read_text(encoding="utf-8")
    assert text.startswith('{\n  "name": "original",\n  "sessions": {')   # indent=2
    saved = json.loads(text)
    assert list(saved) == _KEYS
    assert saved["name"] == "original"
    assert saved["iterations"] == 2
    assert saved["lowest_avg_loss"] == 0.0
    assert saved["lr_finder"] == -1.0
    assert saved["mixed_precision_layers"] == []
    assert list(saved["sessions"]) == ["1"]
    entry = saved["sessions"]["1"]
    assert entry["iterations"] == 2
    assert entry["batchsize"] == 8
    assert entry["loss_names"] == ["total", "face_a", "face_b"]
    assert entry["no_logs"] is True
    # stored config: every global option and the plugin's own, with the values of the config
    assert set(saved["config"]) == set(options)   # every global option plus model.original
    assert {key: saved["config"][key] for key in changeable} == session["config"]
    assert saved["config"]["coverage"] == 87.5
    assert saved["config"]["learning_rate"] == 2e-5
    assert saved["config"]["lowmem"] is True
    assert saved["config"]["centering"] == "face"
    assert saved["config"]["mask_type"] == "extended"
    assert saved["config"]["use_ema"] is False


def test_plugin_without_defaults_stores_only_global_options(tmp_path, config):
    state = _trained_state(tmp_path, iterations=1, name="no_such_plugin")
    saved = _read(_state_file(tmp_path, "no_such_plugin"))
    assert saved["name"] == "no_such_plugin"
    assert state.filename.endswith("no_such_plugin_state.json")
    assert "lowmem" not in saved["config"]
    assert set(saved["config"]) == set(cfg.get_config().items(["global"]))
    assert "coverage" in saved["config"] and "learning_rate" in saved["config"]


@pytest.mark.smoke
def test_resume_sums_iterations_and_drops_empty_sessions(tmp_path, config):
    _trained_state(tmp_path, iterations=3)

    second = State(tmp_path, "original", no_logs=False)
    assert second.session_id == 2
    assert second.iterations == 3
    assert list(second.sessions) == [1, 2]        # int keys, not the JSON strings
    assert second.sessions[1]["iterations"] == 3
    second.increment_iterations()
    second.increment_iterations()
    assert second.iterations == 5
    assert second.current_session["iterations"] == 2
    second.save()

    third = State(tmp_path, "original", no_logs=False)
    assert third.session_id == 3
    assert third.iterations == 5
    third.save()                                  # session 3 never trained
    saved = _read(_state_file(tmp_path))
    assert list(saved["sessions"]) == ["1", "2"]
    assert saved["sessions"]["2"]["iterations"] == 2
    assert saved["iterations"] == 5

    fourth = State(tmp_path, "original", no_logs=False)
    assert fourth.session_id == 3                 # the empty session left no trace


def test_new_session_id_follows_highest_stored_id(tmp_path, config):
    path = _write_legacy(tmp_path, _full_legacy_config())
    document = _read(path)
    document["sessions"] = {"2": {**document["sessions"]["1"], "iterations": 4},
                            "7": {**document["sessions"]["1"], "iterations": 6}}
    path.write_text(json.dumps(document), encoding="utf-8")
    state = State(tmp_path, "original", no_logs=False)
    assert state.session_id == 8
    assert sorted(state.sessions) == [2, 7, 8]


def test_name_lowest_loss_lr_finder_and_layers_are_read(tmp_path, config):
    _write_legacy(tmp_path, _full_legacy_config(), lr_finder=3e-5,
                  mixed_precision_layers=["conv_128_0_conv2d"])
    state = State(tmp_path, "original", no_logs=False)
    assert state.lowest_avg_loss == 0.5
    assert state.lr_finder == 3e-5
    assert state.mixed_precision_layers == ["conv_128_0_conv2d"]
    assert state.iterations == 10
    assert state.sessions[1]["loss_names"] == ["total", "face_a", "face_b"]


def test_updates_are_saved(tmp_path, config):
    state = State(tmp_path, "original", no_logs=False)
    state.increment_iterations()
    state.add_mixed_precision_layers(("dense_0", "conv_1"))
    state.add_lr_finder(4e-5)
    state.lowest_avg_loss = 0.125
    state.update_session_config("learning_rate", 1e-5)
    state.save()
    saved = _read(_state_file(tmp_path))
    assert saved["mixed_precision_layers"] == ["dense_0", "conv_1"]
    assert saved["lr_finder"] == 4e-5
    assert saved["lowest_avg_loss"] == 0.125
    assert saved["sessions"]["1"]["config"]["learning_rate"] == 1e-5
    assert saved["config"]["learning_rate"] == 5e-5    # only the session record changes


def test_update_session_config_checks_key_and_type(tmp_path, config):
    state = State(tmp_path, "original", no_logs=False)
    with pytest.raises(TypeError, match="learning_rate.*float.*Received: '1e-5'"):
        state.update_session_config("learning_rate", "1e-5")
    with pytest.raises(TypeError, match="must be of type float"):
        state.update_session_config("learning_rate", 1)
    with pytest.raises(ValueError, match="Unknown session configuration key 'coverage'"):
        state.update_session_config("coverage", 80.0)      # fixed: not in the session record
    assert state.current_session["config"]["learning_rate"] == 5e-5


def test_model_name_validated(tmp_path, config):
    with pytest.raises(ValueError, match="non-empty string. Received: ''"):
        State(tmp_path, "", no_logs=False)


# --- merging the stored configuration ------------------------------------------------------------
def test_fixed_option_stored_value_wins_and_goes_live(tmp_path, config, caplog):
    _trained_state(tmp_path)                     # coverage 100.0, lowmem False, mask extended
    cfg.coverage.set(75.0)
    original_defaults.lowmem.set(True)
    cfg.Loss.mask_type.set("components")
    caplog.set_level(logging.INFO, logger=_LOGGER)

    state = State(tmp_path, "original", no_logs=False)

    assert cfg.coverage() == 100.0                # pushed back into the live ConfigItem
    assert original_defaults.lowmem() is False
    assert cfg.Loss.mask_type() == "extended"
    warnings = _messages(caplog, logging.WARNING)
    assert len(warnings) == 3
    coverage_warning = next(text for text in warnings if "global.coverage" in text)
    assert "100.0" in coverage_warning and "75.0" in coverage_warning
    lowmem_warning = next(text for text in warnings if "model.original.lowmem" in text)
    assert "False" in lowmem_warning and "True" in lowmem_warning
    assert "Using configuration saved in state file" in _messages(caplog, logging.INFO)
    state.save()
    assert _read(_state_file(tmp_path))["config"]["coverage"] == 100.0
    assert state.model_needs_rebuild is False


def test_fixed_option_unchanged_logs_no_warning(tmp_path, config, caplog):
    _trained_state(tmp_path)
    caplog.set_level(logging.INFO, logger=_LOGGER)
    State(tmp_path, "original", no_logs=False)
    assert _messages(caplog, logging.WARNING) == []
    assert not any("has been updated" in text for text in _messages(caplog, logging.INFO))


def test_changeable_option_new_value_wins(tmp_path, config, caplog):
    _trained_state(tmp_path)                     # learning_rate 5e-5
    cfg.Optimizer.learning_rate.set(1e-5)
    caplog.set_level(logging.INFO, logger=_LOGGER)

    state = State(tmp_path, "original", no_logs=False)

    assert cfg.Optimizer.learning_rate() == 1e-5
    assert state.current_session["config"]["learning_rate"] == 1e-5
    infos = _messages(caplog, logging.INFO)
    assert "Config item: 'learning_rate' has been updated from '5e-05' to '1e-05'" in infos
    assert _messages(caplog, logging.WARNING) == []
    assert state.model_needs_rebuild is False
    state.save()
    saved = _read(_state_file(tmp_path))
    assert saved["config"]["learning_rate"] == 1e-5
    assert saved["sessions"]["1"]["config"]["learning_rate"] == 5e-5   # history kept


@pytest.mark.parametrize("saved_with, resumed_with, rebuild",
                         [(False, True, True), (True, False, True), (True, True, False)])
def test_mixed_precision_change_needs_rebuild(tmp_path, config, saved_with, resumed_with,
                                              rebuild):
    cfg.mixed_precision.set(saved_with)
    _trained_state(tmp_path)
    cfg.mixed_precision.set(resumed_with)
    state = State(tmp_path, "original", no_logs=False)
    assert state.model_needs_rebuild is rebuild
    assert cfg.mixed_precision() is resumed_with


def test_unknown_stored_keys_are_kept(tmp_path, config):
    _write_legacy(tmp_path, _full_legacy_config(retired_option=3))
    state = State(tmp_path, "original", no_logs=False)
    state.increment_iterations()
    state.save()
    assert _read(_state_file(tmp_path))["config"]["retired_option"] == 3


def test_stored_none_reads_as_none(tmp_path, config):
    cfg.Loss.mask_type.set("components")
    _write_legacy(tmp_path, _full_legacy_config(mask_type=None, learn_mask=False))
    State(tmp_path, "original", no_logs=False)
    assert cfg.Loss.mask_type() == "none"


def test_invalid_stored_fixed_value_warns_and_keeps_configured(tmp_path, config, caplog):
    _write_legacy(tmp_path, _full_legacy_config(coverage=12.0))    # below the allowed 62.5
    cfg.coverage.set(90.0)
    caplog.set_level(logging.WARNING, logger=_LOGGER)
    state = State(tmp_path, "original", no_logs=False)
    assert cfg.coverage() == 90.0
    warnings = _messages(caplog, logging.WARNING)
    assert len(warnings) == 1
    assert "12.0" in warnings[0] and "global.coverage" in warnings[0] and "90.0" in warnings[0]
    state.save()
    assert _read(_state_file(tmp_path))["config"]["coverage"] == 90.0


def test_missing_options_take_legacy_defaults(tmp_path, config, caplog):
    config_items = _full_legacy_config()
    for key in ("centering", "mask_loss_function", "optimizer", "mixed_precision", "coverage",
                "vertical_offset"):
        del config_items[key]
    _write_legacy(tmp_path, config_items)
    cfg.centering.set("head")
    cfg.coverage.set(90.0)
    cfg.Optimizer.optimizer.set("lion")
    cfg.Loss.mask_loss_function.set("mae")
    cfg.mixed_precision.set(True)
    cfg.vertical_offset.set(5)
    caplog.set_level(logging.INFO, logger=_LOGGER)

    state = State(tmp_path, "original", no_logs=False)

    # fixed options: the legacy default is what the old model was built with
    assert cfg.centering() == "legacy"
    assert cfg.coverage() == 62.5
    assert cfg.Optimizer.optimizer() == "adam"
    # changeable options: the legacy default is replaced by the configured value
    assert cfg.Loss.mask_loss_function() == "mae"
    infos = _messages(caplog, logging.INFO)
    assert "Config item: 'mask_loss_function' has been updated from 'mse' to 'mae'" in infos
    assert "Config item: 'mixed_precision' has been updated from 'False' to 'True'" in infos
    assert state.model_needs_rebuild is True
    # a missing option without a legacy default takes the current value
    assert cfg.vertical_offset() == 5
    state.save()
    saved = _read(_state_file(tmp_path))["config"]
    assert (saved["centering"], saved["coverage"], saved["vertical_offset"]) == ("legacy", 62.5, 5)
    assert saved["mixed_precision"] is True


# --- legacy renames ------------------------------------------------------------------------------
def _load_legacy(tmp_path: Path, caplog: pytest.LogCaptureFixture, changes: dict[str, Any],
                 removed: tuple[str, ...] = ()) -> tuple[State, dict[str, Any], list[str]]:
    """Load a legacy file; returns the state, the file as rewritten at load, the INFO lines."""
    config_items = _full_legacy_config(**changes)
    for key in removed:
        del config_items[key]
    path = _write_legacy(tmp_path, config_items)
    caplog.set_level(logging.INFO, logger=_LOGGER)
    state = State(tmp_path, "original", no_logs=False)
    return state, _read(path), _messages(caplog, logging.INFO)


@pytest.mark.parametrize("dssim, renamed", [(True, "ssim"), (False, "mae")])
def test_legacy_dssim_loss(tmp_path, config, caplog, dssim, renamed):
    cfg.Loss.loss_function.set("mse")
    _, rewritten, infos = _load_legacy(tmp_path, caplog, {"dssim_loss": dssim},
                                       removed=("loss_function",))
    assert "dssim_loss" not in rewritten["config"]          # saved at once without the old key
    # loss_function is changeable: the renamed value is then replaced by the configured one
    assert (f"Config item: 'loss_function' has been updated from '{renamed}' to 'mse'"
            in infos)
    assert rewritten["config"]["loss_function"] == "mse"


@pytest.mark.parametrize("mask_type, learn_mask, live_mask",
                         [(None, False, "none"), ("components", True, "components")])
def test_legacy_learn_mask_from_mask_type(tmp_path, config, caplog, mask_type, learn_mask,
                                          live_mask):
    cfg.Loss.learn_mask.set(not learn_mask)
    _, rewritten, _ = _load_legacy(tmp_path, caplog, {"mask_type": mask_type},
                                   removed=("learn_mask",))
    assert cfg.Loss.learn_mask() is learn_mask              # fixed: pushed live
    assert cfg.Loss.mask_type() == live_mask
    assert rewritten["config"]["learn_mask"] is learn_mask


def test_legacy_learn_mask_kept_when_present(tmp_path, config, caplog):
    _load_legacy(tmp_path, caplog, {"mask_type": "extended", "learn_mask": False})
    assert cfg.Loss.learn_mask() is False


@pytest.mark.parametrize("old_mask", ["facehull", "dfl_full"])
def test_legacy_mask_type_to_components(tmp_path, config, caplog, old_mask):
    _, rewritten, _ = _load_legacy(tmp_path, caplog, {"mask_type": old_mask})
    assert cfg.Loss.mask_type() == "components"
    assert rewritten["config"]["mask_type"] == "components"


def test_legacy_l2_reg_term(tmp_path, config, caplog):
    cfg.Loss.loss_function_2.set("mae")
    cfg.Loss.loss_weight_2.set(50)
    _, rewritten, infos = _load_legacy(tmp_path, caplog, {"l2_reg_term": 25},
                                       removed=("loss_function_2", "loss_weight_2"))
    assert "l2_reg_term" not in rewritten["config"]
    assert "Config item: 'loss_function_2' has been updated from 'mse' to 'mae'" in infos
    assert "Config item: 'loss_weight_2' has been updated from '25' to '50'" in infos


@pytest.mark.parametrize("changes, clipping", [
    ({"clipnorm": True}, "norm"), ({"clipnorm": False}, "none"),
    ({"autoclip": True}, "autoclip"), ({"clipnorm": True, "autoclip": False}, "norm")])
def test_legacy_clipping(tmp_path, config, caplog, changes, clipping):
    cfg.Optimizer.gradient_clipping.set("value")
    _, rewritten, infos = _load_legacy(tmp_path, caplog, changes, removed=("gradient_clipping",))
    for key in ("clipnorm", "autoclip", "clipping"):        # Q10: no stray 'clipping' key
        assert key not in rewritten["config"]
    assert (f"Config item: 'gradient_clipping' has been updated from '{clipping}' to 'value'"
            in infos)
    assert rewritten["config"]["gradient_clipping"] == "value"


def test_legacy_mixed_precision_layer_names(tmp_path, config, caplog):
    path = _write_legacy(tmp_path, _full_legacy_config(),
                         mixed_precision_layers=["conv.128.0_conv2d", "dense_0"])
    state = State(tmp_path, "original", no_logs=False)
    assert state.mixed_precision_layers == ["conv_128_0_conv2d", "dense_0"]
    assert _read(path)["mixed_precision_layers"] == ["conv_128_0_conv2d", "dense_0"]


def test_no_legacy_change_does_not_rewrite(tmp_path, config):
    path = _write_legacy(tmp_path, _full_legacy_config())
    before = path.read_text(encoding="utf-8")
    State(tmp_path, "original", no_logs=False)
    assert path.read_text(encoding="utf-8") == before


def test_legacy_lowest_avg_loss_dict_is_summed(tmp_path, config):
    _write_legacy(tmp_path, _full_legacy_config(), lowest_avg_loss={"a": 0.25, "b": 0.125})
    state = State(tmp_path, "original", no_logs=False)
    assert state.lowest_avg_loss == 0.375
    assert isinstance(state.lowest_avg_loss, float)
    state.increment_iterations()
    state.save()
    assert _read(_state_file(tmp_path))["lowest_avg_loss"] == 0.375


# --- errors and atomic writes --------------------------------------------------------------------
@pytest.mark.parametrize("content", ['{"name": "original", "sessions": {"1": {"times',
                                     "\x00\xff garbage", "[1, 2]", '{"sessions": []}'])
def test_corrupt_file_raises_model_file_error(tmp_path, config, content):
    path = _state_file(tmp_path)
    path.write_bytes(content.encode("latin-1"))
    with pytest.raises(ModelFileError) as info:
        State(tmp_path, "original", no_logs=False)
    message = str(info.value)
    assert str(path) in message
    assert f"{path}.bk" in message
    assert "delete" in message
    assert isinstance(info.value, FaceswapError)


def test_save_leaves_no_temporary_files(tmp_path, config):
    _trained_state(tmp_path)
    state = State(tmp_path, "original", no_logs=False)
    state.increment_iterations()
    state.save()
    assert sorted(os.listdir(tmp_path)) == ["original_state.json"]


def test_failed_save_keeps_previous_file(tmp_path, config, monkeypatch):
    path = _state_file(tmp_path)
    _trained_state(tmp_path)
    before = path.read_text(encoding="utf-8")
    state = State(tmp_path, "original", no_logs=False)
    state.increment_iterations()

    def _crash(*_: Any) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", _crash)   # crash just before the rename
    with pytest.raises(OSError, match="disk gone"):
        state.save()
    assert path.read_text(encoding="utf-8") == before
    assert sorted(os.listdir(tmp_path)) == ["original_state.json"]


# --- version stamp -------------------------------------------------------------------------------
def test_state_records_program_and_version(tmp_path, config):
    _trained_state(tmp_path)
    stamp = _read(_state_file(tmp_path))["written_by"]
    assert stamp == {"program": "faceswap-original", "version": program_version()}
    assert program_version() == importlib.metadata.version("faceswap-original")


def _bumped(version: str) -> str:
    """``version`` with its first number raised by one (``0.1.0`` -> ``1.1.0``)."""
    major, _, rest = version.partition(".")
    return f"{int(major) + 1}.{rest}"


@pytest.mark.parametrize("where", ["state file", "model file"])
def test_newer_version_is_refused_and_nothing_written(tmp_path, config, where):
    import zipfile

    _trained_state(tmp_path)
    path = _state_file(tmp_path)
    document = _read(path)
    newer = _bumped(program_version())
    document["written_by"]["version"] = newer
    if where == "state file":
        path.write_text(json.dumps(document), encoding="utf-8")
    else:  # the copy inside the model file (the state file itself is ours)
        with zipfile.ZipFile(tmp_path / "original.keras", "w") as archive:
            archive.writestr(EMBEDDED_STATE, json.dumps(document))
    before = {item.name: item.read_bytes() for item in tmp_path.iterdir()}
    with pytest.raises(ModelFileError, match=rf"written by faceswap-original {newer}, a newer "
                                             rf"version than this one \({program_version()}\)"):
        State(tmp_path, "original", no_logs=False)
    assert {item.name: item.read_bytes() for item in tmp_path.iterdir()} == before


@pytest.mark.parametrize("stamp", [None, {"program": "faceswap-original", "version": "0.0.1"},
                                   {"program": "faceswap", "version": "99.0.0"},
                                   {"program": "faceswap-original", "version": "unknown"}, 3])
def test_older_or_other_writers_are_accepted(tmp_path, config, stamp):
    _trained_state(tmp_path, iterations=4)
    path = _state_file(tmp_path)
    document = _read(path)
    if stamp is None:
        del document["written_by"]  # Faceswap's state files have no stamp
    else:
        document["written_by"] = stamp
    path.write_text(json.dumps(document), encoding="utf-8")
    assert State(tmp_path, "original", no_logs=False).iterations == 4
