"""extra_data: more training items that never reach validation or test, near copies of held-out
items dropped; the held-out split stays the data's own."""

import dataclasses

import pytest

from apps.common.errors import DataError
from apps.generate import data as data_module
from apps.generate.config import PRESETS, Config
from apps.generate.corpora import Corpus, load_corpus
from apps.generate.data import NEAR_COPY, load_data, tune_body

# 30 items of 20 letters, none sharing more than 4 letters in a row with another.
ITEMS = [f"{chr(97 + i % 26)}{chr(97 + (i * 7) % 26)}{chr(97 + (i * 11) % 26)}" * 5 + f"{i:02d}" + "xyz"
         for i in range(30)]


def _config(tmp_path, extra_lines, **values):
    (tmp_path / "data.txt").write_text("\n".join(ITEMS) + "\n")
    (tmp_path / "extra.txt").write_text("\n".join(extra_lines) + "\n")
    return dataclasses.replace(Config(), **{**PRESETS["tiny"].values, "data": f"text:{tmp_path / 'data.txt'}",
                                            "extra_data": f"text:{tmp_path / 'extra.txt'}", **values})


def test_extra_items_train_only_and_held_out_copies_dropped(tmp_path):
    plain = load_data(dataclasses.replace(_config(tmp_path, ["QQQQ"]), extra_data=""))
    test_item, train_item = plain.test[0], plain.train[0]
    near = test_item[:10] + "QQ"  # shares 10 of its 12 characters with a test item: > NEAR_COPY
    far = "QQQQQQQQ" + test_item[:2]  # 2 of 10: kept
    extra = ["QRSTUVW", train_item, test_item, near, far, "QRSTUVW"]
    data = load_data(_config(tmp_path, extra))
    assert (data.train, data.val, data.test) == (plain.train, plain.val, plain.test)  # the split is the data's
    assert data.extra == ("QRSTUVW", far)
    assert data.fit_items == data.train + ("QRSTUVW", far)
    dropped = dict(data.dropped)
    assert dropped["extra: duplicate"] == 1 and dropped["extra: in data too"] == 2
    assert dropped[f"extra: sharing > {NEAR_COPY:.0%} with a held-out item"] == 1
    assert set("QRSTUVW") <= set(data.vocabulary.chars) and "Q" not in plain.vocabulary.chars
    assert not set(data.extra) & set(data.val + data.test)


def test_extra_items_pass_through_marks_and_length_limits(tmp_path):
    data = load_data(_config(tmp_path, ["Q" * 30, "QRS"], max_item_length=25))
    assert data.extra == ("QRS",)
    assert dict(data.dropped)["extra: longer than 25"] == 1


def test_extra_note_lines_cannot_join_text(tmp_path, monkeypatch):
    config = _config(tmp_path, ["QRS"], extra_data="notes")

    def fake(spec):
        return Corpus(spec, (("60:1", "62:1"),)) if spec == "notes" else load_corpus(spec)

    monkeypatch.setattr(data_module, "load_corpus", fake)
    with pytest.raises(DataError, match="extra_data 'notes': note lines and text cannot be joined"):
        load_data(config)


def test_tune_body_is_the_music_after_the_key_line():
    assert tune_body("M:6/8\nL:1/8\nK:G\nGAB c2d|\nefg a3|]") == "GABc2d|efga3|]"
    assert tune_body("no key line") == "nokeyline"


def test_aird_and_ryan_first_bars():
    airds, ryans = load_corpus("airds").items, load_corpus("ryans").items
    assert airds[0].startswith("M:C|\nL:1/8\nK:G\nAG|B2B2 B2AG|")  # Aird's book 1, its first tune
    assert ryans[0].startswith('M:C\nL:1/8\nK:Am\nu"4"e|\\\nv(c<A)(A>.B) (c<A) (A>.f) |')
    assert min(t.count("|") for t in airds + ryans) == 6  # every tune has bars
