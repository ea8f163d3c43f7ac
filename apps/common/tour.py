"""Run every registered app on its embedded real dataset, export it, and write a report.

`classics tour` trains each app at small scale, exports a SavedModel per app to
`saved_models/<app>/<version>/`, and writes `runs/tour/<timestamp>/report.html`.
"""

import dataclasses
import datetime
import pathlib
import sys
import time

from apps.common.report import Report


@dataclasses.dataclass
class TourContext:
    directory: pathlib.Path  # runs/tour/<timestamp>/: app runs and pictures go under it
    report: Report
    model_root: str  # where exports go


def train_preset(context, config_cls, presets, train, preset="tour"):
    """The opening every app's tour step shares: the app's `preset` config, its runs under
    the tour's directory, trained fresh by the app's `train(config, fresh=True)`.

    Returns (config, run_dir, training seconds); evaluating, exporting and the report
    section stay the app's (their outputs differ by app)."""
    from apps.common import config as config_lib

    config = config_lib.apply_overrides(config_cls(), {**presets[preset], "preset": preset}, preset)
    config = dataclasses.replace(config, runs_dir=str(context.directory / "runs"))
    started = time.monotonic()
    run_dir = train(config, fresh=True)
    return config, run_dir, time.monotonic() - started


def add_arguments(parser) -> None:
    from apps import APPS
    from apps.common.cli import add_model_root_argument

    parser.add_argument("--apps", nargs="+", choices=list(APPS), default=list(APPS),
                        help="only these apps (default: all)")
    add_model_root_argument(parser)
    parser.add_argument("--runs-dir", default="runs", metavar="DIR")


def run(args) -> int:
    from apps import get_app

    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    directory = pathlib.Path(args.runs_dir) / "tour" / stamp
    directory.mkdir(parents=True, exist_ok=True)
    context = TourContext(directory, Report(directory), args.model_root)
    for name in args.apps:
        started = time.monotonic()
        print(f"== tour: {name}", file=sys.stderr)
        get_app(name).tour_step(context)
        print(f"== tour: {name} done in {time.monotonic() - started:.0f} s", file=sys.stderr)
    path = context.report.write()
    print(f"report: {path}")
    return 0
