"""Bach soprano lines as note tokens, and music21's verdict on ABC tunes."""

import music21
import pytest

from apps.common.errors import DataError
from apps.generate.abc_check import check_abc, check_rate
from apps.generate.chorales import chorale_paths, load_chorales, soprano_tokens
from apps.generate.data import Vocabulary

TUNE = "M:6/8\nL:1/8\nK:Am\n(A/B/)|cAB GAE|DEG GAB|cBA GED|EAA A2B|\ncAB GAE|DEG GAB|cde fed|cAA A2:|"


def _score(parts):
    score = music21.stream.Score()
    for elements in parts:
        part = music21.stream.Part()
        for element in elements:
            part.append(element)
        score.insert(0, part)
    return score


def test_soprano_tokens_merge_ties_and_take_a_chord_top():
    tied = [music21.note.Note("C5", quarterLength=1.0), music21.note.Note("C5", quarterLength=0.5)]
    tied[0].tie, tied[1].tie = music21.tie.Tie("start"), music21.tie.Tie("stop")
    soprano = [music21.note.Note("F4", quarterLength=1.0), *tied, music21.note.Rest(quarterLength=0.5),
               music21.chord.Chord(["E4", "G4"], quarterLength=2.0)]
    others = [[music21.note.Note("C3", quarterLength=5.0)] for _ in range(3)]
    assert soprano_tokens(_score([soprano, *others])) == ("65:1", "72:1.5", "rest:0.5", "67:2")
    with pytest.raises(DataError, match="5 parts, expected 4"):
        soprano_tokens(_score([soprano, *others, others[0]]))


def test_real_chorales_by_file():
    paths = chorale_paths()
    assert len(paths) == 408
    chorales, skipped = load_chorales(paths[:3])  # bwv1.6 has a horn part: 5 parts, skipped
    assert skipped == 1 and [c.name for c in chorales] == ["bwv10.7", "bwv101.7"]
    assert chorales[0].tokens[:6] == ("74:2", "77:2", "74:1", "74:1", "74:1", "74:1")
    assert len(chorales[0].tokens) == 43
    vocab = Vocabulary.from_items([c.tokens for c in chorales])
    assert vocab.symbols(vocab.encode(chorales[1].tokens)) == list(chorales[1].tokens)


def test_check_abc_counts_bars_and_refuses_what_is_not_a_tune():
    check = check_abc(TUNE)
    assert (check.valid, check.bars, check.notes) == (True, 9, 47)  # a pickup bar + 8 bars
    assert check.full_bars == 1.0  # bars 2..8 hold 6/8 each
    # bars of 2.5, 3.5, 3, 3, 1.5 quarters in 6/8; music21 splits the 3.5 into 3 + 0.5, so the
    # inner bars are 3, 0.5, 3, 3: three of four fill the meter
    assert check_abc("M:6/8\nL:1/8\nK:Am\ncAB GA|DEG GAB c|cBA GED|EAA A2B|ABc|").full_bars == 0.75
    assert check_abc(TUNE.replace("K:Am", "K:A Mixolydian")).valid
    assert check_abc("M:6/8\nL:1/8\nK:Am\n|]]x((9/0").error == "no notes"  # music21 parses it
    assert check_abc("M:6/8\nL:1/8\nK:Em\nAB \"c|d|e|]").error == "no bars"  # open quote
    # music21 would read these keys as C major without a word
    assert check_abc(TUNE.replace("K:Am", "K:.GEiB")).error == "K:.GEiB is not a key"
    assert check_abc(TUNE.replace("K:Am", "K:K:GG")).error == "K:K:GG is not a key"
    assert check_abc(TUNE.replace("M:6/8", "M:6/")).error == "M:6/ is not a meter"
    missing_key = check_abc("M:6/8\nL:1/8\nABc|")
    assert not missing_key.valid and "K:" in missing_key.error
    assert check_rate([TUNE, "M:6/8\nL:1/8\nABc|", TUNE]) == (pytest.approx(2 / 3), 9.0)


@pytest.mark.slow
def test_every_corpus_tune_passes_the_check():
    from apps.generate.corpora import load_corpus

    tunes = load_corpus("oneills").items[::20]  # 92 tunes, every 20th
    checks = [check_abc(t) for t in tunes]
    assert [c.error for c in checks if not c.valid] == []
    assert min(c.bars for c in checks) >= 8


def test_chorales_corpus_runs_through_load_data(monkeypatch):
    import dataclasses

    from apps.generate import chorales as chorales_module
    from apps.generate.config import Config
    from apps.generate.corpora import load_corpus
    from apps.generate.data import load_data

    monkeypatch.setattr(chorales_module, "chorale_paths", lambda: chorale_paths()[:4])
    corpus = load_corpus("chorales")
    assert len(corpus.items) == 3 and dict(corpus.dropped) == {"not four-part": 1}
    assert corpus.items[0][:2] == ("74:2", "77:2")
    data = load_data(dataclasses.replace(Config(), data="chorales", val_fraction=0.0,
                                         test_fraction=0.34))
    assert (len(data.train), len(data.test)) == (2, 1) and data.vocabulary.separator == " "
    assert data.vocabulary.decode(data.vocabulary.encode(data.train[0])) == " ".join(data.train[0])
    with pytest.raises(DataError, match="cannot be joined"):
        load_corpus("names+chorales")


def test_chorale_pitches_and_the_parse_cache(monkeypatch, tmp_path):
    from apps.generate import chorales as chorales_module
    from apps.generate.chorales import pitches
    from apps.generate.corpora import load_corpus

    monkeypatch.setenv("CLASSICS_DATA", str(tmp_path))
    monkeypatch.setattr(chorales_module, "chorale_paths", lambda: chorale_paths()[:3])
    assert pitches(("74:2", "rest:0.5", "77:1.5")) == ("74", "rest", "77")
    first = load_chorales()
    cached = list((tmp_path / "generate").glob("bach-sopranos-music21-10.5.1-*.json"))
    assert len(cached) == 1
    # read back without parsing: the same chorales
    monkeypatch.setattr(music21.corpus, "parse", lambda *a, **k: pytest.fail("parsed again"))
    assert load_chorales() == first
    corpus = load_corpus("chorale-pitches")
    assert corpus.items == tuple(pitches(c.tokens) for c in first[0])
    assert corpus.items[0][:3] == ("74", "77", "74")
    with pytest.raises(DataError, match="cannot be joined"):
        load_corpus("chorales+chorale-pitches")


def test_transposed_training_lines(monkeypatch):
    import dataclasses

    from apps.generate import chorales as chorales_module
    from apps.generate.config import Config
    from apps.generate.data import load_data, transpose

    assert transpose(("65:1", "rest:0.5", "70"), -2) == ("63:1", "rest:0.5", "68")
    monkeypatch.setattr(chorales_module, "chorale_paths", lambda: chorale_paths()[:4])
    config = dataclasses.replace(Config(), data="chorales", val_fraction=0.0, test_fraction=0.34, transpose=2)
    data = load_data(config)
    assert len(data.transposed) == 4 * len(data.train)  # -2, -1, +1, +2
    assert data.transposed[0] == transpose(data.train[0], -2)
    assert data.fit_items == data.train + data.transposed
    assert all(t in data.vocabulary.chars for line in data.transposed for t in line)
    with pytest.raises(DataError, match="transpose=2: only note lines"):
        load_data(dataclasses.replace(Config(), transpose=2))
