"""Adam's compiled one-pass update and the ReLU layers' kernels (numba, optional) against
NumPy's passes, bit for bit.

Tests that need numba skip without it; the selection tests run everywhere, so a fresh
environment without numba checks that dltrain falls back to NumPy.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from dltrain.nn.fast import optimizers
from dltrain.nn.optimizers import Adam

SHAPES = [(300, 180), (180,), (180, 10), (10,)]  # 56,170 parameters: above FUSED_MIN_PARAMS


def random_params(dtype, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in SHAPES]


def gradient_stream(dtype, steps, seed=1):
    """Gradients spanning 1e-30..1e2, with a block of rows whose gradient stops (its moments decay)."""
    rng = np.random.default_rng(seed)
    for t in range(steps):
        grads = [(rng.standard_normal(s) * 10.0 ** rng.uniform(-30, 2, size=s)).astype(dtype) for s in SHAPES]
        if t > 10:
            grads[0][:50] = 0.0
        yield grads


def bits(a: np.ndarray) -> bytes:
    return a.tobytes()


def twin_steppers(dtype, cfg):
    """Two Adam steppers on equal parameters: the first compiled, the second forced onto NumPy."""
    fast_p, slow_p = random_params(dtype), random_params(dtype)
    fast, slow = cfg.build(fast_p), cfg.build(slow_p)
    slow._fused = None
    return (fast, fast_p), (slow, slow_p)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cfg", [Adam(lr=0.01), Adam(lr=0.003, beta1=0.8, beta2=0.99, eps=1e-6, weight_decay=0.01)])
def test_compiled_adam_equals_numpy_bit_for_bit(dtype, cfg):
    pytest.importorskip("numba")
    (fast, fast_p), (slow, slow_p) = twin_steppers(dtype, cfg)
    assert fast._fused is not None
    for grads in gradient_stream(dtype, steps=200):  # 200 steps: three float32 flushes (every 64)
        fast.step(grads)
        slow.step(grads)
    for a, b in zip(fast_p + [fast._m, fast._v], slow_p + [slow._m, slow._v]):
        assert bits(a) == bits(b)
    assert fast.t == slow.t == 200


def test_compiled_adam_flushes_float32_moments_like_numpy():
    pytest.importorskip("numba")
    (fast, _), (slow, _) = twin_steppers(np.float32, Adam())
    for stepper in (fast, slow):
        stepper.m[0][0, :2] = 1e-31  # below TINY_M: gone at the next flush
        stepper.m[0][0, 2] = 1e-3
        zeros = [np.zeros(s, np.float32) for s in SHAPES]
        for _ in range(stepper.FLUSH_EVERY):
            stepper.step(zeros)
    assert (fast.m[0][0, :2] == 0).all() and fast.m[0][0, 2] > 0
    assert bits(fast._m) == bits(slow._m)


def test_compiled_training_run_equals_numpy_run(monkeypatch):
    """A whole Trainer run (shuffled mini-batches, Adam, float64) gives the same history and weights."""
    pytest.importorskip("numba")
    from dltrain.api import resolve
    from dltrain.pipeline.experiment import Experiment

    monkeypatch.setattr(optimizers, "FUSED_MIN_WORK", 0)
    cfg = resolve(
        {
            "name": "fused",
            "seed": 3,
            "dataset": {"name": "digits", "scaling": "minmax"},
            "model": {"type": "mlp", "hidden": [256, 128], "activation": "relu"},
            "training": {"optimizer": {"name": "adam", "lr": 0.003}, "epochs": 2, "batch_size": 64, "dtype": "float64"},
            "output": {"plots": False},
        }
    )
    runs = []
    for engine in ("fast", "numpy"):
        monkeypatch.setenv("DLTRAIN_ENGINE", engine)
        exp = Experiment(cfg)
        assert (exp.trainer.optimizer._fused is not None) == (engine == "fast")
        compiled = [kernels[0].__module__.endswith("numba_layers") for kernels in exp.trainer.net._kernels]
        assert compiled == [engine == "fast", engine == "fast", False]  # the layers ride along; not softmax
        exp.train()
        runs.append(exp)
    fast, slow = runs
    assert [r.train_loss for r in fast.trainer.history] == [r.train_loss for r in slow.trainer.history]
    assert all(bits(a) == bits(b) for a, b in zip(fast.trainer.net.params, slow.trainer.net.params))


def test_numpy_runs_small_or_short_or_strided_or_opted_out(monkeypatch):
    params = random_params(np.float64)
    m = np.zeros(sum(p.size for p in params))
    assert optimizers._fused_update(params[-2:], m, m, steps=None) is None  # 1,810 parameters
    assert optimizers._fused_update(params, m, m, steps=100) is None  # 5.6e6 parameter-steps
    assert optimizers._fused_update([np.asfortranarray(params[0]), *params[1:]], m, m, steps=None) is None
    monkeypatch.setenv("DLTRAIN_ENGINE", "numpy")
    assert optimizers._fused_update(params, m, m, steps=None) is None


def test_numpy_runs_without_numba(monkeypatch):
    """No numba installed (a None entry in sys.modules makes `import numba` fail): NumPy's passes, same API."""
    import dltrain.nn.fast

    monkeypatch.setitem(sys.modules, "numba", None)
    for module in ("numba_jit", "numba_adam", "numba_layers"):
        monkeypatch.delitem(sys.modules, f"dltrain.nn.fast.{module}", raising=False)
        monkeypatch.delattr(dltrain.nn.fast, module, raising=False)
    params = random_params(np.float64)
    stepper = Adam().build(params)
    assert stepper._fused is None
    stepper.step([np.ones(s) for s in SHAPES])
    assert stepper.t == 1


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_relu_layer_kernels_equal_numpy_on_edge_values(dtype):
    """numba's bias + ReLU and its gradient + bias gradient against NumPy's layer kernels, on
    arrays drawn from signed zeros, NaNs of both signs, infinities and extremes, the bias too:
    the same bits, but for which NaN a sum of two NaNs keeps (NumPy keeps the first operand's
    in its vector loop and the second's in the loop's tail: widths 9 and 17 have a tail)."""
    pytest.importorskip("numba")
    from dltrain.nn.fast import numba_layers
    from dltrain.nn.fast.kernels import layer_kernels
    from dltrain.nn.network import Dense

    f = np.finfo(dtype)
    edges = np.array([0.0, -0.0, np.nan, -np.nan, np.inf, -np.inf, f.max, -f.max, f.tiny, 1.5, -2.0], dtype)
    rng = np.random.default_rng(4)
    for n, k in [(1, 2), (7, 3), (64, 5), (50, 9), (130, 17)]:
        layer = Dense(np.zeros((4, k), dtype), edges[rng.integers(0, len(edges), k)], "relu")
        compiled, numpy = numba_layers.kernels_for(layer), layer_kernels(layer)
        assert compiled is not None
        z = edges[rng.integers(0, len(edges), (n, k))]
        g = edges[rng.integers(0, len(edges), (n, k))]
        results = []
        for forward, backward in (compiled, numpy):
            z_, g_, a, db = z.copy(), g.copy(), np.empty_like(z), np.empty(k, dtype)
            with np.errstate(all="ignore"):
                forward(z_, layer.b, a)
                out = backward(z_, a, g_, g_, db)
            assert out is g_
            results.append([np.where(np.isnan(x), np.nan, x).astype(dtype).tobytes() for x in (z_, a, g_, db)])
        assert results[0] == results[1]


def test_a_relu_layer_without_bias_keeps_numpys_kernels():
    """The compiled ReLU kernels add a bias: a bias-less layer keeps NumPy's, and a network that
    has one trains with the same bits compiled or not."""
    pytest.importorskip("numba")
    from dltrain.nn.fast import numba_layers
    from dltrain.nn.fast.network import FastNetwork
    from dltrain.nn.network import Dense

    rng = np.random.default_rng(5)
    W0, W1, b1 = rng.standard_normal((6, 9)), rng.standard_normal((9, 3)), rng.standard_normal(3)
    assert numba_layers.kernels_for(Dense(W0, None, "relu")) is None
    x, y = rng.standard_normal((20, 6)), np.eye(3)[rng.integers(0, 3, 20)]
    results = []
    for compiled in (True, False):
        net = FastNetwork([Dense(W0.copy(), None, "relu"), Dense(W1.copy(), b1.copy(), "softmax")], "cross_entropy")
        if compiled:
            net.compile()
        loss, outputs = net.loss_and_grads(x, y)
        results.append((np.float64(loss).tobytes(), bits(outputs), bits(net.flat_grads)))
    assert results[0] == results[1]
