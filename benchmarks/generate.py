"""The generate app's held-out numbers, each beside the best add-k n-gram of the same run.

Six models trained through the generate Task's own `train` (fresh run directories under
/tmp; with GENERATE_BENCH_RUNS=DIR, a finished run of the same config in DIR/<name> is
reused and the rows say so), splits by item with the config's seed (test items never trained on):

    names          Debian's 1,516 proper names: held-out bits/char (target <= 3.3)
    oneills        O'Neill's Music of Ireland in ABC (M/L/K headers): bits/char (target <= 2.2)
    oneills-notes  the same tunes reduced to their notes (abc_marks="drop": slurs, decorations and
                   annotations dropped from every split; apps/generate/abc_marks.py), a wider LSTM
                   that also reads the bar lines written so far (bar_positions=32;
                   apps/generate/bar_count.py), beside n-grams on the same reduced text:
                   bits/char (target <= 2.2)
    oneills-notes-nobars  the same model reading characters alone (the model before bar
                   positions): bits/char, its plain samples as info
    oneills-notes-extra  the same model trained on Aird's and Ryan's tunes too (extra_data, training
                   only), scored on the same O'Neill test tunes: bits/char (target <= 2.2), samples as info
    chorales       Bach soprano lines, pitch + duration tokens: nats/note (target <= 2.5)
    chorale-pitches  the same lines, pitches alone: nats/note (target <= 1.6)

Reference: the add-k n-gram (n 1..5, k on validation; for the chorales also fitted on the
transposed lines the model trains on, whichever validates better) with the lowest validation
score, scored on the same test items; the issue's baselines (bigram, trigram) are printed too.
The pitch-only chorale model trains on each training line and its transpositions by +-1..6
semitones (`transpose=6`); validation and test lines are Bach's as written.

Tunes sampled through the export's signature at temperature 1.0 (seeds 0..N-1) with plain
decoding (every symbol, the end free: no top-k, nothing withheld), each primed with the M/L/K
header of a training tune drawn at random (so the header is one the corpus uses; the body is
the model's). Valid = music21 parses it with a well-formed header (apps/generate/abc_check.py)
and it has >= 8 bars (target >= 90 %, from the oneills-notes model; the failures are printed
by kind). Beside it, as info: the full-text oneills model's plain samples, unprimed samples
(the header sampled too), the tunes preset's decoding (top-k 10, the end withheld until 8 bar
lines), and the share of inner bars that fill the meter, beside held-out O'Neill tunes'.
Finished runs are reused when only sampling settings differ (temperature, top_k,
max_sample_length, min_bars). Copies: a sample whose body (after the K: line,
whitespace ignored) equals a training tune's body is verbatim (target < 5 %); the longest
substring a body shares with any training body, as a share of the body's length, is reported
(median and the share of samples over 50 %).
"""

import dataclasses
import math
import os
import pathlib
import statistics
import tempfile
import time

from apps.common.run import DONE, Run
from apps.generate import ngram
from apps.generate.abc_check import check_abc
from apps.generate.config import PRESETS, Config
from apps.generate.data import load_data, make_dataset, training_headers, tune_body
from apps.generate.metrics import SharedSubstrings, bits_per_char
from apps.generate.task import TASK
from benchmarks.common import Row, at_least, at_most, log

TUNE_SAMPLES, MIN_BARS = 200, 8
SAMPLING_FIELDS = ("temperature", "top_k", "max_sample_length", "min_bars")


def _config(preset, **values):
    return dataclasses.replace(Config(), **{**PRESETS[preset].values, **values})


# name -> (config, unit, target, the issue's baseline n)
CONFIGS = {
    "names": lambda: _config("default", epochs=30, lr_schedule="cosine"),
    "oneills": lambda: _config("tunes", data="oneills"),
    # The same tunes, notes only (slurs, decorations, annotations dropped from train, validation
    # and test alike: apps/generate/abc_marks.py), a wider LSTM that also reads the bar lines
    # written so far (bar_positions, apps/generate/bar_count.py): the model the tunes are sampled
    # from. Reading characters alone ("oneills-notes-nobars"), 22 of its 200 plain samples ended
    # after 3-7 bars (O'Neill's own tunes: 1 of 1,468 training tunes under 8 bars).
    "oneills-notes": lambda: _config("tunes", data="oneills", abc_marks="drop", units=320, epochs=16,
                                     dropout=0.15, bar_positions=32),
    "oneills-notes-nobars": lambda: _config("tunes", data="oneills", abc_marks="drop", units=320, epochs=16,
                                            dropout=0.15),
    # The same, trained on Aird's and Ryan's tunes too (extra_data: training only, near copies of
    # held-out tunes dropped), 8 epochs (2.5x the characters an epoch; ~3.5 min an epoch on the shared machine),
    # scored on O'Neill's held-out tunes; its samples are info. It held out worse (2.096 bits/char
    # against 1.908) and ended more tunes after one part (35 of 200 under 8 bars against 22): Aird's
    # book has more one-part tunes (87 of 1,177, against O'Neill's 56 of 1,468).
    "oneills-notes-extra": lambda: _config("tunes", data="oneills", extra_data="airds+ryans", abc_marks="drop",
                                           units=320, epochs=8, dropout=0.15),
    # Transposing pitch + duration tokens (+-4) held out worse (2.83 nats after 15 epochs): each
    # (pitch, length) pair is its own token, and the rarer ones multiply. An LSTM of 128 with
    # dropout 0.3 held out 2.557 (batch 8, 40 epochs); this one 2.389.
    "chorales": lambda: _config("default", data="chorales", batch_size=8, epochs=40, lr_schedule="cosine",
                                units=256, dropout=0.5, embedding_dim=64, max_sample_length=60, by_length=True),
    "chorale-pitches": lambda: _config("default", data="chorale-pitches", epochs=12, lr_schedule="cosine",
                                       units=256, dropout=0.4, transpose=6, max_sample_length=60,
                                       by_length=True),
}
TARGETS = {"names": ("bits/char", 3.3, 2), "oneills": ("bits/char", 2.2, 4),
           "oneills-notes": ("bits/char", 2.2, 4), "oneills-notes-nobars": ("bits/char", 2.2, 4),
           "oneills-notes-extra": ("bits/char", 2.2, 4),
           "chorales": ("nats/note", 2.5, 2), "chorale-pitches": ("nats/note", 1.6, 3)}


def run_dir_for(root, name):
    return pathlib.Path(root) / name


def _trained(name, config, root):
    """(Run, seconds, reused)."""
    path = run_dir_for(root, name)
    if (path / DONE).exists():
        run = Run.open(TASK.name, Config, path)
        sampling = {f: getattr(config, f) for f in SAMPLING_FIELDS}  # not training settings
        if dataclasses.replace(run.config, **sampling) == config:
            return run, 0.0, True
        raise RuntimeError(f"{path} holds a run of another config; remove it or unset GENERATE_BENCH_RUNS")
    start = time.perf_counter()
    run = TASK.train(config, run_dir=path, verbose=0)
    return run, time.perf_counter() - start, False


def held_out(name, run, data, quick):
    """Rows: the model's test score and the best n-gram's (and the issue's n) in one unit."""
    unit, target, issue_n = TARGETS[name]
    scale = math.log(2) if unit.startswith("nats") else 1.0  # bits -> nats
    model = run.load_model()
    ours = scale * bits_per_char(model, make_dataset(data.test, data.vocabulary, 32))
    scores = {}  # n -> (validation, k, test, trained on the transpositions too)
    for n in range(1, 6):
        for items in (data.train, data.fit_items) if data.fit_items != data.train else (data.train,):
            fitted, _ = ngram.choose_k(items, data.val, n)
            found = (ngram.bits_per_char(fitted, data.val), fitted.k, ngram.bits_per_char(fitted, data.test),
                     items is not data.train)
            if n not in scores or found[0] < scores[n][0]:
                scores[n] = found
    best = min(scores, key=lambda n: scores[n][0])
    also = "transposed too" if data.transposed else "extra items too"
    reference = scale * scores[best][2]
    print(f"{name}: {len(data.train)}/{len(data.val)}/{len(data.test)} train/val/test items; model "
          f"{ours:.3f} {unit}; n-grams on test (k by validation): "
          + ", ".join(f"n={n} {scale * s[2]:.3f} (k={s[1]:g}{', ' + also if s[3] else ''})"
                     for n, s in scores.items()), flush=True)
    return model, [Row(f"generate {name}: held-out {unit} vs best add-k n-gram (n={best})", ours, unit,
                       reference, unit, target=f"<= {target}", ok=None if quick else at_most(ours, target),
                       note=f"unrounded {ours:.4f} {unit}; issue's baseline n={issue_n}: "
                            f"{scale * scores[issue_n][2]:.3f}")]


def _sample(config, model, data, prefixes, max_length, top_k, min_bars):
    import tensorflow as tf

    from apps.generate.serving import export_module

    _, signatures = export_module(model, dataclasses.replace(config, min_bars=min_bars), data.vocabulary)
    n = len(prefixes)
    out = signatures["serving_default"](
        prefix=tf.constant(prefixes), temperature=tf.constant([1.0] * n), top_k=tf.constant([top_k] * n),
        max_length=tf.constant([max_length] * n), seed=tf.constant(list(range(n)), tf.int64))
    return [t.decode("utf-8") for t in out["text"].numpy()], out["ended"].numpy()


def _ending(text):
    """How a tune ends: after a repeat, a double or final bar line, a bar line, or mid-bar."""
    end = text.rstrip()
    return next((f"ends on {mark}" for mark in (":|", "::", "|]", "||", "|") if end.endswith(mark)),
                "ends mid-bar")


PLAIN = "plain: every symbol, free end, primed"
APP = "top-k {top_k}, end after {min_bars} bar lines, primed"  # the tunes preset's decoding


def tunes(name, config, model, data, quick, primary: bool):
    """Rows of tunes sampled at T=1.0 from the `name` model. With `primary`, plain sampling
    (primed with a training header) is the target row and the other decodings are info;
    without it, only plain primed sampling, as info."""
    count = 10 if quick else TUNE_SAMPLES
    max_length = 1500  # O'Neill's tunes: 99 % are shorter (the preset samples 800)
    primed = training_headers(data, count, seed=0)  # as `classics generate sample --training-headers`
    training_bodies = {tune_body(t) for t in data.fit_items}  # extra items too
    index = SharedSubstrings(sorted(training_bodies))
    real = [check_abc(t) for t in data.test[:count]]
    real_full = statistics.median([c.full_bars for c in real if c.valid] or [0.0])
    rows = []
    decodings = [(PLAIN, primed, 0, 0)]
    if primary:
        decodings += [("plain, unprimed", [""] * count, 0, 0),
                      (APP.format(top_k=config.top_k, min_bars=config.min_bars), primed, config.top_k,
                       config.min_bars)]
    for label, prefixes, top_k, min_bars in decodings:
        label = f"{name}, {label}"
        start = time.perf_counter()
        texts, ended = _sample(config, model, data, prefixes, max_length, top_k, min_bars)
        seconds = time.perf_counter() - start
        checks = [check_abc(t) for t in texts]
        good = [c.valid and c.bars >= MIN_BARS for c in checks]
        bodies = [tune_body(t) for t in texts]
        verbatim = [b in training_bodies for b in bodies]
        shares = [index.longest(b) / max(1, len(b)) for b in bodies]
        errors = {}
        for t, c in zip(texts, checks):
            why = c.error or (f"< {MIN_BARS} bars, {_ending(t)}" if c.bars < MIN_BARS else "")
            if why:
                key = c.error.split(":")[0][:40] if c.error else why
                errors[key] = errors.get(key, 0) + 1
        print(f"tunes {label}: {count} samples at T=1.0 in {seconds:.0f} s; valid >= {MIN_BARS} bars "
              f"{sum(good)}; ended by the model {int(ended.sum())}; bars of valid ones median "
              f"{statistics.median([c.bars for c in checks if c.valid] or [0])}; failures {errors}; "
              f"verbatim {sum(verbatim)}; longest shared substring / body: median "
              f"{statistics.median(shares):.2f}, max {max(shares):.2f}, > 0.5: {sum(s > 0.5 for s in shares)}",
              flush=True)
        for i in range(2):
            print(f"  sample {i} ({label}): {texts[i][:300]!r}")
        target = primary and label == f"{name}, {PLAIN}"
        rows.append(Row(f"generate tunes ({label}), T=1.0: valid ABC with >= {MIN_BARS} bars",
                        100 * sum(good) / count, "%", target=">= 90 %" if target else "info",
                        ok=(None if quick else at_least(100 * sum(good) / count, 90.0)) if target else None,
                        note=f"{count} samples, music21 {__import__('music21').__version__}"))
        full = statistics.median([c.full_bars for c in checks if c.valid] or [0.0])
        rows.append(Row(f"generate tunes ({label}): inner bars that fill the meter (median)", 100 * full, "%",
                        100 * real_full, "%", note=f"reference: {len(real)} held-out O'Neill tunes"))
        rows.append(Row(f"generate tunes ({label}): verbatim copies of a training tune",
                        100 * sum(verbatim) / count, "%", target="< 5 %" if target else "info",
                        ok=(None if quick else 100 * sum(verbatim) / count < 5.0) if target else None,
                        note=f"longest shared substring / body: median {statistics.median(shares):.2f}, "
                             f"{sum(s > 0.5 for s in shares)} of {count} over 0.5"))
    return rows


def run(quick: bool) -> list[Row]:
    root = os.environ.get("GENERATE_BENCH_RUNS") or tempfile.mkdtemp(prefix="generate-bench-")
    rows = []
    for name, make in CONFIGS.items():
        config = make()
        if quick:
            config = dataclasses.replace(config, epochs=1, units=min(config.units, 32))
        log(f"generate: {name} ({config.epochs} epochs, {config.cell} {config.units})")
        run_, seconds, reused = _trained(name, config, root)
        data = load_data(config)
        model, found = held_out(name, run_, data, quick)
        epochs = len(run_.log_rows())
        trained = f"run reused from {run_.path}" if reused else f"trained here in {seconds / 60:.1f} min"
        for row in found:
            row.note += f"; {config.cell} {config.units}, {epochs} epochs ({trained})"
        rows += found
        if name.startswith("oneills"):
            rows += tunes(name, config, model, data, quick, primary=name == "oneills-notes")
    return rows
