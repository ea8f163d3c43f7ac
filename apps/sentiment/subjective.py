"""Which windows of a long text carry opinion (Pang & Lee 2004, "A Sentimental Education"): a
subjectivity score on the same token ids, and a document's logits are its windows' logits
weighted by p(subjective), so a plot summary inside a review weighs ~0 and the review's own
sentences decide.

The score is Pang & Lee's subjectivity detector, multinomial naive Bayes over the model's
tokens, as a table in the graph (`TokenLogOdds`: bias + the sum of each token's log count
ratio). It is counted (no training loop) before the sentiment members, into the run part
`subjectivity`: review text of the training split (subjective) against pieces of the neutral
plot summaries (data.plot_rows("neutral"), objective; never the held-out third). A
fixed-seed tenth of those plot summaries is kept out of the counts and out of the members'
neutral training (the benchmarks' validation documents take their plot text from it); with
`neutral_fold` "0" / "1", half of them (cross-fitting: two runs, each judged on the other half).
"""

import keras
import numpy as np

from apps.common.run import DONE
from apps.sentiment.data import neutral_snippets, plot_rows

PART = "subjectivity"  # the run part holding the network
CUTS = 5  # the plot rows are cut into pieces this many times (different seeds): ~ balanced classes
VAL_PLOTS = 0.1  # of the neutral plot rows: not counted (validation objective texts)
ALPHA = 1.0  # Laplace smoothing of the counts
CONTEXT_SHARE = 0.2  # of a fold's validation rows (the other half): the context reader's (~ the tenth's count)


def validation_plots(config, plots=None) -> list:
    """The neutral plot rows the counts leave out: a fixed-seed tenth, or with
    `config.neutral_fold` the other half."""
    plots = plot_rows("neutral") if plots is None else plots
    return [p for p, h in zip(plots, _held(config, plots)) if h]


def trained_plots(config, plots=None) -> list:
    """The neutral plot rows but those: what the table counts and the members train on."""
    plots = plot_rows("neutral") if plots is None else plots
    return [p for p, h in zip(plots, _held(config, plots)) if not h]


def context_plots(config, plots=None) -> list:
    """The unseen plot rows the context reader trains on (apps/sentiment/context.py): the tenth
    (`neutral_fold` ""), else a fixed-seed fifth of the other half's distinct rows (about as many),
    so that the rest of that half (`judged_plots`) still validates the fold's reading."""
    held = validation_plots(config, plots)
    if not config.neutral_fold:
        return held
    return [p for p in held if str(p) in _context_rows(config, held)]


def judged_plots(config, plots=None) -> list:
    """The validation plot rows the context reader never read: with `neutral_fold`, the other
    half but `context_plots`; else the tenth (which the reader, when there is one, trained on)."""
    held = validation_plots(config, plots)
    if not config.neutral_fold:
        return held
    return [p for p in held if str(p) not in _context_rows(config, held)]


def _context_rows(config, held) -> set:
    distinct = sorted(set(map(str, held)))
    order = np.random.default_rng(config.seed + 1).permutation(len(distinct))
    return {distinct[i] for i in order[:max(1, round(CONTEXT_SHARE * len(distinct)))]}


def _held(config, plots):
    """(len(plots),) bool: the validation rows. `config.neutral_fold` "": a fixed-seed tenth;
    "0" / "1": the half of the distinct rows that fold does not train on (a repeated row lands
    in one half only)."""
    count = len(plots)
    held = np.zeros(count, bool)
    if not config.neutral_fold:
        held[np.random.default_rng(config.seed).permutation(count)[:max(1, round(VAL_PLOTS * count))]] = True
        return held
    distinct = sorted(set(map(str, plots)))
    order = np.random.default_rng(config.seed).permutation(len(distinct))
    first = {distinct[i] for i in order[:len(distinct) // 2]}
    in_first = np.array([str(p) in first for p in plots], bool)
    return ~in_first if config.neutral_fold == "0" else in_first


def _pieces(texts, config, seed):
    """`texts` in a fixed-seed random order, joined and cut into pieces of 8..sequence_length
    words: windows as a long text's windows are, across sentence boundaries."""
    order = np.random.default_rng(seed).permutation(len(texts))
    return neutral_snippets([" ".join(str(texts[i]) for i in order)], min(8, config.sequence_length),
                            config.sequence_length, seed)


def texts(config, splits, plots=None):
    """((train texts, targets), (validation texts, targets)): review text 1, plot summaries 0.

    Both classes are cut alike (`_pieces`: the plot rows `CUTS` times, the review snippets
    joined once), so length and sentence boundaries tell nothing; the review snippets also as
    they are. Training plot pieces: at most as many as the review texts."""
    plots = plot_rows("neutral") if plots is None else plots
    train_plots = trained_plots(config, plots)
    subjective = [str(t) for t in splits.x_train] + _pieces(splits.x_train, config, config.seed)
    objective = [s for k in range(CUTS) for s in _pieces(train_plots, config, config.seed + k)]
    if len(objective) > len(subjective):  # a small labelled set: as many plot pieces as review texts
        keep = np.random.default_rng(config.seed).permutation(len(objective))[:len(subjective)]
        objective = [objective[i] for i in sorted(keep)]
    val_subjective = [str(t) for t in splits.x_val] + _pieces(splits.x_val, config, config.seed)
    val_objective = _pieces(validation_plots(config, plots), config, config.seed)

    def labelled(ones, zeros):
        return ones + zeros, np.r_[np.ones(len(ones)), np.zeros(len(zeros))].astype(np.int64)

    return labelled(subjective, objective), labelled(val_subjective, val_objective)


@keras.saving.register_keras_serializable(package="classics_sentiment")
class TokenLogOdds(keras.layers.Layer):
    """Token ids (batch, time), 0 = padding -> (batch, 1) logits: `bias` + the sum of the
    `scores` of the tokens (a linear bag-of-words model; naive Bayes with log count ratios).

    Args:
        vocabulary_size: ids run over 0..vocabulary_size - 1 (id 0 scores nothing).
    """

    def __init__(self, vocabulary_size, **kwargs):
        super().__init__(**kwargs)
        if int(vocabulary_size) < 1:
            raise ValueError(f"`vocabulary_size` must be >= 1, received: {vocabulary_size!r}")
        self.vocabulary_size = int(vocabulary_size)

    def build(self, input_shape):
        self.scores = self.add_weight(shape=(self.vocabulary_size,), initializer="zeros", trainable=False,
                                      name="scores")
        self.bias = self.add_weight(shape=(1,), initializer="zeros", trainable=False, name="bias")

    def call(self, ids):
        keep = keras.ops.cast(keras.ops.greater(ids, 0), self.scores.dtype)
        return keras.ops.sum(keras.ops.take(self.scores, ids) * keep, axis=-1, keepdims=True) + self.bias

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1)

    def get_config(self):
        return {**super().get_config(), "vocabulary_size": self.vocabulary_size}


def naive_bayes(subjective_ids, objective_ids, vocabulary_size: int, alpha: float = ALPHA):
    """(scores (V,), bias) of multinomial naive Bayes: log P(token | subjective) - log P(token |
    objective) with add-`alpha` counts, and the log ratio of the texts of each class. The
    `*_ids` are lists of int arrays (one per text). Padding (0) and [UNK] (1) are not counted
    and score 0: the plot summaries' many unknown names would make every unknown word objective."""
    counts = []
    for rows in (subjective_ids, objective_ids):
        flat = np.concatenate([np.asarray(r, np.int64) for r in rows]) if len(rows) else np.zeros(0, np.int64)
        count = np.bincount(flat[flat > 1], minlength=vocabulary_size)[:vocabulary_size] + alpha
        count[:2] = 0.0
        counts.append(count)
    logs = [np.log(np.where(c > 0, c, 1.0) / c.sum()) for c in counts]
    scores = np.where(np.arange(vocabulary_size) > 1, logs[0] - logs[1], 0.0)
    return scores.astype(np.float32), float(np.log(len(subjective_ids) / len(objective_ids)))


def build(scores, bias) -> keras.Model:
    """Token ids (batch, time) -> the subjectivity logit (batch, 1)."""
    ids = keras.Input((None,), dtype="int64", name="token_ids")
    table = TokenLogOdds(len(scores), name="log_odds")
    model = keras.Model(ids, table(ids), name="subjectivity")
    table.set_weights([np.asarray(scores, np.float32), np.array([bias], np.float32)])
    return model


def fit(run, config, data, tokens):
    """Count the subjectivity table into `run`'s part (skipped when that part is done).
    `tokens`: the model's TextVectorization without truncation (serving.ragged_tokens)."""
    part = run.part(PART)
    if part.done:
        return
    (x, y), _ = texts(config, data.splits)
    ids = _rows(tokens, x)
    scores, bias = naive_bayes([r for r, t in zip(ids, y) if t], [r for r, t in zip(ids, y) if not t],
                               tokens.vocabulary_size())
    run.say(f"subjectivity: naive Bayes on {int(y.sum())} review texts vs {int(len(y) - y.sum())} plot pieces")
    part.save_model(build(scores, bias))
    part.finish()


def _rows(tokens, texts, batch_size=1024):
    import tensorflow as tf

    out = []
    for i in range(0, len(texts), batch_size):
        ragged = tokens(tf.constant([str(t) for t in texts[i:i + batch_size]]))
        out += np.split(ragged.flat_values.numpy(), ragged.row_splits.numpy()[1:-1])
    return out


def load(run):
    """The run's subjectivity model (token ids -> 1 logit), or None when it has none."""
    if not (run.path / PART / DONE).exists():
        return None
    return run.part(PART).load_model()


def weighted_mean(logits, log_weights, owner, n):
    """Per text, the mean of its windows' logits weighted by exp(`log_weights`): sum w z / sum w.

    logits (windows, C), log_weights (windows,), owner (windows,) int32 row of each window in
    0..n-1 -> (n, C). The weights are scaled per text so that its largest is 1 (a softmax over
    its windows): no underflow however small they are, and one window gives its own logits."""
    import tensorflow as tf

    log_weights = tf.cast(log_weights, logits.dtype)
    top = tf.math.unsorted_segment_max(log_weights, owner, n)
    weights = tf.exp(log_weights - tf.gather(top, owner))[:, None]  # (windows, 1), each text's largest 1
    total = tf.math.unsorted_segment_sum(weights * logits, owner, n)
    return total / tf.maximum(tf.math.unsorted_segment_sum(weights, owner, n), 1.0)


def chain_log_odds(log_odds, owner, switch: float):
    """Pang & Lee's proximity as a two-state chain over each text's windows in order: the
    posterior log odds of "subjective" of every window given all windows of its text
    (forward-backward), each window's `log_odds` its evidence and `switch` the probability
    that the next window changes state (uniform start). A plot summary of many sentences then
    counts as one objective passage, its few review-like sentences with it.

    log_odds (W,) float, owner (W,) int32 (a text's windows contiguous) -> (W,). switch 0.5:
    the windows' own log odds."""
    import tensorflow as tf

    log_odds = tf.convert_to_tensor(log_odds, tf.float32)
    owner = tf.convert_to_tensor(owner, tf.int32)
    jump = float(np.log((1.0 - switch) / switch))

    def carry(a):  # log odds of the next state given log odds `a` of this one
        return tf.math.softplus(a + jump) - tf.math.softplus(a - jump) - jump

    first = tf.concat([[True], owner[1:] != owner[:-1]], axis=0)
    last = tf.concat([owner[1:] != owner[:-1], [True]], axis=0)
    zero = tf.zeros((), tf.float32)
    forward = tf.scan(lambda a, x: x[0] + tf.where(x[1], zero, carry(a)), (log_odds, first), initializer=zero)
    # backward: b_t = carry(e_{t+1} + b_{t+1}) within a text; the scan carries e_t + b_t.
    back = tf.scan(lambda g, x: x[0] + tf.where(x[1], zero, carry(g)), (log_odds[::-1], last[::-1]),
                   initializer=zero)[::-1] - log_odds
    return forward + back
