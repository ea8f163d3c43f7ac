"""Memory of a search: the searcher's RSS after trial 1 and after trial N.

Ours: `tuning.search.search` in this process (keras-tuner's oracle here, one
subprocess per trial execution); a thread samples this process's RSS when the
k-th trial's run finishes. Reference, measured in the same run: the naive way,
N trials trained one after another inside one process (`train` of the app,
`keras.backend.clear_session()` between trials), in a child process whose RSS is
read the same way. Target: growth from trial 1 to trial N < 10 % for ours.

    python -m benchmarks.run --only tuning_memory [--quick]
"""

import json
import os
import pathlib
import subprocess
import sys
import tempfile
import threading
import time

from benchmarks.common import Row, log

TRIALS, QUICK_TRIALS = 20, 5
TARGET_GROWTH = 10.0  # percent


def _rss_mib() -> float:
    """This process's resident set size (Linux /proc; no psutil dependency)."""
    for line in pathlib.Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def _colour_folder(root: pathlib.Path) -> str:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for c, name in enumerate(["red", "green", "blue"]):
        (root / name).mkdir(parents=True)
        for i in range(40):
            pixels = rng.integers(0, 60, (16, 16, 3), dtype=np.uint8)
            pixels[..., c] = rng.integers(120, 255, (16, 16), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return f"folder:{root}"


def _base(data):
    from apps.classification.config import PRESETS, Config
    from apps.common import config as config_lib

    return config_lib.resolve(
        Config, PRESETS, preset="tiny", data=data,
        sets=["test_holdout=12", "val_fraction=0.25", "early_stopping_patience=0"])


HP = {"width": "16", "blocks": "1", "batch_size": "32"}


def ours(n, workdir: pathlib.Path, data) -> list:
    """RSS (MiB) of this process after each of the n trials of a real search."""
    from apps.common import config as config_lib
    from tuning import search

    settings = search.Settings(app="classification", base=config_lib.to_dict(_base(data)),
                               trials=n, max_epochs=1, hp=HP)
    directory = workdir / "search"
    samples, stop = [], threading.Event()

    def watch():
        seen = 0
        while not stop.is_set():
            done = len(list((directory / "round1").glob("trial_*/execution_0/DONE")))
            if done > seen:
                time.sleep(1.0)  # let the searcher record the trial first
                samples.append(_rss_mib())
                seen = done
            time.sleep(0.2)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        search.search(settings, directory)
    finally:
        time.sleep(1.5)
        stop.set()
        thread.join()
    return samples


def in_process(n, workdir: pathlib.Path, data) -> list:
    """The reference: n trials trained inside one process (run in a child process)."""
    script = (
        "import json, sys, keras\n"
        "from benchmarks.tuning_memory import _in_process_main\n"
        f"print(json.dumps(_in_process_main({n}, {str(workdir)!r}, {data!r})))\n"
    )
    root = pathlib.Path(__file__).resolve().parent.parent
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    out = subprocess.run([sys.executable, "-c", script], cwd=root, env=env, capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _in_process_main(n, workdir, data):
    import dataclasses

    import keras
    import keras_tuner

    from apps import get_task
    from apps.common import config as config_lib
    from tuning import spaces

    base = dataclasses.replace(_base(data), epochs=1)
    hp, _ = spaces.declare("classification", base, HP)
    task = get_task("classification")
    samples = []
    for i in range(n):
        values = {p.name: p.random_sample(seed=i) for p in hp.space}
        config = config_lib.apply_overrides(
            base, spaces.overrides_for("classification", base, values, HP), "trial")
        task.train(config, run_dir=pathlib.Path(workdir) / f"inproc_{i}", verbose=0)
        keras.backend.clear_session()
        samples.append(_rss_mib())
    del keras_tuner
    return samples


def run(quick: bool) -> list:
    n = QUICK_TRIALS if quick else TRIALS
    with tempfile.TemporaryDirectory(prefix="tuning_memory_") as tmp:
        workdir = pathlib.Path(tmp)
        data = _colour_folder(workdir / "colours")
        log(f"tuning_memory: searching {n} trials (one subprocess per trial)")
        start = time.perf_counter()
        mine = ours(n, workdir, data)
        search_seconds = time.perf_counter() - start
        log(f"tuning_memory: {n} trials in one process (reference)")
        ref = in_process(n, workdir, data)
    growth = 100.0 * (mine[-1] - mine[0]) / mine[0]
    ref_growth = 100.0 * (ref[-1] - ref[0]) / ref[0]
    print(f"searcher RSS MiB per trial: {', '.join(f'{v:.0f}' for v in mine)}")
    print(f"in-process RSS MiB per trial: {', '.join(f'{v:.0f}' for v in ref)}")
    note = (f"searcher RSS {mine[0]:.0f} MiB after trial 1, {mine[-1]:.0f} MiB after trial {len(mine)}; "
            f"in-process reference {ref[0]:.0f} -> {ref[-1]:.0f} MiB; {search_seconds:.0f} s for the search")
    return [
        Row(f"tuning: searcher RSS growth, trial 1 -> {n}", growth, "%", reference=ref_growth,
            reference_unit="% in-process", target=f"< {TARGET_GROWTH:g} %",
            ok=len(mine) == n and growth < TARGET_GROWTH, ratio=None, note=note),
        Row("tuning: searcher RSS after trial 1", mine[0], "MiB", reference=ref[0],
            reference_unit="MiB in-process"),
        Row(f"tuning: searcher RSS after trial {n}", mine[-1], "MiB", reference=ref[-1],
            reference_unit="MiB in-process"),
        Row("tuning: seconds per trial (subprocess, 1 epoch, tiny)", search_seconds / n, "s"),
    ]
