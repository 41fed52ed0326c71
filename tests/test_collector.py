"""The cycle collector: off while the `dltrain` command starts, on once a model trains, and
left as a program set it when dltrain is used as a library (dltrain.collector)."""

from __future__ import annotations

import gc
import json
import subprocess
import sys

from conftest import process_env
from sweeps import tiny

from dltrain.config.loader import validate
from dltrain.pipeline.experiment import Experiment

TRAIN_AND_WATCH = f"""
import gc, json
from dltrain import collector
from dltrain.config.loader import validate
from dltrain.pipeline.experiment import Experiment

collector.pause()
enabled_when_paused = gc.isenabled()
exp = Experiment(validate({tiny(validation=0.0, plots=False)!r}))
during = []
exp.train(on_epoch=lambda record: during.append(gc.isenabled()))
print(json.dumps([enabled_when_paused, during, gc.isenabled(), gc.get_freeze_count() > 0]))
"""


def test_a_paused_collector_is_on_again_while_and_after_a_model_trains():
    out = subprocess.run(
        [sys.executable, "-c", TRAIN_AND_WATCH], capture_output=True, text=True, env=process_env(), check=True
    ).stdout
    enabled_when_paused, during, after, frozen = json.loads(out)
    assert not enabled_when_paused
    assert during and all(during) and after  # a sweep's runs in one process: their cycles are collected
    assert frozen  # what start-up made is never walked again


SWEEP_AND_WATCH = f"""
import gc, sys, weakref
from dltrain import collector
from dltrain.sweep import run_sweep

class Node:
    pass

collector.pause()
cycle = Node()
cycle.itself = cycle
garbage = weakref.ref(cycle)
del cycle
run_sweep({tiny(validation=0.0, plots=False, epochs=1)!r}, ["seed=1,2"], runs_dir=sys.argv[1], jobs=2)
print(gc.isenabled(), garbage() is None)
"""


def test_a_sweep_whose_points_train_in_workers_collects_its_own_garbage(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", SWEEP_AND_WATCH, str(tmp_path)],
        capture_output=True,
        text=True,
        env=process_env(),
        check=True,
    ).stdout
    assert out.split() == ["True", "True"]  # the parent never trains, and a sweep can last for days
    # ... and the cycles made before it started were freed, not frozen for its whole life


def test_the_command_line_pauses_the_collector_and_leaves_it_off_when_nothing_trains():
    code = (
        "import gc, sys\nfrom dltrain.__main__ import main\nsys.argv = ['dltrain', 'configs']\n"
        "try:\n    main()\nexcept SystemExit as done:\n    print(gc.isenabled(), done.code or 0, file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=process_env())
    assert proc.stderr.splitlines()[-1] == "False 0"  # `dltrain configs` listed the configs, collector off


def test_a_program_using_dltrain_keeps_its_own_setting():
    exp = Experiment(validate(tiny(validation=0.0, plots=False, epochs=1)))
    frozen = gc.get_freeze_count()
    assert gc.isenabled()
    exp.train()
    assert gc.isenabled() and gc.get_freeze_count() == frozen  # nothing frozen behind the program's back
    gc.disable()
    try:
        exp.train()
        assert not gc.isenabled()  # not turned on either
    finally:
        gc.enable()
