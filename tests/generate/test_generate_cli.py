"""`classics generate sample` through the CLI on tiny runs (trained in-process: the CLI's train
would evaluate too, seconds these tests do not need): chorale samples as files, tunes primed
with training headers."""

import dataclasses
import json

import music21
import pytest
from PIL import Image

from apps.cli import main
from apps.common.run import Run
from apps.generate import chorales as chorales_module
from apps.generate.chorales import chorale_paths
from apps.generate.config import PRESETS, Config
from apps.generate.data import load_data, training_headers
from apps.generate.engrave import engrave
from apps.generate.render import tokens_score
from apps.generate.task import TASK


def _tiny_run(path, **values):
    return TASK.train(dataclasses.replace(Config(), **{**PRESETS["tiny"].values, **values}), run_dir=path,
                      verbose=0).path


def _sample(capsys, *argv):
    capsys.readouterr()
    assert main(["generate", "sample", *argv, "--json"]) == 0
    out, err = capsys.readouterr()
    return [json.loads(line) for line in out.splitlines()], err


@pytest.mark.slow  # ~4 s of CPU: a tiny training, six chorales parsed
def test_chorale_samples_written_as_midi_musicxml_roll_and_score(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CLASSICS_DATA", str(tmp_path / "cache"))
    monkeypatch.setattr(chorales_module, "chorale_paths", lambda: chorale_paths()[:6])
    # 5 four-part chorales: 3/1/1
    run = _tiny_run(tmp_path / "run", data="chorales", val_fraction=0.2, test_fraction=0.2)
    out = tmp_path / "out"
    entries, err = _sample(capsys, "--run", str(run), "-n", "2", "--max-length", "12", "--out", str(out))
    for entry in entries:
        stem = out / f"sample-seed{entry['seed']}"
        tokens = entry["text"].split()
        if not tokens:  # the end symbol drawn first
            assert f"seed {entry['seed']}: an empty sample: no files" in err
            assert not list(out.glob(f"{stem.name}.*"))
            continue
        written = [(n.pitch.midi, float(n.quarterLength)) for n in tokens_score(tokens).flatten().notes]
        midi = music21.converter.parse(str(stem) + ".mid")
        assert [(n.pitch.midi, float(n.quarterLength)) for n in midi.stripTies().flatten().notes] == written
        xml = music21.converter.parse(str(stem) + ".musicxml")
        assert [n.pitch.midi for n in xml.stripTies().flatten().notes] == [p for p, _ in written]
        score = Image.open(str(stem) + ".png")
        assert score.size == (engrave(tokens_score(tokens)).width, engrave(tokens_score(tokens)).height)
        assert Image.open(str(stem) + "-roll.png").size[1] == 320
        assert f"seed {entry['seed']}: wrote" in err
    assert sum(bool(e["text"]) for e in entries) >= 1  # some files were checked


@pytest.mark.slow  # ~4 s of CPU: a tiny training on 70 tunes
def test_training_headers_prime_each_tune_with_a_training_header(tmp_path, capsys):
    run = _tiny_run(tmp_path / "run", data="oneills", max_item_length=150)  # the 70 shortest tunes
    data = load_data(Run.open("generate", Config, run).config)
    entries, err = _sample(capsys, "--run", str(run), "-n", "3", "--seed", "5", "--training-headers",
                           "--prefix", "A", "--max-length", "20", "--out", str(tmp_path / "out"))
    headers = training_headers(data, 3, seed=5)
    assert [e["seed"] for e in entries] == [5, 6, 7]
    assert [e["text"][:len(h) + 1] for e, h in zip(entries, headers)] == [h + "A" for h in headers]
    assert all(h in {t[:len(h)] for t in data.train} for h in headers)  # M/L/K lines of training tunes
    for entry in entries:
        abc = (tmp_path / "out" / f"sample-seed{entry['seed']}.abc").read_text()
        assert abc == "X:1\n" + entry["text"] + "\n"
