"""Trains every learned healer model from recorded traces, exports them to ONNX, checks them in
ONNX Runtime against the JAX functions, writes golden vectors, the detector's initial state,
`healer/models/manifest.json` and the measured metrics (`healer/train/results/metrics.json`,
the input of REPORT.md).

Usage (repository root; `make models` runs it after recording the traces):

    .venv/bin/python healer/train/train_models.py --traces target/traces

Held-out workloads come from `healer/train/split.json` (`{"held_out": [...]}`, helper-data's)
or `--held-out`; they are never used for training any model, only for the metrics.
Deterministic: same traces + same seeds give byte-identical models (JAX on CPU).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import numpy as np  # noqa: E402
import onnx  # noqa: E402

jax.config.update("jax_platforms", "cpu")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from lsmtrain import detector as det  # noqa: E402
from lsmtrain import gnn as gnnm  # noqa: E402
from lsmtrain import nets  # noqa: E402
from lsmtrain import policy as pol  # noqa: E402
from lsmtrain.onnxgraph import IR_VERSION, OPSET, golden_case, max_abs_diff, run_ort  # noqa: E402
from lsmtrain.optim import to_jax  # noqa: E402
from lsmtrain.traces import digest_files, load_traces, trace_files, windows  # noqa: E402

REPO = HERE.parent.parent
FEATURE_RS = REPO / "healer" / "src" / "features.rs"
CATALOG_RS = REPO / "healer" / "src" / "policy" / "catalog.rs"
GOLDEN_TOLERANCE = 1e-4


def feature_schema_version() -> int:
    import re

    m = re.search(r"pub const FEATURE_SCHEMA_VERSION: u32 = (\d+);", FEATURE_RS.read_text())
    if not m:
        raise SystemExit(f"cannot find FEATURE_SCHEMA_VERSION in {FEATURE_RS}")
    return int(m.group(1))


def log(msg: str) -> None:
    print(msg, flush=True)


def jsonable(x):
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, (np.floating, float)):
        v = float(x)
        return None if not np.isfinite(v) else float(f"{v:.6g}")
    if isinstance(x, (np.integer,)):
        return int(x)
    return x


def held_out_names(args) -> list[str]:
    if args.held_out:
        return sorted(args.held_out)
    split = HERE / "split.json"
    if split.exists():
        return sorted(json.loads(split.read_text()).get("held_out", []))
    raise SystemExit("no held-out workloads: write healer/train/split.json or pass --held-out")


def save_model(model: onnx.ModelProto, path: Path) -> bytes:
    data = model.SerializeToString(deterministic=True)
    path.write_bytes(data)
    return data


def tensor_spec(name: str, shape: list[int]) -> dict:
    return {"name": name, "dtype": "float32", "shape": shape}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--traces", type=Path, default=REPO / "target" / "traces")
    ap.add_argument("--out", type=Path, default=REPO / "healer" / "models")
    ap.add_argument("--results", type=Path, default=HERE / "results")
    ap.add_argument("--held-out", nargs="*", default=None)
    ap.add_argument("--digest-file", type=Path, default=None)
    ap.add_argument("--dev-tasks", type=int, default=2, help="training workloads kept for choosing thresholds")
    ap.add_argument("--policy-beta", type=float, default=None, help="weight of log pi_rules in the Q target's greedy action (training)")
    ap.add_argument("--allow-synthetic", action="store_true", help="tests only: accept synthetic traces")
    ap.add_argument("--quick", action="store_true", help="tests only: few training steps")
    args = ap.parse_args()

    timings: dict[str, float] = {}
    t_all = time.time()
    files = trace_files(args.traces)
    if not files:
        raise SystemExit(f"no *.trace.jsonl.gz under {args.traces} (run `make traces` first)")
    t = time.time()
    segs = load_traces(args.traces)
    timings["load_s"] = time.time() - t
    synthetic = [s.path for s in segs if s.header.get("synthetic")]
    if synthetic and not args.allow_synthetic:
        raise SystemExit(f"refusing synthetic traces (test data): {synthetic[:3]}")
    if args.digest_file and args.digest_file.exists():
        digest = args.digest_file.read_text().strip()
    else:
        digest = "sha256:" + digest_files(files)
    held = held_out_names(args)
    workloads = sorted({s.workload for s in segs})
    missing = [h for h in held if h not in workloads]
    if missing:
        raise SystemExit(f"held-out workloads {missing} not in the traces (workloads: {workloads})")
    train_segs = [s for s in segs if s.workload not in held]
    test_segs = [s for s in segs if s.workload in held]
    # Development tasks: training workloads kept out of the detector's and the GNN's training
    # and used to choose their decision thresholds (a threshold chosen on the data a model
    # was fitted to is over-confident). Deterministic: every 4th training workload from the 2nd.
    train_names = sorted({s.workload for s in train_segs})
    dev = train_names[1::4][: args.dev_tasks] if len(train_names) >= 4 else []
    fit_segs = [s for s in train_segs if s.workload not in dev]
    dev_segs = [s for s in train_segs if s.workload in dev] or fit_segs
    log(f"{len(files)} traces, {len(segs)} segments, {sum(s.ticks for s in segs)} ticks; "
        f"{len(workloads)} workloads, held out: {held}")

    dcfg = det.DetectorConfig()
    gcfg = gnnm.GnnConfig()
    pcfg = pol.PolicyConfig()
    if args.policy_beta is not None:
        pcfg.beta = args.policy_beta
    if args.quick:
        dcfg.steps, gcfg.steps, pcfg.steps, pcfg.bc_steps, pcfg.members = 30, 60, 60, 60, 2
    metrics: dict = {"data": {
        "traces": len(files), "segments": len(segs), "ticks": int(sum(s.ticks for s in segs)),
        "workloads": workloads, "held_out": held,
        "train_runs": len(train_segs), "test_runs": len(test_segs),
        "train_workloads": train_names, "dev_workloads": dev, "digest": digest,
        "fit_runs": len(fit_segs), "dev_runs": len([s for s in train_segs if s.workload in dev]),
        "scenarios": sorted({s.scenario for s in segs}),
    }}

    # ---------------- detector ----------------
    train_tasks = det.prepare(fit_segs, dcfg.window)
    dev_tasks = det.prepare(dev_segs, dcfg.window) if dev else train_tasks
    test_tasks = det.prepare(test_segs, dcfg.window)
    train_runs = [r for t in train_tasks for r in t.runs]
    dev_runs = [r for t in dev_tasks for r in t.runs]
    test_runs = [r for t in test_tasks for r in t.runs]
    log(f"detector: {len(train_tasks)} training tasks, {len(dev_tasks) if dev else 0} development tasks {dev}, "
        f"{len(test_tasks)} held-out tasks")
    t = time.time()
    p_meta, hist_meta = det.meta_train(train_tasks, dcfg, log)
    timings["detector_meta_train_s"] = time.time() - t
    t = time.time()
    p_pool, hist_pool = det.pooled_train(train_tasks, dcfg, log)
    timings["detector_pooled_train_s"] = time.time() - t
    t = time.time()
    lr_pool = det.pick_lr(p_pool, dev_runs, dcfg)
    lrs_pool = np.full(dcfg.inner_steps, lr_pool, np.float32)
    systems = {
        "maml": det.learned_score_fn(p_meta, dcfg),
        "no_meta": det.learned_score_fn(p_pool, dcfg, lrs_pool),
        "no_meta_maml_steps": det.learned_score_fn(p_pool, dcfg, np.exp(p_meta["log_lr"]).astype(np.float32)),
        "thresholds": det.baseline_score_fn(dcfg),
    }
    dmetrics = {}
    thresholds = {}
    for name, fn in systems.items():
        tl_train = det.eval_timelines(fn, train_runs, dcfg)
        tl_dev = det.eval_timelines(fn, dev_runs, dcfg)
        thr = det.pick_threshold(tl_dev, dcfg.grace_ticks)
        thresholds[name] = thr
        tl_test = det.eval_timelines(fn, test_runs, dcfg)
        dmetrics[name] = {
            "held_out": det.summarise(tl_test, thr, dcfg.grace_ticks),
            "train": det.summarise(tl_train, thr, dcfg.grace_ticks),
            "dev": det.summarise(tl_dev, thr, dcfg.grace_ticks),
            "held_out_by_fault": det.per_kind_breakdown(tl_test, thr, dcfg.grace_ticks),
        }
        h = dmetrics[name]["held_out"]
        log(f"  detector {name}: held-out event F1 {h['event_f1']:.3f} (P {h['event_precision']:.3f} "
            f"R {h['event_recall']:.3f}) PR-AUC {h['pr_auc']:.3f} point F1 {h['point_f1']:.3f} thr {thr:.3f}")
    # few-shot curve: K = 1, 3, 5, 10 support windows
    kcurve = {}
    for k in (1, 3, 5, 10):
        c = det.DetectorConfig(**{**dcfg.__dict__, "support_k": k})
        row = {}
        for name, p, lrs in (("maml", p_meta, None), ("no_meta", p_pool, lrs_pool)):
            tl = det.eval_timelines(det.learned_score_fn(p, c, lrs), test_runs, c)
            s = det.summarise(tl, thresholds[name], c.grace_ticks)
            row[name] = {"event_f1": s["event_f1"], "pr_auc": s["pr_auc"]}
        kcurve[str(k)] = row
    # adaptation ablation: meta-learned init without adaptation (0 steps)
    tl = det.eval_timelines(det.learned_score_fn(p_meta, dcfg, np.zeros(dcfg.inner_steps, np.float32)), test_runs, dcfg)
    no_adapt = det.summarise(tl, thresholds["maml"], dcfg.grace_ticks)
    timings["detector_eval_s"] = time.time() - t
    metrics["detector"] = {
        "config": dcfg.__dict__, "systems": dmetrics, "thresholds": thresholds, "no_meta_inner_lr": lr_pool,
        "inner_lrs": np.exp(p_meta["log_lr"]).tolist(), "k_curve": kcurve, "maml_without_adaptation": no_adapt,
        "final_query_loss": {"maml": float(np.mean(hist_meta[-100:])), "no_meta": float(np.mean(hist_pool[-100:]))},
    }

    # ---------------- cascade GNN ----------------
    t = time.time()

    def node_scores(rd) -> np.ndarray:
        seg = rd.seg
        out = np.zeros((seg.ticks, seg.nodes), np.float32)
        a = det.adapt_run(p_meta, rd, dcfg)
        if a is None:
            return out
        w, b, sup = a
        node, _ = det.run_scores(p_meta, rd, w, b, dcfg)
        node[: sup[-1] + 1] = 0.0  # silent until the first adaptation, as at run time
        return np.nan_to_num(node, nan=0.0)

    all_runs = {id(r.seg): r for r in train_runs + dev_runs + test_runs}
    det_prepared = {}
    for s in segs:
        if id(s) not in all_runs:
            # runs too short for the detector still give GNN/policy data (no node scores)
            det_prepared[id(s)] = np.zeros((s.ticks, s.nodes), np.float32)
        else:
            det_prepared[id(s)] = node_scores(all_runs[id(s)])
    g_train = [gnnm.prepare(s, det_prepared[id(s)], gcfg) for s in fit_segs]
    g_dev = [gnnm.prepare(s, det_prepared[id(s)], gcfg) for s in dev_segs] if dev else g_train
    g_test = [gnnm.prepare(s, det_prepared[id(s)], gcfg) for s in test_segs]
    timings["gnn_inputs_s"] = time.time() - t
    t = time.time()
    p_gnn = gnnm.train(g_train, gcfg, graph=True, log=log)
    timings["gnn_train_s"] = time.time() - t
    t = time.time()
    p_mlp = gnnm.train(g_train, gcfg, graph=False, log=log)
    timings["gnn_mlp_train_s"] = time.time() - t
    t = time.time()
    gm = {}
    gnn_thr = {}
    preds = {}
    for name, p in (("gnn", p_gnn), ("mlp", p_mlp)):
        tr = [gnnm.predict(p, r, gcfg) for r in g_train]
        dv = [gnnm.predict(p, r, gcfg) for r in g_dev] if dev else tr
        te = [gnnm.predict(p, r, gcfg) for r in g_test]
        preds[name] = (tr, te, dv)
        thr1 = gnnm.pick_threshold(dv, g_dev, gcfg, head=0, lead=1)
        thr5 = gnnm.pick_threshold(dv, g_dev, gcfg, head=1, lead=20)
        gnn_thr[name] = [thr1, thr5]
        res = gnnm.stall_eval(lambda r, h, te=te, thr=(thr1, thr5): gnnm._alarm(te, g_test, r, h, thr[h]), g_test, gcfg)
        gm[name] = {"stall": res, "pr_auc": gnnm.node_pr_auc(te, g_test), "thresholds": [thr1, thr5]}
        log(f"  {name}: 5 s head P {res['5s']['precision']:.3f} R(>=2 s) {res['5s']['recall_lead_ge_2s']:.3f}; "
            f"PR-AUC {gm[name]['pr_auc']}")
    # RocksDB trigger heuristic: ratio >= 1 now, and with a tuned ratio threshold
    for name, ratio_thr in (("rocksdb_triggers", 1.0), ("rocksdb_triggers_tuned", None)):
        if ratio_thr is None:
            best = (1.0, -1.0)
            for th in np.linspace(0.3, 1.0, 15):
                res = gnnm.stall_eval(lambda r, h, th=th: gnnm.heuristic_ratio(r.seg) >= th, g_train + (g_dev if dev else []), gcfg)["5s"]
                rec = res["recall_lead_ge_2s"]
                f1 = 0.0 if res["precision"] + rec == 0 or np.isnan(rec) else 2 * res["precision"] * rec / (res["precision"] + rec)
                if f1 > best[1]:
                    best = (float(th), f1)
            ratio_thr = best[0]
        res = gnnm.stall_eval(lambda r, h, th=ratio_thr: gnnm.heuristic_ratio(r.seg) >= th, g_test, gcfg)
        gm[name] = {"stall": res, "ratio_threshold": ratio_thr}
        log(f"  {name} (ratio >= {ratio_thr:.2f}): 5 s P {res['5s']['precision']:.3f} R(>=2 s) {res['5s']['recall_lead_ge_2s']:.3f}")
    timings["gnn_eval_s"] = time.time() - t
    metrics["gnn"] = {"config": {**gcfg.__dict__, "horizons_ticks": gcfg.horizons}, "systems": gm,
                      "held_out_episodes": gnnm.episodes_summary(g_test, gcfg),
                      "train_episodes": gnnm.episodes_summary(g_train, gcfg),
                      "dev_episodes": gnnm.episodes_summary(g_dev, gcfg) if dev else None}

    # ---------------- policy ----------------
    t = time.time()
    action_names, tunable_names = pol.catalog_names(CATALOG_RS)
    A, U = len(action_names), len(tunable_names)
    risks_train = preds["gnn"][0] + (preds["gnn"][2] if dev else [])
    widths = {s.tunable_vector.shape[1] for s in segs}
    if widths != {U}:
        raise SystemExit(f"traces' tunable_vector widths {widths} differ from catalog.rs TUNABLE_COUNT {U}")
    data = pol.build_transitions([r.seg for r in g_train] + ([r.seg for r in g_dev] if dev else []), risks_train, A)
    p_pol, pstats = pol.train(data, U, A, pcfg, log)
    timings["policy_train_s"] = time.time() - t
    logged = {}
    for d in data.values():
        for a, c in zip(*np.unique(d.action, return_counts=True)):
            logged[action_names[a]] = logged.get(action_names[a], 0) + int(c)
    margin = pol.deviation_margin(p_pol, data, A, pcfg)
    log(f"  policy deviation margin (RMS weighted TD residual / (1 - gamma)): {margin:.4f}")
    metrics["policy"] = {"config": pcfg.__dict__, "train": pstats, "logged_actions": logged,
                         "deviation_margin": margin,
                         "offline_departures": pol.deviation_summary(p_pol, data, A, action_names, margin),
                         "transitions": int(sum((d.nxt >= 0).sum() for d in data.values()))}

    # ---------------- export ----------------
    t = time.time()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    adapt_g, det_g = nets.detector_onnx(p_meta, dcfg.window)
    producer = "lsmedic healer/train/train_models.py"
    models = {
        "detector_adapt": adapt_g.model(producer, "OC-MAML/ANIL inner loop: gradient steps of the one-class loss on the support windows"),
        "detector": det_g.model(producer, "MAML-trained anomaly detector with an adapted head"),
        "cascade_gnn": nets.gnn_onnx(p_gnn, gcfg.window, gcfg.rounds).model(producer, "cascade GNN: per-node risk at 1 s and 5 s"),
        "policy": nets.policy_onnx(p_pol, U, A, pcfg.export_beta).model(producer, "preference-conditioned per-objective Q values"),
    }
    blobs = {name: save_model(m, out / f"{name}.onnx") for name, m in models.items()}
    # golden vectors from held-out data (real windows), checked in ORT against JAX
    golden_runs = [r for r in test_runs if det.eval_support(r, dcfg)][:2] or train_runs[:2]
    checks = {}
    goldens = {k: [] for k in models}
    H = int(p_meta["w2"].shape[1])
    pj = to_jax(p_meta)
    for gi, rd in enumerate(golden_runs):
        sup = det.eval_support(rd, dcfg)[: 5 if gi == 0 else 3]  # any K <= 10 works; small files
        support = windows(rd.seg.feats, np.asarray(sup), dcfg.window)
        w, b = (np.asarray(v) for v in nets.detector_adapt(pj, support))
        goldens["detector_adapt"].append((({"support": support}), {"head_w": w, "head_b": b}))
        faulty = np.flatnonzero(rd.seg.fault)
        tick = int(faulty[min(len(faulty) - 1, 20)]) if faulty.size else rd.seg.ticks - 1
        tick = max(tick, dcfg.window - 1)
        win = windows(rd.seg.feats, np.array([tick]), dcfg.window)
        l, big_l = nets.detector_logits(pj, win, w, b)
        goldens["detector"].append(({"window": win[0], "head_w": w, "head_b": b},
                                    {"node_score": np.asarray(jax.nn.sigmoid(l[0])), "score": np.asarray(jax.nn.sigmoid(big_l))}))
        ns = np.asarray(jax.nn.sigmoid(l[0]))
        lg = nets.gnn_logits(to_jax(p_gnn), win, ns[None], rd.seg.adj, gcfg.rounds)
        risk = np.asarray(jax.nn.sigmoid(lg[0]))
        goldens["cascade_gnn"].append(({"x": win[0], "node_score": ns, "adj": rd.seg.adj}, {"risk": risk}))
        wts = np.array([[1 / 3, 1 / 3, 1 / 3]] if gi == 0 else [[0.7, 0.2, 0.1]], np.float32)
        tun = rd.seg.tunable_vector[tick][None].astype(np.float32)
        q = nets.policy_members_q([to_jax(m) for m in p_pol], rd.seg.feats[tick][None], risk[None], tun, wts, A, pcfg.export_beta)
        goldens["policy"].append(({"x": rd.seg.feats[tick], "risk": risk, "tunables": tun, "weights": wts}, {"q": np.asarray(q)}))
    for name, cases in goldens.items():
        worst = 0.0
        for feeds, want in cases:
            got = run_ort(blobs[name], feeds)
            worst = max(worst, max_abs_diff(got, want))
        checks[name] = worst
        if worst > GOLDEN_TOLERANCE:
            raise SystemExit(f"{name}: ONNX Runtime differs from JAX by {worst}")
        gf = {"model": name, "tolerance": GOLDEN_TOLERANCE, "cases": [golden_case(f, o) for f, o in cases]}
        (out / f"{name}.golden.json").write_text(json.dumps(gf, indent=1) + "\n")
    log(f"ONNX Runtime vs JAX, worst abs diff: {checks}")
    init_state = {"head_w": {"shape": [H], "data": [float(v) for v in p_meta["head_w"]]},
                  "head_b": {"shape": [1], "data": [float(v) for v in p_meta["head_b"]]}}
    (out / "detector_initial_state.json").write_text(json.dumps(init_state, indent=1) + "\n")
    timings["export_s"] = time.time() - t
    timings["total_s"] = time.time() - t_all

    schema = feature_schema_version()
    manifest_path = out / "manifest.json"
    old = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"models": []}
    keep = [m for m in old.get("models", []) if m["name"] == "test_affine"]
    W = dcfg.window
    learned = [
        {"name": "detector_adapt", "file": "detector_adapt.onnx", "inputs": [tensor_spec("support", [-1, -1, W, 19])],
         "outputs": [tensor_spec("head_w", [H]), tensor_spec("head_b", [1])], "golden": "detector_adapt.golden.json",
         "description": f"OC-MAML/ANIL inner loop, second-order MAML: {dcfg.inner_steps} gradient steps of mean_k softplus(L_k) on the K support windows w.r.t. the head (w, b)"},
        {"name": "detector", "file": "detector.onnx",
         "inputs": [tensor_spec("window", [-1, W, 19]), tensor_spec("head_w", [H]), tensor_spec("head_b", [1])],
         "outputs": [tensor_spec("node_score", [-1]), tensor_spec("score", [1])], "golden": "detector.golden.json",
         "description": "anomaly detector: per-node sigmoid(E w + b), window score sigmoid(logsumexp_n - ln N)"},
        {"name": "cascade_gnn", "file": "cascade_gnn.onnx",
         "inputs": [tensor_spec("x", [-1, W, 19]), tensor_spec("node_score", [-1]), tensor_spec("adj", [-1, -1])],
         "outputs": [tensor_spec("risk", [-1, 2])], "golden": "cascade_gnn.golden.json",
         "description": f"message passing ({gcfg.rounds} rounds, in- and out-neighbour means) -> P(node fails within 1 s, 5 s)"},
        {"name": "policy", "file": "policy.onnx",
         "inputs": [tensor_spec("x", [-1, 19]), tensor_spec("risk", [-1, 2]), tensor_spec("tunables", [1, U]), tensor_spec("weights", [1, 3])],
         "outputs": [tensor_spec("q", [pcfg.members, A, 3])], "golden": "policy.golden.json",
         "description": f"ensemble of {pcfg.members} preference-conditioned offline multi-objective fitted Q networks (CQL penalty, bootstrap resamples; one row each) plus {pcfg.export_beta} x log pi_rules (behaviour-cloned rule policy) on every objective: q[a] = (latency, throughput, resources); the runtime follows the rule policy unless an action beats the rules' choice by more than policy.deviation_margin"},
    ]
    manifest = {
        "manifest_version": 1,
        "feature_schema_version": schema,
        "window_ticks": W,
        "detector": {"window_ticks": W, "state": ["head_w", "head_b"], "threshold": round(float(thresholds["maml"]), 6),
                     "support_windows": dcfg.support_k, "support_stride_ticks": dcfg.support_stride,
                     "initial_state": "detector_initial_state.json"},
        "policy": {"actions": action_names, "tunables": tunable_names, "deviation_margin": round(margin, 6)},
        "models": keep + learned,
        "provenance": jsonable({
            **old.get("provenance", {}),
            "generator": "healer/train/make_test_model.py (test_affine); healer/train/train_models.py (learned models)",
            "onnx": onnx.__version__, "opset": OPSET, "ir_version": IR_VERSION,
            "jax": jax.__version__, "numpy": np.__version__, "python": platform.python_version(),
            "training_data": {"digest": digest, "traces": len(files), "workloads": workloads, "held_out_workloads": held},
            "gnn": {"horizons_s": list(gnnm.HORIZONS_S), "thresholds": gnn_thr["gnn"]},
            "normalisation": "inputs are the healer's own z-scores (features.rs, running Welford per kind/slot, clip +-5); no extra constants",
            "metrics": {
                "detector_held_out": {k: {m: v["held_out"][m] for m in ("event_f1", "event_precision", "event_recall", "pr_auc")} for k, v in dmetrics.items()},
                "gnn_held_out_5s": {k: v["stall"]["5s"] for k, v in gm.items()},
            },
            "onnxruntime_check_max_abs_diff": checks,
        }),
    }
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    metrics["export"] = {"ort_vs_jax_max_abs_diff": checks, "files": sorted(f"{k}.onnx" for k in models)}
    metrics["timings_s"] = {k: round(v, 1) for k, v in timings.items()}
    metrics["environment"] = {"jax": jax.__version__, "numpy": np.__version__, "onnx": onnx.__version__,
                              "cpus": os.cpu_count(), "python": platform.python_version()}
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "metrics.json").write_text(json.dumps(jsonable(metrics), indent=1) + "\n")
    log(f"wrote {', '.join(sorted(blobs))} to {out}; metrics to {args.results / 'metrics.json'}; "
        f"total {timings['total_s']:.0f} s")


if __name__ == "__main__":
    main()
