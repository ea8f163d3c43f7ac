"""Splits and the tf.data input pipeline (augmentation lives here, not in the model)."""

import dataclasses

import numpy as np

from apps.common import sources
from apps.common.augment import AUGMENTATIONS, augmenter  # noqa: F401 - shared with faces, re-exported
from apps.common.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Splits:
    x_train: np.ndarray  # (N, H, W, C) uint8
    y_train: np.ndarray  # (N,) int64
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple

    @property
    def input_shape(self):
        return tuple(self.x_train.shape[1:])


def _subset(ds, idx):
    return ds.images[idx], ds.labels[idx]


def load_data(config) -> Splits:
    """Train / validation / test arrays for `config.data`.

    A source with its own test split (idx:, tfds:, folder: with train/ and test/)
    uses it; otherwise a fixed-seed stratified `test_holdout` is set aside. The
    validation part is a stratified `val_fraction` of what remains.
    """
    size = config.image_size or None
    full = sources.load_image_source(config.data, image_size=size, split="train")
    test = sources.load_image_source(config.data, image_size=size, split="test", missing_ok=True)
    if test is None:
        if not 0 < config.test_holdout < len(full.labels):
            raise ConfigError(
                f"test_holdout: expected 1..{len(full.labels) - 1} for {config.data} "
                f"({len(full.labels)} images), got {config.test_holdout}"
            )
        rest, held = sources.split_holdout(
            len(full.labels), config.test_holdout, config.seed, labels=full.labels
        )
        x_test, y_test = _subset(full, held)
        x_all, y_all = _subset(full, rest)
    else:
        x_test, y_test = test.images, test.labels
        x_all, y_all = full.images, full.labels
        if x_test.shape[1:] != x_all.shape[1:]:
            raise ConfigError(
                f"{config.data}: test images are {x_test.shape[1:]} but training images "
                f"{x_all.shape[1:]}; set image_size"
            )
    n_val = int(round(config.val_fraction * len(y_all)))
    if n_val < 1:
        raise ConfigError(f"val_fraction: {config.val_fraction} leaves no validation images")
    train_idx, val_idx = sources.split_holdout(len(y_all), n_val, config.seed + 1, labels=y_all)
    return Splits(
        x_train=x_all[train_idx], y_train=y_all[train_idx],
        x_val=x_all[val_idx], y_val=y_all[val_idx],
        x_test=x_test, y_test=y_test,
        class_names=tuple(full.class_names),
    )


def make_dataset(x, y, config, num_classes: int, *, training: bool):
    """Batched tf.data pipeline of (float pixels 0-255, one-hot labels); shuffled and
    augmented when `training`. One-hot so the loss can smooth labels."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if training:
        ds = ds.shuffle(len(x), seed=config.seed, reshuffle_each_iteration=True)
    ds = ds.batch(config.batch_size)
    ds = ds.map(
        lambda a, b: (tf.cast(a, tf.float32), tf.one_hot(b, num_classes)),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    if training:
        aug = augmenter(config, x.shape[1:])
        if aug is not None:
            ds = ds.map(
                lambda a, b: (aug(a, training=True), b), num_parallel_calls=tf.data.AUTOTUNE
            )
    return ds.prefetch(tf.data.AUTOTUNE)
