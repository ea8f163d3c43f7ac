"""The app contract, tested the same way for every registered app (as timm tests its registry).

For each app: a tiny `train` killed with SIGKILL in the middle of an epoch (staged and ensemble
apps: in the second phase / member), its stderr free of TensorFlow's C++ chatter -> the rerun
resumes from the last finished epoch -> `evaluate` -> `export` (these in child processes,
beside the other tests) -> the export served through `classics serve` answers as the
in-process SavedModel -> bad config values exit 2. A new app is tested the moment it is
registered; an app missing from CASES fails the registry test.
"""

import contextlib
import functools
import importlib.util
import json
import pathlib
import signal
import textwrap

import numpy as np
import pytest
from processes import run_classics

from apps import APPS, get_task
from apps.cli import main
from apps.common import quiet
from apps.common.run import DONE, read_log

REPO = pathlib.Path(__file__).resolve().parents[2]
# The serving tests' HTTP client and server runner (tests/serve/serve_helpers.py).
_spec = importlib.util.spec_from_file_location("serve_helpers", REPO / "tests" / "serve" / "serve_helpers.py")
serve_helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(serve_helpers)

# app -> (extra --set values for a run of >= 2 epochs of >= 2 batches, the part killed ("" : the run
# itself), the epoch killed in (its batch 0 ends, then SIGKILL), epochs the killed part trains).
CASES = {
    "classification": (["epochs=2", "freeze_epochs=2", "early_stopping_patience=0"], "frozen", 1, 2),
    "detection": (["epochs=2", "train_scenes=64"], "", 1, 2),
    "embeddings": (["epochs=3"], "", 1, 3),
    "style": (["fast_steps=4", "fast_steps_per_epoch=2"], "", 1, 2),
    "faces": (["epochs=2", "steps_per_epoch=4"], "", 1, 2),
    "sentiment": (["ensemble=2", "epochs=2", "batch_size=512"], "member2", 1, 2),
    "translation": (["epochs=2"], "", 1, 2),
    "generate": (["epochs=2"], "", 1, 2),
    "wakeword": (["epochs=2"], "", 1, 2),
}

# Bad values: each must exit 2 with one line naming the key (an app without the key refuses it
# as unknown, also exit 2).
BAD = ["epochs=-3", "batch_size=0", "learning_rate=-1", "no_such_key=1"]

# `classics` as a user runs it (apps/entry.py: TensorFlow imported quietly first), with a
# callback that SIGKILLs the process after batch 0 of the chosen epoch of the chosen part.
KILLER = textwrap.dedent("""
    import os, signal, sys
    from apps.common import quiet
    quiet.import_tensorflow()
    import keras
    from apps.common import run as run_lib

    part, epoch, app = os.environ["KILL_PART"], int(os.environ["KILL_EPOCH"]), sys.argv[1]

    class Kill(keras.callbacks.Callback):
        def __init__(self, path):
            super().__init__()
            self.path, self.epoch = path, None
        def on_epoch_begin(self, e, logs=None):
            self.epoch = e
        def on_train_batch_end(self, batch, logs=None):
            here = self.path.name == part if part else self.path.parent.name == app
            if here and self.epoch == epoch:
                os.kill(os.getpid(), signal.SIGKILL)

    standard = run_lib.Run.callbacks
    run_lib.Run.callbacks = lambda self, **kw: standard(self, **kw) + [Kill(self.path)]
    from apps.entry import main
    sys.exit(main(sys.argv[1:]))
""")


def test_every_registered_app_has_a_contract_case():
    assert sorted(CASES) == sorted(APPS)
    for name in APPS:
        task = get_task(name)
        assert task.name == name and task.description and task.Config is not None
        assert {"default", "tour", "tiny"} <= set(task.presets), name
        assert all(p.description for p in task.presets.values()), name


@pytest.fixture(scope="module")
def exports():
    """Each app's export, once its run was killed, resumed and evaluated: {app: version dir}."""
    return {}


def _train_command(app, runs, sets):
    return [app, "train", "--preset", "tiny", "--set", f"runs_dir={runs}", *sum((["--set", s] for s in sets), [])]


# The same command again, then `evaluate` and `export`, as a user runs them one after another:
# one child process (a TensorFlow start-up per app, not three), each command's stderr after a
# marker line; exits with the first failing command's code. Then the export, loaded as a
# SavedModel in that process, answers its own example requests (every signature), written to
# argv[3] for the served-exports test to compare the server's answers with.
RERUN = textwrap.dedent("""
    import json, pathlib, sys
    from apps.entry import main
    for command in json.loads(sys.argv[1]):
        print("==> classics " + " ".join(command[:2]), file=sys.stderr, flush=True)
        code = main(command)
        if code:
            sys.exit(code)
    import tensorflow as tf
    from apps.common.serving import codec, versions
    (version,) = sorted(pathlib.Path(sys.argv[2]).iterdir())
    answers = {}
    for name, signature in versions.load_version(version).signatures.items():
        request = json.loads((version / "assets.extra" / "examples" / name / "request.json").read_text())
        arrays = codec.input_arrays(signature, codec.parse_body(request))
        outputs = signature.function(**{k: tf.constant(v) for k, v in arrays.items()})
        answers[name] = codec.response_body({k: v.numpy() for k, v in outputs.items()}, columnar=False)
    pathlib.Path(sys.argv[3]).write_text(json.dumps(answers))
""")


def _contract_run(app, root):
    """The job of one app, run as a user runs it: its tiny train SIGKILLed mid-epoch (no
    TF_CPP_MIN_LOG_LEVEL), the run's state after the kill, then the same command again,
    `evaluate` and `export` -> dict of what each step left."""
    sets, part, epoch, _ = CASES[app]
    runs = root / app
    if app == "classification":  # the frozen phase needs a run to start from: one epoch of tiny
        code, _, err = run_classics(*_train_command(app, root / "init", ["epochs=1"]))
        assert code == 0, err[-2000:]
        (init_dir,) = (root / "init" / app).iterdir()
        sets = [*sets, f"init_from={init_dir}"]
    command = _train_command(app, runs, sets)
    killer = root / f"killer_{app}.py"
    killer.write_text(KILLER)
    killed = run_classics(*command, env={"KILL_PART": part, "KILL_EPOCH": str(epoch)}, script=killer,
                          as_user=True)
    result = {"runs": runs, "killed": killed}
    if killed[0] != -signal.SIGKILL:
        return result
    (run_dir,) = [p for p in (runs / app).iterdir() if p.is_dir()]
    killed_dir = run_dir / part if part else run_dir
    result.update(run_dir=run_dir, killed_dir=killed_dir, models=root / "saved_models",
                  done_after_kill=[(run_dir / DONE).exists(), (killed_dir / DONE).exists()],
                  epochs_after_kill=[int(r["epoch"]) for r in read_log(killed_dir / "log.csv")],
                  finished_before={p.name: (p / DONE).stat().st_mtime for p in run_dir.iterdir()
                                   if (p / DONE).exists()})
    commands = [command, [app, "evaluate", "--run", str(run_dir)],
                [app, "export", "--run", str(run_dir), "--model-root", str(result["models"])]]
    rerun = root / f"rerun_{app}.py"
    rerun.write_text(RERUN)
    result["answers"] = root / f"answers_{app}.json"
    result["rerun"] = run_classics(json.dumps(commands), result["models"] / app, result["answers"], script=rerun)
    return result


def background_jobs(request, root):
    """The killed runs and their reruns start with the session (tests/conftest.py) and run beside
    other tests: those of the selected apps (every app's when the served-exports test is selected)."""
    mine = [item for item in request.session.items if item.module.__name__ == __name__]
    apps = {item.callspec.params["app"] for item in mine if hasattr(item, "callspec")
            and item.originalname == test_train_killed_mid_epoch_resumes_then_evaluates_and_exports.__name__}
    jobs = {}
    if any(item.originalname == test_every_export_is_served_as_the_in_process_savedmodel.__name__ for item in mine):
        apps = set(CASES)
        # After the last app's export: the server starts on them beside other tests, and stops
        # when the session ends.
        jobs["contract served"] = functools.partial(_start_server, root / "saved_models", request.addfinalizer)
    return {**{f"contract {app}": functools.partial(_contract_run, app, root) for app in sorted(apps)}, **jobs}


def _start_server(models, addfinalizer):
    """`classics serve` on every export the contract jobs wrote: its port (stopped at session end)."""
    stack = contextlib.ExitStack()
    addfinalizer(stack.close)
    port, _, _ = stack.enter_context(serve_helpers.running_server(models))
    return port


@pytest.mark.slow
@pytest.mark.background
@pytest.mark.parametrize("app", sorted(CASES))
def test_train_killed_mid_epoch_resumes_then_evaluates_and_exports(app, exports, jobs):
    done = exports
    _, part, epoch, epochs = CASES[app]
    result = jobs.result(f"contract {app}")
    code, _, stderr = result["killed"]
    assert code == -signal.SIGKILL, stderr[-2000:]
    # Quiet by default: none of TensorFlow's C++ start-up or runtime lines, no retracing warnings
    # (start-up, data, building, a whole epoch with validation and checkpoints, then the kill).
    noise = [line for line in stderr.splitlines() if quiet.is_noise(line) or "retracing" in line]
    assert not noise, noise
    run_dir, killed_dir, runs = result["run_dir"], result["killed_dir"], result["runs"]
    assert result["done_after_kill"] == [False, False]
    assert result["epochs_after_kill"] == list(range(epoch))

    code, _, err = result["rerun"]
    train_err, evaluate_err, export_err = err.split("==> classics ")[1:]
    assert code == 0, err[-3000:]
    assert f"resuming {run_dir}" in train_err
    assert [p for p in (runs / app).iterdir() if p.is_dir()] == [run_dir]  # no second run
    # Every epoch of the killed part trained once: resumed at the epoch the kill interrupted.
    assert [int(r["epoch"]) for r in read_log(killed_dir / "log.csv")] == list(range(epochs))
    assert (run_dir / DONE).exists() and not (killed_dir / "backup").exists()
    for name, mtime in result["finished_before"].items():  # finished parts were not trained again
        assert (run_dir / name / DONE).stat().st_mtime == mtime, name
    assert evaluate_err.startswith(f"{app} evaluate") and export_err.startswith(f"{app} export")
    (version,) = sorted((result["models"] / app).iterdir())
    assert (version / "saved_model.pb").exists() and (version / "assets.extra" / "config.json").exists()
    done[app] = version, json.loads(result["answers"].read_text())


@pytest.mark.slow
@pytest.mark.background
def test_every_export_is_served_as_the_in_process_savedmodel(exports, jobs):
    """Each app's example request (written by its export) through `classics serve` equals the
    answer of the SavedModel loaded in the process that exported it, for every signature."""
    from apps.common import request_examples

    done = exports
    assert sorted(done) == sorted(CASES), "run the train/export contract tests first"
    client = serve_helpers.Client(jobs.result("contract served"))
    for app, (version, answers) in sorted(done.items()):
        assert sorted(answers) == sorted(request_examples.signature_defs(version)), app
        for name, expected in answers.items():
            request = json.loads((version / "assets.extra" / "examples" / name / "request.json").read_text())
            status, body, _ = client.post(f"/v1/models/{app}:predict", request)
            assert status == 200, (app, name, body)
            _assert_close(body["predictions"], expected["predictions"], f"{app}/{name}")


def _assert_close(got, expected, where):
    if isinstance(expected, dict):
        assert set(got) == set(expected), where
        for key in expected:
            _assert_close(got[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert len(got) == len(expected), where
        for g, e in zip(got, expected):
            _assert_close(g, e, where)
    elif isinstance(expected, float):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5, err_msg=where)
    else:
        assert got == expected, where


@pytest.mark.parametrize("app", sorted(CASES))
@pytest.mark.parametrize("bad", BAD)
def test_bad_config_values_exit_2_naming_the_key(app, bad, capsys, tmp_path):
    code = main([app, "train", "--preset", "tiny", "--set", f"runs_dir={tmp_path}", "--set", bad])
    err = capsys.readouterr().err
    assert code == 2, err
    key = bad.split("=")[0]
    assert err.startswith("error: ") and key in err and len(err.strip().splitlines()) == 1, err
    assert not any(tmp_path.iterdir())  # nothing was started
