"""`classics`: every registered app's commands, `classics tour`, `classics serve`,
`classics tune` and `classics fetch`. Exit codes: 0 ok, 2 bad input or usage (one line naming
the file, key or value), 1 internal error (CLASSICS_DEBUG=1 or --verbose: the traceback)."""

import argparse

from apps import APPS, get_task, tour
from apps.common import cli, fetch, quiet
from apps.common import serving as serve
from tuning import cli as tune


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="classics", description=__doc__.splitlines()[0],
                                     epilog="--verbose anywhere: TensorFlow's own logs too")
    sub = parser.add_subparsers(dest="app", metavar="<app>", required=True)
    for name in APPS:
        task = get_task(name)
        app_parser = sub.add_parser(name, help=task.description, description=task.description)
        cli.add_task_commands(task, app_parser.add_subparsers(dest="command", metavar="<command>",
                                                              required=True))
    raw = argparse.RawDescriptionHelpFormatter
    for name, module in (("tour", tour), ("serve", serve), ("tune", tune), ("fetch", fetch)):
        p = sub.add_parser(name, help=module.__doc__.splitlines()[0], description=module.__doc__,
                           formatter_class=raw)
        module.add_arguments(p)
        p.set_defaults(func=module.run)
    return parser


def main(argv=None) -> int:
    quiet.import_tensorflow()
    return cli.run_command(cli.parse(build_parser(), argv))
