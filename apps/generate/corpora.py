"""Corpora of short texts for character-level language models: names and folk tunes.

A corpus is a tuple of items (a name, one whole tune in ABC), deduplicated, in source order.
Splits are drawn by item with a fixed seed, so a held-out name or tune is never trained on.

Sources (joined by "+", e.g. "oneills+airds"):
    names    Debian miscfiles' propernames: 1,516 first names.
    latin    Webster's 2nd (miscfiles' web2), its capitalised Latin-like words: see `is_latin_like`.
    oneills  O'Neill's Music of Ireland (1850 melodies, music21's corpus), one tune per number.
    airds    Aird's Airs, books 1-6 (music21's corpus).
    ryans    Ryan's Mammoth Collection (1883), one file per tune (1,059 files): read from the
             installed music21 package (an install requirement), as embedding 1,059 single
             files through the package cache would list every file name here.
    chorales Bach's four-part chorales' soprano lines as note tokens (apps/generate/chorales.py;
             needs music21 installed, ~1-2 minutes to parse once); items are tuples of tokens.
    chorale-pitches  the same lines, pitches alone ("65", "rest"): durations dropped.
    text:<file>  any UTF-8 file, one item per line (blank lines skipped).
"""

from __future__ import annotations

import dataclasses
import gzip
import importlib.util
import re
from pathlib import Path

import numpy as np

from apps.common.errors import DataError
from apps.common.packages import EMBEDDED, ONEILLS_FILES, fetch_package_file
from apps.generate.chorales import load_chorales, pitches

SOURCES = ("names", "latin", "oneills", "airds", "ryans", "chorales", "chorale-pitches")
TOKEN_SOURCES = ("chorales", "chorale-pitches")  # items are token tuples: not joined with text

# Latin noun endings (1st/2nd declension nominatives -a, -us, -um, and the plural -ae of the
# zoological and botanical families, -idae, -inae, -aceae): Acacia, Corylus, Verbascum, Belgae.
LATIN_ENDINGS = ("a", "ae", "us", "um")
_LATIN_RE = re.compile(r"^[A-Z][a-z]+$")

# ABC header fields kept: meter, unit note length, key (key last, where the body begins).
_TUNE_FIELDS = ("M", "L", "K")
_FIELD_RE = re.compile(r"^([A-Za-z+]):(.*)$")


@dataclasses.dataclass(frozen=True)
class Corpus:
    """Items of one or more sources, and what was dropped on the way (reason -> count)."""

    name: str
    items: tuple
    dropped: tuple = ()  # ((reason, count), ...)


@dataclasses.dataclass(frozen=True)
class Splits:
    train: tuple
    val: tuple
    test: tuple


def is_latin_like(word: str) -> bool:
    """A web2 word kept by `latin`: one capital then lowercase ASCII letters, at least 4 of them
    in all, ending in -a, -ae, -us or -um (10,059 of web2's 24,231 capitalised words)."""
    return len(word) >= 4 and bool(_LATIN_RE.match(word)) and word.endswith(LATIN_ENDINGS)


def _read_embedded(key: str) -> str:
    path = fetch_package_file(EMBEDDED[key])
    data = path.read_bytes()
    if path.name.endswith(".gz"):
        data = gzip.decompress(data)
    return data.decode("utf-8")


def _lines(text: str) -> list:
    return [line.strip() for line in text.splitlines() if line.strip()]


def abc_tunes(text: str, origin: str) -> tuple:
    """(tunes, dropped) from an ABC book: each tune as `(number, "M:..\\nL:..\\nK:..\\nbody")`.

    Only M, L and K stay in the header (K last, as ABC requires before the body; L is
    written out from M when the file leaves it to the default). In the body, comments, lyrics
    and annotation fields go; inline M:/L:/K: changes stay. Tunes with several voices (V:)
    and tunes without a key are dropped and counted.
    """
    tunes, dropped = [], {}
    for block in re.split(r"\n(?=X:)", "\n" + text.replace("\r\n", "\n")):
        lines = block.strip("\n").split("\n")
        if not lines or not lines[0].startswith("X:"):
            continue
        number = lines[0][2:].strip()
        header, body, in_body = {}, [], False
        for raw in lines[1:]:
            if not raw.strip():
                if in_body:
                    break  # a blank line ends the tune
                continue
            line = raw.split("%", 1)[0].replace("\t", " ").rstrip()  # % starts a comment
            if not line:
                continue
            field = _FIELD_RE.match(line)
            if field:
                key, value = field.group(1), field.group(2).strip()
                if key == "V":
                    header["V"] = value
                elif key in _TUNE_FIELDS:
                    if in_body:
                        body.append(f"{key}:{value}")
                    else:
                        header[key] = value
                        in_body = key == "K"
                continue  # T, Z, N, B, Q, I, R, C, P, S, w, W, ...: not music
            if in_body:
                body.append(line)
        if "V" in header:
            dropped["several voices"] = dropped.get("several voices", 0) + 1
        elif "K" not in header or not body:
            dropped["no key or no body"] = dropped.get("no key or no body", 0) + 1
        else:
            if "L" not in header:  # ABC's default unit: 1/16 below 3/4 time, else 1/8
                header["L"] = "1/16" if _meter_value(header.get("M", "")) < 0.75 else "1/8"
            head = [f"{key}:{header[key]}" for key in _TUNE_FIELDS if key in header]
            tunes.append((f"{origin}#{number}", "\n".join(head + body)))
    return tunes, dropped


def _meter_value(meter: str) -> float:
    if meter in ("C", "C|"):
        return 1.0
    match = re.match(r"^(\d+)/(\d+)$", meter)
    return int(match.group(1)) / int(match.group(2)) if match else 1.0


def _oneills() -> tuple:
    """O'Neill's tunes, one per tune number: some numbers come in two transcriptions (files
    0732-0758_bs/_mh, 1116-1135_mh/_ml) or in two overlapping files; the first one is kept."""
    seen, tunes, dropped = set(), [], {}
    for stem in ONEILLS_FILES:
        book, book_dropped = abc_tunes(_read_embedded(f"oneills-{stem}"), "oneills")
        for reason, count in book_dropped.items():
            dropped[reason] = dropped.get(reason, 0) + count
        for number, tune in book:
            if number in seen:
                dropped["second transcription of a number"] = (
                    dropped.get("second transcription of a number", 0) + 1)
                continue
            seen.add(number)
            tunes.append(tune)
    return tunes, dropped


def _airds() -> tuple:
    tunes, dropped = [], {}
    for book in range(1, 7):
        found, book_dropped = abc_tunes(_read_embedded(f"airds-book{book}"), f"airds{book}")
        tunes += [tune for _, tune in found]
        for reason, count in book_dropped.items():
            dropped[reason] = dropped.get(reason, 0) + count
    return tunes, dropped


def _ryans() -> tuple:
    """Ryan's Mammoth tunes from music21's installed corpus (found without importing music21)."""

    spec = importlib.util.find_spec("music21")
    folder = Path(spec.submodule_search_locations[0]) / "corpus" / "ryansMammoth" if spec else None
    if folder is None or not folder.is_dir():
        raise DataError("corpus 'ryans' reads music21's installed corpus: pip install music21==10.5.1")
    tunes, dropped = [], {}
    for path in sorted(folder.glob("*.abc")):
        found, file_dropped = abc_tunes(path.read_text(encoding="utf-8"), f"ryans/{path.stem}")
        tunes += [tune for _, tune in found]
        for reason, count in file_dropped.items():
            dropped[reason] = dropped.get(reason, 0) + count
    return tunes, dropped


def _text_file(path: str) -> list:
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"text:{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"text:{path}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise DataError(f"text:{path}: cannot read ({exc.strerror})") from None
    return _lines(text)


def _source(name: str) -> tuple:
    """(items, dropped) of one source."""
    if name.startswith("text:"):
        return _text_file(name[len("text:"):]), {}
    if name == "names":
        return _lines(_read_embedded("miscfiles-propernames")), {}
    if name == "latin":
        words = _lines(_read_embedded("miscfiles-web2"))
        return [w for w in words if is_latin_like(w)], {}
    if name == "oneills":
        return _oneills()
    if name == "airds":
        return _airds()
    if name == "ryans":
        return _ryans()
    if name in TOKEN_SOURCES:
        chorales, skipped = load_chorales()
        tokens = [c.tokens if name == "chorales" else pitches(c.tokens) for c in chorales]
        return tokens, {"not four-part": skipped}
    raise DataError(f"corpus {name!r}: expected one of {', '.join(SOURCES)} or text:<file>, "
                    "several joined by '+'")


def load_corpus(spec: str) -> Corpus:
    """The items of `spec` (sources joined by "+"), exact duplicates dropped (first kept)."""
    parts = [p.strip() for p in spec.split("+")] if not spec.startswith("text:") else [spec]
    if not spec or any(not p for p in parts):
        raise DataError(f"corpus {spec!r}: expected one of {', '.join(SOURCES)} or text:<file>, "
                        "several joined by '+'")
    if set(parts) & set(TOKEN_SOURCES) and len(parts) > 1:
        raise DataError(f"corpus {spec!r}: chorales (note tokens) cannot be joined with other sources")
    items, dropped, seen = [], {}, set()
    for part in parts:
        found, part_dropped = _source(part)
        for reason, count in part_dropped.items():
            dropped[reason] = dropped.get(reason, 0) + count
        for item in found:
            if item in seen:
                dropped["duplicate"] = dropped.get("duplicate", 0) + 1
                continue
            seen.add(item)
            items.append(item)
    if not items:
        raise DataError(f"corpus {spec!r}: no items")
    return Corpus(name=spec, items=tuple(items), dropped=tuple(sorted(dropped.items())))


def split_items(items, seed: int, val_fraction: float = 0.1, test_fraction: float = 0.1) -> Splits:
    """A fixed-seed split by item: test first, then validation, from one permutation.

    The same seed, items and fractions give the same split; items must be distinct (as
    `load_corpus` makes them), so no test item is also a training item.
    """
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= value < 1.0:
            raise DataError(f"{name} must be in [0, 1), got {value!r}")
    if val_fraction + test_fraction >= 1.0:
        raise DataError(f"val_fraction + test_fraction must be < 1, got "
                        f"{val_fraction} + {test_fraction}")
    items = tuple(items)
    order = np.random.default_rng(seed).permutation(len(items))
    n_test = int(round(test_fraction * len(items)))
    n_val = int(round(val_fraction * len(items)))

    def pick(indices):  # in source order
        return tuple(items[i] for i in sorted(indices))

    return Splits(train=pick(order[n_test + n_val:]), val=pick(order[n_test:n_test + n_val]),
                  test=pick(order[:n_test]))
