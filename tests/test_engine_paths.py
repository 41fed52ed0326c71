"""The two engines give the same bits: the reference (`dltrain/nn`, plain NumPy) and the
fast one (`dltrain/nn/fast`: flat vectors, buffers, blocks, numba), chosen by DLTRAIN_ENGINE.

Every optimizer with and without weight decay, in float64 and float32, on a network's
parameter vector and on separate arrays; and whole training runs of every model family.
"""

from __future__ import annotations

import numpy as np
import pytest

from dltrain.errors import ConfigError
from dltrain.nn import fast
from dltrain.nn.fast.optimizers import AdamStep as FastAdamStep
from dltrain.nn.network import Dense, Network
from dltrain.nn.optimizers import GD, STEPPERS, Adam

FAST = ("fast", "numpy")  # with numba's Adam kernel where installed, and NumPy's passes only

OPTIMIZERS = [
    ("gd", GD(lr=0.05)),
    ("sgd-momentum", GD(name="sgd", lr=0.05, momentum=0.9)),
    ("sgd-nesterov", GD(name="sgd", lr=0.05, momentum=0.8, nesterov=True)),
    ("adam", Adam(lr=0.01)),
    ("adam-betas", Adam(lr=0.003, beta1=0.8, beta2=0.99, eps=1e-6)),
]
WITH_DECAY = [(f"{name}-decay", cfg.model_copy(update={"weight_decay": 0.01})) for name, cfg in OPTIMIZERS]
SHAPES = [(30, 18), (18,), (18, 10), (10,)]
BIG = [(300, 180), (180,), (180, 10), (10,)]  # 56,170 parameters: enough for the numba kernel


def bits(arrays) -> list[bytes]:
    return [np.ascontiguousarray(a).tobytes() for a in arrays]


def stepped(engine, monkeypatch, cfg, params, grads_seq, mask=None):
    """params after stepping through grads_seq with `engine`'s stepper, and that stepper."""
    monkeypatch.setenv("DLTRAIN_ENGINE", engine)
    stepper = cfg.build(params, mask)
    for grads in grads_seq:
        stepper.step(grads)
    return params, stepper


def gradient_stream(dtype, steps, shapes=SHAPES, seed=1):
    """Gradients of every scale from 1e-6 to 1e2 (fresh arrays, as a user's list would be)."""
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        yield [(rng.standard_normal(s) * 10.0 ** rng.uniform(-6, 2, size=s)).astype(dtype) for s in shapes]


def fresh_params(dtype, flat: bool, shapes=SHAPES):
    """Random parameters: separate arrays, or a network's views of one vector."""
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s).astype(dtype) for s in shapes]
    if not flat:
        return arrays
    net = Network([Dense(arrays[0], arrays[1], "relu"), Dense(arrays[2], arrays[3], "softmax")], "cross_entropy")
    assert net.flat_params.size == sum(a.size for a in arrays)
    return net.params


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("flat", [True, False], ids=["network-vector", "separate-arrays"])
@pytest.mark.parametrize("cfg", [c[1] for c in OPTIMIZERS + WITH_DECAY], ids=[c[0] for c in OPTIMIZERS + WITH_DECAY])
@pytest.mark.parametrize("engine", FAST)
def test_fast_optimizer_equals_reference_bit_for_bit(monkeypatch, engine, cfg, flat, dtype):
    # 130 steps: two float32 flushes of the fast Adam (every 64); no moment here is small enough to flush
    grads = list(gradient_stream(dtype, steps=130))
    ref, ref_stepper = stepped("reference", monkeypatch, cfg, fresh_params(dtype, flat), grads)
    got, fast_stepper = stepped(engine, monkeypatch, cfg, fresh_params(dtype, flat), grads)
    assert type(ref_stepper) is STEPPERS[cfg.name] and type(fast_stepper) is not type(ref_stepper)
    if engine == "numpy" and isinstance(fast_stepper, FastAdamStep):
        assert fast_stepper._fused is None
    assert all(p.dtype == dtype for p in got)
    assert bits(got) == bits(ref)
    ref_state, fast_state = ref_stepper.state(), fast_stepper.state()
    assert ref_state.keys() == fast_state.keys()
    assert bits(ref_state.values()) == bits(fast_state.values())


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cfg", [Adam(lr=0.01), Adam(lr=0.01, weight_decay=0.01)], ids=["adam", "adam-decay"])
def test_numba_adam_equals_reference_bit_for_bit(monkeypatch, cfg, dtype):
    pytest.importorskip("numba")
    grads = list(gradient_stream(dtype, steps=70, shapes=BIG))
    ref, _ = stepped("reference", monkeypatch, cfg, fresh_params(dtype, True, BIG), grads)
    got, stepper = stepped("fast", monkeypatch, cfg, fresh_params(dtype, True, BIG), grads)
    assert stepper._fused is not None
    assert bits(got) == bits(ref)


def test_weight_decay_mask_is_the_one_definition(monkeypatch):
    """A mask given explicitly overrides the default (weights only) in both engines alike."""
    grads = list(gradient_stream(np.float64, steps=5))
    cfg = Adam(lr=0.01, weight_decay=0.1)
    mask = [False, True, True, False]  # not the default: decays a bias and spares a weight
    ref = stepped("reference", monkeypatch, cfg, fresh_params(np.float64, True), grads, mask)[0]
    got = stepped("numpy", monkeypatch, cfg, fresh_params(np.float64, True), grads, mask)[0]
    default = stepped("numpy", monkeypatch, cfg, fresh_params(np.float64, True), grads)[0]
    assert bits(got) == bits(ref)
    assert bits(default) != bits(got)


def test_float32_flush_is_the_one_difference_and_moves_no_weight(monkeypatch):
    """The fast Adam zeroes float32 moments below 1e-30 every 64 steps; the reference keeps them.
    The weights stay the same bits: such a moment moves a weight by far less than its half ulp."""
    shapes = [(4,)]
    params = {e: [np.array([0.5, -1.0, 2.0, 0.25], np.float32)] for e in ("reference", "numpy")}
    steppers = {}
    for engine, p in params.items():
        monkeypatch.setenv("DLTRAIN_ENGINE", engine)
        steppers[engine] = Adam(lr=0.001).build(p)
        steppers[engine].step([np.array([1e-3, 1e-3, 0.0, 1e-3], np.float32)])
    for stepper in steppers.values():
        state = stepper.state()
        state["m_0"][0] = 1e-31  # a moment decayed towards the subnormal range
        stepper.load_state(state)
        for _ in range(64):
            stepper.step([np.zeros(s, np.float32) for s in shapes])
    ref_m, fast_m = steppers["reference"].state()["m_0"], steppers["numpy"].state()["m_0"]
    assert ref_m[0] != 0 and fast_m[0] == 0
    assert bits(ref_m[1:]) == bits(fast_m[1:])
    assert bits(params["reference"]) == bits(params["numpy"])


def test_engine_switch_rejects_unknown_values(monkeypatch):
    monkeypatch.setenv("DLTRAIN_ENGINE", "turbo")
    with pytest.raises(ConfigError, match="DLTRAIN_ENGINE must be one of fast, numpy, reference"):
        Adam().build([np.zeros(2)])
    monkeypatch.delenv("DLTRAIN_ENGINE")
    assert fast.engine() == "fast"
