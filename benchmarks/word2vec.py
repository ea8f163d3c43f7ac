"""Word2vec against gensim 4.4 on the same corpus and hyperparameters, same run.

Skip-gram, negative 5, window 5, vector_size 100, min_count 5, sample 1e-3, 5 epochs, 2
workers (gensim) / 2 TensorFlow threads (ours). Each side trains in its own subprocess so
its peak memory (ru_maxrss) is its own. Rows:
- words/s: corpus words x epochs / training seconds (vocabulary building and, for us,
  the one-off encoding of the corpus to ids are timed separately in the notes).
  Target >= 0.25x gensim's.
- Google analogies (3CosAdd, restrict_vocab 300000): target >= gensim's - 1 point.
- WordSim-353 Spearman: target >= gensim's - 0.02. SimLex-999: information.
- peak memory of each side: information.
Both sides' vectors are scored by our evaluation code (tests check it equals gensim's).

Corpus: the 11.3M-token `w2v_corpus_en.txt.gz` built by `../shared/tools/build_w2v_corpus.py`,
looked up as `$CLASSICS_W2V_CORPUS`, else `<repo>/../shared/data/w2v_corpus_en.txt.gz`.
`--quick`: the embedded Wikipedia + Lee corpus (~0.5M words), 1 epoch.
`CLASSICS_W2V_EPOCHS=N` overrides the number of epochs (both sides).

    python -m benchmarks.run --only word2vec [--quick]
    python -m benchmarks.word2vec --side ours|gensim --corpus SPEC --epochs N   (one side, JSON)
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

from benchmarks.common import Row, at_least, log

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = ROOT.parent / "shared" / "data" / "w2v_corpus_en.txt.gz"
HYPER = dict(vector_size=100, window=5, min_count=5, sample=1e-3, negative=5)


def corpus_spec(quick: bool) -> str:
    if quick:
        return "wiki+lee"
    path = pathlib.Path(os.environ.get("CLASSICS_W2V_CORPUS", DEFAULT_CORPUS))
    if not path.is_file():
        raise FileNotFoundError(f"{path}: benchmark corpus missing (set CLASSICS_W2V_CORPUS or build it "
                                "with ../shared/tools/build_w2v_corpus.py)")
    return f"text:{path}"


RESTRICT_VOCAB = 300000  # gensim's default for analogies (and the embeddings Config's)


def _scores(result):
    return {k: result[k] for k in ("analogy_accuracy", "analogy_questions", "wordsim353_spearman",
                                   "simlex999_spearman", "vocabulary")}


def side_ours(spec, epochs):
    from apps import get_task
    from apps.common import config as config_lib
    from apps.common.word2vec.train import STATS_FILE

    task = get_task("embeddings")
    with tempfile.TemporaryDirectory(prefix="w2v-bench-") as runs:
        sets = [f"data={spec}", f"epochs={epochs}", f"runs_dir={runs}", "workers=2",
                f"restrict_vocab={RESTRICT_VOCAB}"]
        config = config_lib.resolve(task.Config, task.presets, preset="benchmark", sets=sets)
        started = time.monotonic()
        run = task.train(config, fresh=True, verbose=2)
        total = time.monotonic() - started
        stats = run.read_json(STATS_FILE)
        scores = _scores(task.evaluate(run))
    return {"words": stats["words"], "train_seconds": stats["train_seconds"],
            "prepare_seconds": total - stats["train_seconds"], **scores}


def side_gensim(spec, epochs):
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
    model = Word2Vec(sg=1, epochs=epochs, workers=2, seed=1, **HYPER)
    model.build_vocab(Corpus())
    prepared = time.monotonic()
    model.train(Corpus(), total_examples=model.corpus_count, epochs=epochs)
    trained = time.monotonic()
    wv = WordVectors(tuple(model.wv.index_to_key), model.wv.vectors)
    return {"words": model.corpus_total_words, "train_seconds": trained - prepared,
            "prepare_seconds": prepared - started, **_scores(metrics.evaluate(wv, RESTRICT_VOCAB))}


def _run_side(side, spec, epochs):
    cmd = [sys.executable, "-m", "benchmarks.word2vec", "--side", side, "--corpus", spec,
           "--epochs", str(epochs)]
    log(f"word2vec: training {side} on {spec}, {epochs} epoch(s)")
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{side} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(quick: bool):
    spec = corpus_spec(quick)
    # CLASSICS_W2V_EPOCHS shortens the full run when the machine is too busy for 5 epochs
    # (the epoch count is printed in the notes of the table).
    epochs = int(os.environ.get("CLASSICS_W2V_EPOCHS", 1 if quick else 5))
    gensim = _run_side("gensim", spec, epochs)
    ours = _run_side("ours", spec, epochs)
    for name, r in (("gensim", gensim), ("ours", ours)):
        print(f"{name}: {json.dumps(r)}")
    speed = {k: r["words"] * epochs / r["train_seconds"] for k, r in (("ours", ours), ("gensim", gensim))}
    ratio = speed["ours"] / speed["gensim"]
    an_o, an_g = 100 * ours["analogy_accuracy"], 100 * gensim["analogy_accuracy"]
    ws_o, ws_g = ours["wordsim353_spearman"], gensim["wordsim353_spearman"]
    note = (f"{spec}, {ours['words']:,} words x {epochs} epochs; prepare (vocab"
            f" + encode) ours {ours['prepare_seconds']:.0f} s, gensim "
            f"{gensim['prepare_seconds']:.0f} s; train ours {ours['train_seconds']:.0f} s, gensim "
            f"{gensim['train_seconds']:.0f} s")
    return [
        Row("word2vec words/s (2 workers)", speed["ours"], "words/s", speed["gensim"], "words/s",
            target="ratio >= 0.25", ok=ratio >= 0.25, note=note),
        Row("word2vec analogy accuracy", an_o, "%", an_g, "%", target="ours >= gensim - 1 point",
            ok=at_least(an_o, an_g - 1.0),
            note=f"{ours['analogy_questions']} questions ours, {gensim['analogy_questions']} gensim"),
        Row("word2vec WordSim-353 Spearman", ws_o, "", ws_g, "", target="ours >= gensim - 0.02",
            ok=at_least(ws_o, ws_g - 0.02)),
        Row("word2vec SimLex-999 Spearman", ours["simlex999_spearman"], "",
            gensim["simlex999_spearman"], ""),
        Row("word2vec peak memory", ours["peak_rss_mb"], "MB", gensim["peak_rss_mb"], "MB",
            note="ru_maxrss of each side's process (ours includes TensorFlow itself)"),
    ]


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--side", choices=("ours", "gensim"), required=True)
    parser.add_argument("--corpus", required=True, help="a corpus spec: wiki+lee or text:<path>")
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    result = (side_ours if args.side == "ours" else side_gensim)(args.corpus, args.epochs)
    import resource

    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
