"""The generate config and its presets (variants are data, not files)."""

import dataclasses
from typing import Annotated

from apps.common.config import (
    Count,
    Fraction,
    NonNegative,
    OneOf,
    PositiveFloat,
    PositiveInt,
    TrainConfig,
    preset,
)
from apps.common.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Config(TrainConfig):
    # Corpus (apps/generate/corpora.py): names | latin | oneills | airds | text:<file>, several
    # joined by "+". One item (a name, a whole tune) is one sequence.
    data: str = "names"
    # More training items, never validation or test: sources as in `data` (e.g. "airds+ryans"
    # beside data="oneills", so the held-out tunes stay O'Neill's). An extra item equal to a
    # `data` item, or sharing over `NEAR_COPY` of its body with a validation or test item, is
    # dropped (data.py), so nothing held out is trained on in another transcription.
    extra_data: str = ""
    val_fraction: Fraction = 0.1  # fixed-seed split by item
    test_fraction: Fraction = 0.1
    # Note lines (chorales): also train on each training line transposed by +-1..transpose
    # semitones (validation and test lines are not), as music models commonly do.
    transpose: Count = 0
    # ABC tunes: "drop" trains (and scores) on the notes alone, without slurs, decorations and
    # quoted annotations (apps/generate/abc_marks.py); "keep" as the books write them.
    abc_marks: Annotated[str, OneOf("keep", "drop")] = "keep"
    max_item_length: PositiveInt = 2000  # longer items are dropped (counted), so batches stay bounded
    # Model: character embedding -> stacked RNN over layers.GRUCell / layers.LSTMCell -> logits.
    cell: Annotated[str, OneOf("lstm", "gru")] = "lstm"
    # One LSTM layer of 128 with dropout 0.2 held names at 3.26 bits/char (test, best of 20
    # epochs by validation); two layers (dropout 0.3) 3.32, a GRU (dropout 0.4) 3.30.
    units: PositiveInt = 128
    rnn_layers: PositiveInt = 1
    embedding_dim: PositiveInt = 32
    dropout: Fraction = 0.2  # the cells' input dropout (variational) and between the RNN and logits
    recurrent_dropout: Fraction = 0.0
    # ABC tunes: > 0 also feeds the model the bar lines written so far (clipped at this),
    # embedded beside each character (apps/generate/bar_count.py); 0: characters alone.
    bar_positions: Count = 0
    # Gradient clipping, as the course fixes exploding gradients (0: off; at most one of the
    # two). clipvalue clips each element to [-v, v] (the course's np.clip(g, -5, 5));
    # clipnorm rescales each variable's gradient to norm <= clipnorm.
    clipvalue: NonNegative = 5.0
    clipnorm: NonNegative = 0.0
    lr_schedule: str = "constant"
    learning_rate: PositiveFloat = 3e-3
    epochs: PositiveInt = 30
    batch_size: PositiveInt = 32
    # Training batches of items of similar length: less padding (3.4x fewer RNN steps an epoch
    # on O'Neill's tunes). On names (short, alike) it held out worse: 3.317 vs 3.267 bits/char.
    by_length: bool = False
    # Sampling defaults (serving signature arguments).
    temperature: NonNegative = 1.0
    top_k: Count = 0  # 0: all tokens
    max_sample_length: PositiveInt = 40  # characters generated after the prefix, at most
    min_bars: Count = 0  # ABC tunes: the sampler withholds the end until this many bar lines


    def check(self):
        if self.clipnorm and self.clipvalue:
            raise ConfigError(f"clipnorm={self.clipnorm} and clipvalue={self.clipvalue}: set at most one "
                              "(the other 0)")


PRESETS = {
    "default": preset("names from Debian's miscfiles: one LSTM of 128, 30 epochs, dropout 0.2"),
    # Folk tunes: longer items, a larger model, longer samples (numbers: benchmarks/generate.py).
    "tunes": preset("folk tunes in ABC (O'Neill's, Aird's, Ryan's): an LSTM of 256, long samples",
                    data="oneills+airds+ryans", units=256, batch_size=32, epochs=16, lr_schedule="cosine",
                    learning_rate=4e-3, max_sample_length=800, top_k=10, min_bars=8, by_length=True,
                    bar_positions=32),  # reads the bar lines so far: fewer tunes end early (benchmark)
    "tour": preset("names, a smaller LSTM, 15 epochs (the tour)", units=64, epochs=15),
    "tour-tunes": preset("O'Neill's tunes, an LSTM of 128, 2 epochs (the tour's two tunes)",
                         data="oneills", units=128, batch_size=32, epochs=2, lr_schedule="cosine",
                         learning_rate=1e-2, max_sample_length=600, by_length=True),
    "tiny": preset("a tiny LSTM, 1 epoch: seconds, for tests",
                   units=8, rnn_layers=1, embedding_dim=4, epochs=1, batch_size=8, dropout=0.0),
}
