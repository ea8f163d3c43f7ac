"""Word2vec against gensim 4.4 on the same corpus and hyperparameters, same run.

Skip-gram, negative 5, window 5, vector_size 100, min_count 5, sample 1e-3. Each side trains
in its own subprocess (so its peak memory, ru_maxrss, is its own), one after the other, both
pinned alike with `taskset -c 0,1` (the machine may be shared: the load average before each
side is in the notes). Rows:
- words/s with 2 workers (gensim) / 2 threads (ours), 5 epochs: corpus words x epochs /
  training seconds. Target >= 1.0x gensim's (issue 21; 0.5x is the floor).
- Google analogies (3CosAdd, restrict_vocab 300000): target >= gensim's - 1 point.
- WordSim-353 Spearman: target >= gensim's - 0.02. SimLex-999: information.
- preparation: gensim's build_vocab vs our vocabulary + encoding to ids; target <= 2x.
- peak memory of each side: information.
- scaling (1 epoch, no evaluation): 1 vs 2 threads on the whole corpus, 2 threads on the
  first half of its lines (cost linear in words: words/s about equal).
Both sides' vectors are scored by our evaluation code (tests check it equals gensim's).

Corpus: the 11.3M-token `w2v_corpus_en.txt.gz` built by `../shared/tools/build_w2v_corpus.py`,
looked up as `$CLASSICS_W2V_CORPUS`, else `<repo>/../shared/data/w2v_corpus_en.txt.gz`.
`--quick`: the embedded Wikipedia + Lee corpus (~0.5M words), 1 epoch.
`CLASSICS_W2V_EPOCHS=N` overrides the number of epochs of the main comparison (both sides);
`CLASSICS_W2V_SCALING=0` skips the scaling runs.

    python -m benchmarks.run --only word2vec [--quick]
    python -m benchmarks.word2vec --side ours|gensim --corpus SPEC --epochs N [--workers N] [--no-eval]
"""

import argparse
import gzip
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

from benchmarks.common import Row, at_least, at_most, load_average, log

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = ROOT.parent / "shared" / "data" / "w2v_corpus_en.txt.gz"
HYPER = dict(vector_size=100, window=5, min_count=5, sample=1e-3, negative=5)
RESTRICT_VOCAB = 300000  # gensim's default for analogies (and the embeddings Config's)


def corpus_spec(quick: bool) -> str:
    if quick:
        return "wiki+lee"
    path = pathlib.Path(os.environ.get("CLASSICS_W2V_CORPUS", DEFAULT_CORPUS))
    if not path.is_file():
        raise FileNotFoundError(f"{path}: benchmark corpus missing (set CLASSICS_W2V_CORPUS or build it "
                                "with ../shared/tools/build_w2v_corpus.py)")
    return f"text:{path}"


def half_corpus(spec: str, directory) -> str:
    """The first half of the corpus's lines, as a text file."""
    path = pathlib.Path(spec.removeprefix("text:"))
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        lines = fh.readlines()
    half = pathlib.Path(directory) / "half.txt"
    half.write_bytes(b"".join(lines[:len(lines) // 2]))
    return f"text:{half}"


def _scores(result):
    return {k: result[k] for k in ("analogy_accuracy", "analogy_questions", "wordsim353_spearman",
                                   "simlex999_spearman", "vocabulary")}


def side_ours(spec, epochs, workers, evaluate):
    from apps import get_task
    from apps.common import config as config_lib
    from apps.common.word2vec import corpus
    from apps.common.word2vec.train import STATS_FILE

    task = get_task("embeddings")
    with tempfile.TemporaryDirectory(prefix="w2v-bench-") as runs:
        sets = [f"data={spec}", f"epochs={epochs}", f"runs_dir={runs}", f"workers={workers}",
                f"restrict_vocab={RESTRICT_VOCAB}"]
        config = config_lib.resolve(task.Config, task.presets, preset="benchmark", sets=sets)
        started = time.monotonic()
        corpus.build_vocabulary(config)  # timed alone: task.train counts it again
        vocab_seconds = time.monotonic() - started
        run = task.train(config, fresh=True, verbose=2)
        stats = run.read_json(STATS_FILE)
        scores = _scores(task.evaluate(run)) if evaluate else {}
    return {"words": stats["words"], "train_seconds": stats["train_seconds"],
            "prepare_seconds": vocab_seconds + stats["encode_seconds"], **scores}


def side_gensim(spec, epochs, workers, evaluate):
    from gensim.models import Word2Vec

    from apps.common.word2vec import corpus as data
    from apps.common.word2vec.vectors import WordVectors
    from apps.embeddings import metrics
    from apps.embeddings.config import Config

    config = Config(data=spec)

    class Corpus:  # streamed, tokenised exactly as ours
        def __iter__(self):
            return data.sentences(config)

    started = time.monotonic()
    model = Word2Vec(sg=1, epochs=epochs, workers=workers, seed=1, **HYPER)
    model.build_vocab(Corpus())
    prepared = time.monotonic()
    model.train(Corpus(), total_examples=model.corpus_count, epochs=epochs)
    trained = time.monotonic()
    wv = WordVectors(tuple(model.wv.index_to_key), model.wv.vectors)
    scores = _scores(metrics.evaluate(wv, RESTRICT_VOCAB)) if evaluate else {}
    return {"words": model.corpus_total_words, "train_seconds": trained - prepared,
            "prepare_seconds": prepared - started, **scores}


def _run_side(side, spec, epochs, workers=2, evaluate=True):
    pin = ["taskset", "-c", "0,1"] if shutil.which("taskset") else []
    cmd = pin + [sys.executable, "-m", "benchmarks.word2vec", "--side", side, "--corpus", spec,
                 "--epochs", str(epochs), "--workers", str(workers)] + ([] if evaluate else ["--no-eval"])
    load = load_average()
    log(f"word2vec: training {side} on {spec}, {epochs} epoch(s), {workers} worker(s); load {load}")
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{side} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["load"] = load
    result["words_per_second"] = result["words"] * epochs / result["train_seconds"]
    print(f"{side} ({epochs} epochs, {workers} workers, {spec}): {json.dumps(result)}", flush=True)
    return result


def scaling_rows(spec, quick):
    """1 epoch: 1 vs 2 threads on the whole corpus, 2 threads on half of it."""
    with tempfile.TemporaryDirectory(prefix="w2v-half-") as tmp:
        half = spec if quick else half_corpus(spec, tmp)
        runs = {(side, workers, which): _run_side(side, s, 1, workers, evaluate=False)
                for side in ("gensim", "ours") for workers, which, s in
                ((1, "whole", spec), (2, "whole", spec), (2, "half", half))}
    rows = []
    for side in ("ours", "gensim"):
        one, two, halfr = (runs[(side, 1, "whole")], runs[(side, 2, "whole")], runs[(side, 2, "half")])
        rows.append(Row(f"word2vec {side}: words/s 2 threads vs 1 (1 epoch)", two["words_per_second"],
                        "words/s", one["words_per_second"], "words/s",
                        note=f"{side}: efficiency {two['words_per_second'] / one['words_per_second'] / 2:.2f} "
                             f"(2 threads: speedup / 2); loads {one['load']} / {two['load']}"))
        rows.append(Row(f"word2vec {side}: words/s half vs whole corpus (1 epoch)", halfr["words_per_second"],
                        "words/s", two["words_per_second"], "words/s",
                        note=f"{side}: half {halfr['words']:,} words in {halfr['train_seconds']:.0f} s, whole "
                             f"{two['words']:,} in {two['train_seconds']:.0f} s; load {halfr['load']}"))
    return rows


def run(quick: bool):
    spec = corpus_spec(quick)
    epochs = int(os.environ.get("CLASSICS_W2V_EPOCHS", 1 if quick else 5))
    gensim = _run_side("gensim", spec, epochs)
    ours = _run_side("ours", spec, epochs)
    ratio = ours["words_per_second"] / gensim["words_per_second"]
    an_o, an_g = 100 * ours["analogy_accuracy"], 100 * gensim["analogy_accuracy"]
    ws_o, ws_g = ours["wordsim353_spearman"], gensim["wordsim353_spearman"]
    prep = ours["prepare_seconds"] / gensim["prepare_seconds"]
    note = (f"{spec}, {ours['words']:,} words x {epochs} epochs, both under taskset -c 0,1; train ours "
            f"{ours['train_seconds']:.0f} s (load {ours['load']}), gensim {gensim['train_seconds']:.0f} s "
            f"(load {gensim['load']}); >= 0.5x is the issue's floor")
    rows = [
        Row("word2vec words/s (2 workers)", ours["words_per_second"], "words/s", gensim["words_per_second"],
            "words/s", target="ratio >= 1.0", ok=ratio >= 1.0, note=note),
        Row("word2vec analogy accuracy", an_o, "%", an_g, "%", target="ours >= gensim - 1 point",
            ok=at_least(an_o, an_g - 1.0),
            note=f"{ours['analogy_questions']} questions ours, {gensim['analogy_questions']} gensim"),
        Row("word2vec WordSim-353 Spearman", ws_o, "", ws_g, "", target="ours >= gensim - 0.02",
            ok=at_least(ws_o, ws_g - 0.02)),
        Row("word2vec SimLex-999 Spearman", ours["simlex999_spearman"], "",
            gensim["simlex999_spearman"], ""),
        Row("word2vec preparation", ours["prepare_seconds"], "s", gensim["prepare_seconds"], "s",
            target="ratio <= 2", ok=at_most(prep, 2.0),
            note="ours: vocabulary + encoding to ids (each streamed in blocks); gensim: build_vocab "
                 "over our tokenizer"),
        Row("word2vec peak memory", ours["peak_rss_mb"], "MB", gensim["peak_rss_mb"], "MB",
            note="ru_maxrss of each side's process (ours includes TensorFlow itself)"),
    ]
    if os.environ.get("CLASSICS_W2V_SCALING", "1") != "0":
        rows += scaling_rows(spec, quick)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--side", choices=("ours", "gensim"), required=True)
    parser.add_argument("--corpus", required=True, help="a corpus spec: wiki+lee or text:<path>")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-eval", dest="evaluate", action="store_false", help="speed only")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    result = (side_ours if args.side == "ours" else side_gensim)(args.corpus, args.epochs, args.workers,
                                                                 args.evaluate)
    import resource

    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
