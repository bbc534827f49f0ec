"""Anomaly detector: OC-MAML (arXiv 2007.04146) with an ANIL head, second-order MAML.

- Task = one workload (the header's `workload`). Per meta-step a batch of tasks is drawn; for
  each, one run (segment) of the workload gives the *support set*: K windows of T ticks taken
  with the runtime's collection rule (normal-looking ticks only, stride S; see
  `traces.support_ends`), and labelled *query* windows (half with an injected fault active at
  the window's last tick, half without) come from the runs of the same workload.
- Inner loop (what runs in the healer, `detector_adapt.onnx`): S_in plain gradient steps of
  the one-class loss `mean_k softplus(L_k)` (binary cross-entropy with label "normal" on the
  support windows) on the head `(w, b)` only; the body is frozen (ANIL). Step sizes are
  meta-learned scalars, one per step.
- Outer loop: class-balanced binary cross-entropy of the adapted model's window logits on the
  query windows, differentiated through the inner steps (second order: the inner gradients
  depend on the body through the support embeddings, and jax differentiates through them).
- Baseline "no meta-learning": the same network trained on the same windows pooled over all
  training tasks (ordinary supervised training of body and head, no inner loop), then
  adapted at evaluation with the same K support windows and the same number of steps; its
  step size is picked on the training runs from a grid (so it is not handicapped by an
  untuned step size).
- Baseline "thresholds" (not learned): the window's score is the mean over its last 3 ticks
  of the largest |z| over all nodes and value slots; threshold chosen on training runs.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from . import nets
from .metrics import EventCounts, average_precision, best_threshold, event_counts
from .optim import adam_init, adam_step, to_jax, to_numpy
from .traces import Segment, normal_looking, support_ends, windows


@dataclass
class DetectorConfig:
    window: int = 10
    support_k: int = 10
    support_stride: int = 3
    hidden1: int = 64
    hidden: int = 32
    inner_steps: int = 5
    inner_lr0: float = 0.5
    meta_batch: int = 6
    query: int = 32
    steps: int = 1200
    lr: float = 1e-3
    weight_decay: float = 1e-4
    grace_ticks: int = 50
    seed: int = 7


@dataclass
class RunData:
    """One segment prepared for the detector."""

    seg: Segment
    ok: np.ndarray  # normal-looking (the runtime's support rule)
    measured: np.ndarray  # not warm-up
    normal_ends: np.ndarray
    fault_ends: np.ndarray
    first_measured: int  # where the runtime starts gathering support (`adapt_start`)


@dataclass
class Task:
    name: str
    runs: list[RunData] = field(default_factory=list)


def prepare(segs: list[Segment], window: int) -> list[Task]:
    tasks: dict[str, Task] = {}
    for seg in segs:
        if seg.ticks < 3 * window:
            continue
        warm = seg.warmup if seg.warmup is not None else np.zeros(seg.ticks, bool)
        measured = ~warm
        ok = normal_looking(seg)
        t = np.arange(seg.ticks)
        valid = (t >= window - 1) & measured
        normal_ends = t[valid & ~seg.fault]
        fault_ends = t[valid & seg.fault]
        rd = RunData(seg, ok, measured, normal_ends, fault_ends, adapt_start(seg))
        tasks.setdefault(seg.workload, Task(seg.workload)).runs.append(rd)
    return [tasks[k] for k in sorted(tasks)]


WORKLOAD_CHANGE_TICKS = 30


def adapt_start(seg: Segment) -> int:
    """Tick from which the runtime gathers the support windows for the run's workload.

    The runtime adapts at start and again after a confirmed workload change
    (healer/src/detect.rs: 30 consecutive ticks with a different op mix or rate). In a bench
    run the first phase is the warm-up load (fillseq) and the next one runs the scenario's
    workload, so the adaptation that matters starts 30 ticks into the second phase; a run
    with one phase adapts from its first tick."""
    phases: list[str] = []
    firsts: list[int] = []
    for t, name in enumerate(seg.phase):
        if not phases or phases[-1] != name:
            phases.append(name)
            firsts.append(t)
    warm = seg.warmup if seg.warmup is not None else np.zeros(seg.ticks, bool)
    if len(phases) >= 2 and warm[0]:
        start = firsts[1] + WORKLOAD_CHANGE_TICKS
        return start if start < seg.ticks else firsts[1]
    return 0


def _support(rd: RunData, cfg: DetectorConfig, start: int) -> list[int]:
    return support_ends(rd.ok, cfg.window, cfg.support_k, cfg.support_stride, start)


def eval_support(rd: RunData, cfg: DetectorConfig) -> list[int]:
    """Support ends at evaluation: the first K windows from `adapt_start` (the runtime's rule)."""
    return _support(rd, cfg, rd.first_measured)


# ---------------------------------------------------------------------------------------------
# training


def _task_loss(p, support, query, labels, balance):
    w, b = nets.detector_adapt(p, support)
    _, big_l = nets.detector_logits(p, query, w, b)
    bce = labels * jax.nn.softplus(-big_l) + (1 - labels) * jax.nn.softplus(big_l)
    return jnp.sum(bce * balance)


def _pooled_loss(p, query, labels, balance):
    _, big_l = nets.detector_logits(p, query, p["head_w"], p["head_b"])
    bce = labels * jax.nn.softplus(-big_l) + (1 - labels) * jax.nn.softplus(big_l)
    return jnp.sum(bce * balance)


_task_grad = jax.jit(jax.value_and_grad(_task_loss))
_pooled_grad = jax.jit(jax.value_and_grad(_pooled_loss))


def _l2(p, grads, wd):
    return {k: g + (wd * p[k] if k.startswith("w") else 0.0) for k, g in grads.items()}


def _sample_query(rng, task: Task, n: int, q: int):
    runs = [r for r in task.runs if r.seg.nodes == n]
    xs, ys = [], []
    half = q // 2
    faulty = [r for r in runs if r.fault_ends.size]
    for label, pool_runs, count in ((1.0, faulty, half), (0.0, runs, q - half)):
        if not pool_runs:
            continue
        for _ in range(count):
            r = pool_runs[rng.integers(len(pool_runs))]
            ends = r.fault_ends if label else r.normal_ends
            if ends.size == 0:
                continue
            t = int(ends[rng.integers(ends.size)])
            xs.append((r, t))
            ys.append(label)
    return xs, np.asarray(ys, np.float32)


def _gather(items, window):
    return np.stack([windows(r.seg.feats, np.array([t]), window)[0] for r, t in items])


def _balance(y: np.ndarray) -> np.ndarray:
    pos = max(1.0, float(y.sum()))
    neg = max(1.0, float((1 - y).sum()))
    return np.where(y > 0, 0.5 / pos, 0.5 / neg).astype(np.float32)


def meta_train(tasks: list[Task], cfg: DetectorConfig, log=print) -> tuple[dict, list]:
    """Second-order OC-MAML over `tasks`; returns `(params, loss history)`."""
    rng = np.random.default_rng(cfg.seed)
    p = to_jax(nets.detector_init(cfg.seed, cfg.window, cfg.hidden1, cfg.hidden, cfg.inner_steps, cfg.inner_lr0))
    opt = adam_init(p)
    usable = [t for t in tasks if any(r.fault_ends.size for r in t.runs)]
    if not usable:
        raise ValueError("no training task has fault windows")
    history = []
    t0 = time.time()
    for step in range(cfg.steps):
        grads = None
        total = 0.0
        count = 0
        for _ in range(cfg.meta_batch):
            task = usable[rng.integers(len(usable))]
            rd = task.runs[rng.integers(len(task.runs))]
            start = rd.first_measured if rng.random() < 0.5 else int(rng.integers(rd.first_measured, max(rd.first_measured + 1, rd.seg.ticks - 40)))
            sup = _support(rd, cfg, start)
            if len(sup) < 2:
                sup = _support(rd, cfg, rd.first_measured)
            if len(sup) < 2:
                continue
            # vary K like the runtime may (fewer windows early on)
            k = int(rng.integers(max(2, cfg.support_k // 2), cfg.support_k + 1))
            sup = sup[: min(k, len(sup))]
            items, y = _sample_query(rng, task, rd.seg.nodes, cfg.query)
            if y.size < 4 or y.min() == y.max():
                continue
            support = windows(rd.seg.feats, np.asarray(sup), cfg.window)
            loss, g = _task_grad(p, support, _gather(items, cfg.window), y, _balance(y))
            grads = g if grads is None else jax.tree_util.tree_map(jnp.add, grads, g)
            total += float(loss)
            count += 1
        if grads is None:
            continue
        grads = jax.tree_util.tree_map(lambda g: g / count, grads)
        grads = _l2(p, grads, cfg.weight_decay)
        p, opt = adam_step(p, grads, opt, cfg.lr)
        history.append(total / count)
        if step % 200 == 0 or step == cfg.steps - 1:
            log(f"  detector meta step {step}: query loss {np.mean(history[-50:]):.4f} "
                f"inner lr {np.exp(np.asarray(p['log_lr'])).round(3).tolist()} ({time.time() - t0:.0f} s)")
    return to_numpy(p), history


def pooled_train(tasks: list[Task], cfg: DetectorConfig, log=print) -> tuple[dict, list]:
    """The no-meta-learning baseline: same network, same windows, no inner loop."""
    rng = np.random.default_rng(cfg.seed + 1)
    p = to_jax(nets.detector_init(cfg.seed, cfg.window, cfg.hidden1, cfg.hidden, cfg.inner_steps, cfg.inner_lr0))
    opt = adam_init(p)
    usable = [t for t in tasks if any(r.fault_ends.size for r in t.runs)]
    history = []
    t0 = time.time()
    for step in range(cfg.steps):
        grads = None
        total = 0.0
        count = 0
        for _ in range(cfg.meta_batch):
            task = usable[rng.integers(len(usable))]
            n = task.runs[rng.integers(len(task.runs))].seg.nodes
            items, y = _sample_query(rng, task, n, cfg.query)
            if y.size < 4 or y.min() == y.max():
                continue
            loss, g = _pooled_grad(p, _gather(items, cfg.window), y, _balance(y))
            g["log_lr"] = jnp.zeros_like(g["log_lr"])
            grads = g if grads is None else jax.tree_util.tree_map(jnp.add, grads, g)
            total += float(loss)
            count += 1
        if grads is None:
            continue
        grads = jax.tree_util.tree_map(lambda g: g / count, grads)
        grads = _l2(p, grads, cfg.weight_decay)
        p, opt = adam_step(p, grads, opt, cfg.lr)
        history.append(total / count)
        if step % 200 == 0 or step == cfg.steps - 1:
            log(f"  detector pooled step {step}: loss {np.mean(history[-50:]):.4f} ({time.time() - t0:.0f} s)")
    return to_numpy(p), history


# ---------------------------------------------------------------------------------------------
# scoring and evaluation

_adapt_jit = jax.jit(nets.detector_adapt)
_adapt_lrs_jit = jax.jit(nets.detector_adapt)


def _pad(x: np.ndarray, size: int) -> np.ndarray:
    """Pads the batch axis to `size` (one compiled shape for every chunk)."""
    if x.shape[0] == size:
        return x
    pad = np.zeros((size - x.shape[0],) + x.shape[1:], x.dtype)
    return np.concatenate([x, pad])


@jax.jit
def _logits_jit(p, x, w, b):
    return nets.detector_logits(p, x, w, b)


def adapt_run(p: dict, rd: RunData, cfg: DetectorConfig, lrs=None):
    """Adapted head for a run (support = first K windows), and the support's last end tick."""
    sup = eval_support(rd, cfg)
    if not sup:
        return None
    support = windows(rd.seg.feats, np.asarray(sup), cfg.window)
    pj = to_jax(p)
    if lrs is None:
        w, b = _adapt_jit(pj, support)
    else:
        w, b = _adapt_lrs_jit(pj, support, jnp.asarray(lrs, jnp.float32))
    return np.asarray(w), np.asarray(b), sup


def run_scores(p: dict, rd: RunData, w, b, cfg: DetectorConfig, batch: int = 512):
    """`(node_scores [Tk, N], score [Tk])` for every tick with a full window (NaN before)."""
    seg = rd.seg
    ends = np.arange(cfg.window - 1, seg.ticks)
    node = np.full((seg.ticks, seg.nodes), np.nan, np.float32)
    score = np.full(seg.ticks, np.nan, np.float32)
    pj = to_jax(p)
    for i in range(0, ends.size, batch):
        e = ends[i : i + batch]
        l, big_l = _logits_jit(pj, _pad(windows(seg.feats, e, cfg.window), batch), jnp.asarray(w), jnp.asarray(b))
        node[e] = np.asarray(jax.nn.sigmoid(l))[: e.size]
        score[e] = np.asarray(jax.nn.sigmoid(big_l))[: e.size]
    return node, score


def threshold_scores(rd: RunData, cfg: DetectorConfig) -> np.ndarray:
    """The non-learned baseline's per-tick score (see module docs)."""
    z = np.abs(rd.seg.feats[:, :, 11:]).max(axis=(1, 2))
    s = np.full(rd.seg.ticks, np.nan, np.float32)
    k = 3
    c = np.convolve(z, np.ones(k) / k, mode="valid")  # c[i] = mean z[i..i+k-1]
    s[k - 1 :] = c
    s[: cfg.window - 1] = np.nan
    return s


def eval_timelines(score_fn, runs: list[RunData], cfg: DetectorConfig):
    """`[(scores, labels, run)]` over the evaluated part of each run: the measured ticks
    after its support windows. `score_fn(rd) -> (score [Tk], support_last_end)`."""
    out = []
    for rd in runs:
        res = score_fn(rd)
        if res is None:
            continue
        score, last = res
        t = np.arange(rd.seg.ticks)
        keep = (t > last) & rd.measured & np.isfinite(score)
        if keep.sum() < cfg.window:
            continue
        out.append((score[keep], rd.seg.fault[keep].astype(np.float32), rd))
    return out


def summarise(timelines, threshold: float, grace: int) -> dict:
    total = EventCounts()
    for s, y, _ in timelines:
        total.add(event_counts(y, s > threshold, grace))
    out = total.summary()
    allp = np.concatenate([s for s, _, _ in timelines]) if timelines else np.zeros(0)
    ally = np.concatenate([y for _, y, _ in timelines]) if timelines else np.zeros(0)
    out["pr_auc"] = average_precision(ally, allp) if ally.size else float("nan")
    out["threshold"] = float(threshold)
    out["runs"] = len(timelines)
    out["ticks"] = int(ally.size)
    out["positive_ticks"] = int(ally.sum())
    return out


def learned_score_fn(p: dict, cfg: DetectorConfig, lrs=None):
    def fn(rd: RunData):
        a = adapt_run(p, rd, cfg, lrs)
        if a is None:
            return None
        w, b, sup = a
        _, score = run_scores(p, rd, w, b, cfg)
        return score, sup[-1]

    return fn


def baseline_score_fn(cfg: DetectorConfig):
    def fn(rd: RunData):
        sup = eval_support(rd, cfg)
        if not sup:
            return None
        return threshold_scores(rd, cfg), sup[-1]

    return fn


def pick_threshold(timelines, grace: int) -> float:
    thr, _ = best_threshold([(s, y) for s, y, _ in timelines], grace)
    return thr


def per_kind_breakdown(timelines, threshold: float, grace: int) -> dict:
    """Event recall per fault kind (which faults the detector finds)."""
    out: dict[str, list[int]] = {}
    for s, y, rd in timelines:
        kinds = sorted({k for ks in rd.seg.fault_kinds for k in ks}) or ["none"]
        c = event_counts(y, s > threshold, grace)
        for k in kinds:
            v = out.setdefault(k, [0, 0, 0, 0])
            v[0] += c.detected
            v[1] += c.events
            v[2] += c.true_alarms
            v[3] += c.alarms
    return {k: {"detected": v[0], "events": v[1], "true_alarms": v[2], "alarms": v[3]} for k, v in sorted(out.items())}


def pick_lr(p: dict, runs: list[RunData], cfg: DetectorConfig, grid=(0.0, 0.1, 0.3, 1.0, 3.0)) -> float:
    """Step size for the baseline's adaptation, chosen by PR-AUC on training runs."""
    best = (grid[0], -1.0)
    for lr in grid:
        tl = eval_timelines(learned_score_fn(p, cfg, np.full(cfg.inner_steps, lr, np.float32)), runs, cfg)
        ap = summarise(tl, 0.5, cfg.grace_ticks)["pr_auc"]
        if not math.isnan(ap) and ap > best[1]:
            best = (lr, ap)
    return best[0]
