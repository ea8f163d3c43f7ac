"""The translation config and its presets (variants are data, not files)."""

import dataclasses
from typing import Annotated

from apps.common.config import (
    AtLeast,
    Between,
    Each,
    Fraction,
    NonNegative,
    OneOf,
    PositiveFloat,
    PositiveInt,
    TrainConfig,
    preset,
)


@dataclasses.dataclass(frozen=True)
class Config(TrainConfig):
    # "dates" (generated human dates -> ISO, the course's task), "bible" (embedded KJV English
    # -> Reina-Valera 1909 Spanish verses, the last books held out) or "tsv:<file>"
    # (source<TAB>target lines, split at random by distinct source).
    data: str = "dates"
    # dates: how many samples, in which locales (Babel/CLDR names), split by distinct text.
    dates_samples: Annotated[int, AtLeast(10)] = 20000
    locales: Annotated[tuple, Each(OneOf("en_US", "en_GB", "fr_FR", "de_DE", "es_ES"), nonempty=True)] = (
        "en_US", "en_GB", "fr_FR", "de_DE", "es_ES")
    val_fraction: Fraction = 0.1
    test_fraction: Fraction = 0.1
    # Characters kept per source text (longer ones are cut, and counted). The course's 30 cuts
    # Spanish full dates ("miércoles 31 de diciembre de 2025" is 33): 36 keeps them all.
    source_length: PositiveInt = 36
    # Characters per target, without <s>/</s>: ISO dates are 10; verses need more.
    target_length: PositiveInt = 10
    # "characters" on both sides (dates), or "subwords": source words (seen >= `min_word_count`
    # times in training, else <unk>) and target BPE pieces (`target_pieces` in all, SentencePiece
    # trained on the training targets); lengths then count tokens, not characters.
    tokens: Annotated[str, OneOf("characters", "subwords")] = "characters"
    min_word_count: PositiveInt = 2
    target_pieces: Annotated[int, AtLeast(16)] = 8000
    # tokens=subwords: 0 reads source words (as above); n > 0 reads source BPE pieces, n in all,
    # learned by SentencePiece from the training sources' words (a word never seen, such as a
    # name of a held-out book, is spelled out in pieces instead of <unk>; min_word_count unused).
    source_pieces: Annotated[int, AtLeast(0)] = 0
    # Model. "course": Ty steps of BahdanauAttention + post-attention LSTM, no feedback (dates);
    # "seq2seq": teacher-forced decoder with Luong attention (any text).
    model: Annotated[str, OneOf("course", "seq2seq")] = "course"
    cell: Annotated[str, OneOf("lstm", "gru")] = "lstm"  # encoder cell: layers.LSTMCell / layers.GRUCell
    embedding_dim: PositiveInt = 16
    encoder_units: PositiveInt = 32  # per direction (course: n_a = 32); seq2seq: units // 2
    decoder_units: PositiveInt = 64  # course: n_s = 64; seq2seq: the decoder and attention width
    attention_units: PositiveInt = 10  # the course's tanh layer (model=course)
    score: Annotated[str, OneOf("dot", "general")] = "general"  # Luong score for model=seq2seq
    dropout: Annotated[float, Between(0, 1, high_open=True)] = 0.0  # model=seq2seq: embeddings, attentional
    # model=seq2seq: embeddings start at N(0, embedding_stddev); 0: Keras's uniform(-0.05, 0.05),
    # which left the bible model at the unigram distribution for 2 epochs (see model.py).
    embedding_stddev: NonNegative = 0.0
    # model=seq2seq: Nguyen & Chiang's (2018) lexical model, logits from tanh(the attention-
    # weighted source embeddings) through a residual layer, added to the attentional logits.
    lexical: bool = False
    # The export refuses longer texts (per instance); texts over `source_length` characters
    # are cut to it, with a notice in the answer.
    export_max_chars: PositiveInt = 1000
    # Decoding (model=seq2seq): beam_width 1 is greedy; alpha of the length penalty.
    beam_width: PositiveInt = 4
    length_alpha: NonNegative = 0.6
    # Greedy and beam never write an n-gram (of tokens) twice in one text; 0: off (n >= 2).
    no_repeat_ngram: Annotated[int, OneOf(0, 2, 3, 4, 5, 6)] = 0
    # Beam: GNMT's coverage penalty beta * sum_j log(min(attention received by source word j, 1))
    # added to an ended candidate's normalised score (decode.coverage_penalty); 0: off (bible:
    # it kept beams from ending and cost BLEU on validation).
    coverage_beta: NonNegative = 0.0
    # Source words read as <unk> copied into the translation where the output attends to them
    # (serving.py): "names" (capitalised words only), "all", or "none". Source words only.
    copy_unknown: Annotated[str, OneOf("none", "names", "all")] = "none"
    # model=seq2seq: n > 1 trains n models (seeds seed, seed + 1, ...; n times the training
    # time) and decodes them as one, the log of their mean next-token probabilities at every
    # step (model.Seq2SeqEnsemble), in greedy, beam and the export.
    ensemble: PositiveInt = 1
    # Training
    epochs: PositiveInt = 10
    batch_size: PositiveInt = 100
    learning_rate: PositiveFloat = 5e-3
    lr_schedule: str = "constant"
    clip_norm: NonNegative = 0.0  # global gradient-norm clipping; 0: none
    # The target distribution is (1 - e) one-hot + e uniform (Szegedy et al. 2016); 0: plain
    # cross-entropy. Sennrich & Zhang (2019) use 0.1 for low-resource translation.
    label_smoothing: Annotated[float, Between(0, 1, high_open=True)] = 0.0
    # The final fit of a recipe chosen on validation: the validation pairs join the training
    # pairs (and the vocabularies); the run keeps its last epoch and never stops early, and
    # its val_* columns are then measured on pairs it trained on. The test split stays out.
    train_on_val: bool = False


DATES_DEFAULT = dict(dates_samples=30000, epochs=15, lr_schedule="cosine")

PRESETS = {
    # benchmarks/translation.py: 99.97 % exact match on the 2,986 held-out date strings (en 100 %
    # of 1,190, fr 100 %, de 100 %, es 99.83 %) after 15 epochs, 390 s of training on the shared
    # 2-core machine (load ~10). 20,000 dates x 10 constant-rate epochs gave en 99.25 %.
    "default": preset("the course's date translator (Bahdanau attention, post-attention LSTM), 5 locales",
                      **DATES_DEFAULT),
    "gru": preset("the date translator with GRU encoder cells", cell="gru", **DATES_DEFAULT),
    # Words in, BPE pieces out (tokens=subwords): verses of ~28 words / ~30 pieces instead of
    # ~125 characters (the character model looped: BLEU 0.4 after 3 epochs, 25 min). A step of
    # 64 verses costs ~0.25 s of one core on a quiet machine (0.19 without the lexical model;
    # 2 threads are no faster), mostly the 4,000-piece output layers and the decoder LSTM;
    # batches length-bucketed. With Keras's
    # default embedding init the model stayed at the unigram distribution ("," everywhere) for 2
    # epochs; embedding_stddev=1.0 fixed it. The recipe (issue #18, chosen by the rule below):
    # label smoothing 0.1 and Nguyen & Chiang's lexical model (validation token accuracy 0.455
    # after 7 epochs, was 0.385), dropout 0.3 and 10 epochs (0.464; 35 min on the shared
    # machine, one thread). Decoding chosen on the first 400 validation verses: beam 5,
    # length_alpha 1.2, no_repeat_ngram 4, copy_unknown "names" (BLEU 25.59 / chrF 47.83).
    # Held-out test, measured once afterwards: BLEU 24.07 (target 18 met) / chrF 45.52 (target
    # 50 missed) with beam 5, greedy 21.35 / 42.96. Then (rules 1-4 below) three such models
    # fitted on train + validation and decoded as an ensemble with length_alpha 1.5: BLEU 28.76
    # / chrF 50.17 (both targets met), greedy 25.76 / 47.42; the previous preset (no smoothing, no lexical
    # model, dropout 0.2, 7 epochs, alpha 1.0, 3-grams) had 15.70 / 33.92. coverage_beta cost
    # BLEU on validation (not used); source_pieces=4000 was 0.7 BLEU worse than source words
    # (old recipe). benchmarks/results/translation_bible.txt has the numbers and the history.
    # Choice rule (issue #18, written before training the label-smoothing + lexical-model recipe,
    # 2026-12-07 11:05 UTC): a new recipe replaces this preset iff its beam-5 BLEU on the FIRST
    # 400 VALIDATION verses beats 18.14 (this preset's, beam 5, alpha 1.0, no_repeat_ngram 3;
    # chrF reported beside it); its decoding knobs are chosen on those verses too. The held-out
    # test rows are measured ONCE, after the choice, and reported as they are.
    # Rules for the next stop (2026-12-07 13:30 UTC, written before its runs start):
    # 1. The final fit: train_on_val=True (the 2,398 validation verses, Acts to Philippians,
    #    join training; recipe and epochs as chosen above). Adopted whatever the test says: it
    #    is the protocol for a recipe chosen on validation, not a choice among models.
    # 2. ensemble=2 (seeds 1337 and 1338, their log-probabilities averaged at every step) is
    #    adopted iff, on the first 400 validation verses with this preset's decoding, the
    #    ensemble of the two train-only runs of the last stop (lexls1, lexls2) beats lexls2
    #    alone by >= 0.5 chrF without losing BLEU.
    # 3. length_alpha: 1.2 or 1.5, the higher validation chrF of the model kind chosen in 2
    #    (train-only runs), unless its BLEU is more than 0.5 below the other's.
    # The test rows of the final model are measured once, after 1-3, and reported as they are.
    # Outcome on the 400 validation verses (beam 5, no_repeat_ngram 4, copy names; 13:33-13:38):
    # lexls2 alone 25.59 / 47.83 (alpha 1.2), 25.43 / 48.11 (1.5); the ensemble lexls2 + lexls1
    # 26.84 / 48.51 (1.2), 26.62 / 48.87 (1.5). Rule 2: +0.68 chrF, +1.25 BLEU: ensemble=2.
    # Rule 3: alpha 1.5 (+0.36 chrF, -0.22 BLEU).
    # 4. (13:41, before the check) ensemble=3 (a third seed, 1339) iff the three train-only runs
    #    lexls1 + lexls2 + w384 (the 384-unit run) beat lexls1 + lexls2 by >= 0.5 chrF on the same
    #    verses with alpha 1.5, without losing BLEU. Outcome (13:45): 27.57 / 49.38 against
    #    26.62 / 48.87 (+0.51 chrF, +0.95 BLEU): ensemble=3.
    "bible": preset("KJV English -> Reina-Valera 1909 Spanish verses: words in, BPE pieces out, Luong attention",
                    data="bible", model="seq2seq", tokens="subwords", source_length=80, target_length=100,
                    embedding_dim=256, decoder_units=256, batch_size=64, learning_rate=2e-3,
                    lr_schedule="cosine", clip_norm=1.0, dropout=0.3, target_pieces=4000, epochs=10,
                    embedding_stddev=1.0, label_smoothing=0.1, lexical=True, no_repeat_ngram=4,
                    beam_width=5, length_alpha=1.5, copy_unknown="names", val_fraction=0.05,
                    test_fraction=0.05, train_on_val=True, ensemble=3),
    # 71 s of training, 99.2 % exact match (8,000 dates x 6 epochs gave 3.6 %: it needs ~800 steps).
    "tour": preset("the date translator, 5 epochs (the tour)", epochs=5),
    "tiny": preset("a tiny date translator on 300 dates, 1 epoch: seconds, for tests",
                   dates_samples=300, epochs=1, encoder_units=4, decoder_units=8, embedding_dim=4,
                   attention_units=3, batch_size=32, early_stopping_patience=0),
}
