"""Corpora: ABC header reduction, the web2 filter, fixed-seed splits by item, real counts."""

import pytest

from apps.common.errors import DataError
from apps.generate.corpora import abc_tunes, is_latin_like, load_corpus, split_items

BOOK = """% a book's preamble comment
X:1
T:The First
Z:someone 2009
M:6/8
Q:3/8=120
K:G
% a comment line
GAB c2d|efg a3 % trailing comment
P:B
w:some lyrics
M:9/8
dBG\tdBG dBG|]

X:2
T:No L field
M:2/4
K:D
FA dA|]

X:3
T:Two voices
M:C
L:1/8
V:1
V:2
K:C
CDEF|]

X:4
T:No key
M:C
"""


def test_abc_tunes_keep_meter_length_key_and_the_music():
    tunes, dropped = abc_tunes(BOOK, "book")
    assert [number for number, _ in tunes] == ["book#1", "book#2"]
    # M and L (ABC's default 1/8 for 6/8) then K last; comments, T/Z/Q/P/w gone; the inline
    # meter change stays; the tab becomes a space.
    assert tunes[0][1] == "M:6/8\nL:1/8\nK:G\nGAB c2d|efg a3\nM:9/8\ndBG dBG dBG|]"
    assert tunes[1][1] == "M:2/4\nL:1/16\nK:D\nFA dA|]"  # below 3/4 the default unit is 1/16
    assert dropped == {"several voices": 1, "no key or no body": 1}


def test_latin_like_filter():
    kept = ["Acacia", "Corylus", "Verbascum", "Belgae", "Gekkonidae"]
    refused = ["Durham", "Aba", "acacia", "ACACIA", "Jean-Luc", "Amati", "Acacia2"]
    assert [w for w in kept + refused if is_latin_like(w)] == kept


def test_split_by_item_is_fixed_disjoint_and_sized():
    items = [f"item{i}" for i in range(103)]
    splits = split_items(items, seed=3, val_fraction=0.1, test_fraction=0.2)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (72, 10, 21)
    assert set(splits.train) | set(splits.val) | set(splits.test) == set(items)
    assert not set(splits.test) & (set(splits.train) | set(splits.val))
    assert not set(splits.val) & set(splits.train)
    assert split_items(items, seed=3, val_fraction=0.1, test_fraction=0.2) == splits
    assert split_items(items, seed=4, val_fraction=0.1, test_fraction=0.2).test != splits.test
    assert list(splits.train) == sorted(splits.train, key=items.index)  # source order kept
    with pytest.raises(DataError, match="val_fraction"):
        split_items(items, seed=3, val_fraction=1.0)


def test_text_source_one_item_per_line_deduplicated(tmp_path):
    path = tmp_path / "words.txt"
    path.write_text("Ada\n\n  Bo \nAda\nÉmile\n", encoding="utf-8")
    corpus = load_corpus(f"text:{path}")
    assert corpus.items == ("Ada", "Bo", "Émile")
    assert corpus.dropped == (("duplicate", 1),)
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe x")
    with pytest.raises(DataError, match="not UTF-8"):
        load_corpus(f"text:{tmp_path / 'bad.txt'}")
    with pytest.raises(DataError, match="no such file"):
        load_corpus(f"text:{tmp_path / 'missing.txt'}")
    with pytest.raises(DataError, match="expected one of names, latin, oneills, airds, ryans"):
        load_corpus("names+jazz")


def test_embedded_names():
    names = load_corpus("names")
    assert len(names.items) == 1516 and names.dropped == ()
    assert names.items[:3] == ("Aaron", "Ada", "Adam")
    latin = load_corpus("latin")
    assert len(latin.items) == 10059
    assert all(is_latin_like(w) for w in latin.items)


@pytest.mark.slow
def test_embedded_tunes_one_per_number_and_dedup_reported():
    oneills = load_corpus("oneills")
    # 2,009 tunes in the files, 1,838 distinct numbers: the 171 second transcriptions go, and
    # one tune printed under two numbers.
    assert len(oneills.items) == 1837
    assert dict(oneills.dropped) == {"second transcription of a number": 171, "duplicate": 1}
    assert all(t.split("\n")[2].startswith("K:") for t in oneills.items)
    assert oneills.items[0].startswith("M:2/4\nL:1/16\nK:Gm\nG3-A (Bcd=e) |")
    airds = load_corpus("airds")
    assert len(airds.items) == 1177 and dict(airds.dropped) == {"several voices": 3}
    ryans = load_corpus("ryans")  # 1,059 files, one tune each, 14 of them repeats
    assert len(ryans.items) == 1045 and dict(ryans.dropped) == {"duplicate": 14}
    assert ryans.items[0].startswith("M:C\nL:1/8\nK:Am\n")
    every = load_corpus("oneills+airds+ryans")  # no tune text shared between the books
    assert len(every.items) == 1837 + 1177 + 1045


def test_training_headers_are_the_m_l_k_lines_of_training_tunes():
    import types

    from apps.generate.data import training_headers, tune_header

    tunes, _ = abc_tunes(BOOK, "book")
    assert tune_header(tunes[0][1]) == "M:6/8\nL:1/8\nK:G\n"
    data = types.SimpleNamespace(train=tuple(t for _, t in tunes))
    drawn = training_headers(data, 200, seed=3)
    assert set(drawn) == {"M:6/8\nL:1/8\nK:G\n", "M:2/4\nL:1/16\nK:D\n"}
    assert 60 < drawn.count("M:2/4\nL:1/16\nK:D\n") < 140  # both tunes alike
    assert training_headers(data, 20, seed=3) == drawn[:20]
