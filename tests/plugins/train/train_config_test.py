"""Tests for plugins.train.train_config: Faceswap 3's global options and config loading."""
from __future__ import annotations

import configparser

import pytest

from lib.errors import ConfigError
from plugins.train import train_config as cfg
from plugins.train.model import original_defaults

# (section, option, datatype, default, fixed) from api_spec section 6.2 / plugin_api section 3
_EXPECTED = [
    ("global", "centering", str, "face", True), ("global", "coverage", float, 100.0, True),
    ("global", "vertical_offset", int, 0, True), ("global", "icnr_init", bool, False, True),
    ("global", "conv_aware_init", bool, False, True),
    ("global", "lr_finder_iterations", int, 1000, True),
    ("global", "lr_finder_mode", str, "set", True),
    ("global", "lr_finder_strength", str, "default", True),
    ("global", "reflect_padding", bool, False, True),
    ("global", "mixed_precision", bool, False, False),
    # ours (not Faceswap's): the compute type of mixed precision
    ("global", "mixed_precision_dtype", str, "auto", False),
    ("global", "nan_protection", bool, True, False),
    ("global", "nan_rollbacks", int, 0, False),  # not in Faceswap
    ("global", "nan_rollback_factor", float, 0.5, False),  # not in Faceswap
    ("global", "convert_batchsize", int, 16, False),
    ("global.loss", "loss_function", str, "ssim", False),
    ("global.loss", "loss_function_2", str, "mse", False),
    ("global.loss", "loss_weight_2", int, 100, False),
    ("global.loss", "loss_function_3", str, "none", False),
    ("global.loss", "loss_weight_3", int, 0, False),
    ("global.loss", "loss_function_4", str, "none", False),
    ("global.loss", "loss_weight_4", int, 0, False),
    ("global.loss", "mask_loss_function", str, "mse", False),
    ("global.loss", "eye_multiplier", int, 3, False),
    ("global.loss", "mouth_multiplier", int, 2, False),
    ("global.loss", "penalized_mask_loss", bool, True, True),
    ("global.loss", "mask_type", str, "extended", True),
    ("global.loss", "mask_dilation", float, 0.0, False),
    ("global.loss", "mask_blur_kernel", int, 3, False),
    ("global.loss", "mask_threshold", int, 4, False),
    ("global.loss", "learn_mask", bool, False, True),
    ("global.optimizer", "optimizer", str, "adam", True),
    ("global.optimizer", "learning_rate", float, 5e-5, False),
    ("global.optimizer", "epsilon_exponent", int, -7, False),
    ("global.optimizer", "save_optimizer", str, "exit", False),
    ("global.optimizer", "gradient_clipping", str, "none", False),
    ("global.optimizer", "clipping_value", float, 1.0, False),
    ("global.optimizer", "autoclip_history", int, 10000, False),
    ("global.optimizer", "weight_decay", float, 0.0, False),
    ("global.optimizer", "gradient_accumulation", int, 1, False),
    ("global.optimizer", "use_ema", bool, False, True),
    ("global.optimizer", "ema_momentum", float, 0.99, True),
    ("global.optimizer", "ema_frequency", int, 100, True),
    ("global.optimizer", "ada_beta_1", float, 0.9, True),
    ("global.optimizer", "ada_beta_2", float, 0.999, True),
    ("global.optimizer", "ada_amsgrad", bool, False, True),
    ("model.original", "lowmem", bool, False, True),
]


def test_every_option_with_faceswap_type_default_and_fixed_flag():
    sections = cfg.get_config().sections
    assert list(sections)[:3] == ["global", "global.loss", "global.optimizer"]
    assert "model.original" in sections
    assert all(name.startswith("model.") for name in list(sections)[3:-1])
    assert list(sections)[-1] == "trainer.augmentation"
    found = [(name, option, item.datatype, item.default, item.fixed)
             for name, section in sections.items() if name in {s for s, *_ in _EXPECTED}
             for option, item in section.items.items()]
    assert found == _EXPECTED


def test_trainer_augmentation_section():
    """The eleven trainer options, with Faceswap's defaults and ranges; never fixed."""
    section = cfg.get_config().sections["trainer.augmentation"]
    found = {name: (item.default, item.min_max) for name, item in section.items.items()}
    assert found == {
        "preview_images": (14, (2, 16)), "mask_opacity": (30, (0, 100)),
        "mask_color": ("#ff0000", None), "zoom_amount": (5, (0, 25)),
        "rotation_range": (10, (0, 25)), "shift_range": (5, (0, 25)),
        "flip_chance": (50, (0, 75)), "color_lightness": (30, (0, 75)),
        "color_ab": (8, (0, 50)), "color_clahe_chance": (50, (0, 75)),
        "color_clahe_max_size": (4, (1, 8))}
    assert not any(item.fixed for item in section.items.values())


def test_ranges_and_choices():
    items = cfg.get_config().items()
    assert items["coverage"].min_max == (62.5, 100.0)
    assert items["learning_rate"].min_max == (1e-6, 1e-4)
    assert items["loss_weight_2"].min_max == (0, 400)
    assert items["optimizer"].choices == ["adabelief", "adam", "adamax", "adamw", "lion",
                                          "nadam", "rms-prop"]
    assert items["loss_function"].choices == [
        "ffl", "gmsd", "l_inf_norm", "laploss", "logcosh", "mae", "ms_ssim", "mse",
        "pixel_gradient_diff", "smooth_loss", "ssim"]
    assert "none" in items["loss_function_2"].choices
    # the LPIPS losses are not offered (their pretrained weights are not available here)
    assert not any(name.startswith("lpips") for name in items["loss_function_2"].choices)
    assert sorted(items["loss_function_2"].unavailable) == [
        "lpips_alex", "lpips_squeeze", "lpips_vgg16"]
    assert items["mask_type"].choices[0] == "none"
    assert items["mask_type"].choices[1:] == sorted(items["mask_type"].choices[1:])


def test_plugin_access_pattern():
    assert cfg.Loss.learn_mask() is False
    assert cfg.Optimizer.optimizer() == "adam"
    assert cfg.icnr_init() is False and cfg.coverage() == 100.0
    assert original_defaults.HELPTEXT == "Original Faceswap Model."
    assert original_defaults.lowmem() is False


def test_load_config_reads_the_file_into_the_plugin_items(tmp_path):
    path = tmp_path / "train.ini"
    cfg.load_config(path)  # writes the defaults
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(path)
    parser.set("global.loss", "learn_mask", "True")
    parser.set("model.original", "lowmem", "True")
    parser.set("global.optimizer", "optimizer", "AdaBelief")
    with path.open("w") as handle:
        parser.write(handle)
    cfg.reset_config()
    cfg.load_config(path)
    assert cfg.Loss.learn_mask() is True
    assert original_defaults.lowmem() is True
    assert cfg.Optimizer.optimizer() == "adabelief"
    cfg.reset_config()
    assert cfg.Loss.learn_mask() is False and original_defaults.lowmem() is False


def test_load_config_is_once_per_process(tmp_path, caplog):
    first, second = tmp_path / "a.ini", tmp_path / "b.ini"
    cfg.load_config(first)
    second.write_text("[global]\ncoverage = 70\n")
    cfg.load_config(second)
    assert cfg.coverage() == 100.0
    assert "already loaded" in caplog.text
    assert not second.read_text().count("[global.loss]")  # untouched


def test_invalid_value_in_the_file(tmp_path):
    path = tmp_path / "train.ini"
    path.write_text("[global.optimizer]\noptimizer = sgd\n")
    with pytest.raises(ConfigError, match=r"section \[global.optimizer\]: Invalid value 'sgd' "
                                          r"for option 'global.optimizer.optimizer': expected "
                                          r"one of \['adabelief', 'adam', 'adamax'"):
        cfg.load_config(path)


def test_default_config_file_location(monkeypatch, tmp_path):
    monkeypatch.setenv("FACESWAP_CONFIG_DIR", str(tmp_path))
    assert cfg.default_config_file() == tmp_path / "train.ini"
    monkeypatch.delenv("FACESWAP_CONFIG_DIR")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert cfg.default_config_file() == tmp_path / "xdg" / "faceswap-original" / "train.ini"
