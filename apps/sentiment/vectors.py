"""Word vectors for the embedding layer, read from a word-embeddings *export* (not its code).

Accepted: a word2vec text file (header `V D`, then `word x1 ... xD`), a word2vec binary file
(same header, then `word ` + D little-endian float32 per word), a GloVe text file (no header),
or an embeddings SavedModel version directory (`saved_models/embeddings/<n>/`: its words are
`assets.extra/labels.txt`, its vectors come from its `serving_default` lookup signature).
"""

from __future__ import annotations

import pathlib

import numpy as np

from apps.common.errors import ConfigError, DataError


def _from_saved_model(path: pathlib.Path) -> tuple[list[str], np.ndarray]:
    import tensorflow as tf

    labels = path / "assets.extra" / "labels.txt"
    if not labels.is_file():
        raise DataError(f"{path}: an embeddings export needs assets.extra/labels.txt (its words)")
    words = labels.read_text(encoding="utf-8").splitlines()
    lookup = tf.saved_model.load(str(path)).signatures["serving_default"]
    parts = [lookup(words=tf.constant(words[i:i + 4096]))["vectors"].numpy()
             for i in range(0, len(words), 4096)]
    return words, np.concatenate(parts).astype(np.float32)


def _from_binary(path, data: bytes, count: int, dim: int):
    words, rows, pos = [], np.empty((count, dim), np.float32), data.index(b"\n") + 1
    for i in range(count):
        end = data.index(b" ", pos)
        words.append(data[pos:end].decode("utf-8", errors="replace").lstrip("\n"))
        start = end + 1
        rows[i] = np.frombuffer(data, "<f4", dim, start)
        pos = start + 4 * dim
    return words, rows


def _from_text(path, text: str, has_header: bool):
    lines = text.splitlines()[1 if has_header else 0:]
    words, rows, dim = [], [], None
    for number, line in enumerate(lines, start=2 if has_header else 1):
        fields = line.rstrip().split(" ")
        if len(fields) < 2:
            continue
        if dim is None:
            dim = len(fields) - 1
        if len(fields) - 1 != dim:
            raise DataError(f"{path}:{number}: expected {dim} numbers after the word, got {len(fields) - 1}")
        try:
            rows.append(np.asarray(fields[1:], np.float32))
        except ValueError:
            raise DataError(f"{path}:{number}: not a row of numbers") from None
        words.append(fields[0])
    if not rows:
        raise DataError(f"{path}: no vectors")
    return words, np.stack(rows)


def load_word_vectors(path) -> tuple[list[str], np.ndarray]:
    """(words, float32 vectors (V, D)) from a word2vec/GloVe file or an embeddings export."""
    path = pathlib.Path(path).expanduser()
    if path.is_dir():
        if not (path / "saved_model.pb").exists():
            raise ConfigError(f"embeddings: {path} is a directory but not a SavedModel version "
                              "(expected saved_models/embeddings/<n>/)")
        return _from_saved_model(path)
    if not path.is_file():
        raise ConfigError(f"embeddings: {path} does not exist (expected a word2vec file or an "
                          "embeddings export directory)")
    data = path.read_bytes()
    first = data[:data.find(b"\n")] if b"\n" in data else data
    header = first.split()
    has_header = len(header) == 2 and all(f.isdigit() for f in header)
    if has_header:
        count, dim = int(header[0]), int(header[1])
        try:
            return _from_text(path, data.decode("utf-8"), True)
        except (UnicodeDecodeError, DataError):
            try:
                return _from_binary(path, data, count, dim)
            except (ValueError, IndexError):
                raise DataError(f"{path}: neither word2vec text nor binary with {count} x {dim} "
                                "vectors") from None
    try:
        return _from_text(path, data.decode("utf-8"), False)
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a word2vec/GloVe text file (not UTF-8)") from None


def embedding_matrix(vocabulary, words, vectors, dim: int, seed: int):
    """(len(vocabulary), dim): the vector of each vocabulary word found in `words`; the rest
    (padding, [UNK], words the vectors lack) drawn at the found vectors' scale.

    Returns (matrix, number of vocabulary words found).
    """
    if vectors.shape[1] != dim:
        raise ConfigError(f"embedding_dim is {dim} but the word vectors have {vectors.shape[1]} "
                          f"dimensions; set embedding_dim={vectors.shape[1]}")
    index = {w: i for i, w in enumerate(words)}
    rows = [index.get(w, -1) for w in vocabulary]
    found = np.array([r >= 0 for r in rows])
    std = float(vectors.std()) or 0.05
    matrix = np.random.default_rng(seed).normal(0.0, std, (len(vocabulary), dim)).astype(np.float32)
    matrix[found] = vectors[[r for r in rows if r >= 0]]
    matrix[0] = 0.0  # padding (masked anyway)
    return matrix, int(found[2:].sum())
