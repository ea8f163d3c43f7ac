"""Characters <-> token ids, the splits of a config, and tf.data batches for training.

Token ids: 0 padding, 1 UNK (a character not seen in training), 2 EOS (the item boundary: the
first input and the last target of every item), 3... the training characters, sorted. An item
"Ada" trains as inputs [EOS, A, d, a] -> targets [A, d, a, EOS]. Items that are sequences of
tokens (the chorales' notes) work alike; as text their tokens are joined by a space.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np

from apps.common.errors import DataError
from apps.generate.abc_marks import notes_only
from apps.generate.corpora import load_corpus, split_items
from apps.generate.metrics import SharedSubstrings

PAD, UNK, EOS = 0, 1, 2
FIRST_CHAR = 3
# An extra training item sharing a substring longer than this share of its body with a held-out
# item is dropped as the same tune: of Ryan's 1,045 tunes, 8 share over 30 % with one of
# O'Neill's 368 validation and test tunes (1 over 50 %); of Aird's 1,177, 1.
NEAR_COPY = 0.3


@dataclasses.dataclass(frozen=True)
class Vocabulary:
    chars: tuple  # id FIRST_CHAR + i is chars[i]: characters, or note tokens (chorales.py)
    separator: str = ""  # "" for characters; " " for tokens: a text is its tokens joined by it

    @classmethod
    def from_items(cls, items, separator: str = "") -> Vocabulary:
        """Sorted symbols of the items (strings, or sequences of token strings)."""
        return cls(chars=tuple(sorted(set().union(*map(set, items)))), separator=separator)

    @property
    def size(self) -> int:
        return FIRST_CHAR + len(self.chars)

    @property
    def bar_id(self) -> int:
        """The id of the bar line "|" (ABC), -1 when it is not a symbol."""
        return FIRST_CHAR + self.chars.index("|") if "|" in self.chars else -1

    def split(self, text) -> list:
        """The symbols of a text (or of an item that is already a sequence of tokens)."""
        if not isinstance(text, str):
            return list(text)
        return [t for t in text.split(self.separator) if t] if self.separator else list(text)

    def encode(self, text) -> list:
        index = {c: FIRST_CHAR + i for i, c in enumerate(self.chars)}
        return [index.get(c, UNK) for c in self.split(text)]

    def symbols(self, ids) -> list:
        """The characters (or tokens) of ids; PAD, UNK and EOS dropped."""
        return [self.chars[i - FIRST_CHAR] for i in ids if i >= FIRST_CHAR]

    def decode(self, ids) -> str:
        return self.separator.join(self.symbols(ids))


@dataclasses.dataclass(frozen=True)
class Data:
    vocabulary: Vocabulary
    train: tuple
    val: tuple
    test: tuple
    dropped: tuple  # ((reason, count), ...) from the corpus and the length limit
    transposed: tuple = ()  # note lines: the training lines transposed (config.transpose), fit only
    extra: tuple = ()  # items of config.extra_data: trained on, never validated or tested on

    @property
    def fit_items(self) -> tuple:
        """What the model trains on: the training items, their transpositions and the extra items."""
        return self.train + self.transposed + self.extra


def transpose(tokens, semitones: int) -> tuple:
    """Note tokens ("65:1", "65", "rest:0.5") moved by `semitones`; rests stay."""
    moved = []
    for token in tokens:
        pitch, colon, rest = token.partition(":")
        moved.append(token if pitch == "rest" else f"{int(pitch) + semitones}{colon}{rest}")
    return tuple(moved)


def _prepared(corpus, config, dropped: dict, prefix: str = "") -> list:
    """The corpus's items with `abc_marks="drop"` applied and the overlong ones dropped."""
    items = list(corpus.items)
    for reason, count in corpus.dropped:
        dropped[prefix + reason] = dropped.get(prefix + reason, 0) + count
    if config.abc_marks == "drop" and items and isinstance(items[0], str):
        reduced = list(dict.fromkeys(notes_only(item) for item in items))  # first of equal tunes kept
        if len(reduced) < len(items):
            dropped[prefix + "equal to another once marks dropped"] = len(items) - len(reduced)
        items = reduced
    kept = [item for item in items if len(item) <= config.max_item_length]
    if len(kept) < len(items):
        dropped[f"{prefix}longer than {config.max_item_length}"] = len(items) - len(kept)
    return kept


def tune_body(tune: str) -> str:
    """A tune's notes after its K: line (the whole item when it has none), whitespace removed."""
    lines = tune.split("\n")
    start = next((i + 1 for i, line in enumerate(lines) if line.startswith("K:")), 0)
    return re.sub(r"\s+", "", "\n".join(lines[start:]))


def _extra_items(config, splits, items, dropped: dict) -> tuple:
    """config.extra_data's items, less those equal to an item of `data` and (text items) those
    sharing over NEAR_COPY of their body with a validation or test item: Ryan's and O'Neill's
    books print some tunes alike, in other transcriptions."""
    extra = _prepared(load_corpus(config.extra_data), config, dropped, prefix="extra: ")
    own = set(items)
    kept = [item for item in extra if item not in own]
    if len(kept) < len(extra):
        dropped["extra: in data too"] = len(extra) - len(kept)
    if kept and isinstance(kept[0], str) and (splits.val or splits.test):
        held_out = SharedSubstrings(sorted({tune_body(t) for t in splits.val + splits.test}))
        near = [t for t in kept if held_out.longest(tune_body(t)) > NEAR_COPY * max(1, len(tune_body(t)))]
        if near:
            dropped[f"extra: sharing > {NEAR_COPY:.0%} with a held-out item"] = len(near)
            kept = [t for t in kept if t not in set(near)]
    return tuple(kept)


def load_data(config) -> Data:
    """The corpus of `config.data`, split by item with `config.seed`; vocabulary from what the
    model trains on. With `abc_marks="drop"` every text item (train, validation and test alike)
    loses its ABC performance marks before the split, so model and n-grams score the same
    reduced tunes. `config.extra_data` adds training items only (`_extra_items`)."""
    dropped = {}
    items = _prepared(load_corpus(config.data), config, dropped)
    splits = split_items(items, config.seed, config.val_fraction, config.test_fraction)
    if not splits.train:
        raise DataError(f"data {config.data!r}: no training items")
    separator = "" if isinstance(items[0], str) else " "  # token items: chorales
    moved = ()
    if config.transpose:
        if not separator:
            raise DataError(f"transpose={config.transpose}: only note lines (chorales, chorale-pitches) "
                            f"transpose, not {config.data!r}")
        moved = tuple(transpose(item, d) for d in range(-config.transpose, config.transpose + 1) if d
                      for item in splits.train)
    extra = _extra_items(config, splits, items, dropped) if config.extra_data else ()
    if extra and isinstance(extra[0], str) != (not separator):
        raise DataError(f"extra_data {config.extra_data!r}: note lines and text cannot be joined "
                        f"(data {config.data!r})")
    return Data(vocabulary=Vocabulary.from_items(splits.train + moved + extra, separator), train=splits.train,
                val=splits.val, test=splits.test, dropped=tuple(sorted(dropped.items())), transposed=moved,
                extra=extra)


def batch_order(lengths, batch_size: int, rng=None, chunk_batches: int = 20) -> list:
    """Item indices of each batch. Without `rng`: consecutive items. With it: a shuffled order
    whose chunks of `chunk_batches` batches are sorted by length before being cut into batches,
    and the batches shuffled, so a batch holds items of similar length (less padding: on
    O'Neill's tunes 3.4x fewer RNN steps an epoch than random batches) and still varies."""
    n = len(lengths)
    if rng is None:
        return [list(range(i, min(i + batch_size, n))) for i in range(0, n, batch_size)]
    order, chunk, batches = rng.permutation(n), batch_size * chunk_batches, []
    for start in range(0, n, chunk):
        part = sorted(order[start:start + chunk].tolist(), key=lambda i: lengths[i])
        batches += [part[i:i + batch_size] for i in range(0, len(part), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def make_dataset(items, vocabulary: Vocabulary, batch_size: int, shuffle: bool = False,
                 seed: int = 0, by_length: bool = False):
    """Batches of (inputs, targets, weights), each (batch, time) padded to the batch's longest;
    weights are 1 on real targets (every character and the EOS) and 0 on padding. Shuffled
    batches come in a new order each epoch from `seed`; with `by_length` they hold items of
    similar length (`batch_order`)."""
    import tensorflow as tf

    encoded = [vocabulary.encode(item) for item in items]
    lengths = [len(ids) + 1 for ids in encoded]
    rng = np.random.default_rng(seed) if shuffle else None  # advances epoch by epoch

    def batches():
        for batch in batch_order(lengths, batch_size, rng, chunk_batches=20 if by_length else 1):
            width = max(lengths[i] for i in batch)
            inputs = np.full((len(batch), width), PAD, np.int32)
            targets = np.full((len(batch), width), PAD, np.int32)
            for row, i in enumerate(batch):
                inputs[row, :lengths[i]] = [EOS] + encoded[i]
                targets[row, :lengths[i]] = encoded[i] + [EOS]
            yield inputs, targets

    spec = tf.TensorSpec((None, None), tf.int32)
    ds = tf.data.Dataset.from_generator(batches, output_signature=(spec, spec))
    # Keras knows where an epoch ends (a resumed run otherwise warns that the data ran out).
    ds = ds.apply(tf.data.experimental.assert_cardinality(-(-len(encoded) // batch_size)))
    ds = ds.map(lambda x, y: (x, y, tf.cast(tf.not_equal(y, PAD), tf.float32)))
    return ds.prefetch(tf.data.AUTOTUNE)


def training_headers(data, n: int, seed: int) -> list:
    """n M/L/K headers of training tunes drawn at random (seeded): a sample primed with one
    starts from a header the corpus uses, in the corpus's proportions."""
    headers = [tune_header(t) for t in data.train]
    return [headers[i] for i in np.random.default_rng(seed).integers(len(headers), size=n)]


def tune_header(tune: str) -> str:
    """The M/L/K lines of a corpus tune (the K: line last), with the newline the body starts after."""
    lines = tune.split("\n")
    end = next((i + 1 for i, line in enumerate(lines) if line.startswith("K:")), 0)
    return "\n".join(lines[:end]) + "\n"
