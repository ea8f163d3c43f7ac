"""Training speed of `keras.layers.RNN(our cell)` against Keras's built-in GRU and LSTM layers.

Model: `Input((TIMESTEPS, INPUT_DIM))` -> recurrent layer (UNITS, last output) -> Dense(1),
MSE, Adam, random normal data, batch BATCH. Ours: `keras.layers.RNN(layers.GRUCell(UNITS))`
and `keras.layers.RNN(layers.LSTMCell(UNITS))`; references, measured in the same run:
`keras.layers.GRU(UNITS, reset_after=False)` (the same function as our GRUCell) and
`keras.layers.LSTM(UNITS)`. Ours start from the reference's weights.

Steady-state `train_on_batch` times, measured interleaved (ours, ref, ref, ours, ...) so
that load from other processes hits both alike. Rows: per cell, the median step time and
the ratio ours / reference (median of the per-round ratios; target <= 1.10), and
training steps/s of each (information, reused by the sentiment app's numbers).
"""

import keras
import numpy as np

from benchmarks.common import Row, at_most, interleaved_train_steps, log, median, spread

BATCH, TIMESTEPS, INPUT_DIM, UNITS = 64, 50, 64, 128
TARGET = 1.10  # ours / reference step time


def _model(recurrent):
    inputs = keras.Input((TIMESTEPS, INPUT_DIM))
    outputs = keras.layers.Dense(1)(recurrent(inputs))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="mse")
    return model


def _pair(kind):
    """(ours, reference) compiled models with equal weights."""
    from layers import GRUCell, LSTMCell

    keras.utils.set_random_seed(0)
    if kind == "GRU":
        reference = _model(keras.layers.GRU(UNITS, reset_after=False))
        ours = _model(keras.layers.RNN(GRUCell(UNITS)))
    else:
        reference = _model(keras.layers.LSTM(UNITS))
        ours = _model(keras.layers.RNN(LSTMCell(UNITS)))
    ours.set_weights(reference.get_weights())
    return ours, reference


def run(quick: bool) -> list[Row]:
    rounds, steps = (2, 3) if quick else (8, 10)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, TIMESTEPS, INPUT_DIM)).astype("float32")
    y = rng.standard_normal((BATCH, 1)).astype("float32")
    size = f"batch {BATCH}, {TIMESTEPS} steps, {INPUT_DIM} in, {UNITS} units"
    rows = []
    for kind, reference_name in (("GRU", "keras GRU(reset_after=False)"), ("LSTM", "keras LSTM")):
        ours, reference = _pair(kind)
        log(f"rnn_cells: {kind}, {rounds} rounds x {steps} steps each")
        times, per_round = interleaved_train_steps(
            {"ours": ours, "reference": reference}, (x, y), rounds=rounds, steps_per_round=steps
        )
        t_ours, t_ref = median(times["ours"]), median(times["reference"])
        ratio = median([o / r for o, r in zip(per_round["ours"], per_round["reference"], strict=True)])
        print(
            f"{kind}Cell: ours {t_ours * 1e3:.1f} ms/step ({spread(times['ours'])}), "
            f"{reference_name} {t_ref * 1e3:.1f} ms/step ({spread(times['reference'])}), "
            f"per-round ratios {', '.join(f'{o / r:.3f}' for o, r in zip(*per_round.values()))}",
            flush=True,
        )
        rows.append(
            Row(
                f"RNN({kind}Cell) train step vs {reference_name}",
                t_ours * 1e3,
                "ms",
                t_ref * 1e3,
                "ms",
                target=f"<= {TARGET:.2f}x",
                ok=at_most(ratio, TARGET),
                ratio=ratio,
                note=f"{size}; ratio = median of {rounds} interleaved per-round ratios of {steps} steps",
            )
        )
        rows.append(Row(f"RNN({kind}Cell) training steps/s", 1 / t_ours, "steps/s", 1 / t_ref, "steps/s"))
    return rows
