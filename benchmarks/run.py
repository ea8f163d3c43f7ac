"""Run the benchmarks and print one table.

    python benchmarks/run.py [--only NAME ...] [--quick]
    python -m benchmarks.run [--only NAME ...] [--quick]

Each benchmark module exposes `run(quick: bool) -> list[Row]`; its reference is
measured in the same run. A missed target is reported (MISSED) but the exit code
stays 0; it is 1 only when a benchmark crashed.
"""

import argparse
import importlib
import os
import pathlib
import sys
import time
import traceback

if __package__ in (None, ""):
    # `python benchmarks/run.py`: make the repository root importable.
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from benchmarks.common import MISSED, Row, environment_header, format_table, load_average  # noqa: E402

# name -> module; the order is the order of the table.
BENCHMARKS = {
    "classification_speed": "benchmarks.classification_speed",
    "classification_fashion": "benchmarks.classification_fashion",
    "rnn_cells": "benchmarks.rnn_cells",
    "detection": "benchmarks.detection",
    "serving": "benchmarks.serving",
    "style": "benchmarks.style",
    "word2vec": "benchmarks.word2vec",
    "faces": "benchmarks.faces",
    "faces_shift": "benchmarks.faces_shift",
    "sentiment": "benchmarks.sentiment",
    "ood": "benchmarks.ood",
    "sentiment_documents": "benchmarks.sentiment_documents",
    "tuning_memory": "benchmarks.tuning_memory",
    "generate": "benchmarks.generate",
    "translation": "benchmarks.translation",
    "translation_bible": "benchmarks.translation_bible",
    "wakeword": "benchmarks.wakeword",
}


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", metavar="NAME", choices=sorted(BENCHMARKS),
                        help=f"run only these ({', '.join(BENCHMARKS)})")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke test: fewer repetitions, tiny training runs")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from apps.common import quiet

    quiet.import_tensorflow()  # TensorFlow's C++ start-up lines stay out of the results
    names = [n for n in BENCHMARKS if not args.only or n in args.only]
    print(environment_header())
    print(f"mode:    {'quick (smoke test, numbers not representative)' if args.quick else 'full'}")
    print(flush=True)

    rows, crashed = [], []
    for name in names:
        start = time.perf_counter()
        print(f"== {name}", flush=True)
        try:
            module = importlib.import_module(BENCHMARKS[name])
            result = module.run(quick=args.quick)
        except Exception:  # noqa: BLE001 - report every benchmark, even after a crash
            traceback.print_exc()
            crashed.append(name)
            rows.append(Row(f"{name}: CRASHED", float("nan"), "", target="runs", ok=False))
        else:
            rows.extend(result)
        print(f"== {name}: {time.perf_counter() - start:.0f} s\n", flush=True)

    print(format_table(rows))
    print(f"\nload at end: {load_average()} (1/5/15 min)")
    missed = [row.name for row in rows if row.ok is False]
    targets = sum(row.ok is not None for row in rows)
    if missed:
        print(f"\n{MISSED}: {len(missed)} of {targets} targets: {'; '.join(missed)}")
    elif targets:
        print(f"\nall {targets} targets met")
    else:
        print("\nno targets in these rows (information only)")
    sys.stdout.flush()
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
