"""Inference speed of the swap model: Keras ``predict_on_batch`` against onnxruntime, in one run.

A model of ``--plugin`` (default ``original``, 64 px) is built and saved untrained in a temporary
folder (speed does not depend on the weights), exported with ``faceswap-original export`` as
ONNX in float32 and with ``--half``, then each row runs in its own fresh process (so peak memory
is per row):

* ``keras``: the swap model cut from the loaded model (what ``convert`` runs), float32,
  ``predict_on_batch`` on a fixed array;
* ``onnx``: the exported ONNX file in onnxruntime (CPU execution provider, default threads),
  float32;
* ``onnx_half``: the ``--half`` file (float16 weights and arithmetic, float32 inputs/outputs).

For each row and each ``--batch-sizes`` value: ms per batch (median, min, max over
``--repeats`` timed calls after ``--warmup``), faces per second (batch / median) and the peak
resident memory of the process (loading included). Then the ratio of each onnxruntime row's
batch-1 latency to Keras's (the issue's goal: at most 0.5). A table goes to stdout, then one
JSON line.

Run from the repository root::

    python benchmarks/infer_speed.py --batch-sizes 1 32 --repeats 20 --warmup 3
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
ROWS = ("keras", "onnx", "onnx_half")
_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}


def _child_env() -> dict[str, str]:
    env = {**os.environ, **_ENV, "KERAS_BACKEND": "tensorflow"}
    if os.environ.get("PYTHONPATH"):
        env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{os.environ['PYTHONPATH']}"
    return env


def _run_python(code: str, *args: str) -> str:
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env=_child_env(),
                          capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"child failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout


_PREPARE = """
import argparse, sys
from pathlib import Path
from plugins.plugin_loader import PluginLoader
folder, plugin_name, config = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
plugin = PluginLoader.get_model(plugin_name)(folder, argparse.Namespace(configfile=config))
plugin.build()
plugin.io.save(is_exit=True)
print(plugin.model.count_params())
"""


def prepare(folder: Path, plugin: str) -> dict[str, Any]:
    """Build and save the model, export it twice; returns paths and sizes."""
    config = folder / "train.ini"
    config.write_text("", encoding="utf-8")
    model_dir = folder / "model"
    params = int(_run_python(_PREPARE, str(model_dir), plugin, str(config)).split()[-1])
    files = {}
    for row, extra in (("onnx", []), ("onnx_half", ["--half"])):
        files[row] = folder / f"{row}.onnx"
        command = [sys.executable, "-m", "faceswap_original", "export", "-m", str(model_dir),
                   "-o", str(files[row]), "-C", str(config), "-L", "WARNING", *extra]
        done = subprocess.run(command, cwd=ROOT, env=_child_env(), capture_output=True,
                              text=True, check=False)
        if done.returncode:
            raise RuntimeError(f"export failed:\n{done.stderr[-3000:]}")
    return {"model_dir": str(model_dir), "config": str(config), "params": params,
            "files": {row: str(path) for path, row in zip(files.values(), files, strict=True)},
            "file_mib": {row: round(path.stat().st_size / 2 ** 20, 1)
                         for row, path in files.items()}}


def measure(row: str, batch: int, repeats: int, warmup: int, setup: dict[str, Any]
            ) -> dict[str, Any]:
    """One row at one batch size, in this process (called in a fresh child)."""
    import numpy as np

    if row == "keras":
        from faceswap_original.export import load_swap_graph
        graph = load_swap_graph(setup["model_dir"], configfile=setup["config"])
        model = graph.swap
        shape = tuple(model.inputs[0].shape[1:])

        def run(faces):
            return model.predict_on_batch(faces)
    else:
        import onnxruntime as ort
        session = ort.InferenceSession(setup["files"][row], providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        shape = tuple(session.get_inputs()[0].shape[1:])

        def run(faces):
            return session.run(None, {name: faces})
    faces = np.random.default_rng(0).random((batch, *shape), dtype="float32")
    for _ in range(warmup):
        run(faces)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(faces)
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    return {"row": row, "batch": batch, "ms": median * 1000, "ms_min": min(times) * 1000,
            "ms_max": max(times) * 1000, "faces_per_s": batch / median,
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def _measure_in_child(row: str, batch: int, args: argparse.Namespace,
                      setup: dict[str, Any]) -> dict[str, Any]:
    output = _run_python(
        "import json, sys; sys.path.insert(0, 'benchmarks'); import infer_speed; "
        "print(json.dumps(infer_speed.measure(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), "
        "int(sys.argv[4]), json.loads(sys.argv[5]))))",
        row, str(batch), str(args.repeats), str(args.warmup), json.dumps(setup))
    return json.loads(output.strip().splitlines()[-1])


def ratios(results: list[dict[str, Any]]) -> dict[str, float]:
    """``<row>/keras`` latency ratios at each batch size (below 1: faster than Keras)."""
    keras_ms = {res["batch"]: res["ms"] for res in results if res["row"] == "keras"}
    return {f"{res['row']}/keras@{res['batch']}": round(res["ms"] / keras_ms[res["batch"]], 3)
            for res in results if res["row"] != "keras" and res["batch"] in keras_ms}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugin", default="original")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--rows", nargs="+", choices=ROWS, default=list(ROWS))
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="infer_speed_") as folder:
        setup = prepare(Path(folder), args.plugin)
        results = [_measure_in_child(row, batch, args, setup)
                   for batch in args.batch_sizes for row in args.rows]
    print(f"{args.plugin}: {setup['params']:,} parameters; ONNX file {setup['file_mib']['onnx']}"
          f" MiB, --half {setup['file_mib']['onnx_half']} MiB")
    print("| row | batch | ms/batch (min-max) | faces/s | peak RSS MiB |")
    print("|---|---|---|---|---|")
    for res in results:
        print(f"| {res['row']} | {res['batch']} | {res['ms']:.1f} ({res['ms_min']:.1f}-"
              f"{res['ms_max']:.1f}) | {res['faces_per_s']:.1f} | {res['peak_rss_mib']} |")
    summary = {"plugin": args.plugin, "params": setup["params"], "file_mib": setup["file_mib"],
               "results": results, "ratios": ratios(results)}
    for key, value in summary["ratios"].items():
        print(f"{key}: {value}")
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
