"""Parallel corpora by name: the embedded Bible (`bible`) or a user file (`tsv:<file>`)."""

import dataclasses
from pathlib import Path

import numpy as np

from apps.common.errors import DataError
from apps.translation import sword


@dataclasses.dataclass(frozen=True)
class Pair:
    source: str
    target: str


@dataclasses.dataclass(frozen=True)
class ParallelCorpus:
    """Splits of `Pair`s; `dropped` counts pairs left out while reading (with the reason)."""

    train: tuple
    val: tuple
    test: tuple
    dropped: int
    note: str


def read_tsv(path):
    """Pairs from a UTF-8 file of `source<TAB>target` lines; blank lines are skipped.

    Raises DataError naming the file and line of a line without exactly one tab or with an
    empty side.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"tsv:{path}: no such file")
    pairs = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            fields = line.split("\t")
            if len(fields) != 2 or not fields[0].strip() or not fields[1].strip():
                raise DataError(
                    f"tsv:{path}:{number}: expected 'source<TAB>target' with both sides non-empty, "
                    f"got {len(fields)} field(s): {line[:60]!r}"
                )
            pairs.append(Pair(fields[0].strip(), fields[1].strip()))
    if not pairs:
        raise DataError(f"tsv:{path}: no sentence pairs")
    return pairs


def split_by_source(pairs, val_fraction, test_fraction, seed):
    """(train, val, test) with every distinct source sentence in one split (seeded)."""
    sources = sorted({p.source for p in pairs})
    order = np.random.default_rng(seed).permutation(len(sources))
    n_val, n_test = round(val_fraction * len(sources)), round(test_fraction * len(sources))
    split_of = {}
    for rank, index in enumerate(order):
        split_of[sources[index]] = 1 if rank < n_val else 2 if rank < n_val + n_test else 0
    splits = ([], [], [])
    for pair in pairs:
        splits[split_of[pair.source]].append(pair)
    return tuple(tuple(s) for s in splits)


def load_corpus(name, val_fraction=0.05, test_fraction=0.05, seed=0):
    """`bible` (KJV -> RV1909, the last books held out) or `tsv:<file>` (random by source)."""
    for key, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0 <= value < 0.5:
            raise DataError(f"corpus: `{key}` must be in [0, 0.5), got {value!r}")
    if name == "bible":
        verses, dropped, _ = sword.load_bible()
        splits = sword.split_by_book(verses, val_fraction, test_fraction)
        train, val, test = (tuple(Pair(v.english, v.spanish) for v in split) for split in splits)
        note = f"{dropped} verses in misaligned chapters dropped"
        return ParallelCorpus(train, val, test, dropped, note)
    if name.startswith("tsv:"):
        train, val, test = split_by_source(read_tsv(name[4:]), val_fraction, test_fraction, seed)
        return ParallelCorpus(train, val, test, 0, "")
    raise DataError(f"corpus: unknown corpus {name!r}; use 'bible' or 'tsv:<file>'")
