"""Hand-built ONNX graphs (opset 17) from trained weights, with no exporter in between.

`Graph` is a thin builder over `onnx.helper`: it names every node and initializer
deterministically, so the same weights give the same bytes. The layer helpers here are the
ONNX twins of the JAX functions in `lsmtrain.nets`; `check_against` runs a saved model in
ONNX Runtime and compares it with the JAX outputs (the golden vectors).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 9


class Graph:
    """An ONNX graph under construction."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self._count = 0
        self._consts: dict[tuple, str] = {}

    def fresh(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def input(self, name: str, shape: Sequence[int | str]) -> str:
        self.inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape)))
        return name

    def output(self, value: str, name: str, shape: Sequence[int | str]) -> str:
        self.op("Identity", [value], name=name)
        self.outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape)))
        return name

    def weight(self, array: np.ndarray, hint: str) -> str:
        """A trained tensor as an initializer (float32)."""
        name = self.fresh(hint)
        self.inits.append(numpy_helper.from_array(np.asarray(array, dtype=np.float32), name))
        return name

    def const(self, value, dtype=np.float32) -> str:
        """A constant (shared when equal)."""
        arr = np.asarray(value, dtype=dtype)
        key = (arr.dtype.str, arr.shape, arr.tobytes())
        if key not in self._consts:
            name = self.fresh("c")
            self.inits.append(numpy_helper.from_array(arr, name))
            self._consts[key] = name
        return self._consts[key]

    def op(self, op_type: str, inputs: Sequence[str], name: str | None = None, **attrs) -> str:
        out = name or self.fresh(op_type.lower())
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], name=f"n{len(self.nodes)}_{op_type}", **attrs))
        return out

    # -- layers -----------------------------------------------------------------------------

    def dense(self, x: str, w: np.ndarray, b: np.ndarray, hint: str, relu: bool) -> str:
        y = self.op("Add", [self.op("MatMul", [x, self.weight(w, hint + "_w")]), self.weight(b, hint + "_b")])
        return self.op("Relu", [y]) if relu else y

    def model(self, producer: str, doc: str) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, self.name, self.inputs, self.outputs, initializer=self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name=producer)
        model.ir_version = IR_VERSION
        model.doc_string = doc
        onnx.checker.check_model(model, full_check=True)
        return model


def node_inputs(g: Graph, x: str, window: int, lead: list[str] | None = None) -> str:
    """`x: [M, window, 19]` -> `[M, 11 + 8*window]`: the one-hot kind of the last tick and the
    value slots of every tick (flattened tick-major), the input layout of every node encoder."""
    last = g.op("Gather", [x, g.const(window - 1, np.int64)], axis=1)  # [M, 19]
    onehot = g.op("Slice", [last, g.const([0], np.int64), g.const([11], np.int64), g.const([1], np.int64)])
    vals = g.op("Slice", [x, g.const([11], np.int64), g.const([19], np.int64), g.const([2], np.int64)])
    flat = g.op("Reshape", [vals, g.const([-1, 8 * window], np.int64)])
    parts = [onehot, flat] + (lead or [])
    return g.op("Concat", parts, axis=1)


def ort_session(model_bytes: bytes):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(model_bytes, sess_options=opts, providers=["CPUExecutionProvider"])


def run_ort(model_bytes: bytes, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    sess = ort_session(model_bytes)
    names = [o.name for o in sess.get_outputs()]
    outs = sess.run(names, {k: np.asarray(v, np.float32) for k, v in feeds.items()})
    return dict(zip(names, outs))


def max_abs_diff(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    worst = 0.0
    for k in b:
        x = np.asarray(a[k], np.float64)
        y = np.asarray(b[k], np.float64)
        if x.shape != y.shape:
            raise ValueError(f"output {k}: shape {x.shape} vs {y.shape}")
        worst = max(worst, float(np.max(np.abs(x - y))) if x.size else 0.0)
    return worst


def golden_case(feeds: dict[str, np.ndarray], outputs: dict[str, np.ndarray]) -> dict:
    """One case of a `*.golden.json` file (healer/src/model.rs `GoldenCase`)."""

    def tensor(a: np.ndarray) -> dict:
        a = np.asarray(a, np.float32)
        # 9 significant digits round-trip a float32 exactly and keep the files small
        return {"shape": [int(d) for d in a.shape], "data": [float(f"{v:.9g}") for v in a.reshape(-1).tolist()]}

    return {
        "inputs": {k: tensor(v) for k, v in sorted(feeds.items())},
        "outputs": {k: tensor(v) for k, v in sorted(outputs.items())},
    }
