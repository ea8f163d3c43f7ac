"""Image classification: ResNet and Inception backbones from `layers/` blocks."""

from apps.classification.commands import add_commands, evaluate, export, predict, train
from apps.classification.config import PRESETS, Config
from apps.classification.tour import tour_step

NAME = "classification"
DESCRIPTION = "image classification with ResNet / Inception backbones"


def load_data(config):
    from apps.classification.data import load_data as _load

    return _load(config)


def build_model(config, num_classes, input_shape):
    from apps.classification.model import build_model as _build

    return _build(config, num_classes, input_shape)


def export_signatures(model, labels, outputs_probabilities=False):
    from apps.classification.commands import export_signatures as _signatures

    return _signatures(model, labels, outputs_probabilities)


__all__ = [
    "NAME", "DESCRIPTION", "Config", "PRESETS", "add_commands", "build_model", "evaluate",
    "export", "export_signatures", "load_data", "predict", "tour_step", "train",
]
