"""The optimized engine against a plain NumPy transcription of the same math.

The engine works in preallocated buffers, flat gradient vectors and blocked in-place
Adam; the reference below is the textbook expression for each step, one allocation per
operation. float64 must agree to 1e-12 (in fact bit for bit), float32 to rounding.
"""

from __future__ import annotations

import numpy as np
import pytest

from dltrain.config.schema import Training
from dltrain.data.split import Splits
from dltrain.nn.fast.flat import flat_span, packed
from dltrain.nn.fast.network import FastNetwork
from dltrain.nn.network import Dense
from dltrain.nn.optimizers import GD, Adam
from dltrain.train.loop import Trainer

SIZES = (7, 5, 6, 3)  # n_in, hidden, hidden, classes


# --- the plain reference -----------------------------------------------------------------

ACT = {"relu": lambda z: np.maximum(z, 0), "tanh": np.tanh, "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z))}
DACT = {
    "relu": lambda z, a: (z > 0).astype(z.dtype),
    "tanh": lambda z, a: 1.0 - a * a,
    "sigmoid": lambda z, a: a * (1.0 - a),
}


def ref_loss_and_grads(params, x, y, act):
    """Softmax cross-entropy MLP: params [W0, b0, W1, b1, ...]; returns (loss, grads)."""
    Ws, bs = params[::2], params[1::2]
    inputs, zs, a = [], [], x
    for i, (W, b) in enumerate(zip(Ws, bs)):
        inputs.append(a)
        z = a @ W + b
        zs.append(z)
        a = ACT[act](z) if i < len(Ws) - 1 else None
    z = zs[-1]
    shifted = z - z.max(axis=1, keepdims=True)
    p = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    loss = -np.mean(np.sum(y * (shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))), axis=1))
    grad_z = (p - y) / len(x)
    grads = [None] * len(params)
    for i in range(len(Ws) - 1, -1, -1):
        grads[2 * i] = inputs[i].T @ grad_z
        grads[2 * i + 1] = grad_z.sum(axis=0)
        if i:
            grad_z = (grad_z @ Ws[i].T) * DACT[act](zs[i - 1], inputs[i])
    return loss, grads


def ref_adam(params, grads_seq, lr=0.01, b1=0.9, b2=0.999, eps=1e-8, wd=0.0):
    params = [p.copy() for p in params]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    for t, grads in enumerate(grads_seq, start=1):
        for i, (p, g) in enumerate(zip(params, grads)):
            if wd and p.ndim == 2:
                g = g + wd * p
            m[i] = b1 * m[i] + (1.0 - b1) * g
            v[i] = b2 * v[i] + (1.0 - b2) * (g * g)
            step = lr * (1.0 - b2**t) ** 0.5 / (1.0 - b1**t)
            p -= step * m[i] / (np.sqrt(v[i]) + eps * (1.0 - b2**t) ** 0.5)
    return params


def ref_sgd(params, grads_seq, lr=0.1, mu=0.9, nesterov=False):
    params = [p.copy() for p in params]
    vel = [np.zeros_like(p) for p in params]
    for grads in grads_seq:
        for i, (p, g) in enumerate(zip(params, grads)):
            vel[i] = mu * vel[i] + g
            p -= lr * (g + mu * vel[i] if nesterov else vel[i])
    return params


# --- fixtures ----------------------------------------------------------------------------


def random_problem(dtype, act="relu", n=9, seed=0):
    rng = np.random.default_rng(seed)
    params = []
    for fan_in, fan_out in zip(SIZES, SIZES[1:]):
        params += [
            rng.standard_normal((fan_in, fan_out)).astype(dtype),
            rng.standard_normal(fan_out).astype(dtype) * 0.1,
        ]
    x = rng.standard_normal((n, SIZES[0])).astype(dtype)
    y = np.eye(SIZES[-1], dtype=dtype)[rng.integers(0, SIZES[-1], n)]
    return params, x, y


def network(params, act):
    n_layers = len(params) // 2
    acts = [act] * (n_layers - 1) + ["softmax"]
    return FastNetwork(
        [Dense(params[2 * i].copy(), params[2 * i + 1].copy(), a) for i, a in enumerate(acts)], "cross_entropy"
    )


TOL = {np.float64: dict(rtol=1e-12, atol=1e-14), np.float32: dict(rtol=2e-4, atol=1e-5)}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("act", ["relu", "tanh", "sigmoid"])
def test_forward_and_gradients_match_the_plain_math(dtype, act):
    params, x, y = random_problem(dtype, act)
    net = network(params, act)
    for n in (9, 4, 9):  # two batch sizes, then the first again: buffers must not leak between them
        ref_loss, ref_grads = ref_loss_and_grads(params, x[:n], y[:n], act)
        loss, out = net.loss_and_grads(x[:n], y[:n])
        np.testing.assert_allclose(loss, ref_loss, **TOL[dtype])
        np.testing.assert_allclose(out, net.predict(x[:n]), **TOL[dtype])
        for got, want in zip(net.grads, ref_grads):
            assert got.dtype == dtype
            np.testing.assert_allclose(got, want, **TOL[dtype])


def _train(net, cfg, grads_seq_from):
    """Run steps with the network's own gradients; also return the gradients seen."""
    stepper = cfg.build(net.params, net.decay_mask)
    seen = []
    for x, y in grads_seq_from:
        net.loss_and_grads(x, y)
        seen.append([g.copy() for g in net.grads])
        stepper.step(net.grads)
    return seen, stepper


def batches(x, y, k=6):
    return [(x[i::3], y[i::3]) for i in range(3)] * (k // 3)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("wd", [0.0, 0.01])
def test_adam_steps_match_the_plain_math(dtype, wd):
    params, x, y = random_problem(dtype)
    net = network(params, "relu")
    seen, stepper = _train(net, Adam(lr=0.01, weight_decay=wd), batches(x, y))
    want = ref_adam(params, seen, lr=0.01, wd=wd)
    for got, ref in zip(net.params, want):
        assert got.dtype == dtype  # Python-float constants keep float32 in float32
        np.testing.assert_allclose(got, ref, **TOL[dtype])
    if dtype == np.float64:  # the same operations in the same order: equal bit for bit
        assert all(np.array_equal(g, r) for g, r in zip(net.params, want))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum_steps_match_the_plain_math(dtype, nesterov):
    params, x, y = random_problem(dtype)
    net = network(params, "tanh")
    seen, _ = _train(net, GD(lr=0.05, momentum=0.9, nesterov=nesterov), batches(x, y))
    want = ref_sgd(params, seen, lr=0.05, mu=0.9, nesterov=nesterov)
    for got, ref in zip(net.params, want):
        np.testing.assert_allclose(got, ref, **TOL[dtype])


def test_adam_on_separate_gradient_arrays_equals_the_flat_path():
    """Gradients that are not one vector (a user's list) are copied in; same result."""
    params, x, y = random_problem(np.float64)
    a, b = network(params, "relu"), network(params, "relu")
    sa, sb = Adam(lr=0.01).build(a.params), Adam(lr=0.01).build(b.params)
    for xb, yb in batches(x, y):
        a.loss_and_grads(xb, yb)
        b.loss_and_grads(xb, yb)
        sa.step(a.grads)
        sb.step([g.copy() for g in b.grads])
    assert all(np.array_equal(p, q) for p, q in zip(a.params, b.params))


def test_adam_updates_params_that_are_not_contiguous():
    W = np.asfortranarray(np.ones((4, 3)))
    stepper = Adam(lr=0.1).build([W])
    stepper.step([np.ones((4, 3))])
    np.testing.assert_allclose(W, 0.9)


def test_float32_adam_flushes_subnormal_moments_and_float64_keeps_them():
    for dtype, flushed in ((np.float32, True), (np.float64, False)):
        p = np.ones(4, dtype)
        stepper = Adam().build([p])
        stepper.m[0][...] = [1e-31, -1e-31, 1e-3, 0.0]
        stepper.v[0][...] = [1e-37, 1e-30, 1e-3, 0.0]  # 1e-37: a normal float32, below TINY_V
        for _ in range(stepper.FLUSH_EVERY - 1):
            stepper.step([np.zeros(4, dtype)])
        assert stepper.m[0][0] != 0 and stepper.v[0][0] != 0  # the flush comes at step 64, not before
        stepper.step([np.zeros(4, dtype)])
        m, v = stepper.m[0], stepper.v[0]
        assert (m[:2] == 0).all() == flushed, m
        assert (v[0] == 0) == flushed, v
        assert m[2] > 0 and v[1] > 0 and v[2] > 0  # a moment above its threshold is never touched


def test_flat_span_recognises_packed_views_only():
    arrays = [np.zeros((2, 3)), np.zeros(3)]
    flat, views = packed(arrays)
    assert flat_span(views) is flat
    assert flat_span(views[::-1]) is None  # out of order
    assert flat_span(views[:1]) is None  # does not cover the vector
    assert flat_span(arrays) is None


# all rows at once; one batch at a time; two batches of 5 rows of 7 float64 at a time (later gathers start past row 0)
@pytest.mark.parametrize("gather_bytes", [1 << 20, 1, 2 * 5 * 7 * 8])
def test_trainer_epoch_equals_the_plain_loop_bit_for_bit(monkeypatch, gather_bytes):
    """Shuffle once per epoch, contiguous batches, one Adam step each: the same weights in float64."""
    monkeypatch.setattr("dltrain.train.loop.GATHER_BYTES", gather_bytes)
    params, x, y_hot = random_problem(np.float64, n=23, seed=3)
    y = y_hot.argmax(axis=1)
    splits = Splits((x, y), None, None, list(range(SIZES[-1])), (SIZES[0],))
    net = network(params, "relu")
    training = Training(optimizer=Adam(lr=0.01), epochs=3, batch_size=5)
    trainer = Trainer(net, training, splits, np.random.default_rng(7))
    history = trainer.fit()

    rng, ref_params, all_grads, losses = np.random.default_rng(7), [p.copy() for p in params], [], []
    stepper = ref_adam  # replayed below with the gradients of the plain forward/backward
    for _ in range(3):
        order = rng.permutation(len(x))
        xs, ys = x[order], y_hot[order]
        total = 0.0
        for lo in range(0, len(x), 5):
            loss, grads = ref_loss_and_grads(ref_params, xs[lo : lo + 5], ys[lo : lo + 5], "relu")
            total += loss * len(xs[lo : lo + 5])
            all_grads.append(grads)
            ref_params = stepper(params, all_grads, lr=0.01)
        losses.append(total / len(x))
    np.testing.assert_allclose([r.train_loss for r in history], losses, rtol=1e-12)
    for got, want in zip(net.params, ref_params):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
