"""Small real data (a few hundred Rotten Tomatoes snippets as a CSV) and one tiny trained run
(with the default's lexicon features and extended vocabulary)."""

import numpy as np
import pytest
from sentiment_helpers import write_csv


@pytest.fixture(scope="session")
def snippets():
    """(texts, labels) of the embedded corpus's fresh/rotten rows."""
    from apps.sentiment.data import rotten_tomatoes_rows

    rows = [(c, t) for c, t in rotten_tomatoes_rows() if c in ("fresh", "rotten")]
    return [t for _, t in rows], [c for c, _ in rows]


@pytest.fixture(scope="session")
def small_csv(tmp_path_factory, snippets):
    """300 real snippets (stratified by a fixed seed) with non-default column names."""
    texts, labels = snippets
    rng = np.random.default_rng(0)
    idx = np.concatenate([rng.permutation(np.flatnonzero(np.array(labels) == c))[:150]
                          for c in ("rotten", "fresh")])
    rows = [(texts[i], labels[i]) for i in sorted(idx)]
    return write_csv(tmp_path_factory.mktemp("csv") / "small.csv", rows)


@pytest.fixture(scope="session")
def tiny_config(tmp_path_factory, small_csv):
    from apps.common import config as config_lib
    from apps.sentiment.config import PRESETS, Config

    runs = tmp_path_factory.mktemp("runs")
    return config_lib.resolve(Config, PRESETS, preset="tiny", sets=[
        f"runs_dir={runs}", f"data=csv:{small_csv}", "text_column=review", "label_column=sentiment",
        "labels=rotten,fresh", "epochs=2", "lexicon=inquirer+whissell", "extend_vocabulary=true",
    ])


@pytest.fixture(scope="session")
def tiny_run(tiny_config):
    from apps.sentiment.task import TASK

    return TASK.train(tiny_config, verbose=0)
