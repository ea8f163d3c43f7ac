"""Character vocabularies: id 0 pads, id 1 stands for any character not in the vocabulary."""

import collections
import dataclasses

import numpy as np

PAD, UNKNOWN, START, END = "<pad>", "<unk>", "<s>", "</s>"
PAD_ID, UNKNOWN_ID, START_ID, END_ID = 0, 1, 2, 3


@dataclasses.dataclass(frozen=True)
class Encoded:
    """ids (n, length) int32, lengths before padding/truncation, and what did not fit.

    unknown: Counter of characters mapped to UNKNOWN_ID; truncated: texts cut to `length`.
    """

    ids: np.ndarray
    lengths: np.ndarray
    unknown: collections.Counter
    truncated: int


@dataclasses.dataclass(frozen=True)
class CharVocabulary:
    """tokens[i] is the character of id i; tokens[0] = PAD, tokens[1] = UNKNOWN."""

    tokens: tuple
    unit = "characters"  # what a token is, in messages

    @classmethod
    def from_texts(cls, texts, min_count=1, boundaries=False):
        """The characters of `texts` seen at least `min_count` times, sorted; with
        `boundaries`, START and END take ids 2 and 3 (a decoder's target side)."""
        counts = collections.Counter(ch for text in texts for ch in text)
        specials = (PAD, UNKNOWN, START, END) if boundaries else (PAD, UNKNOWN)
        return cls((*specials, *sorted(ch for ch, c in counts.items() if c >= min_count)))

    @property
    def first_character_id(self):
        return 4 if self.tokens[2:4] == (START, END) else 2

    @property
    def size(self):
        return len(self.tokens)

    def encode(self, texts, length):
        """Texts -> `Encoded` ids, post-padded with PAD_ID or cut to `length` characters."""
        index = {ch: i for i, ch in enumerate(self.tokens) if i >= self.first_character_id}
        ids = np.full((len(texts), length), PAD_ID, dtype="int32")
        unknown = collections.Counter()
        truncated = 0
        for row, text in enumerate(texts):
            truncated += len(text) > length
            for col, ch in enumerate(text[:length]):
                ids[row, col] = index.get(ch, UNKNOWN_ID)
                if ids[row, col] == UNKNOWN_ID:
                    unknown[ch] += 1
        lengths = np.array([min(len(t), length) for t in texts], dtype="int32")
        return Encoded(ids, lengths, unknown, truncated)

    def decode(self, ids):
        """Ids -> text up to the first PAD_ID or END; UNKNOWN_ID becomes '?', START nothing."""
        chars = []
        for i in ids:
            if i == PAD_ID or (i == END_ID and self.first_character_id == 4):
                break
            if i == UNKNOWN_ID:
                chars.append("?")
            elif i >= self.first_character_id:
                chars.append(self.tokens[i])
        return "".join(chars)


def report_unknown(encoded, what, unit="characters"):
    """One line on what `encode` could not represent, or '' when everything fit."""
    parts = []
    if encoded.unknown:
        common = ", ".join(f"{ch!r} x{c}" for ch, c in encoded.unknown.most_common(5))
        parts.append(f"{sum(encoded.unknown.values())} unknown {unit} ({common})")
    if encoded.truncated:
        parts.append(f"{encoded.truncated} texts truncated")
    return f"{what}: " + "; ".join(parts) if parts else ""
