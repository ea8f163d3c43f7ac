"""Word vectors on disk: word2vec text and binary formats, GloVe text, Embedding Projector TSVs.

- word2vec text: a header line `V D`, then `word x1 ... xD` per line (what gensim's
  `KeyedVectors.save_word2vec_format(binary=False)` writes and `load_word2vec_format` reads).
- word2vec binary: the same header, then per word `word<space>` + D little-endian float32
  + `\\n` (word2vec.c's layout; gensim reads it with `binary=True`).
- GloVe: like word2vec text without the header line.
`load_vectors` detects the header (two integers) and, with a header, binary or text.
"""

from __future__ import annotations

import dataclasses
import pathlib

import numpy as np

from apps.common.errors import DataError


@dataclasses.dataclass(frozen=True, eq=False)
class WordVectors:
    """Words and their vectors float32 (V, D); row i belongs to words[i]."""

    words: tuple[str, ...]
    vectors: np.ndarray

    def __post_init__(self):
        if self.vectors.ndim != 2 or self.vectors.shape[0] != len(self.words):
            raise DataError(f"word vectors: {len(self.words)} words but vectors of shape "
                            f"{self.vectors.shape}")

    def __len__(self):
        return len(self.words)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])


def _check_words(words):
    for word in words:
        if not word or any(ch.isspace() for ch in word):
            raise DataError(f"word {word!r} cannot be written in word2vec format (empty or "
                            "contains whitespace)")


def save_word2vec(wv: WordVectors, path, binary: bool = False) -> pathlib.Path:
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _check_words(wv.words)
    vectors = np.asarray(wv.vectors, np.float32)
    with path.open("wb") as fh:
        fh.write(f"{len(wv)} {wv.dim}\n".encode())
        for word, row in zip(wv.words, vectors):
            if binary:
                fh.write(word.encode("utf-8") + b" " + row.astype("<f4").tobytes() + b"\n")
            else:
                # repr of float32 round-trips exactly
                fh.write((word + " " + " ".join(repr(float(x)) for x in row) + "\n").encode("utf-8"))
    return path


def save_projector(wv: WordVectors, directory) -> tuple[pathlib.Path, pathlib.Path]:
    """vectors.tsv (one tab-separated row per word) and metadata.tsv (the words, no header:
    the Embedding Projector takes a one-column metadata file without one)."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    vectors_path, metadata_path = directory / "vectors.tsv", directory / "metadata.tsv"
    np.savetxt(vectors_path, np.asarray(wv.vectors, np.float32), delimiter="\t", fmt="%.6g")
    metadata_path.write_text("".join(f"{w}\n" for w in wv.words), encoding="utf-8")
    return vectors_path, metadata_path


def _parse_row(path, number, fields, dim):
    if len(fields) != dim + 1:
        raise DataError(f"{path}:{number}: expected a word and {dim} numbers, got {len(fields)} fields")
    try:
        return fields[0], np.asarray(fields[1:], dtype=np.float32)
    except ValueError:
        raise DataError(f"{path}:{number}: not a number among the vector values") from None


def load_vectors(path, limit: int = 0) -> WordVectors:
    """Read word2vec text/binary (header `V D`) or GloVe (no header) vectors; `limit` > 0
    keeps only the first `limit` words."""
    path = pathlib.Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    with path.open("rb") as fh:
        first = fh.readline()
        try:
            head = first.decode("utf-8").split()
        except UnicodeDecodeError:
            raise DataError(f"{path}:1: not a word-vector file (first line is not UTF-8 text)") from None
        if len(head) == 2 and all(h.isdigit() for h in head):
            count, dim = int(head[0]), int(head[1])
            if dim < 1:
                raise DataError(f"{path}:1: header says dimension {dim}")
            start = fh.tell()
            words, rows = _read_text(path, fh, dim, count, limit, first_number=2)
            if words is None:  # not text: binary
                fh.seek(start)
                words, rows = _read_binary(path, fh, dim, count, limit)
        else:
            if len(head) < 2:
                raise DataError(f"{path}:1: not a word-vector file (expected 'word x1 ... xD' or "
                                "a 'count dim' header)")
            dim = len(head) - 1
            fh.seek(0)
            words, rows = _read_text(path, fh, dim, None, limit, first_number=1)
            if words is None:
                raise DataError(f"{path}: not UTF-8 GloVe text")
    if not words:
        raise DataError(f"{path}: no vectors")
    return WordVectors(tuple(words), np.stack(rows))


def _read_text(path, fh, dim, count, limit, first_number):
    words, rows = [], []
    for number, raw in enumerate(fh, start=first_number):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            if number == first_number and count is not None:
                return None, None
            raise DataError(f"{path}:{number}: not valid UTF-8") from None
        fields = line.rstrip("\n").rstrip().split(" ")
        if number == first_number and count is not None and len(fields) != dim + 1 \
                and not _all_numbers(fields[1:]):
            return None, None  # raw float bytes after the word: the binary layout
        if not line.strip():
            continue
        word, row = _parse_row(path, number, fields, dim)
        words.append(word)
        rows.append(row)
        if limit and len(words) >= limit:
            break
    if count is not None and not limit and len(words) != count:
        raise DataError(f"{path}: header says {count} words, file has {len(words)}")
    return words, rows


def _all_numbers(fields):
    try:
        [float(f) for f in fields]
    except ValueError:
        return False
    return bool(fields)


def _read_binary(path, fh, dim, count, limit):
    words, rows = [], []
    size = 4 * dim
    n = min(count, limit) if limit else count
    for index in range(n):
        chars = bytearray()
        while True:
            ch = fh.read(1)
            if not ch:
                raise DataError(f"{path}: binary word2vec file ends at word {index + 1} of {count}")
            if ch == b" ":
                break
            if ch != b"\n" or chars:
                chars += ch
        data = fh.read(size)
        if len(data) != size:
            raise DataError(f"{path}: binary word2vec file ends inside the vector of word {index + 1}")
        try:
            words.append(chars.decode("utf-8"))
        except UnicodeDecodeError:
            raise DataError(f"{path}: word {index + 1} is not valid UTF-8") from None
        rows.append(np.frombuffer(data, dtype="<f4").astype(np.float32))
    return words, rows
