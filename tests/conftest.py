import os

import pytest

# Quiet TensorFlow's C++ start-up chatter in the test log.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A 2-epoch tiny classifier on the embedded MNIST-5k (trained once per session)."""
    from apps.classification import PRESETS, Config, train
    from apps.common import config as config_lib

    runs = tmp_path_factory.mktemp("runs")
    config = config_lib.resolve(Config, PRESETS, preset="tiny", sets=[f"runs_dir={runs}"])
    return train(config, verbose=0)
