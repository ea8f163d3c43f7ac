import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from apps.translation.config import Config
from apps.translation.decode import beam_search, greedy_decode, length_penalty
from apps.translation.model import AttentionSeq2Seq, CourseDecoder, Seq2SeqEnsemble, build_date_model, build_model
from apps.translation.serving import export_module
from apps.translation.vocabulary import CharVocabulary
from layers import GRUCell, LSTMCell

START, END = 2, 3
SOURCE_V, TARGET_V = 12, 9


def _source_ids(seed=0, batch=3, length=7):
    rng = np.random.default_rng(seed)
    ids = rng.integers(2, SOURCE_V, size=(batch, length)).astype("int32")
    lengths = np.array([length, 4, 2])[:batch]
    ids[np.arange(length)[None, :] >= lengths[:, None]] = 0  # post-padded
    return ids


def _perturb(model, seed=1):
    rng = np.random.default_rng(seed)
    model.set_weights([w + rng.uniform(-0.3, 0.3, size=w.shape).astype(w.dtype) for w in model.get_weights()])


# --- the course's date model ---------------------------------------------------------------


def test_date_model_shapes_masking_and_saving(tmp_path):
    keras.utils.set_random_seed(0)
    model = build_date_model(SOURCE_V, 11, source_length=7, target_length=10, cell="gru")
    ids = _source_ids()
    logits = model(ids)
    assert logits.shape == (3, 10, 11)
    assert isinstance(model.get_layer("encoder").forward_layer.cell, GRUCell)
    assert isinstance(model.get_layer("decoder").cell, LSTMCell)
    # The decoder's attention gives padded characters no weight.
    encoder = keras.Model(model.inputs, model.get_layer("encoder").output)
    values = encoder(ids)
    alphas = np.asarray(model.get_layer("decoder").attention_weights(values, values_mask=ids != 0))
    assert alphas.shape == (3, 10, 7)
    assert np.all(alphas[np.broadcast_to((ids == 0)[:, None, :], alphas.shape)] == 0.0)
    np.testing.assert_allclose(alphas.sum(-1), 1.0, atol=1e-5)
    # The functional model passes the same mask by itself: same logits as the explicit one.
    decoder = model.get_layer("decoder")
    np.testing.assert_allclose(decoder(values, values_mask=ids != 0), logits, atol=1e-5)
    unmasked = decoder(np.asarray(values))  # a NumPy copy carries no Keras mask
    assert np.max(np.abs(np.asarray(unmasked) - np.asarray(logits))) > 1e-4  # the mask mattered
    path = tmp_path / "dates.keras"
    model.save(path)
    np.testing.assert_allclose(keras.models.load_model(path)(ids), logits, atol=1e-6)


def test_course_decoder_steps_equal_a_numpy_loop_of_its_parts():
    keras.utils.set_random_seed(0)
    decoder = CourseDecoder(4, 5, 6, attention_units=3)
    values = np.random.default_rng(0).standard_normal((2, 7, 4)).astype("float32")
    mask = np.arange(7)[None, :] < np.array([[7], [3]])
    logits = np.asarray(decoder(values, values_mask=mask))
    state = [np.zeros((2, 5), "float32")] * 2
    for t in range(4):  # no feedback of outputs: each step sees only the previous state
        context, _ = decoder.attention(state[0], values, values_mask=mask)
        output, state = decoder.cell(context, state)
        np.testing.assert_allclose(logits[:, t], decoder.output_layer(output), atol=1e-5)


# --- the teacher-forced text model and its decoding ------------------------------------------


def _seq2seq(cell, lexical=False):
    keras.utils.set_random_seed(0)
    model = AttentionSeq2Seq(SOURCE_V, TARGET_V, embedding_dim=6, units=8, cell=cell, lexical=lexical)
    model([_source_ids(), np.full((3, 5), START, "int32")])
    _perturb(model)
    return model


@pytest.fixture(scope="module", params=["lstm", "gru-lexical"])
def seq2seq(request):
    cell, _, lexical = request.param.partition("-")
    return _seq2seq(cell, lexical=bool(lexical))


def test_teacher_forced_logits_equal_step_by_step_decoding(seq2seq):
    source = _source_ids()
    targets = np.random.default_rng(3).integers(4, TARGET_V, size=(3, 5)).astype("int32")
    targets[:, 0] = START
    logits = np.asarray(seq2seq([source, targets]))
    memory, mask, states = seq2seq.encode(source)
    for t in range(5):
        step_logits, states = seq2seq.decode_step(targets[:, t], states, memory, mask)
        np.testing.assert_allclose(step_logits, logits[:, t], atol=1e-5)


def test_lexical_logits_add_nguyen_and_chiangs_formula_to_the_attentional_logits():
    lexical = _seq2seq("lstm", lexical=True)
    plain = AttentionSeq2Seq(SOURCE_V, TARGET_V, embedding_dim=6, units=8)
    source, targets = _source_ids(), np.random.default_rng(3).integers(2, TARGET_V, size=(3, 5)).astype("int32")
    plain([source, targets])
    for layer in plain.layers:  # the same weights but for the lexical model's own two layers
        layer.set_weights(lexical.get_layer(layer.name).get_weights())
    alpha = np.asarray(plain.attention_weights(source, targets), "float64")  # (3, 5, Tx)
    embeddings = lexical.source_embedding.embeddings.numpy().astype("float64")[source]  # (3, Tx, 6)
    h = np.tanh(np.einsum("bts,bse->bte", alpha, embeddings))
    h = np.tanh(h @ lexical.lexical_hidden.kernel.numpy()) + h
    expected = h @ lexical.lexical_output.kernel.numpy() + lexical.lexical_output.bias.numpy()
    added = np.asarray(lexical([source, targets])) - np.asarray(plain([source, targets]))
    np.testing.assert_allclose(added, expected, atol=1e-5)
    assert np.abs(expected).max() > 0.1  # the lexical path is not negligible at these weights
    assert AttentionSeq2Seq.from_config(lexical.get_config()).lexical


def test_seq2seq_embeddings_start_at_the_configured_scale():
    keras.utils.set_random_seed(0)
    inputs = [_source_ids(), np.full((3, 5), START, "int32")]
    default = AttentionSeq2Seq(200, 100, embedding_dim=16, units=8)
    default(inputs)
    assert np.abs(default.source_embedding.embeddings.numpy()).max() <= 0.05  # Keras's uniform(-0.05, 0.05)
    config = Config(data="tsv:x", model="seq2seq", embedding_dim=16, decoder_units=8, embedding_stddev=1.0)
    scaled = build_model(config, 200, 100)  # 3,200 and 1,600 draws of N(0, 1)
    for embedding in (scaled.source_embedding, scaled.target_embedding):
        values = embedding.embeddings.numpy()
        assert abs(values.std() - 1.0) < 0.06 and abs(values.mean()) < 0.06
    assert AttentionSeq2Seq.from_config(scaled.get_config()).embedding_stddev == 1.0
    with pytest.raises(ValueError, match="embedding_stddev"):
        AttentionSeq2Seq(5, 5, embedding_stddev=-1.0)


def _python_greedy(model, source, max_length, no_repeat_ngram=0):
    """The reference: re-run the whole teacher-forced model on the growing prefix, PAD never
    written and (no_repeat_ngram n > 0) any token that would repeat an n-gram of the row skipped."""
    n = no_repeat_ngram
    prefix = np.full((source.shape[0], 1), START, "int32")
    finished = np.zeros(source.shape[0], bool)
    out = []
    for _ in range(max_length):
        logits = np.asarray(model([source, prefix]), "float64")[:, -1]
        logits[:, 0] = -np.inf
        for row in range(source.shape[0] if n else 0):
            written = prefix[row, 1:].tolist()
            for j in range(len(written) - n + 1):
                if written[j:j + n - 1] == written[len(written) - n + 1:]:
                    logits[row, written[j + n - 1]] = -np.inf
        tokens = np.where(finished, 0, np.argmax(logits, axis=-1)).astype("int32")
        finished |= tokens == END
        out.append(tokens)
        prefix = np.concatenate([prefix, tokens[:, None]], axis=1)
        if finished.all():
            break
    return np.stack(out, axis=1)


def test_greedy_in_graph_equals_a_python_loop(seq2seq):
    source = _source_ids(seed=4)
    decode = tf.function(lambda ids: greedy_decode(seq2seq, ids, 6, START, END))
    ours = decode(tf.constant(source)).numpy()
    expected = _python_greedy(seq2seq, source, 6)
    np.testing.assert_array_equal(ours, expected)
    assert ours.shape[1] <= 6


def test_greedy_stops_when_every_row_ends():
    keras.utils.set_random_seed(0)
    model = AttentionSeq2Seq(SOURCE_V, TARGET_V, embedding_dim=4, units=4)
    source = _source_ids()
    model([source, np.full((3, 2), START, "int32")])
    bias = model.output_layer.bias.numpy()
    bias[END] = 100.0  # END always wins
    model.output_layer.bias.assign(bias)
    out = greedy_decode(model, tf.constant(source), 8, START, END).numpy()
    np.testing.assert_array_equal(out, np.full((3, 1), END))


@pytest.mark.slow
def test_served_strings_equal_the_python_path_and_survive_saving(tmp_path):
    seq2seq = _seq2seq("lstm", lexical=True)
    config = Config(data="tsv:x", model="seq2seq", source_length=7, target_length=5, beam_width=3)
    source = CharVocabulary(("<pad>", "<unk>", *"abcdefghij"))  # 12 = SOURCE_V
    target = CharVocabulary(("<pad>", "<unk>", "<s>", "</s>", *"vwxyz"))  # 9 = TARGET_V
    module, signatures = export_module(seq2seq, config, source, target)
    texts = ["abc", "jihgfedcba", "aé"]  # too long; an unknown character
    ids = source.encode(texts, 7).ids
    assert ids[2, 1] == 1  # <unk>
    expected = [target.decode(row) for row in _python_greedy(seq2seq, ids, 6)]
    assert [
        t.decode() for t in signatures["serving_default"](tf.constant(texts))["translation"].numpy()
    ] == expected
    beams = signatures["beam"](tf.constant(texts))
    assert beams["translations"].shape == (3, 3) and beams["scores"].shape == (3, 3)
    tf.saved_model.save(module, str(tmp_path / "sm"), signatures=signatures)
    restored = tf.saved_model.load(str(tmp_path / "sm"))
    served = restored.signatures["serving_default"](texts=tf.constant(texts))["translation"].numpy()
    assert [t.decode() for t in served] == expected
    again = restored.signatures["beam"](texts=tf.constant(texts))
    np.testing.assert_array_equal(again["translations"].numpy(), beams["translations"].numpy())


def test_served_dates_are_normalised_like_the_training_data(tmp_path):
    keras.utils.set_random_seed(0)
    config = Config(source_length=30)
    source = CharVocabulary.from_texts(["tuesday 9 october 1993 31/12/17"])
    target = CharVocabulary.from_texts(["0123456789-"], boundaries=True)
    model = build_model(config, source.size, target.size)
    _perturb(model)
    module, signatures = export_module(model, config, source, target)
    served = signatures["serving_default"](tf.constant(["Tuesday, 9 October 1993", "31/12/17"]))[
        "translation"
    ]
    ids = source.encode(["tuesday 9 october 1993", "31/12/17"], 30).ids
    expected = [target.decode(row) for row in np.argmax(np.asarray(model(ids)), axis=-1)]
    assert [t.decode() for t in served.numpy()] == expected
    assert "beam" not in signatures


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_an_ensemble_reads_the_log_of_its_members_mean_probabilities(tmp_path):
    members = [_seq2seq("lstm"), _seq2seq("gru", lexical=True)]
    _perturb(members[1], seed=2)
    ensemble = Seq2SeqEnsemble(members)
    source = _source_ids()
    targets = np.random.default_rng(4).integers(4, TARGET_V, size=(3, 5)).astype("int32")
    targets[:, 0] = START
    expected = np.log(np.mean([_softmax(np.asarray(m([source, targets]))) for m in members], axis=0))
    np.testing.assert_allclose(ensemble([source, targets]), expected, atol=1e-5)
    weights = np.mean([np.asarray(m.attention_weights(source, targets)) for m in members], axis=0)
    np.testing.assert_allclose(ensemble.attention_weights(source, targets), weights, atol=1e-6)
    memory, mask, states = ensemble.encode(source)
    assert len(states) == 3  # the LSTM's h and c, the GRU's h
    for t in range(5):  # step by step, as greedy and beam read it
        log_probs, states, attention = ensemble.decode_step(targets[:, t], states, memory, mask, return_attention=True)
        np.testing.assert_allclose(log_probs, expected[:, t], atol=1e-5)
        np.testing.assert_allclose(attention, weights[:, t], atol=1e-6)
    path = tmp_path / "ensemble.keras"
    ensemble.save(path)
    np.testing.assert_allclose(keras.models.load_model(path)([source, targets]), expected, atol=1e-5)
    with pytest.raises(ValueError, match="share their vocabulary sizes"):
        Seq2SeqEnsemble([members[0], AttentionSeq2Seq(SOURCE_V, TARGET_V + 1)])


def test_seq2seq_saves_and_loads(seq2seq, tmp_path):
    source, decoder_in = _source_ids(), np.full((3, 4), START, "int32")
    path = tmp_path / "s2s.keras"
    seq2seq.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded([source, decoder_in]), seq2seq([source, decoder_in]), atol=1e-6)


def test_beam_of_width_one_is_greedy(seq2seq):
    source = tf.constant(_source_ids(seed=5))
    greedy = greedy_decode(seq2seq, source, 6, START, END).numpy()
    beams, _ = beam_search(seq2seq, source, 6, START, END, beam_width=1)
    beams = beams.numpy()[:, 0]
    np.testing.assert_array_equal(beams[:, : greedy.shape[1]], greedy)
    assert np.all(beams[:, greedy.shape[1] :] == 0)


@pytest.fixture
def end_made_unlikely(seq2seq):
    """END's logit lowered by 2, so that longer sequences compete (restored afterwards)."""
    bias = seq2seq.output_layer.bias.numpy()
    lowered = bias.copy()
    lowered[END] -= 2.0
    seq2seq.output_layer.bias.assign(lowered)
    yield seq2seq
    seq2seq.output_layer.bias.assign(bias)


@pytest.mark.parametrize("alpha,beta", [(0.0, 0.0), (0.6, 0.0), (1.0, 0.4)])
def test_an_exhaustive_beam_finds_the_best_normalised_sequence(end_made_unlikely, alpha, beta):
    model = end_made_unlikely
    # Tokens 1..8 (never PAD), at most 3: 1 + 7 + 49 * 8 = 400 sequences, all kept by k=400.
    max_length, allowed = 3, range(1, TARGET_V)
    sequences = [(END,)] + [(a, END) for a in allowed if a != END]
    sequences += [
        (a, b, c) for a, b in itertools.product(allowed, allowed) if END not in (a, b) for c in allowed
    ]
    assert len(sequences) == 400
    source = _source_ids(seed=6)[:2]
    decoder_in = np.zeros((len(sequences), max_length), "int32")
    for i, seq in enumerate(sequences):
        decoder_in[i, : len(seq)] = (START,) + seq[:-1]
    lengths = np.array([len(seq) for seq in sequences])
    expected = []
    for row in range(2):
        logits = np.asarray(
            model([np.repeat(source[row : row + 1], len(sequences), 0), decoder_in]), "float64"
        )
        logits[:, :, 0] = -np.inf
        shifted = logits - logits.max(-1, keepdims=True)
        log_probs = shifted - np.log(np.sum(np.exp(shifted), -1, keepdims=True))  # log-softmax
        totals = np.array(
            [sum(log_probs[i, t, tok] for t, tok in enumerate(seq)) for i, seq in enumerate(sequences)]
        )
        normalised = totals / ((5.0 + lengths) / 6.0) ** alpha
        # GNMT's coverage penalty: the attention of the steps that wrote each sequence, summed.
        attention = np.asarray(model.attention_weights(np.repeat(source[row:row + 1], len(sequences), 0),
                                                       decoder_in), "float64")  # (400, 3, Tx)
        steps = np.arange(max_length)[None, :] < lengths[:, None]
        coverage = np.minimum(np.maximum((attention * steps[:, :, None]).sum(1), 1e-10), 1.0)
        normalised += beta * np.where(source[row] != 0, np.log(coverage), 0.0).sum(-1)
        expected.append((sequences[int(np.argmax(normalised))], float(np.max(normalised))))
    beams, scores = beam_search(
        model, tf.constant(source), max_length, START, END, beam_width=400, alpha=alpha, coverage_beta=beta
    )
    for row, (best, best_score) in enumerate(expected):
        assert tuple(int(t) for t in beams.numpy()[row, 0] if t != 0) == best
        assert abs(float(scores[row, 0]) - best_score) < 1e-4
    # Narrower beams score no better, and greedy (width 1) worse on some row here.
    _, narrow = beam_search(model, tf.constant(source), max_length, START, END, beam_width=2, alpha=alpha,
                            coverage_beta=beta)
    _, greedy = beam_search(model, tf.constant(source), max_length, START, END, beam_width=1, alpha=alpha,
                            coverage_beta=beta)
    assert np.all(narrow.numpy()[:, 0] <= scores.numpy()[:, 0] + 1e-5)
    # The plain model without coverage shows that this test tells a beam from greedy; the
    # lexical model's peaked distributions here (at several seeds), and the plain one's with
    # beta 0.4, let greedy find the best on both rows.
    assert model.lexical or beta or np.any(greedy.numpy()[:, 0] < scores.numpy()[:, 0] - 1e-4)
    np.testing.assert_allclose(length_penalty(np.array([1, 3]), alpha), ((5 + np.array([1, 3])) / 6) ** alpha)


def test_repeated_ngram_tokens_by_hand():
    from apps.translation.decode import repeated_ngram_tokens

    rows = tf.constant([[5, 6, 7, 5, 6], [5, 6, 7, 5, 8], [6, 6, 6, 6, 6]])
    got = repeated_ngram_tokens(rows, 3, 9).numpy()
    # Row 0 ends with (5, 6), which 7 followed: 7 is banned. Row 1 ends with (5, 8): nothing.
    # Row 2 ends with (6, 6), followed by 6 before: 6 is banned.
    assert [np.flatnonzero(row).tolist() for row in got] == [[7], [], [6]]
    assert not repeated_ngram_tokens(rows[:, :2], 3, 9).numpy().any()  # no trigram written yet
    bigram = repeated_ngram_tokens(tf.constant([[4, 5, 4, 6, 4]]), 2, 9).numpy()
    assert np.flatnonzero(bigram[0]).tolist() == [5, 6]


@pytest.mark.slow
def test_greedy_and_beam_without_repeated_ngrams():
    keras.utils.set_random_seed(0)
    model = AttentionSeq2Seq(SOURCE_V, TARGET_V, embedding_dim=4, units=4)
    source = _source_ids(seed=7)
    model([source, np.full((3, 2), START, "int32")])
    bias = model.output_layer.bias.numpy()
    bias[[5, 6]] += 6.0  # tokens 5 and 6 dominate: plain greedy loops over them
    bias[END] -= 6.0
    model.output_layer.bias.assign(bias)
    plain = greedy_decode(model, tf.constant(source), 8, START, END).numpy()
    assert set(plain[0, :6].tolist()) <= {5, 6}
    ours = tf.function(lambda ids: greedy_decode(model, ids, 8, START, END, no_repeat_ngram=2))(source).numpy()
    np.testing.assert_array_equal(ours, _python_greedy(model, source, 8, 2))
    for row in ours:  # no bigram twice in a row's output
        bigrams = [tuple(row[i:i + 2]) for i in range(len(row) - 1) if 0 not in row[i:i + 2]]
        assert len(bigrams) == len(set(bigrams))
    beams, _ = beam_search(model, tf.constant(source), 8, START, END, beam_width=1, no_repeat_ngram=2)
    np.testing.assert_array_equal(beams.numpy()[:, 0, : ours.shape[1]], ours)
