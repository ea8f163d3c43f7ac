"""A long text's windows read in context: a small recurrent net over the sequence of a
document's windows re-weights them, so that review-like sentences deep inside a block of plot
summary count as plot (Yang et al. 2016's hierarchical attention, over Pang & Lee 2004's
proximity, apps/sentiment/subjective.py).

Per window the reading already has the documents members' logit z, the naive-Bayes table's
log odds t and the chain's posterior log odds s that the window is subjective (serving.WholeText).
`ContextReader` reads (documents, windows, 4) features [z, t, s, 1 (0: padding)] through a
bidirectional GRU of a few units and answers the document logit

    sum_i softmax_i(power * log sigmoid(s_i) + a_i) * (z_i - offset * sigmoid(-s_i) + c_i)

with a_i, c_i linear in the GRU's state at window i (zero-initialised: untrained, it is
WholeText's reading). It is trained (run part `context`) on documents composed of VALIDATION
snippets (members' logits not fitted to them) with a passage of plot summaries the members and
the table never trained on inserted at a random window and of a random length (0..`MAX_WORDS`
words, or none), so it cannot learn one geometry; few epochs. The run's own unseen plot is the
tenth (subjective.context_plots: 73 rows); with config.context_crossfit two cross-fitted
"worlds" add theirs (task.crossfit: a table and documents members trained on half the neutral
rows, read on the other half's ~365 rows), each world's documents featurised by its own parts.
With config.context_consistency it learns from pairs, each document with its plot passage and
without it, the answer with plot drawn towards the answer without (`pair_loss`). With
config.context_closing the chain's review-like islands deep inside plot are read as plot first
(`closed`).
"""

import keras
import numpy as np

import layers
from apps.common.run import DONE

PART = "context"  # the run part holding the reader
FEATURES = 4  # per window: z, t, s, 1 (0 = padding)
MAX_WORDS = 3000  # the longest plot passage of a training document
NO_PLOT = 0.15  # share of training documents without a plot passage
SNIPPETS = (6, 10)  # snippets per training document (same label)
PER_SNIPPET = 5  # training documents per validation snippet (RT: 5,765, each snippet in ~40 of them)
CLOSED = 20.0  # the log odds of a closed window (the reader clips log odds there)
EPOCHS = 4  # chosen on the cross-fit (8 fits the 73 plot rows' passages: no gain on one run of four)


@keras.saving.register_keras_serializable(package="classics_sentiment")
class ContextReader(keras.layers.Layer):
    """(documents, windows, 4) [z, t, s, 1] -> (documents, 1) document logit (see the module).

    Args:
        units: the GRU's units per direction.
        power: the weight of log p(subjective) in the attention logits (WholeText's power).
        offset: the neutral offset of the windows' logits (WholeText's offset).
        closing: the width of `closed`, applied to s first; 0: none.
    """

    def __init__(self, units=4, power=2.0, offset=0.0, closing=0, **kwargs):
        super().__init__(**kwargs)
        if int(units) < 1:
            raise ValueError(f"`units` must be >= 1, received: {units!r}")
        if int(closing) < 0:
            raise ValueError(f"`closing` must be >= 0, received: {closing!r}")
        self.units, self.power, self.offset, self.closing = int(units), float(power), float(offset), int(closing)
        self.context = keras.layers.Bidirectional(keras.layers.RNN(layers.GRUCell(self.units), return_sequences=True),
                                                  name="context")
        self.attend = keras.layers.Dense(1, kernel_initializer="zeros", name="attend")
        self.correct = keras.layers.Dense(1, kernel_initializer="zeros", name="correct")

    def build(self, input_shape):
        width = 5  # the window's own inputs to the GRU (`_inputs`)
        self.context.build((input_shape[0], input_shape[1], width))
        self.attend.build((input_shape[0], input_shape[1], 2 * self.units + width))
        self.correct.build((input_shape[0], input_shape[1], 2 * self.units + width))

    @staticmethod
    def _inputs(z, t, s):
        """(documents, windows, 5): the features on similar scales (log odds clipped)."""
        ops = keras.ops
        return ops.stack([z / 3.0, ops.abs(z) / 3.0, ops.clip(t, -20.0, 20.0) / 10.0, ops.clip(s, -20.0, 20.0) / 10.0,
                          ops.sigmoid(s)], axis=-1)

    def call(self, features):
        ops = keras.ops
        z, t, s, real = (features[..., i] for i in range(FEATURES))
        if self.closing:
            s = closed(s, real > 0, self.closing)
        own = self._inputs(z, t, s)
        state = self.context(own, mask=real > 0)  # (documents, windows, 2 units)
        both = ops.concatenate([state, own], axis=-1)
        scores = self.power * ops.log_sigmoid(s) + self.attend(both)[..., 0]
        weights = ops.softmax(ops.where(real > 0, scores, -1e9), axis=-1)  # (documents, windows)
        logits = z - self.offset * ops.sigmoid(-s) + self.correct(both)[..., 0]
        return ops.sum(weights * logits, axis=-1, keepdims=True)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "power": self.power, "offset": self.offset,
                "closing": self.closing}


def build(units, power, offset, closing=0) -> keras.Model:
    """(documents, windows, 4) features -> (documents, 1) logit."""
    features = keras.Input((None, FEATURES), name="window_features")
    return keras.Model(features, ContextReader(units, power, offset, closing, name="reader")(features), name="context")


def closed(s, real, width: int):
    """The chain's log odds `s` (documents, windows) with each subjective-looking window (s >= 0)
    that has at least half of the `width` windows on EACH side objective (s < 0) set to
    -CLOSED: an island of review-like sentences (a distributor's blurb) inside a long plot
    summary is read as that summary, while the review at the ends of a passage of plot is not
    (a morphological closing of the objective windows). `real` (documents, windows) bool."""
    ops = keras.ops
    plot = ops.cast(ops.logical_and(s < 0, real), "float32")
    count = ops.pad(ops.cumsum(plot, axis=1), [[0, 0], [1, 0]])  # count[:, i]: objective windows before i
    n = ops.shape(s)[1]
    at = ops.arange(n)
    left = count[:, 1:] - ops.take(count, ops.maximum(at - width, 0), axis=1) - plot
    right = ops.take(count, ops.minimum(at + 1 + width, n), axis=1) - count[:, 1:]
    least = (width + 1) // 2
    island = ops.logical_and(ops.logical_and(left >= least, right >= least), ops.logical_and(s >= 0, real))
    return ops.where(island, -CLOSED, s)


def average(readers) -> keras.Model:
    """One reader whose logit is the mean of trained `readers`' logits (each as `build` makes
    them; one reader is itself)."""
    if len(readers) == 1:
        return readers[0]
    features = keras.Input((None, FEATURES), name="window_features")
    for i, reader in enumerate(readers):
        reader.name = f"context{i}"  # unique names inside one model
    logits = keras.layers.Average(name="mean_logit")([reader(features) for reader in readers])
    return keras.Model(features, logits, name="context")


def features(logits, table, posterior, owner, n):
    """Per text its windows' [z, t, s, 1] in order, zero-padded: (n, most windows, 4). `owner`
    (W,) int32 need not be sorted (WholeText appends the empty texts' windows last)."""
    import tensorflow as tf

    values = tf.stack([logits, table, posterior, tf.ones_like(logits)], axis=-1)
    order = tf.argsort(owner, stable=True)
    ragged = tf.RaggedTensor.from_value_rowids(tf.gather(values, order), tf.cast(tf.gather(owner, order), tf.int64),
                                               nrows=tf.cast(n, tf.int64))
    return ragged.to_tensor(shape=[None, None, FEATURES])


def padded(documents) -> np.ndarray:
    """[(z, t, s)] arrays per document -> (documents, most windows, 4) as `features`."""
    most = max(len(d[0]) for d in documents)
    out = np.zeros((len(documents), most, FEATURES), np.float32)
    for i, (z, t, s) in enumerate(documents):
        out[i, :len(z), 0], out[i, :len(z), 1], out[i, :len(z), 2], out[i, :len(z), 3] = z, t, s, 1.0
    return out


def compose(snippets, labels, plot, count: int, seed: int):
    """`count` training documents: same-label snippets (SNIPPETS), a plot passage at a random
    window (NO_PLOT of them none; else consecutive windows of `plot` from a random one, up to a
    uniform 0..MAX_WORDS tokens). `snippets`: per snippet its windows' (z, t, tokens) arrays;
    `plot` the same of the joined plot rows. -> ([(z, t, is_plot)] per document, labels)."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    ends = np.r_[0, np.cumsum(plot[2])]
    documents, targets = [], []
    for _ in range(count):
        label = int(rng.integers(0, 2))
        group = rng.choice(np.flatnonzero(labels == label), int(rng.integers(SNIPPETS[0], SNIPPETS[1] + 1)),
                           replace=False)
        z = np.concatenate([snippets[g][0] for g in group])
        t = np.concatenate([snippets[g][1] for g in group])
        is_plot = np.zeros(len(z), bool)
        if rng.random() >= NO_PLOT:
            start = int(rng.integers(0, len(plot[2])))
            stop = min(int(np.searchsorted(ends, ends[start] + rng.uniform(0, MAX_WORDS))), len(plot[2]))
            at = int(rng.integers(0, len(z) + 1))
            z = np.r_[z[:at], plot[0][start:stop], z[at:]]
            t = np.r_[t[:at], plot[1][start:stop], t[at:]]
            is_plot = np.r_[is_plot[:at], np.ones(stop - start, bool), is_plot[at:]]
        documents.append((z.astype(np.float32), t.astype(np.float32), is_plot))
        targets.append(label)
    return documents, np.array(targets)


def _scaled(reader) -> keras.Model:
    """`reader` with a learnt scale on its logit, for the loss only: sharper weights then gain
    nothing by themselves."""
    inputs = keras.Input((None, FEATURES))
    return keras.Model(inputs, keras.layers.Dense(1, use_bias=False, kernel_initializer="ones")(reader(inputs)))


def pairs_trainer(reader) -> keras.Model:
    """[documents with their plot passage, the same without] -> (documents, 2) scaled logits of
    `reader` (one scale for both), for `pair_loss`."""
    scaled = _scaled(reader)
    with_plot, without = keras.Input((None, FEATURES)), keras.Input((None, FEATURES))
    return keras.Model([with_plot, without], keras.layers.Concatenate()([scaled(with_plot), scaled(without)]))


def pair_loss(consistency: float):
    """Per document: BCE(label, with plot) + BCE(label, without) + consistency *
    BCE(sigmoid(without), with plot), the last target held fixed (Xie et al. 2020's consistency
    training): inserting a plot passage is trained not to move the answer. Logits (documents, 2)."""
    ops = keras.ops

    def bce(p, logit):  # binary cross-entropy of logits against probabilities p
        return ops.softplus(logit) - p * logit

    def loss(labels, logits):
        labels = ops.reshape(ops.cast(labels, logits.dtype), (-1,))
        with_plot, without = logits[:, 0], logits[:, 1]
        return (bce(labels, with_plot) + bce(labels, without)
                + consistency * bce(ops.stop_gradient(ops.sigmoid(without)), with_plot))

    return loss


def load(run):
    """The run's context reader, or None when it has none."""
    if not (run.path / PART / DONE).exists():
        return None
    return run.part(PART).load_model()


def fit(run, config, worlds, texts, labels, verbose=None):
    """Train the context reader into `run`'s part (skipped when that part is done): the average
    of config.context_readers readers, each in a part of its own (reader0, reader1, ...; a
    killed run keeps the ones done). `worlds`: [(WholeText, plot rows)]: a reading of windows
    (documents members, table and chain) with plot rows neither its members nor its table
    trained on; the run's own first, then any cross-fitted ones (task.crossfit). Each world
    gives PER_SNIPPET documents per snippet of `texts`, `labels` (validation snippets),
    composed and featurised inside that world; every reader learns from the same documents."""
    part = run.part(PART)
    if part.done:
        return
    parts = [part.part(f"reader{k}") for k in range(config.context_readers)]
    if not all(one.done for one in parts):
        x, alone, targets = [], [], []
        for k, (whole, plots) in enumerate(worlds):
            documents, without, y = _documents(whole, texts, labels, plots, config.seed + k)
            x += documents
            alone += without
            targets.append(y)
        x, targets = padded(x), np.concatenate(targets)
        if config.context_consistency:
            x = [x, padded(alone)]
        run.say(f"context readers: {sum(not one.done for one in parts)} of {len(parts)} to train on {len(targets)} "
                f"documents of validation snippets with 0..{MAX_WORDS} words of unseen plot rows "
                f"({' + '.join(str(len(plots)) for _, plots in worlds)} in {len(worlds)} world(s))")
        for k, one in enumerate(parts):
            if one.done:
                continue
            keras.utils.set_random_seed(config.seed + k)
            reader = build(config.context_units, worlds[0][0].power, worlds[0][0].offset, config.context_closing)
            trainer = pairs_trainer(reader) if config.context_consistency else _scaled(reader)
            loss = pair_loss(config.context_consistency) if config.context_consistency else \
                keras.losses.BinaryCrossentropy(from_logits=True)
            trainer.compile(keras.optimizers.Adam(3e-3), loss)
            trainer.fit(x, targets, batch_size=64, epochs=EPOCHS, verbose=verbose if verbose is not None else 2)
            one.save_model(reader)
            one.finish()
    part.save_model(average([one.load_model() for one in parts]))
    part.finish()


def _documents(whole, texts, labels, plots, seed):
    """PER_SNIPPET composed documents per snippet, read by `whole`: ([(z, t, s)] with their plot
    passage, [(z, t, s)] the same documents without it, labels)."""
    snippets = _windows(whole, [str(t) for t in texts])
    plot = _windows(whole, [" ".join(str(p) for p in plots)])[0]
    documents, targets = compose(snippets, labels, plot, PER_SNIPPET * len(snippets), seed)
    return (_posterior(whole, [d[:2] for d in documents]),
            _posterior(whole, [(z[~is_plot], t[~is_plot]) for z, t, is_plot in documents]), targets)


def _posterior(whole, documents):
    """[(z, t)] per document -> [(z, t, s)], s the chain's posterior log odds in `whole`."""
    import tensorflow as tf

    lengths = [len(z) for z, _ in documents]
    owner = np.repeat(np.arange(len(documents), dtype=np.int32), lengths)
    z, t = (np.concatenate([d[k] for d in documents]) for k in (0, 1))
    s = whole.posterior(tf.constant(t), tf.constant(z[:, None]), tf.constant(owner)).numpy()
    ends = np.cumsum(lengths)
    return [(d[0], d[1], s[b - len(d[0]):b]) for d, b in zip(documents, ends)]


def _windows(whole, texts):
    """Per text its sentence windows' (documents members' logits z, table log odds t, tokens)."""
    import tensorflow as tf

    chunks, owner = whole.sentence_windows(tf.constant(texts), tf.ones([len(texts)], tf.bool))
    chunks, owner = chunks.numpy(), owner.numpy()
    z = whole.classify_long.predict(chunks, batch_size=512, verbose=0)[:, 0]
    t = whole.subjectivity.predict(chunks, batch_size=1024, verbose=0)[:, 0]
    ends = np.searchsorted(owner, np.arange(len(texts) + 1))
    return [(z[a:b], t[a:b], (chunks[a:b] > 0).sum(1)) for a, b in zip(ends[:-1], ends[1:])]
