"""The wakeword data: a bank of training material and the held-out evaluation material."""

from __future__ import annotations

import dataclasses
import hashlib

from apps.common.errors import ConfigError
from apps.wakeword import equalize, flite, piper, sounds, tts
from apps.wakeword.compose import Bank, evaluation_stream, fixed_clips
from apps.wakeword.config import PIPER_VALIDATION, Config

TRIGGER = "activate"
# The trigger's forms the synthesisers speak as positives ("activated" is the held-out
# recording's word: the word, never the recording, is what training knows).
TRIGGER_FORMS = ("activate", "activated")
# Hard negatives that contain or nearly contain the trigger, spoken by every synthetic voice.
HARD_TEXTS = ("deactivate", "deactivated", "de-activated", "inactivated", "activation",
              "activity", "active", "captivated", "motivated", "cultivated", "reactivated")
VALIDATION_BUCKET = 1  # training prompts with sha256(name) % 5 == 1 form the validation stream
VALIDATION_MUSIC = ("reno_project-system",)


@dataclasses.dataclass(frozen=True)
class Heldout:
    """Evaluation-only material, never in a training clip."""

    positives: list  # the trigger as the stream repeats it (Allison's activated.wav)
    hard_negatives: list  # de-activated.wav
    prompts: list  # held-out speech
    music: list  # held-out background tracks


@dataclasses.dataclass(frozen=True)
class Data:
    bank: Bank  # training material, composed afresh each epoch
    val: tuple  # (waveforms (val_clips, n), labels (val_clips, steps)), fixed
    heldout: Heldout
    # Training-side material kept out of the bank for choosing models and thresholds: an
    # unseen synthetic voice's trigger and hard negatives, training prompts and music not
    # composed into clips. None for folder: data.
    validation: Heldout | None = None

    def stream(self, config: Config, seed: int = 0):
        """(waveform, [Placed, ...]): the held-out evaluation stream (compose.evaluation_stream)."""
        h = self.heldout
        return evaluation_stream(h.positives, h.hard_negatives, h.prompts, h.music, config, seed)

    def validation_stream(self, config: Config, seed: int = 1):
        """The same kind of stream from the validation material (for thresholds)."""
        v = self.validation or self.heldout
        return evaluation_stream(v.positives, v.hard_negatives, v.prompts, v.music, config, seed)


def load_data(config: Config) -> Data:
    if config.data == "asterisk":
        bank, heldout, validation = _asterisk(config)
    elif config.data.startswith("folder:"):
        (bank, heldout), validation = _folder(config.data.removeprefix("folder:")), None
    else:
        raise ConfigError(f"data: {config.data!r}; allowed are asterisk and folder:<dir>")
    return Data(bank=bank, val=fixed_clips(bank, config, config.val_clips), heldout=heldout,
                validation=validation)


def _asterisk(config: Config) -> tuple[Bank, Heldout, Heldout]:
    """espeak-ng's, Flite's and Piper's trigger as positives; their confusable words (and prompt
    texts) and Allison's training prompts as negatives; the training music tracks as backgrounds.
    Flite's `validation_voice` (or Piper's, with validation_voice=piper-joe), a fifth of the
    training prompts and one music track are kept for the validation stream."""
    s = sounds.load_sounds()
    positives = tts.synthesize_cached(tts.random_utterances([TRIGGER], config.tts_positives,
                                                            seed=config.seed))
    # Negative texts: the confusable words and the training prompts' names read as words
    # ("agent-loginok" -> "agent loginok"), so that espeak-ng's voices speak negatives too and
    # the voice alone does not tell a positive.
    texts = list(tts.CONFUSABLES)
    if config.tts_prompt_negatives:
        texts += [name.replace("-", " ").replace("_", " ") for name in s.train_prompts]
    negatives = tts.synthesize_cached(tts.random_utterances(
        texts, config.tts_negatives, seed=config.seed + 1))
    voices = tuple(v for v in flite.VOICES if v != config.validation_voice)
    if config.flite_positives:
        count = config.flite_positives
        positives += tts.synthesize_cached(tts.random_utterances(
            TRIGGER_FORMS[1:], count // 6, seed=config.seed + 2))
        positives += _flite(TRIGGER_FORMS, count, config.seed + 3, voices)
    if config.flite_negatives:
        count = config.flite_negatives
        negatives += tts.synthesize_cached(tts.random_utterances(
            HARD_TEXTS, count // 6, seed=config.seed + 4))
        negatives += _flite(HARD_TEXTS, count // 2, config.seed + 5, voices)
        negatives += _flite(texts, count - count // 2, config.seed + 6, voices)
    if config.piper_positives:
        positives += _piper(TRIGGER_FORMS, config.piper_positives, config.seed + 9)
    if config.piper_negatives:
        count = config.piper_negatives
        negatives += _piper(HARD_TEXTS, count // 2, config.seed + 10)
        negatives += _piper(texts, count - count // 2, config.seed + 11)
    validating = {k for k in s.train_prompts if _bucket(k) == VALIDATION_BUCKET}
    recorded = [w for k, w in s.train_prompts.items() if k not in validating]
    like = _recorded_like(config, recorded)
    negatives = like(negatives) if config.recorded_apart else like(negatives) + recorded
    bank = Bank(positives=like(positives), negatives=negatives,
                recorded=recorded if config.recorded_apart else [],
                backgrounds=[w for k, w in s.train_music.items() if k not in VALIDATION_MUSIC])
    heldout = Heldout(positives=[sounds.trim(s.positive)],
                      hard_negatives=[sounds.trim(s.hard_negative)],
                      prompts=list(s.heldout_prompts.values()),
                      music=list(s.heldout_music.values()))
    if config.validation_voice == PIPER_VALIDATION:  # config.check: Piper is not in training
        def unseen(texts, seed):
            return _piper(texts, config.validation_utterances, seed)
    else:
        def unseen(texts, seed):
            return _flite(texts, config.validation_utterances, seed, (config.validation_voice,))
    validation = Heldout(positives=like(unseen(TRIGGER_FORMS, config.seed + 7)),
                         hard_negatives=like(unseen(HARD_TEXTS[:3], config.seed + 8)),
                         prompts=[s.train_prompts[k] for k in sorted(validating)],
                         music=[s.train_music[k] for k in VALIDATION_MUSIC if k in s.train_music])
    return bank, heldout, validation


def _recorded_like(config: Config, recorded: list):
    """waveforms -> waveforms: with `equalize_synthetic`, each synthetic word filtered to the
    average spectrum of the recorded training prompts (equalize.py), else unchanged."""
    if not config.equalize_synthetic:
        return list
    target = equalize.average_spectrum(recorded)
    return lambda words: [equalize.equalize(w, target) for w in words]


def _bucket(name: str) -> int:
    return int(hashlib.sha256(name.encode()).hexdigest(), 16) % sounds.HELDOUT_BUCKETS


def _flite(texts, count: int, seed: int, voices) -> list:
    return tts.synthesize_cached(flite.random_utterances(texts, count, seed, voices),
                                 speak=flite.speak)


def _piper(texts, count: int, seed: int) -> list:
    return tts.synthesize_cached(piper.random_utterances(texts, count, seed), speak=piper.speak)


def _folder(root: str) -> tuple[Bank, Heldout]:
    """A user's recordings; every fifth file of each kind (by name) is held out."""
    found = sounds.load_folder(root)
    train = {k: [w for i, w in enumerate(v) if i % 5 != 4] for k, v in found.items()}
    held = {k: [w for i, w in enumerate(v) if i % 5 == 4] for k, v in found.items()}
    if not held["positive"]:  # fewer than 5 positives: evaluate on all of them (stated)
        held["positive"] = found["positive"]
    bank = Bank(positives=[sounds.trim(w) for w in train["positive"] or found["positive"]],
                negatives=train["negative"], backgrounds=train["background"])
    heldout = Heldout(positives=[sounds.trim(w) for w in held["positive"]],
                      hard_negatives=[], prompts=held["negative"],
                      music=held["background"])
    return bank, heldout
