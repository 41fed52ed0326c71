"""A straightforward, well-written NumPy MLP trainer: the yardstick of the MNIST benchmark.

What a careful person writes without tuning: one shuffle per epoch, contiguous batch
slices, vectorised forward and backward passes, Adam as the paper writes it; every
expression allocates its result.
"""

from __future__ import annotations

import numpy as np


def train_epoch(params, state, X, Y, rng, batch_size=100, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8):
    """One epoch of softmax cross-entropy with ReLU hidden layers. params: [W0, b0, W1, b1, ...]."""
    order = rng.permutation(len(X))
    X, Y = X[order], Y[order]
    total = 0.0
    for lo in range(0, len(X), batch_size):
        x, y = X[lo : lo + batch_size], Y[lo : lo + batch_size]
        loss, grads = loss_and_grads(params, x, y)
        total += loss * len(x)
        adam_step(params, grads, state, lr, b1, b2, eps)
    return total / len(X)


def loss_and_grads(params, x, y):
    Ws, bs = params[::2], params[1::2]
    acts, zs, a = [x], [], x
    for i, (W, b) in enumerate(zip(Ws, bs)):
        z = a @ W + b
        zs.append(z)
        a = np.maximum(z, 0) if i < len(Ws) - 1 else z
        acts.append(a)
    shifted = zs[-1] - zs[-1].max(axis=1, keepdims=True)
    e = np.exp(shifted)
    s = e.sum(axis=1, keepdims=True)
    loss = float(-np.mean(np.sum(y * (shifted - np.log(s)), axis=1)))
    g = (e / s - y) / len(x)
    grads = [None] * len(params)
    for i in range(len(Ws) - 1, -1, -1):
        grads[2 * i], grads[2 * i + 1] = acts[i].T @ g, g.sum(axis=0)
        if i:
            g = (g @ Ws[i].T) * (zs[i - 1] > 0)
    return loss, grads


def adam_step(params, grads, state, lr, b1, b2, eps):
    state["t"] = t = state.get("t", 0) + 1
    ms = state.setdefault("m", [np.zeros_like(p) for p in params])
    vs = state.setdefault("v", [np.zeros_like(p) for p in params])
    for p, g, m, v in zip(params, grads, ms, vs):
        m[...] = b1 * m + (1 - b1) * g
        v[...] = b2 * v + (1 - b2) * g * g
        p -= lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
