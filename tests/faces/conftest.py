"""A tiny faces run (MNIST-5k digits as identities) and its export, made once per session."""

import dataclasses

import numpy as np
import pytest
from PIL import Image


@pytest.fixture(scope="session")
def faces_config(tmp_path_factory):
    from apps.common import config as config_lib
    from apps.faces.config import PRESETS, Config

    config = config_lib.preset_config(Config, PRESETS, "tiny")
    assert not config.photo_signatures  # tiny leaves them out: its exports trace and load in a second
    return dataclasses.replace(config, runs_dir=str(tmp_path_factory.mktemp("faces_runs")))


@pytest.fixture(scope="session")
def faces_run(faces_config):
    from apps.faces.task import TASK

    return TASK.train(faces_config, fresh=True, verbose=0)


@pytest.fixture(scope="session")
def faces_export(faces_run, tmp_path_factory):
    from apps.faces.task import TASK

    root = tmp_path_factory.mktemp("saved_models")
    return TASK.export(faces_run, root=root), root


@pytest.fixture(scope="session")
def faces_photo_export(faces_run, tmp_path_factory):
    """The same run exported with the photo signatures (detection, landmarks, alignment in the
    graph), for the tests of those: (version dir, model root)."""
    from apps.common.run import Run
    from apps.faces.task import TASK

    root = tmp_path_factory.mktemp("saved_models_photos")
    run = Run(faces_run.path, dataclasses.replace(faces_run.config, photo_signatures=True))
    return TASK.export(run, root=root), root


@pytest.fixture(scope="session")
def digit_pngs(faces_config, tmp_path_factory):
    """PNG files of unseen digits (test people 7, 8, 9): {digit: [paths]}."""
    from apps.faces.data import load_data

    splits = load_data(dataclasses.replace(faces_config, image_size=28))
    folder = tmp_path_factory.mktemp("digits")
    out = {}
    for person in np.unique(splits.y_test):
        name = splits.names[person]
        out[name] = []
        for k, i in enumerate(np.flatnonzero(splits.y_test == person)[:4]):
            path = folder / f"{name}_{k}.png"
            Image.fromarray(splits.x_test[i][..., 0]).save(path)
            out[name].append(path)
    return out
