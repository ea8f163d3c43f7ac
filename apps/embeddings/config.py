"""The word-embeddings config (gensim's parameter names) and its presets."""

import dataclasses

from apps.common.config import TrainConfig


@dataclasses.dataclass(frozen=True)
class Config(TrainConfig):
    # "wiki+lee" (embedded: gensim's shortened Wikipedia + Lee corpus), "lee", "wiki", or
    # text:<path> (UTF-8, one sentence or paragraph per line, .gz/.bz2 read transparently).
    data: str = "wiki+lee"
    errors: str = "strict"  # text decoding: "strict" (error names the line) | "replace"
    lowercase: bool = True
    max_sentence_length: int = 10000  # longer lines are cut into pieces, as gensim does
    # gensim's Word2Vec parameters (skip-gram with negative sampling).
    vector_size: int = 100
    window: int = 5  # maximum; each center word samples its reduced window in 1..window
    min_count: int = 5
    max_vocab_size: int = 0  # 0: no cap; else keep the most frequent words
    sample: float = 1e-3  # frequent-word subsampling threshold (0 disables)
    negative: int = 5
    ns_exponent: float = 0.75
    epochs: int = 5
    alpha: float = 0.025  # learning rate, decayed linearly to min_alpha over all words
    min_alpha: float = 0.0001
    workers: int = 2  # TensorFlow intra-op threads (0: TensorFlow's default)
    # Ours: the pairs of `batch_words` corpus words are one SGD step, each table row moving by
    # the sum of its per-pair gradients (as if word2vec's updates were applied at once).
    # Much larger batches diverge or collapse the vectors (a frequent word is then hit
    # thousands of times by one stale gradient); 1000 words (~4k pairs) matches gensim.
    batch_words: int = 1000
    chunk_words: int = 1_000_000  # words per vectorised pair-generation chunk
    # Safety net of the batched update: a row hit more often than this in one batch moves
    # by its mean gradient x max_row_hits (0: never scaled). Rarely active at 1000 words.
    max_row_hits: float = 64.0
    # Evaluation
    restrict_vocab: int = 300000  # analogies only among the most frequent words, as gensim
    # TrainConfig fields that do not apply keep neutral values.
    early_stopping_patience: int = 0


PRESETS = {
    "default": {},
    # The tour and quick checks: the 60k-word Lee corpus, a few seconds.
    "tour": dict(data="lee", epochs=10, min_count=2, vector_size=50),
    # Tests: tiny vectors, few epochs.
    "tiny": dict(data="lee", epochs=2, min_count=3, vector_size=16, window=3, chunk_words=20000),
    # The benchmark's hyperparameters (the corpus comes from --data text:...).
    "benchmark": dict(vector_size=100, window=5, min_count=5, sample=1e-3, negative=5, epochs=5),
}
