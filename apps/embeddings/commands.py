"""train / evaluate / neighbors / analogy / export / debias / plot for word embeddings."""

from __future__ import annotations

import json
import pathlib
import sys
import time
import warnings

import numpy as np

from apps.common import cli
from apps.common import export as export_lib
from apps.common import train as train_lib
from apps.common.config import load_config
from apps.common.errors import DataError
from apps.common.packages import EMBEDDED, fetch_package_file
from apps.embeddings import data
from apps.embeddings.config import PRESETS, Config
from apps.embeddings.vectors import WordVectors, load_vectors, save_projector, save_word2vec

NAME = "embeddings"
VOCAB_FILE = "vocab.tsv"
DEFAULT_PLOT_WORDS = (
    "king", "queen", "man", "woman", "boy", "girl", "france", "paris", "germany", "berlin",
    "war", "army", "fire", "water", "police", "government", "one", "two", "three",
)


# ---------------------------------------------------------------- train
def set_workers(workers: int) -> None:
    import tensorflow as tf

    if workers > 0:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(workers)
            tf.config.threading.set_inter_op_parallelism_threads(workers)
        except RuntimeError:  # already initialised in this process: keep its setting
            pass


def batches_dataset(ids, keep, config):
    """tf.data of (centers, contexts, words) from the NumPy pair pipeline; a new epoch (and
    random stream) each time the dataset is iterated."""
    import tensorflow as tf

    epoch = [0]

    def generate():
        rng = np.random.default_rng([config.seed, epoch[0]])
        epoch[0] += 1
        yield from data.epoch_batches(ids, keep, config, rng)

    spec = (tf.TensorSpec([None], tf.int32), tf.TensorSpec([None], tf.int32),
            tf.TensorSpec([], tf.float32))
    # The generator fills batches while TensorFlow trains on the previous ones.
    return tf.data.Dataset.from_generator(generate, output_signature=spec).prefetch(8)


def train(config, run_dir=None, fresh=False, verbose=None):
    """Train word vectors; returns the run directory (resumes an unfinished one)."""
    from apps.embeddings.model import build_model

    train_lib.seed_everything(config.seed)
    set_workers(config.workers)
    for name in ("vector_size", "window", "negative", "epochs", "batch_words", "chunk_words"):
        if getattr(config, name) < 1:
            raise DataError(f"{name}: expected >= 1, got {getattr(config, name)}")
    started = time.monotonic()
    vocab = data.build_vocabulary(config)
    run_dir, resumed = train_lib.prepare_run(NAME, config, run_dir, fresh)
    (run_dir / VOCAB_FILE).write_text("".join(f"{w}\t{c}\n" for w, c in zip(vocab.words, vocab.counts)),
                                      encoding="utf-8")
    ids = data.encode_corpus(config, vocab, run_dir / "corpus.ids")
    in_vocab = int(np.count_nonzero(np.asarray(ids) != data.SEPARATOR))
    print(f"{'resuming' if resumed else 'run'} {run_dir}: {vocab.total_words} words, "
          f"{len(vocab)} in the vocabulary (min_count={config.min_count}), {in_vocab} kept; "
          f"prepared in {time.monotonic() - started:.1f} s", file=sys.stderr)
    model = build_model(config, vocab, in_vocab * config.epochs)
    keep = vocab.keep_probabilities(config.sample)
    dataset = batches_dataset(ids, keep, config)
    started = time.monotonic()
    with warnings.catch_warnings():
        # The pair stream's length is unknown until the first epoch ends; Keras warns then.
        warnings.filterwarnings("ignore", message="Your input ran out of data")
        train_lib.fit(model, dataset, None, config, run_dir, monitor="loss", mode="min", verbose=verbose)
    seconds = time.monotonic() - started
    # Word2vec's result is the last model (the learning rate has reached min_alpha), not the
    # epoch of lowest loss.
    model.save(run_dir / train_lib.BEST_MODEL)
    stats = {"words": vocab.total_words, "vocabulary": len(vocab), "train_seconds": seconds,
             "words_per_second": vocab.total_words * config.epochs / max(seconds, 1e-9)}
    (run_dir / "train_stats.json").write_text(json.dumps(stats, indent=2) + "\n")
    (run_dir / "corpus.ids").unlink(missing_ok=True)
    return run_dir


# ---------------------------------------------------------------- vectors of a run or file
def load_run_vectors(run_dir) -> WordVectors:
    import keras

    import apps.embeddings.model  # noqa: F401 - registers Word2Vec
    import layers  # noqa: F401

    run_dir = pathlib.Path(run_dir)
    words = [line.split("\t")[0] for line in
             (run_dir / VOCAB_FILE).read_text(encoding="utf-8").splitlines()]
    model = keras.models.load_model(run_dir / train_lib.BEST_MODEL, compile=False)
    return WordVectors(tuple(words), model.vectors())


def resolve_vectors(args) -> WordVectors:
    """--vectors FILE (word2vec / GloVe) or --run DIR (default: the newest run)."""
    if getattr(args, "vectors", None):
        return load_vectors(args.vectors, limit=getattr(args, "limit", 0) or 0)
    return load_run_vectors(train_lib.resolve_run(NAME, args.run))


# ---------------------------------------------------------------- evaluate
def benchmark_file(name: str) -> pathlib.Path:
    return fetch_package_file(EMBEDDED[name])


def evaluate(wv: WordVectors, restrict_vocab=300000) -> dict:
    from apps.embeddings.metrics import evaluate_analogies, evaluate_word_pairs

    analogies = evaluate_analogies(wv, benchmark_file("gensim-questions-words"), restrict_vocab)
    ws = evaluate_word_pairs(wv, benchmark_file("gensim-wordsim353"), restrict_vocab)
    simlex = evaluate_word_pairs(wv, benchmark_file("gensim-simlex999"), restrict_vocab)
    return {
        "analogy_accuracy": analogies["accuracy"], "analogy_questions": analogies["total"],
        "analogy_skipped": analogies["skipped"], "analogy_sections": analogies["sections"],
        "wordsim353_spearman": ws["spearman"], "wordsim353_pairs": ws["pairs"],
        "simlex999_spearman": simlex["spearman"], "simlex999_pairs": simlex["pairs"],
        "vocabulary": len(wv), "restrict_vocab": restrict_vocab,
    }


def format_evaluation(result) -> str:
    return (f"analogies (3CosAdd): {result['analogy_accuracy']:.2%} of {result['analogy_questions']} "
            f"questions ({result['analogy_skipped']} skipped: words outside the vocabulary)\n"
            f"WordSim-353 Spearman: {result['wordsim353_spearman']:.3f} over "
            f"{result['wordsim353_pairs']} pairs\n"
            f"SimLex-999 Spearman: {result['simlex999_spearman']:.3f} over {result['simlex999_pairs']} pairs")


# ---------------------------------------------------------------- export
def export_module(wv: WordVectors):
    """A tf.Module whose `lookup` signature maps words (string (N,)) to vectors (N, D) and a
    `found` flag; unknown words get zeros."""
    import tensorflow as tf

    class VectorLookup(tf.Module):
        def __init__(self):
            super().__init__()
            self.table = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(
                    tf.constant(list(wv.words)), tf.range(len(wv), dtype=tf.int64)),
                default_value=-1)
            self.vectors = tf.Variable(np.asarray(wv.vectors, np.float32), trainable=False)

    module = VectorLookup()

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="words")])
    def lookup(words):
        ids = module.table.lookup(words)
        found = ids >= 0
        vectors = tf.gather(module.vectors, tf.maximum(ids, 0))
        return {"vectors": tf.where(found[:, None], vectors, tf.zeros_like(vectors)), "found": found}

    module.lookup = lookup
    return module, {"serving_default": lookup}


def export_signatures(wv: WordVectors):
    return export_module(wv)[1]


def export(wv: WordVectors, out_dir, root="saved_models", config=None, metrics=None) -> dict:
    """word2vec text + binary, Embedding Projector TSVs, and a versioned SavedModel."""
    out_dir = pathlib.Path(out_dir)
    paths = {
        "word2vec_text": save_word2vec(wv, out_dir / "vectors.txt"),
        "word2vec_binary": save_word2vec(wv, out_dir / "vectors.bin", binary=True),
    }
    paths["projector_vectors"], paths["projector_metadata"] = save_projector(wv, out_dir / "projector")
    module, signatures = export_module(wv)
    paths["saved_model"] = export_lib.write_saved_model(
        NAME, module, signatures, root=root, config=config, labels=list(wv.words), metrics=metrics)
    return {k: str(v) for k, v in paths.items()}


# ---------------------------------------------------------------- plot
def pca_plot(wv: WordVectors, words, path, title="PCA of word vectors") -> pathlib.Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from apps.embeddings.metrics import Similarity

    sim = Similarity(wv)
    present = [w for w in words if w in sim.index]
    if len(present) < 2:
        raise DataError(f"plot: need at least 2 of the words in the vocabulary, found {present}")
    points = sim.normed[[sim.index[w] for w in present]]
    centred = points - points.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    xy = centred @ vt[:2].T  # (words, 2)
    fig = Figure(figsize=(7, 6), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.scatter(xy[:, 0], xy[:, 1], s=12)
    for (x, y), word in zip(xy, present):
        ax.annotate(word, (x, y), fontsize=9, xytext=(3, 3), textcoords="offset points")
    ax.set_title(title)
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    fig.tight_layout()
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


# ---------------------------------------------------------------- CLI
def _cmd_train(args):
    from apps import embeddings as app

    config = cli.config_from_args(app, args, errors=args.errors)
    run_dir = train(config, run_dir=args.run_dir, fresh=args.fresh)
    stats = json.loads((run_dir / "train_stats.json").read_text())
    print(f"trained {stats['vocabulary']} words in {stats['train_seconds']:.1f} s "
          f"({stats['words_per_second']:,.0f} words/s)")
    print(format_evaluation(evaluate(load_run_vectors(run_dir), config.restrict_vocab)))
    print(f"run: {run_dir}")


def _cmd_evaluate(args):
    result = evaluate(resolve_vectors(args), args.restrict_vocab)
    print(json.dumps(result, indent=2) if args.json else format_evaluation(result))


def _cmd_neighbors(args):
    from apps.embeddings.metrics import Similarity

    for word, score in Similarity(resolve_vectors(args)).most_similar([args.word], topn=args.topn):
        print(f"{word}\t{score:.4f}")


def _cmd_analogy(args):
    from apps.embeddings.metrics import Similarity

    sim = Similarity(resolve_vectors(args))
    # a : b :: c : ?  ->  b - a + c
    for word, score in sim.most_similar([args.b, args.c], [args.a], topn=args.topn):
        print(f"{word}\t{score:.4f}")


def _cmd_export(args):
    run_dir = None if args.vectors else train_lib.resolve_run(NAME, args.run)
    wv = resolve_vectors(args)
    config = load_config(Config, run_dir / "config.json") if run_dir else None
    out = args.out or (run_dir / "export" if run_dir else pathlib.Path("vectors-export"))
    for name, path in export(wv, out, root=args.model_root, config=config).items():
        print(f"{name}: {path}")


def _cmd_debias(args):
    from apps.embeddings import debias

    wv = resolve_vectors(args)
    debiased, result = debias.report(wv, benchmark_file("gensim-questions-words"), args.restrict_vocab)
    out = pathlib.Path(args.out)
    save_word2vec(debiased, out / "debiased.txt")
    (out / "debias_report.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"direct bias over {result['professions_found']} professions: "
          f"{result['direct_bias_before']:.4f} -> {result['direct_bias_after']:.4f}")
    print(f"analogy accuracy: {result['analogy_before']:.2%} -> {result['analogy_after']:.2%}")
    print(f"debiased vectors: {out / 'debiased.txt'}; report: {out / 'debias_report.json'}")


def _cmd_plot(args):
    path = pca_plot(resolve_vectors(args), args.words or DEFAULT_PLOT_WORDS, args.out)
    print(f"plot: {path}")


def _vector_arguments(parser):
    cli.add_run_argument(parser)
    parser.add_argument("--vectors", metavar="FILE",
                        help="a word2vec (text/binary, header detected) or GloVe file instead of a run")
    parser.add_argument("--limit", type=int, default=0, help="read only the first N vectors of --vectors")


def add_commands(sub) -> None:
    p = cli.add_train_command(
        sub, PRESETS, _cmd_train, help="train skip-gram word vectors (resumes an interrupted run)",
        description="Train word2vec (skip-gram, negative sampling). Corpora: wiki+lee "
        "(embedded default), wiki, lee, text:<path> (UTF-8, one sentence or paragraph "
        "a line, .gz/.bz2 too). gensim's parameter names: --set vector_size=100 ...")
    p.add_argument("--errors", choices=data.ERRORS, default=None,
                   help="invalid UTF-8: 'strict' stops with the line number, 'replace' substitutes U+FFFD")

    p = sub.add_parser("evaluate", help="Google analogies (3CosAdd), WordSim-353, SimLex-999")
    _vector_arguments(p)
    p.add_argument("--restrict-vocab", type=int, default=300000, metavar="N")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("neighbors", help="nearest words by cosine")
    p.add_argument("word")
    _vector_arguments(p)
    p.add_argument("--topn", type=int, default=10)
    p.set_defaults(func=_cmd_neighbors)

    p = sub.add_parser("analogy", help="a : b :: c : ?  (3CosAdd)")
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("c")
    _vector_arguments(p)
    p.add_argument("--topn", type=int, default=5)
    p.set_defaults(func=_cmd_analogy)

    p = sub.add_parser("export", help="word2vec text+binary, projector TSVs, SavedModel lookup")
    _vector_arguments(p)
    p.add_argument("--out", metavar="DIR", help="where the vector files go (default: <run>/export)")
    cli.add_model_root_argument(p)
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("debias", help="Bolukbasi et al. hard debiasing, with before/after numbers")
    _vector_arguments(p)
    p.add_argument("--out", default="debiased", metavar="DIR")
    p.add_argument("--restrict-vocab", type=int, default=300000, metavar="N")
    p.set_defaults(func=_cmd_debias)

    p = sub.add_parser("plot", help="2-D PCA plot PNG of chosen words")
    p.add_argument("words", nargs="*", help=f"words (default: {' '.join(DEFAULT_PLOT_WORDS[:6])} ...)")
    _vector_arguments(p)
    p.add_argument("--out", default="pca.png", metavar="PNG")
    p.set_defaults(func=_cmd_plot)


__all__ = ["Config", "PRESETS", "add_commands", "train", "evaluate", "export"]
