"""The app end to end on a tiny run: evaluate, predict, CLI bad input (exit 2), export."""

import io
import json
import subprocess
import sys

import exports
import numpy as np
import pytest
import tensorflow as tf
from sentiment_helpers import write_csv

from apps.cli import main
from apps.common.errors import DataError
from apps.sentiment import subjective
from apps.sentiment.data import load_data
from apps.sentiment.serving import probabilities
from apps.sentiment.task import TASK, crossfit_folds, reading_options


@pytest.fixture(scope="module")
def tiny_model(tiny_run):
    return tiny_run.load_model()


def test_evaluate_reports_consistent_numbers(tiny_run, tiny_config, tiny_model):
    result = TASK.evaluate(tiny_run)
    splits = load_data(tiny_config)
    cm = np.array(result["confusion_matrix"])
    assert cm.sum() == result["count"] == len(splits.y_test) == 30
    assert cm.sum(axis=1).tolist() == np.bincount(splits.y_test, minlength=2).tolist()
    assert result["accuracy"] == pytest.approx(np.trace(cm) / cm.sum())
    assert result["f1"] == result["per_class"]["fresh"]["f1"]
    probs = probabilities(tiny_model, splits.x_test)
    from apps.sentiment.metrics import roc_auc

    assert result["roc_auc"] == pytest.approx(roc_auc(splits.y_test, probs))
    wrong = result["confident_mistakes"]
    assert len(wrong) == min(10, int(cm.sum() - np.trace(cm)))
    assert all(m["true"] != m["predicted"] for m in wrong)
    assert [m["probability"] for m in wrong] == sorted((m["probability"] for m in wrong), reverse=True)
    saved = json.loads((tiny_run.path / "eval" / "metrics.json").read_text(encoding="utf-8"))
    assert saved["accuracy"] == result["accuracy"]


def test_predict_probabilities_sum_to_one_and_match_the_model(tiny_run, tiny_model):
    texts = ["A moving, beautifully acted film.", "Dull and lifeless.", "x" * 10]
    results = TASK.predict(tiny_run, texts)
    probs = probabilities(tiny_model, texts)
    assert [entry["text"] for entry in results] == texts
    for entry, row in zip(results, probs):
        ranked = [(p["label"], p["probability"]) for p in entry["predictions"]]
        assert sum(p for _, p in ranked) == pytest.approx(1.0, abs=1e-6)
        assert dict(ranked) == pytest.approx({"rotten": row[0], "fresh": row[1]})
        assert [p for _, p in ranked] == sorted((p for _, p in ranked), reverse=True)  # most probable first
    with pytest.raises(DataError, match="text 2: empty or whitespace only"):
        TASK.predict(tiny_run, ["fine", " \t "])


def _cli(argv, capsys, stdin=None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_predict_arguments_stdin_and_bad_input(tiny_run, capsys, monkeypatch):
    run = ["--run", str(tiny_run.path)]
    code, out, _ = _cli(["sentiment", "predict", "great fun", "--json", *run], capsys)
    assert code == 0 and json.loads(out)["text"] == "great fun"
    code, out, _ = _cli(["sentiment", "predict", *run], capsys, b"great fun\n\n  \nawful mess\n", monkeypatch)
    assert code == 0 and [line.split("\t")[2] for line in out.splitlines()] == ["great fun", "awful mess"]
    code, _, err = _cli(["sentiment", "predict", "", *run], capsys)
    assert code == 2 and err.strip() == "error: text 1: empty or whitespace only; give some words to classify"
    code, _, err = _cli(["sentiment", "predict", "   ", *run], capsys)
    assert code == 2 and "text 1: empty or whitespace only" in err
    code, _, err = _cli(["sentiment", "predict", *run], capsys, b"fine\ncaf\xe9\n", monkeypatch)
    assert code == 2
    assert err.strip() == "error: stdin:2: not valid UTF-8 (byte 0xe9); re-encode the file as UTF-8"
    code, _, err = _cli(["sentiment", "predict", *run], capsys, b"\n \n", monkeypatch)
    assert code == 2 and "stdin: no text to classify" in err
    # Over export_max_chars (100,000) is refused as the export refuses it; under it, answered.
    code, _, err = _cli(["sentiment", "predict", "good " * 200_000, *run], capsys)
    assert code == 2 and err.strip() == ("error: text 1: text of 1000000 characters: over the maximum of "
                                         "100000; give some words to classify")
    code, out, _ = _cli(["sentiment", "predict", "good " * 19_000, *run], capsys)
    assert code == 0 and out.split("\t")[0] in ("rotten", "fresh")
    code, _, err = _cli(["sentiment", "predict", "?! ...", *run], capsys)
    assert code == 2 and "text 1: no words: only punctuation or symbols" in err


def test_cli_train_refuses_bad_csv_with_exit_2(tmp_path, capsys):
    path = write_csv(tmp_path / "bad.csv", [("good", "pos"), ("bad", "neg")], ("review", "label"))
    code, _, err = _cli(["sentiment", "train", "--data", f"csv:{path}", "--preset", "tiny",
                         "--set", f"runs_dir={tmp_path}"], capsys)
    assert code == 2
    assert err.strip() == f"error: {path}: no column 'text' (columns: review, label); set text_column"
    labelled = write_csv(tmp_path / "labels.csv", [("good", "pos"), ("bad", "neg"), ("so-so", "mixed")],
                         ("text", "label"))
    code, _, err = _cli(["sentiment", "train", "--data", f"csv:{labelled}", "--set", "labels=pos,neg",
                         "--set", f"runs_dir={tmp_path}"], capsys)
    assert code == 2 and "labels.csv:4: label 'mixed' is not one of 'pos', 'neg'" in err


def test_multiclass_head_on_ratings(tmp_path, snippets):
    """Five classes: one logit per class, softmax probabilities, one-hot targets."""
    from apps.common import config as config_lib
    from apps.sentiment.config import PRESETS, Config

    texts, _ = snippets
    rows = [(texts[i], str(1 + i % 5)) for i in range(150)]
    path = write_csv(tmp_path / "ratings.csv", rows, ("text", "label"))
    config = config_lib.resolve(Config, PRESETS, preset="tiny", sets=[
        f"data=csv:{path}", f"runs_dir={tmp_path / 'runs'}", "model=average"])
    run = TASK.train(config, verbose=0)
    labels, model = run.labels, run.load_model()
    assert labels == ["1", "2", "3", "4", "5"] and model.output_shape == (None, 5)
    probs = probabilities(model, ["a film", "another film"])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    result = TASK.evaluate(run)
    assert np.array(result["confusion_matrix"]).shape == (5, 5) and 0.0 <= result["roc_auc"] <= 1.0


# The reload check's child: only TensorFlow is imported there.
RELOAD = (
    "import json, sys\n"
    "import tensorflow as tf\n"
    "m = tf.saved_model.load(sys.argv[1])\n"
    "texts = tf.constant(json.loads(sys.argv[2]))\n"
    "p = m.signatures['serving_default'](text=texts)['probabilities'].numpy().tolist()\n"
    "ids = m.signatures['tokenize'](text=texts)['token_ids'].numpy().tolist()\n"
    "mods = sorted(n for n in sys.modules if n.split('.')[0] in ('apps', 'layers', 'keras'))\n"
    "project = [n for n in mods if n.split('.')[0] != 'keras']\n"
    "print(json.dumps({'p': p, 'ids': ids, 'project': project}))\n"
)


@pytest.fixture(scope="module")
def exported(tiny_run, tmp_path_factory):
    """The tiny run's export, and a fresh Python process (no project code) already reloading it
    while the module's other tests run: (version dir, (texts it answers, its Popen))."""
    version = TASK.export(tiny_run, root=tmp_path_factory.mktemp("saved_models"))
    vocabulary = (version / "assets.extra" / "vocabulary.txt").read_text(encoding="utf-8").splitlines()
    texts = ["a moving film", "dull and lifeless", f"{vocabulary[5]} {vocabulary[-1]} zzzunseenzzz"]
    proc = subprocess.Popen([sys.executable, "-c", RELOAD, str(version), json.dumps(texts)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=tmp_path_factory.mktemp("reload"),
                            env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"})
    yield version, (texts, proc)
    proc.kill()
    proc.communicate()


def test_export_takes_strings_and_returns_the_keras_probabilities(tiny_model, exported):
    exported, _ = exported
    texts = ["A moving, beautifully acted film.", "Dull and lifeless.", "", "good " * 50_000]
    want = probabilities(tiny_model, texts[:3] + [""])  # the over-long text is refused, read as ""
    got = exports.load(exported).signatures["serving_default"](text=tf.constant(texts))
    np.testing.assert_allclose(got["probabilities"].numpy(), want, rtol=0, atol=1e-5)
    assert [e.decode() for e in got["error"].numpy()] == [
        "", "", "empty or whitespace only", "text of 250000 characters: over the maximum of 100000"]
    assert [c.decode() for c in got["classes"].numpy()] == [["rotten", "fresh"][i] for i in want.argmax(1)]
    vocabulary = (exported / "assets.extra" / "vocabulary.txt").read_text(encoding="utf-8").splitlines()
    assert vocabulary[:2] == ["", "[UNK]"] and len(vocabulary) > 100


def test_unsure_is_calibrated_on_validation_and_the_same_in_export_and_predict(tiny_run, tiny_model, exported):
    exported, _ = exported
    from apps.common import ood, text_ood
    from apps.sentiment import familiar
    from apps.sentiment.serving import logits, ragged_tokens

    calibration = TASK.calibration(tiny_run)
    # auto: word pairs tell validation texts from their word-shuffled copies better than msp.
    assert calibration.score == "bigram" and calibration.pass_fraction == 0.97
    assert calibration.proxy_auroc["bigram"] > max(calibration.proxy_auroc["msp"], 0.8)
    splits = load_data(tiny_run.config)
    tokens = ragged_tokens(tiny_model)
    # The counts: the training snippets only (ood_reference=train in the tiny preset).
    want = text_ood.fit_bigrams([np.array(r) for r in familiar.ragged_ids(tokens, splits.x_train).to_list()],
                                tokens.vocabulary_size())
    got_counts = text_ood.Bigrams.load(tiny_run.file(familiar.BIGRAMS_FILE))
    np.testing.assert_array_equal(got_counts.keys, want.keys)
    np.testing.assert_array_equal(got_counts.counts, want.counts)
    scorer = TASK.familiarity(tiny_run, calibration)
    val = scorer(familiar.ragged_ids(tokens, splits.x_val)).numpy()
    assert len(val) == calibration.validation_count
    assert (val <= calibration.threshold).mean() >= 0.97 > (val < calibration.threshold).mean()
    assert json.loads((exported / "assets.extra" / "ood.json").read_text())["threshold"] == calibration.threshold
    texts = ["A moving, beautifully acted film.", "Dull and lifeless.", "film film film", "zq xv",
             "El perro de la casa come pan y bebe agua todos los dias."]
    got = exports.load(exported).signatures["serving_default"](text=tf.constant(texts))
    np.testing.assert_allclose(got["ood_score"].numpy(), scorer(familiar.ragged_ids(tokens, texts)).numpy(),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got["unsure"].numpy(), got["ood_score"].numpy() > np.float32(calibration.threshold))
    assert got["unsure"].numpy()[-1]  # Spanish: no familiar pair
    for entry, score, unsure in zip(TASK.predict(tiny_run, texts), got["ood_score"].numpy(), got["unsure"].numpy()):
        assert entry["unsure"] == bool(unsure) and entry["ood_score"] == pytest.approx(float(score), abs=1e-6)
        assert entry["ood_threshold"] == calibration.threshold
        assert TASK.format_prediction(entry).endswith("\tunsure") == entry["unsure"]
    # msp stays available by name: 1 - max(p, 1 - p) of the (whole-text) logits.
    msp = ood.calibrate(logits(tiny_model, splits.x_val), logits(tiny_model, splits.x_val[:5]), "msp", 0.97)
    assert msp.score == "msp" and msp.params is None


@pytest.mark.slow  # two tiny networks (without and with neutral plot text)
def test_snippet_members_answer_short_texts_and_documents_members_long_ones(tmp_path, small_csv):
    from apps.common import config as config_lib
    from apps.sentiment.config import PRESETS, Config
    from apps.sentiment.serving import WholeText

    config = config_lib.resolve(Config, PRESETS, preset="tiny", sets=[
        f"data=csv:{small_csv}", "text_column=review", "label_column=sentiment", f"runs_dir={tmp_path / 'runs'}",
        "model=average", "neutral=plot", "neutral_share=0.05", "subjectivity_switch=0.1", "subjectivity_scale=0.5",
        "context_readers=2"])
    assert config.snippet_members and config.sequence_length == 24
    run = TASK.train(config, verbose=0)  # the neutral text: test_data.py
    model, documents = run.load_model(), TASK.documents(run)
    assert documents is not None and (run.path / "documents" / "best.keras").exists()
    assert not all(np.allclose(a, b) for a, b in zip(model.get_weights(), documents.get_weights()))
    # The context reader's cross-fitted worlds (config.context_crossfit): per half of the neutral
    # rows a table and documents members of their own, neither the run's.
    tables = [TASK.subjectivity(run).get_weights()[0]]
    for fold in "01":
        part = run.part(f"crossfit{fold}")
        assert part.done and TASK.documents(part) is not None
        tables.append(subjective.load(part).get_weights()[0])
    assert not np.allclose(tables[0], tables[1]) and not np.allclose(tables[1], tables[2])
    texts = ["a fine film", "The film is bad. " * 6 + "He meets his wife and they move to Paris. " * 4]
    got = TASK.predict(run, texts)
    power = config.subjectivity_power
    reader = TASK.context(run)  # trained on the validation snippets (config.context_units)
    assert reader is not None and (run.path / "context" / "best.keras").exists()
    assert sorted(layer.name for layer in reader.layers if layer.name.startswith("context")) == ["context0", "context1"]
    # Each reader is a part of its own: a run killed after the first trains only the second.
    first = (run.path / "context" / "reader0" / "best.keras").stat().st_mtime_ns
    for name in ("DONE", "context/DONE", "context/best.keras", "context/reader1/DONE"):
        (run.path / name).unlink()
    assert TASK.train(config, run_dir=run.path, verbose=0).path == run.path
    assert (run.path / "context" / "reader0" / "best.keras").stat().st_mtime_ns == first
    assert (run.path / "context" / "reader1" / "DONE").exists() and TASK.context(run) is not None
    whole = WholeText(model, 24, TASK.subjectivity(run), power, True, documents, 0.1, 0.5, **reading_options(config),
                      context=reader)
    want_logits, read = whole(tf.constant(texts))
    assert [g["tokens_read"] for g in got] == read.numpy().tolist() == [3, 60]
    p_fresh = tf.sigmoid(want_logits[:, 0]).numpy()
    np.testing.assert_allclose([{p["label"]: p["probability"] for p in g["predictions"]}[run.labels[1]] for g in got],
                               p_fresh, rtol=1e-5)
    # The short text: the run's own model; the long one: not the run's model's reading.
    np.testing.assert_allclose(p_fresh[0], tf.sigmoid(model(tf.constant(texts[:1]))[0, 0]).numpy(), rtol=1e-5)
    alone = WholeText(model, 24, TASK.subjectivity(run), power, True, None, 0.1, 0.5,
                      **reading_options(config))(tf.constant(texts[1:]))[0]
    assert abs(float(alone[0, 0]) - float(want_logits[1, 0])) > 1e-4


def test_crossfit_worlds_only_for_a_run_holding_no_fold_out(tiny_config):
    import dataclasses

    config = dataclasses.replace(tiny_config, neutral="plot", snippet_members=True)
    assert crossfit_folds(config) == ("0", "1")
    assert crossfit_folds(dataclasses.replace(config, neutral_fold="1")) == ()  # a fold run reads its own world
    assert crossfit_folds(dataclasses.replace(config, context_crossfit=False)) == ()
    assert crossfit_folds(dataclasses.replace(config, context_units=0)) == ()  # no reader


def test_export_reloaded_in_a_fresh_process_without_project_code(tiny_model, exported):
    """Only TensorFlow is imported there: the vocabulary table and the string input survive."""
    exported, (texts, proc) = exported
    vocabulary = (exported / "assets.extra" / "vocabulary.txt").read_text(encoding="utf-8").splitlines()
    want = probabilities(tiny_model, texts)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr[-2000:]
    out = json.loads(stdout.strip().splitlines()[-1])
    assert out["project"] == []
    np.testing.assert_allclose(np.array(out["p"]), want, rtol=0, atol=1e-5)
    # The vocabulary is intact: known words get their index, an unseen one [UNK] (1).
    assert out["ids"][2][:3] == [5, len(vocabulary) - 1, 1]
    index = {w: i for i, w in enumerate(vocabulary)}
    assert out["ids"][0][:3] == [index.get(w, 1) for w in ("a", "moving", "film")]
