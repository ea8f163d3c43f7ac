"""Translation data by name (`dates`, `bible`, `tsv:<file>`): splits, vocabularies, tf.data.

Both sides are characters. The source vocabulary is the training sources' characters, the
target vocabulary the training targets' plus <s> and </s>; characters seen only outside
training map to <unk> and are counted in `TranslationData.note`, as are texts longer than
`source_length` / `target_length` (cut).
"""

import dataclasses

import numpy as np

from apps.common.errors import ConfigError
from apps.translation import corpus, dates
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


def load_data(config):
    """A `TranslationData` for `config` (deterministic for config.seed)."""
    if config.model not in ("course", "seq2seq"):
        raise ConfigError(f"model: expected 'course' or 'seq2seq', got {config.model!r}")
    train, val, test, note, groups = _pairs(config)
    if not train:
        raise ConfigError(f"data {config.data!r}: the training split is empty")
    source = CharVocabulary.from_texts(p.source for p in train)
    target = CharVocabulary.from_texts((p.target for p in train), boundaries=True)
    notes = [note] if note else []
    for name, split in (("val", val), ("test", test)):
        for side, vocabulary, length in (
            ("source", source, config.source_length),
            ("target", target, config.target_length),
        ):
            report = report_unknown(
                vocabulary.encode([getattr(p, side) for p in split], length), f"{name} {side}"
            )
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
    return dataset.batch(config.batch_size).prefetch(tf.data.AUTOTUNE)
