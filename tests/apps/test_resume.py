"""Training killed with SIGKILL resumes from its last finished epoch when rerun."""

import csv
import os
import signal
import subprocess
import sys
import time

import pytest


@pytest.mark.slow
def test_sigkill_then_rerun_continues(tmp_path):
    runs = tmp_path / "runs"
    cmd = [sys.executable, "-m", "apps", "classification", "train", "--preset", "tiny",
           "--set", "epochs=5", "--set", f"runs_dir={runs}", "--set", "early_stopping_patience=0"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.Popen(cmd, cwd=os.getcwd(), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    log = None
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline:
            logs = list(runs.glob("classification/*/log.csv"))
            if logs and len(logs[0].read_text().splitlines()) >= 4:  # header + 3 epochs
                log = logs[0]
                break
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.2)
        assert log is not None, "training did not reach epoch 3 in time"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finished_before = [int(r["epoch"]) for r in csv.DictReader(log.open())]
    backup = log.parent / "backup"
    assert backup.is_dir() and not (log.parent / "DONE").exists()
    # Make it the worst case: the kill fell while the newest backup was being written.
    latest = backup / "latest.weights.h5"
    assert latest.exists() and (backup / "latest.weights.h5.bkp").exists()
    latest.write_bytes(latest.read_bytes()[: latest.stat().st_size // 2])

    rerun = subprocess.run(cmd, cwd=os.getcwd(), env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"resuming {log.parent}" in rerun.stderr
    epochs = [int(r["epoch"]) for r in csv.DictReader(log.open())]
    resumed_at = epochs[len(finished_before)]
    # The rerun started from the previous backup generation (the newest was cut), so at
    # most two epochs are repeated; never from 0, and every epoch was trained.
    assert resumed_at >= finished_before[-1] - 1 >= 1, (finished_before, epochs)
    assert sorted(set(epochs)) == list(range(5)) and len(epochs) <= 7, (finished_before, epochs)
    assert (log.parent / "DONE").exists() and not (log.parent / "backup").exists()
    assert len(list(runs.glob("classification/*"))) == 1
