"""The tutorial logistic regression (Sign Language Digits 0/1, 348 x 4096, float64, 150
full-batch iterations): dltrain's engine time, a direct NumPy transcription of the
tutorial, and the wall time of the whole `dltrain run configs/logreg.yaml`.

    python bench/logreg_sign.py [--repeats 5] [--data-dir DIR]

Engine time: `Experiment.train()` only (data already loaded), the code path of `dltrain run`.
The transcription works on the same split, features as rows as the tutorial writes it.
Two more contenders show where a difference comes from: dltrain's network steps alone
(forward, loss, backward and update, 150 times: the transcription's work, without the
trainer's per-epoch rollback copy, training accuracy and finiteness check), and the
transcription with those per-epoch calls added.
Medians of `--repeats` runs; results in bench/results/logreg_sign-*.json.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
from _common import REPO, OthersMeter, limit_threads, machine, thread_env, wait_for_idle, write_results

CONFIG = REPO / "configs" / "logreg.yaml"


def transcription(X, y, iterations=150, lr=0.01, epoch_records=False):
    """The tutorial's loop. X: (n, 4096) rows as samples -> works on x = X.T (4096, n).

    epoch_records: also do what dltrain's trainer does once per epoch besides the
    arithmetic (a rollback copy of the weights, the training accuracy, a finiteness check).
    """
    labels = y
    x, y = X.T, y.reshape(1, -1).astype(np.float64)
    w, b, m, costs = np.full((x.shape[0], 1), 0.01), 0.0, x.shape[1], []
    mark, predicted, accuracies = np.empty_like(w), np.empty(m, np.int64), []
    for _ in range(iterations):
        if epoch_records:
            np.copyto(mark, w)
        z = w.T @ x + b
        a = 1 / (1 + np.exp(-z))
        costs.append(float(np.sum(-y * np.log(a) - (1 - y) * np.log(1 - a)) / m))
        dw = x @ (a - y).T / m
        db = float(np.sum(a - y) / m)
        w -= lr * dw
        b -= lr * db
        if epoch_records:
            np.greater_equal(a[0], 0.5, out=predicted)
            accuracies.append(np.count_nonzero(predicted == labels) / m)
            if not np.isfinite(w).all():
                raise FloatingPointError("the weights are no longer finite")
    return costs


def network_steps(exp, iterations=150) -> float:
    """Seconds for `iterations` forward/backward passes and updates on the whole training split."""
    trainer, net = exp.trainer, exp.net
    t = time.perf_counter()
    for _ in range(iterations):
        net.loss_and_grads(trainer.X, trainer.Y)
        trainer.optimizer.step(net.grads)
    return time.perf_counter() - t


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data-dir", help="data directory holding sign_digits/ (default: $DLTRAIN_DATA_DIR)")
    a = p.parse_args()
    from dltrain.api import resolve
    from dltrain.pipeline.experiment import Experiment, load_splits

    cfg = resolve(CONFIG, ["output.plots=false"])
    splits = load_splits(cfg, a.data_dir)

    def engine():
        exp = Experiment(cfg, splits=splits)
        t = time.perf_counter()
        exp.train()
        return time.perf_counter() - t

    def direct(**options):
        t = time.perf_counter()
        transcription(*splits.train, **options)
        return time.perf_counter() - t

    contenders = {
        "engine": engine,
        "network_steps": lambda: network_steps(Experiment(cfg, splits=splits)),
        "transcription": direct,
        "transcription_with_epoch_records": lambda: direct(epoch_records=True),
    }
    times, others = {name: [] for name in contenders}, []
    with limit_threads(a.threads):
        for i in range(a.repeats):
            wait_for_idle()
            with OthersMeter() as meter:
                # after the idle wait the core is cold (clock, caches): warm it untimed, and
                # reverse the order every other repeat so no contender always pays for another
                transcription(*splits.train, iterations=20)
                for name in list(contenders)[:: 1 if i % 2 == 0 else -1]:
                    times[name].append(contenders[name]())
            others.append(meter.others)
        exp = Experiment(cfg, splits=splits)
        exp.train()
        gap = max(
            abs(r["train_loss"] - c) for r, c in zip(exp.record("completed").history, transcription(*splits.train))
        )
    cli = []
    with tempfile.TemporaryDirectory() as runs:
        cmd = [sys.executable, "-m", "dltrain", "run", str(CONFIG), "--runs-dir", runs, "--quiet"]
        cmd += ["--data-dir", a.data_dir] if a.data_dir else []
        for _ in range(a.repeats):
            wait_for_idle()
            t = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True, env=thread_env(a.threads))
            cli.append(time.perf_counter() - t)
    doc = {
        "machine": machine(),
        "threads": a.threads,
        **{f"{name}_s": t for name, t in times.items()},
        "cli_wall_s": cli,
        "others_cpu": others,
        "max_cost_difference": gap,
    }
    med = statistics.median
    base = med(times["transcription"])
    print(f"direct NumPy transcription:                 {base:.3f} s")
    print(
        f"engine (Experiment.train, 150 iterations):  {med(times['engine']):.3f} s   ratio {med(times['engine']) / base:.3f}"
    )
    print(
        f"network steps alone (no per-epoch work):    {med(times['network_steps']):.3f} s   ratio {med(times['network_steps']) / base:.3f}"
    )
    records = med(times["transcription_with_epoch_records"])
    print(
        f"transcription + the trainer's epoch work:   {records:.3f} s   ratio {records / base:.3f};"
        f" engine / this {med(times['engine']) / records:.3f}"
    )
    pairs = sorted(e / d for e, d in zip(times["engine"], times["transcription"]))
    print(
        f"engine / transcription within each repeat:  {pairs[0]:.3f} .. {pairs[-1]:.3f} (quartiles {pairs[len(pairs) // 4]:.3f}, {pairs[3 * len(pairs) // 4]:.3f})"
    )
    print(f"whole `dltrain run configs/logreg.yaml`:    {med(cli):.3f} s (incl. plots)")
    print(f"largest cost difference dltrain vs transcription over 150 iterations: {gap:.2e}")
    print(f"results: {write_results('logreg_sign', doc)}")


if __name__ == "__main__":
    main()
