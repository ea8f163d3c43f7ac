"""The word-embeddings config (gensim's parameter names) and its presets."""

import dataclasses

from apps.common.config import PositiveInt, preset
from apps.common.word2vec.config import Word2VecConfig


@dataclasses.dataclass(frozen=True)
class Config(Word2VecConfig):
    restrict_vocab: PositiveInt = 300000  # analogies only among the most frequent words, as gensim


PRESETS = {
    "default": preset("gensim's defaults on the embedded Wikipedia + Lee text (about 0.8M words)"),
    "tour": preset("the 60k-word Lee corpus, 10 epochs of 50-d vectors: seconds (the tour)",
                   data="lee", epochs=10, min_count=2, vector_size=50),
    "tiny": preset("tiny vectors on the Lee corpus, 2 epochs: seconds, for tests",
                   data="lee", epochs=2, min_count=3, vector_size=16, window=3, chunk_words=20000),
    "benchmark": preset("the benchmark's hyperparameters (the corpus comes from --data text:...)",
                        vector_size=100, window=5, min_count=5, sample=1e-3, negative=5, epochs=5),
}
