"""benchmarks/infer_speed.py: one row measured in-process on a small ONNX file, and the ratios."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))

import infer_speed


def test_ratios_are_latency_over_keras_at_the_same_batch():
    results = [{"row": "keras", "batch": 1, "ms": 10.0}, {"row": "onnx", "batch": 1, "ms": 4.0},
               {"row": "keras", "batch": 32, "ms": 200.0},
               {"row": "onnx_half", "batch": 32, "ms": 300.0},
               {"row": "onnx", "batch": 8, "ms": 1.0}]  # no Keras row at batch 8: no ratio
    assert infer_speed.ratios(results) == {"onnx/keras@1": 0.4, "onnx_half/keras@32": 1.5}


def test_measure_an_onnx_row(tmp_path):
    onnx = pytest.importorskip("onnx", reason="the 'onnx' extra is not installed")
    pytest.importorskip("onnxruntime", reason="the 'onnx' extra is not installed")
    from onnx import TensorProto, helper
    graph = helper.make_graph(
        [helper.make_node("Sigmoid", ["face_in"], ["face_out"])], "sig",
        [helper.make_tensor_value_info("face_in", TensorProto.FLOAT, ["N", 8, 8, 3])],
        [helper.make_tensor_value_info("face_out", TensorProto.FLOAT, ["N", 8, 8, 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "sig.onnx"))
    result = infer_speed.measure("onnx", 4, repeats=5, warmup=1,
                                 setup={"files": {"onnx": str(tmp_path / "sig.onnx")}})
    assert result["row"] == "onnx" and result["batch"] == 4
    assert result["ms_min"] <= result["ms"] <= result["ms_max"]
    assert result["faces_per_s"] == pytest.approx(4 / (result["ms"] / 1000), rel=1e-9)
    assert result["peak_rss_mib"] > 0
