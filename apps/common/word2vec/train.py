"""Train word vectors in a Run: vocabulary, corpus ids, the skip-gram model through `Run.fit`."""

import json
import sys
import time
import warnings

import numpy as np

from apps.common.word2vec import corpus
from apps.common.word2vec.model import build_model
from apps.common.word2vec.vectors import WordVectors

VOCAB_FILE = "vocab.tsv"
STATS_FILE = "train_stats.json"


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
        yield from corpus.epoch_batches(ids, keep, config, rng)

    spec = (tf.TensorSpec([None], tf.int32), tf.TensorSpec([None], tf.int32),
            tf.TensorSpec([], tf.float32))
    # The generator fills batches while TensorFlow trains on the previous ones.
    return tf.data.Dataset.from_generator(generate, output_signature=spec).prefetch(8)


def train_vectors(run, config, verbose=None, vocab=None) -> WordVectors:
    """Train `config`'s word2vec in `run` (resuming it from its last finished epoch); the
    vocabulary (`vocab`, else counted now) goes to vocab.tsv, the model to best.keras, speed to
    train_stats.json."""
    set_workers(config.workers)
    started = time.monotonic()
    vocab = corpus.build_vocabulary(config) if vocab is None else vocab
    (run.path / VOCAB_FILE).write_text("".join(f"{w}\t{c}\n" for w, c in zip(vocab.words, vocab.counts)),
                                       encoding="utf-8")
    ids = corpus.encode_corpus(config, vocab, run.path / "corpus.ids")
    in_vocab = int(np.count_nonzero(np.asarray(ids) != corpus.SEPARATOR))
    print(f"{vocab.total_words} words, {len(vocab)} in the vocabulary (min_count={config.min_count}), "
          f"{in_vocab} kept; prepared in {time.monotonic() - started:.1f} s", file=sys.stderr)
    model = build_model(config, vocab, in_vocab * config.epochs)
    dataset = batches_dataset(ids, vocab.keep_probabilities(config.sample), config)
    started = time.monotonic()
    with warnings.catch_warnings():
        # The pair stream's length is unknown until the first epoch ends; Keras warns then.
        warnings.filterwarnings("ignore", message="Your input ran out of data")
        # Word2vec's result is the last model (the learning rate has reached min_alpha), not the
        # epoch of lowest loss.
        run.fit(model, dataset, None, epochs=config.epochs, monitor="loss", mode="min", keep="last",
                verbose=verbose)
    seconds = time.monotonic() - started
    stats = {"words": vocab.total_words, "vocabulary": len(vocab), "train_seconds": seconds,
             "words_per_second": vocab.total_words * config.epochs / max(seconds, 1e-9)}
    (run.path / STATS_FILE).write_text(json.dumps(stats, indent=2) + "\n")
    (run.path / "corpus.ids").unlink(missing_ok=True)
    return WordVectors(tuple(vocab.words), model.vectors())


def run_vectors(run) -> WordVectors:
    """The vectors of a finished word2vec run (vocab.tsv + best.keras)."""
    words = [line.split("\t")[0] for line in (run.path / VOCAB_FILE).read_text(encoding="utf-8").splitlines()]
    return WordVectors(tuple(words), run.load_model().vectors())
