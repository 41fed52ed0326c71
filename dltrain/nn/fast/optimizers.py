"""The fast engine's steppers: `dltrain/nn/optimizers.py`'s updates, arranged for speed.

    stepper = FAST_STEPPERS[cfg.name](cfg, params, decay_mask, steps)
    stepper.step(grads); stepper.state(); stepper.load_state(state)

The same interface and state keys as the reference steppers, and the same bits: every
operation of the textbook expression, in the same order, rounded in the same dtype; only
where the results are written and how many elements one NumPy call covers differ.
"""

from __future__ import annotations

import numpy as np

from dltrain.nn import optimizers as reference
from dltrain.nn.fast import engine
from dltrain.nn.fast.flat import SpanMemo, flat_span, packed


class GDStep:
    """Gradient descent with optional momentum, L2 weight decay and Nesterov (see `optimizers.GD`).

    Plain w -= lr g (the full-batch tutorials, one step per epoch) is one whole-vector
    operation on a network's parameter vector; everything else is per array, into buffers.
    """

    def __init__(self, cfg, params, decay_mask, steps=None):
        self.cfg, self.params, self.decay_mask = cfg, params, decay_mask
        self.lr = cfg.lr  # the rate of the next steps (see optimizers)
        self.velocity = [np.zeros_like(p) for p in params] if cfg.momentum else None
        self._flat_tmp, self._tmp = packed(params)  # lr * g, built without allocating
        self._flat, self._grad_span = flat_span(params), SpanMemo()

    def step(self, grads):
        cfg = self.cfg
        if self.velocity is None and not cfg.weight_decay:
            flat_g = self._grad_span(grads)
            if self._flat is not None and flat_g is not None and len(flat_g) == len(self._flat):
                self._flat -= np.multiply(flat_g, self.lr, out=self._flat_tmp)  # all parameters at once
                return
            for p, g, tmp in zip(self.params, grads, self._tmp):
                p -= np.multiply(g, self.lr, out=tmp)
            return
        for i, (p, g) in enumerate(zip(self.params, grads)):
            if cfg.weight_decay and self.decay_mask[i]:
                g = g + cfg.weight_decay * p
            if self.velocity is not None:
                v = self.velocity[i]
                v *= cfg.momentum  # v = mu v + g
                v += g
                if cfg.nesterov:  # g + mu v
                    g = np.add(g, np.multiply(v, cfg.momentum, out=self._tmp[i]), out=self._tmp[i])
                else:
                    g = v
            p -= np.multiply(g, self.lr, out=self._tmp[i])

    def state(self) -> dict[str, np.ndarray]:
        """A snapshot (copies): later steps do not change it."""
        return {f"velocity_{i}": v.copy() for i, v in enumerate(self.velocity or [])}

    def load_state(self, state):
        for i, v in enumerate(self.velocity or []):
            v[...] = state[f"velocity_{i}"]


class AdamStep:
    """Adam's state and update (see `optimizers.Adam`), run over all parameters at once.

    The moments m and v are two vectors laid out like the flat gradients (the network's
    gradients end to end); `self.m[i]`, `self.v[i]` are views shaped like params[i]. Each
    step is twelve in-place NumPy operations per block of BLOCK elements, small enough to
    stay in the CPU cache between operations; the work vectors (on a network's parameter
    vector, both of them) are one block long and shared by all blocks, so they stay in
    cache from block to block. They are the operations of the plain expressions, in the
    same order, so the result is the same bit for bit.

    Subnormal floats: every FLUSH_EVERY steps, float32 moments below TINY_M and TINY_V are
    set to zero, as the reference does (its docstring says why); float64 is left exactly as
    the arithmetic gives it.

    With numba installed and enough work (`_fused_update`), the twelve operations run as
    one compiled pass instead (`numba_adam.py`), with the same bits.
    """

    BLOCK = 32768  # elements per block: the six float32 blocks of a step (m, v, g, p, two work) take 768 KiB
    FLUSH_EVERY = reference.AdamStep.FLUSH_EVERY
    TINY_M, TINY_V = reference.AdamStep.TINY_M, reference.AdamStep.TINY_V

    def __init__(self, cfg, params, decay_mask, steps=None):
        self.cfg, self.params, self.decay_mask = cfg, params, decay_mask
        self.lr = cfg.lr  # the rate of the next steps (see optimizers)
        self._m, self.m = packed(params)
        self._v, self.v = packed(params)
        self._g, self._g_views = packed(params)  # gradients copied here when not already one vector
        self._flush = self._m.dtype == np.float32
        blocks = self._block_views()
        self._slices = [block for block, *_ in blocks]
        # per block: views of m, v, the two work vectors and the (param piece, update piece) pairs, made once
        self._blocks = [(self._m[b], self._v[b], tmp, upd, pieces) for b, tmp, upd, pieces in blocks]
        self._g_of_blocks, self._g_blocks = None, []
        self._fused = _fused_update(params, self._m, self._v, steps)
        self._grad_span = SpanMemo()
        self.t = 0

    def _block_views(self):
        """Per block of the flat vectors: its slice, its two work vectors and (param piece, update piece) pairs.

        Every block reuses one block-sized `tmp`, which stays in cache, and, when the
        parameters are a network's one vector, one block-sized update vector too. Otherwise
        the update vector is whole, and a parameter that is not C-contiguous (no flat view)
        takes its update from it after the blocks.
        """
        self._strided = []
        n, dtype = len(self._m), self._m.dtype
        tmp = np.empty(min(n, self.BLOCK), dtype)
        flat = flat_span(self.params)
        if flat is not None:
            upd = np.empty(min(n, self.BLOCK), dtype)
            blocks = []
            for start in range(0, n, self.BLOCK):
                size = min(self.BLOCK, n - start)
                blocks.append(
                    (slice(start, start + size), tmp[:size], upd[:size], [(flat[start : start + size], upd[:size])])
                )
            return blocks
        upd = np.empty_like(self._m)
        bounds, lo = [], 0
        for p, u in zip(self.params, packed(self.params, buffer=upd)[1]):
            if p.flags.c_contiguous:
                bounds.append((lo, lo + p.size, p.reshape(-1)))
            else:
                self._strided.append((p, u))
            lo += p.size
        blocks = []
        for start in range(0, lo, self.BLOCK):
            stop = min(start + self.BLOCK, lo)
            pieces = [
                (p_flat[max(start, a) - a : min(stop, b) - a], upd[max(start, a) : min(stop, b)])
                for a, b, p_flat in bounds
                if a < stop and b > start
            ]
            blocks.append((slice(start, stop), tmp[: stop - start], upd[start:stop], pieces))
        return blocks

    def _flat_grads(self, grads) -> np.ndarray:
        """One vector holding every gradient, weight decay added: the network's own when it can be."""
        decays = self.cfg.weight_decay and any(self.decay_mask)
        span = None if decays else self._grad_span(grads)
        if span is not None and len(span) == len(self._g):
            return span
        for i, (p, g) in enumerate(zip(self.params, grads)):
            if decays and self.decay_mask[i]:
                # g + weight_decay * p, as the plain expression rounds it
                np.add(g, np.multiply(p, self.cfg.weight_decay, out=self._g_views[i]), out=self._g_views[i])
            else:
                np.copyto(self._g_views[i], g)
        return self._g

    def step(self, grads):
        cfg = self.cfg
        self.t += 1
        # the reference's step size and epsilon (Python floats keep float32 arrays in float32)
        step_size = self.lr * (1 - cfg.beta2**self.t) ** 0.5 / (1 - cfg.beta1**self.t)
        eps_hat = cfg.eps * (1 - cfg.beta2**self.t) ** 0.5
        c1, c2 = 1 - cfg.beta1, 1 - cfg.beta2
        flat_g = self._flat_grads(grads)
        if self._fused is not None:
            self._fused(flat_g, (cfg.beta1, c1, cfg.beta2, c2, step_size, eps_hat))
        else:
            self._numpy_step(flat_g, c1, c2, step_size, eps_hat)
        if self._flush and self.t % self.FLUSH_EVERY == 0:
            self._flush_tiny()

    def _numpy_step(self, flat_g, c1, c2, step_size, eps_hat):
        b1, b2 = self.cfg.beta1, self.cfg.beta2
        if flat_g is not self._g_of_blocks:  # the blocks' views of the gradient vector, made once per vector
            self._g_of_blocks, self._g_blocks = flat_g, [flat_g[block] for block in self._slices]
        for g, (m, v, tmp, upd, pieces) in zip(self._g_blocks, self._blocks):
            m *= b1  # m = beta1 m + (1 - beta1) g
            m += np.multiply(g, c1, out=tmp)
            v *= b2  # v = beta2 v + (1 - beta2) g^2
            np.multiply(g, g, out=tmp)
            tmp *= c2
            v += tmp
            np.multiply(m, step_size, out=upd)  # p -= step_size m / (sqrt(v) + eps_hat)
            np.sqrt(v, out=tmp)
            tmp += eps_hat
            upd /= tmp
            for p, u in pieces:
                p -= u
        for p, u in self._strided:
            p -= u

    def _flush_tiny(self):
        for m, v, tmp, *_ in self._blocks:
            for moment, tiny in ((m, self.TINY_M), (v, self.TINY_V)):
                np.abs(moment, out=tmp)
                np.copyto(moment, 0.0, where=tmp < tiny)

    @property
    def compiled(self) -> bool:
        """Whether numba's kernel runs the update (numba is then loaded)."""
        return self._fused is not None

    # The reference engine's checkpoint, so either engine resumes the other's: t and copies of m, v.
    state = reference.AdamStep.state

    def load_state(self, state):
        self.t = int(state["t"])
        for i, (m, v) in enumerate(zip(self.m, self.v)):
            m[...], v[...] = state[f"m_{i}"], state[f"v_{i}"]  # in place: m[i], v[i] view the flat vectors


# numba's one-pass update saves about 1.5 ns per parameter and step over NumPy's twelve
# passes, against about 0.4 s to import numba and load its cached kernel (0.55 s when it
# compiles it the first time): used when a run has at least FUSED_MIN_WORK parameter-steps,
# which repays that about twice (MNIST's 270k-parameter MLP: from 4 epochs of 600 steps).
FUSED_MIN_PARAMS = 50_000  # smaller vectors stay in cache, where NumPy's passes are cheap anyway
FUSED_MIN_WORK = 6e8


def _fused_update(params, m, v, steps):
    """Adam's one-pass update compiled by numba (`dltrain[fast]`), or None where NumPy's passes run:
    numba not installed, DLTRAIN_ENGINE=numpy, too little work to repay the compile, or a strided parameter.

    `steps`: how many steps the run will take (None: unknown, decide on the size alone).
    The returned update(g, constants) gives the same bits as `AdamStep`'s NumPy operations.
    """
    size = sum(p.size for p in params)
    if size < FUSED_MIN_PARAMS or (steps is not None and size * steps < FUSED_MIN_WORK):
        return None
    if engine() == "numpy" or not all(p.flags.c_contiguous for p in params):
        return None
    if m.dtype not in (np.float32, np.float64):
        return None
    try:
        from dltrain.nn.fast import numba_adam
    except ImportError:
        return None
    return numba_adam.Update(params, m, v)


FAST_STEPPERS = {"gd": GDStep, "sgd": GDStep, "adam": AdamStep}
