"""Sentiment of raw text: TextVectorization + a many-to-one RNN over our GRU/LSTM cells."""

from apps.sentiment.commands import add_commands, evaluate, export, predict, train
from apps.sentiment.config import PRESETS, Config
from apps.sentiment.tour import tour_step

NAME = "sentiment"
DESCRIPTION = "sentiment of raw text: bidirectional RNN over our GRU/LSTM cells, strings in"


def load_data(config):
    from apps.sentiment.data import load_data as _load

    return _load(config)


def build_model(config, num_classes, vocabulary, embedding_matrix=None):
    from apps.sentiment.model import build_model as _build

    return _build(config, num_classes, vocabulary, embedding_matrix)


def export_signatures(model, labels):
    from apps.sentiment.commands import export_signatures as _signatures

    return _signatures(model, labels)


__all__ = [
    "NAME", "DESCRIPTION", "Config", "PRESETS", "add_commands", "build_model", "evaluate",
    "export", "export_signatures", "load_data", "predict", "tour_step", "train",
]
