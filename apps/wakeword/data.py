"""The wakeword data: a bank of training material and the held-out evaluation material."""

from __future__ import annotations

import dataclasses

from apps.common.errors import ConfigError
from apps.wakeword import sounds, tts
from apps.wakeword.compose import Bank, evaluation_stream, fixed_clips
from apps.wakeword.config import Config

TRIGGER = "activate"


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

    def stream(self, config: Config, seed: int = 0):
        """(waveform, [Placed, ...]): the held-out evaluation stream (compose.evaluation_stream)."""
        h = self.heldout
        return evaluation_stream(h.positives, h.hard_negatives, h.prompts, h.music, config, seed)


def load_data(config: Config) -> Data:
    if config.data == "asterisk":
        bank, heldout = _asterisk(config)
    elif config.data.startswith("folder:"):
        bank, heldout = _folder(config.data.removeprefix("folder:"))
    else:
        raise ConfigError(f"data: {config.data!r}; allowed are asterisk and folder:<dir>")
    return Data(bank=bank, val=fixed_clips(bank, config, config.val_clips), heldout=heldout)


def _asterisk(config: Config) -> tuple[Bank, Heldout]:
    """espeak-ng's "activate" as positives; espeak-ng's confusable words (and prompt texts) and
    Allison's training prompts as negatives; the training music tracks as backgrounds."""
    s = sounds.load_sounds()
    positives = tts.synthesize_cached(tts.random_utterances([TRIGGER], config.tts_positives,
                                                            seed=config.seed))
    # Negative texts: the confusable words and the training prompts' names read as words
    # ("agent-loginok" -> "agent loginok"), so that espeak-ng's voices speak negatives too and
    # the voice alone does not tell a positive.
    texts = list(tts.CONFUSABLES)
    if config.tts_prompt_negatives:
        texts += [name.replace("-", " ").replace("_", " ") for name in s.train_prompts]
    confusables = tts.synthesize_cached(tts.random_utterances(
        texts, config.tts_negatives, seed=config.seed + 1))
    bank = Bank(positives=positives, negatives=confusables + list(s.train_prompts.values()),
                backgrounds=list(s.train_music.values()))
    heldout = Heldout(positives=[sounds.trim(s.positive)],
                      hard_negatives=[sounds.trim(s.hard_negative)],
                      prompts=list(s.heldout_prompts.values()),
                      music=list(s.heldout_music.values()))
    return bank, heldout


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
