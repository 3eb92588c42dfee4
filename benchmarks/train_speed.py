"""Training speed of the Original model against a plain Keras baseline, in one run.

For each model variant (``original``, ``lowmem``) and batch size it times, each in its own fresh
process (so settings that must be made before the backend loads, and peak memory, are per
measurement):

* ``plain``: a plain Keras 3 network with the same layers (Conv2D + LeakyReLU blocks, Dense,
  pixel shuffle by Reshape/Permute, sigmoid heads), compiled with Adam and MAE, stepped with
  ``train_on_batch`` on fixed arrays, with the backend's defaults;
* ``plain_best``: the same with the backend's best plain setting (TensorFlow: oneDNN forced on
  with ``TF_ENABLE_ONEDNN_OPTS=1``; JAX and PyTorch: their defaults, there is no better switch);
* ``plain_no_onednn`` (TensorFlow): the same with oneDNN forced off (``TF_ENABLE_ONEDNN_OPTS=0``),
  which is TensorFlow's own default on CPUs without AVX-512/AMX: what ``plain`` measures on
  such a CPU;
* ``step``: our compiled training step (``ModelBase`` + the ``original`` trainer plugin) on fixed
  arrays, with the MAE loss, as a user gets it;
* ``step_bf16``: the same with mixed precision in bfloat16 (``mixed_precision = True``,
  ``mixed_precision_dtype = bfloat16``): weights and outputs float32, layer maths bfloat16;
* ``step_default_losses``: the same with Faceswap's default losses (SSIM + 100 x MSE, masked by
  the penalized mask, as ``train.ini`` defaults give);
* ``trainer``: our full trainer (``plugins.train.training.Trainer``) with the real data feeder on
  the demo faces, MAE loss, default worker count;
* ``matmul``: the backend's float32 matrix product (``keras.ops.matmul``, 2048 x 2048), the
  FLOP/s peak the other rows are compared with;
* ``matmul_bf16``: the same product in bfloat16;
* ``conv`` and ``conv_bf16``: one 5 x 5 convolution, 256 -> 512 channels, stride 2, on 8 x 64 x
  64 inputs (the shape of the Original encoder's middle), in float32 and in bfloat16: the
  bfloat16 convolution peak is what ``step_bf16`` is compared with.

The machine comes first: the CPU's model and the flags that decide its speed (``avx512f``,
``avx512_bf16``, ``amx_tile``; ``lib.hardware``), so that figures from different machines can be
compared. On a CPU without bfloat16 units (no ``avx512_bf16``/``amx_bf16``) bfloat16 products are
emulated through float32 and the bfloat16 rows are slower than the float32 ones.

Reported per row: ms per iteration (median, min, max over ``--repeats`` timed iterations after
``--warmup``), faces per second (2 x batch: one A and one B face per batch item), peak resident
memory of the process (and peak accelerator memory where the backend reports it), analytic
FLOPs per iteration (forward + backward, from the layer shapes) and achieved FLOP/s as a fraction
of the matmul peak. Then the ratios ``plain/step`` (speed-up of (b) over (a)), ``plain_best/step``,
``step/trainer`` and ``step_default_losses/step``. A table goes to stdout, then one JSON line.

Run from the repository root::

    python benchmarks/train_speed.py --batch-sizes 8 --repeats 10
    KERAS_BACKEND=jax python benchmarks/train_speed.py --batch-sizes 8 --variants original
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PEAKS = ("matmul", "matmul_bf16", "conv", "conv_bf16")
MODES = (*PEAKS, "plain", "plain_best", "plain_no_onednn", "step", "step_bf16",
         "step_default_losses", "trainer")
VARIANTS = ("original", "lowmem")
_MAE = {"global.loss": {"loss_function": "mae", "loss_function_2": "none",
                        "penalized_mask_loss": False, "eye_multiplier": 1,
                        "mouth_multiplier": 1}}


# --- the plain Keras baseline -------------------------------------------------------------------
def plain_original(lowmem: bool = False):
    """Faceswap's Original network in plain Keras 3 layers (no project code)."""
    import keras
    from keras import layers

    def conv_block(var_x, filters):
        var_x = layers.Conv2D(filters, 5, strides=2, padding="same")(var_x)
        return layers.LeakyReLU(0.1)(var_x)

    def upscale(var_x, filters):
        var_x = layers.Conv2D(filters * 4, 3, padding="same")(var_x)
        var_x = layers.LeakyReLU(0.1)(var_x)
        size = var_x.shape[1]
        var_x = layers.Reshape((size, size, 2, 2, filters))(var_x)
        var_x = layers.Permute((1, 3, 2, 4, 5))(var_x)
        return layers.Reshape((size * 2, size * 2, filters))(var_x)

    face = keras.Input((64, 64, 3))
    var_x = face
    for filters in (128, 256, 512) if lowmem else (128, 256, 512, 1024):
        var_x = conv_block(var_x, filters)
    var_x = layers.Dense(512 if lowmem else 1024)(layers.Flatten()(var_x))
    var_x = layers.Reshape((4, 4, 1024))(layers.Dense(4 * 4 * 1024)(var_x))
    encoder = keras.Model(face, upscale(var_x, 512), name="encoder")

    def decoder(side):
        latent = keras.Input((8, 8, 512))
        var_y = latent
        for filters in (256, 128, 64):
            var_y = upscale(var_y, filters)
        var_y = layers.Conv2D(3, 5, padding="same", activation="sigmoid")(var_y)
        return keras.Model(latent, var_y, name=f"decoder_{side}")

    input_a, input_b = keras.Input((64, 64, 3)), keras.Input((64, 64, 3))
    return keras.Model([input_a, input_b],
                       [decoder("a")(encoder(input_a)), decoder("b")(encoder(input_b))])


# --- analytic FLOPs ---------------------------------------------------------------------------
def forward_flops(model) -> int:
    """Multiply-adds x 2 of every Conv2D and Dense layer in ``model`` for one example (nested
    models counted once per layer, i.e. one call)."""
    import keras

    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += forward_flops(layer)
        elif isinstance(layer, keras.layers.Conv2D):
            _, height, width, filters = layer.output.shape
            kernel = layer.kernel.shape  # (kh, kw, in, out)
            total += 2 * height * width * filters * kernel[0] * kernel[1] * kernel[2]
        elif isinstance(layer, keras.layers.Dense):
            total += 2 * layer.kernel.shape[0] * layer.kernel.shape[1]
    return total


def iteration_flops(model, batch: int) -> int:
    """Forward + backward FLOPs of one training iteration of an encoder/decoder_a/decoder_b
    model: each batch item is one A face (encoder + decoder A) and one B face (encoder + decoder
    B); backward costs twice the forward (gradients of the inputs and of the weights)."""
    names = {layer.name: layer for layer in model.layers}
    encoder = forward_flops(names["encoder"])
    decoders = forward_flops(names["decoder_a"]) + forward_flops(names["decoder_b"])
    return 3 * batch * (2 * encoder + decoders)


# --- one measurement, in a child process -------------------------------------------------------
def _peak_memory() -> dict[str, float]:
    """Peak resident memory of this process (and of the accelerator, where known), in MiB."""
    result = {"peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    import keras

    backend = keras.backend.backend()
    try:
        if backend == "jax":
            import jax

            device = jax.devices()[0]
            if device.platform != "cpu":
                result["peak_device_mib"] = device.memory_stats()["peak_bytes_in_use"] / 2 ** 20
        elif backend == "torch":
            import torch

            if torch.cuda.is_available():
                result["peak_device_mib"] = torch.cuda.max_memory_allocated() / 2 ** 20
    except Exception:  # noqa: BLE001 - memory stats are extra information
        pass
    return result


def _time(step, warmup: int, repeats: int) -> list[float]:
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return times


def _faces(batch: int, size: int = 64, seed: int = 0):
    import numpy as np

    return np.random.default_rng(seed).random((2, batch, size, size, 3), dtype="float32")


def _run_peak(job: dict[str, Any]) -> dict[str, Any]:
    """``matmul``/``conv`` in float32, ``*_bf16`` in bfloat16: one operation, timed."""
    import keras
    import numpy as np

    dtype = "bfloat16" if job["mode"].endswith("_bf16") else "float32"
    rng = np.random.default_rng(0)

    def tensor(shape):
        return keras.ops.cast(keras.ops.convert_to_tensor(rng.random(shape, dtype="float32")),
                              dtype)

    if job["mode"].startswith("matmul"):
        size = 2048
        left, right = tensor((size, size)), tensor((size, size))
        flops = 2 * size ** 3

        def operation():
            return keras.ops.matmul(left, right)
    else:
        batch, size, kernel, channels, filters = 8, 64, 5, 256, 512
        inputs, weights = tensor((batch, size, size, channels)), tensor((kernel, kernel,
                                                                         channels, filters))
        flops = 2 * batch * (size // 2) ** 2 * filters * kernel * kernel * channels

        def operation():
            return keras.ops.conv(inputs, weights, strides=2, padding="same")

    def step():
        keras.ops.convert_to_numpy(keras.ops.cast(operation()[0, 0], "float32"))

    times = _time(step, 2, max(5, job["repeats"]))
    return {"times": times, "flops": flops, "dtype": dtype}


def _run_plain(job: dict[str, Any]) -> dict[str, Any]:
    import keras

    model = plain_original(job["variant"] == "lowmem")
    model.compile(optimizer=keras.optimizers.Adam(5e-5), loss="mae")
    faces = _faces(job["batch"])
    inputs = [faces[0], faces[1]]
    times = _time(lambda: model.train_on_batch(inputs, inputs), job["warmup"], job["repeats"])
    return {"times": times, "flops": iteration_flops(model, job["batch"]),
            "params": model.count_params()}


def _write_ini(path: Path, options: dict[str, dict[str, Any]]) -> Path:
    lines = []
    for section, values in options.items():
        lines.append(f"[{section}]")
        lines.extend(f"{key} = {value}" for key, value in values.items())
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _our_model(job: dict[str, Any], folder: Path, options: dict[str, dict[str, Any]]):
    from plugins.plugin_loader import PluginLoader
    from plugins.train import train_config

    options = {**options, "model.original": {"lowmem": job["variant"] == "lowmem"}}
    if job.get("mode") == "step_bf16":
        options["global"] = {"mixed_precision": True, "mixed_precision_dtype": "bfloat16"}
    train_config.reset_config()
    args = argparse.Namespace(configfile=str(_write_ini(folder / "train.ini", options)),
                              batch_size=job["batch"], no_logs=True, summary=False,
                              freeze_weights=False, load_weights=None, warmup=0,
                              distribution_strategy="default")
    model = PluginLoader.get_model("original", disable_logging=True)(folder / "model", args,
                                                                     predict=False)
    model.build()
    return model, args


def _run_step(job: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    from plugins.plugin_loader import PluginLoader
    from plugins.train.model._base.settings import Loss

    default_losses = job["mode"] == "step_default_losses"
    with tempfile.TemporaryDirectory() as folder:
        model, _ = _our_model(job, Path(folder), {} if default_losses else _MAE)
        trainer = PluginLoader.get_trainer()(model, job["batch"])
        faces = _faces(job["batch"])
        # the mask channels the loss reads (face, eyes, mouth) after the colours
        masks = sum(channel != -1 for channel in Loss.mask_channels())
        targets = [np.concatenate([faces, np.ones_like(faces[..., :1]).repeat(masks, -1)],
                                  axis=-1)]
        times = _time(lambda: trainer.train_batch(faces, targets), job["warmup"],
                      job["repeats"])
        return {"times": times, "flops": iteration_flops(model.model, job["batch"]),
                "params": model.model.count_params()}


def _run_trainer(job: dict[str, Any]) -> dict[str, Any]:
    from faceswap_original.demo_data import generate_demo_data
    from lib.training.generator import Feeder
    from plugins.plugin_loader import PluginLoader
    from plugins.train.training import Trainer, feeder_options

    with tempfile.TemporaryDirectory() as folder:
        faces_a, faces_b = generate_demo_data(Path(folder) / "data", count=64, seed=0)
        model, _ = _our_model(job, Path(folder), _MAE)
        plugin = PluginLoader.get_trainer()(model, job["batch"])
        with Feeder({"a": str(faces_a), "b": str(faces_b)}, model, job["batch"],
                    feeder_options(model), seed=0, workers=job.get("workers")) as feeder:
            trainer = Trainer(plugin, feeder)
            times = _time(trainer.train_one_step, job["warmup"], job["repeats"])
            trainer.close()
        return {"times": times, "flops": iteration_flops(model.model, job["batch"]),
                "params": model.model.count_params()}


def run_child(job: dict[str, Any]) -> dict[str, Any]:
    """Carry out one measurement (this process was started for it alone)."""
    import keras

    runner = {**dict.fromkeys(PEAKS, _run_peak), "plain": _run_plain, "plain_best": _run_plain,
              "plain_no_onednn": _run_plain,
              "step": _run_step, "step_bf16": _run_step, "step_default_losses": _run_step,
              "trainer": _run_trainer}[job["mode"]]
    result = runner(job)
    result.update(_peak_memory())
    result["backend"] = keras.backend.backend()
    result["onednn"] = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    return result


# --- the parent: one child per measurement -----------------------------------------------------
def _child_env(mode: str) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    if mode == "plain":  # the backend's own default, whatever the caller's shell says
        env.pop("TF_ENABLE_ONEDNN_OPTS", None)
    elif mode == "plain_best":
        env["TF_ENABLE_ONEDNN_OPTS"] = "1"
    elif mode == "plain_no_onednn":
        env["TF_ENABLE_ONEDNN_OPTS"] = "0"
    return env


def measure(job: dict[str, Any]) -> dict[str, Any]:
    """Run one measurement in a fresh process; returns its result (or an ``error``)."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(job)]
    done = subprocess.run(command, env=_child_env(job["mode"]), capture_output=True, text=True,
                          check=False)
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("RESULT "):
            return {**job, **json.loads(line[len("RESULT "):])}
    return {**job, "error": (done.stderr or done.stdout).strip().splitlines()[-5:]}


def summarise(result: dict[str, Any], peak_flops: float | None,
              bf16_peak_flops: float | None = None) -> dict[str, Any]:
    """Add the statistics (ms, faces/s, FLOP/s, fraction of the float32 matmul peak; for the
    bfloat16 step also of the bfloat16 convolution peak) to a result."""
    times = result.get("times")
    if not times:
        return result
    median = statistics.median(times)
    result.update(ms_median=1000 * median, ms_min=1000 * min(times), ms_max=1000 * max(times))
    if result["mode"] not in PEAKS:
        result["faces_per_s"] = 2 * result["batch"] / median
    result["flops_per_s"] = result["flops"] / median
    if peak_flops:
        result["fraction_of_peak"] = result["flops_per_s"] / peak_flops
    if bf16_peak_flops and result["mode"] == "step_bf16":
        result["fraction_of_bf16_conv_peak"] = result["flops_per_s"] / bf16_peak_flops
    return result


def _ratio(rows: dict[str, dict[str, Any]], slow: str, fast: str) -> float | None:
    if "ms_median" in rows.get(slow, {}) and "ms_median" in rows.get(fast, {}):
        return rows[slow]["ms_median"] / rows[fast]["ms_median"]
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[8])
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--workers", type=int, default=None,
                        help="feeder workers for the trainer row (default: the feeder's)")
    parser.add_argument("--json", type=Path, help="also write the JSON line to this file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print("RESULT " + json.dumps(run_child(json.loads(args.child))), flush=True)
        return 0

    sys.path.insert(0, str(ROOT))
    from lib.hardware import cpu_info  # importing lib sets TF's defaults

    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    machine = cpu_info()
    print(f"machine: {machine.describe()}, {os.cpu_count()} cores; backend {backend}",
          flush=True)
    results = []
    peaks: dict[str, float] = {}
    for mode in (mode for mode in PEAKS if mode in args.modes):
        row = summarise(measure({"mode": mode, "repeats": args.repeats}), None)
        results.append(row)
        if "flops_per_s" in row:
            peaks[mode] = row["flops_per_s"]
        print(f"peak {mode:12} ({row.get('dtype', '?')}): "
              + (f"{row['flops_per_s'] / 1e9:8.1f} GFLOP/s" if "flops_per_s" in row
                 else f"failed {row.get('error')}"), flush=True)
    peak, bf16_peak = peaks.get("matmul"), peaks.get("conv_bf16")
    header = (f"{'variant':9} {'batch':>5} {'mode':20} {'ms median':>9} {'min':>7} {'max':>7} "
              f"{'faces/s':>8} {'GFLOP/it':>8} {'of peak':>7} {'peak MiB':>8}")
    print(header, flush=True)
    ratios = []
    for variant in args.variants:
        for batch in args.batch_sizes:
            rows = {}
            for mode in (mode for mode in MODES if mode in args.modes and mode not in PEAKS):
                job = {"mode": mode, "variant": variant, "batch": batch,
                       "repeats": args.repeats, "warmup": args.warmup,
                       "workers": args.workers}
                row = summarise(measure(job), peak, bf16_peak)
                rows[mode] = row
                results.append(row)
                if "error" in row:
                    print(f"{variant:9} {batch:5} {mode:20} failed: {row['error']}", flush=True)
                    continue
                print(f"{variant:9} {batch:5} {mode:20} {row['ms_median']:9.0f} "
                      f"{row['ms_min']:7.0f} {row['ms_max']:7.0f} {row['faces_per_s']:8.1f} "
                      f"{row['flops'] / 1e9:8.1f} "
                      f"{row.get('fraction_of_peak', float('nan')):7.1%} "
                      f"{row['peak_rss_mib']:8.0f}"
                      + (f"  ({row['fraction_of_bf16_conv_peak']:.1%} of the bf16 conv peak)"
                         if "fraction_of_bf16_conv_peak" in row else ""), flush=True)
            ratio = {"variant": variant, "batch": batch,
                     "step_speedup_over_plain": _ratio(rows, "plain", "step"),
                     "step_speedup_over_plain_best": _ratio(rows, "plain_best", "step"),
                     "bf16_step_speedup_over_plain": _ratio(rows, "plain", "step_bf16"),
                     "bf16_step_speedup_over_step": _ratio(rows, "step", "step_bf16"),
                     "step_speedup_over_plain_no_onednn": _ratio(rows, "plain_no_onednn",
                                                                 "step"),
                     "trainer_cost_over_step": _ratio(rows, "trainer", "step"),
                     "default_losses_cost_over_mae": _ratio(rows, "step_default_losses",
                                                            "step")}
            ratios.append(ratio)
            print("  ratios: " + ", ".join(f"{key} {value:.2f}" for key, value in ratio.items()
                                           if isinstance(value, float)), flush=True)
    emit_json({"benchmark": "train_speed", "backend": backend, "cpu_count": os.cpu_count(),
               **machine.as_dict(), "peaks_gflop_per_s": {key: value / 1e9 for key, value
                                                          in peaks.items()},
               "results": results, "ratios": ratios}, args.json)
    return 0


def emit_json(record: dict[str, Any], path: Path | None) -> None:
    """Print ``record`` as one JSON line, and write it to ``path`` when given."""
    line = json.dumps(record)
    print(line)
    if path:
        path.write_text(line + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
