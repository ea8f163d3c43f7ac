"""Small real data (a few hundred Rotten Tomatoes snippets as a CSV) and one tiny trained run
(with the default's lexicon features and extended vocabulary)."""

import pytest
from sentiment_helpers import rt_snippets, tiny_sets, write_small_csv


@pytest.fixture(scope="session")
def snippets():
    """(texts, labels) of the embedded corpus's fresh/rotten rows."""
    return rt_snippets()


@pytest.fixture(scope="session")
def small_csv(tmp_path_factory):
    """300 real snippets (stratified by a fixed seed) with non-default column names."""
    return write_small_csv(tmp_path_factory.mktemp("csv") / "small.csv")


@pytest.fixture(scope="session")
def tiny_config(tmp_path_factory, small_csv):
    from apps.common import config as config_lib
    from apps.sentiment.config import PRESETS, Config

    sets = tiny_sets(tmp_path_factory.mktemp("runs"), small_csv)
    return config_lib.resolve(Config, PRESETS, preset="tiny", sets=sets)


@pytest.fixture(scope="session")
def tiny_run(tiny_config):
    from apps.sentiment.task import TASK

    return TASK.train(tiny_config, verbose=0)
