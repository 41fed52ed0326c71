"""The fast engine: the reference engine's arithmetic (`dltrain/nn`), arranged for speed.

Read `dltrain/nn` first: it is the math, in plain NumPy. This package computes the same
numbers, operation for operation and bit for bit (`tests/test_engine_paths.py`), with:

- one flat vector holding every parameter, and one holding every gradient (`flat.py`),
  so an update or a copy is one whole-vector operation;
- work buffers per batch size and `out=` writes: nothing allocated per batch
  (`network.py`, with the activations and losses of `kernels.py`);
- Adam in cache-sized blocks, float32 subnormal moments flushed (`optimizers.py`);
- Adam's update as one compiled pass when numba is installed (`numba_adam.py`), and
  in the runs that use it, a ReLU layer's bias and activation as one compiled pass each
  way (`numba_layers.py`).

One switch chooses the engine, the environment variable DLTRAIN_ENGINE:

    fast        (default) this package; numba's kernel where it is installed and repays its start-up
    numpy       this package without numba
    reference   the plain engine of dltrain/nn alone
"""

from __future__ import annotations

import os

from dltrain.errors import ConfigError

ENGINES = ("fast", "numpy", "reference")


def engine() -> str:
    """The engine DLTRAIN_ENGINE chooses (one of ENGINES; 'fast' when unset)."""
    name = os.environ.get("DLTRAIN_ENGINE", "fast") or "fast"
    if name not in ENGINES:
        raise ConfigError(f"DLTRAIN_ENGINE must be one of {', '.join(ENGINES)}, not {name!r}")
    return name


def enabled() -> bool:
    """True unless DLTRAIN_ENGINE=reference."""
    return engine() != "reference"
