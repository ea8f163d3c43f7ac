"""Adam with the learning-rate schedule a `TrainConfig` describes (the one optimizer factory
of every app that trains through `fit`)."""

import dataclasses


def learning_rate_schedule(config, steps_per_epoch: int):
    """The learning rate as a Keras schedule (or a float for "constant")."""
    import keras

    total = max(1, config.epochs * steps_per_epoch)
    warmup = int(config.warmup_epochs * steps_per_epoch)
    if config.lr_schedule == "constant":
        return config.learning_rate
    if config.lr_schedule == "cosine":
        if warmup:
            return keras.optimizers.schedules.CosineDecay(
                0.0, max(1, total - warmup), warmup_target=config.learning_rate, warmup_steps=warmup)
        return keras.optimizers.schedules.CosineDecay(config.learning_rate, total)
    return keras.optimizers.schedules.ExponentialDecay(config.learning_rate, steps_per_epoch,
                                                       config.lr_decay_rate)


def make_optimizer(config, steps_per_epoch: int, learning_rate=None):
    """Adam at `config.learning_rate` (or `learning_rate`, e.g. a fine-tuning phase's)."""
    import keras

    if learning_rate is not None:
        config = dataclasses.replace(config, learning_rate=learning_rate)
    return keras.optimizers.Adam(learning_rate_schedule(config, steps_per_epoch), beta_1=config.beta_1)
