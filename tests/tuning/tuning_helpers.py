"""Shared by the tuning tests: child processes of `classics` and reading results."""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]


def tiny_args(folder):
    """Base config and narrowed space for trials of a few seconds each."""
    return [
        "--preset", "tiny", "--data", f"folder:{folder}",
        "--set", "test_holdout=12", "--set", "val_fraction=0.25",
        "--hp", "width=16", "--hp", "blocks=1", "--hp", "batch_size=32",
    ]


def classics(*args, **kwargs):
    """`classics ...` as a child process in its own process group."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.update(kwargs.pop("env", {}))
    return subprocess.Popen([sys.executable, "-m", "apps", *map(str, args)], cwd=ROOT, env=env,
                            start_new_session=True, **kwargs)


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def kill_group(proc, sig=signal.SIGKILL, timeout=30):
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def read_trials(directory):
    import csv

    with open(pathlib.Path(directory) / "trials.csv", newline="") as f:
        return list(csv.DictReader(f))


def launches(trial_dir):
    path = pathlib.Path(trial_dir) / "launches.txt"
    return path.read_text().splitlines() if path.exists() else []


def load_json(path):
    return json.loads(pathlib.Path(path).read_text())
