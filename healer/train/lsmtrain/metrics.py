"""Evaluation metrics, defined once and used for every model and baseline.

Detector (per trace timeline of 100 ms ticks, no point adjustment):
- *true events*: maximal runs of ticks with an injected fault active (`faults` non-empty);
- *alarms*: maximal runs of ticks whose score is above the threshold;
- an alarm is a *true alarm* when it overlaps some true event extended by `grace` ticks
  after its end (effects outlive the injection: a drained backlog, a refilled cache);
- event precision = true alarms / alarms; event recall = true events overlapped by at least
  one alarm (inside the event itself, not its grace) / true events; event F1 from those.
  Nothing is "adjusted": a true event hit by one alarm tick counts once, as does every
  false alarm however short, and the point-wise figures are reported beside it.
- PR-AUC = average precision of the per-tick scores against the per-tick labels.

Stall prediction (GNN and baselines), per trace, on one node's series:
- *stall episodes*: maximal runs of node_state = 1 (gaps of at most `merge_gap` ticks merged);
- alarms are counted only on ticks where the node is not failing (a prediction made during a
  stall predicts nothing); an alarm run over ticks a..e-1 is *true* when a stall onset lies in
  (a, e-1 + horizon]: the stall came while the warning was up or within the horizon after its
  last tick (a run kept up until the stall starts is a correct early warning);
- the *lead* of an episode with onset t0 is t0 - a for the earliest alarmed tick a in
  [t0 - horizon, t0 - 1] (0 when none is alarmed): how long before the stall the warning for
  it was up;
- recall at lead L = episodes with lead >= L / episodes (episodes whose onset is less than L
  after the trace's first evaluable tick are excluded); precision = true alarm runs / alarm runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .traces import onsets


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the precision-recall curve as average precision (step interpolation, as
    scikit-learn's `average_precision_score`). NaN without positives."""
    y = np.asarray(labels).astype(bool).reshape(-1)
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if y.sum() == 0:
        return float("nan")
    order = np.argsort(-s, kind="mergesort")
    s = s[order]
    y = y[order]
    # distinct thresholds: last index of each run of equal scores
    distinct = np.where(np.diff(s))[0]
    idx = np.r_[distinct, y.size - 1]
    tps = np.cumsum(y)[idx]
    fps = (idx + 1) - tps
    precision = tps / (tps + fps)
    recall = tps / y.sum()
    recall_prev = np.r_[0.0, recall[:-1]]
    return float(np.sum((recall - recall_prev) * precision))


@dataclass
class EventCounts:
    """Counts behind event-level precision/recall (summed over traces)."""

    alarms: int = 0
    true_alarms: int = 0
    events: int = 0
    detected: int = 0
    tp: int = 0  # point-wise
    fp: int = 0
    fn: int = 0
    delays: list | None = None  # detection delay (ticks) of each detected event

    def add(self, other: "EventCounts") -> None:
        self.alarms += other.alarms
        self.true_alarms += other.true_alarms
        self.events += other.events
        self.detected += other.detected
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        self.delays = (self.delays or []) + (other.delays or [])

    @staticmethod
    def _f1(p: float, r: float) -> float:
        return 0.0 if p + r == 0 else 2 * p * r / (p + r)

    def summary(self) -> dict:
        ep = self.true_alarms / self.alarms if self.alarms else 0.0
        er = self.detected / self.events if self.events else float("nan")
        pp = self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0
        pr = self.tp / (self.tp + self.fn) if self.tp + self.fn else float("nan")
        delays = self.delays or []
        return {
            "event_precision": ep,
            "event_recall": er,
            "event_f1": self._f1(ep, er),
            "point_precision": pp,
            "point_recall": pr,
            "point_f1": self._f1(pp, pr),
            "alarms": self.alarms,
            "true_alarms": self.true_alarms,
            "events": self.events,
            "detected": self.detected,
            "median_delay_ticks": float(np.median(delays)) if delays else float("nan"),
        }


def event_counts(labels: np.ndarray, alarm: np.ndarray, grace: int) -> EventCounts:
    """Event and point counts of one timeline (see the module docs)."""
    y = np.asarray(labels).astype(bool)
    a = np.asarray(alarm).astype(bool)
    events = onsets(y)
    alarms = onsets(a)
    covered = np.zeros_like(y)
    for s, e in events:
        covered[s : min(e + grace, y.size)] = True
    true_alarms = sum(1 for s, e in alarms if covered[s:e].any())
    detected = 0
    delays = []
    for s, e in events:
        hit = np.flatnonzero(a[s:e])
        if hit.size:
            detected += 1
            delays.append(int(hit[0]))
    return EventCounts(
        alarms=len(alarms),
        true_alarms=true_alarms,
        events=len(events),
        detected=detected,
        tp=int((a & y).sum()),
        fp=int((a & ~y).sum()),
        fn=int((~a & y).sum()),
        delays=delays,
    )


@dataclass
class LeadCounts:
    """Counts behind stall-prediction precision/recall at a lead (summed over traces)."""

    alarm_runs: int = 0
    true_alarm_runs: int = 0
    episodes: int = 0
    leads: list | None = None

    def add(self, other: "LeadCounts") -> None:
        self.alarm_runs += other.alarm_runs
        self.true_alarm_runs += other.true_alarm_runs
        self.episodes += other.episodes
        self.leads = (self.leads or []) + (other.leads or [])

    def summary(self, leads_ticks: dict[str, int]) -> dict:
        p = self.true_alarm_runs / self.alarm_runs if self.alarm_runs else 0.0
        out = {"precision": p, "alarm_runs": self.alarm_runs, "episodes": self.episodes}
        leads = np.asarray(self.leads or [], dtype=np.int64)
        for name, lt in leads_ticks.items():
            out[f"recall_{name}"] = float((leads >= lt).mean()) if leads.size else float("nan")
        out["median_lead_ticks"] = float(np.median(leads)) if leads.size else float("nan")
        return out


def lead_counts(state: np.ndarray, alarm: np.ndarray, horizon: int, merge_gap: int,
                min_lead: int, first: int = 0) -> LeadCounts:
    """Counts of one node's timeline (see the module docs). `first` = first evaluable tick
    (before it there is no full input window); episodes whose onset is earlier than
    `first + min_lead` cannot be predicted that early and are left out."""
    s = np.asarray(state).astype(bool)
    a = np.asarray(alarm).astype(bool) & ~s
    a[:first] = False
    eps = [(b, e) for b, e in onsets(s, merge_gap) if b >= first + min_lead]
    onset_ticks = np.array([b for b, _ in onsets(s, merge_gap)], dtype=np.int64)
    runs = onsets(a)
    true_runs = 0
    for b, e in runs:
        if onset_ticks.size and np.any((onset_ticks > b) & (onset_ticks <= e - 1 + horizon)):
            true_runs += 1
    leads = []
    for t0, _ in eps:
        hit = np.flatnonzero(a[max(0, t0 - horizon) : t0])
        leads.append(int(t0 - (max(0, t0 - horizon) + hit[0])) if hit.size else 0)
    return LeadCounts(alarm_runs=len(runs), true_alarm_runs=true_runs, episodes=len(eps), leads=leads)


def best_threshold(scores_labels: list[tuple[np.ndarray, np.ndarray]], grace: int,
                   candidates: np.ndarray | None = None, min_run: int = 1) -> tuple[float, float]:
    """The threshold maximising pooled event F1 over timelines `(scores, labels)`; returns
    `(threshold, f1)`. Used on training data only."""
    if not scores_labels:
        return 0.5, float("nan")
    all_scores = np.concatenate([s for s, _ in scores_labels])
    if candidates is None:
        candidates = np.unique(np.quantile(all_scores, np.linspace(0.5, 0.999, 120)))
    best = (float(candidates[0]), -1.0)
    for thr in candidates:
        total = EventCounts()
        for s, y in scores_labels:
            total.add(event_counts(y, debounce(s > thr, min_run), grace))
        f1 = total.summary()["event_f1"]
        if f1 > best[1]:
            best = (float(thr), float(f1))
    return best


def debounce(alarm: np.ndarray, min_run: int) -> np.ndarray:
    """Keeps only alarm ticks that end a run of at least `min_run` consecutive alarm ticks
    (what an online detector can do: it needs `min_run` ticks in a row before it raises)."""
    a = np.asarray(alarm).astype(bool)
    if min_run <= 1:
        return a
    out = np.zeros_like(a)
    run = 0
    for i, v in enumerate(a):
        run = run + 1 if v else 0
        out[i] = run >= min_run
    return out
