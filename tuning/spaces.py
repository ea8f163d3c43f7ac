"""One search space per app: `space(s, base) -> config overrides`, keyed by app name.

A space never builds a model: it maps sampled hyperparameters onto the app's own
config keys, and the trial trains through the app's own `train` (so `build_model`
is the only model definition). `s` is a `Space`, a thin wrapper over
`keras_tuner.HyperParameters` that applies `--hp NAME=SPEC` range overrides and
`--tiers`; `base` is the resolved base config (preset, --config, --set).

Sampling follows the course: the learning rate on a log scale (r = -4 * rand(),
alpha = 10^r over 1e-4..1e-1), beta_1 through 1 - beta on a log scale, dropout and
decay linear, sizes as integers. Tiers are the course's priority order: 1 = alpha;
2 = beta, hidden units, mini-batch size; 3 = layers and learning-rate decay;
4 = regularisation. `--tiers 2` tunes tiers 1-2 and fixes the rest at the base
config's values.

Why `one_minus_beta_1` and not keras-tuner's `sampling="reverse_log"` on beta_1:
keras-tuner's reverse_log over [lo, hi] makes (lo + hi - value) log-uniform, which
is 1 - value only when lo + hi = 1; over [0.9, 0.999] it is almost linear in beta.
Sampling 1 - beta itself with `sampling="log"` over [1e-3, 1e-1] is exactly the
course's recipe (tests/tuning/test_spaces.py checks both claims).
"""

import dataclasses
from collections.abc import Callable

from apps import APPS
from apps.common.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Declared:
    """What a space declared for one hyperparameter (before any override)."""

    name: str
    kind: str  # "float" | "int" | "choice"
    low: object = None
    high: object = None
    values: tuple = ()
    sampling: str = "linear"
    step: object = None
    tier: int = 1
    default: object = None

    def describe(self) -> str:
        if self.kind == "choice":
            return f"choice {list(self.values)}"
        step = f", step {self.step}" if self.step else ""
        return f"{self.kind} {self.low}..{self.high} ({self.sampling}{step})"


class Space:
    """`keras_tuner.HyperParameters` with user range overrides applied.

    `overrides` maps a hyperparameter name to a spec string: `LO:HI` (a new range,
    same sampling), `a,b,c` (a choice) or `v` (fixed). Specs are checked against
    the declared kind and bounds when the space declares the name.
    """

    def __init__(self, hp, overrides=None, tiers: int | None = None):
        self.hp = hp
        self.overrides = dict(overrides or {})
        self.tiers = tiers
        self.declared: dict[str, Declared] = {}

    # ------------------------------------------------------------ declarations
    def float(self, name, low, high, *, sampling="linear", tier=1, default=None):
        d = Declared(name, "float", float(low), float(high), sampling=sampling, tier=tier, default=default)
        return self._declare(d)

    def int(self, name, low, high, *, step=None, sampling="linear", tier=1, default=None):
        d = Declared(name, "int", int(low), int(high), sampling=sampling, step=step, tier=tier,
                     default=default)
        return self._declare(d)

    def choice(self, name, values, *, tier=1, default=None):
        return self._declare(Declared(name, "choice", values=tuple(values), tier=tier, default=default))

    # ------------------------------------------------------------ internals
    def _declare(self, d: Declared):
        self.declared[d.name] = d
        if d.name in self.overrides:
            return self._overridden(d, self.overrides[d.name])
        if self.tiers is not None and d.tier > self.tiers and d.default is not None:
            return self.hp.Fixed(d.name, d.default)
        if d.kind == "float":
            return self.hp.Float(d.name, d.low, d.high, sampling=d.sampling)
        if d.kind == "int":
            return self.hp.Int(d.name, d.low, d.high, step=d.step, sampling=d.sampling)
        return self.hp.Choice(d.name, list(d.values))

    def _parse(self, d: Declared, text: str, what: str):
        text = text.strip()
        if d.kind == "choice":
            cast = type(d.values[0])
        else:
            cast = float if d.kind == "float" else int
        try:
            return cast(text)
        except ValueError:
            raise ConfigError(
                f"--hp {d.name}: {what} {text!r} is not {'a number' if cast is float else cast.__name__}"
            ) from None

    def _overridden(self, d: Declared, spec: str):
        spec = str(spec).strip()
        if not spec or spec in (":", ","):
            raise ConfigError(f"--hp {d.name}: empty range {spec!r}; expected LO:HI, a,b,c or a value")
        if ":" in spec:
            if d.kind == "choice":
                raise ConfigError(
                    f"--hp {d.name}: is a choice of {list(d.values)}; give values a,b,c, not a range")
            lo_text, _, hi_text = spec.partition(":")
            if not lo_text.strip() or not hi_text.strip():
                raise ConfigError(f"--hp {d.name}: empty range {spec!r}; expected LO:HI")
            lo, hi = self._parse(d, lo_text, "min"), self._parse(d, hi_text, "max")
            if lo > hi:
                raise ConfigError(f"--hp {d.name}: min {lo} > max {hi}")
            if d.sampling in ("log", "reverse_log") and lo <= 0:
                raise ConfigError(f"--hp {d.name}: {d.sampling} sampling needs min > 0, got {lo}")
            if lo == hi:
                return self.hp.Fixed(d.name, lo)
            if d.kind == "float":
                return self.hp.Float(d.name, lo, hi, sampling=d.sampling)
            step = d.step
            if d.sampling == "log" and step and lo * step > hi:
                step = None
            return self.hp.Int(d.name, lo, hi, step=step, sampling=d.sampling)
        values = [self._parse(d, v, "value") for v in spec.split(",") if v.strip()]
        if not values:
            raise ConfigError(f"--hp {d.name}: empty range {spec!r}")
        if d.kind == "choice":
            unknown = [v for v in values if v not in d.values]
            if unknown:
                raise ConfigError(f"--hp {d.name}: {unknown} not among {list(d.values)}")
        if len(values) == 1:
            return self.hp.Fixed(d.name, values[0])
        return self.hp.Choice(d.name, values)

    def check_overrides(self, app: str) -> None:
        unknown = sorted(set(self.overrides) - set(self.declared))
        if unknown:
            raise ConfigError(
                f"--hp: unknown hyperparameter{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(repr(u) for u in unknown)} for {app}; known: {', '.join(self.declared)}"
            )


# ---------------------------------------------------------------- shared dimensions
# The optimiser's dimensions every Adam-trained app shares, on the course's scales and tiers.
def _learning_rate(s: Space, default) -> float:
    """Tier 1: the learning rate, 1e-4..1e-1 on a log scale."""
    return s.float("learning_rate", 1e-4, 1e-1, sampling="log", tier=1, default=default)


def _beta_1(s: Space, base) -> float:
    """Tier 2: Adam's beta_1 through 1 - beta, log-uniform over 1e-3..1e-1 (beta 0.9..0.999)."""
    return 1.0 - s.float("one_minus_beta_1", 1e-3, 1e-1, sampling="log", tier=2,
                         default=round(1.0 - base.beta_1, 12))


def _lr_schedule(s: Space, base) -> str:
    """Tier 3: the learning-rate decay."""
    return s.choice("lr_schedule", ["constant", "cosine", "exponential"], tier=3, default=base.lr_schedule)


def _weight_decay(s: Space, base) -> float:
    """Tier 4: L2 strength, log-uniform over 1e-6..1e-2."""
    return s.float("weight_decay", 1e-6, 1e-2, sampling="log", tier=4, default=base.weight_decay)


# ---------------------------------------------------------------- spaces
def classification(s: Space, base) -> dict:
    """ResNet/Inception classifier: rate, momentum, width, batch, depth, decay, regularisation."""
    stages = len(base.stage_filters)
    # Tier 1: the learning rate, 1e-4..1e-1 on a log scale.
    lr = _learning_rate(s, base.learning_rate)
    # Tier 2: Adam's beta_1 through 1 - beta (0.9..0.999), width ("hidden units"), batch size.
    beta_1 = _beta_1(s, base)
    # From 16: with 8 filters TF 2.21's oneDNN convolutions corrupt the heap on some batch
    # shapes here ("double free or corruption"; fine with TF_ENABLE_ONEDNN_OPTS=0).
    width = s.int("width", 16, 64, step=2, sampling="log", tier=2, default=base.stem_filters)
    batch = s.choice("batch_size", [32, 64, 128], tier=2, default=base.batch_size)
    # Tier 3: depth (residual/inception blocks per stage) and the learning-rate decay.
    blocks = s.int("blocks", 1, 3, tier=3, default=int(base.stage_blocks[0]))
    schedule = _lr_schedule(s, base)
    decay = s.float("lr_decay_rate", 0.3, 0.95, tier=3, default=base.lr_decay_rate)
    # Tier 4: regularisation. The classifier has no activation choice (ReLU in the blocks).
    weight_decay = _weight_decay(s, base)
    dropout = s.float("dropout", 0.0, 0.5, tier=4, default=base.dropout)
    return dict(
        learning_rate=lr,
        beta_1=beta_1,
        stem_filters=width,
        stage_filters=tuple(width * 2**i for i in range(stages)),
        stage_blocks=(blocks,) * stages,
        batch_size=batch,
        lr_schedule=schedule,
        lr_decay_rate=decay,
        weight_decay=weight_decay,
        dropout=dropout,
    )


def detection(s: Space, base) -> dict:
    """YOLO-style detector: the classifier's recipe plus the head width, on val_loss."""
    stages = len(base.stage_filters)
    lr = _learning_rate(s, base.learning_rate)
    beta_1 = _beta_1(s, base)
    width = s.int("width", 16, 32, step=2, sampling="log", tier=2, default=base.stem_filters)
    head = s.choice("head_filters", [64, 128, 256], tier=2, default=base.head_filters)
    batch = s.choice("batch_size", [16, 32, 64], tier=2, default=base.batch_size)
    blocks = s.int("blocks", 1, 2, tier=3, default=int(base.stage_blocks[0]))
    schedule = _lr_schedule(s, base)
    decay = s.float("lr_decay_rate", 0.3, 0.95, tier=3, default=base.lr_decay_rate)
    weight_decay = _weight_decay(s, base)
    return dict(
        learning_rate=lr, beta_1=beta_1, stem_filters=width,
        stage_filters=tuple(width * 2 ** (i + 1) for i in range(stages)),
        stage_blocks=(blocks,) * stages, head_filters=head, batch_size=batch,
        lr_schedule=schedule, lr_decay_rate=decay, weight_decay=weight_decay,
    )


def embeddings(s: Space, base) -> dict:
    """Skip-gram word2vec: SGD rate alpha, vector size ("hidden units") and window.

    The app has no held-out score, so the objective is its training loss; the number
    of negative samples changes the loss's scale and stays fixed.
    """
    lr = _learning_rate(s, base.alpha)
    size = s.int("vector_size", 50, 300, step=50, tier=2, default=base.vector_size)
    window = s.int("window", 2, 10, tier=3, default=base.window)
    return dict(alpha=lr, vector_size=size, window=window)


def style(s: Space, base) -> dict:
    """The fast stylizer (Johnson et al.): its Adam rate, batch, width and depth.

    The Gatys optimisation has no held-out score to tune against, so only the
    feed-forward network is searched, on its training loss J (lower is better).
    """
    lr = _learning_rate(s, base.fast_learning_rate)
    width = s.int("width", 4, 32, step=2, sampling="log", tier=2, default=base.fast_filters[0])
    batch = s.choice("batch_size", [1, 2, 4], tier=2, default=base.fast_batch_size)
    blocks = s.int("blocks", 1, 5, tier=3, default=base.fast_residual_blocks)
    return dict(
        fast_learning_rate=lr,
        fast_filters=(width, 2 * width, 4 * width),
        fast_batch_size=batch,
        fast_residual_blocks=blocks,
    )


def sentiment(s: Space, base) -> dict:
    """Text RNN over our cells: rate, momentum, units, batch, depth, cell, decay, regularisation.

    Every point is a config of the app's own `build_model` (bidirectional RNN over
    layers.GRUCell / LSTMCell, or the average-of-embeddings model when the base says so).
    """
    lr = _learning_rate(s, base.learning_rate)
    beta_1 = _beta_1(s, base)
    units = s.int("units", 16, 128, step=2, sampling="log", tier=2, default=base.units)
    batch = s.choice("batch_size", [32, 64, 128], tier=2, default=base.batch_size)
    depth = s.int("rnn_layers", 1, 2, tier=3, default=base.rnn_layers)
    cell = s.choice("cell", ["gru", "lstm"], tier=3, default=base.cell)
    schedule = _lr_schedule(s, base)
    embedding_dropout = s.float("embedding_dropout", 0.0, 0.5, tier=4, default=base.embedding_dropout)
    dropout = s.float("dropout", 0.0, 0.5, tier=4, default=base.dropout)
    return dict(
        learning_rate=lr, beta_1=beta_1, units=units, batch_size=batch,
        rnn_layers=depth, cell=cell, lr_schedule=schedule, embedding_dropout=embedding_dropout,
        dropout=dropout,
        # A trial trains one network: the default's seed ensemble would triple every trial's
        # cost without changing what the search compares.
        ensemble=1,
    )


def faces(s: Space, base) -> dict:
    """Triplet-loss encoder: rate, margin, batch shape, mining, regularisation; on the
    validation pairs' verification AUC.

    The margin alpha lives on squared distances of unit vectors (0..4), and what matters
    is its ratio to typical distances: log scale over 0.05..1.0 (FaceNet uses 0.2).
    """
    lr = _learning_rate(s, base.learning_rate)
    margin = s.float("margin", 0.05, 1.0, sampling="log", tier=1, default=base.margin)
    beta_1 = _beta_1(s, base)
    people = s.choice("people_per_batch", [4, 8, 16], tier=2, default=base.people_per_batch)
    images = s.choice("images_per_person", [2, 4, 8], tier=2, default=base.images_per_person)
    mining = s.choice("mining", ["batch_hard", "semi_hard"], tier=3, default=base.mining)
    weight_decay = _weight_decay(s, base)
    return dict(
        learning_rate=lr, margin=margin, beta_1=beta_1, people_per_batch=people,
        images_per_person=images, mining=mining, weight_decay=weight_decay,
    )


def translation(s: Space, base) -> dict:
    """Attention translator: rate, decoder width ("hidden units"), batch, encoder cell; on val_loss."""
    lr = _learning_rate(s, base.learning_rate)
    beta_1 = _beta_1(s, base)
    units = s.int("decoder_units", 32, 256, step=2, sampling="log", tier=2, default=base.decoder_units)
    batch = s.choice("batch_size", [32, 64, 100, 128], tier=2, default=base.batch_size)
    cell = s.choice("cell", ["lstm", "gru"], tier=3, default=base.cell)
    schedule = _lr_schedule(s, base)
    return dict(learning_rate=lr, beta_1=beta_1, decoder_units=units, encoder_units=max(1, units // 2),
                batch_size=batch, cell=cell, lr_schedule=schedule)


def generate(s: Space, base) -> dict:
    """Character LM: rate, units, batch, depth, cell, dropout; on val_loss (nats per symbol)."""
    lr = _learning_rate(s, base.learning_rate)
    beta_1 = _beta_1(s, base)
    units = s.int("units", 32, 512, step=2, sampling="log", tier=2, default=base.units)
    batch = s.choice("batch_size", [8, 16, 32, 64], tier=2, default=base.batch_size)
    depth = s.int("rnn_layers", 1, 3, tier=3, default=base.rnn_layers)
    cell = s.choice("cell", ["lstm", "gru"], tier=3, default=base.cell)
    dropout = s.float("dropout", 0.0, 0.5, tier=4, default=base.dropout)
    return dict(learning_rate=lr, beta_1=beta_1, units=units, batch_size=batch, rnn_layers=depth, cell=cell,
                dropout=dropout)


def wakeword(s: Space, base) -> dict:
    """Trigger-word model: rate, GRU width, batch, depth, dropout; on val_loss (per-step
    cross-entropy on the fixed validation clips)."""
    lr = _learning_rate(s, base.learning_rate)
    beta_1 = _beta_1(s, base)
    units = s.int("gru_units", 32, 256, step=2, sampling="log", tier=2, default=base.gru_units)
    batch = s.choice("batch_size", [16, 32, 64], tier=2, default=base.batch_size)
    depth = s.int("gru_layers", 1, 3, tier=3, default=base.gru_layers)
    dropout = s.float("dropout", 0.0, 0.5, tier=4, default=base.dropout)
    return dict(learning_rate=lr, beta_1=beta_1, gru_units=units, batch_size=batch, gru_layers=depth,
                dropout=dropout)


@dataclasses.dataclass(frozen=True)
class Tunable:
    """How to tune an app: its space, the metric its run's log.csv reports (the Task's
    monitor) and which config key `--max-epochs` sets. A trial trains through the Task."""

    space: Callable
    objective: str  # a column of the run's log.csv
    direction: str  # "max" | "min"
    budget: str = "epochs"


# app name -> how to tune it. A new app adds one line (and its space function above).
TUNABLES = {
    "classification": Tunable(classification, objective="val_accuracy", direction="max"),
    "detection": Tunable(detection, objective="val_loss", direction="min"),
    "embeddings": Tunable(embeddings, objective="loss", direction="min"),
    "style": Tunable(style, objective="loss", direction="min", budget="fast_steps"),
    "sentiment": Tunable(sentiment, objective="val_accuracy", direction="max"),
    "faces": Tunable(faces, objective="val_embedding_verification_auc", direction="max"),
    "translation": Tunable(translation, objective="val_loss", direction="min"),
    "generate": Tunable(generate, objective="val_loss", direction="min"),
    "wakeword": Tunable(wakeword, objective="val_loss", direction="min"),
}


def tunable(app: str) -> Tunable:

    if app not in APPS:
        raise ConfigError(f"unknown app {app!r}; choose from {', '.join(APPS)}")
    if app not in TUNABLES:
        raise ConfigError(f"{app} has no search space yet (add one to tuning/spaces.py)")
    return TUNABLES[app]


def declare(app: str, base, overrides=None, tiers=None):
    """(HyperParameters, Space) with the app's space declared and overrides checked."""
    import keras_tuner

    if tiers is not None and tiers < 1:
        raise ConfigError(f"--tiers: expected 1..4, got {tiers}")
    s = Space(keras_tuner.HyperParameters(), overrides, tiers)
    tunable(app).space(s, base)
    s.check_overrides(app)
    return s.hp, s


def overrides_for(app: str, base, values: dict, overrides=None, tiers=None) -> dict:
    """Config overrides for one trial's hyperparameter values."""
    import keras_tuner

    hp = keras_tuner.HyperParameters()
    hp.values.update(values)
    s = Space(hp, overrides, tiers)
    return tunable(app).space(s, base)
