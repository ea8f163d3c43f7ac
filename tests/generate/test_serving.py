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


def _served(tmp_path, vocabulary):
    keras.utils.set_random_seed(0)
    config = dataclasses.replace(Config(), **PRESETS["tiny"].values)
    module, signatures = export_module(build_model(config, vocabulary.size), config, vocabulary)
    tf.saved_model.save(module, str(tmp_path), signatures=signatures)
    served = tf.saved_model.load(str(tmp_path)).signatures["serving_default"]

    def call(rows):
        out = served(prefix=tf.constant([r[0] for r in rows]),
                     temperature=tf.constant([r[1] for r in rows], tf.float32),
                     top_k=tf.constant([r[2] for r in rows], tf.int32),
                     max_length=tf.constant([r[3] for r in rows], tf.int32),
                     seed=tf.constant([7] * len(rows), tf.int64))
        return [(t.decode(), bool(d), e.decode()) for t, d, e in
                zip(out["text"].numpy(), out["ended"].numpy(), out["error"].numpy())]

    return call


def test_odd_instances_answer_their_own_error_beside_good_ones(tmp_path):
    call = _served(tmp_path, Vocabulary.from_items(["Ada", "Bob", "Cyd"]))
    rows = [
        ("", 1.0, 0, 15),  # empty prefix: a sample from the start
        ("Ad", 0.0, 0, 15),  # temperature 0: argmax
        ("Zoë", 1.0, 0, 15),  # Z, ë never seen
        ("A", -1.0, 0, 15),
        ("A", float("nan"), 0, 15),
        ("A", float("inf"), 0, 15),
        ("A", 1.0, -2, 15),
        ("A", 1.0, 0, 10_001),  # huge length
        ("A", 1.0, 0, -1),
        ("A", 1.0, 0, 0),  # nothing after the prefix: fine
        ("A" * 10_001, 1.0, 0, 5),
        ("A\xff".encode("latin-1"), 1.0, 0, 5),  # not UTF-8
    ]
    got = call(rows)
    errors = [e for _, _, e in got]
    assert errors == [
        "", "",
        "prefix: characters the model never saw in training: Z ë",
        "temperature=-1: expected a number >= 0 (0: argmax decoding)",
        "temperature=nan: expected a number >= 0 (0: argmax decoding)",
        "temperature=inf: expected a number >= 0 (0: argmax decoding)",
        "top_k=-2: expected >= 0 (0: every symbol)",
        "max_length=10001: expected 0..10000",
        "max_length=-1: expected 0..10000",
        "",
        "prefix: 10001 characters, over the maximum of 10000",
        "prefix: not UTF-8 text",
    ]
    assert all(text == "" and not ended for text, ended, e in got if e)  # refused: no sample
    assert got[1][0].startswith("Ad") and got[9] == ("A", False, "")
    # the good rows answer as they would alone
    assert call([rows[0]])[0] == got[0] and call([rows[1]])[0] == got[1]


def test_token_prefix_errors_name_the_unknown_tokens(tmp_path):
    call = _served(tmp_path, Vocabulary.from_items([("60:1", "62:1"), ("64:2",)], separator=" "))
    (ok_text, _, ok), (_, _, unknown) = call([("60:1  62:1", 1.0, 0, 4), ("60:1 99:1 x", 1.0, 0, 4)])
    assert ok == "" and ok_text.split()[:2] == ["60:1", "62:1"]
    assert unknown == "prefix: tokens the model never saw in training: 99:1 x"


def test_task_sample_raises_the_exports_verdict():
    import types

    from apps.common.errors import ConfigError
    from apps.generate.task import TASK

    keras.utils.set_random_seed(0)
    config = dataclasses.replace(Config(), **PRESETS["tiny"].values)
    vocabulary = Vocabulary.from_items(["Ada", "Bob", "Cyd"])
    data = types.SimpleNamespace(vocabulary=vocabulary)
    model = build_model(config, vocabulary.size)
    run = types.SimpleNamespace(config=config)
    got = TASK.sample(run, ["A", "B"], 2, 0.0, 0, 5, 0, model=model, data=data)
    assert [e["text"][0] for e in got] == ["A", "B"] and [e["seed"] for e in got] == [0, 1]
    with pytest.raises(ConfigError, match="prefix: characters the model never saw in training: Z e"):
        TASK.sample(run, "Zed", 2, 1.0, 0, 5, 0, model=model, data=data)
    with pytest.raises(ConfigError, match="max_length=20000: expected 0..10000"):
        TASK.sample(run, "A", 1, 1.0, 0, 20_000, 0, model=model, data=data)
    with pytest.raises(ConfigError, match="3 prefixes for 2 samples"):
        TASK.sample(run, ["A", "B", "C"], 2, model=model, data=data)
