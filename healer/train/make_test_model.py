"""Builds the tiny ONNX graph the healer's model-runtime test runs through ONNX Runtime.

`test_affine`: scores = relu(features @ W + b), features float32 [batch, 4] (batch dynamic),
scores float32 [batch, 3]. Weights are fixed constants, so the model, its manifest and the
golden vectors are reproducible byte for byte.

Usage (from the repository root):
    python3 -m venv .venv && .venv/bin/pip install -r healer/train/requirements.txt
    .venv/bin/python healer/train/make_test_model.py [--out healer/models]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 9
FEATURE_SCHEMA_VERSION = 1
MODEL = "test_affine"

WEIGHTS = np.array(
    [
        [0.5, -1.0, 0.25],
        [1.5, 0.75, -0.5],
        [-0.25, 2.0, 1.0],
        [1.0, -0.5, 0.125],
    ],
    dtype=np.float32,
)
BIAS = np.array([0.1, -0.2, 0.3], dtype=np.float32)


def build_model() -> onnx.ModelProto:
    """The affine + ReLU graph with a dynamic batch dimension."""
    features = helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", 4])
    scores = helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", 3])
    nodes = [
        helper.make_node("MatMul", ["features", "W"], ["xw"], name="matmul"),
        helper.make_node("Add", ["xw", "b"], ["affine"], name="bias"),
        helper.make_node("Relu", ["affine"], ["scores"], name="relu"),
    ]
    graph = helper.make_graph(
        nodes,
        MODEL,
        [features],
        [scores],
        initializer=[
            numpy_helper.from_array(WEIGHTS, "W"),
            numpy_helper.from_array(BIAS, "b"),
        ],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="lsmedic healer/train/make_test_model.py",
    )
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model


def reference(features: np.ndarray) -> np.ndarray:
    """What ONNX Runtime must compute."""
    return np.maximum(features.astype(np.float32) @ WEIGHTS + BIAS, 0.0).astype(np.float32)


def golden_cases() -> list[dict]:
    """Fixed inputs (one row, three rows, extremes) and their reference outputs."""
    rng = np.random.default_rng(20240611)
    batches = [
        np.array([[1.0, 2.0, 3.0, 4.0]], dtype=np.float32),
        rng.normal(size=(3, 4)).astype(np.float32),
        np.array([[-5.0, 0.0, 5.0, -1e3], [1e-3, -1e-3, 0.5, 0.25]], dtype=np.float32),
    ]
    cases = []
    for batch in batches:
        out = reference(batch)
        cases.append(
            {
                "inputs": {"features": {"shape": list(batch.shape), "data": batch.ravel().tolist()}},
                "outputs": {"scores": {"shape": list(out.shape), "data": out.ravel().tolist()}},
            }
        )
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "models")
    args = parser.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    onnx.save(build_model(), out / f"{MODEL}.onnx")
    golden = {"model": MODEL, "tolerance": 1e-5, "cases": golden_cases()}
    (out / f"{MODEL}.golden.json").write_text(json.dumps(golden, indent=1) + "\n")
    manifest = {
        "manifest_version": 1,
        "feature_schema_version": FEATURE_SCHEMA_VERSION,
        "models": [
            {
                "name": MODEL,
                "file": f"{MODEL}.onnx",
                "inputs": [{"name": "features", "dtype": "float32", "shape": [-1, 4]}],
                "outputs": [{"name": "scores", "dtype": "float32", "shape": [-1, 3]}],
                "golden": f"{MODEL}.golden.json",
                "description": "relu(features @ W + b) with fixed weights: a runtime test, not a healer model",
            }
        ],
        "provenance": {
            "generator": "healer/train/make_test_model.py",
            "onnx": onnx.__version__,
            "opset": OPSET,
            "ir_version": IR_VERSION,
        },
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"wrote {out / (MODEL + '.onnx')}, {MODEL}.golden.json and manifest.json")


if __name__ == "__main__":
    main()
