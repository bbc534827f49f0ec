"""Recovery policy: offline multi-objective RL on logged transitions of the real engine.

Data: every tick of every recorded run (healer off, rules, rules with exploration) is a
transition `(s_t, a_t, r_t, s_{t+1})`: state = features of tick t, the cascade GNN's risks at t
(the trained GNN run over the trace), the tunable vector in force; action = the catalog
index the healer *applied* at t (0 = noop when nothing was applied); reward = per-objective
vector over the ticks until the next decision (`decision_rewards`, from `traces.rewards`:
-ln latency ratio, ln throughput ratio, -extra resource units); the next state is the next
decision tick (the healer decides every `decision_interval_ticks`).

Algorithm: (1) behaviour cloning of the rule policy's decisions on the rules runs (the action
it chose each tick, nothing = noop, actions weighted 3x; exploration ticks left out), from
features and risks: pi_rules(a | s); (2)
preference-conditioned fitted Q iteration with a conservative (CQL) penalty, in
the spirit of envelope / conditioned multi-objective Q-learning: Q(s, a, w) is a 3-vector;
for each sample a preference w is drawn from the uniform simplex (Dirichlet(1,1,1)); the
target is `r + gamma * Q_target(s', a*, w)` with `a* = argmax_a w . Q_target(s', a, w)` over
the next state's unmasked actions; the conservative term `alpha * (logsumexp_a w.Q(s,a,w) -
w.Q(s,a_t,w))` keeps the greedy policy on actions the data supports (offline RL: the data
cannot tell what an action never tried in a state would do). The target network is a
Polyak average. The Q target's next action is the KL-regularised improvement of the rule
policy, `a* = argmax_a w . Q_target(s', a, w) + beta * log pi_rules(a | s')` (the deployed policy
keeps to the rules unless the values say otherwise; the clone stands in for the rules here,
since the data cannot replay them). Judged only on the real engine (`lsmedic-bench compare`,
REPORT.md). The exported scores are `q = Q + export_beta * log pi_rules` on every objective.

Deployment (safe policy improvement over the rules, in the spirit of SPIBB, Laroche et al. 2019:
where the data cannot vouch for something better, do what the baseline does): the runtime has
the rule policy itself, so it uses the rules' actual choice `r` (not its clone) as the default
and the exported values `q = Q` (`export_beta` = 0) of an ensemble of `members` Q networks,
each fitted on its own bootstrap resample of the transitions, to decide whether to depart from
it. It departs (acts otherwise) only when the best action by the members' mean beats `r` in
*every* member by more than the *deviation margin* `delta = RMS of the weighted one-step TD
residual` of the trained values over every transition, divided by `1 - gamma` (the error bound
a Bellman residual gives; `deviation_margin`): a departure must be worth more than the values'
possible error, and the data must agree on it (members disagree where it is thin). A rule
action is never dropped for `noop` unless the runtime's `learned.allow_veto` is set (off by default: the values rate acting below waiting in the
states where the rules act, a bias of logged data in which actions come as things get worse).
`delta` goes into the manifest
(`policy.deviation_margin`); `policy.onnx` outputs `q: [members, A, 3]`.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from . import nets
from .optim import adam_init, adam_step, to_jax, to_numpy
from .traces import Segment, rewards


@dataclass
class PolicyConfig:
    hidden_node: int = 32
    hidden: int = 96
    gamma: float = 0.9  # per decision (the healer decides every decision_interval_ticks)
    cql_alpha: float = 0.3
    beta: float = 1.0  # weight of log pi_rules in the Q target's greedy action (training)
    export_beta: float = 0.0  # weight of log pi_rules in the exported scores (0: the runtime has the rules)
    members: int = 5  # Q networks, each fitted on its own bootstrap resample of the transitions
    bc_steps: int = 2000
    weight_decay: float = 1e-4
    steps: int = 4000
    batch: int = 128
    lr: float = 1e-3
    tau: float = 0.01
    seed: int = 23


def catalog_names(catalog_rs: Path) -> tuple[list[str], list[str]]:
    """`(action names, tunable names)` from healer/src/policy/catalog.rs (the Rust source of
    truth: the runtime refuses a manifest whose lists differ)."""
    text = catalog_rs.read_text()

    def const_list(name: str) -> list[str]:
        m = re.search(rf"\b{name}\s*:\s*\[&(?:'static\s+)?str;[^\]]*\]\s*=\s*\[(.*?)\];", text, re.S)
        if not m:
            raise ValueError(f"{catalog_rs}: cannot find const {name}")
        return re.findall(r'"([^"]+)"', m.group(1))

    actions = const_list("NAMES")
    tunables = const_list("TUNABLE_NAMES")
    return actions, tunables


@dataclass
class Transitions:
    """Transitions of one node count N."""

    x: np.ndarray  # [M, N, 19]
    risk: np.ndarray  # [M, N, 2]
    tun: np.ndarray  # [M, U]
    action: np.ndarray  # [M]
    reward: np.ndarray  # [M, 3]
    nxt: np.ndarray  # [M] index of the next state in the same arrays
    mask_next: np.ndarray  # [M, A]
    mask: np.ndarray  # [M, A]
    bc_target: np.ndarray  # [M] what the rule policy chose (0 = nothing)
    bc_valid: np.ndarray  # [M] a rule-policy decision (rules run, not an exploration tick)


def decision_rewards(seg: Segment, step: int) -> np.ndarray:
    """`[Tk, 3]`: mean per-objective reward over the `step` ticks after t (the transition from
    a decision at t to the next decision at t + step); 0 where the run ends first."""
    r = rewards(seg)  # r[t] = reward of tick t+1
    c = np.concatenate([np.zeros((1, 3)), np.cumsum(r, axis=0)])
    t = np.arange(seg.ticks)
    hi = np.minimum(t + step, seg.ticks - 1)
    out = (c[hi] - c[t]) / np.maximum(hi - t, 1)[:, None]
    return out.astype(np.float32)


def build_transitions(segs: list[Segment], risks: list[np.ndarray], actions: int) -> dict[int, Transitions]:
    """Transitions from every tick t to t + D, D = the run's decision interval (the header's
    `decision_interval_ticks`): the healer decides every D ticks, so an action's consequence is
    the next D ticks and the next decision state is t + D."""
    groups: dict[int, list] = {}
    for seg, risk in zip(segs, risks):
        step = int(seg.header.get("decision_interval_ticks", 1) or 1)
        if seg.ticks < step + 2:
            continue
        r = decision_rewards(seg, step)
        m = seg.mask if seg.mask is not None and seg.mask.shape[1] == actions else np.ones((seg.ticks, actions), bool)
        m = m.copy()
        m[:, 0] = True
        a = np.clip(seg.action, 0, actions - 1)
        m[np.arange(seg.ticks), a] = True  # what was applied was possible
        rules_run = seg.healer == "rules"
        explored = seg.explored if seg.explored is not None else np.zeros(seg.ticks, bool)
        bc_t = np.where(seg.proposed >= 0, seg.proposed, 0).clip(0, actions - 1)  # the rules' choice
        bc_v = np.full(seg.ticks, rules_run) & ~explored
        groups.setdefault(seg.nodes, []).append((seg, np.nan_to_num(risk, nan=0.0), r, m, a, step, bc_t, bc_v))
    out = {}
    for n, items in groups.items():
        xs, rs, ts, acts, rews, nxts, masks, mnext, bts, bvs = [], [], [], [], [], [], [], [], [], []
        offset = 0
        for seg, risk, r, m, a, step, bc_t, bc_v in items:
            bts.append(bc_t)
            bvs.append(bc_v)
            k = seg.ticks
            xs.append(seg.feats)
            rs.append(risk)
            ts.append(seg.tunable_vector)
            acts.append(a)
            rews.append(r)
            local = np.arange(k) + step
            nxt = np.where(local < k, local + offset, -1)
            nxts.append(nxt)
            masks.append(m)
            mnext.append(m[np.minimum(local, k - 1)])
            offset += k
        nxt = np.concatenate(nxts)
        out[n] = Transitions(
            x=np.concatenate(xs), risk=np.concatenate(rs).astype(np.float32), tun=np.concatenate(ts),
            action=np.concatenate(acts), reward=np.concatenate(rews), nxt=nxt,
            mask_next=np.concatenate(mnext), mask=np.concatenate(masks),
            bc_target=np.concatenate(bts).astype(np.int32), bc_valid=np.concatenate(bvs))
    return out


def _q_loss(p, pt, pbc, x, risk, tun, w, a, r, x2, risk2, tun2, m2, m, gamma, alpha, actions, beta):
    q = nets.policy_values(p, x, risk, tun, w, actions)  # [B, A, 3]
    q2 = jax.lax.stop_gradient(nets.policy_values(pt, x2, risk2, tun2, w, actions))
    s2 = jnp.einsum("baj,bj->ba", q2, w)
    if beta:
        s2 = s2 + beta * jax.lax.stop_gradient(jax.nn.log_softmax(nets.policy_bc_logits(pbc, x2, risk2, tun2), axis=-1))
    s2 = jnp.where(m2, s2, -1e9)
    a2 = jnp.argmax(s2, axis=1)
    y = r + gamma * jnp.take_along_axis(q2, a2[:, None, None], axis=1)[:, 0, :]
    qa = jnp.take_along_axis(q, a[:, None, None], axis=1)[:, 0, :]
    td = jnp.mean(jnp.sum((qa - y) ** 2, axis=1))
    s = jnp.einsum("baj,bj->ba", q, w)
    s = jnp.where(m, s, -1e9)
    cql = jnp.mean(jax.scipy.special.logsumexp(s, axis=1) - jnp.take_along_axis(s, a[:, None], axis=1)[:, 0])
    return td + alpha * cql, (td, cql)


def _bc_loss(p, x, risk, tun, target):
    logp = jax.nn.log_softmax(nets.policy_bc_logits(p, x, risk, tun), axis=-1)
    weight = jnp.where(target == 0, 1.0, BC_ACTION_WEIGHT)
    return -jnp.sum(weight * jnp.take_along_axis(logp, target[:, None], axis=1)[:, 0]) / jnp.sum(weight)


# Decisions where the rules acted count this many times a "nothing" tick in the imitation loss:
# rule actions are rare and are what matters.
BC_ACTION_WEIGHT = 3.0


def train_bc(data: dict[int, Transitions], units: int, actions: int, cfg: PolicyConfig, log=print) -> tuple[dict, dict]:
    """Behaviour cloning of the rule policy's decisions (cross-entropy, rules runs only)."""
    rng = np.random.default_rng(cfg.seed + 1)
    full = nets.policy_init(cfg.seed, units, actions, cfg.hidden_node, cfg.hidden)
    p = to_jax({k: v for k, v in full.items() if k.startswith("bc_")})
    opt = adam_init(p)
    grad = jax.jit(jax.value_and_grad(_bc_loss))
    keys = [k for k in sorted(data) if data[k].bc_valid.any()]
    if not keys:
        raise ValueError("no rule-policy decisions in the training traces (need --healer rules runs)")
    sizes = np.array([int(data[k].bc_valid.sum()) for k in keys], np.float64)
    hist = []
    t0 = time.time()
    for step in range(cfg.bc_steps):
        d = data[keys[rng.choice(len(keys), p=sizes / sizes.sum())]]
        idx = rng.choice(np.flatnonzero(d.bc_valid), cfg.batch)
        loss, g = grad(p, d.x[idx], d.risk[idx], d.tun[idx], d.bc_target[idx])
        g = {k: v + (cfg.weight_decay * p[k] if "_w" in k else 0.0) for k, v in g.items()}
        p, opt = adam_step(p, g, opt, cfg.lr)
        hist.append(float(loss))
        if step % 500 == 0 or step == cfg.bc_steps - 1:
            log(f"  policy bc step {step}: cross-entropy {np.mean(hist[-200:]):.4f} ({time.time() - t0:.0f} s)")
    # accuracy on the rules decisions where the rules acted
    pn = to_numpy(p)
    acted = correct = 0
    for d in data.values():
        idx = np.flatnonzero(d.bc_valid & (d.bc_target != 0))
        if idx.size:
            lg = np.asarray(_bc(to_jax(pn), d.x[idx], d.risk[idx], d.tun[idx]))
            correct += int((lg.argmax(axis=1) == d.bc_target[idx]).sum())
            acted += idx.size
    return pn, {"bc_cross_entropy": float(np.mean(hist[-200:])), "bc_top1_on_rule_actions": correct / max(1, acted),
                "rule_actions": acted}


_bc = jax.jit(nets.policy_bc_logits)


def train(data: dict[int, Transitions], units: int, actions: int, cfg: PolicyConfig, log=print) -> tuple[list[dict], dict]:
    """Behaviour cloning, then `cfg.members` preference-conditioned conservative fitted Q
    networks, each on its own bootstrap resample of the transitions (their disagreement is
    the values' uncertainty); returns the members' parameters, each merged with the behaviour
    model (`w*`/`b*` = Q, `bc_*` = behaviour model), and training statistics."""
    pbc, bc_stats = train_bc(data, units, actions, cfg, log)
    members, td, cql = [], [], []
    for k in range(cfg.members):
        p, (t, c) = _train_q(data, units, actions, cfg, pbc, k, log)
        members.append({**p, **pbc})
        td.append(t)
        cql.append(c)
    return members, {"td_loss": float(np.mean(td)), "cql_gap": float(np.mean(cql)), "members": cfg.members,
                     "td_loss_members": td, **bc_stats}


def _train_q(data: dict[int, Transitions], units: int, actions: int, cfg: PolicyConfig, pbc: dict, member: int,
             log=print) -> tuple[dict, tuple[float, float]]:
    """One Q member: its own initialisation and sampling seed, and (with more than one member)
    its own bootstrap resample of every group's transitions."""
    seed = cfg.seed + 101 * member
    rng = np.random.default_rng(seed)
    full = nets.policy_init(seed, units, actions, cfg.hidden_node, cfg.hidden)
    p = to_jax({k: v for k, v in full.items() if not k.startswith("bc_")})
    pt = p
    pbcj = to_jax(pbc)
    opt = adam_init(p)
    grad = jax.jit(jax.value_and_grad(_q_loss, has_aux=True), static_argnums=(14, 15, 16, 17))
    polyak = jax.jit(lambda pt, p: jax.tree_util.tree_map(lambda a, b: (1 - cfg.tau) * a + cfg.tau * b, pt, p))
    keys = sorted(data)
    pools = {}
    for k in keys:
        valid = np.flatnonzero(data[k].nxt >= 0)
        if cfg.members > 1:
            valid = rng.choice(valid, valid.size, replace=True)
        pools[k] = (valid, valid[data[k].action[valid] != 0])
    sizes = np.array([pools[k][0].size for k in keys], np.float64)
    probs = sizes / sizes.sum()
    hist = []
    t0 = time.time()
    for step in range(cfg.steps):
        key = keys[rng.choice(len(keys), p=probs)]
        d = data[key]
        valid, acted = pools[key]
        # over-sample transitions where something was applied (rare but informative)
        n_act = min(len(acted), cfg.batch // 4)
        idx = np.concatenate([rng.choice(valid, cfg.batch - n_act), rng.choice(acted, n_act) if n_act else np.zeros(0, np.int64)]).astype(np.int64)
        j = d.nxt[idx]
        w = rng.dirichlet(np.ones(3), size=idx.size).astype(np.float32)
        (loss, (td, cql)), g = grad(p, pt, pbcj, d.x[idx], d.risk[idx], d.tun[idx], w, d.action[idx], d.reward[idx],
                                    d.x[j], d.risk[j], d.tun[j], d.mask_next[idx], d.mask[idx],
                                    cfg.gamma, cfg.cql_alpha, actions, cfg.beta)
        p, opt = adam_step(p, g, opt, cfg.lr)
        pt = polyak(pt, p)
        hist.append((float(td), float(cql)))
        if step % 1000 == 0 or step == cfg.steps - 1:
            h = np.mean(hist[-200:], axis=0)
            log(f"  policy q member {member} step {step}: td {h[0]:.4f} cql {h[1]:.4f} ({time.time() - t0:.0f} s)")
    h = np.mean(hist[-200:], axis=0)
    return to_numpy(p), (float(h[0]), float(h[1]))


_values = jax.jit(nets.policy_values, static_argnums=(5,))
_bc_logp = jax.jit(lambda p, x, r, t: jax.nn.log_softmax(nets.policy_bc_logits(p, x, r, t), axis=-1))


def _padded(f, idx: np.ndarray, batch: int):
    """Runs `f(full_idx)` on `idx` padded to `batch` rows (one compiled shape) and cuts the pad."""
    full = np.concatenate([idx, np.full(batch - idx.size, idx[0], idx.dtype)]) if idx.size < batch else idx
    return np.asarray(f(full))[: idx.size]


PREFERENCES = {"balanced": [1 / 3, 1 / 3, 1 / 3], "latency": [0.8, 0.1, 0.1], "throughput": [0.1, 0.8, 0.1],
               "resources": [0.1, 0.1, 0.8]}


def deviation_margin(members: list[dict], data: dict[int, Transitions], actions: int, cfg: PolicyConfig,
                     batch: int = 1024) -> float:
    """The deviation margin `eps / (1 - gamma)`, `eps` = the RMS over every transition and
    member (a preference drawn per transition, seeded) of the weighted one-step TD residual
    `w . (Q(s, a_t, w) - r - gamma Q(s', a*, w))` of the trained values (`a*` the training
    target's greedy action): a Bellman residual `eps` bounds the values' error by
    `eps / (1 - gamma)`, so a gain above it is not an artefact of that error. In the units of
    the weighted scores the runtime compares."""
    sq, n = 0.0, 0
    for p in members:
        pj = to_jax(p)
        rng = np.random.default_rng(cfg.seed + 7)
        for d in data.values():
            valid = np.flatnonzero(d.nxt >= 0)
            for i in range(0, valid.size, batch):
                idx = valid[i : i + batch]
                w = rng.dirichlet(np.ones(3), size=idx.size).astype(np.float32)
                wf = np.concatenate([w, np.repeat(w[:1], batch - idx.size, 0)]) if idx.size < batch else w
                q = _padded(lambda f: _values(pj, d.x[f], d.risk[f], d.tun[f], wf, actions), idx, batch)
                j = d.nxt[idx]
                q2 = _padded(lambda f: _values(pj, d.x[f], d.risk[f], d.tun[f], wf, actions), j, batch)
                s2 = np.einsum("baj,bj->ba", q2, w)
                if cfg.beta:
                    s2 = s2 + cfg.beta * _padded(lambda f: _bc_logp(pj, d.x[f], d.risk[f], d.tun[f]), j, batch)
                s2 = np.where(d.mask_next[idx], s2, -np.inf)
                a2 = s2.argmax(axis=1)
                y = d.reward[idx] + cfg.gamma * q2[np.arange(idx.size), a2]
                e = np.einsum("bj,bj->b", q[np.arange(idx.size), d.action[idx]] - y, w)
                sq += float((e**2).sum())
                n += idx.size
    return float(np.sqrt(sq / max(1, n)) / (1.0 - cfg.gamma))


def depart(scores: np.ndarray, r: np.ndarray, possible: np.ndarray, margin: float,
           allow_veto: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The deployed rule, batched (healer/src/policy/learned.rs `depart` is the runtime's):
    `scores [B, K, A]` weighted values of K members, `r [B]` the rules' choice, `possible [B, A]`.
    The candidate is the best action by the members' mean among the possible ones, the rules'
    choice, and noop (noop only where the rules chose it or with `allow_veto`); it replaces `r`
    when it differs and *every* member values it above `r` by more than `margin`. Returns
    `(best [B], departs [B])`."""
    b = np.arange(scores.shape[0])
    possible = possible.copy()
    possible[:, 0] = True if allow_veto else (r == 0)
    possible[b, r] = True
    mean = np.where(possible, scores.mean(axis=1), -np.inf)
    best = mean.argmax(axis=1)
    gain = (scores[b, :, best] - scores[b, :, r]).min(axis=1)
    return best, (best != r) & (gain > margin)


def deviation_summary(members: list[dict], data: dict[int, Transitions], actions: int, names: list[str], margin: float,
                      allow_veto: bool = False, batch: int = 1024) -> dict:
    """Offline description (not an evaluation): on the logged states where the rules decided,
    how often the deployed rule (`depart`) departs from the rules' recorded choice, per
    preference, and to what."""
    pjs = [to_jax(p) for p in members]
    out = {}
    for name, w in PREFERENCES.items():
        wv = np.asarray(w, np.float32)
        wb = np.broadcast_to(wv, (batch, 3)).astype(np.float32)
        to = np.zeros(actions, np.int64)
        total = departures = vetoes = 0
        for d in data.values():
            idx = np.flatnonzero(d.bc_valid)
            for i in range(0, idx.size, batch):
                k = idx[i : i + batch]
                s = np.stack([np.einsum("baj,j->ba", _padded(lambda f: _values(pj, d.x[f], d.risk[f], d.tun[f], wb, actions), k, batch), wv)
                              for pj in pjs], axis=1)  # [B, K, A]
                best, dep = depart(s, d.bc_target[k], d.mask[k], margin, allow_veto)
                to += np.bincount(best[dep], minlength=actions)
                departures += int(dep.sum())
                vetoes += int((dep & (best == 0)).sum())
                total += k.size
        out[name] = {"weights": w, "decisions": total, "departures": departures, "vetoes": vetoes,
                     "departure_share": round(departures / max(1, total), 4),
                     "departed_to": {names[a]: int(c) for a, c in enumerate(to) if c}}
    return out
