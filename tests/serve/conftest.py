"""A trained tiny classifier and its exports, made once per session (helpers: serve_helpers.py)."""

import io

import exports
import numpy as np
import pytest
from serve_helpers import SharedServer, export_text_app, running_server


@pytest.fixture(scope="session")
def trained_run(tiny_run):
    """The session's tiny MNIST-5k classifier (tests/conftest.py), trained once for all tests: a Run."""
    return tiny_run


@pytest.fixture(scope="session")
def digits(trained_run):
    """Three real test digits as uint8 (3, 28, 28, 1) and as PNG bytes."""
    from PIL import Image

    from apps.classification.config import Config
    from apps.classification.data import load_data
    from apps.common.config import load_config

    splits = load_data(load_config(Config, trained_run.path / "config.json"))
    pixels = np.asarray(splits.x_test[:3]).astype(np.uint8)
    pngs = []
    for image in pixels:
        buffer = io.BytesIO()
        Image.fromarray(image[..., 0]).save(buffer, format="PNG")
        pngs.append(buffer.getvalue())
    return pixels, pngs


@pytest.fixture(scope="session")
def served_root(tmp_path_factory, tiny_export):
    """saved_models/ with classification/1 (the session's export of the tiny run) and text/1."""
    root = tmp_path_factory.mktemp("saved_models")
    exports.copy_version(tiny_export, root)
    export_text_app(root)
    return root


@pytest.fixture(scope="session")
def shared_server(tmp_path_factory):
    """The SharedServer of the serving tests (it starts with the text app: a server needs one
    export), polling every 0.2 s for the exports the modules move in."""
    root = tmp_path_factory.mktemp("shared_models")
    export_text_app(root)
    with running_server(root, "--poll-seconds", "0.2") as (port, _, log):
        yield SharedServer(root, port, log)
