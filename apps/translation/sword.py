"""Parallel verses from two SWORD zText Bible modules (KJV English, Reina-Valera 1909 Spanish).

A zText module holds each testament in three little-endian files:

    <t>.bzs  block index, 12 bytes a block:  uint32 offset in .bzz, uint32 compressed size,
                                             uint32 uncompressed size
    <t>.bzv  verse index, 10 bytes an entry: uint32 block number, uint32 offset in the
                                             uncompressed block, uint16 size in bytes
    <t>.bzz  the blocks, each a zlib stream (CompressType=ZIP)

Entries follow the versification in order: the module header, the testament header, then
for each book its introduction and for each chapter its heading (verse 0) and verses
1..n. Which position is which verse therefore needs the versification: SWORD's KJV table
(`canon.h` of libsword, read as data). Both modules use it (Versification=KJV in their
.conf), so position i of one is position i of the other.

The text is OSIS markup (`<w lemma="strong:H7225">beginning</w>`, `<note>`s, `<title>`s,
milestones); `plain_text` keeps the words and drops notes, titles and tags.
"""

import dataclasses
import html
import re
import struct
import zlib
from pathlib import Path

from apps.common.errors import DataError
from apps.common.packages import EMBEDDED, fetch_package_file

TESTAMENTS = ("ot", "nt")
# Spanish characters per English character beyond which a verse pair is misaligned.
LENGTH_RATIO_RANGE = (0.4, 2.5)
_BLOCK = struct.Struct("<III")
_ENTRY = struct.Struct("<IIH")


@dataclasses.dataclass(frozen=True)
class Book:
    name: str  # "Genesis"
    osis: str  # "Gen"
    verses: tuple  # verses per chapter


@dataclasses.dataclass(frozen=True)
class Verse:
    book: str  # OSIS name, "Gen"
    chapter: int
    verse: int
    english: str
    spanish: str


def read_ztext(folder, testament):
    """All entries of one testament of the zText module in `folder`, as UTF-8 strings."""
    folder = Path(folder)
    paths = [folder / f"{testament}.{ext}" for ext in ("bzs", "bzv", "bzz")]
    for path in paths:
        if not path.is_file():
            raise DataError(f"{path}: missing (a SWORD zText module has {testament}.bzs/.bzv/.bzz)")
    block_index, verse_index, data = (p.read_bytes() for p in paths)
    for path, raw, record in ((paths[0], block_index, _BLOCK), (paths[1], verse_index, _ENTRY)):
        if len(raw) % record.size:
            raise DataError(f"{path}: {len(raw)} bytes is not a whole number of {record.size}-byte records")
    blocks = [_BLOCK.unpack_from(block_index, i) for i in range(0, len(block_index), _BLOCK.size)]
    inflated = {}
    entries = []
    for i in range(0, len(verse_index), _ENTRY.size):
        block, offset, size = _ENTRY.unpack_from(verse_index, i)
        if size == 0:
            entries.append("")
            continue
        if block >= len(blocks):
            raise DataError(f"{paths[1]}: entry {i // _ENTRY.size} points to block {block} of {len(blocks)}")
        if block not in inflated:
            start, compressed, expected = blocks[block]
            try:
                inflated[block] = zlib.decompress(data[start : start + compressed])
            except zlib.error as error:
                raise DataError(f"{paths[2]}: block {block} is not a zlib stream ({error})") from None
            if len(inflated[block]) != expected:
                raise DataError(
                    f"{paths[2]}: block {block} inflates to {len(inflated[block])} bytes, "
                    f"the index says {expected}"
                )
        if offset + size > len(inflated[block]):
            raise DataError(f"{paths[1]}: entry {i // _ENTRY.size} runs past the end of block {block}")
        entries.append(inflated[block][offset : offset + size].decode("utf-8"))
    return entries


def parse_canon(source):
    """(old testament books, new testament books) from libsword's `canon.h` text."""
    table = {}
    for name in ("otbooks", "ntbooks"):
        match = re.search(rf"struct sbook {name}\[\] = \{{(.*?)\n\}};", source, re.S)
        if match is None:
            raise DataError(f"canon.h: no `struct sbook {name}[]` table")
        table[name] = [
            (book, osis, int(chapters))
            for book, osis, chapters in re.findall(
                r'\{"([^"]+)", "([^"]+)", "[^"]*", (\d+)\}', match.group(1)
            )
        ]
    match = re.search(r"int vm\[\] = \{(.*?)\};", source, re.S)
    if match is None:
        raise DataError("canon.h: no `int vm[]` table of verses per chapter")
    counts = [int(n) for n in re.findall(r"\d+", re.sub(r"//[^\n]*", "", match.group(1)))]
    books, position = [], 0
    for name in ("otbooks", "ntbooks"):
        testament = []
        for book, osis, chapters in table[name]:
            testament.append(Book(book, osis, tuple(counts[position : position + chapters])))
            position += chapters
        books.append(tuple(testament))
    if position != len(counts):
        raise DataError(f"canon.h: the books have {position} chapters, the verse table {len(counts)}")
    return tuple(books)


def verse_positions(books):
    """{(osis, chapter, verse): entry position} for one testament's books."""
    positions, position = {}, 2  # 0: module header, 1: testament header
    for book in books:
        position += 1  # book introduction
        for chapter, verses in enumerate(book.verses, start=1):
            position += 1  # chapter heading (verse 0)
            for verse in range(1, verses + 1):
                positions[(book.osis, chapter, verse)] = position
                position += 1
    return positions, position


# Notes and editorial titles go with their content; canonical titles (the psalms'
# "A Psalm of David.") are verse text, which the RV1909 module writes without a tag.
_DROPPED_ELEMENTS = re.compile(r"<(note|title)\b(?![^>]*canonical=\"true\")[^>]*>.*?</\1>", re.S)
_TAG = re.compile(r"<[^>]*>")


def plain_text(markup):
    """OSIS verse markup -> plain text: notes and non-canonical titles dropped, tags removed,
    the KJV's paragraph signs (¶) dropped, whitespace collapsed."""
    text = _DROPPED_ELEMENTS.sub(" ", markup)
    text = html.unescape(_TAG.sub(" ", text)).replace("¶", " ")
    text = " ".join(text.split())
    # Tags between a word and its punctuation left a space: "earth ." -> "earth.", "¡ OH" -> "¡OH".
    return re.sub(r"([¡¿(]) ", r"\1", re.sub(r" ([.,;:?!)])", r"\1", text))


def aligned_verses(english_folder, spanish_folder, canon):
    """(verses, dropped): the verse pairs in canonical order, and how many were dropped.

    Where a module's source numbers verses differently (the RV1909 follows the Hebrew in
    Job 38-41, Jonah 1-2, ...), the importer left the verses the KJV has and it lacks empty
    and shifted its text; elsewhere it split verses differently (Judges 14:18-20). Dropped
    whole: a chapter with an empty verse on either side and the chapter after it, and a
    chapter with a verse whose Spanish/English length ratio is outside
    `LENGTH_RATIO_RANGE` (the middle 99.8 % of verses lie within 0.54-1.60).
    """
    pairs = []
    for testament, books in zip(TESTAMENTS, canon):
        positions, expected = verse_positions(books)
        texts = []
        for folder in (english_folder, spanish_folder):
            entries = read_ztext(folder, testament)
            if len(entries) != expected:
                raise DataError(
                    f"{folder}: {testament} has {len(entries)} entries, the KJV versification {expected}"
                )
            texts.append(entries)
        for key, position in positions.items():
            pairs.append((key, *(plain_text(t[position]) for t in texts)))
    broken = {(book, chapter) for (book, chapter, _), english, spanish in pairs if not (english and spanish)}
    broken |= {(book, chapter + 1) for book, chapter in broken}
    low, high = LENGTH_RATIO_RANGE
    broken |= {
        (book, chapter)
        for (book, chapter, _), english, spanish in pairs
        if english and spanish and not low <= len(spanish) / len(english) <= high
    }
    verses = [Verse(*key, english, spanish) for key, english, spanish in pairs if key[:2] not in broken]
    return verses, len(pairs) - len(verses)


def load_bible():
    """The embedded KJV / RV1909 pairs: (verses, skipped, canon)."""
    folders = {
        module: fetch_package_file(EMBEDDED[f"sword-{module}-ot.bzs"]).parent for module in ("kjv", "rv1909")
    }
    for module in folders:
        for testament in TESTAMENTS:
            for ext in ("bzs", "bzv", "bzz"):
                fetch_package_file(EMBEDDED[f"sword-{module}-{testament}.{ext}"])
    canon = parse_canon(fetch_package_file(EMBEDDED["sword-canon"]).read_text(encoding="utf-8"))
    verses, skipped = aligned_verses(folders["kjv"], folders["rv1909"], canon)
    return verses, skipped, canon


def split_by_book(verses, val_fraction=0.05, test_fraction=0.05):
    """(train, val, test) by whole books: the last books (at least `test_fraction` of the
    verses) are the test set, the books before them (at least `val_fraction`) validation."""
    books = list(dict.fromkeys(v.book for v in verses))  # canonical order
    sizes = {b: 0 for b in books}
    for v in verses:
        sizes[v.book] += 1
    held_out, taken = [], 0
    for fraction in (test_fraction, val_fraction):
        chosen, count = [], 0
        while books and count < fraction * len(verses):
            book = books.pop()
            chosen.append(book)
            count += sizes[book]
        held_out.append(set(chosen))
        taken += count
    if not books:
        raise DataError(f"split_by_book: fractions {val_fraction} + {test_fraction} leave no training books")
    test_books, val_books = held_out
    return (
        [v for v in verses if v.book not in test_books | val_books],
        [v for v in verses if v.book in val_books],
        [v for v in verses if v.book in test_books],
    )
