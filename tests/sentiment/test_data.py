"""Sources, splits and the documented handling of bad rows."""

import dataclasses

import numpy as np
import pytest
from sentiment_helpers import write_csv

from apps.common.errors import ConfigError, DataError
from apps.sentiment.config import Config
from apps.sentiment.data import load_data, load_text_source, targets


def _csv_config(path, **kw):
    return dataclasses.replace(Config(), data=f"csv:{path}", **kw)


def test_embedded_corpus_counts_and_stratified_fixed_seed_split():
    config = Config()
    ds = load_text_source(config)
    assert ds.class_names == ("rotten", "fresh")
    assert np.bincount(ds.labels).tolist() == [5405, 7403]  # plot rows dropped
    splits = load_data(config)
    assert len(splits.y_test) == round(0.1 * 12808) == 1281
    assert np.bincount(splits.y_test).tolist() == [541, 740]  # 5405 / 7403 in proportion
    assert len(splits.y_train) + len(splits.y_val) + len(splits.y_test) == 12808
    assert len(splits.y_val) == round(0.1 * (12808 - 1281))
    again = load_data(config)
    assert list(again.x_test) == list(splits.x_test)  # fixed seed: the same test split
    other = load_data(dataclasses.replace(config, seed=7))
    assert list(other.x_test) != list(splits.x_test)


def test_csv_columns_chosen_by_flags_and_labels_in_given_order(small_csv):
    config = _csv_config(small_csv, text_column="review", label_column="sentiment",
                         labels=("rotten", "fresh"))
    ds = load_text_source(config)
    assert ds.class_names == ("rotten", "fresh")
    assert np.bincount(ds.labels).tolist() == [150, 150]
    assert ds.texts[0] and isinstance(ds.texts[0], str)


def test_ratings_are_ordered_numerically_for_a_multiclass_head(tmp_path):
    rows = [(f"text {i}", str(r)) for i, r in enumerate([10, 2, 1, 3, 2, 10, 1])]
    ds = load_text_source(_csv_config(write_csv(tmp_path / "r.csv", rows, ("text", "label"))))
    assert ds.class_names == ("1", "2", "3", "10")
    assert ds.labels.tolist() == [3, 1, 0, 2, 1, 3, 0]
    np.testing.assert_array_equal(targets([0, 3], 4), [[1, 0, 0, 0], [0, 0, 0, 1]])
    np.testing.assert_array_equal(targets([1, 0], 2), [[1.0], [0.0]])


def test_blank_texts_are_dropped_and_counted(tmp_path, capsys):
    rows = [("good", "pos"), ("", "neg"), ("   \t", "pos"), ("bad", "neg")]
    ds = load_text_source(_csv_config(write_csv(tmp_path / "b.csv", rows, ("text", "label"))))
    assert list(ds.texts) == ["good", "bad"] and ds.labels.tolist() == [1, 0]
    assert "dropped 2 empty or whitespace-only texts" in capsys.readouterr().err


@pytest.mark.parametrize("header, config_kw, message", [
    (("review", "label"), {}, "no column 'text' (columns: review, label); set text_column"),
    (("text", "stars"), {}, "no column 'label' (columns: text, stars); set label_column"),
])
def test_csv_missing_a_column(tmp_path, header, config_kw, message):
    path = write_csv(tmp_path / "m.csv", [("good", "pos")], header)
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_text_source(_csv_config(path, **config_kw))


def test_unknown_label_names_the_line(tmp_path):
    path = write_csv(tmp_path / "u.csv", [("good", "pos"), ("bad", "neg"), ("meh", "neutral")],
                     ("text", "label"))
    with pytest.raises(DataError, match=r"u\.csv:4: label 'neutral' is not one of 'neg', 'pos'"):
        load_text_source(_csv_config(path, labels=("neg", "pos")))


def test_non_utf8_csv_names_the_line(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("text,label\ngood,pos\ncaf\xe9 bad,neg\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin\.csv:3: not valid UTF-8 \(byte 0xe9\)"):
        load_text_source(_csv_config(path))


def test_single_class_and_unknown_sources_are_refused(tmp_path):
    path = write_csv(tmp_path / "one.csv", [("good", "pos"), ("fine", "pos")], ("text", "label"))
    with pytest.raises(DataError, match="need at least 2 classes"):
        load_text_source(_csv_config(path))
    with pytest.raises(DataError, match="unknown text dataset 'imdb'"):
        load_text_source(dataclasses.replace(Config(), data="imdb"))
    with pytest.raises(DataError, match="no such file"):
        load_text_source(_csv_config(tmp_path / "missing.csv"))
    with pytest.raises(ConfigError, match="test_fraction"):
        load_data(dataclasses.replace(Config(), test_fraction=0.0))


def test_plot_rows_split_in_two_disjoint_fixed_parts():
    from apps.sentiment.data import plot_rows, rotten_tomatoes_rows

    neutral, held = plot_rows("neutral"), plot_rows("held_out")
    plots = [t for c, t in rotten_tomatoes_rows() if c == "plot"]
    # 366 drawn for holding out; 6 of them repeat a neutral summary (the corpus has duplicates)
    assert len(plots) == 1097 and (len(neutral), len(held)) == (731, 360)
    assert not set(neutral) & set(held) and set(neutral) | set(held) == set(plots)
    assert plot_rows("neutral") == neutral
    with pytest.raises(ValueError, match="part='plots'"):
        plot_rows("plots")


def test_neutral_snippets_cut_every_word_once_in_bounded_pieces():
    from apps.sentiment.data import neutral_snippets

    texts = [" ".join(f"w{i}" for i in range(n)) for n in (3, 20, 100)]
    pieces = neutral_snippets(texts, 8, 16, seed=0)
    assert " ".join(pieces).split() == " ".join(texts).split()  # in order, none lost or repeated
    assert pieces[0] == texts[0]  # shorter than min_words: one piece
    assert all(8 <= len(p.split()) < 8 + 16 for p in pieces[1:])  # a short tail joins the piece before
    assert neutral_snippets(texts, 8, 16, seed=0) == pieces


def test_neutral_texts_get_the_uniform_target():
    from apps.sentiment.data import make_dataset

    config = Config(batch_size=8)
    for k, want in ((2, [[0.0], [1.0], [0.5], [0.5]]), (3, [[1, 0, 0], [0, 1, 0], [1 / 3] * 3, [1 / 3] * 3])):
        (x, y), = make_dataset(["bad", "good"], np.array([0, 1]), config, k, training=False,
                               neutral=["plot one", "plot two"]).as_numpy_iterator()
        assert [t.decode() for t in x] == ["bad", "good", "plot one", "plot two"]
        np.testing.assert_allclose(y, np.array(want, np.float32), rtol=1e-6)


def test_the_task_trains_on_the_neutral_snippets_beside_the_labelled_ones():
    from apps.common.config import preset_config
    from apps.sentiment import subjective
    from apps.sentiment.config import PRESETS
    from apps.sentiment.data import neutral_snippets
    from apps.sentiment.task import TASK

    config = dataclasses.replace(preset_config(Config, PRESETS, "tiny"), neutral="plot")
    assert Config().neutral == "plot" and PRESETS["tiny"].values["neutral"] == ""
    _, prepared = TASK.prepare(config, TASK.load_data(config))
    # The plot rows but the tenth the validation documents take their plot text from.
    want = neutral_snippets(subjective.trained_plots(config), 8, config.sequence_length, config.seed)
    assert prepared.neutral == want
    train, val = TASK.datasets(config, prepared)
    count = lambda ds: sum(int(y.shape[0]) for _, y in ds)  # noqa: E731
    assert count(train) == len(prepared.splits.y_train) + len(prepared.neutral)
    assert count(val) == len(prepared.splits.y_val)


def test_a_share_of_the_neutral_snippets_is_a_fixed_seed_part_in_order():
    from apps.sentiment.data import share_of

    texts = [f"t{i}" for i in range(40)]
    part = share_of(texts, 0.25, seed=3)
    assert len(part) == 10 and part == sorted(part, key=texts.index) and part == share_of(texts, 0.25, seed=3)
    assert part != share_of(texts, 0.25, seed=4) and share_of(texts, 1.0, seed=3) == texts
