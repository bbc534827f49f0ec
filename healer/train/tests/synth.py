"""A tiny synthetic trace generator (format v2) for the loader and pipeline unit tests ONLY.

Shipped models are never trained on this: `train_models.py` refuses traces whose header says
`"synthetic": true`. The numbers are shaped like the real ones (z-scores clipped to +-5, a
component graph like healer/src/graph.rs with one column family, stall episodes preceded by a
rising L0 ratio) so that the pipeline's shapes and plumbing are exercised end to end.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np

KINDS = ["write_path", "wal", "stall_controller", "block_cache", "read_path", "background_threads",
         "memtable", "flush", "l0", "compaction", "levels"]


def graph_lines(cfs: int) -> tuple[list[dict], list[list[int]]]:
    nodes = [{"kind": k, "cf": None} for k in KINDS[:6]]
    edges = [[0, 1]]
    for c in range(cfs):
        base = 6 + 5 * c
        nodes += [{"kind": k, "cf": f"cf{c}"} for k in KINDS[6:]]
        mem, fl, l0, comp, lev = range(base, base + 5)
        edges += [[0, mem], [mem, fl], [fl, l0], [l0, comp], [comp, lev], [lev, comp], [1, fl],
                  [mem, 2], [l0, 2], [comp, 2], [4, 3], [4, mem], [3, l0], [3, lev], [5, fl], [5, comp]]
    edges.append([2, 0])
    return nodes, edges


def write_trace(path: Path, workload: str, seed: int, ticks: int = 400, cfs: int = 1,
                fault_at: int = 200, fault_len: int = 80, actions: int = 5, units: int = 4) -> Path:
    rng = np.random.default_rng(seed)
    nodes, edges = graph_lines(cfs)
    n = len(nodes)
    base = rng.normal(0, 0.5, size=(n, 8)) + (hash(workload) % 7) * 0.1
    lines = [{"type": "header", "format": "lsmedic-trace", "format_version": 2, "scenario": f"synthetic-{workload}",
              "workload": workload, "seed": seed, "healer": "rules", "synthetic": True},
             {"type": "graph", "graph_version": 0, "nodes": nodes, "edges": edges}]
    l0 = 0.0
    for t in range(ticks):
        fault = fault_at <= t < fault_at + fault_len
        l0 = max(0.0, l0 + (0.04 if fault else -0.05) + rng.normal(0, 0.01))
        x = np.zeros((n, 19))
        raw = np.zeros((n, 8))
        state = np.zeros(n, dtype=int)
        for i, node in enumerate(nodes):
            x[i, KINDS.index(node["kind"])] = 1.0
            v = base[i] + rng.normal(0, 0.3, size=8)
            if fault and node["kind"] in ("l0", "stall_controller", "write_path"):
                v += 2.5
            x[i, 11:] = np.clip(v, -5, 5)
            raw[i] = np.abs(v)
            if node["kind"] in ("write_path", "read_path", "levels", "stall_controller"):
                raw[i, 1:] = 0.0  # flags, errors and stall readings: none
        stall = l0 > 1.0
        for i, node in enumerate(nodes):
            if node["kind"] == "stall_controller":
                raw[i, 5] = l0
                raw[i, 0] = raw[i, 1] = float(stall)
                state[i] = int(stall)
            if node["kind"] in ("l0",) and stall:
                state[i] = 1
        a = int(rng.integers(0, actions)) if rng.random() < 0.1 else 0
        lines.append({
            "type": "tick", "tick": t, "t_s": round(0.1 * (t + 1), 3), "phase": "steady",
            "faults": ["write_burst"] if fault else [], "graph_version": 0,
            "features": x.round(5).tolist(), "raw": raw.round(5).tolist(), "node_state": state.tolist(),
            "objective": {"latency_us": float(100 * (1 + 5 * stall) * np.exp(rng.normal(0, 0.1))),
                          "throughput_ops_per_sec": float(1000 / (1 + stall)), "resource_units": 1.0,
                          "stall_fraction": float(stall)},
            "tunables": {}, "tunable_vector": [0.0] * units,
            "action": None if a == 0 else {"index": a, "name": f"a{a}", "applied": True, "verdict": "applied"},
            "weights": [1 / 3, 1 / 3, 1 / 3],
        })
    lines.append({"type": "end"})
    with gzip.open(path, "wt", encoding="utf-8") as f:
        for obj in lines:
            f.write(json.dumps(obj) + "\n")
    return path
