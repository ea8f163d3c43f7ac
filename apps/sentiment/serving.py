"""Sentiment's serving signatures (strings in) and the probabilities of raw texts."""

import numpy as np

from apps.common import ood as ood_lib
from apps.common import validation
from apps.sentiment.context import features as context_features
from apps.sentiment.model import member_classifiers
from apps.sentiment.subjective import chain_log_odds, weighted_mean


def probabilities_from_logits(logits):
    """(N, 1) binary logit -> (N, 2) [P(class 0), P(class 1)]; (N, K) -> softmax. Tensor in, out."""
    import tensorflow as tf

    if logits.shape[-1] == 1:
        p = tf.sigmoid(logits)
        return tf.concat([1.0 - p, p], axis=-1)
    return tf.nn.softmax(logits)


def logits(model, texts, batch_size=256) -> np.ndarray:
    """(N, 1 | K) logits of raw strings, in compiled batches."""
    import tensorflow as tf

    if len(texts) == 0:
        return np.zeros((0, model.output_shape[-1]), np.float32)
    return model.predict(tf.constant([str(t) for t in texts]), batch_size=batch_size, verbose=0)


def probabilities(model, texts, batch_size=256) -> np.ndarray:
    """(N, K) class probabilities of raw strings, in compiled batches."""
    import tensorflow as tf

    k = max(2, model.output_shape[-1])
    if len(texts) == 0:
        return np.zeros((0, k), np.float32)
    logits = model.predict(tf.constant([str(t) for t in texts]), batch_size=batch_size, verbose=0)
    return probabilities_from_logits(tf.constant(logits)).numpy()


def tf_strings(texts):
    """A string tensor of Python texts."""
    import tensorflow as tf

    return tf.constant([str(t) for t in texts], tf.string)


def ids_model(model):
    """The part of a strings -> logits model after its TextVectorization: token ids (batch,
    time) -> logits; for an ensemble, its members' classifiers and their probability mean."""
    import keras


    classifiers = member_classifiers(model)
    if len(classifiers) == 1:
        return classifiers[0]
    ids = keras.Input((None,), dtype="int64", name="token_ids")
    return keras.Model(ids, model.get_layer("mean_probability")([c(ids) for c in classifiers]), name="ids_to_logits")


def ragged_tokens(model, name="whole_text_tokens"):
    """The model's TextVectorization (same standardisation and vocabulary) without truncation:
    strings (N,) -> ragged token ids (N, None)."""
    import keras

    vectorize = model.get_layer("vectorize")
    return keras.layers.TextVectorization(standardize=vectorize._standardize, vocabulary=vectorize.get_vocabulary(),
                                          ragged=True, name=name)


class WholeText:
    """Reads every token of a text: its token ids in windows of `sequence_length` (the length
    the model was trained on), the logits of each window by the model, their mean per text
    (with `subjectivity`, a token ids -> 1 logit model: weighted by p(subjective) ** `power`,
    apps/sentiment/subjective.py). A text of at most `sequence_length` tokens is one window:
    the model's own answer. With `sentences`, a longer text is cut at its sentence ends
    first (".", "!" or "?" before white space; line breaks), each sentence in windows of its
    own, so a window is one snippet-like sentence, not a mix of review and plot summary.

    With `evidence` > 0, the members' own confidence is evidence of subjectivity too: the
    chain reads scale * table log odds + evidence * (margin - `center`) per window (margin |z|
    of a binary logit, else the top two logits' difference). With `offset` (binary logits
    only), the windows of texts over `length` tokens are answered z - offset * p(objective):
    the documents members' bias on neutral text they never saw (positive: plot summaries read
    as mildly fresh), removed where the chain finds plot text.

    With `context` (binary logits, a subjectivity model and `documents`; apps/sentiment/context.py),
    texts over `length` tokens are answered by that reader of their windows' [z, table log odds,
    chain posterior] in order instead of the weighted mean: it re-weighs each window in the
    light of its neighbours (review-like text deep inside a block of plot is plot)."""

    def __init__(self, model, sequence_length: int, subjectivity=None, power: float = 1.0, sentences=False,
                 documents=None, switch: float = 0.5, scale: float = 1.0, evidence: float = 0.0,
                 center: float = 1.0, offset: float = 0.0, context=None):
        import tensorflow as tf

        self.length = int(sequence_length)
        self.tokens = ragged_tokens(model)
        self.classify = ids_model(model)
        self.classify_long = ids_model(documents) if documents is not None else None
        self.subjectivity = subjectivity
        self.power = float(power)
        self.sentences = bool(sentences)
        self.switch, self.scale = float(switch), float(scale)
        self.evidence, self.center, self.offset = float(evidence), float(center), float(offset)
        if context is not None and (subjectivity is None or documents is None or not self.sentences):
            raise ValueError("a context reader needs a subjectivity model, documents members and sentences=True")
        self.context = context
        # Eager callers (predict, read_logits): the chain's scans as one traced graph, not a
        # Python step per window (~2 ms each: 1.8 s for 800 windows, 0.03 s traced).
        self.chain = tf.function(chain_log_odds, reduce_retracing=True)

    def _chunks(self, ids, least):
        """ragged ids (R, tokens) -> (windows (W, length), row of each window (W,) int32); a row
        is max(least, ceil(tokens / length)) windows, post-padded with 0 = padding."""
        import tensorflow as tf

        rows, length = ids.nrows(), self.length
        windows = tf.maximum((ids.row_lengths() + length - 1) // length, least)
        most = tf.maximum(tf.reduce_max(windows), 1)
        dense = ids.to_tensor(shape=tf.stack([rows, most * length]))
        keep = tf.range(most)[None, :] < windows[:, None]  # (R, most)
        chunks = tf.boolean_mask(tf.reshape(dense, [rows, most, length]), keep)
        return chunks, tf.boolean_mask(tf.tile(tf.range(tf.cast(rows, tf.int32))[:, None], [1, most]), keep)

    def windows(self, text):
        """string (N,) -> (windows (W, length) int64, owner (W,) int32, tokens read (N,) int64)."""
        import tensorflow as tf

        ids = tf.cast(self.tokens(text), tf.int64)  # ragged (N, tokens)
        read = ids.row_lengths()
        if not self.sentences:
            return (*self._chunks(ids, 1), read)  # "" is one empty window
        n = tf.shape(text)[0]
        chunks, owner = self.sentence_windows(text, read > self.length)
        # A text without a token ("", punctuation only): one empty window, as the plain reading.
        empty = tf.cast(tf.where(tf.math.unsorted_segment_sum(tf.ones_like(owner), owner, n) == 0)[:, 0], tf.int32)
        chunks = tf.concat([chunks, tf.zeros(tf.stack([tf.size(empty), self.length]), tf.int64)], axis=0)
        return chunks, tf.concat([owner, empty], axis=0), read

    def sentence_windows(self, text, cut):
        """string (N,), bool (N,) -> (windows (W, length), owner (W,) int32): the texts where
        `cut` cut at their sentence ends (".", "!" or "?" before white space; line breaks), each
        sentence in windows of its own; the others one piece. A text without a token has none."""
        import tensorflow as tf

        split = tf.strings.regex_replace(text, r"([.!?])\s+", "\\1\n")
        joined = tf.strings.regex_replace(text, "\n", " ")  # a short text stays one piece
        pieces = tf.strings.split(tf.where(cut, split, joined), sep="\n")  # ragged (N, pieces)
        chunks, piece = self._chunks(tf.cast(self.tokens(pieces.flat_values), tf.int64), 0)
        return chunks, tf.gather(tf.cast(pieces.value_rowids(), tf.int32), piece)

    def posterior(self, table, logits, owner):
        """(W,) posterior log odds that each window is subjective from the table's log odds (W,):
        times `scale` (+ `evidence` times the window's margin minus `center`), through the chain
        of the text's windows unless `switch` is 0.5."""
        import tensorflow as tf

        log_odds = self.scale * table
        if self.evidence:
            log_odds += self.evidence * (margin(logits) - self.center)
        if self.switch < 0.5:
            chain = self.chain if tf.executing_eagerly() else chain_log_odds  # an export traces it inline
            log_odds = chain(log_odds, owner, self.switch)
        return log_odds

    def log_odds(self, chunks, owner, logits):
        """(W,) posterior log odds that each window is subjective (None without a subjectivity
        model): the table's log odds times `scale` (+ `evidence` times the window's margin
        minus `center`), through the chain of the text's windows (`subjective.chain_log_odds`)
        unless `switch` is 0.5."""
        if self.subjectivity is None:
            return None
        return self.posterior(self.subjectivity(chunks, training=False)[:, 0], logits, owner)

    def window_logits(self, chunks, owner, read):
        """(W, 1 | K) logits of the windows: by the `documents` model for the windows of texts
        over `length` tokens when there is one, else (and for one-window texts) by the model."""
        import tensorflow as tf

        if self.classify_long is None:
            return self.classify(chunks, training=False)
        long = tf.cast(tf.gather(read > self.length, owner), tf.int32)  # (W,) 1: a long text's window
        parts = tf.dynamic_partition(chunks, long, 2)
        rows = tf.dynamic_partition(tf.range(tf.shape(chunks)[0]), long, 2)
        width = self.classify.output_shape[-1]

        def read(net, ids):  # a model is not called on 0 windows (its max pooling fails on them)
            return tf.cond(tf.shape(ids)[0] > 0, lambda: net(ids, training=False),
                           lambda: tf.zeros((0, width), tf.float32))

        return tf.dynamic_stitch(rows, [read(self.classify, parts[0]), read(self.classify_long, parts[1])])

    def __call__(self, text):
        """string (N,) -> (logits (N, 1 | K), tokens read (N,) int64)."""
        import tensorflow as tf

        chunks, owner, read = self.windows(text)
        n = tf.shape(read)[0]
        logits = self.window_logits(chunks, owner, read)
        if self.subjectivity is None:
            return tf.math.unsorted_segment_mean(logits, owner, n), read
        table = self.subjectivity(chunks, training=False)[:, 0]
        log_odds = self.posterior(table, logits, owner)
        if self.context is not None and logits.shape[-1] == 1:
            documents = self.context(context_features(logits[:, 0], table, log_odds, owner, n), training=False)
        if self.offset and logits.shape[-1] == 1:
            long = tf.cast(tf.gather(read > self.length, owner), logits.dtype)  # (W,) 1: a long text's window
            logits -= (self.offset * long * tf.sigmoid(-log_odds))[:, None]
        mean = weighted_mean(logits, self.power * tf.math.log_sigmoid(log_odds), owner, n)
        if self.context is not None and logits.shape[-1] == 1:
            mean = tf.where((read > self.length)[:, None], documents, mean)  # one-window texts: their own answer
        return mean, read


def margin(logits):
    """(W, 1 | K) logits -> (W,) how decided each window is: |z| of a binary logit (the two
    classes' logits 0 and z), else the difference of its top two logits."""
    import tensorflow as tf

    if logits.shape[-1] == 1:
        return tf.abs(logits[:, 0])
    top = tf.math.top_k(logits, 2).values
    return top[:, 0] - top[:, 1]


def export_module(model, labels, max_chars=100_000, calibration=None, whole=None, familiar=None):
    """A tf.Module with the serving signatures: raw strings in; probabilities, class id,
    label and score out (`serving_default`), or the token ids the model reads (`tokenize`).
    The TextVectorization layer and its vocabulary table are inside the graph.

    `serving_default` checks each text (apps/common/validation.py: empty, whitespace or
    punctuation only, over `max_chars` characters) and returns `error` per instance ("" when
    fine; a refused text is answered as the empty text, which the server drops). With
    `calibration` (apps/common/ood.py) it also returns `unsure`, `ood_score` and
    `ood_threshold` per instance (a "bigram" calibration scores the text's token ids with
    `familiar`, a text_ood.FamiliarityScore). With `whole` (a `WholeText` of `model`, e.g. the
    run's reading from task.whole_text) a text is read whole and `tokens_read` says how many
    tokens; without, the model reads its first tokens as trained. An empty batch answers empty
    outputs."""
    import tensorflow as tf

    class SentimentServing(tf.Module):
        def __init__(self):
            super().__init__()
            self.model = model
            self.whole = whole
            if whole is not None:  # tracked, so their vocabulary table and weights are saved
                self.whole_tokens, self.whole_classify = whole.tokens, whole.classify
                if whole.subjectivity is not None:
                    self.whole_subjectivity = whole.subjectivity
                if whole.classify_long is not None:
                    self.whole_classify_long = whole.classify_long
                if whole.context is not None:
                    self.whole_context = whole.context
            self.labels = tf.constant(list(labels))
            if calibration is not None and calibration.score == "bigram":
                if familiar is None:
                    raise ValueError("a 'bigram' calibration needs `familiar` (its FamiliarityScore)")
                self.familiar = familiar
                self.familiar_tables = [familiar.keys, familiar.log_counts, familiar.log_unigrams]
                self.familiar_tokens = self.whole.tokens if self.whole is not None else ragged_tokens(model)

    module = SentimentServing()

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def classify(text):
        errors = validation.text_verdicts(text, max_chars)
        n = tf.shape(text)[0]
        # Refused texts are read as "" (an over-long one is not tokenised); a 0-row batch as [""].
        read = tf.where(tf.equal(errors, ""), text, "")
        read = tf.cond(n > 0, lambda: read, lambda: tf.constant([""]))
        out = {}
        if module.whole is not None:
            logits, tokens = module.whole(read)
            logits, out["tokens_read"] = logits[:n], tokens[:n]
        else:
            logits = module.model(read, training=False)[:n]
        probs = probabilities_from_logits(logits)
        ids = tf.argmax(probs, axis=-1)
        out.update({"probabilities": probs, "class_ids": ids, "classes": tf.gather(module.labels, ids),
                    "scores": tf.reduce_max(probs, axis=-1), "error": errors})
        if calibration is not None:
            if calibration.score == "bigram":
                score = module.familiar(tf.cast(module.familiar_tokens(read), tf.int64))[:n]
            else:
                score = ood_lib.score_tensor(logits, calibration.score)
            out.update(unsure=score > calibration.threshold, ood_score=score,
                       ood_threshold=tf.fill([n], tf.constant(calibration.threshold, tf.float32)))
        return out

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def tokenize(text):
        return {"token_ids": module.model.get_layer("vectorize")(text)}

    module.classify = classify
    module.tokenize = tokenize
    return module, {"serving_default": classify, "tokenize": tokenize}
