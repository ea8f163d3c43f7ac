"""The one training path: seeds, run directories, callbacks, resume after a kill.

Every app trains through `fit()`; an app that needs a special step overrides
`train_step`/`compute_loss` on its model and still comes through here.

A run directory `runs/<app>/<timestamp>/` holds:
    config.json      the resolved config
    backup/          BackupAndRestore state (removed when the run finishes)
    best.keras       the best model so far (by the monitored metric)
    log.csv          one row per epoch, appended across resumes
    tensorboard/     TensorBoard logs
    PID              the process training it (a live one is never resumed by another)
    DONE             written when training finished; a run without it can be resumed
"""

import csv
import datetime
import json
import math
import os
import pathlib
import sys

from apps.common import config as config_lib
from apps.common.errors import ConfigError
from apps.common.files import pid_alive

DONE_MARKER = "DONE"
BEST_MODEL = "best.keras"


def seed_everything(seed: int) -> None:
    """Python, NumPy and TensorFlow seeds in one call, so runs repeat."""
    import keras

    keras.utils.set_random_seed(int(seed))


def _timestamp() -> str:
    return datetime.datetime.now().strftime("%Y%m%d-%H%M%S")


def _same_config(run_dir: pathlib.Path, config) -> bool:
    try:
        saved = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    return saved == config_lib.to_dict(config)


def prepare_run(app: str, config, run_dir=None, fresh: bool = False) -> tuple[pathlib.Path, bool]:
    """The run directory to train in and whether it resumes an unfinished run.

    Without `run_dir`, the newest unfinished run of `app` with the same config is
    resumed (so rerunning a killed command continues it), unless `fresh`.
    """
    if run_dir is not None:
        run_dir = pathlib.Path(run_dir)
        if (run_dir / "config.json").exists():
            if not _same_config(run_dir, config):
                raise ConfigError(
                    f"{run_dir}: this run was started with a different config "
                    f"(see {run_dir / 'config.json'}); use another --run-dir"
                )
            return run_dir, not (run_dir / DONE_MARKER).exists()
    else:
        root = pathlib.Path(config.runs_dir) / app
        if not fresh and root.is_dir():
            for candidate in sorted(root.iterdir(), reverse=True):
                if (
                    candidate.is_dir()
                    and not (candidate / DONE_MARKER).exists()
                    and (candidate / "backup").is_dir()
                    and _same_config(candidate, config)
                    and not _owned_by_live_process(candidate)
                ):
                    _claim(candidate)
                    return candidate, True
        run_dir = root / _timestamp()
        suffix = 1
        while run_dir.exists():
            suffix += 1
            run_dir = root / f"{_timestamp()}-{suffix}"
    run_dir.mkdir(parents=True, exist_ok=True)
    config_lib.save_config(config, run_dir / "config.json")
    _claim(run_dir)
    return run_dir, False


def _claim(run_dir: pathlib.Path) -> None:
    """Record the training process, so a second `train` started meanwhile does not
    mistake this live run for an interrupted one."""
    (run_dir / "PID").write_text(f"{os.getpid()}\n")


def _owned_by_live_process(run_dir: pathlib.Path) -> bool:
    try:
        pid = int((run_dir / "PID").read_text().strip())
    except (OSError, ValueError):
        return False
    return pid != os.getpid() and pid_alive(pid)


def learning_rate_schedule(config, steps_per_epoch: int):
    """The learning rate as a Keras schedule (or a float for "constant")."""
    import keras

    total = max(1, config.epochs * steps_per_epoch)
    warmup = int(config.warmup_epochs * steps_per_epoch)
    if config.lr_schedule == "constant":
        return config.learning_rate
    if config.lr_schedule == "cosine":
        if warmup:
            return keras.optimizers.schedules.CosineDecay(
                0.0, max(1, total - warmup), warmup_target=config.learning_rate, warmup_steps=warmup
            )
        return keras.optimizers.schedules.CosineDecay(config.learning_rate, total)
    if config.lr_schedule == "exponential":
        return keras.optimizers.schedules.ExponentialDecay(
            config.learning_rate, steps_per_epoch, config.lr_decay_rate
        )
    raise ConfigError(
        f"lr_schedule: expected constant, cosine or exponential, got {config.lr_schedule!r}"
    )


def make_optimizer(config, steps_per_epoch: int):
    import keras

    return keras.optimizers.Adam(
        learning_rate_schedule(config, steps_per_epoch), beta_1=config.beta_1
    )


def _best_logged(log_path: pathlib.Path, monitor: str, mode: str):
    """Best value of `monitor` in an earlier part of this run, so a resume never
    overwrites a better checkpoint with a worse one."""
    if not log_path.exists():
        return None
    values = []
    with log_path.open(newline="") as f:
        for row in csv.DictReader(f):
            try:
                values.append(float(row[monitor]))
            except (KeyError, TypeError, ValueError):
                pass
    values = [v for v in values if math.isfinite(v)]
    if not values:
        return None
    return max(values) if mode == "max" else min(values)


def fit(
    model,
    train_ds,
    val_ds,
    config,
    run_dir,
    *,
    monitor: str = "val_accuracy",
    mode: str = "max",
    keep: str = "best",
    extra_callbacks=(),
    verbose=None,
):
    """`model.fit` with the standard callbacks; returns the History.

    `keep="best"` keeps the epoch with the best `monitor` as best.keras; `keep="last"` the
    final epoch (for a schedule chosen elsewhere, e.g. by cross-validation at its last
    epoch, where a saturated validation metric would pick an arbitrary early epoch).

    Inside a `MultiWorkerMirroredStrategy` scope, trains data-parallel instead
    (apps/common/distribute.py) and returns its summary. The model must already be
    compiled. Interrupted runs resume from the last finished epoch (weights, optimizer
    state and epoch counter from `backup/`).
    """
    import keras

    from apps.common import distribute

    strategy = distribute.active_strategy()
    if strategy is not None:
        summary = distribute.fit_data_parallel(model, train_ds, val_ds, config, run_dir,
                                               monitor=monitor, mode=mode, strategy=strategy)
        (pathlib.Path(run_dir) / DONE_MARKER).write_text(_timestamp() + "\n")
        return summary
    run_dir = pathlib.Path(run_dir)
    best = _best_logged(run_dir / "log.csv", monitor, mode)
    callbacks = [
        # The log first: a kill between the two callbacks then repeats one epoch on
        # resume rather than leaving a trained epoch out of the log.
        keras.callbacks.CSVLogger(str(run_dir / "log.csv"), append=True),
        # Two generations: a kill while the newest backup is being written leaves a
        # half-written HDF5 file, and the previous generation is restored instead.
        keras.callbacks.BackupAndRestore(
            str(run_dir / "backup"), delete_checkpoint=True, double_checkpoint=True
        ),
        keras.callbacks.ModelCheckpoint(
            str(run_dir / BEST_MODEL),
            monitor=monitor,
            mode=mode,
            save_best_only=keep == "best",
            initial_value_threshold=best if keep == "best" else None,
        ),
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.TensorBoard(
            str(run_dir / "tensorboard"), write_graph=False, profile_batch=0
        ),
    ]
    if config.early_stopping_patience > 0:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor=monitor, mode=mode, patience=config.early_stopping_patience
            )
        )
    callbacks.extend(extra_callbacks)
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    history = model.fit(
        train_ds,
        validation_data=val_ds,
        epochs=config.epochs,
        shuffle=False,  # the tf.data pipeline shuffles
        callbacks=callbacks,
        verbose=verbose,
    )
    if not (run_dir / BEST_MODEL).exists():
        # Every epoch produced a non-finite metric: keep the last model rather than nothing.
        model.save(run_dir / BEST_MODEL)
    (run_dir / DONE_MARKER).write_text(_timestamp() + "\n")
    return history


def load_best_model(path, what: str = "run"):
    """The model of a run directory (its best.keras) or of a .keras file, without its
    optimizer; the project's layers are registered for deserialisation. An app whose model
    holds app-specific objects imports the module registering them first."""
    import keras

    import layers  # noqa: F401 - registers the custom layers

    path = pathlib.Path(path)
    if path.is_dir():
        path = path / BEST_MODEL
    if not path.exists():
        raise ConfigError(f"{what}: {path} does not exist (expected a run directory or .keras file)")
    return keras.models.load_model(path, compile=False)


def read_run(config_cls, run_dir) -> tuple:
    """(config, class names) saved in a run directory."""
    run_dir = pathlib.Path(run_dir)
    config = config_lib.load_config(config_cls, run_dir / "config.json")
    labels = (run_dir / "labels.txt").read_text(encoding="utf-8").splitlines()
    return config, labels


def latest_run(app: str, runs_dir: str = "runs") -> pathlib.Path:
    """The newest finished run of `app` (what evaluate/predict/export use by default)."""
    root = pathlib.Path(runs_dir) / app
    if root.is_dir():
        for candidate in sorted(root.iterdir(), reverse=True):
            if (candidate / DONE_MARKER).exists() and (candidate / BEST_MODEL).exists():
                return candidate
    raise ConfigError(
        f"no finished {app} run under {root}; train one first "
        f"(classics {app} train) or pass --run DIR"
    )


def resolve_run(app: str, run=None, runs_dir: str = "runs") -> pathlib.Path:
    if run is None:
        return latest_run(app, runs_dir)
    run = pathlib.Path(run)
    if not (run / BEST_MODEL).exists():
        raise ConfigError(f"{run}: not a finished run (no {BEST_MODEL} inside)")
    return run
