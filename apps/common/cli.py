"""`classics <app> <command>`, `classics tour`; exit codes 0 ok, 2 bad input/usage, 1 internal.

Each app adds its commands through `add_commands(subparsers)`; a command's parser
sets `func(args) -> int | None`. Shared flags (`--config`, `--set`, `--preset`,
`--data`) come from `add_config_arguments` so every app reads them the same way.
"""

import argparse
import os
import sys
import traceback

from apps.common import config as config_lib
from apps.common.errors import ClassicsError


def add_config_arguments(parser, presets: dict) -> None:
    group = parser.add_argument_group("config")
    group.add_argument("--config", metavar="FILE", help="JSON file of config keys")
    group.add_argument(
        "--set",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="override one config key (repeatable), e.g. --set epochs=3",
    )
    group.add_argument("--preset", choices=sorted(presets), help="a named set of defaults")
    group.add_argument("--data", help="dataset source (see the app's --help)")


def add_train_arguments(parser, presets: dict) -> None:
    """The flags of every app's `train`: config flags, --run-dir and --fresh."""
    add_config_arguments(parser, presets)
    parser.add_argument("--run-dir", metavar="DIR", help="train into this directory")
    parser.add_argument("--fresh", action="store_true", help="never resume an unfinished run")


def add_run_argument(parser, what: str = "a finished run") -> None:
    """--run DIR: the run a command reads (default: the app's newest)."""
    parser.add_argument("--run", metavar="DIR", help=f"{what} (default: the newest)")


def add_model_root_argument(parser) -> None:
    """--model-root DIR: where exports go, saved_models/<app>/<version>/."""
    parser.add_argument("--model-root", default="saved_models", metavar="DIR",
                        help="folder of <app>/<integer version>/ exports (default: saved_models)")


def add_train_command(sub, presets: dict, func, help: str, description: str):
    """The app's `train` subcommand with the shared training flags; returns its parser for
    app-specific flags."""
    parser = sub.add_parser("train", help=help, description=description)
    add_train_arguments(parser, presets)
    parser.set_defaults(func=func)
    return parser


def add_run_command(sub, name: str, help: str, func, *, what: str = "a finished run",
                    model_root: bool = False):
    """A subcommand that reads one run (--run DIR; with `model_root`, an export's --model-root
    too); returns its parser for further flags."""
    parser = sub.add_parser(name, help=help)
    add_run_argument(parser, what)
    if model_root:
        add_model_root_argument(parser)
    parser.set_defaults(func=func)
    return parser


def config_from_args(app, args, **flags):
    """The app's config resolved from defaults, preset, --config, flags and --set."""
    return config_lib.resolve(
        app.Config,
        app.PRESETS,
        config_file=args.config,
        sets=args.set,
        preset=args.preset,
        data=args.data,
        **flags,
    )


def build_parser() -> argparse.ArgumentParser:
    from apps import APPS, get_app

    parser = argparse.ArgumentParser(
        prog="classics",
        description="Classic deep-learning papers as tested Keras apps.",
    )
    sub = parser.add_subparsers(dest="app", metavar="<app>", required=True)
    for name in APPS:
        app = get_app(name)
        app_parser = sub.add_parser(name, help=app.DESCRIPTION, description=app.DESCRIPTION)
        commands = app_parser.add_subparsers(dest="command", metavar="<command>", required=True)
        app.add_commands(commands)

    from apps.common import tour

    tour_parser = sub.add_parser("tour", help=tour.__doc__.splitlines()[0], description=tour.__doc__)
    tour.add_arguments(tour_parser)
    tour_parser.set_defaults(func=tour.run)

    from apps.common import serving as serve

    serve_parser = sub.add_parser("serve", help="serve every export with TF Serving's REST API (kserve)",
                                  description=serve.__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    serve.add_arguments(serve_parser)
    serve_parser.set_defaults(func=serve.run)

    from tuning import cli as tune

    tune_parser = sub.add_parser("tune", help=tune.__doc__.splitlines()[0], description=tune.__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    tune.add_arguments(tune_parser)
    tune_parser.set_defaults(func=tune.run)
    return parser


def _import_tensorflow_quietly() -> None:
    """Import TensorFlow and find its devices with its C++ start-up chatter filtered.

    TF 2.21 prints INFO lines (oneDNN, CUDA stubs) before absl logging is set up, and
    TF_CPP_MIN_LOG_LEVEL no longer reaches them. They go to file descriptor 2, so the
    descriptor is pointed at a temporary file for the import and every line that is
    not such chatter is written back.
    """
    import tempfile

    noise = ("I0000 ", "WARNING: All log messages before absl::InitializeLog()")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        captured.seek(0)
        for line in captured.read().decode(errors="replace").splitlines():
            if not line.startswith(noise) and "failed call to cuInit" not in line:
                print(line, file=sys.stderr)


def main(argv=None, prog=None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    if prog is not None:
        parser.prog = prog
    args = parser.parse_args(argv)
    try:
        if "tensorflow" not in sys.modules:
            _import_tensorflow_quietly()
        code = args.func(args)
        return 0 if code is None else int(code)
    except ClassicsError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - the boundary that turns crashes into exit 1
        if os.environ.get("CLASSICS_DEBUG"):
            traceback.print_exc()
        else:
            print(
                f"internal error: {type(e).__name__}: {e} (set CLASSICS_DEBUG=1 for the traceback)",
                file=sys.stderr,
            )
        return 1


def app_main(app_name: str) -> int:
    """`python -m apps.<app> ...` is `classics <app> ...`."""
    return main([app_name, *sys.argv[1:]])
