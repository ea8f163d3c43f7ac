"""The command line of one app, made from its Task; exit codes 0 ok, 2 bad input/usage, 1 internal.

`add_task_commands(task, sub)` gives every app the same standard commands:

    train     config flags (--preset, --config, --set, --data), --run-dir, --fresh
    evaluate  --run DIR (default: the newest finished run)
    export    --run DIR, --model-root DIR -> <model-root>/<app>/<version>/
    predict   INPUT... --run DIR [--json]      (apps whose Task names what it predicts)

then the Task's own verbs (`task.add_commands`). `run_command` is the boundary that turns a
ClassicsError into one line on stderr and exit 2, and anything else into exit 1.
"""

import argparse
import json
import os
import sys
import traceback

from apps.common import config as config_lib
from apps.common import distribute, quiet
from apps.common.errors import ClassicsError


def add_config_arguments(parser, presets: dict) -> None:
    group = parser.add_argument_group("config")
    group.add_argument("--config", metavar="FILE", help="JSON file of config keys")
    group.add_argument("--set", metavar="KEY=VALUE", action="append", default=[],
                       help="override one config key (repeatable), e.g. --set epochs=3")
    # argparse %-formats help strings: a description's "98 %" must reach it as "98 %%".
    described = "; ".join(f"{name}: {p.description}" for name, p in sorted(presets.items()))
    group.add_argument("--preset", choices=sorted(presets), metavar="NAME",
                       help="a named set of defaults: " + described.replace("%", "%%"))
    group.add_argument("--data", help="dataset source (see the app's --help)")


def add_run_argument(parser, what: str = "a finished run") -> None:
    """--run DIR: the run a command reads (default: the app's newest)."""
    parser.add_argument("--run", metavar="DIR", help=f"{what} (default: the newest)")


def add_model_root_argument(parser) -> None:
    """--model-root DIR: where exports go, saved_models/<app>/<version>/."""
    parser.add_argument("--model-root", default="saved_models", metavar="DIR",
                        help="folder of <app>/<integer version>/ exports (default: saved_models)")


MAX_THREADS = 256


def add_thread_arguments(parser) -> None:
    """--intra-op-threads N / --inter-op-threads M: TensorFlow's two thread pools (TF Serving's
    tensorflow_intra_op_parallelism / tensorflow_inter_op_parallelism), for the commands that load
    an export and run it (`classics serve`, the faces verbs); 0 is TensorFlow's own choice.

    The defaults (one intra-op thread, one inter-op thread per usable core) were measured on 2
    cores: a batch-1 request is a graph of small ops, and with TensorFlow's default pools every
    op is split over all cores, whose threads then wait on each other; one thread per op with
    the graph's independent branches side by side is faster (faces' verify_photos 66 -> 49 ms
    a pair, benchmarks/results/faces_shift.txt), and the other apps' serving no slower
    (benchmarks/results/serving.txt)."""
    group = parser.add_argument_group("TensorFlow threads")
    group.add_argument("--intra-op-threads", type=int, default=None, metavar="N",
                       help=f"threads one op may use, 0..{MAX_THREADS} (default 1; 0: TensorFlow's choice)")
    group.add_argument("--inter-op-threads", type=int, default=None, metavar="M",
                       help=f"ops run at once, 0..{MAX_THREADS} (default: the usable cores; 0: TensorFlow's choice)")


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def apply_thread_arguments(args) -> tuple:
    """`set_thread_pools` from --intra-op-threads/--inter-op-threads."""
    return set_thread_pools(args.intra_op_threads, args.inter_op_threads)


def set_thread_pools(intra_op=None, inter_op=None) -> tuple:
    """Set TensorFlow's thread pools (None: the defaults of `add_thread_arguments`) before
    anything runs on them; returns (intra, inter) as TensorFlow then reports them. ClassicsError
    for a value out of 0..MAX_THREADS, or for a value given when this process has already
    started TensorFlow's runtime with other pools (`main()` called from Python); the defaults
    then leave the pools as they are."""
    import tensorflow as tf

    given = (intra_op, inter_op)
    for flag, value in zip(("--intra-op-threads", "--inter-op-threads"), given):
        if value is not None and not 0 <= value <= MAX_THREADS:
            raise ClassicsError(f"{flag}: expected 0 (TensorFlow's choice) to {MAX_THREADS}, got {value}")
    intra = 1 if given[0] is None else given[0]
    inter = usable_cores() if given[1] is None else given[1]
    try:
        tf.config.threading.set_intra_op_parallelism_threads(intra)
        tf.config.threading.set_inter_op_parallelism_threads(inter)
    except RuntimeError:  # the runtime's pools exist already (TensorFlow refuses a change)
        if given != (None, None):
            raise ClassicsError("--intra-op-threads/--inter-op-threads: TensorFlow already runs in this "
                                "process with other thread pools; give them to a new process") from None
    return (tf.config.threading.get_intra_op_parallelism_threads(),
            tf.config.threading.get_inter_op_parallelism_threads())


def config_from_args(task, args, **flags):
    """The app's config resolved from defaults, preset, --config, flags and --set."""
    return config_lib.resolve(task.Config, task.presets, config_file=args.config, sets=args.set,
                              preset=args.preset, data=args.data, **flags)


# ---------------------------------------------------------------- the standard commands
def _train(task, args):
    config = config_from_args(task, args)
    if args.multiworker:
        result = distribute.train_multiworker(task, config, args.run_dir)
        print(f"worker {result['task_index']} of {result['workers']}: final loss {result['loss']:.6f}, "
              f"weights {result['weights']}, run {result['run_dir']}")
        return
    run = task.train(config, run_dir=args.run_dir, fresh=args.fresh)
    print(task.format_evaluation(task.evaluate(run, args)))
    print(f"run: {run.path}")


def _evaluate(task, args):
    result = task.evaluate(task.open(args), args)
    print(json.dumps(result, indent=2, default=str) if args.json else task.format_evaluation(result))


def _export(task, args):
    print(f"exported {task.export(task.open(args), args, root=args.model_root)}")


def _predict(task, args):
    for entry in task.predict(task.open(args), args.inputs, args):
        print(json.dumps(entry, ensure_ascii=False) if args.json else task.format_prediction(entry))


def add_task_commands(task, sub) -> None:
    """The standard commands of `task` and its own verbs, on its subparsers `sub`."""
    p = sub.add_parser("train", help="train a model; rerunning a killed train resumes it",
                       description=f"Train: {task.description}. {task.data_help}")
    add_config_arguments(p, task.presets)
    p.add_argument("--run-dir", metavar="DIR", help="train into this directory")
    p.add_argument("--fresh", action="store_true", help="never resume an unfinished run")
    p.add_argument("--multiworker", action="store_true",
                   help="train data-parallel with MultiWorkerMirroredStrategy, the cluster from TF_CONFIG "
                        "(apps that train through fit in batches)")
    task.add_arguments("train", p)
    p.set_defaults(func=lambda args: _train(task, args))

    p = sub.add_parser("evaluate", help="metrics of a finished run on its test split")
    add_run_argument(p)
    p.add_argument("--json", action="store_true", help="the metrics as JSON")
    task.add_arguments("evaluate", p)
    p.set_defaults(func=lambda args: _evaluate(task, args))

    p = sub.add_parser("export", help=f"write <model-root>/{task.name}/<version>/ (a SavedModel)")
    add_run_argument(p)
    add_model_root_argument(p)
    task.add_arguments("export", p)
    p.set_defaults(func=lambda args: _export(task, args))

    if task.predicts:
        p = sub.add_parser("predict", help=f"answers for {task.predicts}")
        p.add_argument("inputs", nargs="*", metavar="INPUT", help=task.predicts)
        add_run_argument(p)
        p.add_argument("--json", action="store_true", help="one JSON object per line")
        task.add_arguments("predict", p)
        p.set_defaults(func=lambda args: _predict(task, args))

    task.add_commands(sub)


# ---------------------------------------------------------------- the boundary
def run_command(args) -> int:
    """Call `args.func(args)`; ClassicsError -> one line and exit 2, a crash -> exit 1."""
    try:
        code = args.func(args)
        return 0 if code is None else int(code)
    except ClassicsError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - the boundary that turns crashes into exit 1
        if quiet.verbose():
            traceback.print_exc()
        else:
            print(f"internal error: {type(e).__name__}: {e} (set CLASSICS_DEBUG=1 for the traceback)",
                  file=sys.stderr)
        return 1


def parse(parser: argparse.ArgumentParser, argv=None):
    """Parse argv; `--verbose` anywhere turns TensorFlow's logs back on."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--verbose" in argv:
        argv.remove("--verbose")
        os.environ["CLASSICS_DEBUG"] = "1"
    return parser.parse_args(argv)
