"""The exported sampler reloads and samples what the in-process one does, one sample per
instance of a batch (the row format `classics serve` speaks)."""

import dataclasses

import keras
import pytest
import tensorflow as tf

from apps.generate.config import PRESETS, Config
from apps.generate.data import Vocabulary
from apps.generate.model import build_model
from apps.generate.serving import export_module


@pytest.mark.parametrize("dropout", [0.0, 0.2])  # dropout cells hold seed-generator states to save
def test_saved_sampler_round_trip(tmp_path, dropout):
    keras.utils.set_random_seed(0)
    config = dataclasses.replace(Config(), **{**PRESETS["tiny"].values, "dropout": dropout})
    vocabulary = Vocabulary.from_items(["Ada", "Bob", "Cyd"])
    module, signatures = export_module(build_model(config, vocabulary.size), config, vocabulary)
    tf.saved_model.save(module, str(tmp_path), signatures=signatures)
    served = tf.saved_model.load(str(tmp_path)).signatures["serving_default"]
    rows = (("A", 1.0, 0, 3), ("", 0.0, 0, 0), ("By", 2.0, 2, 9))
    got = served(prefix=tf.constant([r[0] for r in rows]), temperature=tf.constant([r[1] for r in rows]),
                 top_k=tf.constant([r[2] for r in rows]), max_length=tf.constant([15] * len(rows)),
                 seed=tf.constant([r[3] for r in rows], tf.int64))
    for i, (prefix, temperature, top_k, seed) in enumerate(rows):
        expected = module.sample(prefix=tf.constant(prefix), temperature=tf.constant(temperature),
                                 top_k=tf.constant(top_k), max_length=tf.constant(15),
                                 seed=tf.constant(seed, tf.int64))
        assert got["text"].numpy()[i] == expected["text"].numpy()
        assert got["text"].numpy()[i].decode().startswith(prefix)
        assert bool(got["ended"][i]) == bool(expected["ended"])
