"""The app contract: every app is one `Task`, and shared code drives every app through it.

An app subclasses `Task` and fills in what is its own; the skeleton (seed -> data -> run
directory -> model -> compile -> fit -> finish -> evaluate -> export) exists only here:

    class ClassificationTask(Task):
        name, description = "classification", "image classification ..."
        Config, presets = Config, PRESETS
        def load_data(self, config): ...             # splits
        def build_model(self, config, data): ...     # a keras.Model returning logits
        def compile(self, model, config, data): ...  # optimizer, losses, metrics
        def datasets(self, config, data): ...        # (train, validation) for fit
        def evaluate(self, run, options): ...        # metrics dict (and PNGs) of a finished run
        def serving(self, run, options): ...         # (tf.Module, signatures, extra assets)
        def tour(self, context): ...                 # the app's step of `classics tour`

Hooks with defaults cover the training modes: `prepare` (config or data fitted before the
run, e.g. anchors, a vocabulary), `members` + `combine` (an ensemble of seeds, each member a
part of the run), `phases` (staged training, e.g. frozen backbone then fine-tuning, each
phase a part), a model that overrides `train_step` (custom steps still go through
`Run.fit`), `fit` (the whole loop, for an app whose training is not one Keras model's fit),
and `finish` (work on the trained model, e.g. calibration). The standard commands (train,
evaluate, export, predict) are made from the Task by apps/common/commands.py.
"""

import csv
import dataclasses
from collections.abc import Callable

from apps.common import export as export_lib
from apps.common.config import preset_config
from apps.common.run import Run, seed_everything


@dataclasses.dataclass(frozen=True)
class Phase:
    """One stage of training a model: `enter(model)` sets trainability and compiles, then
    `epochs` epochs are fitted. Every phase but the last trains in the run's part `name`."""

    name: str
    epochs: int
    enter: Callable


class Task:
    """What an app is. Class attributes describe it; methods are its pieces."""

    name: str = ""
    description: str = ""
    data_help: str = ""  # the data sources `--data` takes, for `train --help`
    Config: type = None
    presets: dict = {}
    # The log.csv column that picks the checkpoint (and the tuner's objective), and how.
    monitor: str = "val_accuracy"
    mode: str = "max"
    keep: str = "best"  # "best" epoch by `monitor`, or the "last" one
    # `predict`'s positional inputs ("image files", "texts"); None: the app has no predict.
    predicts: str | None = None
    # Seconds the tour step takes on 2 cores (the tour's estimate of what is left).
    tour_seconds: float = 60.0

    # ------------------------------------------------------------ data and model
    def load_data(self, config):
        raise NotImplementedError

    def describe_data(self, data) -> str:
        """One line on the data, printed when a run starts."""
        return ""

    def labels(self, data):
        """Class names saved with the run (labels.txt), or None."""
        return getattr(data, "class_names", None)

    def prepare(self, config, data):
        """(config, data) for training, fitted before the run is claimed (the run's config is
        the prepared one, so a rerun resumes it): e.g. anchors by k-means, a vocabulary."""
        return config, data

    def build_model(self, config, data):
        raise NotImplementedError

    def compile(self, model, config, data, learning_rate=None) -> None:
        raise NotImplementedError

    def datasets(self, config, data) -> tuple:
        """(train, validation) as `fit` takes them."""
        raise NotImplementedError

    # ------------------------------------------------------------ training modes
    def members(self, config) -> int:
        """Models trained with seeds seed, seed+1, ... and combined into one (1: no ensemble)."""
        return 1

    def combine(self, models, config):
        """One model out of the members' models."""
        raise NotImplementedError(f"{self.name} has no ensembles")

    def phases(self, model, config, data) -> list:
        """The stages of training one model; default: one, compiled by `compile`."""
        return [Phase("", config.epochs, lambda m: self.compile(m, config, data))]

    def train(self, config, run_dir=None, fresh: bool = False, verbose=None) -> Run:
        """Train (or resume) a run of `config`; returns the finished Run."""
        seed_everything(config.seed)
        data = self.load_data(config)
        config, data = self.prepare(config, data)
        run = Run.claim(self.name, config, run_dir, fresh)
        about = self.describe_data(data)
        run.say(f"{'resuming' if run.resumed else 'run'} {run.path}" + (f": {about}" if about else ""))
        labels = self.labels(data)
        if labels is not None:
            run.write_labels(labels)
        self.fit(run, config, data, verbose)
        self.finish(run, config, data)
        run.finish()
        return run

    def fit(self, run, config, data, verbose=None) -> None:
        """Train the run's model: one, or `members(config)` combined, each in a part."""
        count = self.members(config)
        if count == 1:
            self.fit_member(run, config, data, verbose)
            return
        models = []
        for i in range(count):
            member = run.part(f"member{i + 1}", dataclasses.replace(config, seed=config.seed + i))
            if not member.done:
                run.say(f"ensemble member {i + 1} of {count}")
                self.fit_member(member, member.config, data, verbose)
            models.append(self.load_model(member))
        run.save_model(self.combine(models, config))
        _mean_log(run, count)

    def fit_member(self, run, config, data, verbose=None) -> None:
        """One model through its phases; each phase but the last in a part of `run`."""
        seed_everything(config.seed)
        model = self.build_model(config, data)
        train, val = self.datasets(config, data)
        phases = self.phases(model, config, data)
        for k, phase in enumerate(phases):
            last = k == len(phases) - 1
            part = run if last else run.part(phase.name, dataclasses.replace(config, epochs=phase.epochs))
            phase.enter(model)
            if part.done:
                model.set_weights(self.load_model(part).get_weights())
                continue
            part.fit(model, train, val, epochs=phase.epochs, monitor=self.monitor, mode=self.mode,
                     keep=self.kept(config), patience=self.patience(config), verbose=verbose)
            if not last:  # the next phase starts from this phase's kept model
                model.set_weights(self.load_model(part).get_weights())

    def patience(self, config) -> int:
        return getattr(config, "early_stopping_patience", 0)

    def kept(self, config) -> str:
        """Which epoch a run keeps: `keep` ("best" by `monitor`, or "last")."""
        return self.keep

    def finish(self, run, config, data) -> None:
        """Work on the trained model before the run is marked done (e.g. calibration)."""

    # ------------------------------------------------------------ using a finished run
    def open(self, options) -> Run:
        """The run a command reads: --run DIR, or the newest finished run."""
        return Run.open(self.name, self.Config, getattr(options, "run", None))

    def load_model(self, run):
        return run.load_model()

    def evaluate(self, run, options=None) -> dict:
        raise NotImplementedError

    def format_evaluation(self, result) -> str:
        return "\n".join(f"{k}: {v}" for k, v in result.items() if not isinstance(v, (dict, list)))

    def serving(self, run, options=None) -> tuple:
        """(tf.Module, {signature name: function}, {assets.extra file: value})."""
        raise NotImplementedError

    def export(self, run, options=None, root="saved_models"):
        """The run as the next version under `root/<app>/`, with its config, labels and metrics."""
        module, signatures, assets = self.serving(run, options)
        metrics = {k: v for k, v in self.evaluate(run, options).items() if not k.endswith("_png")}
        return export_lib.write_saved_model(self.name, module, signatures, root=root, config=run.config,
                                            labels=run.labels, metrics=metrics, extra_assets=assets)

    def predict(self, run, inputs, options=None) -> list:
        """One JSON-able dict per input."""
        raise NotImplementedError

    def format_prediction(self, entry) -> str:
        raise NotImplementedError

    # ------------------------------------------------------------ command line and tour
    def add_arguments(self, command: str, parser) -> None:
        """App flags on a standard command ("train", "evaluate", "export", "predict")."""

    def add_commands(self, sub) -> None:
        """The app's own verbs."""

    def tour(self, context) -> None:
        raise NotImplementedError

    def tour_config(self, context, preset: str | None = None):
        """The preset's config (the tour's, unless named) with runs under the tour's directory."""
        config = preset_config(self.Config, self.presets, preset or context.preset)
        return dataclasses.replace(config, runs_dir=str(context.directory / "runs"))


def _mean_log(run, members: int) -> None:
    """log.csv of an ensemble: per epoch, the mean over the members that ran it (a member
    stopped early contributes to the epochs it ran)."""
    logs = [run.part(f"member{i + 1}").log_rows() for i in range(members)]
    keys = [k for k in logs[0][0] if k != "epoch"] if logs and logs[0] else []
    rows = []
    for epoch in range(max((len(log) for log in logs), default=0)):
        present = [log[epoch] for log in logs if epoch < len(log)]
        rows.append({"epoch": epoch, "members": len(present),
                     **{k: sum(float(r[k]) for r in present) / len(present) for k in keys}})
    with (run.path / "log.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["epoch", "members", *keys])
        writer.writeheader()
        writer.writerows(rows)
