"""Adam on pytrees (a few lines instead of another dependency), and param conversions."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def adam_init(params):
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    return {"m": zeros, "v": jax.tree_util.tree_map(jnp.zeros_like, params), "t": jnp.zeros((), jnp.float32)}


def adam_step(params, grads, state, lr, b1=0.9, b2=0.999, eps=1e-8, clip=5.0):
    """One Adam step with global-norm gradient clipping; returns `(params, state)`."""
    leaves = jax.tree_util.tree_leaves(grads)
    norm = jnp.sqrt(sum(jnp.sum(g * g) for g in leaves))
    scale = jnp.minimum(1.0, clip / (norm + 1e-12))
    grads = jax.tree_util.tree_map(lambda g: g * scale, grads)
    t = state["t"] + 1
    m = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, state["m"], grads)
    v = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, state["v"], grads)
    mhat = jax.tree_util.tree_map(lambda m: m / (1 - b1**t), m)
    vhat = jax.tree_util.tree_map(lambda v: v / (1 - b2**t), v)
    params = jax.tree_util.tree_map(lambda p, m, v: p - lr * m / (jnp.sqrt(v) + eps), params, mhat, vhat)
    return params, {"m": m, "v": v, "t": t}


def to_jax(params: dict) -> dict:
    return {k: jnp.asarray(v) for k, v in params.items()}


def to_numpy(params: dict) -> dict:
    return {k: np.asarray(v, dtype=np.float32) for k, v in params.items()}
