"""Shortcuts taken once per batch or epoch for speed give exactly what the plain NumPy expressions give."""

from __future__ import annotations

import numpy as np
import pytest

from dltrain.nn.activations import ACTIVATIONS
from dltrain.nn.fast.kernels import ACTIVATION_KERNELS
from dltrain.nn.fast.kernels import mean_row_sum as _mean_row_sum


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mean_row_sum_is_np_mean_of_row_sums_bit_for_bit(dtype):
    rng = np.random.default_rng(0)
    for _ in range(500):
        terms = (rng.standard_normal(rng.integers(1, 400, size=2)) * 10.0 ** rng.uniform(-8, 8)).astype(dtype)
        want, got = np.mean(np.sum(terms, axis=1)), _mean_row_sum(terms)
        assert type(got) is type(want) and got.tobytes() == want.tobytes()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_is_the_two_branch_expression_bit_for_bit(dtype):
    z = np.concatenate(
        [
            np.random.default_rng(1).standard_normal(997) * 40,
            [0.0, -0.0, np.inf, -np.inf, 1e-300, -1e-300, np.nan, -np.nan],
        ]
    )
    z = z.astype(dtype).reshape(-1, 1)
    e = np.exp(-np.abs(z))
    want = np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    out = np.empty_like(z)
    assert ACTIVATIONS["sigmoid"].forward(z).tobytes() == want.tobytes()
    assert ACTIVATION_KERNELS["sigmoid"][0](z, out) is out and out.tobytes() == want.tobytes()
