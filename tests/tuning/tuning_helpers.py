"""Shared by the tuning tests: reading what a search wrote (child processes: tests/processes.py)."""

import json
import pathlib


def tiny_args(folder):
    """Base config and narrowed space for trials of a few seconds each."""
    return [
        "--preset", "tiny", "--data", f"folder:{folder}",
        "--set", "test_holdout=12", "--set", "val_fraction=0.25",
        "--hp", "width=16", "--hp", "blocks=1", "--hp", "batch_size=32",
    ]


def read_trials(directory):
    import csv

    with open(pathlib.Path(directory) / "trials.csv", newline="") as f:
        return list(csv.DictReader(f))


def launches(trial_dir):
    path = pathlib.Path(trial_dir) / "launches.txt"
    return path.read_text().splitlines() if path.exists() else []


def load_json(path):
    return json.loads(pathlib.Path(path).read_text())
