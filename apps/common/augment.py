"""Random image augmentation shared by the image apps (classification, faces).

A Keras model of random layers applied per image, seeded by `config.seed`. Reads
`config.augment` (names below) and the parameters of the ones chosen: `crop_padding`
(pixels), `rotation_degrees`, `contrast`, and, for configs that define them, `zoom` and
`brightness` (fractions).
"""

from apps.common.errors import ConfigError

AUGMENTATIONS = ("flip", "crop", "rotation", "contrast", "zoom", "brightness")


def augmenter(config, image_shape):
    """A Keras model of random augmentations (applied per image, seeded), or None."""
    import keras

    unknown = sorted(set(config.augment) - set(AUGMENTATIONS))
    if unknown:
        raise ConfigError(f"augment: unknown {unknown}; choose from {', '.join(AUGMENTATIONS)}")
    ops = []
    seed = config.seed
    if "flip" in config.augment:
        ops.append(keras.layers.RandomFlip("horizontal", seed=seed))
    if "crop" in config.augment and config.crop_padding > 0:
        # A random crop of the zero-padded image is a random shift with zero fill.
        h, w = image_shape[0], image_shape[1]
        ops.append(keras.layers.RandomTranslation(
            config.crop_padding / h, config.crop_padding / w,
            fill_mode="constant", interpolation="nearest", seed=seed + 1,
        ))
    if "rotation" in config.augment and config.rotation_degrees > 0:
        ops.append(keras.layers.RandomRotation(
            config.rotation_degrees / 360.0, fill_mode="constant", seed=seed + 2
        ))
    if "contrast" in config.augment and config.contrast > 0:
        ops.append(keras.layers.RandomContrast(config.contrast, value_range=(0, 255), seed=seed + 3))
    zoom = getattr(config, "zoom", 0.0)
    if "zoom" in config.augment and zoom > 0:
        ops.append(keras.layers.RandomZoom(zoom, fill_mode="constant", seed=seed + 4))
    brightness = getattr(config, "brightness", 0.0)
    if "brightness" in config.augment and brightness > 0:
        ops.append(keras.layers.RandomBrightness(brightness, value_range=(0, 255), seed=seed + 5))
    if not ops:
        return None
    return keras.Sequential(ops, name="augment")
