"""Unit tests of the training pipeline on synthetic traces (tests/synth.py; never shipped).

Run: .venv/bin/python -m unittest discover -s healer/train/tests -t healer/train
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from lsmtrain import evalreport, metrics, traces  # noqa: E402
from tests import synth  # noqa: E402


class TraceLoaderTest(unittest.TestCase):
    def setUp(self) -> None:
        self.dir = Path(tempfile.mkdtemp())

    def tearDown(self) -> None:
        shutil.rmtree(self.dir)

    def test_reads_segments_windows_and_labels(self) -> None:
        path = synth.write_trace(self.dir / "a.trace.jsonl.gz", "wl", seed=1, ticks=120, fault_at=60, fault_len=30)
        (seg,) = traces.read_trace(path)
        self.assertEqual(seg.feats.shape, (120, 11, 19))
        self.assertEqual(seg.workload, "wl")
        self.assertEqual(seg.adj.shape, (11, 11))
        self.assertEqual(float(np.trace(seg.adj)), 0.0)
        self.assertTrue(seg.fault[60] and not seg.fault[59] and not seg.fault[90])
        w = traces.windows(seg.feats, np.array([9, 50]), 10)
        self.assertEqual(w.shape, (2, 11, 10, 19))
        np.testing.assert_array_equal(w[1, :, -1], seg.feats[50])
        np.testing.assert_array_equal(w[1, :, 0], seg.feats[41])

    def test_horizon_labels_look_only_at_the_future(self) -> None:
        state = np.zeros((20, 2), np.int8)
        state[10, 0] = 1
        y, valid = traces.horizon_labels(state, 3)
        self.assertEqual(list(np.flatnonzero(y[:, 0])), [7, 8, 9])
        self.assertFalse(y[10, 0])  # failing now, not within the next 3 ticks
        self.assertEqual(int(valid.sum()), 17)

    def test_support_windows_follow_the_runtime_rule(self) -> None:
        ok = np.ones(60, bool)
        ok[15] = False
        ends = traces.support_ends(ok, window=10, k=3, stride=5, start=0)
        self.assertEqual(ends, [9, 14, 25])  # 15 breaks the third window

    def test_rejects_old_format(self) -> None:
        import gzip

        p = self.dir / "old.trace.jsonl.gz"
        with gzip.open(p, "wt") as f:
            f.write(json.dumps({"type": "header", "format_version": 1}) + "\n")
        with self.assertRaises(traces.TraceError):
            traces.read_trace(p)

    def test_rewards_are_scale_free(self) -> None:
        path = synth.write_trace(self.dir / "b.trace.jsonl.gz", "wl", seed=2, ticks=300, fault_at=100, fault_len=120)
        (seg,) = traces.read_trace(path)
        r = traces.rewards(seg)
        self.assertEqual(r.shape, (300, 3))
        self.assertTrue(np.all(np.abs(r) <= 3.0))
        self.assertTrue(np.all(r[-1] == 0))


class MetricsTest(unittest.TestCase):
    def test_event_f1_without_point_adjustment(self) -> None:
        y = np.zeros(100, bool)
        y[20:30] = True
        y[60:70] = True
        a = np.zeros(100, bool)
        a[25] = True  # hits event 1
        a[45:47] = True  # false alarm
        a[72] = True  # inside grace of event 2: true alarm, but event 2 not detected
        c = metrics.event_counts(y, a, grace=5)
        s = c.summary()
        self.assertEqual((c.alarms, c.true_alarms, c.events, c.detected), (3, 2, 2, 1))
        self.assertAlmostEqual(s["event_precision"], 2 / 3)
        self.assertAlmostEqual(s["event_recall"], 0.5)
        self.assertEqual(c.tp, 1)

    def test_average_precision(self) -> None:
        self.assertAlmostEqual(metrics.average_precision([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1]), (1 + 2 / 3) / 2)
        self.assertAlmostEqual(metrics.average_precision([1, 1, 0], [0.9, 0.8, 0.1]), 1.0)

    def test_lead_counts(self) -> None:
        s = np.zeros(100, bool)
        s[50:60] = True
        a = np.zeros(100, bool)
        a[30:50] = True  # warned 20 ticks ahead, but the 5 s horizon is 50 ticks
        a[80:82] = True  # false alarm
        c = metrics.lead_counts(s, a, horizon=50, merge_gap=5, min_lead=0, first=9)
        self.assertEqual((c.alarm_runs, c.true_alarm_runs, c.episodes, c.leads), (2, 1, 1, [20]))
        c = metrics.lead_counts(s, a, horizon=10, merge_gap=5, min_lead=0, first=9)
        self.assertEqual(c.leads, [10])
        self.assertEqual(c.true_alarm_runs, 1)  # up until the onset: a correct early warning
        a2 = np.zeros(100, bool)
        a2[30:35] = True  # dropped 15 ticks before the onset: outside a 10-tick horizon
        c = metrics.lead_counts(s, a2, horizon=10, merge_gap=5, min_lead=0, first=9)
        self.assertEqual((c.true_alarm_runs, c.leads), (0, [0]))


class DeviationTest(unittest.TestCase):
    """The deployed rule: keep to the rules' choice unless beaten by more than the margin."""

    def test_departures_follow_the_margin(self) -> None:
        from lsmtrain import nets, policy
        from lsmtrain.optim import to_jax

        rng = np.random.default_rng(3)
        m, n, units, actions = 64, 3, 13, 15
        p = nets.policy_init(5, units, actions, 8, 16)
        p = {k: v * 4.0 for k, v in p.items()}  # spread the values apart
        d = policy.Transitions(
            x=rng.normal(size=(m, n, 19)).astype(np.float32), risk=rng.uniform(size=(m, n, 2)).astype(np.float32),
            tun=rng.normal(size=(m, units)).astype(np.float32), action=rng.integers(0, actions, m).astype(np.int32),
            reward=rng.normal(size=(m, 3)).astype(np.float32), nxt=np.where(np.arange(m) < m - 1, np.arange(m) + 1, -1),
            mask_next=np.ones((m, actions), bool), mask=np.ones((m, actions), bool),
            bc_target=rng.integers(0, actions, m).astype(np.int32), bc_valid=np.ones(m, bool))
        names = [f"a{i}" for i in range(actions)]
        never = policy.deviation_summary([p], {n: d}, actions, names, margin=1e9, allow_veto=True)
        always = policy.deviation_summary([p], {n: d}, actions, names, margin=-1e9, allow_veto=True)
        floor = policy.deviation_summary([p], {n: d}, actions, names, margin=-1e9, allow_veto=False)
        w = np.asarray(policy.PREFERENCES["balanced"], np.float32)
        q = np.asarray(nets.policy_values(to_jax(p), d.x, d.risk, d.tun, np.broadcast_to(w, (m, 3)), actions))
        s = np.einsum("baj,j->ba", q, w)
        best = s.argmax(axis=1)
        self.assertEqual(never["balanced"]["departures"], 0)
        # with any gain enough, it departs exactly where the best action is not the rules' choice
        self.assertEqual(always["balanced"]["departures"], int((best != d.bc_target).sum()))
        self.assertGreater(always["balanced"]["departures"], 0)
        self.assertEqual(always["balanced"]["vetoes"], int(((best != d.bc_target) & (best == 0)).sum()))
        # without vetoes noop never replaces a rule action
        self.assertEqual(floor["balanced"]["vetoes"], 0)
        s_floor = np.where((np.arange(actions)[None] == 0) & (d.bc_target[:, None] != 0), -np.inf, s)
        self.assertEqual(floor["balanced"]["departures"], int((s_floor.argmax(axis=1) != d.bc_target).sum()))
        margin = policy.deviation_margin([p], {n: d}, actions, policy.PolicyConfig())
        self.assertTrue(np.isfinite(margin) and margin > 0)


class PipelineTest(unittest.TestCase):
    """End to end on synthetic traces: trains (few steps), exports, checks ORT vs JAX."""

    def test_train_export_and_golden(self) -> None:
        tmp = Path(tempfile.mkdtemp())
        try:
            tr = tmp / "traces"
            tr.mkdir()
            for i, wl in enumerate(["w0", "w1", "w2", "w3"]):
                for s in range(2):
                    synth.write_trace(tr / f"{wl}.{s}.trace.jsonl.gz", wl, seed=10 * i + s, ticks=260,
                                      fault_at=120, fault_len=60, actions=15, units=13)
            out = tmp / "models"
            out.mkdir()
            shutil.copy(HERE.parent.parent / "models" / "manifest.json", out / "manifest.json")
            r = subprocess.run([sys.executable, str(HERE.parent / "train_models.py"), "--traces", str(tr), "--out", str(out),
                                "--results", str(tmp / "res"), "--held-out", "w3", "--allow-synthetic", "--quick"],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr[-3000:])
            manifest = json.loads((out / "manifest.json").read_text())
            names = [m["name"] for m in manifest["models"]]
            self.assertEqual(names, ["test_affine", "detector_adapt", "detector", "cascade_gnn", "policy"])
            self.assertEqual(manifest["detector"]["state"], ["head_w", "head_b"])
            self.assertEqual(len(manifest["policy"]["actions"]), 15)
            self.assertGreater(manifest["policy"]["deviation_margin"], 0.0)
            for name in names[1:]:
                self.assertTrue((out / f"{name}.onnx").exists())
                g = json.loads((out / f"{name}.golden.json").read_text())
                self.assertGreater(len(g["cases"]), 0)
            m = json.loads((tmp / "res" / "metrics.json").read_text())
            self.assertIn("maml", m["detector"]["systems"])
            self.assertEqual(set(m["policy"]["offline_departures"]), {"balanced", "latency", "throughput", "resources"})
            # synthetic traces are refused without the test flag
            r = subprocess.run([sys.executable, str(HERE.parent / "train_models.py"), "--traces", str(tr), "--out", str(out),
                                "--results", str(tmp / "res"), "--held-out", "w3", "--quick"], capture_output=True, text=True)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("synthetic", r.stderr)
        finally:
            shutil.rmtree(tmp)


if __name__ == "__main__":
    unittest.main()


def _eval_report() -> dict:
    """A two-scenario report in the shape `lsmedic-bench compare --repeat` writes."""

    def diff(value, ci):
        return {"value": value, "ci95": ci, "n": 3}

    def figures(p99):
        return {"worst_p99_us": {"median": p99, "ci95": [p99 * 0.9, p99 * 1.1], "n": 3},
                "throughput_ops_per_s": {"median": 1000.0, "ci95": None, "n": 1}}

    def runs(lost):
        out = []
        for seed in (1, 2, 3):
            out.append({"healer": "off", "seed": seed, "keys_lost": lost, "wrong_values": 0, "actions": None,
                        "timeline": {"t_s": [0.0]}})
            out.append({"healer": "rules", "seed": seed, "keys_lost": 0, "wrong_values": 0,
                        "actions": [{"what": "act"}, {"what": "detect"}, {"what": "act"}], "timeline": {"t_s": [0.0]}})
            out.append({"healer": "learned", "seed": seed, "keys_lost": 0, "wrong_values": 0,
                        "actions": [{"what": "act"}], "learned_departures": {"replaced": 0, "vetoed": 0}})
        return out

    pairs = [{"healer": "rules", "reference": "off", "per_seed": [0.1, 0.2, 0.3], "difference": diff(0.2, [0.05, 0.35])},
             {"healer": "learned", "reference": "off", "per_seed": [0.0, 0.1, -0.1], "difference": diff(0.0, [-0.2, 0.2])},
             {"healer": "learned", "reference": "rules", "per_seed": [-0.1, -0.1, -0.4],
              "difference": diff(-0.2, [-0.5, -0.01])}]
    scenario = {"description": "", "seed": 1, "seeds": [1, 2, 3], "skipped": [],
                "summary": {"off": {"runs": 3, "figures": figures(2000.0)},
                            "rules": {"runs": 3, "figures": figures(500.0)},
                            "learned": {"runs": 3, "figures": figures(900.0)}},
                "paired": pairs}
    agg = [{"healer": p["healer"], "reference": p["reference"], "scenarios": 2, "difference": p["difference"]} for p in pairs]
    return {"tool": "lsmedic-bench", "format_version": 2, "time_scale": 0.2, "paired": agg,
            "paired_by_family": {"config": agg, "latent": agg},
            "scenarios": [{**scenario, "name": "a", "family": "config", "runs": runs(0)},
                          {**scenario, "name": "b", "family": "latent", "runs": runs(5)}]}


class EvalReportTest(unittest.TestCase):
    def test_section_states_verdicts_from_the_intervals_and_figures_per_mode(self) -> None:
        text = "\n".join(evalreport.section(_eval_report(), "eval.json"))
        self.assertIn("| S(rules) − S(off) | +0.200 [+0.050, +0.350] **better**", text)
        self.assertIn("| S(learned) − S(off) | +0.000 [-0.200, +0.200] no clear difference", text)
        self.assertIn("S(learned) − S(rules) | -0.200 [-0.500, -0.010] **worse**", text)
        self.assertIn("config family (1)", text)
        self.assertIn("| a | config | 3 |", text)
        # µs shown in ms with the bootstrap interval; a figure without an interval shows its median.
        self.assertIn("| a | rules | 0.50 [0.45, 0.55] | 1000 |", text)
        # keys lost are summed over the seeds; actions applied are a median per run.
        self.assertIn("| b | off | 2.00 [1.80, 2.20] | 1000 | - | - | 15 / 0 | - |", text)
        self.assertIn("| b | rules | 0.50 [0.45, 0.55] | 1000 | - | - | 0 / 0 | 2 |", text)
        self.assertNotIn("auto", text.split("### Headline")[1])

    def test_slim_copy_gives_the_same_section_and_drops_the_timelines(self) -> None:
        full = _eval_report()
        small = evalreport.slim(full)
        self.assertEqual(evalreport.section(full, "x"), evalreport.section(small, "x"))
        self.assertNotIn("timeline", json.dumps(small))
        self.assertEqual(small["scenarios"][0]["runs"][1]["actions_applied"], 2)

    def test_facts_collect_the_pairs_and_the_departures(self) -> None:
        fx = evalreport.facts(_eval_report())
        self.assertEqual(fx["overall"][("learned", "rules")]["value"], -0.2)
        self.assertEqual(set(fx["by_family"]), {"config", "latent"})
        self.assertEqual(fx["per_scenario"][("rules", "off")]["b"]["value"], 0.2)
        self.assertEqual(fx["departures"], {"runs": 6, "replaced": 0, "vetoed": 0})
        self.assertEqual(evalreport.verdict({"value": 1.0, "ci95": None, "n": 1}), "no interval")

