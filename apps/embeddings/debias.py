"""Hard debiasing of word vectors (Bolukbasi et al. 2016): neutralize and equalize.

1. Bias direction g: the first principal component of the definitional pairs' unit
   vectors, each centred on its pair's mean (the paper's PCA over she-he, her-his, ...).
2. Neutralize: every word outside `GENDER_SPECIFIC` loses its component along g
   (`w - (w.g) g`, then renormalised).
3. Equalize: each pair in `EQUALIZE_PAIRS` is moved to be symmetric about the neutral
   axis: both words get the same neutral part `nu = mu - (mu.g) g` and opposite
   components of length `sqrt(1 - |nu|^2)` along g, so every neutral word is equidistant
   from them.
The report gives the direct bias (mean |cos(w, g)| over `PROFESSIONS`) and analogy
accuracy before and after, so the cost in analogy accuracy is visible.
"""

from __future__ import annotations

import numpy as np

from apps.common.errors import DataError
from apps.common.word2vec.vectors import WordVectors
from apps.embeddings.metrics import evaluate_analogies, unit

DEFINITIONAL_PAIRS = (
    ("woman", "man"), ("girl", "boy"), ("she", "he"), ("mother", "father"),
    ("daughter", "son"), ("gal", "guy"), ("female", "male"), ("her", "his"),
    ("herself", "himself"), ("mary", "john"),
)
EQUALIZE_PAIRS = (
    ("woman", "man"), ("girl", "boy"), ("she", "he"), ("mother", "father"),
    ("daughter", "son"), ("female", "male"), ("her", "his"), ("herself", "himself"),
    ("queen", "king"), ("sister", "brother"), ("wife", "husband"), ("women", "men"),
    ("girls", "boys"), ("mothers", "fathers"), ("daughters", "sons"), ("aunt", "uncle"),
    ("niece", "nephew"), ("grandmother", "grandfather"), ("princess", "prince"),
)
GENDER_SPECIFIC = frozenset(
    [w for pair in DEFINITIONAL_PAIRS + EQUALIZE_PAIRS for w in pair]
    + ["ladies", "gentlemen", "lady", "gentleman", "actress", "actor", "mrs", "mr", "ms",
       "wives", "husbands", "sisters", "brothers", "queens", "kings", "females", "males",
       "mom", "dad", "grandma", "grandpa", "bride", "groom", "widow", "widower"]
)
PROFESSIONS = (
    "nurse", "doctor", "engineer", "teacher", "programmer", "homemaker", "scientist",
    "secretary", "lawyer", "architect", "librarian", "professor", "surgeon", "receptionist",
    "carpenter", "mechanic", "pilot", "dancer", "singer", "banker", "manager", "chef",
    "photographer", "physician", "writer", "artist", "soldier", "farmer", "clerk", "judge",
    "president", "politician", "student", "author", "designer", "journalist", "economist",
    "officer", "captain", "maid", "housekeeper", "stylist", "hairdresser", "philosopher",
    "mathematician", "poet", "painter", "detective", "firefighter", "accountant",
)


def bias_direction(normed: np.ndarray, index: dict, pairs=DEFINITIONAL_PAIRS):
    """Unit vector g (D,) and the pairs used; needs at least one pair in the vocabulary."""
    used = [(a, b) for a, b in pairs if a in index and b in index]
    if not used:
        raise DataError("debias: none of the definitional pairs (she/he, woman/man, ...) is in "
                        "the vocabulary")
    rows = []
    for a, b in used:
        va, vb = normed[index[a]], normed[index[b]]
        center = (va + vb) / 2
        rows += [va - center, vb - center]
    _, _, vt = np.linalg.svd(np.stack(rows), full_matrices=False)
    g = vt[0]
    # Orient g from the male to the female word of the first pair, for readable signs.
    a, b = used[0]
    if (normed[index[a]] - normed[index[b]]) @ g < 0:
        g = -g
    return g / np.linalg.norm(g), used


def direct_bias(normed: np.ndarray, index: dict, g: np.ndarray, words=PROFESSIONS, c=1.0):
    """Mean |cos(w, g)|^c over the words present (the paper's DirectBias_c); and the count."""
    ids = [index[w] for w in words if w in index]
    if not ids:
        return float("nan"), 0
    cos = unit(normed[ids]) @ g
    return float(np.mean(np.abs(cos) ** c)), len(ids)


def neutralize(normed: np.ndarray, g: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Remove the g component of every row where `keep` is False; rows renormalised."""
    out = normed.copy()
    rows = ~keep
    out[rows] -= np.outer(out[rows] @ g, g)
    return unit(out)


def equalize(normed: np.ndarray, g: np.ndarray, index: dict, pairs=EQUALIZE_PAIRS):
    out = normed.copy()
    used = []
    for a, b in pairs:
        if a not in index or b not in index:
            continue
        va, vb = out[index[a]], out[index[b]]
        mu = (va + vb) / 2
        nu = mu - (mu @ g) * g
        scale = np.sqrt(max(0.0, 1.0 - float(nu @ nu)))
        for word, v in ((a, va), (b, vb)):
            side = (v @ g) - (mu @ g)
            out[index[word]] = nu + scale * np.sign(side if side else 1.0) * g
        used.append((a, b))
    return out, used


def debias(wv: WordVectors):
    """(debiased unit WordVectors, details): neutralize then equalize."""
    index = {w: i for i, w in enumerate(wv.words)}
    normed = unit(np.asarray(wv.vectors, np.float64))
    g, definitional = bias_direction(normed, index)
    keep = np.array([w in GENDER_SPECIFIC for w in wv.words])
    out = neutralize(normed, g, keep)
    out, equalized = equalize(out, g, index)
    details = {"definitional_pairs": definitional, "equalized_pairs": equalized,
               "neutralized_words": int((~keep).sum()), "direction": g}
    return WordVectors(wv.words, out.astype(np.float32)), details


def report(wv: WordVectors, analogies_path=None, restrict_vocab=300000):
    """Before/after numbers: direct bias over PROFESSIONS, analogy accuracy, and a few
    profession words' projections on g. Returns (debiased vectors, report dict)."""

    debiased, details = debias(wv)
    g = details["direction"]
    index = {w: i for i, w in enumerate(wv.words)}
    before_normed = unit(np.asarray(wv.vectors, np.float64))
    before, count = direct_bias(before_normed, index, g)
    after, _ = direct_bias(np.asarray(debiased.vectors, np.float64), index, g)
    result = {
        "direct_bias_before": before, "direct_bias_after": after, "professions_found": count,
        "definitional_pairs": [list(p) for p in details["definitional_pairs"]],
        "equalized_pairs": [list(p) for p in details["equalized_pairs"]],
        "neutralized_words": details["neutralized_words"],
        "projections_before": {w: float(before_normed[index[w]] @ g) for w in PROFESSIONS[:12]
                               if w in index},
    }
    if analogies_path is not None:
        result["analogy_before"] = evaluate_analogies(wv, analogies_path, restrict_vocab)["accuracy"]
        result["analogy_after"] = evaluate_analogies(debiased, analogies_path, restrict_vocab)["accuracy"]
    return debiased, result
