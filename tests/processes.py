"""Child `classics` processes, for the tests that need one: a SIGKILL, a cluster, or stderr
exactly as a user sees it. Each runs in its own process group (killed as a whole)."""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]


def classics(*args, env=None, script=None, as_user=False, **popen):
    """`classics ARGS` (or `python SCRIPT ARGS`) started in its own process group. The test
    session's TF_CPP_MIN_LOG_LEVEL=2 is passed on unless `as_user` (then none is set, as in a
    user's shell); `env` adds variables."""
    child_env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    if not as_user:
        child_env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    # The checkout under test, also for a script outside it (sys.path[0] is the script's folder).
    child_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    child_env.update(env or {}, PYTHONUNBUFFERED="1")
    program = [str(script)] if script else ["-m", "apps"]
    return subprocess.Popen([sys.executable, *program, *map(str, args)], cwd=ROOT, env=child_env,
                            start_new_session=True, **popen)


def run_classics(*args, timeout=600, **kwargs):
    """`classics` run to its end: (return code, stdout, stderr)."""
    proc = classics(*args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        raise
    return proc.returncode, out, err


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


def tour(root, *apps, preset="tiny"):
    """`classics tour --apps APPS --preset PRESET` into root (runs under root/runs, exports under
    root/models), as a user runs it: (the tour's directory, its report.json as a dict)."""
    code, _, err = run_classics("tour", "--apps", *apps, "--preset", preset, "--runs-dir", root / "runs",
                                "--model-root", root / "models")
    assert code == 0, err[-3000:]
    (directory,) = (root / "runs" / "tour").iterdir()
    return directory, json.loads((directory / "report.json").read_text(encoding="utf-8"))
