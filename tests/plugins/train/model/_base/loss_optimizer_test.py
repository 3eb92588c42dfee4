"""loss_optimizer holds Loss and Optimizer; settings re-exports them (their behaviour is tested in
settings_test.py), so every name imported from settings before the split still imports."""
from __future__ import annotations

from plugins.train.model._base import loss_optimizer, settings


def test_settings_reexports_every_name_it_had():
    names = ["JIT_ENVIRONMENT", "PRECISIONS", "PROCESS_ENVIRONMENT", "STRATEGIES", "Loss",
             "Optimizer", "Settings", "choose_policy", "visible_gpu_ids"]
    assert sorted(settings.__all__) == sorted(names)
    for name in names:
        assert hasattr(settings, name), name
    assert settings.Loss is loss_optimizer.Loss
    assert settings.Optimizer is loss_optimizer.Optimizer
    assert loss_optimizer.__all__ == ["Loss", "Optimizer"]


def test_each_module_holds_one_concern():
    assert not hasattr(loss_optimizer, "Settings")
    assert settings.Settings.__module__ == settings.__name__
    assert settings.Loss.__module__ == loss_optimizer.__name__
