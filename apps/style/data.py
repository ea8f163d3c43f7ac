"""Content photos and style images.

Embedded names resolve to pinned package files (see `apps.common.packages.EMBEDDED`):
photos from scikit-image's wheel (astronaut, coffee, chelsea, rocket) and textures or
colourful images that serve as styles (brick, gravel, grass, hubble, ihc). Anything else
is read as an image file (PNG, JPEG, GIF, BMP, WebP, TIFF, ...).
"""

import os

import numpy as np

from apps.common import images as images_lib
from apps.common.errors import ConfigError, DataError
from apps.common.packages import EMBEDDED, fetch_package_file
from apps.style.config import VGG_LAYERS

CONTENT_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")
STYLE_IMAGES = ("ihc", "hubble", "brick", "gravel", "grass")
_SKIMAGE_FILES = {"hubble": "hubble_deep_field"}
# The networks pool 4 times before block5; smaller images have no block5 activations.
MIN_SIDE = 16


def embedded_names():
    return CONTENT_PHOTOS + STYLE_IMAGES


def image_path(name: str):
    """A file path for an embedded name or a user's file."""
    if name in embedded_names():

        # The scikit-image files pinned in the shared registry (the detection app uses them too).
        return fetch_package_file(EMBEDDED[f"skimage-{_SKIMAGE_FILES.get(name, name)}"])
    if not os.path.exists(name):
        raise DataError(f"{name}: no such file and not an embedded image "
                        f"(embedded: {', '.join(embedded_names())})")
    return name


def read_rgb(name: str) -> np.ndarray:
    """uint8 (H, W, 3) of an embedded name or image file; gray becomes RGB."""
    path = image_path(name)
    arr = images_lib.read_image_file(path, channels=3, allow_gray_to_rgb=True)
    if min(arr.shape[:2]) < MIN_SIDE:
        raise DataError(f"{name}: image is {arr.shape[1]}x{arr.shape[0]} pixels, smaller than the "
                        f"{MIN_SIDE}x{MIN_SIDE} the network needs")
    return arr


def fitted_size(height, width, size):
    """(h, w) with the longest side `size`, aspect kept, each side at least MIN_SIDE."""
    scale = size / max(height, width)
    return max(MIN_SIDE, round(height * scale)), max(MIN_SIDE, round(width * scale))


def resize_longest(arr: np.ndarray, size: int) -> np.ndarray:
    """Resize so the longest side is `size` (aspect kept; each side at least MIN_SIDE)."""
    from PIL import Image

    h, w = arr.shape[:2]
    new_h, new_w = fitted_size(h, w, size)
    if (new_h, new_w) == (h, w):
        return arr
    out = Image.fromarray(arr).resize((new_w, new_h), Image.Resampling.LANCZOS)
    return np.asarray(out, dtype=np.uint8)


def blend_weights(config) -> list[float]:
    """One weight per style, summing to 1 (equal when none are given)."""
    n = len(config.styles)
    if n == 0:
        raise ConfigError("styles: at least one style image is needed")
    weights = [float(w) for w in config.style_blend_weights] or [1.0] * n
    if len(weights) != n:
        raise ConfigError(f"style_blend_weights: {len(weights)} weights for {n} styles "
                          f"({', '.join(map(str, config.styles))}); give one weight per style")
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ConfigError(f"style_blend_weights: expected non-negative weights with a positive sum, "
                          f"got {weights}")
    total = sum(weights)
    return [w / total for w in weights]


def check_config(config) -> None:
    if config.image_size < MIN_SIDE:
        raise ConfigError(f"image_size: expected at least {MIN_SIDE}, got {config.image_size}")
    if config.style_scale <= 0:
        raise ConfigError(f"style_scale: expected > 0, got {config.style_scale}")
    if len(config.style_layer_weights) != len(config.style_layers):
        raise ConfigError(f"style_layer_weights: {len(config.style_layer_weights)} weights for "
                          f"{len(config.style_layers)} style layers; give one per layer")
    for layer in (config.content_layer, *config.style_layers):
        if layer not in VGG_LAYERS or (config.backbone != "vgg19" and layer.endswith("conv4")):
            raise ConfigError(f"layer {layer!r} is not a conv layer of {config.backbone}")
    choices = {"optimizer": ("lbfgs", "lbfgs-b", "adam"), "init": ("content", "noise", "style"),
               "backbone": ("vgg16-hed", "vgg16", "vgg19")}
    for key, allowed in choices.items():
        if getattr(config, key) not in allowed:
            raise ConfigError(f"{key}: expected one of {', '.join(allowed)}, got {getattr(config, key)!r}")
    if config.iterations < 0 or config.scales < 1:
        raise ConfigError(f"iterations >= 0 and scales >= 1 expected, got {config.iterations}, "
                          f"{config.scales}")
    blend_weights(config)
