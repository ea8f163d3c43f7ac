"""train / evaluate / predict / export for sentiment classification of raw text."""

import json
import math
import pathlib
import sys

import numpy as np

from apps.common import cli, report
from apps.common import export as export_lib
from apps.common import metrics as metrics_lib
from apps.common import train as train_lib
from apps.common.errors import DataError
from apps.sentiment.config import PRESETS, Config
from apps.sentiment.data import class_counts, decode_utf8, load_data, make_dataset

NAME = "sentiment"


# ---------------------------------------------------------------- models of a run
def load_run_model(run_dir):
    import apps.sentiment.model  # noqa: F401 - registers the standardize functions and pooling

    return train_lib.load_best_model(run_dir)


def load_run(run_dir):
    """(config, class names, model) of a finished run."""
    return (*train_lib.read_run(Config, run_dir), load_run_model(run_dir))


def probabilities_from_logits(logits):
    """(N, 1) binary logit -> (N, 2) [P(class 0), P(class 1)]; (N, K) -> softmax. Tensor in, out."""
    import tensorflow as tf

    if logits.shape[-1] == 1:
        p = tf.sigmoid(logits)
        return tf.concat([1.0 - p, p], axis=-1)
    return tf.nn.softmax(logits)


def probabilities(model, texts, batch_size=256) -> np.ndarray:
    """(N, K) class probabilities of raw strings, in compiled batches."""
    import tensorflow as tf

    k = max(2, model.output_shape[-1])
    if len(texts) == 0:
        return np.zeros((0, k), np.float32)
    logits = model.predict(tf.constant([str(t) for t in texts]), batch_size=batch_size, verbose=0)
    return probabilities_from_logits(tf.constant(logits)).numpy()


# ---------------------------------------------------------------- train
def compile_model(model, config, num_classes, steps_per_epoch):
    import keras

    if num_classes == 2:
        loss = keras.losses.BinaryCrossentropy(from_logits=True, label_smoothing=config.label_smoothing)
        accuracy = keras.metrics.BinaryAccuracy(threshold=0.0, name="accuracy")  # on the logit
    else:
        loss = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=config.label_smoothing)
        accuracy = keras.metrics.CategoricalAccuracy(name="accuracy")
    model.compile(optimizer=train_lib.make_optimizer(config, steps_per_epoch), loss=loss, metrics=[accuracy])


def init_embeddings(model, config, log=None, path=None, loaded=None) -> dict:
    """Set the embedding layer from `path` (default `config.embeddings`), or from `loaded`
    (its (words, vectors), already read); returns what was found."""
    from apps.sentiment.model import classifier, vectorizer
    from apps.sentiment.vectors import embedding_matrix, load_word_vectors

    path = str(path or config.embeddings)
    words, vectors = loaded if loaded is not None else load_word_vectors(path)
    vocabulary = vectorizer(model).get_vocabulary()
    matrix, found = embedding_matrix(vocabulary, words, vectors, config.embedding_dim, config.seed)
    classifier(model).get_layer("embedding").set_weights([matrix])
    info = {"embeddings": path, "vectors": len(words), "vocabulary": len(vocabulary) - 2,
            "found": found, "frozen": config.freeze_embeddings}
    if log:
        print(f"embeddings: {found} of {len(vocabulary) - 2} vocabulary words from {path} "
              f"({'frozen' if config.freeze_embeddings else 'fine-tuned'})", file=log)
    return info


def init_lexicon(model, config, log=None, words=None) -> int:
    """Fill the model's fixed lexicon table for its vocabulary from `words` (default: read
    `config.lexicon`'s lexicons); returns the vocabulary words listed."""
    from apps.sentiment import lexicon
    from apps.sentiment.model import classifier, vectorizer

    vocabulary = vectorizer(model).get_vocabulary()
    words = lexicon.load(config) if words is None else words
    matrix, found = lexicon.feature_matrix(vocabulary, words, lexicon.width(config))
    classifier(model).get_layer("lexicon").set_weights([matrix])
    if log:
        print(f"lexicon: {found} of {len(vocabulary) - 2} vocabulary words listed ({config.lexicon})",
              file=log)
    return found


def word_vectors_path(config, splits, log=None) -> str:
    """The vectors initialising the embedding: the user's `embeddings`, else our word2vec
    pretrained on `config.pretrain` (cached), else "" (random initialisation)."""
    from apps.sentiment import pretrain

    if config.embeddings:
        return config.embeddings
    if pretrain.wanted(config):
        return str(pretrain.pretrained_vectors(config, splits, log=log))
    return ""


def train(config, run_dir=None, fresh=False, verbose=None):
    """Train a sentiment classifier; returns the run directory (resumes an unfinished one)."""
    from apps.sentiment import lexicon, pretrain
    from apps.sentiment.model import build_ensemble, build_vocabulary, check_config, extend_vocabulary
    from apps.sentiment.vectors import load_word_vectors

    check_config(config)
    pretrain.check_config(config)
    train_lib.seed_everything(config.seed)
    splits = load_data(config)
    vectors = word_vectors_path(config, splits, log=sys.stderr)  # before the run: a cache hit after
    train_lib.seed_everything(config.seed)
    run_dir, resumed = train_lib.prepare_run(NAME, config, run_dir, fresh)
    print(f"{'resuming' if resumed else 'run'} {run_dir}: {len(splits.y_train)} train, "
          f"{len(splits.y_val)} validation, {len(splits.y_test)} test texts; classes "
          f"{class_counts(splits.y_train, splits.class_names)}", file=sys.stderr)
    (run_dir / "labels.txt").write_text("".join(f"{c}\n" for c in splits.class_names), encoding="utf-8")
    # Each source read once for all members: the word vectors, the lexicons.
    sources = {"vectors": vectors, "loaded": load_word_vectors(vectors) if vectors else None,
               "lexicon": lexicon.load(config) if lexicon.parts(config) else None}
    vocabulary = build_vocabulary(splits.x_train, config)  # training texts only
    if config.extend_vocabulary:
        candidates = list(sources["loaded"][0]) if sources["loaded"] else []
        candidates += sorted(sources["lexicon"] or ())
        vocabulary = extend_vocabulary(vocabulary, candidates, config.max_tokens, log=sys.stderr)
    if config.ensemble == 1:
        _train_member(config, config.seed, splits, vocabulary, sources, run_dir, verbose)
        return run_dir
    # An ensemble: members differing only by their seed (initialisation, dropout, batch
    # order), each trained and checkpointed in member<i>/ exactly as a single model; then one
    # model averaging their probabilities is the run's best model.
    members = []
    for i in range(config.ensemble):
        member_dir = run_dir / f"member{i + 1}"
        member_dir.mkdir(exist_ok=True)
        if not (member_dir / train_lib.DONE_MARKER).exists():
            print(f"ensemble member {i + 1} of {config.ensemble}", file=sys.stderr)
            _train_member(config, config.seed + i, splits, vocabulary, sources, member_dir, verbose)
        members.append(load_run_model(member_dir))
    ensemble_model = build_ensemble(members)
    ensemble_model.save(run_dir / train_lib.BEST_MODEL)
    _write_ensemble_log(run_dir, config.ensemble)
    (run_dir / train_lib.DONE_MARKER).write_text("ensemble\n")
    return run_dir


def _train_member(config, seed, splits, vocabulary, sources, run_dir, verbose):
    """One network trained and checkpointed (best validation accuracy) in `run_dir`."""
    import dataclasses

    from apps.sentiment.model import build_model

    config = dataclasses.replace(config, seed=seed)
    train_lib.seed_everything(seed)
    num_classes = len(splits.class_names)
    model = build_model(config, num_classes, vocabulary)
    if sources["vectors"]:
        info = init_embeddings(model, config, log=sys.stderr, path=sources["vectors"],
                               loaded=sources["loaded"])
        (run_dir / "embeddings.json").write_text(json.dumps(info, indent=2) + "\n")
    if sources["lexicon"] is not None:
        init_lexicon(model, config, log=sys.stderr, words=sources["lexicon"])
    train_ds = make_dataset(splits.x_train, splits.y_train, config, num_classes, training=True)
    val_ds = make_dataset(splits.x_val, splits.y_val, config, num_classes, training=False)
    compile_model(model, config, num_classes, math.ceil(len(splits.y_train) / config.batch_size))
    train_lib.fit(model, train_ds, val_ds, config, run_dir, verbose=verbose)


def _write_ensemble_log(run_dir, members: int) -> None:
    """log.csv of an ensemble: per epoch, the mean over the members that ran it (a member
    stopped early contributes to the epochs it ran)."""
    import csv

    logs = []
    for i in range(members):
        with (run_dir / f"member{i + 1}" / "log.csv").open(newline="") as f:
            logs.append(list(csv.DictReader(f)))
    keys = [k for k in logs[0][0] if k != "epoch"]
    rows = []
    for epoch in range(max(len(log) for log in logs)):
        present = [log[epoch] for log in logs if epoch < len(log)]
        rows.append({"epoch": epoch, "members": len(present),
                     **{k: sum(float(r[k]) for r in present) / len(present) for k in keys}})
    with (run_dir / "log.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["epoch", "members", *keys])
        writer.writeheader()
        writer.writerows(rows)


# ---------------------------------------------------------------- evaluate
def evaluate(run_dir, out_dir=None, mistakes=10):
    """Accuracy, per-class P/R/F1, ROC AUC, confusion matrix and the most confidently wrong
    test texts; writes metrics.json and confusion.png; returns the report."""
    from apps.sentiment.metrics import confident_mistakes, roc_auc

    config, labels, model = load_run(run_dir)
    splits = load_data(config)
    probs = probabilities(model, splits.x_test)
    cm = metrics_lib.confusion_matrix(splits.y_test, probs.argmax(axis=1), len(labels))
    result = metrics_lib.per_class_report(cm, labels)
    result["roc_auc"] = roc_auc(splits.y_test, probs)
    if len(labels) == 2:
        result["f1"] = result["per_class"][labels[1]]["f1"]  # of the positive class
    result["confusion_matrix"] = cm.tolist()
    result["confident_mistakes"] = confident_mistakes(splits.x_test, splits.y_test, probs, labels, mistakes)
    result["data"] = config.data
    out_dir = pathlib.Path(out_dir or pathlib.Path(run_dir) / "eval")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n",
                                          encoding="utf-8")
    result["confusion_png"] = str(report.confusion_matrix_png(cm, labels, out_dir / "confusion.png"))
    return result


def format_evaluation(result) -> str:
    lines = [metrics_lib.format_report(result).replace(" images", " texts"),
             f"ROC AUC {result['roc_auc']:.4f}"]
    if result["confident_mistakes"]:
        lines.append("most confidently wrong:")
        for m in result["confident_mistakes"]:
            text = m["text"] if len(m["text"]) <= 100 else m["text"][:97] + "..."
            lines.append(f"  {m['true']}->{m['predicted']} {m['probability']:.3f}  {text}")
    return "\n".join(lines)


# ---------------------------------------------------------------- predict
def check_texts(texts, origin="text") -> list:
    """Texts to predict: an empty or whitespace-only one is an error (nothing to judge)."""
    for i, text in enumerate(texts, start=1):
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"{origin} {i}: empty or whitespace only; give some words to classify")
    return list(texts)


def read_stdin_texts(stream) -> list:
    """One text per line of a binary stream (UTF-8; blank lines are skipped)."""
    text = decode_utf8(stream.read(), "stdin")
    return [line for line in text.splitlines() if line.strip()]


def predict(texts, run_dir):
    """[(text, [(label, probability), ...] sorted by probability)] for raw strings."""
    config, labels, model = load_run(run_dir)
    probs = probabilities(model, check_texts(texts))
    results = []
    for text, row in zip(texts, probs):
        order = np.argsort(-row, kind="mergesort")
        results.append((text, [(labels[i], float(row[i])) for i in order]))
    return results


# ---------------------------------------------------------------- export
def export_module(model, labels):
    """A tf.Module with the serving signatures: raw strings in; probabilities, class id,
    label and score out (`serving_default`), or the token ids the model reads (`tokenize`).
    The TextVectorization layer and its vocabulary table are inside the graph."""
    import tensorflow as tf

    class SentimentServing(tf.Module):
        def __init__(self):
            super().__init__()
            self.model = model
            self.labels = tf.constant(list(labels))

    module = SentimentServing()

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def classify(text):
        probs = probabilities_from_logits(module.model(text, training=False))
        ids = tf.argmax(probs, axis=-1)
        return {"probabilities": probs, "class_ids": ids, "classes": tf.gather(module.labels, ids),
                "scores": tf.reduce_max(probs, axis=-1)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def tokenize(text):
        return {"token_ids": module.model.get_layer("vectorize")(text)}

    module.classify = classify
    module.tokenize = tokenize
    return module, {"serving_default": classify, "tokenize": tokenize}


def export_signatures(model, labels):
    return export_module(model, labels)[1]


def export(run_dir, root="saved_models"):
    """Export the run as the next version of saved_models/sentiment/; returns its directory."""
    from apps.sentiment.model import vectorizer

    config, labels, model = load_run(run_dir)
    result = evaluate(run_dir)
    keep = {k: v for k, v in result.items() if not k.endswith("_png")}
    module, signatures = export_module(model, labels)
    vocabulary = vectorizer(model).get_vocabulary()
    return export_lib.write_saved_model(
        NAME, module, signatures, root=root, config=config, labels=labels, metrics=keep,
        extra_assets={"vocabulary.txt": "".join(f"{w}\n" for w in vocabulary)},
    )


# ---------------------------------------------------------------- CLI
def _run(args):
    return train_lib.resolve_run(NAME, args.run)


def _cmd_train(args):
    from apps import sentiment as app

    config = cli.config_from_args(app, args)
    run_dir = train(config, run_dir=args.run_dir, fresh=args.fresh)
    print(format_evaluation(evaluate(run_dir)))
    print(f"run: {run_dir}")


def _cmd_evaluate(args):
    result = evaluate(_run(args))
    print(format_evaluation(result))
    print(f"confusion matrix: {result['confusion_png']}")


def _cmd_predict(args):
    texts = args.texts
    if not texts or texts == ["-"]:
        texts = read_stdin_texts(sys.stdin.buffer)
        if not texts:
            raise DataError("stdin: no text to classify (one text per line)")
    for text, ranked in predict(texts, _run(args)):
        if args.json:
            print(json.dumps({"text": text, "predictions": [
                {"label": label, "probability": p} for label, p in ranked]}, ensure_ascii=False))
        else:
            label, p = ranked[0]
            shown = text if len(text) <= 80 else text[:77] + "..."
            print(f"{label}\t{p:.4f}\t{shown}")


def _cmd_export(args):
    print(f"exported {export(_run(args), root=args.model_root)}")


def add_commands(sub) -> None:
    cli.add_train_command(
        sub, PRESETS, _cmd_train, help="train a sentiment classifier (resumes an interrupted run)",
        description="Train on raw text. Datasets: rotten_tomatoes (embedded default), "
        "csv:<path> (--set text_column=... --set label_column=...), tfds:imdb_reviews. "
        "Models: --set model=rnn|average, cell=gru|lstm, bidirectional, rnn_layers, "
        "embeddings=<word2vec file or embeddings export dir>, freeze_embeddings.")

    cli.add_run_command(sub, "evaluate", "accuracy, F1, ROC AUC, confusion matrix, confident mistakes",
                        _cmd_evaluate)

    p = sub.add_parser("predict", help="labels and probabilities for texts (arguments or stdin lines)")
    p.add_argument("texts", nargs="*", help="texts to classify; none or '-': one per line from stdin")
    cli.add_run_argument(p)
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=_cmd_predict)

    cli.add_run_command(sub, "export", "write saved_models/sentiment/<version>/ (strings in)",
                        _cmd_export, model_root=True)
