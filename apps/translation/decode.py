"""Decoding `AttentionSeq2Seq` in the graph (tf.while_loops): greedy and beam search.

Neither ever emits PAD_ID as a token (the loss never trains it: it marks padding); a row
that has emitted `end_id` is padded with PAD_ID from then on. With `no_repeat_ngram` n >= 2,
neither emits a token that would write an n-gram already in the row (the usual cure for an
undertrained decoder's loops, "de Jehová el Señor de Jehová el Señor ...").
"""

import tensorflow as tf

from apps.translation.vocabulary import PAD_ID


def _without_pad(scores):
    """PAD_ID's column at -inf: (..., V)."""
    pad = tf.one_hot(PAD_ID, tf.shape(scores)[-1], on_value=True, off_value=False)
    return tf.where(pad, tf.constant(-float("inf"), scores.dtype), scores)


def repeated_ngram_tokens(sequences, n, vocabulary):
    """sequences (rows, t) int32 -> (rows, vocabulary) bool: the tokens that would end a
    repeat of an n-gram of the row (one whose first n - 1 tokens are the row's last n - 1)."""
    rows, t = tf.shape(sequences)[0], tf.shape(sequences)[1]
    count = tf.maximum(0, t - n + 1)  # n-grams already written start at 0 .. count - 1
    match = tf.ones([rows, count], tf.bool)
    for i in range(n - 1):  # n-gram j's i-th token equals the row's (n - 1 - i)-th last
        match &= tf.equal(sequences[:, i:i + count], sequences[:, t - n + 1 + i:t - n + 2 + i])
    following = sequences[:, n - 1:n - 1 + count]  # (rows, count): the token ending n-gram j
    segments = tf.range(rows)[:, None] * vocabulary + following
    hits = tf.math.unsorted_segment_max(tf.cast(match, tf.int32), segments, rows * vocabulary)
    return tf.reshape(hits > 0, [rows, vocabulary])


def _ban_repeats(scores, sequences, n):
    """scores (rows, V) with the tokens that repeat an n-gram of `sequences` (rows, t) at -inf."""
    if n < 2:
        return scores
    banned = repeated_ngram_tokens(sequences, n, tf.shape(scores)[-1])
    return tf.where(banned, tf.constant(-float("inf"), scores.dtype), scores)


def length_penalty(lengths, alpha):
    """Wu et al. (2016): ((5 + |Y|) / 6) ** alpha; alpha 0 ranks by total log-probability."""
    return tf.pow((5.0 + tf.cast(lengths, tf.float32)) / 6.0, alpha)


def coverage_penalty(coverage, mask, beta):
    """Wu et al. (2016): beta * sum_j log(min(coverage_j, 1)) over the source positions (mask),
    coverage_j the attention position j received so far; 0 once every word had a total of 1.
    coverage (..., Tx) -> (...); a coverage under 1e-10 counts as 1e-10 (log 0 would be -inf)."""
    logs = tf.math.log(tf.clip_by_value(coverage, 1e-10, 1.0))
    return beta * tf.reduce_sum(tf.where(mask, logs, 0.0), axis=-1)


def greedy_decode(model, source_ids, max_length, start_id, end_id, no_repeat_ngram=0):
    """Token ids (batch, <= max_length), each row the argmax path up to and including
    `end_id`, then PAD_ID. Stops early once every row has ended. Runs inside a tf.function."""
    memory, mask, states = model.encode(source_ids)
    batch = tf.shape(source_ids)[0]
    tokens = tf.fill([batch], tf.constant(start_id, tf.int32))
    finished = tf.zeros([batch], tf.bool)
    sequences = tf.zeros([batch, 0], tf.int32)

    def step(t, tokens, states, finished, sequences):
        logits, states = model.decode_step(tokens, states, memory, mask)
        logits = _ban_repeats(_without_pad(logits), sequences, no_repeat_ngram)
        tokens = tf.argmax(logits, axis=-1, output_type=tf.int32)
        tokens = tf.where(finished, PAD_ID, tokens)  # ended rows emit padding
        finished = finished | tf.equal(tokens, end_id)
        return t + 1, tokens, states, finished, tf.concat([sequences, tokens[:, None]], axis=1)

    def not_done(t, tokens, states, finished, sequences):
        return tf.logical_and(t < max_length, tf.logical_not(tf.reduce_all(finished)))

    _, _, _, _, sequences = tf.while_loop(
        not_done,
        step,
        (tf.constant(0), tokens, states, finished, sequences),
        shape_invariants=(tf.TensorShape([]), tf.TensorShape([None]), [s.shape for s in states],
                          tf.TensorShape([None]), tf.TensorShape([None, None])),
        maximum_iterations=max_length,
    )
    return sequences  # (batch, steps)


def beam_search(model, source_ids, max_length, start_id, end_id, beam_width=4, alpha=0.6, no_repeat_ngram=0,
                coverage_beta=0.0):
    """Beam search over length-normalised scores, log P(Y|X) / length_penalty(|Y|, alpha)
    + coverage_penalty(the attention summed over Y's steps, beta) (0 with coverage_beta 0; a
    live beam is ranked without it, an ended one with it).

    Every step extends each live beam by every token, and the `beam_width` best candidates
    by normalised score stay (ended beams stay as they are, competing with their final
    score); it stops when every beam has ended (a live beam's normalised score can still
    rise: a longer |Y| divides its negative log-probability by more). |Y| counts the tokens
    up to and including `end_id`.

    Returns (tokens (batch, beam_width, steps) best first, normalised scores (batch,
    beam_width)); `tokens[:, 0]` is the answer. Width 1 is greedy decoding.
    """
    memory, mask, states = model.encode(source_ids)
    batch = tf.shape(source_ids)[0]
    k = beam_width
    memory, mask = tf.nest.map_structure(lambda x: tf.repeat(x, k, axis=0), (memory, mask))  # (batch * k, ...)
    states = [tf.repeat(s, k, axis=0) for s in states]
    # Only the first beam is live at the start: the others would duplicate it.
    scores = tf.tile(tf.constant([[0.0] + [-float("inf")] * (k - 1)]), [batch, 1])  # (batch, k) log P
    tokens = tf.fill([batch * k], tf.constant(start_id, tf.int32))
    sequences = tf.zeros([batch, k, 0], tf.int32)
    lengths = tf.zeros([batch, k], tf.int32)
    finished = tf.zeros([batch, k], tf.bool)
    coverage = tf.zeros([batch, k, tf.shape(source_ids)[1]])  # attention received by each position so far
    beam_mask = tf.reshape(mask, [batch, k, -1])

    def step(t, tokens, states, scores, sequences, lengths, finished, coverage):
        logits, states, attention = model.decode_step(tokens, states, memory, mask, return_attention=True)
        # An ended beam's step reads PAD: its attention does not count.
        coverage = coverage + tf.where(finished[:, :, None], 0.0, tf.reshape(attention, tf.shape(coverage)))
        vocabulary = tf.shape(logits)[-1]
        log_probs = _ban_repeats(tf.nn.log_softmax(_without_pad(logits)), tf.reshape(sequences, [batch * k, -1]),
                                 no_repeat_ngram)
        log_probs = tf.reshape(log_probs, [batch, k, vocabulary])
        # An ended beam has one continuation, PAD, at no cost and no extra length.
        pad_only = tf.math.log(tf.one_hot(PAD_ID, vocabulary))  # [0, -inf, ...]
        log_probs = tf.where(finished[:, :, None], pad_only, log_probs)
        candidates = scores[:, :, None] + log_probs  # (batch, k, V)
        new_lengths = lengths + tf.cast(tf.logical_not(finished), tf.int32)
        normalised = candidates / length_penalty(new_lengths, alpha)[:, :, None]
        if coverage_beta:  # on ended candidates only (as GNMT reranks finished translations):
            # a live beam's coverage is still growing, and a penalty on it would favour diffuse attention
            ends = finished[:, :, None] | tf.equal(tf.range(vocabulary), end_id)[None, None, :]
            penalty = coverage_penalty(coverage, beam_mask, coverage_beta)[:, :, None]  # (batch, k, 1)
            normalised += tf.where(ends, penalty, 0.0)
        _, flat_index = tf.math.top_k(tf.reshape(normalised, [batch, -1]), k)  # (batch, k)
        parent, token = flat_index // vocabulary, flat_index % vocabulary
        scores = tf.gather(tf.reshape(candidates, [batch, -1]), flat_index, batch_dims=1)
        sequences = tf.concat([tf.gather(sequences, parent, batch_dims=1), token[:, :, None]], axis=2)
        lengths = tf.gather(new_lengths, parent, batch_dims=1)
        finished = tf.gather(finished, parent, batch_dims=1) | tf.equal(token, end_id)
        states = [
            tf.reshape(tf.gather(tf.reshape(s, [batch, k, -1]), parent, batch_dims=1), [batch * k, -1])
            for s in states
        ]
        coverage = tf.gather(coverage, parent, batch_dims=1)
        return t + 1, tf.reshape(token, [-1]), states, scores, sequences, lengths, finished, coverage

    def not_done(t, tokens, states, scores, sequences, lengths, finished, coverage):
        return tf.logical_and(t < max_length, tf.logical_not(tf.reduce_all(finished)))

    _, _, _, scores, sequences, lengths, _, coverage = tf.while_loop(
        not_done,
        step,
        (tf.constant(0), tokens, states, scores, sequences, lengths, finished, coverage),
        shape_invariants=(
            tf.TensorShape([]),
            tf.TensorShape([None]),
            [tf.TensorShape([None, None]) for _ in states],
            tf.TensorShape([None, k]),
            tf.TensorShape([None, k, None]),
            tf.TensorShape([None, k]),
            tf.TensorShape([None, k]),
            tf.TensorShape([None, k, None]),
        ),
        maximum_iterations=max_length,
    )
    normalised = scores / length_penalty(lengths, alpha)
    if coverage_beta:
        normalised += coverage_penalty(coverage, beam_mask, coverage_beta)
    order = tf.argsort(normalised, axis=-1, direction="DESCENDING", stable=True)
    return tf.gather(sequences, order, batch_dims=1), tf.gather(normalised, order, batch_dims=1)
