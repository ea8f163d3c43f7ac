"""word2vec's settings, with gensim's parameter names (the embeddings app's config extends it)."""

import dataclasses
from typing import Annotated

from apps.common.config import (
    AtLeast,
    BaseConfig,
    Count,
    NonNegative,
    OneOf,
    PositiveFloat,
    PositiveInt,
    Probability,
)
from apps.common.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Word2VecConfig(BaseConfig):
    # "wiki+lee" (embedded: gensim's shortened Wikipedia + Lee corpus), "lee", "wiki", or
    # text:<path> (UTF-8, one sentence or paragraph per line, .gz/.bz2 read transparently).
    data: str = "wiki+lee"
    errors: Annotated[str, OneOf("strict", "replace")] = "strict"  # invalid UTF-8: stop or U+FFFD
    lowercase: bool = True
    max_sentence_length: PositiveInt = 10000  # longer lines are cut into pieces, as gensim does
    # gensim's Word2Vec parameters (skip-gram with negative sampling).
    vector_size: PositiveInt = 100
    window: PositiveInt = 5  # maximum; each center word samples its reduced window in 1..window
    min_count: PositiveInt = 5
    max_vocab_size: Count = 0  # 0: no cap; else keep the most frequent words
    sample: Probability = 1e-3  # frequent-word subsampling threshold (0 disables)
    negative: PositiveInt = 5
    ns_exponent: Annotated[float, AtLeast(0)] = 0.75
    epochs: PositiveInt = 5
    alpha: PositiveFloat = 0.025  # learning rate, decayed linearly to min_alpha over all words
    min_alpha: NonNegative = 0.0001
    workers: Count = 2  # TensorFlow intra-op threads (0: TensorFlow's default)
    # Ours: the pairs of `batch_words` corpus words are one SGD step, each table row moving by
    # the sum of its per-pair gradients (as if word2vec's updates were applied at once).
    # Much larger batches diverge or collapse the vectors (a frequent word is then hit
    # thousands of times by one stale gradient); 1000 words (~4k pairs) matches gensim.
    batch_words: PositiveInt = 1000
    # Words per compiled train step (one `fit` batch: pairs, negatives and its SGD loop in one
    # graph); the pairs are shuffled within a chunk.
    chunk_words: PositiveInt = 1_000_000
    # Safety net of the batched update: a row hit more often than this in one batch moves
    # by its mean gradient x max_row_hits (0: never scaled). At 1000 words it scales the
    # context rows of the most frequent noise words (a few hundred draws a batch).
    max_row_hits: NonNegative = 64.0

    def check(self):
        if self.min_alpha > self.alpha:
            raise ConfigError(f"min_alpha={self.min_alpha}: expected <= alpha ({self.alpha})")
