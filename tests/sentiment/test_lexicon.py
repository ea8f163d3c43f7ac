"""Lexicon features beside the embedding (read by hand from the files' rows) and the vocabulary
extended by the word vectors' and the lexicons' words."""

import dataclasses
import re
import types

import numpy as np
import pytest

from apps.common.errors import ConfigError
from apps.sentiment import lexicon
from apps.sentiment.config import PRESETS, Config
from apps.sentiment.model import build_model, classifier, extend_vocabulary, vectorizer
from apps.sentiment.serving import probabilities
from apps.sentiment.task import TASK
from apps.sentiment.vectors import load_word_vectors

TINY = dataclasses.replace(Config(), **PRESETS["tiny"].values)


def test_inquirer_and_whissell_rows_by_hand():
    both = dataclasses.replace(TINY, lexicon="inquirer+whissell")
    assert lexicon.width(both) == len(lexicon.INQUIRER_CATEGORIES) + 1 + len(lexicon.WHISSELL_COLUMNS) + 1
    words = lexicon.load(both)
    inquirer = dict(zip(lexicon.INQUIRER_CATEGORIES, words["abandon"][:10]))
    # inqtabs.txt: ABANDON  H4Lvd  (Negativ, Ngtv, Weak, Fail); whissells_df.csv:
    # abandon,2.375,2.4,1.0 (activation, imagery, pleasantness).
    assert {k for k, v in inquirer.items() if v} == {"Negativ", "Weak", "Fail"}
    np.testing.assert_allclose(words["abandon"][10:], [1.0, 1.0 - 2, 2.375 - 2, 2.4 - 2, 1.0], atol=1e-6)
    # GOOD has several senses (GOOD#1 ... ): a category any sense has.
    assert words["good"][lexicon.INQUIRER_CATEGORIES.index("Positiv")] == 1.0
    # A word one lexicon lacks has zeros there, its "listed" flag included.
    only_whissell = next(w for w, row in words.items() if row[10] == 0)
    assert not words[only_whissell][:11].any() and words[only_whissell][-1] == 1.0


def test_lexicon_table_is_fixed_and_follows_the_vocabulary(tmp_path, capsys):
    config = dataclasses.replace(TINY, lexicon="inquirer")
    # The Task reads the lexicon once (prepare) and fills the table when it builds the model.
    splits = types.SimpleNamespace(x_train=["klaatu good awful"], class_names=["rotten", "fresh"])
    _, prepared = TASK.prepare(config, splits)
    assert prepared.vocabulary == ["klaatu", "good", "awful"]
    capsys.readouterr()
    model = TASK.build_model(config, prepared)
    table = classifier(model).get_layer("lexicon")
    # "klaatu" is not in the Inquirer.
    assert not table.trainable and "lexicon: 2 of 3 vocabulary words listed (inquirer)" in capsys.readouterr().err
    weights = table.get_weights()[0]
    positive = lexicon.INQUIRER_CATEGORIES.index("Positiv")
    negative = lexicon.INQUIRER_CATEGORIES.index("Negativ")
    assert not weights[:3].any()  # padding, [UNK], "klaatu"
    assert weights[3, positive] == 1 and weights[4, negative] == 1
    before = probabilities(model, ["good klaatu", "awful klaatu"])
    model.save(tmp_path / "m.keras")
    import keras

    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(probabilities(reloaded, ["good klaatu", "awful klaatu"]), before, atol=1e-6)
    np.testing.assert_array_equal(classifier(reloaded).get_layer("lexicon").get_weights()[0], weights)


def test_vocabulary_extended_by_vectors_then_lexicon_up_to_max_tokens(tmp_path):
    vectors = tmp_path / "v.txt"
    vectors.write_text("4 2\nfilm 0 1\nsuperb 1 0\n[UNK] 1 1\ntedious 0 0\n")
    words = load_word_vectors(vectors)[0]
    assert extend_vocabulary(["film", "good"], words, 2 + 4) == ["film", "good", "superb", "tedious"]
    config = dataclasses.replace(TINY, max_tokens=2 + 5, lexicon="inquirer")
    extended = extend_vocabulary(["film", "good"], words + sorted(lexicon.load(config)), config.max_tokens)
    assert extended[:4] == ["film", "good", "superb", "tedious"]
    assert extended[4] == min(set(lexicon.load(config)) - set(extended[:4]))  # alphabetical
    assert extend_vocabulary(["film"], words, 3) == ["film"]
    model = build_model(config, 2, extended)
    assert vectorizer(model).get_vocabulary()[2:] == extended


@pytest.mark.parametrize("value, message", [
    ("vader", "lexicon='vader': expected parts from inquirer, whissell joined by '+'"),
    ("inquirer+inquirer", "lexicon='inquirer+inquirer': expected parts from inquirer, whissell joined by '+' "
                          "(each once"),
])
def test_bad_lexicon(value, message):
    # Refused when the config is made (declared on the field), before any model is built.
    with pytest.raises(ConfigError, match=re.escape(message)):
        dataclasses.replace(TINY, lexicon=value)
