"""Sentiment on the embedded Rotten Tomatoes snippets: our RNN against linear baselines, the
effect of word2vec initialisation, and the training speed of our cells against Keras's layers.

All on the app's own fixed-seed stratified 10 % test split (1,281 snippets) of the 12,808
fresh/rotten snippets; the RNN's early stopping uses a validation part of the training part only.

Rows (each reference measured in this run):
- the default RNN (the app's default config: bidirectional RNN(layers.GRUCell), max+mean
  pooling, embedding initialised from our word2vec pretrained by the app itself, fine-tuned,
  and, when the default is an ensemble, the mean of its seeds' probabilities): test accuracy,
  target >= 80 %;
- one network of the default (when it is an ensemble), the same network without the lexicon
  features and with the vocabulary of the training texts only (the default before they were
  added), with random embeddings (`pretrain=""`) and with the word2vec vectors frozen: the
  effect of the lexicons and of the initialisation;
- the course's average-of-embeddings model (random and word2vec-initialised);
- TF-IDF + logistic regression and TF-IDF (unigrams + bigrams) + linear SVM (scikit-learn,
  the `[test]` extra), trained on training + validation texts;
- training steps/s of the sentiment network with RNN(our GRUCell/LSTMCell) against the same
  network with keras.layers.GRU(reset_after=False)/LSTM at equal weights, on real batches.

Word vectors: the app's own pretraining (apps/sentiment/pretrain.py): our word2vec
(apps/common/word2vec, skip-gram) on unlabelled text only: the corpus's 1,097 `plot` rows, the
training and validation snippets (never the test snippets, and no labels), and gensim's
embedded Wikipedia + Lee text; cached by a hash of corpus + settings (the row says when the
vectors came from the cache).

    python -m benchmarks.run --only sentiment | tee benchmarks/results/sentiment.txt
"""

import dataclasses
import json
import pathlib
import shutil
import tempfile
import time

import numpy as np

from benchmarks.common import Row, at_least, interleaved_train_steps, log, median

TARGET = 0.80
WORKDIR = pathlib.Path(tempfile.gettempdir()) / "classics-bench-sentiment"


def _config(**overrides):
    from apps.sentiment.config import Config

    return dataclasses.replace(Config(), runs_dir=str(WORKDIR / "runs"), **overrides)


def pretrain_vectors(splits, quick: bool) -> tuple[pathlib.Path, float, bool]:
    """(word2vec text file, seconds, was cached): the default config's own pretraining
    (apps/sentiment/pretrain.py: our skip-gram on the unlabelled corpus, cached by key)."""
    from apps.sentiment import pretrain

    config = _config(**({"pretrain_epochs": 1} if quick else {}))
    key = pretrain.cache_key(pretrain.corpus_lines(config, splits), pretrain.settings(config))
    cached = (pretrain.cache_dir() / key / pretrain.VECTORS_FILE).is_file()
    started = time.monotonic()
    path = pretrain.pretrained_vectors(config, splits, log=None)
    seconds = time.monotonic() - started
    if cached:  # the time it took when it was trained, if recorded
        seconds = json.loads((path.parent / "settings.json").read_text()).get("seconds", seconds)
    return path, seconds, cached


def train_and_test(config) -> dict:
    from apps import get_task

    task = get_task("sentiment")
    started = time.monotonic()
    run = task.train(config, fresh=True, verbose=0)
    seconds = time.monotonic() - started
    result = task.evaluate(run)
    epochs = len(run.log_rows())
    return {"accuracy": result["accuracy"], "f1": result["f1"], "roc_auc": result["roc_auc"],
            "seconds": seconds, "epochs": epochs}


def linear_baselines(splits) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    x = [str(t) for t in splits.x_train] + [str(t) for t in splits.x_val]
    y = np.concatenate([splits.y_train, splits.y_val])
    test = [str(t) for t in splits.x_test]
    models = {
        "TF-IDF unigrams + logistic regression": make_pipeline(
            TfidfVectorizer(sublinear_tf=True), LogisticRegression(C=4.0, max_iter=2000)),
        "TF-IDF uni+bigrams + linear SVM": make_pipeline(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), LinearSVC(C=0.5)),
    }
    return {name: float(np.mean(m.fit(x, y).predict(test) == splits.y_test)) for name, m in models.items()}


def _speed_pair(kind, config, vocabulary_size):
    """(ours, reference) compiled sentiment classifiers on ids, equal weights."""
    import keras

    from apps.sentiment.model import MaskedPooling, build_classifier

    keras.utils.set_random_seed(0)
    config = dataclasses.replace(config, cell=kind.lower(), embedding_dropout=0.0, dropout=0.0, lexicon="")
    ours = build_classifier(config, 2, vocabulary_size)
    ids = keras.Input((None,), dtype="int64")
    x = keras.layers.Embedding(vocabulary_size, config.embedding_dim, mask_zero=True)(ids)
    layer = (keras.layers.GRU(config.units, reset_after=False, return_sequences=True) if kind == "GRU"
             else keras.layers.LSTM(config.units, return_sequences=True))
    x = MaskedPooling("max_mean")(keras.layers.Bidirectional(layer)(x))
    reference = keras.Model(ids, keras.layers.Dense(1)(x))
    ours.set_weights(reference.get_weights())
    for model in (ours, reference):
        model.compile(optimizer="adam", loss=keras.losses.BinaryCrossentropy(from_logits=True))
    return ours, reference


def speed_rows(splits, quick: bool) -> list[Row]:
    import tensorflow as tf

    from apps.sentiment.model import build_model, build_vocabulary, vectorizer

    config = _config()
    vocabulary = build_vocabulary(splits.x_train, config)
    vectorize = vectorizer(build_model(config, 2, vocabulary))
    texts = [str(t) for t in splits.x_train[:config.batch_size]]
    batch = (vectorize(tf.constant(texts)), splits.y_train[:config.batch_size].astype("float32")[:, None])
    rounds, steps = (2, 3) if quick else (6, 10)
    rows = []
    for kind in ("GRU", "LSTM"):
        ours, reference = _speed_pair(kind, config, len(vocabulary) + 2)
        log(f"sentiment: {kind} speed, {rounds} rounds x {steps} steps")
        times, per_round = interleaved_train_steps({"ours": ours, "reference": reference}, batch,
                                                   rounds=rounds, steps_per_round=steps)
        t_ours, t_ref = median(times["ours"]), median(times["reference"])
        ratio = median([r / o for o, r in zip(per_round["ours"], per_round["reference"], strict=True)])
        name = "GRU(reset_after=False)" if kind == "GRU" else "LSTM"
        rows.append(Row(
            f"sentiment training steps/s: Bi-RNN({kind}Cell) vs keras Bi-{name}", 1.0 / t_ours, "steps/s",
            1.0 / t_ref, "steps/s", ratio=ratio,
            note=f"batch {config.batch_size} real snippets padded to {config.sequence_length} tokens, "
                 f"embedding {config.embedding_dim}, {config.units} units per direction, max+mean "
                 f"pooling; ratio = median of {rounds} interleaved per-round speed ratios"))
    return rows


def _describe(config) -> str:
    network = f"Bi-{config.cell.upper()}" if config.bidirectional else config.cell.upper()
    init = "word2vec init, fine-tuned" if config.pretrain and not config.embeddings else "random embeddings"
    if config.lexicon:
        init += f", lexicon {config.lexicon}"
    members = f", mean of {config.ensemble} seeds" if config.ensemble > 1 else ""
    return f"{network}, {init}{members}"


def run(quick: bool) -> list[Row]:
    from apps import get_task

    if WORKDIR.exists():
        shutil.rmtree(WORKDIR)
    splits = get_task("sentiment").load_data(_config())
    rows = []
    log("sentiment: linear baselines")
    baselines = linear_baselines(splits)
    log("sentiment: word2vec on unlabelled text (the default config's pretraining)")
    _, w2v_seconds, cached = pretrain_vectors(splits, quick)
    short = {"epochs": 1, "pretrain_epochs": 1} if quick else {}
    default = _config(**short)
    one = {"ensemble": 1}
    variants = {f"default RNN ({_describe(default)})": default}
    if default.ensemble > 1:
        variants["one network of the default (ensemble=1)"] = _config(**one, **short)
    variants.update({
        "same network, no lexicon, vocabulary from training texts only": _config(
            lexicon="", extend_vocabulary=False, max_tokens=20000, **one, **short),
        "same network, random embeddings (pretrain='')": _config(pretrain="", **one, **short),
        "same network, word2vec init, frozen": _config(freeze_embeddings=True, **one, **short),
        "average of embeddings, random": _config(**{**_average(), "pretrain": "", **one, **short}),
        "average of embeddings, word2vec init": _config(**{**_average(), **one, **short}),
    })
    results = {}
    for name, config in variants.items():
        log(f"sentiment: {name}")
        results[name] = train_and_test(config)
        r = results[name]
        print(f"{name}: accuracy {r['accuracy']:.4f}, F1 {r['f1']:.4f}, ROC AUC {r['roc_auc']:.4f}, "
              f"{r['epochs']} epochs in {r['seconds']:.0f} s", flush=True)
    for name, accuracy in baselines.items():
        print(f"{name}: accuracy {accuracy:.4f}", flush=True)
    svm = baselines["TF-IDF uni+bigrams + linear SVM"]
    split_note = f"{len(splits.y_test)} test snippets (fixed-seed stratified 10 %)"
    name = next(iter(variants))
    rows.append(Row(f"sentiment accuracy: {name} vs TF-IDF+SVM", results[name]["accuracy"] * 100, "%",
                    svm * 100, "%", target=f">= {TARGET:.0%}",
                    ok=at_least(results[name]["accuracy"], TARGET),
                    note=f"{split_note}; {results[name]['seconds']:.0f} s of training "
                         f"({results[name]['epochs']} epochs logged); word2vec pretraining "
                         f"{w2v_seconds:.0f} s{' (read from the cache)' if cached else ''}"))
    for other in list(variants)[1:]:
        rows.append(Row(f"sentiment accuracy: {other} vs default", results[other]["accuracy"] * 100, "%",
                        results[name]["accuracy"] * 100, "%",
                        note=f"{results[other]['epochs']} epochs, {results[other]['seconds']:.0f} s"))
    for baseline, accuracy in baselines.items():
        rows.append(Row(f"sentiment accuracy: {baseline}", accuracy * 100, "%", note=split_note))
    rows.extend(speed_rows(splits, quick))
    if quick:
        shutil.rmtree(WORKDIR, ignore_errors=True)
    return rows


def _average():
    from apps.sentiment.config import PRESETS

    return dict(PRESETS["average"].values, model="average")


if __name__ == "__main__":
    import sys

    from benchmarks.common import format_table

    print(format_table(run(quick="--quick" in sys.argv)))
