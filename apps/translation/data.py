"""Translation data by name (`dates`, `bible`, `tsv:<file>`): splits, vocabularies, tf.data.

With `tokens="characters"` both sides are characters: the source vocabulary is the training
sources' characters, the target vocabulary the training targets' plus <s> and </s>. With
`tokens="subwords"` the source side is words (BPE pieces with `source_pieces` > 0) and the target
side BPE pieces (subwords.py).
Tokens seen only outside training map to <unk> and are counted in `TranslationData.note`, as
are texts longer than `source_length` / `target_length` tokens (cut).
"""

import dataclasses

import numpy as np

from apps.common.errors import ConfigError
from apps.translation import corpus, dates
from apps.translation.subwords import PieceVocabulary, SourcePieceVocabulary, WordVocabulary
from apps.translation.vocabulary import END_ID, PAD_ID, START_ID, CharVocabulary, report_unknown


@dataclasses.dataclass(frozen=True, eq=False)
class TranslationData:
    train: tuple  # of corpus.Pair
    val: tuple
    test: tuple
    source_vocabulary: CharVocabulary
    target_vocabulary: CharVocabulary
    note: str  # what was dropped, unknown or cut, one clause each
    test_groups: tuple = ()  # dates: the locale of each test pair ("en_GB"); else empty


def _pairs(config):
    if config.data == "dates":
        loaded = dates.load_dates(
            config.dates_samples,
            config.seed,
            (config.val_fraction, config.test_fraction),
            locales=tuple(config.locales),
        )
        split = [
            tuple(corpus.Pair(s.human, s.iso) for s in part)
            for part in (loaded.train, loaded.val, loaded.test)
        ]
        groups = tuple(s.locale for s in loaded.test)
        return (*split, f"{loaded.ambiguous} ambiguous numeric dates dropped", groups)
    if config.data == "bible" or config.data.startswith("tsv:"):
        loaded = corpus.load_corpus(config.data, config.val_fraction, config.test_fraction, config.seed)
        return loaded.train, loaded.val, loaded.test, loaded.note, ()
    raise ConfigError(f"data: unknown source {config.data!r}; use 'dates', 'bible' or 'tsv:<file>'")


def vocabularies(config, train):
    """(source, target) vocabularies learned from the training pairs, as `config.tokens` says."""
    if config.tokens == "subwords":
        if config.model != "seq2seq":
            raise ConfigError("tokens: 'subwords' needs model=seq2seq (the course model writes characters)")
        sources = [p.source for p in train]
        if config.source_pieces:
            if config.source_pieces < 16:
                raise ConfigError(f"source_pieces={config.source_pieces}: expected 0 (words) or >= 16")
            source = SourcePieceVocabulary.from_texts(sources, config.source_pieces)
        else:
            source = WordVocabulary.from_texts(sources, config.min_word_count)
        return source, PieceVocabulary.from_texts((p.target for p in train), config.target_pieces)
    if config.source_pieces:
        raise ConfigError(f"source_pieces={config.source_pieces}: needs tokens='subwords' (0 with characters)")
    return (CharVocabulary.from_texts(p.source for p in train),
            CharVocabulary.from_texts((p.target for p in train), boundaries=True))


def load_data(config):
    """A `TranslationData` for `config` (deterministic for config.seed)."""
    if config.model not in ("course", "seq2seq"):
        raise ConfigError(f"model: expected 'course' or 'seq2seq', got {config.model!r}")
    if config.ensemble > 1 and config.model != "seq2seq":
        raise ConfigError(f"ensemble={config.ensemble}: needs model=seq2seq (the course model is not "
                          "decoded step by step)")
    train, val, test, note, groups = _pairs(config)
    if config.train_on_val:
        train = train + val
        note = "; ".join(filter(None, [note, f"the {len(val)} validation pairs are in training (train_on_val)"]))
    if not train:
        raise ConfigError(f"data {config.data!r}: the training split is empty")
    source, target = vocabularies(config, train)
    notes = [note] if note else []
    for name, split in (("val", val), ("test", test)):
        for side, vocabulary, length in (
            ("source", source, config.source_length),
            ("target", target, config.target_length),
        ):
            report = report_unknown(
                vocabulary.encode([getattr(p, side) for p in split], length), f"{name} {side}",
                "characters" if side == "target" else vocabulary.unit)
            notes += [report] if report else []
    return TranslationData(train, val, test, source, target, "; ".join(notes), groups)


def encode(pairs, data, config):
    """NumPy arrays of a split.

    course:  {"source": (n, Tx), "target": (n, Ty)}  targets post-padded
    seq2seq: also "decoder_input" (n, Ty + 1) = <s> target, and "target" (n, Ty + 1) = target </s>
    """
    source = data.source_vocabulary.encode([p.source for p in pairs], config.source_length).ids
    encoded = data.target_vocabulary.encode([p.target for p in pairs], config.target_length)
    if config.model == "course":
        return {"source": source, "target": encoded.ids}
    n, length = encoded.ids.shape
    decoder_input = np.full((n, length + 1), PAD_ID, "int32")
    decoder_input[:, 0] = START_ID
    decoder_input[:, 1:] = encoded.ids
    target = np.concatenate([encoded.ids, np.full((n, 1), PAD_ID, "int32")], axis=1)
    target[np.arange(n), encoded.lengths] = END_ID
    return {"source": source, "decoder_input": decoder_input, "target": target}


def make_dataset(pairs, data, config, shuffle=False):
    """tf.data of (inputs, targets, sample weights); padding targets weigh 0."""
    import tensorflow as tf

    arrays = encode(pairs, data, config)
    inputs = arrays["source"] if config.model == "course" else (arrays["source"], arrays["decoder_input"])
    weights = (arrays["target"] != PAD_ID).astype("float32")
    dataset = tf.data.Dataset.from_tensor_slices((inputs, arrays["target"], weights))
    if shuffle:
        dataset = dataset.shuffle(len(pairs), seed=config.seed, reshuffle_each_iteration=True)
    if config.model == "course":  # a fixed number of decoder steps
        return dataset.batch(config.batch_size).prefetch(tf.data.AUTOTUNE)
    # Batches of similar target lengths, cut to their longest row: the RNNs run every padded
    # step (masked, but computed), and verses run from 3 to 100 tokens.
    lengths = (arrays["target"] != PAD_ID).sum(axis=1)
    boundaries = sorted({int(q) for q in np.quantile(lengths, np.linspace(0, 1, 9)[1:-1])} - {0})
    dataset = dataset.bucket_by_sequence_length(
        lambda inputs, target, weights: tf.reduce_sum(tf.cast(target != PAD_ID, tf.int32)),
        boundaries, [config.batch_size] * (len(boundaries) + 1))
    return dataset.map(_cut_padding).prefetch(tf.data.AUTOTUNE)


def _cut_padding(inputs, target, weights):
    """A batch without the columns that are padding in every row (post-padded arrays)."""
    import tensorflow as tf

    source, decoder_input = inputs

    def longest(ids):
        return tf.maximum(1, tf.reduce_max(tf.reduce_sum(tf.cast(ids != PAD_ID, tf.int32), axis=1)))

    tx, ty = longest(source), longest(target)
    return (source[:, :tx], decoder_input[:, :ty]), target[:, :ty], weights[:, :ty]
