"""The app registry: app name -> module. Shared code reaches apps only through here."""

import importlib

APPS = {
    "classification": "apps.classification",
    "embeddings": "apps.embeddings",
    "style": "apps.style",
    "detection": "apps.detection",
    "faces": "apps.faces",
    "sentiment": "apps.sentiment",
}


def get_app(name: str):
    """The app's module: exposes NAME, DESCRIPTION, Config, PRESETS, load_data,
    build_model, export_signatures, add_commands and tour_step."""
    return importlib.import_module(APPS[name])
