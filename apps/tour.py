"""Run every registered app on its embedded real dataset, export it, and write a report.

`classics tour` trains each app at small scale (its `tour` preset), exports a SavedModel per
app to `saved_models/<app>/<version>/`, and writes `runs/tour/<timestamp>/report.html`.
"""

import dataclasses
import datetime
import pathlib
import sys
import time

from apps import APPS, get_task
from apps.common.cli import add_model_root_argument
from apps.common.errors import ConfigError
from apps.common.report import Report


@dataclasses.dataclass
class TourContext:
    directory: pathlib.Path  # runs/tour/<timestamp>/: app runs and pictures go under it
    report: Report
    model_root: str  # where exports go
    preset: str = "tour"  # the preset each app's step trains (`tiny`: a quick smoke run)


def add_arguments(parser) -> None:
    parser.add_argument("--apps", nargs="+", choices=list(APPS), default=list(APPS),
                        help="only these apps (default: all)")
    add_model_root_argument(parser)
    parser.add_argument("--runs-dir", default="runs", metavar="DIR")
    parser.add_argument("--preset", default="tour",
                        help="the preset every app's step trains (default: tour; tiny: a quick smoke run)")


def _clock(seconds: float) -> str:
    return f"{int(seconds) // 60}:{int(seconds) % 60:02d}"


def run(args) -> int:
    tasks = [get_task(name) for name in args.apps]
    for task in tasks:  # refused before anything runs
        if args.preset not in task.presets:
            raise ConfigError(f"--preset {args.preset!r}: not a preset of {task.name} "
                              f"(it has {', '.join(sorted(task.presets))})")
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    directory = pathlib.Path(args.runs_dir) / "tour" / stamp
    directory.mkdir(parents=True, exist_ok=True)
    context = TourContext(directory, Report(directory), args.model_root, args.preset)
    started = time.monotonic()
    expected_done = 0.0
    for k, task in enumerate(tasks, start=1):
        elapsed = time.monotonic() - started
        # What is left: the expected seconds of the remaining steps, scaled by how this
        # machine has done on the steps so far.
        speed = elapsed / expected_done if expected_done else 1.0
        left = speed * sum(t.tour_seconds for t in tasks[k - 1:])
        print(f"[{k}/{len(tasks)}] {task.name}  (elapsed {_clock(elapsed)}, about {_clock(left)} left)",
              file=sys.stderr, flush=True)
        step = time.monotonic()
        task.tour(context)
        expected_done += task.tour_seconds
        print(f"[{k}/{len(tasks)}] {task.name} done in {time.monotonic() - step:.0f} s", file=sys.stderr)
    path = context.report.write()
    print(f"report: {path} ({_clock(time.monotonic() - started)} in all)")
    return 0
