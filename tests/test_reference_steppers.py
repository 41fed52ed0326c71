"""The reference engine's steppers (dltrain/nn/optimizers.py) on their own: their state from
the first step on, and a restored stepper continuing bit for bit in float32 and float64."""

from __future__ import annotations

import numpy as np
import pytest

from dltrain.nn.optimizers import GD, STEPPERS, Adam, weight_decay_mask

CONFIGS = {
    "momentum": GD(lr=0.05, momentum=0.9),
    "nesterov": GD(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.01),
    "adam": Adam(lr=0.05, weight_decay=0.01),
}


def reference(cfg, params):
    return STEPPERS[cfg.name](cfg, params, weight_decay_mask(params))


def problem(dtype):
    rng = np.random.default_rng(3)
    params = [rng.normal(size=(3, 2)).astype(dtype), rng.normal(size=2).astype(dtype)]
    grads = [[rng.normal(size=p.shape).astype(dtype) for p in params] for _ in range(6)]
    return params, grads


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_the_state_before_the_first_step_is_zeros_shaped_like_the_parameters(name):
    params, _ = problem(np.float32)
    state = reference(CONFIGS[name], params).state()
    arrays = {key: value for key, value in state.items() if key != "t"}
    assert len(arrays) == (2 if name != "adam" else 4)
    for key, value in arrays.items():
        param = params[int(key.rsplit("_", 1)[1])]
        assert value.shape == param.shape and value.dtype == param.dtype and not value.any(), key


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_a_restored_reference_stepper_continues_bit_for_bit(name, dtype):
    cfg = CONFIGS[name]
    params, grads = problem(dtype)
    original = reference(cfg, params)
    for g in grads[:2]:
        original.step(g)
    saved_params, saved_state = [p.copy() for p in params], original.state()
    for g in grads[2:]:
        original.step(g)

    restored_params = [p.copy() for p in saved_params]
    restored = reference(cfg, restored_params)
    restored.load_state(saved_state)
    for g in grads[2:]:
        restored.step(g)
    for a, b in zip(params, restored_params):
        np.testing.assert_array_equal(a, b)
        assert b.dtype == dtype
    assert all(v.dtype == dtype for k, v in restored.state().items() if k != "t")


@pytest.mark.parametrize("name", ["adam", "nesterov"])
def test_the_fast_steppers_equal_the_reference_on_separate_and_strided_arrays(name):
    # Not one network's parameter vector: separate arrays that straddle Adam's 32K-element
    # blocks, and a Fortran-ordered one that has no flat view and is updated whole.
    from dltrain.nn.fast.optimizers import FAST_STEPPERS

    rng = np.random.default_rng(5)
    shapes = [(300, 150), (45_000,), (40, 30)]
    start = [rng.normal(size=s) for s in shapes]
    start[2] = np.asfortranarray(start[2])
    grads = [[rng.normal(size=s) for s in shapes] for _ in range(3)]
    cfg = CONFIGS[name]
    fast_params, ref_params = [p.copy(order="A") for p in start], [p.copy(order="A") for p in start]
    assert not fast_params[2].flags.c_contiguous
    mask = weight_decay_mask(start)
    fast, ref = FAST_STEPPERS[cfg.name](cfg, fast_params, mask), reference(cfg, ref_params)
    for g in grads:
        fast.step(g)
        ref.step(g)
    for a, b, s in zip(fast_params, ref_params, start):
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, s)
