"""Reading `lsmedic-bench record` traces (format v2, see the contract in healer/train/README.md
"Traces") into per-segment numpy arrays, and the labels derived from them.

A trace is gzip JSON lines: a `header`, `graph` lines (before the first tick and whenever the
component graph changes), `tick` lines and an `end` line. One [`Segment`] is a run of ticks on
one graph version (the node count N is fixed inside a segment). Labels:

- detector: a tick is anomalous when its `faults` list is non-empty (an injected fault is
  active); windows are labelled by their last tick;
- GNN: `node_state[t, n] = 1` when node n is in a failure state during tick t (one Rust
  definition, healer/src/labels.rs); the horizon label "fails within h ticks" at tick t is
  `any(node_state[t+1 : t+1+h, n])`, computed here from the future of the trace;
- policy: per-objective rewards from the `objective` of the next tick (see `rewards`).

Nothing here trains; it only reads and labels.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

FEATURE_DIM = 19
KIND_COUNT = 11
VALUE_SLOTS = FEATURE_DIM - KIND_COUNT

NODE_KINDS = [
    "write_path",
    "wal",
    "stall_controller",
    "block_cache",
    "read_path",
    "background_threads",
    "memtable",
    "flush",
    "l0",
    "compaction",
    "levels",
]
# Value-slot positions used by the RocksDB trigger heuristic (healer/src/features.rs).
SLOT = {
    ("stall_controller", "stall_fraction"): 0,
    ("stall_controller", "max_l0_slowdown_ratio"): 5,
    ("stall_controller", "max_pending_ratio"): 6,
    ("stall_controller", "max_memtable_ratio"): 7,
}


class TraceError(Exception):
    """A trace file is malformed or does not follow the format the pipeline expects."""

    def __init__(self, path: Path | str, line: int | None, reason: str) -> None:
        where = f"{path}" + (f":{line}" if line is not None else "")
        super().__init__(f"{where}: {reason}")
        self.path = Path(path)
        self.line = line
        self.reason = reason


def workload_name(value: object) -> str:
    """Canonical task name of a header's `workload` field: a string, an object's `task` (or
    `name`), else the object as canonical JSON so that equal parameters give equal names."""
    if value is None:
        return "unknown"
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        for key in ("task", "name"):
            if isinstance(value.get(key), str):
                return value[key]
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


@dataclass
class Segment:
    """Ticks of one trace on one graph version (N nodes)."""

    path: str
    scenario: str
    workload: str
    seed: int
    healer: str
    graph_version: int
    kinds: list[str]
    cfs: list[str | None]
    adj: np.ndarray  # [N, N] float32, adj[i, j] = 1 for edge i -> j
    feats: np.ndarray  # [Tk, N, 19] float32
    raw: np.ndarray  # [Tk, N, 8] float32
    node_state: np.ndarray  # [Tk, N] int8
    fault: np.ndarray  # [Tk] bool
    fault_kinds: list[list[str]]
    phase: list[str]
    t_s: np.ndarray  # [Tk] float64
    objective: np.ndarray  # [Tk, 4] float64: latency_us (nan if none), throughput, resources, stall
    tunable_vector: np.ndarray  # [Tk, U] float32
    action: np.ndarray  # [Tk] int32: catalog index applied this tick, 0 (noop) if none
    proposed: np.ndarray  # [Tk] int32: catalog index proposed (-1 if none)
    weights: np.ndarray  # [Tk, 3] float32
    mask: np.ndarray | None = None  # [Tk, A] bool when the trace records it
    explored: np.ndarray | None = None  # [Tk] bool: the action came from epsilon-exploration
    warmup: np.ndarray | None = None  # [Tk] bool: tick of a warm-up phase (from the end line)
    header: dict = field(default_factory=dict)

    @property
    def ticks(self) -> int:
        return int(self.feats.shape[0])

    @property
    def nodes(self) -> int:
        return int(self.feats.shape[1])

    def kind_index(self, kind: str) -> list[int]:
        """Node indices of one kind."""
        return [i for i, k in enumerate(self.kinds) if k == kind]


def _adjacency(n: int, edges: Iterable, path: Path, line: int) -> np.ndarray:
    adj = np.zeros((n, n), dtype=np.float32)
    for edge in edges:
        if not (isinstance(edge, (list, tuple)) and len(edge) == 2):
            raise TraceError(path, line, f"edge {edge!r} is not [src, dst]")
        src, dst = int(edge[0]), int(edge[1])
        if not (0 <= src < n and 0 <= dst < n):
            raise TraceError(path, line, f"edge {edge!r} outside 0..{n}")
        if src != dst:
            adj[src, dst] = 1.0
    return adj


def _node_kind(node: dict, path: Path, line: int) -> str:
    kind = node.get("kind")
    if not isinstance(kind, str):
        raise TraceError(path, line, f"graph node {node!r} has no kind")
    # Rust may write the enum variant (`WritePath`) or its snake-case name.
    snake = "".join("_" + c.lower() if c.isupper() else c for c in kind).lstrip("_")
    if snake not in NODE_KINDS:
        raise TraceError(path, line, f"unknown node kind {kind!r}")
    return snake


def _objective(obj: dict | None) -> list[float]:
    if not obj:
        return [math.nan, math.nan, math.nan, math.nan]
    lat = obj.get("latency_us")
    return [
        math.nan if lat is None else float(lat),
        float(obj.get("throughput_ops_per_sec", math.nan)),
        float(obj.get("resource_units", math.nan)),
        float(obj.get("stall_fraction", math.nan)),
    ]


class _Builder:
    def __init__(self, path: Path, header: dict, graph: dict, graph_line: int) -> None:
        self.path = path
        self.header = header
        nodes = graph.get("nodes")
        if not isinstance(nodes, list) or not nodes:
            raise TraceError(path, graph_line, "graph line without nodes")
        self.kinds = [_node_kind(n, path, graph_line) for n in nodes]
        self.cfs = [n.get("cf") for n in nodes]
        self.adj = _adjacency(len(nodes), graph.get("edges", []), path, graph_line)
        self.version = int(graph.get("graph_version", graph.get("version", 0)))
        self.rows: dict[str, list] = {k: [] for k in (
            "feats", "raw", "node_state", "fault", "fault_kinds", "phase", "t_s", "objective",
            "tunable_vector", "action", "proposed", "weights", "mask", "explored")}

    def fresh(self) -> "_Builder":
        """An empty builder on the same graph (a new segment)."""
        b = object.__new__(_Builder)
        b.path, b.header, b.kinds, b.cfs, b.adj, b.version = self.path, self.header, self.kinds, self.cfs, self.adj, self.version
        b.rows = {k: [] for k in self.rows}
        return b

    def add(self, tick: dict, line: int) -> None:
        n = len(self.kinds)
        feats = np.asarray(tick.get("features"), dtype=np.float32)
        if feats.shape != (n, FEATURE_DIM):
            raise TraceError(self.path, line, f"features shape {feats.shape}, graph has {n} nodes")
        raw = tick.get("raw")
        raw = np.zeros((n, VALUE_SLOTS), np.float32) if raw is None else np.asarray(raw, np.float32)
        if raw.shape == (n, FEATURE_DIM):  # one-hot + raw slot values
            raw = raw[:, KIND_COUNT:]
        if raw.shape != (n, VALUE_SLOTS):
            raise TraceError(self.path, line, f"raw shape {raw.shape}, expected ({n}, {VALUE_SLOTS})")
        state = tick.get("node_state")
        if state is None or len(state) != n:
            raise TraceError(self.path, line, f"node_state missing or not {n} long")
        faults = tick.get("faults") or []
        action = tick.get("action")
        proposed = -1
        applied = 0
        explored = isinstance(action, dict) and action.get("source") == "explore"
        if isinstance(action, dict) and action.get("index") is not None:
            proposed = int(action["index"])
            if action.get("applied", False):
                applied = proposed
        r = self.rows
        r["feats"].append(feats)
        r["raw"].append(raw)
        r["node_state"].append(np.asarray(state, dtype=np.int8))
        r["fault"].append(bool(faults))
        r["fault_kinds"].append([str(f if isinstance(f, str) else f.get("kind", f)) for f in faults])
        r["phase"].append(str(tick.get("phase", "")))
        r["t_s"].append(float(tick.get("t_s", len(r["t_s"]) * 0.1)))
        r["objective"].append(_objective(tick.get("objective")))
        r["tunable_vector"].append(np.asarray(tick.get("tunable_vector") or [], dtype=np.float32))
        r["action"].append(applied)
        r["proposed"].append(proposed)
        r["explored"].append(explored)
        r["weights"].append(np.asarray(tick.get("weights") or [1 / 3] * 3, dtype=np.float32))
        mask = tick.get("mask", tick.get("action_mask"))
        r["mask"].append(None if mask is None else np.asarray(mask, dtype=bool))

    def build(self) -> Segment | None:
        r = self.rows
        if not r["feats"]:
            return None
        widths = {v.shape for v in r["tunable_vector"]}
        if len(widths) != 1:
            raise TraceError(self.path, None, f"tunable_vector changes length: {sorted(widths)}")
        masks = r["mask"]
        mask = None
        if all(m is not None for m in masks) and len({m.shape for m in masks}) == 1:
            mask = np.stack(masks)
        h = self.header
        return Segment(
            path=str(self.path),
            scenario=str(h.get("scenario", "")),
            workload=workload_name(h.get("workload")),
            seed=int(h.get("seed", 0)),
            healer=str(h.get("healer", "")),
            graph_version=self.version,
            kinds=self.kinds,
            cfs=self.cfs,
            adj=self.adj,
            feats=np.stack(r["feats"]),
            raw=np.stack(r["raw"]),
            node_state=np.stack(r["node_state"]),
            fault=np.asarray(r["fault"], dtype=bool),
            fault_kinds=r["fault_kinds"],
            phase=r["phase"],
            t_s=np.asarray(r["t_s"], dtype=np.float64),
            objective=np.asarray(r["objective"], dtype=np.float64),
            tunable_vector=np.stack(r["tunable_vector"]),
            action=np.asarray(r["action"], dtype=np.int32),
            proposed=np.asarray(r["proposed"], dtype=np.int32),
            weights=np.stack(r["weights"]),
            mask=mask,
            explored=np.asarray(r["explored"], dtype=bool),
            header=h,
        )


def read_trace(path: Path | str) -> list[Segment]:
    """All segments of one trace file (one per graph version that has ticks)."""
    path = Path(path)
    header: dict | None = None
    builder: _Builder | None = None
    segments: list[Segment] = []
    warmup_phases: set[str] = set()
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for number, text in enumerate(f, start=1):
                if not text.strip():
                    continue
                try:
                    obj = json.loads(text)
                except json.JSONDecodeError as e:
                    raise TraceError(path, number, f"not JSON: {e}") from e
                kind = obj.get("type")
                if kind == "header":
                    header = obj
                    version = obj.get("format_version")
                    if not isinstance(version, int) or version < 2:
                        raise TraceError(path, number, f"trace format_version {version!r} < 2 "
                                         "(re-record with the current lsmedic-bench)")
                elif kind == "graph":
                    if header is None:
                        raise TraceError(path, number, "graph line before the header")
                    if builder is not None and (seg := builder.build()) is not None:
                        segments.append(seg)
                    builder = _Builder(path, header, obj, number)
                elif kind == "tick":
                    if builder is None:
                        raise TraceError(path, number, "tick before any graph line")
                    gv = obj.get("graph_version")
                    if gv is not None and int(gv) != builder.version:
                        raise TraceError(path, number, f"tick graph_version {gv} but the last "
                                         f"graph line is version {builder.version}")
                    if obj.get("features") is None:
                        # the healer tick failed: no features; the segment breaks here
                        if (seg := builder.build()) is not None:
                            segments.append(seg)
                        builder = builder.fresh()
                        continue
                    builder.add(obj, number)
                elif kind == "end":
                    for phase in obj.get("phases") or []:
                        if isinstance(phase, dict) and phase.get("warmup"):
                            warmup_phases.add(str(phase.get("name")))
                    break
    except (OSError, EOFError) as e:
        raise TraceError(path, None, f"cannot read: {e}") from e
    if header is None:
        raise TraceError(path, None, "no header line")
    if builder is not None and (seg := builder.build()) is not None:
        segments.append(seg)
    for seg in segments:
        seg.warmup = np.array([p in warmup_phases for p in seg.phase], dtype=bool)
    return segments


def trace_files(directory: Path | str) -> list[Path]:
    """Trace files under `directory`, sorted (so every run sees the same order)."""
    return sorted(Path(directory).rglob("*.trace.jsonl.gz"))


def load_traces(directory: Path | str) -> list[Segment]:
    """Every segment of every trace under `directory`."""
    out: list[Segment] = []
    for path in trace_files(directory):
        out.extend(read_trace(path))
    return out


def digest_files(paths: Iterable[Path]) -> str:
    """SHA-256 over the names and bytes of `paths` (sorted): a training-data digest."""
    h = hashlib.sha256()
    for p in sorted(Path(x) for x in paths):
        h.update(p.name.encode())
        h.update(b"\0")
        h.update(p.read_bytes())
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# Windows and labels


def window_ends(seg: Segment, window: int, start: int = 0) -> np.ndarray:
    """Tick indices t >= start for which the window [t-window+1, t] lies inside the segment."""
    first = max(window - 1, start)
    return np.arange(first, seg.ticks, dtype=np.int64)


def windows(feats: np.ndarray, ends: np.ndarray, window: int) -> np.ndarray:
    """Stacked windows `[len(ends), N, window, 19]` ending at `ends` (inclusive)."""
    idx = ends[:, None] - (window - 1) + np.arange(window)[None, :]
    w = feats[idx]  # [B, window, N, 19]
    return np.ascontiguousarray(np.transpose(w, (0, 2, 1, 3)))


def horizon_labels(node_state: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """`(labels[Tk, N], valid[Tk])`: labels[t, n] = 1 when node n fails during one of the
    ticks t+1..t+horizon; valid[t] when those ticks all exist in the segment."""
    tk, n = node_state.shape
    fails = node_state.astype(bool)
    # cumulative count makes every window sum O(1)
    csum = np.concatenate([np.zeros((1, n), np.int64), np.cumsum(fails, axis=0)])
    t = np.arange(tk)
    hi = np.minimum(t + 1 + horizon, tk)
    lo = np.minimum(t + 1, tk)
    labels = (csum[hi] - csum[lo]) > 0
    valid = t + horizon < tk
    return labels.astype(np.float32), valid


def onsets(state: np.ndarray, merge_gap: int = 0) -> list[tuple[int, int]]:
    """Episodes `(start, end_exclusive)` of a 0/1 series; gaps of at most `merge_gap` ticks
    between two episodes are merged."""
    s = np.asarray(state).astype(bool)
    eps: list[list[int]] = []
    t = 0
    n = len(s)
    while t < n:
        if s[t]:
            start = t
            while t < n and s[t]:
                t += 1
            if eps and start - eps[-1][1] <= merge_gap:
                eps[-1][1] = t
            else:
                eps.append([start, t])
        else:
            t += 1
    return [(a, b) for a, b in eps]


# ---------------------------------------------------------------------------------------------
# Policy rewards

MAX_LOG_CHANGE = 3.0


def rewards(seg: Segment, reference_ticks: int = 50) -> np.ndarray:
    """Per-objective rewards `[Tk, 3]` (latency, throughput, resources) for the transition
    from tick t to t+1, scale-free like healer/src/objective.rs:

    - latency: `-ln(latency_us[t+1] / ref_latency)`, ref = median over the first
      `reference_ticks` measured (not warm-up) ticks with operations (clipped to +-3; ticks
      without operations count as the reference);
    - throughput: `ln(throughput[t+1] / ref_throughput)` (clipped to +-3);
    - resources: `-(resource_units[t+1] - 1)`.

    The last tick has no successor: its row is 0 and callers drop it.
    """
    obj = seg.objective
    lat = obj[:, 0]
    thr = obj[:, 1]
    res = obj[:, 2]
    good_lat = np.isfinite(lat) & (lat > 0)
    good_thr = np.isfinite(thr) & (thr > 0)
    measured = ~seg.warmup if seg.warmup is not None and (~seg.warmup).any() else np.ones(seg.ticks, bool)
    ref_l = lat[good_lat & measured][:reference_ticks]
    ref_t = thr[good_thr & measured][:reference_ticks]
    ref_lat = float(np.median(ref_l)) if ref_l.size else 1.0
    ref_thr = float(np.median(ref_t)) if ref_t.size else 1.0
    r = np.zeros((seg.ticks, 3), dtype=np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        rl = -np.log(np.where(good_lat, lat, ref_lat) / ref_lat)
        rt = np.log(np.where(good_thr, thr, ref_thr) / ref_thr)
    rr = -(np.where(np.isfinite(res), res, 1.0) - 1.0)
    r[:-1, 0] = np.clip(rl[1:], -MAX_LOG_CHANGE, MAX_LOG_CHANGE)
    r[:-1, 1] = np.clip(rt[1:], -MAX_LOG_CHANGE, MAX_LOG_CHANGE)
    r[:-1, 2] = np.clip(rr[1:], -MAX_LOG_CHANGE, MAX_LOG_CHANGE)
    return r


def normal_looking(seg: Segment) -> np.ndarray:
    """`[Tk]` bool: ticks the runtime may use as adaptation support (helper-runtime's rule in
    the contract): no RocksDB stall, no op errors, no corruption signals, lsmedic's throttle
    not engaged, some traffic. Read from the raw (un-normalised) rows."""
    raw = seg.raw
    ok = np.ones(seg.ticks, dtype=bool)
    traffic = np.zeros(seg.ticks, dtype=bool)
    for i, kind in enumerate(seg.kinds):
        r = raw[:, i]
        if kind == "stall_controller":
            ok &= (r[:, 0] <= 0) & (r[:, 1] <= 0)
        elif kind == "write_path":
            ok &= (r[:, 5] <= 0) & (r[:, 6] <= 0)
            traffic |= r[:, 0] > 0
        elif kind == "read_path":
            ok &= r[:, 5] <= 0
            traffic |= r[:, 0] > 0
        elif kind == "levels":
            ok &= (r[:, 6] <= 0) & (r[:, 7] <= 0)
    return ok & traffic


def support_ends(ok: np.ndarray, window: int, k: int, stride: int, start: int = 0) -> list[int]:
    """End ticks of the first `k` support windows at or after `start`: windows of `window`
    consecutive ticks with `ok` set, successive windows starting `stride` ticks apart; a tick
    without `ok` breaks the window being collected (the runtime's collection rule)."""
    ends: list[int] = []
    run = 0
    next_start = start
    for t in range(start, len(ok)):
        if not ok[t]:
            run = 0
            continue
        run += 1
        begin = t - window + 1
        if run >= window and begin >= next_start:
            ends.append(t)
            next_start = begin + stride
            if len(ends) == k:
                break
    return ends
