"""The three networks as pure JAX functions of (params, inputs), and their ONNX twins.

Shapes (N = graph nodes, T = window ticks, H = hidden width):

- node encoder input: `[M, T, 19]` -> `[M, 11 + 8T]` = one-hot kind of the last tick, then the
  8 value slots of each tick (tick-major);
- detector body: two ReLU layers -> embedding `E [M, H]`; adapted head `(w [H], b [1])`:
  node logit `l = E w + b`, window logit `L = logsumexp_n(l) - ln N` (a soft max over the
  nodes that does not grow with N), `node_score = sigmoid(l)`, `score = sigmoid(L)`;
- detector inner loop (OC-MAML / ANIL): S gradient steps on `mean_k softplus(L_k)` (binary
  cross-entropy with label "normal" on the K support windows) w.r.t. `(w, b)` only; the
  gradient is written out (`adapt_grads`) so that the ONNX update graph computes exactly it;
- cascade GNN: node encoder (+ detector node score) -> H, then R rounds of
  `h <- relu(h Ws + Ain h Wi + Aout h Wo + b)` with `Ain = D_in^-1 adj^T` (mean over
  predecessors) and `Aout = D_out^-1 adj` (mean over successors), then `[N, 2]` logits;
  the MLP baseline is the same network with `Wi = Wo = 0` (no messages);
- policy: per-node `relu([x, risk] W1 + b1)`, mean- and max-pooled over nodes, concatenated
  with tunables and weights, two ReLU layers, `A*3` outputs reshaped to `[1, A, 3]` (Q);
  plus a behaviour-cloning twin (no weights input, `A` logits) whose log-softmax times beta
  can be added to every objective (a KL-regularised improvement of the rule policy; the
  export uses beta = 0). `policy.onnx` stacks the ensemble members' Q: `[K, A, 3]`.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from .onnxgraph import Graph, node_inputs

KINDS = 11
SLOTS = 8


def _dense_init(rng: np.random.Generator, din: int, dout: int, scale: float = 1.0):
    w = rng.normal(0.0, scale * math.sqrt(2.0 / din), size=(din, dout)).astype(np.float32)
    return w, np.zeros((dout,), np.float32)


def node_input(x):
    """`[M, T, 19]` -> `[M, 11 + 8T]` (see module docs)."""
    m, t, _ = x.shape
    return jnp.concatenate([x[:, t - 1, :KINDS], x[:, :, KINDS:].reshape(m, t * SLOTS)], axis=1)


# ---------------------------------------------------------------------------------------------
# Detector


def detector_init(seed: int, window: int, hidden1: int, hidden: int, steps: int, lr0: float) -> dict:
    rng = np.random.default_rng(seed)
    din = KINDS + SLOTS * window
    w1, b1 = _dense_init(rng, din, hidden1)
    w2, b2 = _dense_init(rng, hidden1, hidden)
    hw = rng.normal(0.0, 0.1 / math.sqrt(hidden), size=(hidden,)).astype(np.float32)
    return {
        "w1": w1, "b1": b1, "w2": w2, "b2": b2,
        "head_w": hw, "head_b": np.array([-2.0], np.float32),
        "log_lr": np.full((steps,), math.log(lr0), np.float32),
    }


def detector_embed(p, x):
    """`x [M, T, 19]` -> `E [M, H]`."""
    h = jax.nn.relu(node_input(x) @ p["w1"] + p["b1"])
    return jax.nn.relu(h @ p["w2"] + p["b2"])


def window_logit(l):
    """`l [..., N]` -> `[...]`: logsumexp over nodes minus ln N."""
    n = l.shape[-1]
    return jax.scipy.special.logsumexp(l, axis=-1) - math.log(n)


def adapt_grads(e, w, b):
    """Gradient of `mean_k softplus(L_k)` w.r.t. `(w, b)` for support embeddings `e [K, N, H]`."""
    k = e.shape[0]
    l = e @ w + b[0]  # [K, N]
    sig = jax.nn.sigmoid(window_logit(l))  # [K]
    coef = sig[:, None] * jax.nn.softmax(l, axis=-1) / k  # [K, N]
    gw = jnp.einsum("kn,knh->h", coef, e)
    gb = jnp.mean(sig)[None]
    return gw, gb


def detector_adapt(p, support, lrs=None):
    """Inner loop: `support [K, N, T, 19]` -> adapted `(w [H], b [1])`."""
    k, n, t, f = support.shape
    e = detector_embed(p, support.reshape(k * n, t, f)).reshape(k, n, -1)
    w, b = p["head_w"], p["head_b"]
    lrs = jnp.exp(p["log_lr"]) if lrs is None else lrs
    for s in range(lrs.shape[0]):
        gw, gb = adapt_grads(e, w, b)
        w = w - lrs[s] * gw
        b = b - lrs[s] * gb
    return w, b


def detector_logits(p, windows, w, b):
    """`windows [B, N, T, 19]` -> `(node logits [B, N], window logit [B])`."""
    bsz, n, t, f = windows.shape
    e = detector_embed(p, windows.reshape(bsz * n, t, f)).reshape(bsz, n, -1)
    l = e @ w + b[0]
    return l, window_logit(l)


def detector_onnx(p: dict, window: int) -> tuple:
    """`(detector_adapt graph, detector graph)` with the trained weights."""
    hidden = int(p["w2"].shape[1])
    lrs = np.exp(np.asarray(p["log_lr"], np.float64)).astype(np.float32)

    def embed(g: Graph, x: str) -> str:
        inp = node_inputs(g, x, window)
        h = g.dense(inp, p["w1"], p["b1"], "body1", relu=True)
        return g.dense(h, p["w2"], p["b2"], "body2", relu=True)

    # -- adaptation graph -----------------------------------------------------------------
    g = Graph("detector_adapt")
    sup = g.input("support", ["K", "N", window, 19])
    shape = g.op("Shape", [sup])
    kn = g.op("Slice", [shape, g.const([0], np.int64), g.const([2], np.int64)])  # [K, N]
    flat = g.op("Reshape", [sup, g.const([-1, window, 19], np.int64)])
    e_flat = embed(g, flat)  # [K*N, H]
    e = g.op("Reshape", [e_flat, g.op("Concat", [kn, g.const([hidden], np.int64)], axis=0)])  # [K,N,H]
    kf = g.op("Cast", [g.op("Gather", [shape, g.const(0, np.int64)])], to=1)  # K as float
    logn = g.op("Log", [g.op("Cast", [g.op("Gather", [shape, g.const(1, np.int64)])], to=1)])
    w = g.weight(p["head_w"], "head_w0")
    b = g.weight(p["head_b"], "head_b0")
    for s, lr in enumerate(lrs):
        l = g.op("Add", [g.op("MatMul", [e, w]), b])  # [K, N]
        big_l = g.op("Sub", [g.op("ReduceLogSumExp", [l], axes=[1], keepdims=0), logn])  # [K]
        sig = g.op("Sigmoid", [big_l])
        sm = g.op("Softmax", [l], axis=1)
        coef = g.op("Div", [g.op("Mul", [sm, g.op("Unsqueeze", [sig, g.const([1], np.int64)])]), kf])  # [K,N]
        gw = g.op("MatMul", [g.op("Reshape", [coef, g.const([1, -1], np.int64)]), e_flat])  # [1, H]
        gw = g.op("Reshape", [gw, g.const([hidden], np.int64)])
        gb = g.op("ReduceMean", [sig], axes=[0], keepdims=1)  # [1]
        step = g.const(float(lr))
        w = g.op("Sub", [w, g.op("Mul", [gw, step])])
        b = g.op("Sub", [b, g.op("Mul", [gb, step])])
    g.output(w, "head_w", [hidden])
    g.output(b, "head_b", [1])
    adapt = g

    # -- scoring graph --------------------------------------------------------------------
    g = Graph("detector")
    x = g.input("window", ["N", window, 19])
    hw = g.input("head_w", [hidden])
    hb = g.input("head_b", [1])
    e = embed(g, x)  # [N, H]
    l = g.op("Add", [g.op("MatMul", [e, hw]), hb])  # [N]
    logn = g.op("Log", [g.op("Cast", [g.op("Shape", [x], end=1)], to=1)])  # [1]
    big_l = g.op("Sub", [g.op("ReduceLogSumExp", [l], axes=[0], keepdims=1), logn])
    g.output(g.op("Sigmoid", [l]), "node_score", ["N"])
    g.output(g.op("Sigmoid", [big_l]), "score", [1])
    return adapt, g


# ---------------------------------------------------------------------------------------------
# Cascade GNN


def gnn_init(seed: int, window: int, hidden: int, rounds: int, graph: bool) -> dict:
    rng = np.random.default_rng(seed)
    din = KINDS + SLOTS * window + 1
    w0, b0 = _dense_init(rng, din, hidden)
    p = {"w0": w0, "b0": b0}
    for r in range(rounds):
        p[f"ws{r}"], p[f"b{r + 1}"] = _dense_init(rng, hidden, hidden)
        if graph:
            p[f"wi{r}"], _ = _dense_init(rng, hidden, hidden, 0.5)
            p[f"wo{r}"], _ = _dense_init(rng, hidden, hidden, 0.5)
    p["wout"], p["bout"] = _dense_init(rng, hidden, 2, 0.5)
    p["bout"] = np.array([-2.0, -1.5], np.float32)
    return p


def norm_adj(adj):
    """`(Ain, Aout)` row-normalised message matrices of `adj [..., N, N]`."""
    at = jnp.swapaxes(adj, -1, -2)
    ain = at / jnp.maximum(at.sum(-1, keepdims=True), 1.0)
    aout = adj / jnp.maximum(adj.sum(-1, keepdims=True), 1.0)
    return ain, aout


def gnn_logits(p, x, node_score, adj, rounds: int):
    """`x [B, N, T, 19]`, `node_score [B, N]`, `adj [N, N]` -> logits `[B, N, 2]`."""
    bsz, n, t, f = x.shape
    inp = jnp.concatenate([node_input(x.reshape(bsz * n, t, f)), node_score.reshape(bsz * n, 1)], axis=1)
    h = jax.nn.relu(inp @ p["w0"] + p["b0"]).reshape(bsz, n, -1)
    ain, aout = norm_adj(adj)
    for r in range(rounds):
        z = h @ p[f"ws{r}"] + p[f"b{r + 1}"]
        if f"wi{r}" in p:
            z = z + (ain @ h) @ p[f"wi{r}"] + (aout @ h) @ p[f"wo{r}"]
        h = jax.nn.relu(z)
    return h @ p["wout"] + p["bout"]


def gnn_onnx(p: dict, window: int, rounds: int, name: str = "cascade_gnn") -> Graph:
    g = Graph(name)
    x = g.input("x", ["N", window, 19])
    ns = g.input("node_score", ["N"])
    adj = g.input("adj", ["N", "N"])
    inp = node_inputs(g, x, window, lead=[g.op("Unsqueeze", [ns, g.const([1], np.int64)])])
    h = g.dense(inp, p["w0"], p["b0"], "enc", relu=True)
    one = g.const(1.0)
    axis1 = g.const([1], np.int64)
    at = g.op("Transpose", [adj], perm=[1, 0])
    ain = g.op("Div", [at, g.op("Max", [g.op("ReduceSum", [at, axis1], keepdims=1), one])])
    aout = g.op("Div", [adj, g.op("Max", [g.op("ReduceSum", [adj, axis1], keepdims=1), one])])
    for r in range(rounds):
        z = g.op("Add", [g.op("MatMul", [h, g.weight(p[f"ws{r}"], f"ws{r}")]), g.weight(p[f"b{r + 1}"], f"b{r + 1}")])
        if f"wi{r}" in p:
            z = g.op("Add", [z, g.op("MatMul", [g.op("MatMul", [ain, h]), g.weight(p[f"wi{r}"], f"wi{r}")])])
            z = g.op("Add", [z, g.op("MatMul", [g.op("MatMul", [aout, h]), g.weight(p[f"wo{r}"], f"wo{r}")])])
        h = g.op("Relu", [z])
    logits = g.dense(h, p["wout"], p["bout"], "out", relu=False)
    g.output(g.op("Sigmoid", [logits]), "risk", ["N", 2])
    return g


# ---------------------------------------------------------------------------------------------
# Policy


def policy_init(seed: int, units: int, actions: int, hidden_node: int, hidden: int) -> dict:
    """Q network (`w*`, `b*`) and behaviour-cloning network (`bc_*`, same shape without the
    weights input, A logits)."""
    rng = np.random.default_rng(seed)
    w1, b1 = _dense_init(rng, 19 + 2, hidden_node)
    w2, b2 = _dense_init(rng, 2 * hidden_node + units + 3, hidden)
    w3, b3 = _dense_init(rng, hidden, hidden)
    w4, b4 = _dense_init(rng, hidden, actions * 3, 0.1)
    c1, d1 = _dense_init(rng, 19 + 2, hidden_node)
    c2, d2 = _dense_init(rng, 2 * hidden_node, hidden)
    c3, d3 = _dense_init(rng, hidden, actions, 0.1)
    return {"w1": w1, "b1": b1, "w2": w2, "b2": b2, "w3": w3, "b3": b3, "w4": w4, "b4": b4,
            "bc_w1": c1, "bc_b1": d1, "bc_w2": c2, "bc_b2": d2, "bc_w3": c3, "bc_b3": d3}


def _pool(p, prefix, x, risk):
    h = jax.nn.relu(jnp.concatenate([x, risk], axis=-1) @ p[prefix + "w1"] + p[prefix + "b1"])  # [B, N, Hn]
    return jnp.concatenate([h.mean(axis=1), h.max(axis=1)], axis=-1)


def policy_values(p, x, risk, tunables, weights, actions: int):
    """The Q part: `x [B, N, 19]`, `risk [B, N, 2]`, `tunables [B, U]`, `weights [B, 3]` ->
    `[B, A, 3]`."""
    z = jnp.concatenate([_pool(p, "", x, risk), tunables, weights], axis=-1)
    z = jax.nn.relu(z @ p["w2"] + p["b2"])
    z = jax.nn.relu(z @ p["w3"] + p["b3"])
    return (z @ p["w4"] + p["b4"]).reshape(x.shape[0], actions, 3)


def policy_bc_logits(p, x, risk, tunables):
    """The behaviour-cloning part: logits `[B, A]` of the rule policy's choice, from the node
    features and risks only (`tunables` unused: what the rules changed earlier in their own
    runs must not be what the imitation keys on; the catalog mask covers validity)."""
    del tunables
    z = _pool(p, "bc_", x, risk)
    z = jax.nn.relu(z @ p["bc_w2"] + p["bc_b2"])
    return z @ p["bc_w3"] + p["bc_b3"]


def policy_q(p, x, risk, tunables, weights, actions: int, beta: float):
    """What `policy.onnx` outputs: `q = Q + beta * log pi_rules` (the log-probability added to
    every objective, so `w . q = w . Q + beta * log pi` for weights summing to 1)."""
    q = policy_values(p, x, risk, tunables, weights, actions)
    if beta == 0.0:
        return q
    logp = jax.nn.log_softmax(policy_bc_logits(p, x, risk, tunables), axis=-1)
    return q + beta * logp[:, :, None]


def policy_members_q(members: list[dict], x, risk, tunables, weights, actions: int, beta: float):
    """What `policy.onnx` outputs for one state (`x [1, N, 19]`, ...): `[K, A, 3]`, member k's
    `policy_q` in row k."""
    return jnp.concatenate([policy_q(p, x, risk, tunables, weights, actions, beta) for p in members], axis=0)


def policy_onnx(members: list[dict], units: int, actions: int, beta: float) -> Graph:
    """`q: [K, A, 3]`, one row per ensemble member (`policy_members_q`)."""
    g = Graph("policy")
    x = g.input("x", ["N", 19])
    risk = g.input("risk", ["N", 2])
    tun = g.input("tunables", [1, units])
    wts = g.input("weights", [1, 3])
    xr = g.op("Concat", [x, risk], axis=1)

    def pool(p: dict, prefix: str, name: str) -> tuple[str, str]:
        h = g.dense(xr, p[prefix + "w1"], p[prefix + "b1"], name + "node", relu=True)  # [N, Hn]
        return g.op("ReduceMean", [h], axes=[0], keepdims=1), g.op("ReduceMax", [h], axes=[0], keepdims=1)

    rows = []
    for k, p in enumerate(members):
        mean, mx = pool(p, "", f"m{k}_")
        z = g.op("Concat", [mean, mx, tun, wts], axis=1)
        z = g.dense(z, p["w2"], p["b2"], f"m{k}_l2", relu=True)
        z = g.dense(z, p["w3"], p["b3"], f"m{k}_l3", relu=True)
        q = g.dense(z, p["w4"], p["b4"], f"m{k}_q", relu=False)
        q = g.op("Reshape", [q, g.const([1, actions, 3], np.int64)])
        if beta != 0.0:
            bmean, bmx = pool(p, "bc_", f"m{k}_bc_")
            c = g.op("Concat", [bmean, bmx], axis=1)
            c = g.dense(c, p["bc_w2"], p["bc_b2"], f"m{k}_bc2", relu=True)
            c = g.dense(c, p["bc_w3"], p["bc_b3"], f"m{k}_bc3", relu=False)  # [1, A]
            logp = g.op("LogSoftmax", [c], axis=1)
            logp = g.op("Unsqueeze", [g.op("Mul", [logp, g.const(float(beta))]), g.const([2], np.int64)])  # [1, A, 1]
            q = g.op("Add", [q, logp])
        rows.append(q)
    q = rows[0] if len(rows) == 1 else g.op("Concat", rows, axis=0)
    g.output(q, "q", [len(members), actions, 3])
    return g
