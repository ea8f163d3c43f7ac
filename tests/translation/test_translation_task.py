"""The Task end to end on a tiny tsv corpus with the seq2seq model: train (fit's resume
callback needs a built model) a two-member ensemble on train + validation, evaluate with beam
search, predict's answers to bad input."""

import dataclasses
import types

import pytest

from apps.common.config import preset_config
from apps.common.errors import ConfigError, DataError
from apps.translation.config import PRESETS, Config
from apps.translation.task import TASK

WORDS = ["sol", "luna", "mar", "rio", "casa", "pan", "vino", "agua"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("task")
    lines = [f"{a} {b}\t{b} {a}" for a in WORDS for b in WORDS]  # swap two words
    (root / "pairs.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = dataclasses.replace(
        preset_config(Config, PRESETS, "tiny"), data=f"tsv:{root / 'pairs.tsv'}", model="seq2seq",
        source_length=12, target_length=12, decoder_units=8, beam_width=3, runs_dir=str(root / "runs"),
        label_smoothing=0.1, lexical=True, ensemble=2, train_on_val=True)
    return TASK.train(config, fresh=True, verbose=0)


@pytest.mark.slow
def test_seq2seq_trains_evaluates_and_predicts(run):
    assert all((run.path / f"member{i}" / "DONE").exists() for i in (1, 2))
    assert type(run.load_model()).__name__ == "Seq2SeqEnsemble"
    data = TASK.load_data(run.config)
    assert set(data.val) <= set(data.train) and not set(data.test) & set(data.train)  # train_on_val
    result = TASK.evaluate(run, types.SimpleNamespace(beam=True))
    assert result["decoding"] == "beam" and result["pairs"] >= 1
    assert result["exact_match_by_locale"] == {}  # no locales outside dates
    assert 0.0 <= result["chrf"] <= 100.0 and result["attention_png"].endswith("attention.png")
    answers = TASK.predict(run, ["sol mar", "sol mar " * 3], types.SimpleNamespace(beam=False))
    assert answers[0]["notice"] == ""
    assert answers[1]["notice"].startswith("read the first 12 of 24 characters")
    with pytest.raises(DataError, match="text 2: empty or whitespace only"):
        TASK.predict(run, ["sol", "  "], None)


def test_beam_needs_the_seq2seq_model(tmp_path):
    dates = types.SimpleNamespace(config=Config())
    with pytest.raises(ConfigError, match="--beam: the run's model is 'course'"):
        TASK._beam(dates, types.SimpleNamespace(beam=True))
    with pytest.raises(ConfigError, match="ensemble=2: needs model=seq2seq"):
        TASK.load_data(Config(ensemble=2))  # before a run directory is claimed
