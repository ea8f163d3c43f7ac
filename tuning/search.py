"""keras-tuner search over an app's space, one subprocess per trial execution.

Layout of a search directory D:
    search.json            the settings of the first run (a rerun must match them)
    round1/                keras-tuner project: oracle.json, tuner0.json, trial_<id>/
        trial_<id>/execution_<k>/   the app's run directory of that execution
        trial_<id>/execution_<k>.log  its stdout/stderr
    zoom.json, round2/     the `--zoom` round: ranges narrowed around the best trials
    trials.csv             one row per trial of every round
    best_config.json       {"config": {...}, ...}: `classics <app> train --config` takes it
    objective_vs_learning_rate.png

Resume: keras-tuner reloads its oracle (overwrite=False), so finished trials are
kept; the trial that was running when the search was killed goes back to its retry
queue and runs again, and its executions resume from their last finished epoch
(the app's own BackupAndRestore), so the number of trials stays exact.
"""

import csv
import ctypes
import dataclasses
import json
import math
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

from apps import get_task
from apps.common import config as config_lib
from apps.common import report
from apps.common.errors import ConfigError
from apps.common.run import DONE, best_logged
from tuning import spaces

ALGORITHMS = ("random", "hyperband", "bayesian")
HEARTBEAT_SECONDS = 5.0


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything that defines a search (saved as search.json)."""

    app: str
    base: dict  # the resolved base config
    trials: int
    max_epochs: int
    executions_per_trial: int = 1
    algorithm: str = "random"
    hp: dict = dataclasses.field(default_factory=dict)  # --hp NAME=SPEC overrides
    tiers: int | None = None
    zoom: bool = False
    seed: int = 0


def validate(settings: Settings) -> None:
    if settings.trials < 1:
        raise ConfigError(f"--trials: expected a positive number of trials, got {settings.trials}")
    if settings.max_epochs < 1:
        raise ConfigError(f"--max-epochs: expected at least 1, got {settings.max_epochs}")
    if settings.executions_per_trial < 1:
        raise ConfigError(
            f"--executions-per-trial: expected at least 1, got {settings.executions_per_trial}")
    if settings.algorithm not in ALGORITHMS:
        raise ConfigError(f"--algorithm: expected one of {', '.join(ALGORITHMS)}, got {settings.algorithm!r}")


def base_config(settings: Settings):
    return config_lib.apply_overrides(get_task(settings.app).Config(), settings.base, "search.json")


def _objective(settings):
    import keras_tuner

    t = spaces.tunable(settings.app)
    return keras_tuner.Objective(t.objective, direction=t.direction)


def make_oracle(settings: Settings, hp_overrides: dict, round_seed: int, oracle_mixin=None):
    """The keras-tuner oracle of `settings.algorithm` over the app's declared space."""
    import keras_tuner

    hp, _ = spaces.declare(settings.app, base_config(settings), hp_overrides, settings.tiers)
    common = dict(objective=_objective(settings), hyperparameters=hp, seed=round_seed,
                  tune_new_entries=True, allow_new_entries=False, max_retries_per_trial=1)
    if settings.algorithm == "random":
        cls, kwargs = keras_tuner.oracles.RandomSearchOracle, dict(max_trials=settings.trials)
    elif settings.algorithm == "bayesian":
        try:
            import sklearn  # noqa: F401 - keras-tuner's Gaussian process
        except ImportError:
            raise ConfigError("--algorithm bayesian needs scikit-learn: "
                              "pip install 'keras-classics[bayesian]'") from None
        cls, kwargs = keras_tuner.oracles.BayesianOptimizationOracle, dict(max_trials=settings.trials)
    else:
        # Hyperband decides the number of trials from max_epochs and its factor (3).
        cls, kwargs = keras_tuner.oracles.HyperbandOracle, dict(max_epochs=settings.max_epochs)
    if oracle_mixin is not None:
        cls = type(f"{oracle_mixin.__name__}{cls.__name__}", (oracle_mixin, cls), {})
    return cls(**common, **kwargs)


# ---------------------------------------------------------------- one trial
def _set_parent_death_signal():
    """Linux: the trial process gets SIGKILL when the search process dies, so a
    killed search never leaves a trial training on beside its resumed self."""
    try:

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def run_execution(app: str, config, run_dir: pathlib.Path, log_path: pathlib.Path, heartbeat=None,
                  heartbeat_seconds=HEARTBEAT_SECONDS):
    """Train `config` in a fresh Python process into `run_dir`; returns the objective."""
    t = spaces.tunable(app)
    if (run_dir / DONE).exists():
        return best_logged(run_dir / "log.csv", t.objective, t.direction)
    if (run_dir / "config.json").exists() and json.loads(
            (run_dir / "config.json").read_text()) != config_lib.to_dict(config):
        # A trial id re-issued with other values (an oracle that restarted before
        # its first save): the old partial run is not this trial's.

        shutil.rmtree(run_dir)
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    config_path = run_dir.parent / f"{run_dir.name}.config.json"
    config_lib.save_config(config, config_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KERASTUNER_") and k != "TF_CONFIG"}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with log_path.open("a") as log, (run_dir.parent / "launches.txt").open("a") as launches:
        launches.write(f"{run_dir.name} {time.strftime('%Y-%m-%dT%H:%M:%S')}\n")
        launches.flush()
        proc = subprocess.Popen(
            [sys.executable, "-m", "tuning.trial", app, str(config_path), str(run_dir)],
            stdout=log, stderr=subprocess.STDOUT, env=env, preexec_fn=_set_parent_death_signal,
        )
        try:
            while True:
                try:
                    code = proc.wait(timeout=heartbeat_seconds)
                    break
                except subprocess.TimeoutExpired:
                    if heartbeat is not None:
                        heartbeat()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
    if code != 0:
        import keras_tuner

        tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
        message = f"{run_dir}: trial process exited with {code}: {' | '.join(tail)}"
        if code < 0:
            # Killed by a signal (e.g. SIGABRT from a native crash): keras-tuner retries it
            # (max_retries_per_trial), resuming from its last finished epoch.
            raise RuntimeError(message)
        raise keras_tuner.errors.FailedTrialError(message)
    score = best_logged(run_dir / "log.csv", t.objective, t.direction)
    if score is None:
        import keras_tuner

        raise keras_tuner.errors.FailedTrialError(f"{run_dir}: no finite {t.objective} in log.csv")
    return score


def trial_config(settings: Settings, values: dict, hp_overrides: dict, execution: int = 0):
    """The app config one trial (execution) trains with."""
    base = base_config(settings)
    overrides = spaces.overrides_for(settings.app, base, values, hp_overrides, settings.tiers)
    budget = int(values.get("tuner/epochs", settings.max_epochs))
    return config_lib.apply_overrides(
        base, {**overrides, spaces.tunable(settings.app).budget: budget, "seed": base.seed + execution},
        "trial")


def make_tuner(settings: Settings, directory, project: str, hp_overrides: dict, round_seed: int,
               oracle_mixin=None, heartbeat_seconds=HEARTBEAT_SECONDS):
    import keras_tuner

    class SpaceModel(keras_tuner.HyperModel):
        """Declares the app's space; trials never build a model in this process."""

        def build(self, hp):
            return spaces.tunable(settings.app).space(
                spaces.Space(hp, hp_overrides, settings.tiers), base_config(settings))

    class SubprocessTuner(keras_tuner.engine.base_tuner.BaseTuner):
        """Runs each execution of a trial with `run_execution` (a subprocess)."""

        def on_search_begin(self):
            # So a kill during the first trial still finds a project to reload.
            if not self._is_worker():
                self.save()

        def pre_create_trial(self):
            # A worker told to wait (IDLE: others' trials still running) asks again at
            # most once a second instead of spinning on the chief.
            now = time.monotonic()
            last = getattr(self, "_last_ask", 0.0)
            if self._is_worker() and now - last < 1.0:
                time.sleep(1.0)
            self._last_ask = time.monotonic()

        def _heartbeat(self, trial_id):
            if self._is_worker():
                # A cheap call the chief's watchdog counts as "this worker is alive".
                self.oracle.get_trial(trial_id)

        def run_trial(self, trial, *args, **kwargs):
            values = trial.hyperparameters.values
            trial_dir = pathlib.Path(self.get_trial_dir(trial.trial_id))
            scores = []
            for k in range(settings.executions_per_trial):
                config = trial_config(settings, values, hp_overrides, k)
                scores.append(run_execution(
                    settings.app, config, trial_dir / f"execution_{k}",
                    trial_dir / f"execution_{k}.log",
                    heartbeat=lambda: self._heartbeat(trial.trial_id),
                    heartbeat_seconds=heartbeat_seconds,
                ))
            objective = spaces.tunable(settings.app).objective
            print(f"trial {project}/{trial.trial_id}: {objective}={sum(scores) / len(scores):.4f}",
                  file=sys.stderr, flush=True)
            return {objective: sum(scores) / len(scores)}

    oracle = make_oracle(settings, hp_overrides, round_seed, oracle_mixin)
    return SubprocessTuner(oracle, hypermodel=SpaceModel(), directory=str(directory),
                           project_name=project, overwrite=False)


# ---------------------------------------------------------------- zoom
def zoom_ranges(settings: Settings, rows: list, fraction: float = 0.25) -> dict:
    """--hp specs narrowed to the region of the best `fraction` of finished trials.

    Log-sampled floats: [min / 2, max * 2] of the top trials; linear floats: their
    [min, max] widened by a tenth of the first round's range; ints: their [min, max];
    choices: the values the top trials used; all clipped to the first round's ranges.
    """
    hp, space = spaces.declare(settings.app, base_config(settings), settings.hp, settings.tiers)
    fixed = {p.name: p.value for p in hp.space if type(p).__name__ == "Fixed"}
    done = [r for r in rows if r["score"] is not None]
    if not done:
        raise ConfigError("--zoom: no finished trial in round 1 to zoom around")
    reverse = spaces.tunable(settings.app).direction == "max"
    done.sort(key=lambda r: r["score"], reverse=reverse)
    top = done[: max(2, math.ceil(fraction * len(done)))]
    out = {}
    for name, d in space.declared.items():
        if name in fixed:  # fixed by --hp or --tiers: stays fixed
            out[name] = str(fixed[name])
            continue
        vals = [r["values"][name] for r in top if name in r["values"]]
        if not vals:
            continue
        if d.kind == "choice" or len(set(vals)) == 1 and d.kind != "float":
            out[name] = ",".join(str(v) for v in sorted(set(vals), key=str))
        elif d.kind == "float":
            lo_bound, hi_bound = _range_of(d, settings.hp.get(name))
            if d.sampling == "log":
                lo, hi = max(min(vals) / 2, lo_bound), min(max(vals) * 2, hi_bound)
            else:
                pad = 0.1 * (hi_bound - lo_bound)  # so one top trial still leaves a range
                lo, hi = max(min(vals) - pad, lo_bound), min(max(vals) + pad, hi_bound)
            out[name] = f"{lo!r}:{hi!r}"
        else:
            out[name] = f"{int(min(vals))}:{int(max(vals))}"
    return out


def _range_of(d, spec):
    if spec and ":" in spec:
        lo, _, hi = spec.partition(":")
        return float(lo), float(hi)
    return d.low, d.high


# ---------------------------------------------------------------- results
def trial_rows(tuner, round_name: str) -> list:
    rows = []
    for trial_id in sorted(tuner.oracle.trials):
        trial = tuner.oracle.trials[trial_id]
        rows.append(dict(
            round=round_name, trial_id=trial_id, status=trial.status,
            score=trial.score if trial.status == "COMPLETED" else None,
            values=dict(trial.hyperparameters.values),
        ))
    return rows


def write_results(settings: Settings, directory: pathlib.Path, rows: list, rounds: dict) -> dict:
    """trials.csv, best_config.json and the objective-vs-learning-rate PNG."""
    t = spaces.tunable(settings.app)
    names = []
    for r in rows:
        names.extend(n for n in r["values"] if n not in names)
    with (directory / "trials.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["round", "trial_id", "status", t.objective, *names])
        for r in rows:
            writer.writerow([r["round"], r["trial_id"], r["status"],
                             "" if r["score"] is None else r["score"],
                             *(r["values"].get(n, "") for n in names)])
    done = [r for r in rows if r["score"] is not None]
    result = {"trials": len(rows), "completed": len(done)}
    if done:
        best = (max if t.direction == "max" else min)(done, key=lambda r: r["score"])
        config = trial_config(settings, best["values"], rounds[best["round"]])
        payload = {
            "app": settings.app, "objective": t.objective, "direction": t.direction,
            "score": best["score"], "trial": f"{best['round']}/trial_{best['trial_id']}",
            "hyperparameters": best["values"], "config": config_lib.to_dict(config),
        }
        (directory / "best_config.json").write_text(json.dumps(payload, indent=2) + "\n")
        png = objective_png(rows, t, directory / "objective_vs_learning_rate.png")
        result.update(best=payload, png=str(png))
    return result


def objective_png(rows, tunable, path):

    fig = report._figure(6, 4)
    ax = fig.add_subplot()
    for round_name, marker in (("round1", "o"), ("round2", "^")):
        pts = [(r["values"].get("learning_rate"), r["score"]) for r in rows
               if r["round"] == round_name and r["score"] is not None and "learning_rate" in r["values"]]
        if pts:
            ax.scatter([p[0] for p in pts], [p[1] for p in pts], marker=marker, label=round_name, alpha=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel(tunable.objective)
    ax.set_title(f"{tunable.objective} against learning rate")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    path = pathlib.Path(path)
    fig.savefig(path)
    return path


# ---------------------------------------------------------------- the command
def check_settings(directory: pathlib.Path, settings: Settings) -> None:
    """A rerun must be the same search (only --trials may grow)."""
    path = directory / "search.json"
    mine = dataclasses.asdict(settings)
    if path.exists():
        saved = json.loads(path.read_text())
        differ = sorted(k for k in mine if k != "trials" and saved.get(k) != json.loads(json.dumps(mine[k])))
        if differ:
            raise ConfigError(
                f"{directory}: this search was started with other settings ({', '.join(differ)} "
                f"differ; see {path}); rerun it as it was or use another --directory")
    directory.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(mine, indent=2, sort_keys=True) + "\n")


def search(settings: Settings, directory, role=None) -> dict:
    """Run (or resume) the search; returns a summary. `role` is a distributed role
    from tuning/distributed.py (None: a local search)."""
    validate(settings)
    directory = pathlib.Path(directory)
    # Declares the space once, so a bad --hp fails before anything runs.
    spaces.declare(settings.app, base_config(settings), settings.hp, settings.tiers)
    if role is None or role.is_chief:
        check_settings(directory, settings)
    rounds = {"round1": settings.hp}
    rows = _run_round(settings, directory, "round1", settings.hp, settings.seed, role)
    if settings.zoom:
        zoom_path = directory / "zoom.json"
        if zoom_path.exists():
            narrowed = json.loads(zoom_path.read_text())
        else:
            narrowed = zoom_ranges(settings, rows)
            zoom_path.write_text(json.dumps(narrowed, indent=2) + "\n")
        rounds["round2"] = narrowed
        rows += _run_round(settings, directory, "round2", narrowed, settings.seed + 1, role)
    if role is not None and not role.is_chief:
        return {"trials": len(rows), "worker": True}
    return write_results(settings, directory, rows, rounds)


def _run_round(settings, directory, project, hp_overrides, seed, role):
    if role is not None:
        return role.run_round(settings, directory, project, hp_overrides, seed)
    tuner = make_tuner(settings, directory, project, hp_overrides, seed)
    tuner.search()
    return trial_rows(tuner, project)
