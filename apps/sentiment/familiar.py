"""Sentiment's "bigram" out-of-distribution score: how English-review-like a text's adjacent
words are (apps/common/text_ood.py), counted on reference text that holds no validation or
test snippet: the training snippets and the unlabelled corpora of `config.ood_reference`."""

import numpy as np

from apps.common import text_ood
from apps.common.config import plus_parts
from apps.common.word2vec.config import Word2VecConfig
from apps.common.word2vec.corpus import sentences
from apps.sentiment.data import rotten_tomatoes_rows

BIGRAMS_FILE = "ood_bigrams.npz"  # in the run, beside ood.json
REFERENCES = ("train", "plot", "wiki", "lee")


def reference_texts(config, splits) -> list:
    """The reference paragraphs: "train" the training snippets (never validation: the threshold
    is set on it), "plot" the corpus's plot summaries, "wiki"/"lee" gensim's embedded text."""
    texts = []
    for name in plus_parts(config, "ood_reference", REFERENCES):
        if name == "train":
            texts += [str(t) for t in splits.x_train]
        elif name == "plot":
            texts += [text for category, text in rotten_tomatoes_rows() if category == "plot"]
        else:
            texts += [" ".join(tokens) for tokens in sentences(Word2VecConfig(data=name))]
    return texts


def ragged_ids(tokens, texts, batch_size=1024):
    """Ragged (N, None) int64 token ids of Python texts by a ragged TextVectorization."""
    import tensorflow as tf

    parts = [tf.cast(tokens(tf.constant([str(t) for t in texts[i:i + batch_size]])), tf.int64)
             for i in range(0, len(texts), batch_size)]
    return tf.concat(parts, axis=0) if parts else tf.ragged.constant([], dtype=tf.int64, ragged_rank=1)


def fit(config, splits, tokens) -> text_ood.Bigrams:
    """The reference text's `Bigrams` in the model's token ids."""
    ids = ragged_ids(tokens, reference_texts(config, splits))
    rows = np.split(ids.flat_values.numpy(), ids.row_splits.numpy()[1:-1])
    return text_ood.fit_bigrams(rows, tokens.vocabulary_size())
