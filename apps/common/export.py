"""Versioned, atomic SavedModel export in TensorFlow Serving's layout.

    saved_models/<app>/<version>/          version: 1, 2, 3, ... chosen automatically
        saved_model.pb  variables/  assets/
        assets.extra/config.json           the resolved config of the exported model
        assets.extra/labels.txt            one label per line (when the app has labels)
        assets.extra/metrics.json          evaluation metrics at export time
        assets.extra/examples/<signature>/request.json, curl.txt   an example TF Serving request

The SavedModel is written to a hidden temporary directory beside the versions and
renamed into place, so a server polling the folder never sees a half-written
version and a killed export leaves no version directory behind.
"""

import json
import os
import pathlib
import shutil
import uuid

from apps.common import config as config_lib
from apps.common import request_examples
from apps.common.errors import ClassicsError
from apps.common.files import pid_alive

TMP_PREFIX = ".tmp-"


def versions(app_dir) -> list[int]:
    """Integer version directories under `app_dir`, ascending."""
    app_dir = pathlib.Path(app_dir)
    if not app_dir.is_dir():
        return []
    return sorted(int(p.name) for p in app_dir.iterdir() if p.is_dir() and p.name.isdigit())


def latest_version_dir(app_dir) -> pathlib.Path:
    found = versions(app_dir)
    if not found:
        raise ClassicsError(f"{app_dir}: no exported version (run the app's export command first)")
    return pathlib.Path(app_dir) / str(found[-1])


def _remove_stale_tmp(app_dir: pathlib.Path) -> None:
    """Temporary directories left by exports that were killed midway."""
    for p in app_dir.glob(TMP_PREFIX + "*"):
        pid = p.name[len(TMP_PREFIX):].split("-")[0]
        if pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(p, ignore_errors=True)


def write_saved_model(
    app: str,
    module,
    signatures: dict,
    *,
    root="saved_models",
    config=None,
    labels=None,
    metrics=None,
    extra_assets=None,
) -> pathlib.Path:
    """Save `module` with `signatures` as the next version of `app`; returns its directory.

    `extra_assets` maps file names to str/bytes/JSON-able values written into
    `assets.extra/`.
    """
    import tensorflow as tf

    app_dir = pathlib.Path(root) / app
    app_dir.mkdir(parents=True, exist_ok=True)
    _remove_stale_tmp(app_dir)
    tmp = app_dir / f"{TMP_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        tf.saved_model.save(module, str(tmp), signatures=signatures)
        extra = tmp / "assets.extra"
        extra.mkdir()
        assets = dict(extra_assets or {})
        if config is not None:
            assets["config.json"] = config_lib.to_dict(config)
        if labels is not None:
            assets["labels.txt"] = "".join(f"{label}\n" for label in labels)
        if metrics is not None:
            assets["metrics.json"] = metrics
        for name, value in assets.items():
            if isinstance(value, bytes):
                (extra / name).write_bytes(value)
            elif isinstance(value, str):
                (extra / name).write_text(value, encoding="utf-8")
            else:
                (extra / name).write_text(json.dumps(value, indent=2, sort_keys=True) + "\n")
        # Per signature: an example TF Serving request.json and its curl line, from the specs.
        request_examples.write_examples(tmp, app)
        # Claim the next version by renaming; a concurrent export that took the same
        # number makes the rename fail, so try the one after.
        while True:
            found = versions(app_dir)
            target = app_dir / str((found[-1] if found else 0) + 1)
            try:
                os.rename(tmp, target)
                return target
            except OSError:
                if not target.exists():
                    raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def read_extra(version_dir, name: str):
    """An `assets.extra/` file of an export: JSON decoded, labels as a list, else text."""
    path = pathlib.Path(version_dir) / "assets.extra" / name
    if not path.exists():
        raise ClassicsError(f"{path}: missing from the export")
    text = path.read_text(encoding="utf-8")
    if name.endswith(".json"):
        return json.loads(text)
    if name == "labels.txt":
        return text.splitlines()
    return text
