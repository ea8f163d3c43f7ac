"""The exported sampler reloads and samples what the in-process one does."""

import dataclasses

import keras
import tensorflow as tf

from apps.generate.config import PRESETS, Config
from apps.generate.data import Vocabulary
from apps.generate.model import build_model
from apps.generate.serving import export_module


def test_saved_sampler_round_trip(tmp_path):
    keras.utils.set_random_seed(0)
    config = dataclasses.replace(Config(), **PRESETS["tiny"])
    vocabulary = Vocabulary.from_items(["Ada", "Bob", "Cyd"])
    module, signatures = export_module(build_model(config, vocabulary.size), config, vocabulary)
    tf.saved_model.save(module, str(tmp_path), signatures=signatures)
    served = tf.saved_model.load(str(tmp_path)).signatures["serving_default"]
    for prefix, temperature, top_k, seed in (("A", 1.0, 0, 3), ("", 0.0, 0, 0), ("By", 2.0, 2, 9)):
        args = dict(prefix=tf.constant(prefix), temperature=tf.constant(temperature),
                    top_k=tf.constant(top_k), max_length=tf.constant(15), seed=tf.constant(seed, tf.int64))
        got, expected = served(**args), module.sample(**args)
        assert got["text"].numpy() == expected["text"].numpy()
        assert got["text"].numpy().decode().startswith(prefix)
        assert bool(got["ended"]) == bool(expected["ended"])
