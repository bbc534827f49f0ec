"""Cascade predictor: message passing over the component graph, per-node risk at 1 s and 5 s.

Inputs per tick t: the feature window `x [N, T, 19]` ending at t, the detector's node scores
at t (from the meta-trained detector adapted on the run's first K normal windows, exactly as
at run time; zero before the adaptation finished, and dropped to zero for 30 % of training
samples so that a silent detector is a normal input), and the adjacency. Labels: node n
fails within h ticks (`traces.horizon_labels`, from `node_state` in the trace's future).
Loss: binary cross-entropy per node and horizon, positives weighted by sqrt(neg/pos) of
their horizon, pre-onset ticks (the ones that matter for prediction) sampled 4x as often.

Baselines (same data, same evaluation): the MLP (this network without messages), and
RocksDB's own trigger heuristic on the raw readings of the stall controller node (alarm when
the worst column family's L0 files >= slowdown trigger, or pending compaction bytes >= soft
limit, or immutable memtables at the limit; and the same rule with a ratio threshold tuned on
training runs, which gives it some lead).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from . import nets
from .metrics import LeadCounts, average_precision, debounce, lead_counts
from .optim import adam_init, adam_step, to_jax, to_numpy
from .traces import Segment, horizon_labels, onsets, windows

HORIZONS_S = (1.0, 5.0)
STALL_NODE = "stall_controller"


@dataclass
class GnnConfig:
    window: int = 10
    hidden: int = 48
    rounds: int = 2
    steps: int = 2500
    batch: int = 48
    lr: float = 2e-3
    weight_decay: float = 1e-4
    score_dropout: float = 0.3
    tick_s: float = 0.1
    merge_gap: int = 5
    seed: int = 11

    @property
    def horizons(self) -> list[int]:
        return [int(round(h / self.tick_s)) for h in HORIZONS_S]


@dataclass
class GnnRun:
    seg: Segment
    node_score: np.ndarray  # [Tk, N]
    labels: np.ndarray  # [Tk, N, 2]
    valid: np.ndarray  # [Tk] usable training tick
    weight: np.ndarray  # [Tk] sampling weight


def prepare(seg: Segment, node_score: np.ndarray, cfg: GnnConfig) -> GnnRun:
    h1, h5 = cfg.horizons
    y1, v1 = horizon_labels(seg.node_state, h1)
    y5, v5 = horizon_labels(seg.node_state, h5)
    t = np.arange(seg.ticks)
    valid = v5 & v1 & (t >= cfg.window - 1)
    weight = np.ones(seg.ticks)
    stall = seg.kind_index(STALL_NODE)
    if stall:
        s = seg.node_state[:, stall[0]].astype(bool)
        pre = (y5[:, stall[0]] > 0) & ~s
        weight[pre] = 4.0
    weight = weight * valid
    ns = np.nan_to_num(node_score, nan=0.0).astype(np.float32)
    return GnnRun(seg, ns, np.stack([y1, y5], axis=-1), valid, weight)


def _loss(p, x, ns, adj, y, pos_w, rounds):
    logits = nets.gnn_logits(p, x, ns, adj, rounds)
    l = pos_w * y * jax.nn.softplus(-logits) + (1 - y) * jax.nn.softplus(logits)
    return jnp.mean(l)


def train(runs: list[GnnRun], cfg: GnnConfig, graph: bool, log=print) -> dict:
    rng = np.random.default_rng(cfg.seed + (0 if graph else 1))
    p = to_jax(nets.gnn_init(cfg.seed, cfg.window, cfg.hidden, cfg.rounds, graph))
    opt = adam_init(p)
    lab = np.concatenate([r.labels[r.valid].reshape(-1, 2) for r in runs])
    pos = lab.mean(axis=0).clip(1e-3, 0.999)
    pos_w = jnp.asarray(np.sqrt((1 - pos) / pos), jnp.float32)
    log(f"  gnn({'graph' if graph else 'mlp'}): positive rate 1 s {pos[0]:.3f}, 5 s {pos[1]:.3f}, pos weight {np.asarray(pos_w).round(2).tolist()}")
    grad = jax.jit(jax.value_and_grad(_loss), static_argnums=(6,))
    seg_w = np.array([r.weight.sum() for r in runs], np.float64)
    seg_w /= seg_w.sum()
    hist = []
    t0 = time.time()
    for step in range(cfg.steps):
        r = runs[rng.choice(len(runs), p=seg_w)]
        pw = r.weight / r.weight.sum()
        ticks = rng.choice(r.seg.ticks, size=cfg.batch, p=pw)
        x = windows(r.seg.feats, ticks, cfg.window)
        ns = r.node_score[ticks].copy()
        ns[rng.random(cfg.batch) < cfg.score_dropout] = 0.0
        loss, g = grad(p, x, ns, r.seg.adj, r.labels[ticks], pos_w, cfg.rounds)
        g = {k: v + (cfg.weight_decay * p[k] if k.startswith("w") else 0.0) for k, v in g.items()}
        p, opt = adam_step(p, g, opt, cfg.lr)
        hist.append(float(loss))
        if step % 500 == 0 or step == cfg.steps - 1:
            log(f"  gnn({'graph' if graph else 'mlp'}) step {step}: loss {np.mean(hist[-100:]):.4f} ({time.time() - t0:.0f} s)")
    return to_numpy(p)


_logits = jax.jit(nets.gnn_logits, static_argnums=(4,))


def predict(p: dict, run: GnnRun, cfg: GnnConfig, batch: int = 256) -> np.ndarray:
    """Risk `[Tk, N, 2]` (NaN before the first full window)."""
    seg = run.seg
    out = np.full((seg.ticks, seg.nodes, 2), np.nan, np.float32)
    ends = np.arange(cfg.window - 1, seg.ticks)
    pj = to_jax(p)
    for i in range(0, ends.size, batch):
        e = ends[i : i + batch]
        pad = batch - e.size
        x = windows(seg.feats, e, cfg.window)
        ns = run.node_score[e]
        if pad:
            x = np.concatenate([x, np.zeros((pad,) + x.shape[1:], x.dtype)])
            ns = np.concatenate([ns, np.zeros((pad,) + ns.shape[1:], ns.dtype)])
        lg = _logits(pj, x, ns, seg.adj, cfg.rounds)
        out[e] = np.asarray(jax.nn.sigmoid(lg))[: e.size]
    return out


def heuristic_ratio(seg: Segment) -> np.ndarray:
    """Worst trigger ratio now (stall controller raw slots: L0/slowdown trigger, pending/soft
    limit, memtables/limit): RocksDB stalls when one reaches 1."""
    i = seg.kind_index(STALL_NODE)[0]
    return seg.raw[:, i, 5:8].max(axis=1)


def stall_eval(alarm_fn, runs: list[GnnRun], cfg: GnnConfig) -> dict:
    """Stall-prediction counts on the stall-controller node for both heads.
    `alarm_fn(run, head) -> bool [Tk]`."""
    h1, h5 = cfg.horizons
    out = {}
    for head, horizon, leads in ((0, h1, {"lead_ge_0.1s": 1, "lead_ge_1s": 10}),
                                 (1, h5, {"lead_ge_1s": 10, "lead_ge_2s": 20, "lead_ge_5s": 50})):
        total = LeadCounts()
        for r in runs:
            i = r.seg.kind_index(STALL_NODE)
            if not i:
                continue
            state = r.seg.node_state[:, i[0]]
            alarm = alarm_fn(r, head)
            total.add(lead_counts(state, alarm, horizon, cfg.merge_gap, min_lead=0, first=cfg.window - 1))
        s = total.summary(leads)
        out[f"{HORIZONS_S[head]:g}s"] = s
    return out


def node_pr_auc(pred: list[np.ndarray], runs: list[GnnRun]) -> dict:
    """PR-AUC of the per-node risks over every node and valid tick, per horizon, and on
    pre-failure ticks only (node not failing now: real prediction)."""
    out = {}
    for head in (0, 1):
        ys, ss, ys_pre, ss_pre = [], [], [], []
        for pr, r in zip(pred, runs):
            v = r.valid
            y = r.labels[v, :, head].reshape(-1)
            s = pr[v, :, head].reshape(-1)
            ys.append(y)
            ss.append(s)
            now = r.seg.node_state[v].reshape(-1).astype(bool)
            ys_pre.append(y[~now])
            ss_pre.append(s[~now])
        key = f"{HORIZONS_S[head]:g}s"
        out[key] = average_precision(np.concatenate(ys), np.concatenate(ss))
        out[key + "_pre_failure"] = average_precision(np.concatenate(ys_pre), np.concatenate(ss_pre))
    return out


def pick_threshold(pred: list[np.ndarray], runs: list[GnnRun], cfg: GnnConfig, head: int, lead: int) -> tuple[float, int]:
    """`(threshold, min_run)` on the stall node's risk maximising F1 of (precision, recall at
    `lead` ticks) on the given (development) runs; an alarm needs `min_run` consecutive ticks
    above the threshold (1 to 3: a persistence rule any consumer of the risk can apply)."""
    best = ((0.5, 1), -1.0)
    key = f"recall_lead_ge_{lead / 10:g}s"
    for min_run in (1, 2, 3):
        for thr in np.linspace(0.05, 0.95, 37):
            res = stall_eval(lambda r, h: _alarm(pred, runs, r, h, (thr, min_run)), runs, cfg)
            s = res[f"{HORIZONS_S[head]:g}s"]
            rec = s.get(key, 0.0)
            rec = 0.0 if rec is None or np.isnan(rec) else rec
            f1 = 0.0 if s["precision"] + rec == 0 else 2 * s["precision"] * rec / (s["precision"] + rec)
            if f1 > best[1]:
                best = ((float(thr), min_run), f1)
    return best[0]


def _alarm(pred, runs, r, head, rule):
    thr, min_run = rule
    idx = runs.index(r)
    i = r.seg.kind_index(STALL_NODE)[0]
    s = pred[idx][:, i, head]
    return debounce(np.nan_to_num(s, nan=0.0) > thr, min_run)


def episodes_summary(runs: list[GnnRun], cfg: GnnConfig) -> dict:
    """Stall episodes of the stall-controller node: all, the evaluable ones (onset after the
    first full input window), and how many of those start less than 2 s after a fault was
    injected (a stall caused at once by the injection cannot be foreseen 2 s ahead)."""
    n = evaluable = soon_after_fault = 0
    ticks = 0
    for r in runs:
        i = r.seg.kind_index(STALL_NODE)
        if not i:
            continue
        ticks += r.seg.ticks
        fault_starts = np.array([a for a, _ in onsets(r.seg.fault)], dtype=np.int64)
        for b, _ in onsets(r.seg.node_state[:, i[0]], cfg.merge_gap):
            n += 1
            if b >= cfg.window - 1:
                evaluable += 1
                if fault_starts.size and np.any((fault_starts <= b) & (b - fault_starts < 20)):
                    soon_after_fault += 1
    return {"stall_episodes": n, "evaluable": evaluable, "within_2s_of_fault_start": soon_after_fault, "ticks": ticks}
