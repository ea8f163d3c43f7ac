"""Corpus BLEU and chrF, our own code, equal to sacrebleu 2.x's defaults (tested against it).

BLEU (Papineni et al., 2002) as sacrebleu's `BLEU()`: mteval-v13a tokenization, n-grams up
to 4 clipped by the most frequent occurrence in any reference, the corpus brevity penalty
over the closest reference length per sentence, and the "exp" smoothing of mteval (Chen &
Cherry 2014, method 3): the k-th order with no match counts as 1 / (2^k * total).

chrF (Popović, 2015) as sacrebleu's `CHRF()`: character n-grams of orders 1..6 with the
whitespace removed, precision and recall each averaged over the orders that both sides
have, then F-beta with beta 2 (recall weighs 4x); no word n-grams (word_order 0).

Both are corpus-level: the statistics of all sentences are summed before the score.
Scores are in [0, 100].
"""

import collections
import dataclasses
import math
import re

# mteval-v13a's language-dependent rules, applied in this order.
_PUNCTUATION = re.compile(r"([{|}~\[\\\]^_` !\"#$%&()*+:;<=>?@/])")
_PERIOD_COMMA_AFTER_NON_DIGIT = re.compile(r"([^0-9])([.,])")
_PERIOD_COMMA_BEFORE_NON_DIGIT = re.compile(r"([.,])([^0-9])")
_DASH_AFTER_DIGIT = re.compile(r"([0-9])(-)")
_ENTITIES = (("&quot;", '"'), ("&amp;", "&"), ("&lt;", "<"), ("&gt;", ">"))


def tokenize_13a(line):
    """Tokens of `line` by the mteval-v13a rules (WMT's, sacrebleu's default BLEU tokenizer).

    Punctuation and symbols become tokens of their own; a period or comma stays inside a
    number ("3.5", "1,000") and a dash after a digit is split off ("1990-91" -> "1990 - 91").
    """
    line = line.replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    for entity, char in _ENTITIES:
        line = line.replace(entity, char)
    line = _PUNCTUATION.sub(r" \1 ", f" {line} ")
    line = _PERIOD_COMMA_AFTER_NON_DIGIT.sub(r"\1 \2 ", line)
    line = _PERIOD_COMMA_BEFORE_NON_DIGIT.sub(r" \1 \2", line)
    line = _DASH_AFTER_DIGIT.sub(r"\1 \2 ", line)
    return line.split()


def _ngrams(items, n):
    return collections.Counter(tuple(items[i : i + n]) for i in range(len(items) - n + 1))


def _references_per_sentence(hypotheses, references):
    """references: one string per hypothesis, or one sequence of strings (several references)."""
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    grouped = [(r,) if isinstance(r, str) else tuple(r) for r in references]
    if any(not refs for refs in grouped):
        raise ValueError("every hypothesis needs at least one reference")
    return grouped


@dataclasses.dataclass(frozen=True)
class Bleu:
    """score in [0, 100]; precisions (%) per order; the corpus lengths in tokens."""

    score: float
    precisions: tuple
    brevity_penalty: float
    hypothesis_length: int
    reference_length: int


def corpus_bleu(hypotheses, references, max_order=4, lowercase=False):
    """Corpus BLEU of `hypotheses` (strings) against `references` (see above); a `Bleu`."""
    groups = _references_per_sentence(hypotheses, references)
    matches, totals = [0] * max_order, [0] * max_order
    hypothesis_length = reference_length = 0
    for hypothesis, refs in zip(hypotheses, groups):
        prepare = (lambda s: s.lower()) if lowercase else (lambda s: s)
        tokens = tokenize_13a(prepare(hypothesis.rstrip()))
        ref_tokens = [tokenize_13a(prepare(r.rstrip())) for r in refs]
        # The reference closest in length; the shorter one on a tie.
        closest = min((abs(len(r) - len(tokens)), len(r)) for r in ref_tokens)[1]
        hypothesis_length += len(tokens)
        reference_length += closest
        for n in range(1, max_order + 1):
            clip = collections.Counter()
            for r in ref_tokens:
                clip |= _ngrams(r, n)  # elementwise max over the references
            counts = _ngrams(tokens, n)
            totals[n - 1] += sum(counts.values())
            matches[n - 1] += sum(min(c, clip[g]) for g, c in counts.items())
    return _bleu_from_counts(matches, totals, hypothesis_length, reference_length)


def _bleu_from_counts(matches, totals, hypothesis_length, reference_length):
    if hypothesis_length >= reference_length:
        brevity_penalty = 1.0
    elif hypothesis_length == 0:
        brevity_penalty = 0.0
    else:
        brevity_penalty = math.exp(1.0 - reference_length / hypothesis_length)
    if not any(matches):  # sacrebleu reports all precisions as 0 then
        return Bleu(0.0, (0.0,) * len(matches), brevity_penalty, hypothesis_length, reference_length)
    precisions, halvings = [], 1.0
    for match, total in zip(matches, totals):
        if total == 0:  # no n-grams of this order at all (every hypothesis too short)
            precisions.append(0.0)
        elif match == 0:
            halvings *= 2.0
            precisions.append(100.0 / (halvings * total))
        else:
            precisions.append(100.0 * match / total)
    if min(precisions) == 0.0:
        score = 0.0
    else:
        score = brevity_penalty * math.exp(sum(math.log(p) for p in precisions) / len(precisions))
    return Bleu(score, tuple(precisions), brevity_penalty, hypothesis_length, reference_length)


def _char_ngram_stats(hypothesis, reference, order):
    """[hypothesis count, reference count, matches] per order 1..order (whitespace removed)."""
    hypothesis, reference = "".join(hypothesis.split()), "".join(reference.split())
    stats = []
    for n in range(1, order + 1):
        hyp, ref = _ngrams(hypothesis, n), _ngrams(reference, n)
        # sacrebleu counts no hypothesis n-grams of an order the reference lacks.
        stats.append(
            [sum(hyp.values()) if ref else 0, sum(ref.values()), sum(min(c, ref[g]) for g, c in hyp.items())]
        )
    return stats


def _chrf_from_stats(stats, beta):
    precision = recall = 0.0
    orders = 0
    for hyp, ref, match in stats:
        if hyp > 0 and ref > 0:  # orders both sides have
            precision += match / hyp
            recall += match / ref
            orders += 1
    if orders == 0:
        return 0.0
    precision, recall = precision / orders, recall / orders
    if precision + recall == 0.0:
        return 0.0
    factor = beta**2
    return 100.0 * (1 + factor) * precision * recall / (factor * precision + recall)


def corpus_chrf(hypotheses, references, char_order=6, beta=2.0):
    """Corpus chrF in [0, 100]; with several references a sentence keeps its best one's counts."""
    groups = _references_per_sentence(hypotheses, references)
    summed = [[0, 0, 0] for _ in range(char_order)]
    for hypothesis, refs in zip(hypotheses, groups):
        best, best_score = None, -1.0
        for r in refs:  # the first reference wins a tie, as in sacrebleu
            stats = _char_ngram_stats(hypothesis, r, char_order)
            score = _chrf_from_stats(stats, beta)
            if score > best_score:
                best, best_score = stats, score
        for total, row in zip(summed, best):
            for k in range(3):
                total[k] += row[k]
    return _chrf_from_stats(summed, beta)


def exact_match_by_group(hypotheses, references, groups):
    """{group: (fraction of hypotheses equal to their reference, count)}, groups sorted;
    {} when `groups` is empty (no grouping)."""
    if not groups:
        return {}
    if not len(hypotheses) == len(references) == len(groups):
        raise ValueError(f"{len(hypotheses)} hypotheses, {len(references)} references and "
                         f"{len(groups)} groups: expected one of each per sentence")
    tallies = collections.defaultdict(lambda: [0, 0])
    for hypothesis, reference, group in zip(hypotheses, references, groups):
        tallies[group][0] += hypothesis == reference
        tallies[group][1] += 1
    return {g: (hits / count, count) for g, (hits, count) in sorted(tallies.items())}
