"""Character vocabularies: id 0 pads, id 1 stands for any character not in the vocabulary."""

import collections
import dataclasses

import numpy as np

PAD, UNKNOWN = "<pad>", "<unk>"
PAD_ID, UNKNOWN_ID = 0, 1


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

    @classmethod
    def from_texts(cls, texts, min_count=1):
        """The characters of `texts` seen at least `min_count` times, sorted."""
        counts = collections.Counter(ch for text in texts for ch in text)
        return cls((PAD, UNKNOWN, *sorted(ch for ch, c in counts.items() if c >= min_count)))

    @property
    def size(self):
        return len(self.tokens)

    def encode(self, texts, length):
        """Texts -> `Encoded` ids, post-padded with PAD_ID or cut to `length` characters."""
        index = {ch: i for i, ch in enumerate(self.tokens) if i > UNKNOWN_ID}
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
        """Ids -> text up to the first PAD_ID; UNKNOWN_ID becomes '?'."""
        chars = []
        for i in ids:
            if i == PAD_ID:
                break
            chars.append("?" if i == UNKNOWN_ID else self.tokens[i])
        return "".join(chars)


def report_unknown(encoded, what):
    """One line on what `encode` could not represent, or '' when everything fit."""
    parts = []
    if encoded.unknown:
        common = ", ".join(f"{ch!r} x{c}" for ch, c in encoded.unknown.most_common(5))
        parts.append(f"{sum(encoded.unknown.values())} unknown characters ({common})")
    if encoded.truncated:
        parts.append(f"{encoded.truncated} texts truncated")
    return f"{what}: " + "; ".join(parts) if parts else ""
