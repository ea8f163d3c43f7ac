"""The enrolment gallery: one JSON file of embeddings per person, tied to one export.

    {"format": 1,
     "model": {"path": ..., "version": 3, "fingerprint": "<sha256 of the variables>"},
     "people": {"alice": {"embeddings": [[...128 floats...], ...], "images": [...]}}}

Written atomically (a reader sees the old file or the new one). Embeddings of another
model version live in another space: a gallery refuses another version (or other weights).
"""

import hashlib
import json
import pathlib

import numpy as np

from apps.common.errors import DataError
from apps.common.files import atomic_write_text

FORMAT = 1


def model_fingerprint(version_dir) -> str:
    """sha256 over the export's variables files (the weights), in name order."""
    digest = hashlib.sha256()
    variables = pathlib.Path(version_dir) / "variables"
    files = sorted(variables.glob("variables.*"))
    if not files:
        raise DataError(f"{version_dir}: not a SavedModel export (no variables/ files)")
    for path in files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def model_identity(version_dir) -> dict:
    version_dir = pathlib.Path(version_dir)
    return {"path": str(version_dir.resolve()), "version": int(version_dir.name) if
            version_dir.name.isdigit() else None, "fingerprint": model_fingerprint(version_dir)}


def load(path, identity=None) -> dict:
    """The gallery at `path` (an empty one if there is none); checks it belongs to `identity`."""
    path = pathlib.Path(path)
    if not path.exists():
        return {"format": FORMAT, "model": identity, "people": {}}
    try:
        gallery = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not a readable gallery file ({exc})") from None
    if not isinstance(gallery, dict) or gallery.get("format") != FORMAT or \
            not isinstance(gallery.get("people"), dict):
        raise DataError(f"{path}: not a faces gallery (expected format {FORMAT} with 'people')")
    theirs = gallery.get("model") or {}
    if identity is not None and theirs and (theirs.get("fingerprint") != identity["fingerprint"]
                                            or theirs.get("version") != identity["version"]):
        raise DataError(
            f"{path}: enrolled with model version {theirs.get('version')} ({theirs.get('path')}), "
            f"but this is version {identity['version']} ({identity['path']}); embeddings of "
            f"different models do not compare: use that model or enrol into a new --gallery")
    return gallery


def save(path, gallery) -> None:
    atomic_write_text(path, json.dumps(gallery, indent=1) + "\n")


def add(gallery, name, embeddings, images, replace=False, path="gallery") -> dict:
    name = str(name).strip()
    if not name:
        raise DataError("enroll: the person's NAME is empty")
    if name in gallery["people"] and not replace:
        raise DataError(f"{path}: {name!r} is already enrolled "
                        f"({len(gallery['people'][name]['embeddings'])} image(s)); pass --replace")
    gallery["people"][name] = {
        "embeddings": [[float(v) for v in e] for e in np.asarray(embeddings)],
        "images": [str(p) for p in images],
    }
    return gallery


def centres(gallery, path="gallery"):
    """-> (names, (P, D) unit mean embeddings)."""
    people = gallery["people"]
    if not people:
        raise DataError(f"{path}: the gallery is empty; enrol someone first "
                        "(classics faces enroll NAME IMAGE...)")
    names = sorted(people)
    means = np.stack([np.asarray(people[n]["embeddings"], np.float32).mean(0) for n in names])
    means /= np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
    return names, means
