"""One run directory, for every way an app trains: claimed, resumed, logged and finished here.

    runs/<app>/<timestamp>/
        config.json    the resolved config (a rerun with the same config resumes this run)
        PID            the process training it (a live one is never resumed by another)
        labels.txt     class names, when the app has them
        log.csv        one row per epoch, appended across resumes
        backup/        Keras BackupAndRestore state while an epoch loop runs (removed at its end)
        best.keras     the model the run stands for (best epoch by the monitored metric, or last)
        tensorboard/   TensorBoard logs
        <part>/        a phase (e.g. frozen/) or an ensemble member (member2/): the same layout,
                       with its own DONE, so a rerun skips the parts already finished
        DONE           written when the whole run finished; a run without it is resumed

Every training mode goes through `Run.fit`: a single fit, staged phases and ensemble members
(each a `part`), and custom training steps (a model overriding `train_step`). A SIGKILL at any
point loses at most the epoch in progress: the rerun finds the unfinished run, skips finished
parts and restores the part in progress from its backup.
"""

import csv
import datetime
import json
import math
import os
import pathlib
import sys

import layers  # noqa: F401 - registers the project's layers for loading models
from apps.common import config as config_lib
from apps.common import distribute
from apps.common.errors import ConfigError
from apps.common.files import atomic_write_text, pid_alive, write_json

DONE = "DONE"
BEST_MODEL = "best.keras"
LOG = "log.csv"
LABELS = "labels.txt"
CONFIG = "config.json"


def seed_everything(seed: int) -> None:
    """Python, NumPy and TensorFlow seeds in one call, so runs repeat."""
    import keras

    keras.utils.set_random_seed(int(seed))


def _timestamp() -> str:
    return datetime.datetime.now().strftime("%Y%m%d-%H%M%S")


def read_log(path) -> list[dict]:
    """The rows of a log.csv (the one parser of it: runs, tuning and reports read it here)."""
    path = pathlib.Path(path)
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def best_logged(path, metric: str, mode: str):
    """Best finite value of `metric` in a log.csv, or None."""
    values = []
    for row in read_log(path):
        try:
            values.append(float(row[metric]))
        except (KeyError, TypeError, ValueError):
            pass
    values = [v for v in values if math.isfinite(v)]
    if not values:
        return None
    return max(values) if mode == "max" else min(values)


class Run:
    """A run directory (or a part of one) and what happens in it."""

    def __init__(self, path, config, resumed: bool = False):
        self.path = pathlib.Path(path)
        self.config = config
        self.resumed = resumed

    # ------------------------------------------------------------ claiming
    @classmethod
    def claim(cls, app: str, config, path=None, fresh: bool = False) -> "Run":
        """The run to train in: `path` (resumed if unfinished), else the newest unfinished run
        of `app` with the same config that no live process owns (so rerunning a killed command
        continues it), else a new one. `fresh` never resumes."""
        if path is not None:
            path = pathlib.Path(path)
            if (path / CONFIG).exists():
                if not _same_config(path, config):
                    raise ConfigError(f"{path}: this run was started with a different config "
                                      f"(see {path / CONFIG}); use another --run-dir")
                if (path / DONE).exists():
                    raise ConfigError(f"{path}: this run has finished; use another --run-dir")
                run = cls(path, config, resumed=True)
                run._own()
                return run
        else:
            root = pathlib.Path(config.runs_dir) / app
            if not fresh and root.is_dir():
                for candidate in sorted(root.iterdir(), reverse=True):
                    if (candidate.is_dir() and not (candidate / DONE).exists()
                            and _same_config(candidate, config) and not _owned_by_live_process(candidate)):
                        run = cls(candidate, config, resumed=True)
                        run._own()
                        return run
            path = root / _timestamp()
            suffix = 1
            while path.exists():
                suffix += 1
                path = root / f"{_timestamp()}-{suffix}"
        path.mkdir(parents=True, exist_ok=True)
        config_lib.save_config(config, path / CONFIG)
        run = cls(path, config)
        run._own()
        return run

    @classmethod
    def open(cls, app: str, config_cls, path=None, runs_dir: str = "runs") -> "Run":
        """A finished run: `path`, or the newest finished run of `app`."""
        if path is None:
            root = pathlib.Path(runs_dir) / app
            found = [p for p in sorted(root.iterdir(), reverse=True)
                     if (p / DONE).exists() and (p / CONFIG).exists()] if root.is_dir() else []
            if not found:
                raise ConfigError(f"no finished {app} run under {root}; train one first "
                                  f"(classics {app} train) or pass --run DIR")
            path = found[0]
        path = pathlib.Path(path)
        if not (path / DONE).exists() or not (path / CONFIG).exists():
            raise ConfigError(f"{path}: not a finished run (no {DONE} and {CONFIG} inside)")
        return cls(path, config_lib.load_config(config_cls, path / CONFIG))

    def _own(self) -> None:
        """Record the training process, so a second `train` started meanwhile does not
        mistake this live run for an interrupted one."""
        (self.path / "PID").write_text(f"{os.getpid()}\n")

    # ------------------------------------------------------------ files
    def file(self, name: str) -> pathlib.Path:
        return self.path / name

    def write_json(self, name: str, value) -> pathlib.Path:
        return write_json(self.path / name, value)

    def read_json(self, name: str):
        path = self.path / name
        if not path.exists():
            raise ConfigError(f"{path}: missing (the run did not finish?)")
        return json.loads(path.read_text(encoding="utf-8"))

    def write_labels(self, labels) -> None:
        atomic_write_text(self.path / LABELS, "".join(f"{label}\n" for label in labels))

    @property
    def labels(self):
        """The class names of the run, or None for an app without labels."""
        path = self.path / LABELS
        return path.read_text(encoding="utf-8").splitlines() if path.exists() else None

    def log_rows(self) -> list[dict]:
        return read_log(self.path / LOG)

    def say(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    # ------------------------------------------------------------ parts and models
    @property
    def done(self) -> bool:
        return (self.path / DONE).exists()

    def part(self, name: str, config=None) -> "Run":
        """A phase or member of this run, in its own sub-directory."""
        path = self.path / name
        resumed = path.is_dir()
        path.mkdir(parents=True, exist_ok=True)
        return Run(path, config or self.config, resumed=resumed and not (path / DONE).exists())

    def save_model(self, model) -> pathlib.Path:
        """The run's model (written beside, then renamed: a kill never leaves half a file)."""
        tmp = self.path / f".{BEST_MODEL}.tmp.keras"
        model.save(tmp)
        os.replace(tmp, self.path / BEST_MODEL)
        return self.path / BEST_MODEL

    def load_model(self):
        """best.keras without its optimizer. An app whose model holds app-specific objects
        has imported the module registering them."""
        if not (self.path / BEST_MODEL).exists():
            raise ConfigError(f"{self.path}: no {BEST_MODEL} (the run did not finish)")
        return load_model_file(self.path / BEST_MODEL)

    def finish(self, note: str = "") -> None:
        atomic_write_text(self.path / DONE, (note or _timestamp()) + "\n")
        (self.path / "PID").unlink(missing_ok=True)

    # ------------------------------------------------------------ the one training loop
    def callbacks(self, *, monitor: str, mode: str, keep: str, patience: int) -> list:
        """The standard callbacks of `fit` (tests add a fault here to kill a run mid-epoch)."""
        import keras

        best = best_logged(self.path / LOG, monitor, mode) if keep == "best" else None
        callbacks = [
            # The log first: a kill between the two callbacks then repeats one epoch on
            # resume rather than leaving a trained epoch out of the log.
            keras.callbacks.CSVLogger(str(self.path / LOG), append=True),
            # Two generations: a kill while the newest backup is being written leaves a
            # half-written file, and the previous generation is restored instead.
            keras.callbacks.BackupAndRestore(str(self.path / "backup"), delete_checkpoint=True,
                                             double_checkpoint=True),
            keras.callbacks.ModelCheckpoint(str(self.path / BEST_MODEL), monitor=monitor, mode=mode,
                                            save_best_only=keep == "best", initial_value_threshold=best),
            keras.callbacks.TerminateOnNaN(),
            keras.callbacks.TensorBoard(str(self.path / "tensorboard"), write_graph=False, profile_batch=0),
        ]
        if patience > 0:
            callbacks.append(keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=patience))
        return callbacks

    def fit(self, model, train, val=None, *, epochs: int, monitor: str = "val_accuracy",
            mode: str = "max", keep: str = "best", patience: int = 0, steps_per_epoch=None,
            verbose=None, callbacks=()):
        """`model.fit` with the standard callbacks, resuming this run (or part) from its last
        finished epoch; finishes it. A part already finished is skipped (returns None).

        `keep="best"` keeps the epoch with the best `monitor` as best.keras; `keep="last"` the
        final epoch (word2vec's decayed result, or a schedule chosen elsewhere at its end).
        Inside a `MultiWorkerMirroredStrategy` scope, trains data-parallel instead
        (apps/common/distribute.py). The model must already be compiled. `callbacks` are
        added after the standard ones (e.g. a progress line).
        """
        if self.done:
            return None
        strategy = distribute.active_strategy()
        if strategy is not None:
            summary = distribute.fit_data_parallel(model, train, val, self.config, self.path,
                                                   monitor=monitor, mode=mode, strategy=strategy)
            self.finish()
            return summary
        if verbose is None:
            verbose = 1 if sys.stdout.isatty() else 2
        history = model.fit(
            train, validation_data=val, epochs=epochs, steps_per_epoch=steps_per_epoch,
            shuffle=False,  # the tf.data pipeline shuffles
            callbacks=self.callbacks(monitor=monitor, mode=mode, keep=keep, patience=patience) + list(callbacks),
            verbose=verbose,
        )
        if not (self.path / BEST_MODEL).exists():
            # Every epoch gave a non-finite metric: keep the last model rather than nothing.
            self.save_model(model)
        self.finish()
        return history


def load_model_file(path, what: str = "model"):
    """A run directory's best.keras, or a .keras file, without its optimizer."""
    import keras

    path = pathlib.Path(path)
    if path.is_dir():
        path = path / BEST_MODEL
    if not path.exists():
        raise ConfigError(f"{what}={str(path)!r}: does not exist (expected a run directory or a .keras file)")
    return keras.models.load_model(path, compile=False)


def _same_config(run_dir: pathlib.Path, config) -> bool:
    try:
        saved = json.loads((run_dir / CONFIG).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    return saved == config_lib.to_dict(config)


def _owned_by_live_process(run_dir: pathlib.Path) -> bool:
    try:
        pid = int((run_dir / "PID").read_text().strip())
    except (OSError, ValueError):
        return False
    return pid != os.getpid() and pid_alive(pid)
