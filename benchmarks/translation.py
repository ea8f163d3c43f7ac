"""Translation: the course's date translator per language against python-dateutil's parser,
and KJV -> Reina-Valera 1909 verses against an IBM Model 1 word-by-word baseline.

Dates (rows `dates ...`): the app's `default` preset trained here (fresh, seed 1337), then
its export's greedy decoding on the held-out date strings (no string is in two splits),
exact match per language (en = en_US + en_GB), targets en >= 99.5 %, fr/de/es >= 97 %.
The reference on the same inputs: `dateutil.parser.parse(text)` (its defaults: month first
for numeric dates, a year of two digits within 50 years of today), a date counted right
when its ISO form equals the reference; a text it refuses counts as wrong.

    python -m benchmarks.run --only translation | tee benchmarks/results/translation.txt
"""

import collections
import dataclasses
import datetime
import pathlib
import tempfile
import time

from benchmarks.common import Row, at_least, log

WORKDIR = pathlib.Path(tempfile.gettempdir()) / "classics-bench-translation"
DATE_TARGETS = {"en": 0.995, "fr": 0.97, "de": 0.97, "es": 0.97}


def _config(preset, **overrides):
    from apps.common.config import preset_config
    from apps.translation.config import PRESETS, Config

    config = preset_config(Config, PRESETS, preset)
    return dataclasses.replace(config, runs_dir=str(WORKDIR / "runs"), **overrides)


def dateutil_iso(text):
    """dateutil's reading of `text` as an ISO date, or None when it refuses it."""
    from dateutil import parser

    try:
        return parser.parse(text, default=datetime.datetime(2000, 1, 1)).date().isoformat()
    except (ValueError, OverflowError):  # ParserError is a ValueError
        return None


def _by_language(hits, groups):
    tallies = collections.defaultdict(lambda: [0, 0])
    for hit, group in zip(hits, groups):
        tallies[group.split("_")[0]][0] += hit
        tallies[group.split("_")[0]][1] += 1
    return {language: (right / count, count) for language, (right, count) in tallies.items()}


def date_rows(quick):
    from apps import get_task

    task = get_task("translation")
    config = _config("tiny" if quick else "default")
    started = time.monotonic()
    run = task.train(config, fresh=True, verbose=0)
    seconds = time.monotonic() - started
    (module, _), data = task.module(run)
    sources = [p.source for p in data.test]
    references = [p.target for p in data.test]
    hypotheses = task.translate(module, sources)
    ours = _by_language([h == r for h, r in zip(hypotheses, references)], data.test_groups)
    theirs = _by_language([dateutil_iso(s) == r for s, r in zip(sources, references)], data.test_groups)
    wrong = [(s, h, r) for s, h, r in zip(sources, hypotheses, references) if h != r]
    log(f"dates: {len(run.log_rows())} epochs in {seconds:.0f} s; {len(wrong)} of {len(sources)} wrong")
    print(f"dates: preset {config.preset!r}, {len(data.train)} train / {len(data.test)} held-out pairs, "
          f"{len(run.log_rows())} epochs, {seconds:.0f} s of training (this run, shared 2-core CPU)")
    for source, hypothesis, reference in wrong[:12]:
        print(f"  wrong: {source!r} -> {hypothesis!r} (reference {reference})")
    rows = []
    for language in ("en", "fr", "de", "es"):
        if language not in ours:
            continue
        (match, count), (reference, _) = ours[language], theirs[language]
        target = DATE_TARGETS[language]
        rows.append(Row(f"dates {language}: exact match on {count} held-out ({config.preset}) vs dateutil",
                        100 * match, "%", 100 * reference, "%", target=f">= {100 * target:g} %",
                        ok=at_least(match, target)))
    everything = sum(h == r for h, r in zip(hypotheses, references)) / len(references)
    dateutil_all = sum(dateutil_iso(s) == r for s, r in zip(sources, references)) / len(references)
    rows.append(Row(f"dates all: exact match on {len(references)} held-out vs dateutil", 100 * everything, "%",
                    100 * dateutil_all, "%"))
    rows.append(Row("dates: training time (default preset)", seconds, "s"))
    return rows


def run(quick: bool) -> list:
    return date_rows(quick)
