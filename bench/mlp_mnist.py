"""MNIST MLP 784-256-256-10 (ReLU, softmax cross-entropy, Adam 1e-3, batch 100, float32):
seconds per epoch of dltrain against PyTorch CPU, scikit-learn and plain NumPy, at 1 and 2 threads.

    python bench/mlp_mnist.py [--epochs 4] [--threads 1 2] [--data-dir DIR]

dltrain trains through `dltrain.pipeline.experiment.Experiment` (the code path of `dltrain run`).
PyTorch and plain NumPy start from dltrain's initial weights on the same split;
scikit-learn's MLPClassifier (its own Glorot init) trains one epoch per `partial_fit`.
"matmul floor" times only the eight matrix products of a forward and backward pass per
batch (three forward, three weight gradients, two input gradients), with preallocated
outputs; it runs in a process of its own like the others, and also inside dltrain's,
one floor epoch after each dltrain epoch, so the ratio of the two is taken epoch by epoch
under the same machine state (the line "dltrain / matmul floor"). Each library runs in
its own process with BLAS/OpenMP (and PyTorch) limited to the thread count. Seconds per epoch: the median of epochs 2..N. Results:
bench/results/mlp_mnist-*.json and a table on stdout.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

import numpy as np
from _common import limit_threads, machine, median_after_first, run_worker, write_results

CONFIG = {
    "name": "bench-mlp-mnist",
    "seed": 0,
    "dataset": {"name": "mnist"},
    "model": {"type": "mlp", "hidden": [256, 256], "activation": "relu", "init": {"name": "he"}},
    "training": {
        "loss": "cross_entropy",
        "optimizer": {"name": "adam", "lr": 0.001},
        "epochs": 4,
        "batch_size": 100,
        "dtype": "float32",
        "log_every": 1,
    },
    "output": {"plots": False},
}
PEERS = ("numpy", "torch", "torch_fused", "sklearn")
TRAINING_SET_BYTES = 60000 * 784 * 4  # the float32 training images


def config(epochs: int):
    from dltrain.api import resolve

    return resolve({**CONFIG, "training": {**CONFIG["training"], "epochs": epochs}})


def setup(epochs, data_dir):
    """(splits, initial params [W0, b0, ...]) exactly as dltrain builds them."""
    from dltrain.pipeline.experiment import build_network, load_splits, seeded_rngs

    cfg = config(epochs)
    splits = load_splits(cfg, data_dir)
    net = build_network(cfg, splits, seeded_rngs(cfg.seed)[0])
    return splits, [p.copy() for p in net.params]


def as_arrays(split):
    """A split as (X, y) arrays: dltrain keeps MNIST's images as bytes it reads as floats
    (`dltrain.data.pixels.Pixels`); the other contenders get the float32 array up front."""
    X, y = split
    return np.asarray(X), y


def one_hot(y, dtype=np.float32):
    return np.eye(10, dtype=dtype)[y]


# --- workers: each returns {"epoch_seconds": [...], "test_accuracy": ...} ---------------------


def work_dltrain(epochs, data_dir):
    from dltrain.pipeline.experiment import Experiment

    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    exp = Experiment(config(epochs), data_dir)
    seconds, floor = [], floor_epoch()
    floor_seconds = []

    def on_epoch(record):  # after each epoch (its seconds taken), one epoch of the floor
        seconds.append(record.seconds)
        floor_seconds.append(floor())

    exp.train(on_epoch=on_epoch)
    metrics = exp.metrics()  # the final metrics of every split, as a run saves them: part of the peak
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    ratios = [s / f for s, f in zip(seconds, floor_seconds)]
    return {
        "epoch_seconds": seconds,
        "floor_seconds": floor_seconds,
        "floor_ratio": median_after_first(ratios),
        "test_accuracy": metrics["test"]["accuracy"],
        "peak_rss_bytes": peak,
        "rss_before_data_bytes": rss0,
    }


def work_numpy(epochs, data_dir):
    from plain_numpy import train_epoch

    splits, params = setup(epochs, data_dir)
    (X, y), (Xt, yt) = as_arrays(splits.train), as_arrays(splits.test)
    Y, rng, state, seconds = one_hot(y), np.random.default_rng(1), {}, []
    for _ in range(epochs):
        t = time.perf_counter()
        train_epoch(params, state, X, Y, rng)
        seconds.append(time.perf_counter() - t)
    a = Xt
    for i in range(0, len(params), 2):
        a = a @ params[i] + params[i + 1]
        a = np.maximum(a, 0) if i < len(params) - 2 else a
    return {"epoch_seconds": seconds, "test_accuracy": float(np.mean(a.argmax(1) == yt))}


def work_torch(epochs, data_dir, fused=False):
    import torch

    splits, params = setup(epochs, data_dir)
    (X, y), (Xt, yt) = as_arrays(splits.train), as_arrays(splits.test)
    layers = []
    for i in range(0, len(params), 2):
        lin = torch.nn.Linear(*params[i].shape)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(params[i].T.copy()))
            lin.bias.copy_(torch.from_numpy(params[i + 1]))
        layers += [lin, torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1])
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=fused or None)
    Xt_, X_, y_ = torch.from_numpy(Xt), torch.from_numpy(X), torch.from_numpy(y)
    gen, seconds = torch.Generator().manual_seed(1), []
    for _ in range(epochs):
        t = time.perf_counter()
        order = torch.randperm(len(X_), generator=gen)
        Xs, ys = X_[order], y_[order]
        total = torch.zeros(())
        for lo in range(0, len(Xs), 100):
            loss = torch.nn.functional.cross_entropy(model(Xs[lo : lo + 100]), ys[lo : lo + 100])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach()
        float(total)
        seconds.append(time.perf_counter() - t)
    with torch.no_grad():
        acc = float((model(Xt_).argmax(1).numpy() == yt).mean())
    return {"epoch_seconds": seconds, "test_accuracy": acc, "torch": torch.__version__}


def work_torch_fused(epochs, data_dir):
    return work_torch(epochs, data_dir, fused=True)


def work_sklearn(epochs, data_dir):
    import warnings

    import sklearn
    from sklearn.neural_network import MLPClassifier

    splits, _ = setup(epochs, data_dir)
    (X, y), (Xt, yt) = as_arrays(splits.train), as_arrays(splits.test)
    clf = MLPClassifier(
        hidden_layer_sizes=(256, 256),
        activation="relu",
        solver="adam",
        alpha=0.0,
        batch_size=100,
        learning_rate_init=1e-3,
        shuffle=True,
        random_state=0,
    )
    seconds = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(epochs):
            t = time.perf_counter()
            clf.partial_fit(X, y, classes=np.arange(10))
            seconds.append(time.perf_counter() - t)
    return {"epoch_seconds": seconds, "test_accuracy": float(clf.score(Xt, yt)), "sklearn": sklearn.__version__}


def floor_epoch():
    """A function timing one 'epoch' of the floor: the eight matrix products of a forward and
    backward pass for each of 600 batches, into preallocated outputs; returns its seconds."""
    rng = np.random.default_rng(0)
    f = np.float32
    x = rng.random((100, 784), f)
    W = [rng.random(s, f) for s in ((784, 256), (256, 256), (256, 10))]
    z = [np.empty((100, n), f) for n in (256, 256, 10)]
    g = [np.empty_like(w) for w in W]
    d = [np.empty((100, 256), f) for _ in range(2)]

    def timed_epoch() -> float:
        t = time.perf_counter()
        for _ in range(600):
            np.matmul(x, W[0], out=z[0])
            np.matmul(z[0], W[1], out=z[1])
            np.matmul(z[1], W[2], out=z[2])
            np.matmul(z[1].T, z[2], out=g[2])
            np.matmul(z[2], W[2].T, out=d[1])
            np.matmul(z[0].T, d[1], out=g[1])
            np.matmul(d[1], W[1].T, out=d[0])
            np.matmul(x.T, d[0], out=g[0])
        return time.perf_counter() - t

    return timed_epoch


def work_floor(epochs, data_dir):
    epoch = floor_epoch()
    return {"epoch_seconds": [epoch() for _ in range(epochs)], "test_accuracy": None}


WORKERS = {
    "floor": work_floor,
    "dltrain": work_dltrain,
    "numpy": work_numpy,
    "torch": work_torch,
    "torch_fused": work_torch_fused,
    "sklearn": work_sklearn,
}


def worker(argv):
    p = argparse.ArgumentParser()
    p.add_argument("--worker", choices=WORKERS)
    p.add_argument("--epochs", type=int)
    p.add_argument("--threads", type=int)
    p.add_argument("--data-dir")
    a = p.parse_args(argv)
    if a.worker.startswith("torch"):
        import torch  # noqa: F401  (loaded first so limit_threads sets its pool too)
    with limit_threads(a.threads):
        doc = WORKERS[a.worker](a.epochs, a.data_dir)
    doc["s_per_epoch"] = median_after_first(doc["epoch_seconds"])
    print(json.dumps(doc))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=4, help="epochs per run (the median is over epochs 2..N)")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--only", nargs="+", choices=WORKERS, default=list(WORKERS), help="contenders to run")
    p.add_argument("--data-dir", help="data directory holding mnist/ (default: $DLTRAIN_DATA_DIR)")
    a = p.parse_args()
    extra = ["--data-dir", a.data_dir] if a.data_dir else []
    doc = {"machine": machine(), "epochs": a.epochs, "results": {}}
    for threads in a.threads:
        for name in a.only:
            r = run_worker("mlp_mnist.py", ["--worker", name, "--epochs", str(a.epochs), *extra][1:], threads)
            doc["results"][f"{name}@{threads}"] = r
            print(
                f"{name:12s} {threads} thread(s): {r.get('s_per_epoch', r.get('error'))}", file=sys.stderr, flush=True
            )
    print_table(doc, a.threads, a.only)
    print(f"results: {write_results('mlp_mnist', doc)}")


def print_table(doc, threads_list, names):
    res = doc["results"]
    print(f"\n{'contender':12s} {'thr':>3s} {'s/epoch':>8s} {'test acc':>8s} {'dltrain/x':>9s} {'others':>6s}")
    for threads in threads_list:
        mine = res.get(f"dltrain@{threads}", {}).get("s_per_epoch")
        for name in names:
            r = res[f"{name}@{threads}"]
            s = r.get("s_per_epoch")
            if s is None:
                print(f"{name:12s} {threads:3d} error: {r.get('error')}")
                continue
            acc = f"{r['test_accuracy']:.4f}" if r.get("test_accuracy") is not None else ""
            ratio = f"{mine / s:.2f}" if mine and name != "dltrain" else ""
            print(f"{name:12s} {threads:3d} {s:8.3f} {acc:>8s} {ratio:>9s} {r.get('others_cpu', 0):6.2f}")
    for threads in threads_list:
        d = res.get(f"dltrain@{threads}", {})
        if "floor_ratio" in d:
            print(
                f"dltrain / matmul floor at {threads} thread(s), epoch by epoch in one process: "
                f"{d['floor_ratio']:.2f} (floor {median_after_first(d['floor_seconds']):.3f} s)"
            )
    d = res.get(f"dltrain@{threads_list[0]}", {})
    if "peak_rss_bytes" in d:
        print(
            f"\npeak RSS of the dltrain run: {d['peak_rss_bytes'] / 2**20:.0f} MiB "
            f"({d['rss_before_data_bytes'] / 2**20:.0f} MiB before loading data); "
            f"3x the float32 training set: {3 * TRAINING_SET_BYTES / 2**20:.0f} MiB"
        )


if __name__ == "__main__":
    if "--worker" in sys.argv:
        worker(sys.argv[1:])
    else:
        main()
