"""Word embeddings: word2vec skip-gram with negative sampling, evaluation, export, debiasing."""

from apps.embeddings.commands import add_commands, evaluate, export, train
from apps.embeddings.config import PRESETS, Config
from apps.embeddings.tour import tour_step

NAME = "embeddings"
DESCRIPTION = "word2vec word vectors (skip-gram, negative sampling) at gensim's level"


def load_data(config):
    """(vocabulary, token-list iterator) of the configured corpus."""
    from apps.embeddings import data

    return data.build_vocabulary(config), data.sentences(config)


def build_model(config, vocab, total_words):
    from apps.embeddings.model import build_model as _build

    return _build(config, vocab, total_words)


def export_signatures(word_vectors):
    from apps.embeddings.commands import export_signatures as _signatures

    return _signatures(word_vectors)


__all__ = [
    "NAME", "DESCRIPTION", "Config", "PRESETS", "add_commands", "build_model", "evaluate",
    "export", "export_signatures", "load_data", "tour_step", "train",
]
