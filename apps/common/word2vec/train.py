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


def chunks_dataset(ids, config):
    """tf.data of the corpus chunks (int32 ids, each ending after a sentence), read from the
    memory-mapped id file one chunk at a time; the model makes the pairs in its graph."""
    import tensorflow as tf

    def generate():
        yield from corpus.chunks(ids, config.chunk_words)

    spec = tf.TensorSpec([None], tf.int32)
    return tf.data.Dataset.from_generator(generate, output_signature=spec).prefetch(2)


def progress_callback(total_words: float, every: float = 10.0, stream=None):
    """A Keras callback writing gensim-like progress to stderr at most every `every` seconds:
    `word2vec: 41.3% of 56,750,000 words, 312,456 words/s, ETA 1 min 54 s`."""
    import keras

    class Progress(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.started, self.last, self.first = time.monotonic(), time.monotonic(), None

        def on_train_batch_end(self, batch, logs=None):
            now = time.monotonic()
            done = float((logs or {}).get("words", 0.0))
            if self.first is None:  # words already trained before this process (a resume)
                self.first, self.started = done, now
                return
            if now - self.last < every:
                return
            self.last = now
            rate = (done - self.first) / max(now - self.started, 1e-9)
            eta = (total_words - done) / max(rate, 1e-9)
            print(f"word2vec: {100 * done / total_words:.1f}% of {total_words:,.0f} words, "
                  f"{rate:,.0f} words/s, ETA {_duration(eta)}", file=stream or sys.stderr, flush=True)

    return Progress()


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(int(round(seconds)), 60)
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


def train_vectors(run, config, verbose=None, vocab=None) -> WordVectors:
    """Train `config`'s word2vec in `run` (resuming it from its last finished epoch); the
    vocabulary (`vocab`, else counted now) goes to vocab.tsv, the model to best.keras, speed to
    train_stats.json."""
    set_workers(config.workers)
    started = time.monotonic()
    vocab = corpus.build_vocabulary(config) if vocab is None else vocab
    (run.path / VOCAB_FILE).write_text("".join(f"{w}\t{c}\n" for w, c in zip(vocab.words, vocab.counts)),
                                       encoding="utf-8")
    encoding = time.monotonic()
    ids = corpus.encode_corpus(config, vocab, run.path / "corpus.ids")
    encode_seconds = time.monotonic() - encoding
    in_vocab = int(np.count_nonzero(np.asarray(ids) != corpus.SEPARATOR))
    print(f"{vocab.total_words} words, {len(vocab)} in the vocabulary (min_count={config.min_count}), "
          f"{in_vocab} kept; prepared in {time.monotonic() - started:.1f} s", file=sys.stderr)
    total = in_vocab * config.epochs
    model = build_model(config, vocab, total)
    dataset = chunks_dataset(ids, config)
    started = time.monotonic()
    with warnings.catch_warnings():
        # The chunk stream's length is unknown until the first epoch ends; Keras warns then.
        warnings.filterwarnings("ignore", message="Your input ran out of data")
        # Word2vec's result is the last model (the learning rate has reached min_alpha), not the
        # epoch of lowest loss.
        run.fit(model, dataset, None, epochs=config.epochs, monitor="loss", mode="min", keep="last",
                verbose=verbose, callbacks=[] if verbose == 0 else [progress_callback(total)])
    seconds = time.monotonic() - started
    stats = {"words": vocab.total_words, "vocabulary": len(vocab), "train_seconds": seconds,
             "encode_seconds": encode_seconds,
             "words_per_second": vocab.total_words * config.epochs / max(seconds, 1e-9)}
    (run.path / STATS_FILE).write_text(json.dumps(stats, indent=2) + "\n")
    (run.path / "corpus.ids").unlink(missing_ok=True)
    return WordVectors(tuple(vocab.words), model.vectors())


def run_vectors(run) -> WordVectors:
    """The vectors of a finished word2vec run (vocab.tsv + best.keras)."""
    words = [line.split("\t")[0] for line in (run.path / VOCAB_FILE).read_text(encoding="utf-8").splitlines()]
    return WordVectors(tuple(words), run.load_model().vectors())
