"""The generate app's own verb: `sample` (temperature, top-k, seed, prefix) from a run."""

import json
import pathlib
import sys

from apps.common import cli
from apps.common.errors import ConfigError
from apps.generate import render
from apps.generate.data import load_data, training_headers


def music_kind(data) -> str:
    """"notes" for note lines (chorales), "abc" for tunes, "" for plain text (names)."""
    if data.vocabulary.separator:
        return "notes"
    return "abc" if any("\nK:" in "\n" + t for t in data.train[:50]) else ""


def _cmd_sample(task, args):
    if args.n < 1:
        raise ConfigError(f"-n: expected a positive number of samples, got {args.n}")
    if args.temperature is not None and args.temperature < 0:
        raise ConfigError(f"--temperature: expected >= 0 (0: argmax), got {args.temperature}")
    run = task.open(args)
    prefix = args.prefix
    data = load_data(run.config)
    kind = music_kind(data)
    if args.training_headers:
        if kind != "abc":
            raise ConfigError(f"--training-headers: the run's data {run.config.data!r} holds no ABC tunes")
        prefix = [h + args.prefix for h in training_headers(data, args.n, args.seed)]
    entries = task.sample(run, prefix, args.n, args.temperature, args.top_k, args.max_length, args.seed, data=data)
    for entry in entries:
        print(json.dumps(entry, ensure_ascii=False) if args.json else entry["text"])
    if kind and not args.no_files:
        folder = pathlib.Path(args.out) if args.out else run.path / "samples"
        for entry in entries:
            paths, why = render.sample_files(entry["text"], kind, folder, f"sample-seed{entry['seed']}")
            wrote = f"wrote {', '.join(p.name for p in paths)} to {folder}" if paths else ""
            print(f"seed {entry['seed']}: " + "; ".join(filter(None, (wrote, why))), file=sys.stderr)


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
    p.add_argument("--out", metavar="DIR", default=None,
                   help="music runs: where each sample's files go (tunes: .abc, and MIDI and a score picture "
                        "when valid; chorales: MIDI, MusicXML, piano roll, score picture); default <run>/samples")
    p.add_argument("--no-files", action="store_true", help="print the samples only")
    p.set_defaults(func=lambda args: _cmd_sample(task, args))
