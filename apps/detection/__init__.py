"""Object detection: a YOLO-style S x S grid with B anchors, per-class NMS in the graph."""

from apps.detection.commands import add_commands, evaluate, export, predict, train
from apps.detection.config import PRESETS, Config
from apps.detection.tour import tour_step

NAME = "detection"
DESCRIPTION = "object detection: YOLO-style grid with anchors and in-graph NMS"


def load_data(config):
    from apps.detection.data import load_data as _load

    return _load(config)


def build_model(config, num_classes, num_anchors):
    from apps.detection.model import build_model as _build

    return _build(config, num_classes, num_anchors)


def export_signatures(model, labels, config):
    from apps.detection.commands import detector_module

    return detector_module(model, config.anchors, labels, config)[1]


__all__ = [
    "NAME", "DESCRIPTION", "Config", "PRESETS", "add_commands", "build_model", "evaluate",
    "export", "export_signatures", "load_data", "predict", "tour_step", "train",
]
