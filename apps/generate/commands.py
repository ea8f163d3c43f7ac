"""The generate app's own verb: `sample` (temperature, top-k, seed, prefix) from a run."""

import json

from apps.common import cli
from apps.common.errors import ConfigError
from apps.generate.data import load_data, training_headers


def _cmd_sample(task, args):
    if args.n < 1:
        raise ConfigError(f"-n: expected a positive number of samples, got {args.n}")
    if args.temperature is not None and args.temperature < 0:
        raise ConfigError(f"--temperature: expected >= 0 (0: argmax), got {args.temperature}")
    run = task.open(args)
    prefix = args.prefix
    data = load_data(run.config)
    if args.training_headers:
        if not any(isinstance(t, str) and "\nK:" in "\n" + t for t in data.train[:50]):
            raise ConfigError(f"--training-headers: the run's data {run.config.data!r} holds no ABC tunes")
        prefix = [h + args.prefix for h in training_headers(data, args.n, args.seed)]
    for entry in task.sample(run, prefix, args.n, args.temperature, args.top_k, args.max_length, args.seed,
                             data=data):
        print(json.dumps(entry, ensure_ascii=False) if args.json else entry["text"])


def add_commands(task, sub) -> None:
    p = sub.add_parser("sample", help="sample texts (names, tunes, note lines) from a trained model")
    cli.add_run_argument(p)
    p.add_argument("--prefix", default="", help="the text every sample starts with")
    p.add_argument("--training-headers", action="store_true",
                   help="tunes: start each sample with the M/L/K header of a training tune drawn at random "
                        "(then --prefix); the model writes the body")
    p.add_argument("-n", type=int, default=10, help="how many samples (default 10)")
    p.add_argument("--temperature", type=float, default=None,
                   help="softmax temperature: 1 samples the model's distribution, -> 0 argmax (default: config)")
    p.add_argument("--top-k", type=int, default=None, help="only the k most probable symbols (0: all)")
    p.add_argument("--max-length", type=int, default=None, help="symbols after the prefix, at most")
    p.add_argument("--seed", type=int, default=0, help="sample i uses seed + i: the same seeds, the same samples")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=lambda args: _cmd_sample(task, args))
