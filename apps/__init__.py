"""The app registry: app name -> the module holding its Task (`TASK`). Shared code reaches
apps only through here, by name; nothing is imported until an app is asked for."""

import importlib

APPS = {
    "classification": "apps.classification.task",
    "embeddings": "apps.embeddings.task",
    "style": "apps.style.task",
    "detection": "apps.detection.task",
    "faces": "apps.faces.task",
    "sentiment": "apps.sentiment.task",
    "translation": "apps.translation.task",
    "generate": "apps.generate.task",
    "wakeword": "apps.wakeword.task",
}


def get_task(name: str):
    """The app's Task (apps/common/task.py's contract)."""
    return importlib.import_module(APPS[name]).TASK


def tasks() -> list:
    return [get_task(name) for name in APPS]
