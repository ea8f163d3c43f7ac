import bz2
import dataclasses
import gzip
import re

import numpy as np
import pytest
from gensim import models as gensim_models  # the [test] extra installs gensim (the reference)
from scipy import stats

from apps.cli import main
from apps.common import config as config_lib
from apps.common.errors import ConfigError, DataError
from apps.common.word2vec import corpus as data
from apps.common.word2vec.train import run_vectors
from apps.common.word2vec.vectors import WordVectors, load_vectors, save_projector, save_word2vec
from apps.embeddings import debias, metrics
from apps.embeddings.config import PRESETS, Config
from apps.embeddings.serving import export
from apps.embeddings.task import TASK


def _config(**sets):
    return config_lib.resolve(Config, PRESETS, preset="tiny", sets=[f"{k}={v}" for k, v in sets.items()])


@pytest.fixture(scope="session")
def tiny_vectors(tmp_path_factory):
    """Vectors of a 2-epoch run on the Lee corpus (trained once per session)."""
    runs = tmp_path_factory.mktemp("runs")
    run = TASK.train(_config(runs_dir=runs), verbose=0)
    return run.path, run_vectors(run)


@pytest.fixture()
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("the cat sat on the mat\nthe dog sat on the log\n\nthe cat saw the dog\n")
    return path


# ---------------------------------------------------------------- vocabulary, subsampling, pairs
def test_vocabulary_and_subsampling_match_gensim():
    config = _config()
    vocab = data.build_vocabulary(config)
    sentences = list(data.sentences(config))
    reference = gensim_models.Word2Vec(min_count=config.min_count, sample=1e-3, vector_size=8)
    reference.build_vocab(sentences)
    assert set(vocab.words) == set(reference.wv.index_to_key)
    assert vocab.words[:20] == tuple(reference.wv.index_to_key[:20])
    ours = dict(zip(vocab.words, vocab.keep_probabilities(1e-3)))
    for word in reference.wv.index_to_key[:200]:
        assert reference.wv.get_vecattr(word, "count") == vocab.counts[vocab.index[word]]
        # gensim stores the keep probability as a uint32 threshold.
        expected = reference.wv.get_vecattr(word, "sample_int") / 2**32
        assert ours[word] == pytest.approx(expected, abs=1e-9)
    assert ours["the"] < 0.2  # frequent words are really subsampled


def test_pairs_stay_in_sentences_and_follow_the_dynamic_window(tmp_path):
    # Two sentences of distinct ids: 0..49 then 100..149.
    chunk = np.r_[np.arange(50), -1, np.arange(100, 150), -1].astype(np.int32)
    keep = np.ones(150)
    rng = np.random.default_rng(0)
    distances = []
    for _ in range(200):
        centers, contexts, n_words = data.make_pairs(chunk, keep, 4, rng)
        assert n_words == 100
        assert np.all((centers < 100) == (contexts < 100)), "a pair crossed a sentence"
        distances.append(np.abs(centers - contexts))
    distances = np.concatenate(distances)
    assert distances.min() == 1 and distances.max() == 4
    # Reduced window b ~ U{1..4}: distance d is used with probability (4 - d + 1) / 4.
    share = np.bincount(distances, minlength=5)[1:] / len(distances)
    expected = np.array([4, 3, 2, 1]) / 10
    np.testing.assert_allclose(share, expected, atol=0.01)


def test_subsampled_words_are_removed_before_windowing():
    chunk = np.array([0, 1, 0, 2, -1], np.int32)
    keep = np.array([1.0, 0.0, 1.0])  # word 1 always dropped
    centers, contexts, _ = data.make_pairs(chunk, keep, 1, np.random.default_rng(0))
    pairs = set(zip(centers.tolist(), contexts.tolist()))
    assert (0, 0) in pairs and 1 not in centers and 1 not in contexts


def test_learning_rate_decays_linearly_over_all_words():
    from apps.common.word2vec.model import Word2Vec

    model = Word2Vec(10, 4, alpha=0.025, min_alpha=0.0001, total_words=1000.0,
                     unigram_counts=np.arange(1, 11))
    for done, expected in [(0, 0.025), (500, 0.01255), (1000, 0.0001), (5000, 0.0001)]:
        model.words_done.assign(done)
        assert float(model.learning_rate()) == pytest.approx(expected, rel=1e-5)


def test_wiki_markup_is_stripped():
    xml = ("<page><title>A</title><ns>0</ns><revision><text xml:space='preserve'>"
           "'''Anarchism''' is a [[political philosophy|philosophy]]{{cite|x}}&lt;ref&gt;r&lt;/ref&gt;"
           " of [[Category:Foo]] people.\n\nSecond para.</text></revision></page>"
           "<page><title>R</title><ns>0</ns><redirect title='A'/><text>#REDIRECT</text></page>")
    assert [data.tokenize(p) for p in data.wiki_paragraphs(xml)] == [
        ["anarchism", "is", "a", "philosophy", "of", "people"], ["second", "para"]]


def test_compressed_text_is_streamed(tmp_path):
    for opener, name in ((gzip.open, "c.txt.gz"), (bz2.open, "c.txt.bz2")):
        with opener(tmp_path / name, "wt", encoding="utf-8") as fh:
            fh.write("héllo world\nsecond line\n")
        assert list(data.text_lines(tmp_path / name)) == [(1, "héllo world\n"), (2, "second line\n")]


# ---------------------------------------------------------------- bad input -> exit 2
def test_non_utf8_bytes_name_the_line_or_are_replaced(tmp_path, capsys):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"good line here\nanother good one\nbad \xff byte\n")
    with pytest.raises(DataError, match=r"bad.txt:3: not valid UTF-8 \(byte 0xff at column 5\)"):
        list(data.text_lines(path))
    assert [t for _, t in data.text_lines(path, "replace")][2] == "bad \ufffd byte\n"
    assert main(["embeddings", "train", "--data", f"text:{path}", "--preset", "tiny",
                 "--set", f"runs_dir={tmp_path}"]) == 2
    assert "bad.txt:3: not valid UTF-8" in capsys.readouterr().err


def test_errors_replace_trains_through_invalid_bytes(tmp_path, capsys):
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"the caf\xe9 is near the river bank\n" * 40 + b"a river runs by the bank\n" * 40)
    args = ["embeddings", "train", "--data", f"text:{path}", "--preset", "tiny",
            "--set", f"runs_dir={tmp_path}", "--set", "sample=0"]
    assert main(args) == 2
    assert "latin1.txt:1: not valid UTF-8 (byte 0xe9" in capsys.readouterr().err
    assert main(args + ["--errors", "replace"]) == 0
    run_dir = next((tmp_path / "embeddings").iterdir())
    words = [line.split("\t")[0] for line in (run_dir / "vocab.tsv").read_text().splitlines()]
    assert "caf" in words and "river" in words  # U+FFFD is not a letter: "caf\ufffd" -> "caf"


@pytest.mark.parametrize("content, message", [
    (b"", "has no words"),
    (b"123 456\n\n", "has no words"),
    (b"alpha beta gamma\n", r"0 word\(s\) occur at least min_count=3"),
])
def test_empty_or_too_small_corpus_exits_2(tmp_path, capsys, content, message):
    path = tmp_path / "c.txt"
    path.write_bytes(content)
    code = main(["embeddings", "train", "--data", f"text:{path}", "--preset", "tiny",
                 "--set", f"runs_dir={tmp_path}"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert re.search(message, err)


def test_missing_corpus_file_exits_2(tmp_path, capsys):
    assert main(["embeddings", "train", "--data", f"text:{tmp_path}/nope.txt", "--preset", "tiny"]) == 2
    assert "nope.txt: no such file" in capsys.readouterr().err


def test_unknown_word_exits_2(tiny_vectors, capsys):
    run_dir, _ = tiny_vectors
    assert main(["embeddings", "neighbors", "qwertyuiop", "--run", str(run_dir)]) == 2
    assert "word 'qwertyuiop' is not in the vocabulary" in capsys.readouterr().err
    assert main(["embeddings", "analogy", "man", "king", "qwertyuiop", "--run", str(run_dir)]) == 2


# ---------------------------------------------------------------- training, evaluation, interop
def test_training_learns_related_words(tiny_vectors, tmp_path):
    run_dir, wv = tiny_vectors
    assert (run_dir / "DONE").exists() and not (run_dir / "corpus.ids").exists()
    rows = (run_dir / "log.csv").read_text().splitlines()[1:]
    losses = [float(r.split(",")[1]) for r in rows]
    assert len(losses) == 2 and losses[1] < losses[0] < 4.16  # 4.16 = 6 ln 2: untrained
    # Two planted topics: words of a line all come from one topic.
    rng = np.random.default_rng(0)
    lines = [" ".join("ab"[t] + "cdefghijkl"[w] for w in rng.integers(0, 10, 12))
             for t in rng.integers(0, 2, 1500)]
    path = tmp_path / "topics.txt"
    path.write_text("\n".join(lines) + "\n")
    config = _config(data=f"text:{path}", min_count=1, sample=0, epochs=3, runs_dir=tmp_path)
    topics = run_vectors(TASK.train(config, verbose=0))
    sim = metrics.Similarity(topics)
    a = [i for i, w in enumerate(topics.words) if w.startswith("a")]
    b = [i for i, w in enumerate(topics.words) if w.startswith("b")]
    within = (sim.normed[a] @ sim.normed[a].T)[np.triu_indices(len(a), 1)].mean()
    across = (sim.normed[a] @ sim.normed[b].T).mean()
    assert within > across + 0.3


def _keyed_vectors(wv):
    from gensim.models import KeyedVectors

    kv = KeyedVectors(wv.dim)
    kv.add_vectors(list(wv.words), wv.vectors)
    return kv


def test_exported_vectors_load_in_gensim_with_the_same_neighbours(tiny_vectors, tmp_path):
    from gensim.models import KeyedVectors

    _, wv = tiny_vectors
    paths = export(wv, tmp_path / "out", root=tmp_path / "models")
    sim = metrics.Similarity(wv)
    for binary, key in ((False, "word2vec_text"), (True, "word2vec_binary")):
        kv = KeyedVectors.load_word2vec_format(paths[key], binary=binary)
        assert kv.index_to_key == list(wv.words)
        np.testing.assert_array_equal(kv.vectors, wv.vectors)
        for word in ("fire", "government", "police", "australia"):
            ours = sim.most_similar([word], topn=10)
            theirs = kv.most_similar(word, topn=10)
            assert [w for w, _ in ours] == [w for w, _ in theirs]
            np.testing.assert_allclose([s for _, s in ours], [s for _, s in theirs], atol=1e-5)
        ours = sim.most_similar(["king", "woman"], ["man"], topn=5)
        theirs = kv.most_similar(positive=["king", "woman"], negative=["man"], topn=5)
        assert [w for w, _ in ours] == [w for w, _ in theirs]
    # Our reader detects the header and the binary layout; and reads the projector files.
    for key in ("word2vec_text", "word2vec_binary"):
        back = load_vectors(paths[key])
        assert back.words == wv.words
        np.testing.assert_array_equal(back.vectors, wv.vectors)
    projector = np.loadtxt(paths["projector_vectors"], delimiter="\t")
    np.testing.assert_allclose(projector, wv.vectors, rtol=1e-5, atol=1e-7)
    assert open(paths["projector_metadata"]).read().split("\n")[:3] == list(wv.words[:3])


def test_saved_model_lookup_signature(tiny_vectors, tmp_path):
    import tensorflow as tf

    _, wv = tiny_vectors
    paths = export(wv, tmp_path / "out", root=tmp_path / "models")
    served = tf.saved_model.load(paths["saved_model"]).signatures["serving_default"]
    out = served(words=tf.constant(["fire", "qwertyuiop", wv.words[7]]))
    np.testing.assert_array_equal(out["found"].numpy(), [True, False, True])
    np.testing.assert_allclose(out["vectors"].numpy()[0], wv.vectors[wv.words.index("fire")])
    np.testing.assert_array_equal(out["vectors"].numpy()[1], 0)


def test_glove_and_gensim_written_files_load(tmp_path):

    wv = WordVectors(("a", "b", "c"), np.arange(12, dtype=np.float32).reshape(3, 4) / 7)
    (tmp_path / "glove.txt").write_text("".join(
        w + " " + " ".join(repr(float(x)) for x in row) + "\n" for w, row in zip(wv.words, wv.vectors)))
    glove = load_vectors(tmp_path / "glove.txt")
    assert glove.words == wv.words
    np.testing.assert_array_equal(glove.vectors, wv.vectors)
    kv = _keyed_vectors(wv)
    for binary in (False, True):
        kv.save_word2vec_format(tmp_path / f"g{binary}", binary=binary)
        back = load_vectors(tmp_path / f"g{binary}")
        assert back.words == wv.words
        np.testing.assert_allclose(back.vectors, wv.vectors, rtol=1e-6)
    assert load_vectors(tmp_path / "gTrue", limit=2).words == ("a", "b")
    (tmp_path / "broken.txt").write_text("3 4\na 1 2 3\n")
    with pytest.raises(DataError, match=r"broken.txt:2: expected a word and 4 numbers"):
        load_vectors(tmp_path / "broken.txt")
    save_projector(wv, tmp_path / "p")
    save_word2vec(wv, tmp_path / "w.txt")


def test_evaluation_matches_gensim(tiny_vectors):
    from gensim.test.utils import datapath

    _, wv = tiny_vectors
    kv = _keyed_vectors(wv)
    ours = metrics.evaluate(wv)
    score, sections = kv.evaluate_word_analogies(datapath("questions-words.txt"))
    assert ours["analogy_accuracy"] == pytest.approx(score)
    total = [s for s in sections if s["section"] == "Total accuracy"][0]
    assert ours["analogy_questions"] == len(total["correct"]) + len(total["incorrect"])
    for key, name in (("wordsim353_spearman", "wordsim353.tsv"), ("simlex999_spearman", "simlex999.txt")):
        _, (rho, _), _ = kv.evaluate_word_pairs(datapath(name))
        assert ours[key] == pytest.approx(rho, abs=1e-6)
    # restrict_vocab shrinks the questions as in gensim.
    small = metrics.evaluate_analogies(wv, datapath("questions-words.txt"), restrict_vocab=500)
    score, _ = kv.evaluate_word_analogies(datapath("questions-words.txt"), restrict_vocab=500)
    assert small["accuracy"] == pytest.approx(score)


def test_spearman_matches_scipy_with_ties():
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 5, 50), rng.normal(size=50)
    assert metrics.spearman(x, y) == pytest.approx(stats.spearmanr(x, y)[0])


# ---------------------------------------------------------------- debiasing, plot
def _biased_vectors():
    rng = np.random.default_rng(0)
    words = sorted({w for p in debias.DEFINITIONAL_PAIRS + debias.EQUALIZE_PAIRS for w in p}
                   | set(debias.PROFESSIONS[:10]) | {"table", "river"})
    g = np.zeros(20)
    g[0] = 1.0
    vectors = rng.normal(size=(len(words), 20)) * 0.3
    female = {p[0] for p in debias.DEFINITIONAL_PAIRS + debias.EQUALIZE_PAIRS}
    male = {p[1] for p in debias.DEFINITIONAL_PAIRS + debias.EQUALIZE_PAIRS}
    for i, w in enumerate(words):
        vectors[i] += g * (1.0 if w in female else -1.0 if w in male else 0.0)
        if w in ("nurse", "secretary", "receptionist"):
            vectors[i] += 0.6 * g
    return WordVectors(tuple(words), vectors.astype(np.float32))


def test_debias_neutralizes_and_equalizes():
    wv = _biased_vectors()
    debiased, result = debias.report(wv)
    assert result["direct_bias_before"] > 0.2
    assert result["direct_bias_after"] < 1e-6
    index = {w: i for i, w in enumerate(wv.words)}
    g, _ = debias.bias_direction(metrics.unit(wv.vectors.astype(np.float64)), index)
    assert abs(g[0]) > 0.9  # the planted direction is found
    out = debiased.vectors.astype(np.float64)
    for a, b in debias.EQUALIZE_PAIRS:
        va, vb = out[index[a]], out[index[b]]
        assert va @ g == pytest.approx(-(vb @ g), abs=1e-5)
        np.testing.assert_allclose(va - (va @ g) * g, vb - (vb @ g) * g, atol=1e-5)
        assert np.linalg.norm(va) == pytest.approx(1.0, abs=1e-5)
        # Neutral words are equidistant from both words of the pair.
        t = out[index["table"]]
        assert t @ va == pytest.approx(t @ vb, abs=1e-5)


def test_debias_command_and_plot(tiny_vectors, tmp_path, capsys):
    run_dir, _ = tiny_vectors
    assert main(["embeddings", "debias", "--run", str(run_dir), "--out", str(tmp_path / "d")]) == 0
    out = capsys.readouterr().out
    assert "direct bias over" in out and "analogy accuracy" in out
    assert load_vectors(tmp_path / "d" / "debiased.txt").dim == 16
    png = tmp_path / "pca.png"
    assert main(["embeddings", "plot", "fire", "police", "government", "australia",
                 "--run", str(run_dir), "--out", str(png)]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 5000


def test_presets_resolve_to_checked_configs():
    for name, preset in PRESETS.items():
        config = config_lib.resolve(Config, PRESETS, preset=name)
        assert config.preset == name and preset.description
        assert {k: getattr(config, k) for k in preset.values} == preset.values
    assert config_lib.resolve(Config, PRESETS) == Config()  # the default preset: the dataclass's values
    tiny = config_lib.preset_config(Config, PRESETS, "tiny")
    assert (tiny.data, tiny.epochs, tiny.min_count, tiny.vector_size, tiny.window, tiny.negative) == (
        "lee", 2, 3, 16, 3, 5)
    # Bad values are refused when the config is made, naming the key and the value.
    with pytest.raises(ConfigError, match=re.escape("negative=0: expected >= 1")):
        dataclasses.replace(tiny, negative=0)
    with pytest.raises(ConfigError, match=re.escape("sample=1.5: expected in [0, 1]")):
        _config(sample=1.5)
    with pytest.raises(ConfigError, match=re.escape("min_alpha=0.5: expected <= alpha (0.025)")):
        _config(min_alpha=0.5)
    with pytest.raises(ConfigError, match="unknown config key 'batch_size'"):
        _config(batch_size=32)
