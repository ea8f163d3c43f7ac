"""Face verification: a triplet-trained encoder, a calibrated threshold, one-shot enrolment."""

from apps.faces.commands import add_commands
from apps.faces.config import PRESETS, Config
from apps.faces.tour import tour_step

NAME = "faces"
DESCRIPTION = "face verification: triplet-trained encoder, calibrated threshold, enrolment"


def train(config, run_dir=None, fresh=False, verbose=None):
    from apps.faces.training import train as _train

    return _train(config, run_dir=run_dir, fresh=fresh, verbose=verbose)


def load_data(config):
    from apps.faces.data import load_data as _load

    return _load(config)


def build_model(config, input_shape):
    from apps.faces.model import build_model as _build

    return _build(config, input_shape)


def export_signatures(model, calibration):
    from apps.faces.serving import export_module

    return export_module(model, calibration)[1]


__all__ = ["NAME", "DESCRIPTION", "Config", "PRESETS", "add_commands", "build_model",
           "export_signatures", "load_data", "tour_step", "train"]
