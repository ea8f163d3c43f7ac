"""load_data: the embedded bank and held-out material, and a user's folder."""

import dataclasses

import numpy as np
import pytest

from apps.common.errors import ConfigError
from apps.wakeword import data, flite, piper, sounds
from apps.wakeword.config import PRESETS, Config


@pytest.mark.slow
def test_asterisk_bank_heldout_and_validation_are_apart(monkeypatch):
    # The speech comes from the shared cache (the contract's tiny run synthesises the same
    # utterances; the counts below do not depend on what was cached before).
    monkeypatch.setattr(sounds, "load_sounds", _cached_sounds)
    config = Config(**PRESETS["tiny"].values)
    d = data.load_data(config)
    # espeak-ng "activate" 4 + "activated" 6 // 6 + Flite 6 + Piper 3; espeak-ng confusables
    # 2 + hard 3 // 6 + Flite hard 1 and prompt texts 2 + Piper hard 1 and texts 1 + the 210
    # training prompts not validating
    assert len(d.bank.positives) == 4 + 1 + 6 + 3 and len(d.bank.backgrounds) == 3
    assert len(d.bank.negatives) == 2 + 0 + 1 + 2 + 1 + 1 + 210 and d.bank.recorded == []
    assert d.val[0].shape == (4, 16000) and d.val[1].shape == (4, 46)
    assert len(d.heldout.prompts) == 74 and len(d.heldout.music) == 1
    v = d.validation
    assert (len(v.positives), len(v.hard_negatives), len(v.prompts), len(v.music)) == (4, 4, 72, 1)
    s = _cached_sounds()
    trained = [*d.bank.negatives, *d.bank.recorded, *d.bank.backgrounds]
    for held in [s.positive, s.hard_negative, *s.heldout_prompts.values(), *s.heldout_music.values(),
                 *v.prompts, *v.music]:
        assert not any(len(t) == len(held) and np.array_equal(t, held) for t in trained)
    np.testing.assert_array_equal(d.heldout.positives[0], sounds.trim(s.positive))
    x, placed = d.stream(config)
    assert [p.kind for p in placed].count("positive") == 3
    assert len(x) >= 0.01 * 3600 * 8000


_SOUNDS = []
_LOAD_SOUNDS = sounds.load_sounds


def _cached_sounds():
    if not _SOUNDS:
        _SOUNDS.append(_LOAD_SOUNDS())
    return _SOUNDS[0]


def test_folder_source_holds_out_every_fifth_file(tmp_path):
    for kind, count in (("positive", 6), ("negative", 5), ("background", 2)):
        (tmp_path / kind).mkdir()
        for i in range(count):
            sounds.write_wav(tmp_path / kind / f"{i}.wav",
                             np.full(800 + 80 * i, 0.1 * (i + 1), np.float32))
    config = dataclasses.replace(Config(**PRESETS["tiny"].values), data=f"folder:{tmp_path}")
    d = data.load_data(config)
    assert [len(w) for w in d.bank.positives] == [800, 880, 960, 1040, 1200]
    assert [len(w) for w in d.heldout.positives] == [1120]
    assert [len(w) for w in d.bank.negatives] == [800, 880, 960, 1040]
    assert [len(w) for w in d.heldout.prompts] == [1120]
    assert len(d.bank.backgrounds) == 2 and d.heldout.music == []
    with pytest.raises(ConfigError, match="allowed are asterisk and folder"):
        data.load_data(dataclasses.replace(config, data="tfds:speech_commands"))


@pytest.mark.slow
def test_espeak_reads_training_prompt_names_as_negatives(monkeypatch):
    from apps.wakeword import tts

    monkeypatch.setattr(sounds, "load_sounds", _cached_sounds)
    drawn = []

    def record(utterances, *args, **kwargs):
        drawn.append(list(utterances))
        return [np.zeros(800, np.float32) for _ in utterances]

    monkeypatch.setattr(tts, "synthesize_cached", record)
    config = dataclasses.replace(Config(**PRESETS["tiny"].values), tts_negatives=400,
                                 tts_prompt_negatives=True)
    data.load_data(config)
    positives, negatives = drawn[:2]
    assert {u.text for u in positives} == {"activate"}
    texts = {u.text for u in negatives}
    read = texts - set(tts.CONFUSABLES)  # 400 draws from 26 words + 282 prompt names
    assert len(read) > 150 and read <= {n.replace("-", " ").replace("_", " ")
                                        for n in _cached_sounds().train_prompts}
    assert "activated" not in texts and "de activated" not in texts  # held out
    first = len(drawn)
    data.load_data(dataclasses.replace(config, tts_prompt_negatives=False))
    assert {u.text for u in drawn[first + 1]} <= set(tts.CONFUSABLES)
    # Flite's voices: the training ones never include the validation voice, which speaks the
    # validation stream's words alone
    spoken = [u for batch in drawn[:first] for u in batch if isinstance(u, flite.FliteUtterance)]
    assert {u.voice for u in spoken[:-8]} == set(flite.VOICES) - {"rms"}
    assert {u.voice for u in spoken[-8:]} == {"rms"}
    # Piper's voice: the trigger forms as positives, hard negatives and the same texts
    voiced = [u for batch in drawn[:first] for u in batch if isinstance(u, piper.PiperUtterance)]
    assert len(voiced) == 3 + 1 + 1 and {u.text for u in voiced[:3]} <= set(data.TRIGGER_FORMS)
    assert voiced[3].text in data.HARD_TEXTS and voiced[4].text in set(tts.CONFUSABLES) | {
        n.replace("-", " ").replace("_", " ") for n in _cached_sounds().train_prompts}
    # ... or Piper speaks the validation words alone, and every Flite voice trains
    with pytest.raises(ConfigError, match="validation_voice=piper-joe: .* piper_positives=0"):
        dataclasses.replace(config, validation_voice="piper-joe")
    second = len(drawn)
    data.load_data(dataclasses.replace(config, validation_voice="piper-joe", piper_positives=0,
                                       piper_negatives=0))
    spoken = [u for batch in drawn[second:] for u in batch]
    assert {u.voice for u in spoken if isinstance(u, flite.FliteUtterance)} == set(flite.VOICES)
    voiced = [u for u in spoken if isinstance(u, piper.PiperUtterance)]
    assert len(voiced) == 8 and {u.text for u in voiced[:4]} <= set(data.TRIGGER_FORMS)
    assert {u.text for u in voiced[4:]} <= set(data.HARD_TEXTS[:3])


def _fake_sounds():
    """Stand-in recordings: 'dark' noise (y[t] = x[t] + x[t-1]) for every prompt."""
    rng = np.random.default_rng(0)

    def dark(n):
        x = rng.standard_normal(n + 1)
        return (0.1 * (x[1:] + x[:-1])).astype(np.float32)

    return sounds.Sounds(train_prompts={f"p{i}": dark(8000) for i in range(10)},
                         heldout_prompts={"h": dark(8000)}, train_music={"m": dark(20000)},
                         heldout_music={sounds.HELDOUT_MUSIC[0]: dark(20000)},
                         positive=dark(4000), hard_negative=dark(4000))


def test_synthetic_words_take_the_recorded_spectrum(monkeypatch):
    from apps.wakeword import equalize, tts

    monkeypatch.setattr(sounds, "load_sounds", _fake_sounds)
    rng = np.random.default_rng(1)
    white = {}

    def synthesize(utterances, *args, **kwargs):  # white noise, the same for the same setting
        return [white.setdefault(u, rng.standard_normal(4000).astype(np.float32) * 0.3)
                for u in utterances]

    monkeypatch.setattr(tts, "synthesize_cached", synthesize)
    config = Config(**{**PRESETS["tiny"].values, "equalize_synthetic": True,
                       "recorded_apart": True})
    d = data.load_data(config)
    target = equalize.average_spectrum(d.bank.recorded)
    band = slice(6, 110)  # 190-3,440 Hz: within 24 dB of the target's peak

    def db(words):
        power = equalize.average_spectrum(words)
        return 10 * np.log10(power / power.max())

    want = 10 * np.log10(target / target.max())
    for words in (d.bank.positives, d.bank.negatives, d.validation.positives,
                  d.validation.hard_negatives):
        assert np.abs(db(words)[band] - want[band]).max() < 2.0
        assert db(words)[120] < -20  # 3,750 Hz: white noise has it at 0 dB
    assert len(d.bank.recorded) == 10 - sum(data._bucket(f"p{i}") == 1 for i in range(10))
    # the recordings themselves, and the held-out material, are left as they are
    s = _fake_sounds()
    np.testing.assert_array_equal(d.heldout.positives[0], sounds.trim(s.positive))
    plain = data.load_data(dataclasses.replace(config, equalize_synthetic=False,
                                               recorded_apart=False))
    assert all(any(w is v for v in white.values()) for w in plain.bank.positives)
    # not apart: the recorded prompts close the one list of negatives
    assert plain.bank.recorded == [] and len(plain.bank.negatives) == len(d.bank.negatives) + len(
        d.bank.recorded)
    for a, b in zip(plain.bank.negatives[-len(d.bank.recorded):], d.bank.recorded):
        np.testing.assert_array_equal(a, b)
