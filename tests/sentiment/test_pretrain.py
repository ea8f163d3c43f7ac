"""Word2vec pretraining for the default model (cache key, cache hit, initialisation) and the
ensemble of seeds (one Keras model, the mean of its members' probabilities, exported as one
SavedModel taking strings)."""

import contextlib
import dataclasses
import functools
import io
import re

import numpy as np
import pytest
import tensorflow as tf
from processes import run_classics
from sentiment_helpers import tiny_sets, write_small_csv

from apps.common import config as config_lib
from apps.common.errors import ConfigError
from apps.common.run import Run
from apps.sentiment import pretrain
from apps.sentiment.config import PRESETS, Config
from apps.sentiment.data import load_data
from apps.sentiment.model import classifier, vectorizer
from apps.sentiment.serving import probabilities
from apps.sentiment.task import TASK
from apps.sentiment.vectors import load_word_vectors


def test_default_config_pretrains_and_tiny_does_not():
    default = Config()
    assert pretrain.parts(default) == ("plot", "train", "wiki", "lee") and pretrain.wanted(default)
    assert not pretrain.wanted(dataclasses.replace(default, pretrain=""))  # random initialisation
    assert not pretrain.wanted(dataclasses.replace(default, embeddings="my.vec"))  # the user's vectors
    assert not pretrain.wanted(config_lib.resolve(Config, PRESETS, preset="tiny"))


@pytest.mark.parametrize("value, message", [
    ("plot+news", "pretrain='plot+news': expected parts from plot, train, wiki, lee joined by '+'"),
    ("train+train", "pretrain='train+train': expected parts from plot, train, wiki, lee joined by '+' (each once"),
])
def test_bad_pretrain_parts(value, message):
    # Refused when the config is made (declared on the fields).
    with pytest.raises(ConfigError, match=re.escape(message)):
        dataclasses.replace(Config(), pretrain=value)
    with pytest.raises(ConfigError, match=re.escape("pretrain_epochs=0: expected >= 1")):
        dataclasses.replace(Config(), pretrain_epochs=0)


def test_cache_key_covers_corpus_and_settings():
    config = Config()
    lines = ["a fine film", "a dull film"]
    key = pretrain.cache_key(lines, pretrain.settings(config))
    assert len(key) == 20 and key == pretrain.cache_key(list(lines), pretrain.settings(Config()))
    changed = {
        pretrain.cache_key(lines[:1], pretrain.settings(config)),
        pretrain.cache_key(["a fine film", "a dull film."], pretrain.settings(config)),
        pretrain.cache_key(lines[::-1], pretrain.settings(config)),
        pretrain.cache_key(["a fine film a dull film"], pretrain.settings(config)),  # line breaks count
    }
    for key_field in ("embedding_dim", "pretrain_window", "pretrain_min_count", "pretrain_epochs", "seed"):
        other = dataclasses.replace(config, **{key_field: getattr(config, key_field) + 1})
        changed.add(pretrain.cache_key(lines, pretrain.settings(other)))
    assert key not in changed and len(changed) == 9
    # Settings that do not change the vectors do not change the key.
    assert key == pretrain.cache_key(lines, pretrain.settings(dataclasses.replace(config, units=7, epochs=1)))


def test_corpus_has_training_texts_never_test_texts(tiny_config):
    splits = load_data(tiny_config)
    config = dataclasses.replace(tiny_config, pretrain="train")
    lines = pretrain.corpus_lines(config, splits)
    assert lines == [" ".join(str(t).split()) for t in [*splits.x_train, *splits.x_val]]
    assert not {" ".join(str(t).split()) for t in splits.x_test} & set(lines)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    root = tmp_path_factory.mktemp("w2v-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pretrain, "cache_dir", lambda: root)
        yield root, mp


@pytest.fixture(scope="module")
def pretrained_run(cache, tiny_config):
    """A tiny run initialised from word2vec pretrained on its own training texts (1 epoch), and
    what training printed on stderr (the embedding's initialisation is reported there)."""
    config = dataclasses.replace(tiny_config, pretrain="train", pretrain_epochs=1, pretrain_min_count=1,
                                 epochs=1)
    printed = io.StringIO()
    with contextlib.redirect_stderr(printed):
        run = TASK.train(config, verbose=0)
    return config, run, printed.getvalue()


def test_pretrained_vectors_initialise_the_embedding_and_are_cached(cache, pretrained_run):
    root, mp = cache
    config, run, printed = pretrained_run
    (folder,) = root.iterdir()  # one cache entry, named by its key
    splits = load_data(config)
    assert folder.name == pretrain.cache_key(pretrain.corpus_lines(config, splits), pretrain.settings(config))
    # The run's embedding was initialised from the cached file, fine-tuned, and (min_count 1 on
    # the training texts) every vocabulary word had a vector.
    (line,) = [line for line in printed.splitlines() if line.startswith("embeddings: ")]
    found, total, path, mode = re.fullmatch(r"embeddings: (\d+) of (\d+) vocabulary words from (.+) \((.+)\)",
                                            line).groups()
    assert path == str(folder / "vectors.txt") and mode == "fine-tuned"
    assert int(found) == int(total) == len(vectorizer(run.load_model()).get_vocabulary()) - 2
    words, vectors = load_word_vectors(path)
    assert vectors.shape[1] == config.embedding_dim == 16
    # A second request reads the cache: no word2vec training.
    mp.setattr(pretrain, "train_vectors", lambda *a, **k: pytest.fail("pretrained again instead of the cache"))
    assert pretrain.pretrained_vectors(config, splits, log=None) == folder / "vectors.txt"
    # The embedding starts from exactly those vectors (the Task's prepare reads them from the
    # cache, build_model sets them).
    _, prepared = TASK.prepare(config, splits)
    assert prepared.vectors_path == str(folder / "vectors.txt")
    model = TASK.build_model(config, prepared)
    table = classifier(model).get_layer("embedding").get_weights()[0]
    index = {w: i for i, w in enumerate(words)}
    vocabulary = vectorizer(model).get_vocabulary()
    assert vocabulary == vectorizer(run.load_model()).get_vocabulary()
    for row in (2, 3, len(vocabulary) - 1):
        np.testing.assert_array_equal(table[row], vectors[index[vocabulary[row]]])


def _ensemble_run(runs, small_csv):
    """`classics sentiment train`: the tiny run's settings as an ensemble of 3, one epoch each."""
    sets = [*tiny_sets(runs, small_csv), "ensemble=3", "epochs=1"]
    code, _, err = run_classics("sentiment", "train", "--preset", "tiny", *sum((["--set", s] for s in sets), []))
    assert code == 0, err[-3000:]
    (run_dir,) = (runs / "sentiment").iterdir()
    return run_dir


def background_jobs(request, root):
    """The ensemble trains in a child process from the session's start (tests/conftest.py)."""
    return {"sentiment ensemble": functools.partial(_ensemble_run, root / "runs", write_small_csv(root / "small.csv"))}


@pytest.fixture(scope="module")
def ensemble_run(jobs):
    run = Run.open("sentiment", Config, jobs.result("sentiment ensemble"))
    return run.config, run


@pytest.mark.background
def test_ensemble_is_the_mean_of_its_members_probabilities(ensemble_run):
    from apps.sentiment.model import member_classifiers

    config, run = ensemble_run
    model = run.load_model()
    members = [run.part(f"member{i}").load_model() for i in (1, 2, 3)]
    assert len(member_classifiers(model)) == 3
    texts = [str(t) for t in load_data(config).x_test] + ["a moving film", "good " * 5000]
    each = np.stack([probabilities(m, texts) for m in members])
    got = probabilities(model, texts)
    np.testing.assert_allclose(got, each.mean(axis=0), rtol=0, atol=1e-6)
    assert np.abs(each[0] - each[1]).max() > 1e-3  # the seeds give different members
    logged = (run.path / "log.csv").read_text().splitlines()
    assert logged[0].startswith("epoch,members,") and len(logged) == 2  # one epoch, mean of 3


def test_multiclass_ensemble_logits_softmax_to_the_mean():
    from apps.sentiment.model import MeanProbabilityLogits

    rng = np.random.default_rng(0)
    logits = [rng.normal(size=(4, 5)).astype("float32") * 3 for _ in range(3)]
    want = np.mean([tf.nn.softmax(x).numpy() for x in logits], axis=0)
    got = tf.nn.softmax(MeanProbabilityLogits()([tf.constant(x) for x in logits])).numpy()
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    binary = [rng.normal(size=(4, 1)).astype("float32") for _ in range(2)]
    want = np.mean([tf.sigmoid(x).numpy() for x in binary], axis=0)
    got = tf.sigmoid(MeanProbabilityLogits()([tf.constant(x) for x in binary])).numpy()
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)


@pytest.mark.background
def test_ensemble_exports_as_one_saved_model_taking_strings(ensemble_run, tmp_path):
    _, run = ensemble_run
    model = run.load_model()
    exported = TASK.export(run, root=tmp_path)
    texts = ["A moving, beautifully acted film.", "Dull and lifeless.", "", "good " * 50_000]
    loaded = tf.saved_model.load(str(exported))
    got = loaded.signatures["serving_default"](text=tf.constant(texts))
    # The refused texts (empty; 250,000 characters) are answered as "" beside their `error`.
    np.testing.assert_allclose(got["probabilities"].numpy(), probabilities(model, texts[:3] + [""]),
                               rtol=0, atol=1e-5)
    assert [e.decode() for e in got["error"].numpy()] == [
        "", "", "empty or whitespace only", "text of 250000 characters: over the maximum of 100000"]
    ids = loaded.signatures["tokenize"](text=tf.constant(texts))["token_ids"].numpy()
    np.testing.assert_array_equal(ids, model.get_layer("vectorize")(tf.constant(texts)).numpy())
