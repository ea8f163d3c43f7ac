"""The compiled chunk step of word2vec (apps/common/word2vec/graph.py) against NumPy, its pair
statistics, the vectorised corpus preparation against the per-sentence one, and resume."""

import collections
import gzip

import keras
import numpy as np
import pytest
import tensorflow as tf

from apps.common import config as config_lib
from apps.common import run as run_lib
from apps.common.word2vec import corpus
from apps.common.word2vec.graph import ChunkTrainer
from apps.common.word2vec.train import run_vectors
from apps.embeddings.config import PRESETS, Config
from apps.embeddings.task import TASK
from layers.skip_gram import SkipGramNegativeSampling

V, D = 7, 4


def _trainer(batch_pairs, max_row_hits, keep=None, window=2, chunk_words=64, seed=0):
    rng = np.random.default_rng(seed)
    counts = np.arange(V, 0, -1).astype(np.float64) * 10
    layer = SkipGramNegativeSampling(V, D, num_negatives=3, unigram_counts=counts, seed=1)
    layer.build()
    target = tf.Variable(rng.normal(0, 0.5, (V, D)).astype(np.float32))
    context = tf.Variable(rng.normal(0, 0.5, (V, D)).astype(np.float32))
    keep = np.ones(V) if keep is None else keep
    trainer = ChunkTrainer(target, context, keep, layer.alias_probability.numpy(), layer.alias_index.numpy(),
                           window=window, negative=3, batch_pairs=batch_pairs, chunk_words=chunk_words,
                           alpha=0.025, min_alpha=0.0001, total_words=1000.0, max_row_hits=max_row_hits)
    return trainer, target, context


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def reference_update(t_table, c_table, centers, contexts, drawn, valid, lr, max_row_hits):
    """One SGD step of skip-gram negative sampling in NumPy: gradients from the old rows,
    summed per row, a row hit n times scaled by 1 / max(1, n / max_row_hits); a noise draw
    equal to its positive skipped; padding (valid 0) ignored."""
    t_table, c_table = t_table.astype(np.float64), c_table.astype(np.float64)
    new_t, new_c = t_table.copy(), c_table.copy()
    cols = np.concatenate([contexts[:, None], drawn], 1)
    weight = np.concatenate([np.ones((len(centers), 1)), drawn != contexts[:, None]], 1) * valid[:, None]
    hits_t = collections.Counter(centers[valid > 0].tolist())
    hits_c = collections.Counter(cols[weight > 0].tolist())
    loss = 0.0
    for i, center in enumerate(centers):
        for j, col in enumerate(cols[i]):
            if weight[i, j] == 0:
                continue
            label = 1.0 if j == 0 else 0.0
            score = t_table[center] @ c_table[col]
            loss += np.log1p(np.exp(-score)) if label else np.log1p(np.exp(score))
            g = lr * (_sigmoid(score) - label)
            scale_t = 1.0 / max(1.0, hits_t[center] / max_row_hits) if max_row_hits else 1.0
            scale_c = 1.0 / max(1.0, hits_c[col] / max_row_hits) if max_row_hits else 1.0
            new_t[center] -= g * scale_t * c_table[col]
            new_c[col] -= g * scale_c * t_table[center]
    return new_t, new_c, loss


@pytest.mark.parametrize("max_row_hits", [0.0, 2.0])
def test_compiled_batch_update_equals_numpy(max_row_hits):
    trainer, target, context = _trainer(batch_pairs=12, max_row_hits=max_row_hits)
    rng = np.random.default_rng(3)
    centers = rng.integers(0, V, 12).astype(np.int32)
    contexts = rng.integers(0, V, 12).astype(np.int32)
    valid = np.r_[np.ones(10), np.zeros(2)].astype(np.float32)  # the last two are padding
    seed = tf.constant([5, 9], tf.int64)
    drawn, _ = trainer.negatives(tf.constant(contexts), seed)
    drawn = drawn.numpy()
    assert (drawn == contexts[:, None]).any(), "pick a seed where a draw hits its positive"
    expected_t, expected_c, expected_loss = reference_update(
        target.numpy(), context.numpy(), centers, contexts, drawn, valid, 0.05, max_row_hits)
    step = tf.function(trainer.batch_update, jit_compile=True)
    loss = step(tf.constant(centers), tf.constant(contexts), tf.constant(valid), tf.constant(0.05), seed)
    np.testing.assert_allclose(target.numpy(), expected_t, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(context.numpy(), expected_c, rtol=1e-5, atol=1e-6)
    assert float(loss) == pytest.approx(expected_loss, rel=1e-5)


def test_chunk_loop_is_the_batch_updates_in_order_with_the_decaying_rate():
    trainer, target, context = _trainer(batch_pairs=8, max_row_hits=3.0)
    ids = np.r_[np.arange(V), -1, np.arange(V)[::-1], -1, 0, 1, 2, -1].astype(np.int32)
    seed = tf.constant([2, 4], tf.int64)
    clock = 300.0
    start_t, start_c = target.numpy(), context.numpy()
    loss, n_pairs, n_words = tf.function(trainer.train)(tf.constant(ids), seed, tf.constant(clock, tf.float64))
    after_t, after_c = target.numpy(), context.numpy()
    # Replay: the same pairs, batch by batch, through the NumPy reference.
    centers, contexts, words = (x.numpy() for x in trainer.pairs(tf.constant(ids), seed))
    assert int(n_words) == words == 17 and int(n_pairs) == len(centers) > 8
    t_table, c_table, total = start_t, start_c, 0.0
    for batch, start in enumerate(range(0, len(centers), 8)):
        c, x = centers[start:start + 8], contexts[start:start + 8]
        valid = np.r_[np.ones(len(c)), np.zeros(8 - len(c))].astype(np.float32)
        c, x = np.pad(c, (0, 8 - len(c))), np.pad(x, (0, 8 - len(x)))
        batch_seed = tf.constant([2, 4 + 3 + 2 * batch], tf.int64)
        drawn = trainer.negatives(tf.constant(x), batch_seed)[0].numpy()
        lr = max(0.0001, 0.025 - (0.025 - 0.0001) * (clock + start * words / len(centers)) / 1000.0)
        t_table, c_table, part = reference_update(t_table, c_table, c, x, drawn, valid, lr, 3.0)
        total += part
    np.testing.assert_allclose(after_t, t_table, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(after_c, c_table, rtol=1e-4, atol=1e-6)
    assert float(loss) == pytest.approx(total, rel=1e-4)


def test_in_graph_pairs_follow_the_dynamic_window_and_stay_in_sentences():
    trainer, _, _ = _trainer(batch_pairs=8, max_row_hits=0.0, window=4, chunk_words=128)
    trainer.vocab_size = 200  # pairs() only reads keep
    trainer._keep = np.ones(200)
    chunk = np.r_[np.arange(50), -1, np.arange(100, 150), -1].astype(np.int32)
    distances = []
    for k in range(100):
        pairs = trainer.pairs(tf.constant(chunk), tf.constant([k, 0], tf.int64))
        centers, contexts, n_words = (x.numpy() for x in pairs)
        assert n_words == 100
        assert np.all((centers < 100) == (contexts < 100)), "a pair crossed a sentence"
        distances.append(np.abs(centers - contexts))
    distances = np.concatenate(distances)
    assert distances.min() == 1 and distances.max() == 4
    # Reduced window b ~ U{1..4}: distance d is used with probability (4 - d + 1) / 4.
    share = np.bincount(distances, minlength=5)[1:] / len(distances)
    np.testing.assert_allclose(share, np.array([4, 3, 2, 1]) / 10, atol=0.01)


def test_in_graph_subsampling_keeps_words_at_their_rate_before_windowing():
    keep = np.array([1.0, 0.0, 0.3, 1.0, 1.0, 1.0, 1.0])
    trainer, _, _ = _trainer(batch_pairs=8, max_row_hits=0.0, keep=keep, window=1, chunk_words=4000)
    chunk = np.tile(np.array([0, 1, 2, 0, -1], np.int32), 800)  # 2400 words
    centers, contexts, _ = (x.numpy() for x in trainer.pairs(tf.constant(chunk), tf.constant([1, 1], tf.int64)))
    assert 1 not in centers and 1 not in contexts
    # Word 1 is removed before windowing, so 0 and 2 become neighbours.
    assert ((centers == 0) & (contexts == 2)).any()
    # Word 2 is kept 30 % of the time: a kept 2 is the center of 2 pairs (both sides a 0).
    share = np.count_nonzero(centers == 2) / 2 / 800
    assert share == pytest.approx(0.3, abs=0.05)


def _sentence_by_sentence_ids(config, vocab):
    """The reference encoding: per sentence, unknown words dropped, SEPARATOR after each
    non-empty one."""
    index, expected = vocab.index, []
    for tokens in corpus.sentences(config):
        ids = [index[t] for t in tokens if t in index]
        expected += ids + [corpus.SEPARATOR] if ids else []
    return expected


def test_block_preparation_equals_the_sentence_by_sentence_one(tmp_path):
    path = tmp_path / "c.txt.gz"
    lines = ["The cat sat on the mat.\r", "", "the dog — sat on the LOG", "a b c d e f g h i j k l",
             "cat dog cat dog mat", "12 34", "last line without end"]
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write("\n".join(lines))
    config = Config(data=f"text:{path}", min_count=1, max_sentence_length=5)
    vocab = corpus.build_vocabulary(config)
    counter, total = collections.Counter(), 0
    for tokens in corpus.sentences(config):
        counter.update(tokens)
        total += len(tokens)
    assert vocab.total_words == total
    assert dict(zip(vocab.words, vocab.counts.tolist())) == dict(counter)
    assert vocab.words[:3] == ("the", "cat", "dog")  # count 4, 4, 4: first seen first
    # A vocabulary given from elsewhere (here without 'k'): the corpus is read again.
    small = corpus.Vocabulary(tuple(w for w in vocab.words if w != "k"),
                              vocab.counts[np.array(vocab.words) != "k"], vocab.total_words)
    ids = corpus.encode_corpus(config, small, tmp_path / "ids")
    np.testing.assert_array_equal(np.asarray(ids), _sentence_by_sentence_ids(config, small))
    # The vocabulary counted from the corpus remaps the ids it read (no second pass): same rule,
    # here with the words seen once dropped by min_count.
    config = Config(data=f"text:{path}", min_count=2, max_sentence_length=5)
    vocab = corpus.build_vocabulary(config)
    assert vocab.final is not None and "k" not in vocab.words and "cat" in vocab.words
    ids = corpus.encode_corpus(config, vocab, tmp_path / "ids2")
    np.testing.assert_array_equal(np.asarray(ids), _sentence_by_sentence_ids(config, vocab))


def test_text_blocks_report_the_line_of_invalid_utf8_across_blocks(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"good line\n" * 30 + b"bad \xff byte\n" + b"more\n")
    with pytest.raises(Exception, match=r"bad.txt:31: not valid UTF-8 \(byte 0xff at column 5\)"):
        list(corpus.text_blocks(path, block_bytes=64))
    text = "".join(corpus.text_blocks(path, "replace", block_bytes=64))
    assert text == "good line\n" * 30 + "bad \ufffd byte\nmore\n"


def test_resume_after_a_kill_between_epochs_continues_the_schedule(tmp_path, monkeypatch):
    sets = ["epochs=3", "chunk_words=20000"]
    config = config_lib.resolve(Config, PRESETS, preset="tiny", sets=sets + [f"runs_dir={tmp_path / 'a'}"])
    whole = TASK.train(config, verbose=0)

    class Kill(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                raise KeyboardInterrupt("killed after the first epoch")

    original = run_lib.Run.callbacks
    monkeypatch.setattr(run_lib.Run, "callbacks", lambda self, **kw: original(self, **kw) + [Kill()])
    config = config_lib.resolve(Config, PRESETS, preset="tiny", sets=sets + [f"runs_dir={tmp_path / 'b'}"])
    with pytest.raises(KeyboardInterrupt):
        TASK.train(config, verbose=0)
    monkeypatch.setattr(run_lib.Run, "callbacks", original)
    resumed = TASK.train(config, verbose=0)
    assert resumed.resumed
    model, reference = resumed.load_model(), whole.load_model()
    words = float(reference.words_done.numpy())
    # The word clock, the chunk counter (the random stream) and the rate go on from epoch 1.
    assert float(model.words_done.numpy()) == words
    assert int(model.chunks_done.numpy()) == int(reference.chunks_done.numpy())
    assert float(model.learning_rate()) == pytest.approx(0.0001)
    logged = [float(row["lr"]) for row in resumed.log_rows()]
    assert logged == pytest.approx([float(row["lr"]) for row in whole.log_rows()], rel=1e-6)
    np.testing.assert_allclose(run_vectors(resumed).vectors, run_vectors(whole).vectors, rtol=1e-5, atol=1e-6)


def test_progress_line_gives_words_per_second_and_eta(monkeypatch):
    import io

    from apps.common.word2vec import train as train_lib

    clock = iter([100.0, 100.0, 101.0, 102.0, 104.0])
    monkeypatch.setattr(train_lib.time, "monotonic", lambda: next(clock))
    out = io.StringIO()
    progress = train_lib.progress_callback(1_000_000, every=1.0, stream=out)
    progress.on_train_begin()
    progress.on_train_batch_end(0, {"words": 100_000.0})  # t=101: the start (a resume may begin here)
    progress.on_train_batch_end(1, {"words": 300_000.0})  # t=102: 200k words in 1 s
    progress.on_train_batch_end(2, {"words": 400_000.0})  # t=104: 300k words in 3 s
    assert out.getvalue().splitlines() == [
        "word2vec: 30.0% of 1,000,000 words, 200,000 words/s, ETA 4 s",
        "word2vec: 40.0% of 1,000,000 words, 100,000 words/s, ETA 6 s"]


@pytest.mark.parametrize("verbose, expected", [(0, 0), (2, 1)])
def test_progress_only_when_verbose(monkeypatch, tmp_path, verbose, expected):
    from apps.common.word2vec import train as train_lib

    seen = []

    def fake_fit(self, model, train, val=None, **kwargs):
        seen.append(kwargs["callbacks"])
        raise RuntimeError("stop here")

    monkeypatch.setattr(run_lib.Run, "fit", fake_fit)
    config = config_lib.resolve(Config, PRESETS, preset="tiny", sets=[f"runs_dir={tmp_path}"])
    with pytest.raises(RuntimeError, match="stop here"):
        train_lib.train_vectors(run_lib.Run.claim("embeddings", config), config, verbose=verbose)
    assert len(seen[0]) == expected
