"""A child process for the strategy, multi-process and cross-backend tests: trains the ``tiny``
test plugin for a few steps on fixed random batches and prints one JSON line of results.

Run as ``python -m tests.plugins.train.model._base.distributed_worker '<json spec>'`` with
``KERAS_BACKEND`` (and, for JAX host devices, ``XLA_FLAGS``) set by the caller. Devices must be
set up before the backend starts them, which is why this runs in its own process. Spec keys:

``work_dir``
    Folder for the config file; ``model_dir`` (default ``<work_dir>/model``) holds the model.
``strategy``
    ``distribution_strategy`` (default ``"default"``); or ``strategies``, a list, for one run
    per strategy in the same process (folders ``<work_dir>/<strategy>``).
``logical_cpus``
    TensorFlow only: split the CPU into this many logical devices first.
``steps``, ``batch``
    Training steps (default 2) and faces per side (default 4).
``options``
    ``{"section": {"option": value}}`` for the training config.
``processes``
    ``[coordinator_address, num_processes, process_id]`` to train in several JAX processes.
``save``, ``resume_steps``
    Save after training; then load the model again in this process (a fresh plugin) and train
    ``resume_steps`` more steps.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

FAST_OPTIONS = {"global.loss": {"loss_function": "mae", "loss_function_2": "none"},
                "global.optimizer": {"save_optimizer": "always"}}
"""Training options that keep the children fast."""


def _configure_devices(spec: dict[str, Any]) -> None:
    if spec.get("logical_cpus") and os.environ.get("KERAS_BACKEND") == "tensorflow":
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * int(spec["logical_cpus"]))


def _batches(model: Any, batch: int, steps: int, seed: int) -> list[tuple[Any, list[Any]]]:
    import numpy as np

    rng = np.random.default_rng(seed)
    size = model.model.inputs[0].shape[1]
    half = len(model.model.outputs) // 2
    out = []
    for _ in range(steps):
        inputs = rng.random((2, batch, size, size, 3), dtype="float32")
        targets = [rng.random((2, batch, output.shape[1], output.shape[1],
                               1 if output.shape[-1] == 1 else 6), dtype="float32")
                   for output in model.model.outputs[:half]]
        out.append((inputs, targets))
    return out


def _checksum(model: Any) -> float:
    import numpy as np

    return float(sum(np.abs(np.asarray(weight, dtype="float64")).sum()
                     for weight in model.model.get_weights()))


def _split_sizes(model: Any, batch: int) -> list[int]:
    """The number of faces each replica receives from ``distribute_batch`` (after the first
    step, which is given whole)."""
    import numpy as np

    faces = [np.zeros((batch, 2), "float32")]
    inputs, _ = model.distribute_batch(faces, faces)
    if os.environ.get("KERAS_BACKEND") != "tensorflow" or inputs is faces:
        return [batch]
    values = inputs[0]
    return [int(value.shape[0]) for value in getattr(values, "values", (values,))]


def _weight_devices(model: Any) -> int:
    """The number of devices that hold the first weight (JAX; 1 elsewhere)."""
    value = model.model.weights[0].value
    sharding = getattr(value, "sharding", None)
    return len(sharding.device_set) if sharding is not None else 1


def _train(spec: dict[str, Any], model_dir: Path, steps: int, batches: Any = None
           ) -> tuple[Any, list[list[float]], float]:
    from plugins.train.trainer.original import Trainer
    from tests.plugins.train.model.plugin_helpers import make_plugin

    arguments: dict[str, Any] = {"distribution_strategy": spec.get("strategy", "default")}
    if spec.get("processes"):
        address, count, process_id = spec["processes"]
        arguments.update(coordinator_address=address, num_processes=count,
                         process_id=process_id)
    plugin = make_plugin("tiny", Path(spec["work_dir"]), spec.get("options", FAST_OPTIONS),
                         model_dir=model_dir, **arguments)
    plugin.build()
    built = _checksum(plugin)
    trainer = Trainer(plugin, spec.get("batch", 4))
    seed = 7 + (spec["processes"][2] if spec.get("processes") else 0)  # own data per process
    batches = batches or _batches(plugin, spec.get("batch", 4), steps, seed)
    losses = [trainer.train_batch(*batch).tolist() for batch in batches[:steps]]
    return plugin, losses, built


def _run(spec: dict[str, Any], model_dir: Path) -> dict[str, Any]:
    import keras

    result: dict[str, Any] = {}
    keras.utils.set_random_seed(1234)
    loaded = (model_dir / "tiny.keras").is_file()
    plugin, losses, built = _train(spec, model_dir, spec.get("steps", 2))
    settings = plugin._settings  # the test reads what Settings chose
    result.update(losses=losses, loaded=loaded, built_checksum=built,
                  checksum=_checksum(plugin), replicas=settings.replicas,
                  policy=settings.policy, split=_split_sizes(plugin, spec.get("batch", 4)),
                  weight_devices=_weight_devices(plugin),
                  optimizer=type(plugin.model.optimizer).__name__,
                  output_dtypes=[str(output.dtype) for output in plugin.model.outputs])
    if spec.get("save"):
        plugin.io.save()
        result["saved_checksum"] = _checksum(plugin)
    if spec.get("resume_steps"):
        _, more, loaded_checksum = _train(spec, model_dir, spec["resume_steps"])
        result.update(resumed_losses=more, loaded_checksum=loaded_checksum)
    return result


def main(spec: dict[str, Any]) -> dict[str, Any]:
    """Train (and maybe save and resume) as ``spec`` says; returns the results. With
    ``strategies`` (a list) instead of ``strategy``, one run per strategy, each in the folder
    ``<work_dir>/<strategy>``, results under ``runs``."""
    _configure_devices(spec)
    import keras

    from tests.plugins.train.model.plugin_helpers import installed_plugins

    result: dict[str, Any] = {"backend": keras.backend.backend()}
    with installed_plugins():
        if "strategies" in spec:
            result["runs"] = {name: _run({**spec, "strategy": name},
                                         Path(spec["work_dir"]) / name)
                              for name in spec["strategies"]}
        else:
            result.update(_run(spec, Path(spec.get("model_dir")
                                          or Path(spec["work_dir"]) / "model")))
    return result


if __name__ == "__main__":
    print("RESULT " + json.dumps(main(json.loads(sys.argv[1]))), flush=True)
