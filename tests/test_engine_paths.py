"""The two engines give the same bits: the reference (`dltrain/nn`, plain NumPy) and the
fast one (`dltrain/nn/fast`: flat vectors, buffers, blocks, numba), chosen by DLTRAIN_ENGINE.

Every optimizer with and without weight decay, in float64 and float32, on a network's
parameter vector and on separate arrays; and whole training runs of every model family.
"""

from __future__ import annotations

import numpy as np
import pytest

from dltrain.errors import ConfigError
from dltrain.nn import fast, network
from dltrain.nn.fast.network import FastNetwork
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


def bits_but_nan_signs(arrays) -> list[bytes]:
    """`bits` with every NaN made one NaN: numba's kernels may keep the other NaN of a NaN + NaN."""
    return bits([np.where(np.isnan(a), np.nan, a).astype(np.asarray(a).dtype) for a in arrays])


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
    net = FastNetwork([Dense(arrays[0], arrays[1], "relu"), Dense(arrays[2], arrays[3], "softmax")], "cross_entropy")
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
@pytest.mark.parametrize("layout", ["network-vector", "separate-arrays", "one-strided"])
def test_numpy_adam_in_many_blocks_equals_reference_bit_for_bit(monkeypatch, layout, dtype):
    """Blocks of 100 elements (748 parameters: eight, the last one short) sharing their work vectors."""
    monkeypatch.setattr(FastAdamStep, "BLOCK", 100)
    grads = list(gradient_stream(dtype, steps=130))

    def params():
        arrays = fresh_params(dtype, layout == "network-vector")
        if layout == "one-strided":  # a Fortran-ordered weight: updated from its own work vector after the blocks
            arrays[2] = np.asfortranarray(arrays[2])
        return arrays

    ref, ref_stepper = stepped("reference", monkeypatch, Adam(lr=0.01), params(), grads)
    got, stepper = stepped("numpy", monkeypatch, Adam(lr=0.01), params(), grads)
    assert len(stepper._blocks) == 8 and stepper._fused is None
    assert bits(got) == bits(ref)
    assert bits(stepper.state().values()) == bits(ref_stepper.state().values())
    state = stepper.state()
    state["m_3"][-1] = 1e-31  # in the last block: the float32 flush reaches it
    stepper.load_state(state)
    for _ in range(stepper.FLUSH_EVERY):
        stepper.step([np.zeros_like(g) for g in grads[0]])
    assert (stepper.m[3][-1] == 0) == (dtype == np.float32)


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


@pytest.mark.parametrize("engine", FAST)
def test_float32_adam_flushes_tiny_moments_as_the_reference_does(monkeypatch, engine):
    """Every 64 steps float32 moments below 1e-30 become zero in both engines. Only the fast one
    did it, and a weight as small as its moment (as weight decay leaves them) then parted: the
    reference's kept moment went on moving it, by more than its half ulp, after the flush."""
    params = {e: [np.array([1e-25, -1.0, 2.0, 0.25], np.float32)] for e in ("reference", engine)}
    steppers = {}
    for name, p in params.items():
        monkeypatch.setenv("DLTRAIN_ENGINE", name)
        steppers[name] = Adam(lr=0.001).build(p)
        steppers[name].step([np.array([0.0, 1e-3, 0.0, 1e-3], np.float32)])
        state = steppers[name].state()
        state["m_0"][0] = 1e-31  # a moment decayed towards the subnormal range
        state["v_0"][2] = 1e-37  # one below TINY_V, still a normal float32
        steppers[name].load_state(state)
        for _ in range(127):  # two flushes, at steps 64 and 128
            steppers[name].step([np.zeros(4, np.float32)])
    ref_m, fast_m = steppers["reference"].state()["m_0"], steppers[engine].state()["m_0"]
    ref_v, fast_v = steppers["reference"].state()["v_0"], steppers[engine].state()["v_0"]
    assert ref_m[0] == fast_m[0] == 0 and ref_m[1] != 0  # a normal moment is never touched
    assert ref_v[2] == fast_v[2] == 0 and ref_v[1] != 0
    assert bits([ref_m, ref_v]) == bits([fast_m, fast_v])
    assert params["reference"][0][0] != np.float32(1e-25)  # the tiny moment did move the tiny weight
    assert bits(params["reference"]) == bits(params[engine])


@pytest.mark.parametrize("engine", FAST)
def test_float32_adam_keeps_moments_equal_to_the_flush_thresholds(monkeypatch, engine):
    """The flush takes moments below TINY_M and TINY_V, not those equal to them, in both engines."""

    def reaching(tiny, beta):  # the float32 moment that one step of beta, with no gradient, takes to tiny
        target, beta = np.float32(tiny), np.float32(beta)
        moment = target / beta
        while moment * beta > target:
            moment = np.nextafter(moment, np.float32(0))
        while moment * beta < target:
            moment = np.nextafter(moment, np.float32(1))
        assert moment * beta == target
        return moment

    cfg = Adam(lr=0.001)
    params = {e: [np.array([1e-25, 1.0], np.float32)] for e in ("reference", engine)}
    steppers = {}
    for name, p in params.items():
        monkeypatch.setenv("DLTRAIN_ENGINE", name)
        steppers[name] = cfg.build(p)
        state = steppers[name].state()
        state["t"] = np.array(FastAdamStep.FLUSH_EVERY - 1)  # the next step flushes
        state["m_0"][0] = reaching(FastAdamStep.TINY_M, cfg.beta1)
        state["v_0"][1] = reaching(FastAdamStep.TINY_V, cfg.beta2)
        steppers[name].load_state(state)
        steppers[name].step([np.zeros(2, np.float32)])
    ref, got = steppers["reference"].state(), steppers[engine].state()
    assert ref["m_0"][0] == np.float32(FastAdamStep.TINY_M) and ref["v_0"][1] == np.float32(FastAdamStep.TINY_V)
    assert bits([ref["m_0"], ref["v_0"]]) == bits([got["m_0"], got["v_0"]])
    assert bits(params["reference"]) == bits(params[engine])


def test_engine_switch_rejects_unknown_values(monkeypatch):
    monkeypatch.setenv("DLTRAIN_ENGINE", "turbo")
    with pytest.raises(ConfigError, match="DLTRAIN_ENGINE must be one of fast, numpy, reference"):
        Adam().build([np.zeros(2)])
    monkeypatch.delenv("DLTRAIN_ENGINE")
    assert fast.engine() == "fast"


# --- networks: forward and backward --------------------------------------------------------

# (hidden activation, output activation, loss, n_out)
PAIRINGS = [
    ("relu", "softmax", "cross_entropy", 3),
    ("tanh", "sigmoid", "bce", 1),
    ("sigmoid", "sigmoid", "bce", 3),  # several sigmoid outputs: bce averages over them too
    ("leaky_relu", "identity", "mse", 2),
    ("identity", "softmax", "mse", 3),
    ("relu", "sigmoid", "sse", 1),
    ("tanh", "tanh", "mse", 2),
    ("leaky_relu", "leaky_relu", "sse", 2),
    ("relu", "relu", "mse", 1),  # a one-unit ReLU layer: NumPy sums its bias gradient pairwise
    ("relu", "relu", "sse", 3),
]
KERNELS = ["numpy", "numba"]  # the fast network's layers on NumPy's kernels, or on numba's where it has them


def twin_networks(hidden, output, loss, n_out, dtype, slope=0.2, seed=0, kernels="numpy"):
    """The same random 5-4-n_out network, built as the reference `Network` and as `FastNetwork`
    (its ReLU layers compiled with kernels="numba", skipped without numba)."""
    rng = np.random.default_rng(seed)
    shapes = [(5, 4), (4,), (4, n_out), (n_out,)]
    arrays = [rng.standard_normal(s).astype(dtype) for s in shapes]

    def layers():
        return [
            Dense(arrays[0].copy(), arrays[1].copy(), hidden, slope),
            Dense(arrays[2].copy(), arrays[3].copy(), output, slope),
        ]

    fast_net = FastNetwork(layers(), loss)
    if kernels == "numba":
        pytest.importorskip("numba")
        fast_net.compile()
        relu = [layer.activation == "relu" and layer.W.shape[1] > 1 for layer in fast_net.layers]
        assert [k[0].__module__.endswith("numba_layers") for k in fast_net._kernels] == relu
    return Network(layers(), loss), fast_net


def batch(n, n_out, loss, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 5)).astype(dtype)
    if loss == "cross_entropy":
        return x, np.eye(n_out, dtype=dtype)[rng.integers(0, n_out, n)]
    if loss == "bce":
        return x, rng.integers(0, 2, (n, n_out)).astype(dtype)
    return x, rng.standard_normal((n, n_out)).astype(dtype)


@pytest.mark.parametrize("kernels", KERNELS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("hidden, output, loss, n_out", PAIRINGS, ids=["-".join(map(str, p)) for p in PAIRINGS])
def test_fast_network_equals_reference_bit_for_bit(hidden, output, loss, n_out, dtype, kernels):
    ref, fast_net = twin_networks(hidden, output, loss, n_out, dtype, kernels=kernels)
    for seed, n in enumerate((7, 1, 7, 64)):  # batch sizes come and go: buffers must not leak between them
        x, y = batch(n, n_out, loss, dtype, seed)
        ref_loss, ref_out = ref.loss_and_grads(x, y)
        got_loss, got_out = fast_net.loss_and_grads(x, y)
        assert np.float64(got_loss).tobytes() == np.float64(ref_loss).tobytes()
        assert bits([got_out, *fast_net.grads]) == bits([ref_out, *ref.grads])
        assert all(g.dtype == dtype for g in fast_net.grads + ref.grads)
        assert bits(fast_net.predict(x)) == bits(ref.predict(x))
        assert fast_net.loss_value(x, y)[0] == ref.loss_value(x, y)[0] == ref_loss
        for p, g in zip(ref.params + fast_net.params, ref.grads + fast_net.grads):
            p -= 0.1 * g  # move on, so that the next batch meets other weights


def test_fast_network_all_finite_is_false_when_any_parameter_is_not():
    """The divergence check reads the whole parameter vector: one bad entry in any layer fails it."""
    for dtype in (np.float64, np.float32):
        for index in (0, 23, -1):  # the first weight, the hidden bias's last entry, the output bias's last
            for bad in (np.nan, np.inf, -np.inf):
                fast_net = twin_networks("relu", "softmax", "cross_entropy", 3, dtype)[1]
                assert fast_net.all_finite()
                fast_net.flat_params[index] = bad
                assert not fast_net.all_finite()


def edge_values(dtype) -> np.ndarray:
    """Where arithmetic shortcuts tend to part from the plain expression: signed zeros, NaN of
    either sign, infinities, the dtype's extremes, exp's overflow thresholds, ties."""
    f = np.finfo(dtype)
    specials = [0.0, -0.0, np.nan, -np.nan, np.inf, -np.inf, f.max, -f.max, f.tiny, -f.smallest_subnormal]
    return np.array([*specials, 88.0, 89.0, 709.0, 710.0, 1.0, 1.0, -1.0], dtype)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("kernels", KERNELS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("hidden, output, loss, n_out", PAIRINGS, ids=["-".join(map(str, p)) for p in PAIRINGS])
def test_fast_network_equals_reference_on_edge_values(hidden, output, loss, n_out, dtype, kernels):
    """Logits given directly (an identity layer) and inputs drawn from `edge_values`, with weights
    of every scale: the same bits in both engines, a NaN's sign included (numba's ReLU layers:
    but for which NaN a NaN + NaN keeps)."""
    rng = np.random.default_rng(2)
    edges = edge_values(dtype)
    eye = np.eye(n_out, dtype=dtype)
    direct = Network([Dense(eye.copy(), None, output)], loss), FastNetwork([Dense(eye.copy(), None, output)], loss)
    for scale in (1.0, 1e3, 1e20):
        ref, fast_net = twin_networks(hidden, output, loss, n_out, dtype, kernels=kernels)
        for p in ref.params + fast_net.params:
            p *= dtype(scale)
        for n in (1, 7, 64):
            y = batch(n, n_out, loss, dtype, seed=n)[1]
            logits = edges[rng.integers(0, len(edges), (n, n_out))]
            for (ref_net, got_net), inputs in (
                (direct, logits),
                ((ref, fast_net), edges[rng.integers(0, len(edges), (n, 5))]),
            ):
                with np.errstate(all="ignore"):
                    ref_loss, ref_out = ref_net.loss_and_grads(inputs, y)
                    got_loss, got_out = got_net.loss_and_grads(inputs, y)
                same = bits if kernels == "numpy" or got_net is direct[1] else bits_but_nan_signs
                assert same([np.float64(got_loss)]) == same([np.float64(ref_loss)])
                assert same([got_out, *got_net.grads]) == same([ref_out, *ref_net.grads])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("hidden, output, loss, n_out", PAIRINGS, ids=["-".join(map(str, p)) for p in PAIRINGS])
def test_evaluation_a_few_rows_at_a_time_is_the_same_in_both_engines(monkeypatch, hidden, output, loss, n_out, dtype):
    """Splits larger than a chunk (3 rows here) are evaluated chunk by chunk, with the same bits in both engines."""
    monkeypatch.setattr(network, "EVAL_BYTES", 3 * 4 * np.dtype(dtype).itemsize)  # 3 rows of the 4-wide layer
    ref, fast_net = twin_networks(hidden, output, loss, n_out, dtype, seed=1)
    assert fast_net.predict(np.empty((0, 5), dtype)).shape == ref.predict(np.empty((0, 5), dtype)).shape == (0, n_out)
    for seed, n in enumerate((7, 1, 5, 64, 301)):  # 3, 1, 2, 22 and 101 chunks
        x, y = batch(n, n_out, loss, dtype, seed)
        assert bits(fast_net.predict(x)) == bits(ref.predict(x))
        got, ref_value = fast_net.loss_value(x, y), ref.loss_value(x, y)
        assert np.float64(got[0]).tobytes() == np.float64(ref_value[0]).tobytes()
        assert bits(got[1]) == bits(ref_value[1]) and got[1].shape == (n, n_out)
        # each row's outputs are those of the layers applied to that row's chunk
        expected = [ref.layers[1].forward(ref.layers[0].forward(x[lo : lo + 3])[1])[1] for lo in range(0, n, 3)]
        assert bits(got[1]) == bits(np.concatenate(expected))


# --- whole training runs of every model family ----------------------------------------------

DIGITS = {"name": "digits", "test_size": 0.2, "validation_split": 0.1, "scaling": "minmax"}
OR_GATE = {"name": "or_gate"}
TWO_TARGETS = {  # several sigmoid outputs in [0, 1]: bce averaged over samples and outputs
    "name": "inline",
    "task": "regression",
    "X": [[0.1 * i, (i % 3) / 3.0, 1.0 - 0.05 * i] for i in range(12)],
    "y": [[(i % 2) * 0.8 + 0.1, i / 12.0] for i in range(12)],
}

# (id, dataset, model, training)
RUNS = [
    ("logreg-softmax", DIGITS, {"type": "logreg"}, {"optimizer": {"name": "adam", "lr": 0.01, "weight_decay": 0.01}}),
    ("logreg-sigmoid", OR_GATE, {"type": "logreg"}, {"optimizer": {"name": "gd", "lr": 0.5}, "batch_size": "full"}),
    (
        "perceptron-rosenblatt",
        OR_GATE,
        {"type": "perceptron", "rule": "rosenblatt"},
        {"batch_size": 1, "shuffle": False, "optimizer": {"name": "gd", "lr": 1.0}},
    ),
    (
        "perceptron-gradient",
        OR_GATE,
        {
            "type": "perceptron",
            "rule": "gradient",
            "activation": "sigmoid",
            "init": {"name": "uniform", "low": 0.0, "high": 1.0},
        },
        {"batch_size": 1, "optimizer": {"name": "sgd", "lr": 0.3, "momentum": 0.5, "weight_decay": 0.01}},
    ),
    (
        "perceptron-gradient-leaky",
        OR_GATE,
        {
            "type": "perceptron",
            "rule": "gradient",
            "activation": "leaky_relu",
            "negative_slope": 0.2,
            "bias": False,
            "init": {"name": "normal", "std": 1.0},
        },
        {"loss": "sse", "batch_size": 2, "optimizer": {"name": "gd", "lr": 0.1}},
    ),
    ("mlp-relu-adam", DIGITS, {"type": "mlp", "hidden": [16]}, {"optimizer": {"name": "adam", "lr": 0.01}}),
    (
        "mlp-tanh-nesterov-decay",
        DIGITS,
        {"type": "mlp", "hidden": [12, 8], "activation": "tanh"},
        {"optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.001}},
    ),
    (
        "mlp-leaky-gd-decay",
        DIGITS,
        {"type": "mlp", "hidden": [16], "activation": "leaky_relu", "negative_slope": 0.1},
        {"optimizer": {"name": "gd", "lr": 0.1, "weight_decay": 0.01}},
    ),
    (
        "mlp-sigmoid-outputs-bce",
        TWO_TARGETS,
        {"type": "mlp", "hidden": [4], "activation": "sigmoid", "output_activation": "sigmoid"},
        {"loss": "bce", "batch_size": 5, "optimizer": {"name": "adam", "lr": 0.05, "weight_decay": 0.01}},
    ),
]


def run_with(engine, monkeypatch, dataset, model, training, dtype):
    """(history rows, weights) of a short run through `Experiment`, the code path of `dltrain run`."""
    from dltrain.api import resolve
    from dltrain.pipeline.experiment import Experiment, weights_of

    monkeypatch.setenv("DLTRAIN_ENGINE", engine)
    cfg = resolve(
        {
            "name": "engines",
            "seed": 5,
            "dataset": dataset,
            "model": model,
            "training": {"epochs": 4, "batch_size": 32, "dtype": dtype, **training},
            "output": {"plots": False},
        }
    )
    exp = Experiment(cfg)
    assert isinstance(exp.net, FastNetwork) == (engine != "reference")
    exp.train()
    history = [(r.train_loss, r.train_accuracy, r.val_loss, r.val_accuracy) for r in exp.trainer.history]
    return history, weights_of(exp.net)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("dataset, model, training", [r[1:] for r in RUNS], ids=[r[0] for r in RUNS])
def test_training_runs_are_bit_identical_in_both_engines(monkeypatch, dataset, model, training, dtype):
    ref_history, ref_weights = run_with("reference", monkeypatch, dataset, model, training, dtype)
    history, weights = run_with("fast", monkeypatch, dataset, model, training, dtype)
    assert len(history) == 4
    assert repr(history) == repr(ref_history)  # every float to the last digit
    assert weights.keys() == ref_weights.keys()
    assert bits(weights.values()) == bits(ref_weights.values())
