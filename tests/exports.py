"""Exports shared between tests: a SavedModel loaded once per version directory (loading one
costs seconds; many tests call the same export), and a version copied under another root."""

import contextlib
import functools
import pathlib
import shutil


def load(version_dir):
    """The SavedModel in `version_dir` (tf.saved_model.load), loaded once while it is unchanged."""
    path = pathlib.Path(version_dir).resolve()
    return _load(str(path), (path / "saved_model.pb").stat().st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _load(path, _mtime_ns):
    # The loader itself, not the `tf.saved_model.load` attribute (which `cached_loads` replaces).
    from tensorflow.python.saved_model import load as load_lib

    return load_lib.load(path)


@contextlib.contextmanager
def cached_loads():
    """`tf.saved_model.load(path)` of a SavedModel directory answered by `load` while inside (an
    app's commands load their export at every call; tests call them many times on one export)."""
    import tensorflow as tf

    original = tf.saved_model.load

    def load_cached(path, *args, **kwargs):
        if args or kwargs or not (pathlib.Path(path) / "saved_model.pb").is_file():
            return original(path, *args, **kwargs)
        return load(path)

    tf.saved_model.load = load_cached
    try:
        yield
    finally:
        tf.saved_model.load = original


def call(version_dir, signature, **inputs):
    """The in-process answer: the export's `signature` called directly, as NumPy arrays."""
    import tensorflow as tf

    outputs = load(version_dir).signatures[signature](**{k: tf.constant(v) for k, v in inputs.items()})
    return {name: t.numpy() for name, t in outputs.items()}


def copy_version(version_dir, root, app="classification", version=1):
    """A copy of an export at root/app/version (for a server or a versioning test): its path."""
    target = pathlib.Path(root) / app / str(version)
    shutil.copytree(version_dir, target)
    return target
