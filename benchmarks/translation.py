"""Translation: the course's date translator per language against python-dateutil's parser,
and KJV -> Reina-Valera 1909 verses against an IBM Model 1 word-by-word baseline.

Dates (rows `dates ...`): the app's `default` preset trained here (fresh, seed 1337), then
its export's greedy decoding on the held-out date strings (no string is in two splits),
exact match per language (en = en_US + en_GB), targets en >= 99.5 %, fr/de/es >= 97 %.
The reference on the same inputs: `dateutil.parser.parse(text)` (its defaults: month first
for numeric dates, a year of two digits within 50 years of today), a date counted right
when its ISO form equals the reference; a text it refuses counts as wrong.

Bible (rows `bible ...`), KJV -> Reina-Valera 1909 on the held-out last books (the app's
`bible` data: 1,589 test verses), one protocol for every system: the plain output string
against the reference verse, our corpus BLEU (sacrebleu's 13a tokenization, cased) and chrF
(equal to sacrebleu, tests/translation/test_translation_metrics.py); targets BLEU >= 18 and
chrF >= 50 with beam 5, and beam 5 >= greedy.
- IBM Model 1 trained here (apps/translation/ibm1.py, 5 EM iterations on the run's training
  verses: with the validation verses when the run has train_on_val), word by word, cased as
  the training targets.
- The attention model: a finished run of the `bible` preset (or a variant), $CLASSICS_BIBLE_RUN or the
  newest finished bible run under WORKDIR (it is trained there, for hours, when there is none;
  its training time is the run's wall time, config.json to DONE; an ensemble's, the sum of
  its members'). Its export's greedy
  signature and its beam signature at width 5 (length_alpha and no_repeat_ngram of the `bible`
  preset, chosen on validation verses: decoding settings, applied to any run).

    python -m benchmarks.run --only translation | tee benchmarks/results/translation.txt
    CLASSICS_BIBLE_RUN=/path/to/run python -m benchmarks.run --only translation
"""

import collections
import dataclasses
import datetime
import os
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


def score(hypotheses, references):
    from apps.translation.metrics import corpus_bleu, corpus_chrf

    return corpus_bleu(hypotheses, references).score, corpus_chrf(hypotheses, references)


def ibm1_scores(data, iterations):
    from apps.translation import ibm1

    started = time.monotonic()
    model = ibm1.train([(ibm1.tokenize(p.source), ibm1.tokenize(p.target)) for p in data.train], iterations)
    surface = ibm1.surface_forms(p.target for p in data.train)
    hypotheses = [ibm1.translate(model, p.source, surface) for p in data.test]
    seconds = time.monotonic() - started
    print(f"IBM Model 1: {iterations} EM iterations, {len(model.t)} word pairs, {seconds:.0f} s; "
          f"e.g. {hypotheses[0]!r}")
    return score(hypotheses, [p.target for p in data.test])


def bible_run(quick):
    """A finished bible run: $CLASSICS_BIBLE_RUN, the newest under WORKDIR, else one trained now.
    $CLASSICS_BIBLE_RUN may name a run stopped before its last epoch (its best.keras so far is
    measured, and the rows say how many epochs it had)."""
    from apps import get_task
    from apps.common.config import load_config
    from apps.common.run import CONFIG, DONE, Run
    from apps.translation.config import Config

    task = get_task("translation")
    if os.environ.get("CLASSICS_BIBLE_RUN"):
        path = pathlib.Path(os.environ["CLASSICS_BIBLE_RUN"])
        if not (path / DONE).exists():
            return Run(path, load_config(Config, path / CONFIG))
        return Run.open("translation", Config, path)
    found = sorted((p for p in WORKDIR.glob("**/DONE")), key=lambda p: p.stat().st_mtime, reverse=True)
    for done in found:
        run = Run.open("translation", Config, done.parent)
        if run.config.data == "bible":
            return run
    overrides = {"epochs": 1, "test_fraction": 0.05} if quick else {}
    return task.train(_config("bible", **overrides), verbose=0)


def wall_seconds(path):
    """A run's (or member's) training time: config.json to DONE, or to the end of its last
    epoch (log.csv) when it was stopped."""
    end = path / ("DONE" if (path / "DONE").exists() else "log.csv")
    return end.stat().st_mtime - (path / "config.json").stat().st_mtime


def bible_rows(quick):
    from apps import get_task
    from apps.translation.config import PRESETS
    from apps.translation.data import load_data
    from apps.translation.serving import export_module

    task = get_task("translation")
    run = bible_run(quick)
    data = load_data(run.config)
    references = [p.target for p in data.test]
    log(f"bible: run {run.path}; IBM Model 1")
    ibm_bleu, ibm_chrf = ibm1_scores(data, 1 if quick else 5)
    # Decoding of the rows: beam 5 with the bible preset's decoding knobs (chosen on validation
    # verses; decoding only, so a run trained before them is decoded with them too).
    knobs = ("length_alpha", "no_repeat_ngram", "coverage_beta", "copy_unknown")
    decoding = {k: v for k, v in PRESETS["bible"].values.items() if k in knobs}
    config = dataclasses.replace(run.config, beam_width=5, **decoding)
    module, _ = export_module(run.load_model(), config, data.source_vocabulary, data.target_vocabulary)
    sources = [p.source for p in data.test][: 64 if quick else None]
    references = references[: len(sources)]
    results = {}
    for name, beam in (("greedy", False), ("beam 5", True)):
        log(f"bible: {name} decoding of {len(sources)} test verses")
        started = time.monotonic()
        hypotheses = task.translate(module, sources, beam=beam, batch_size=64)
        results[name] = (*score(hypotheses, references), time.monotonic() - started, hypotheses[1])
        print(f"{name}: {results[name][2]:.0f} s to translate; e.g. {hypotheses[1]!r} "
              f"(reference {references[1]!r})")
    finished = (run.path / "DONE").exists()
    members = sorted(p for p in run.path.glob("member*") if (p / "config.json").exists())
    seconds = sum(wall_seconds(p) for p in members) if members else wall_seconds(run.path)
    epochs = len(run.log_rows())
    stopped = "" if finished else f", stopped after {epochs} of its {run.config.epochs}"
    trained = f"{len(members)} members, {epochs} epoch(s) each" if members else f"{epochs} epoch(s){stopped}"
    print(f"bible: run {run.path} (preset {run.config.preset!r}, {trained}, batch "
          f"{run.config.batch_size}, {seconds / 60:.0f} min of wall time on the shared 2-core CPU"
          f"{', the sum of the members' if members else ''}); {len(data.train)} train "
          f"({'with' if run.config.train_on_val else 'without'} the validation verses) / {len(data.test)} test verses")
    val = "validation (trained on: train_on_val)" if run.config.train_on_val else "validation"
    curve = ["epoch {}: loss {:.3f}, token accuracy {:.3f}; {} loss {:.3f}, accuracy {:.3f}".format(
        int(row["epoch"]) + 1, *(float(row[k]) for k in ("loss", "accuracy")), val,
        *(float(row[k]) for k in ("val_loss", "val_accuracy"))) for row in run.log_rows()]
    for line in curve:
        print("  " + line)
    (bleu, chrf, _, example), (g_bleu, g_chrf, _, g_example) = results["beam 5"], results["greedy"]
    what = f"held-out verses, {epochs} epoch(s)"
    return [
        Row(f"bible BLEU beam 5 vs IBM Model 1 ({what})", bleu, "", ibm_bleu, "", target=">= 18",
            ok=at_least(bleu, 18.0), note=f"test verse 2, beam 5: {example!r}; greedy: {g_example!r}; "
                                          f"reference: {references[1]!r}"),
        Row(f"bible chrF beam 5 vs IBM Model 1 ({what})", chrf, "", ibm_chrf, "", target=">= 50",
            ok=at_least(chrf, 50.0)),
        Row("bible BLEU beam 5 vs greedy", bleu, "", g_bleu, "", target="beam >= greedy", ok=bleu >= g_bleu),
        Row("bible chrF beam 5 vs greedy", chrf, "", g_chrf, "", target="beam >= greedy", ok=chrf >= g_chrf),
        Row("bible: training wall time", seconds / 60, "min", note="; ".join(curve)),
    ]


def run(quick: bool) -> list:
    return date_rows(quick) + bible_rows(quick)
