"""Decode and validate image files.

Two decoding paths live here, on purpose:

* `read_image_file` decodes with PIL only (no TensorFlow import). Dataset loaders use it
  to read whole folders of images of many formats (PNG, JPEG, GIF, BMP, WebP, TIFF,
  PGM/PPM, ...).
* `decode_for_model` and `decode_batch` are the *model input contract*. An exported serving
  signature takes encoded image bytes and runs `decode_batch` in-graph; the CLI's
  `predict` runs `decode_for_model` on a file. Both go through the same per-image function
  (`decode_image_tensor`), so a file predicted from the CLI and the same bytes sent to the
  served model give identical pixels, hence identical predictions. `decode_for_model`
  additionally validates the bytes with PIL first (`validate_image_bytes`), because
  `tf.io.decode_image` silently accepts some truncated files and raises unreadable
  errors for others.

Channel conversions are the same on both paths: grayscale -> RGB repeats the gray value,
RGB -> grayscale is PIL's integer luminance ``(R*19595 + G*38470 + B*7471 + 0x8000) >> 16``
(ITU-R 601-2, what ``Image.convert("L")`` computes), alpha is dropped (not composited),
16-bit samples keep their high byte. Resizing differs: PIL bilinear (antialiased when
shrinking) in `read_image_file`, `tf.image.resize` bilinear in the model path.

Every bad input raises `DataError` with a one-line message that names the file.
"""

from __future__ import annotations

import io
import os
import zlib
from typing import TYPE_CHECKING

import numpy as np

from apps.common.errors import ConfigError, DataError

if TYPE_CHECKING:  # pragma: no cover
    import tensorflow as tf

#: File suffixes treated as images when scanning folders (PIL can decode all of them).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".pgm", ".ppm", ".tif", ".tiff",
                  ".webp")

#: PIL format names that `tf.io.decode_image` (hence a serving signature) can decode.
MODEL_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")

_GRAY_MODES = ("1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F")

# PIL's errors for broken image data are not one family; these cover what its decoders raise.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError,
                  zlib.error, MemoryError)


def check_channels(channels: int | None, *, allow_none: bool = True) -> None:
    """Raise ConfigError unless `channels` is 1 or 3 (or None when allowed)."""
    if channels is None and allow_none:
        return
    if isinstance(channels, bool) or channels not in (1, 3):
        raise ConfigError(f"channels: expected 1 (grayscale) or 3 (RGB), got {channels!r}")


def check_image_size(image_size: int | None, *, allow_none: bool = True) -> None:
    """Raise ConfigError unless `image_size` is a positive int (or None when allowed)."""
    if image_size is None and allow_none:
        return
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) \
            or image_size < 1:
        raise ConfigError(f"image_size: expected a positive integer (square side in pixels), "
                          f"got {image_size!r}")


def _gray_error(name: str) -> DataError:
    return DataError(f"{name}: grayscale image (1 channel) but the model expects 3 channels "
                     "(RGB)")


def _open_loaded(source, name: str):
    """Open an image with PIL and force a full decode; return the loaded PIL image."""
    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(source)
    except FileNotFoundError:
        raise DataError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{name}: is a directory, expected an image file") from None
    except UnidentifiedImageError:
        raise DataError(f"{name}: not an image file (PIL cannot identify its format; "
                        "expected PNG, JPEG, GIF, BMP, WebP, ...)") from None
    except Image.DecompressionBombError as exc:
        raise DataError(f"{name}: image too large to decode safely ({exc})") from None
    except PermissionError:
        raise DataError(f"{name}: permission denied") from None
    except _DECODE_ERRORS as exc:
        raise DataError(f"{name}: truncated or corrupt image ({_one_line(exc)})") from None
    try:
        img.load()
    except Image.DecompressionBombError as exc:
        img.close()
        raise DataError(f"{name}: image too large to decode safely ({exc})") from None
    except _DECODE_ERRORS as exc:
        img.close()
        raise DataError(f"{name}: truncated or corrupt image ({_one_line(exc)})") from None
    return img


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _pil_to_array(img, name: str) -> np.ndarray:
    """Loaded PIL image -> uint8 (H, W, 1) for gray modes or (H, W, 3) for colour modes."""
    mode = img.mode
    try:
        if mode == "L":
            arr = np.asarray(img, dtype=np.uint8)
        elif mode in ("1", "LA", "La"):
            arr = np.asarray(img.convert("L"), dtype=np.uint8)
        elif mode.startswith("I;16"):
            arr = (np.asarray(img).astype(np.uint16) >> 8).astype(np.uint8)
        elif mode == "I":
            raw = np.asarray(img, dtype=np.int64)
            raw = np.clip(raw, 0, 65535)
            arr = (raw >> 8 if raw.max(initial=0) > 255 else raw).astype(np.uint8)
        elif mode == "F":
            arr = np.clip(np.rint(np.asarray(img, dtype=np.float64)), 0, 255).astype(np.uint8)
        elif mode == "RGB":
            arr = np.asarray(img, dtype=np.uint8)
        elif mode in ("P", "PA"):
            rgba = img.convert("RGBA")
            arr = np.asarray(rgba, dtype=np.uint8)[..., :3]
        else:  # RGBA, RGBX, CMYK, YCbCr, LAB, HSV, ...
            arr = np.asarray(img.convert("RGB"), dtype=np.uint8)
    except _DECODE_ERRORS as exc:
        raise DataError(f"{name}: cannot convert {mode} image to pixels "
                        f"({_one_line(exc)})") from None
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[-1] not in (1, 3) or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise DataError(f"{name}: unexpected pixel array shape {arr.shape} from a {mode} image")
    return np.ascontiguousarray(arr)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """uint8 (..., 3) RGB -> uint8 (..., 1) gray, bit-identical to PIL ``convert("L")``."""
    r = rgb.astype(np.int32)
    gray = (r[..., 0] * 19595 + r[..., 1] * 38470 + r[..., 2] * 7471 + 0x8000) >> 16
    return gray.astype(np.uint8)[..., None]


def convert_channels(arr: np.ndarray, channels: int | None, *, name: str,
                     allow_gray_to_rgb: bool = False) -> np.ndarray:
    """Convert uint8 (H, W, C) (C in 1, 3) to `channels` (None keeps it)."""
    check_channels(channels)
    have = arr.shape[-1]
    if channels is None or channels == have:
        return arr
    if channels == 1:
        return luminance(arr)
    if not allow_gray_to_rgb:
        raise _gray_error(name)
    return np.repeat(arr, 3, axis=-1)


def resize_array(arr: np.ndarray, image_size: int | None) -> np.ndarray:
    """Resize uint8 (H, W, C) to (image_size, image_size, C) with PIL bilinear."""
    from PIL import Image

    check_image_size(image_size)
    if image_size is None or arr.shape[:2] == (image_size, image_size):
        return arr
    size = int(image_size)
    if arr.shape[-1] == 1:
        out = Image.fromarray(arr[..., 0]).resize((size, size), Image.Resampling.BILINEAR)
        return np.asarray(out, dtype=np.uint8)[..., None]
    out = Image.fromarray(arr).resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(out, dtype=np.uint8)


def conform_array(arr: np.ndarray, *, channels: int | None = None,
                  image_size: int | None = None, name: str = "image",
                  allow_gray_to_rgb: bool = True) -> np.ndarray:
    """Channel conversion then resize of an in-memory uint8 (H, W, C) image."""
    return resize_array(convert_channels(arr, channels, name=name,
                                         allow_gray_to_rgb=allow_gray_to_rgb), image_size)


def read_image_file(path, *, channels: int | None = None, image_size: int | None = None,
                    allow_gray_to_rgb: bool = False) -> np.ndarray:
    """Read an image file with PIL -> uint8 (H, W, C).

    The file is fully decoded, so a truncated file raises DataError. `channels=None` keeps
    the file's own kind: 1 for grayscale modes, 3 for everything else (alpha is dropped).
    `channels=1` converts colour to luminance; `channels=3` on a grayscale file raises
    DataError unless `allow_gray_to_rgb` (dataset loading passes True, prediction False).
    `image_size` resizes to (image_size, image_size) with PIL bilinear, after the channel
    conversion.
    """
    check_channels(channels)
    check_image_size(image_size)
    name = os.fspath(path)
    img = _open_loaded(path, name)
    try:
        arr = _pil_to_array(img, name)
    finally:
        img.close()
    return conform_array(arr, channels=channels, image_size=image_size, name=name,
                         allow_gray_to_rgb=allow_gray_to_rgb)


def validate_image_bytes(data: bytes, name: str, channels: int | None, *,
                         allow_gray_to_rgb: bool = False) -> None:
    """Check encoded image bytes before they reach a model's decoder.

    Raises DataError (naming `name`) when the bytes are empty, not an image, in a format
    `tf.io.decode_image` cannot read (anything but PNG, JPEG, GIF, BMP, WebP), truncated
    or corrupt, or grayscale while the model expects 3 channels (unless
    `allow_gray_to_rgb`).
    """
    check_channels(channels)
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise DataError(f"{name}: expected encoded image bytes, got {type(data).__name__}")
    if len(data) == 0:
        raise DataError(f"{name}: empty file, not an image")
    img = _open_loaded(io.BytesIO(bytes(data)), name)
    try:
        fmt = img.format or "unknown"
        if fmt not in MODEL_FORMATS:
            raise DataError(f"{name}: {fmt} image, but the model decodes only "
                            f"{', '.join(MODEL_FORMATS)}; convert it to PNG")
        if channels == 3 and img.mode in _GRAY_MODES and not allow_gray_to_rgb:
            raise _gray_error(name)
    finally:
        img.close()


# --------------------------------------------------------------------------------------
# The in-graph decoder shared by serving signatures and `decode_for_model`.


def decode_image_tensor(data: tf.Tensor, channels: int, image_size: int | None) -> tf.Tensor:
    """One encoded image (scalar string tensor) -> uint8 (H, W, channels) tensor.

    Decodes with ``tf.io.decode_image(channels=0, expand_animations=False)`` (first frame
    of an animation), converts channels (gray->RGB repeats, RGB->gray with PIL's integer
    luminance, alpha dropped) and, when `image_size` is given and the size differs, resizes
    with ``tf.image.resize`` (bilinear, no antialias), rounds and clips back to uint8.
    Works eagerly and inside `tf.function` / `tf.map_fn`.
    """
    import tensorflow as tf

    check_channels(channels, allow_none=False)
    check_image_size(image_size)
    img = tf.io.decode_image(data, channels=0, dtype=tf.uint8, expand_animations=False)
    return conform_image_tensor(img, channels, image_size)


def conform_image_tensor(img: tf.Tensor, channels: int, image_size: int | None) -> tf.Tensor:
    """Decoded uint8 (H, W, C) -> uint8 (H, W, channels), resized when `image_size` is
    given: the conversions of `decode_image_tensor` (which see)."""
    import tensorflow as tf

    n_ch = tf.shape(img)[-1]
    is_gray = tf.less_equal(n_ch, 2)  # L or LA

    if channels == 1:
        def _lum():
            rgb = tf.cast(img[..., :3], tf.int32)
            gray = (rgb[..., 0] * 19595 + rgb[..., 1] * 38470 + rgb[..., 2] * 7471 + 0x8000)
            return tf.cast(tf.bitwise.right_shift(gray, 16), tf.uint8)[..., None]

        img = tf.cond(is_gray, lambda: img[..., :1], _lum)
    else:
        img = tf.cond(is_gray, lambda: tf.tile(img[..., :1], [1, 1, 3]), lambda: img[..., :3])
    img = tf.ensure_shape(img, [None, None, channels])

    if image_size is not None:
        size = int(image_size)
        shape = tf.shape(img)
        same = tf.logical_and(tf.equal(shape[0], size), tf.equal(shape[1], size))

        def _resize():
            out = tf.image.resize(img, [size, size], method="bilinear")
            return tf.cast(tf.clip_by_value(tf.round(out), 0.0, 255.0), tf.uint8)

        img = tf.cond(same, lambda: img, _resize)
        img = tf.ensure_shape(img, [size, size, channels])
    return img


def decode_batch(image_bytes: tf.Tensor, channels: int, image_size: int) -> tf.Tensor:
    """In-graph batch decoder for export signatures.

    string tensor (N,) of encoded images -> float32 (N, image_size, image_size, channels)
    with values 0..255 (integers; normalisation is the model's job). Each element goes
    through `decode_image_tensor`, the same function `decode_for_model` uses.
    """
    import tensorflow as tf

    check_channels(channels, allow_none=False)
    check_image_size(image_size, allow_none=False)
    size = int(image_size)
    images = tf.map_fn(
        lambda b: decode_image_tensor(b, channels, size),
        image_bytes,
        fn_output_signature=tf.TensorSpec([size, size, channels], tf.uint8),
    )
    return tf.cast(images, tf.float32)


def decode_for_model(path, channels: int, image_size: int | None, *,
                     allow_gray_to_rgb: bool = False) -> np.ndarray:
    """Decode an image file exactly as the exported serving signature does.

    Contract: for any file accepted here, ``decode_for_model(path, c, s)`` equals
    ``decode_batch([open(path, "rb").read()], c, s)[0]`` cast to uint8, so CLI predictions
    equal served ones. The bytes are first validated with PIL (`validate_image_bytes`:
    format, truncation, grayscale for an RGB model), then decoded with
    `decode_image_tensor`. Returns uint8 (H, W, channels), (image_size, image_size,
    channels) when `image_size` is given.
    """
    import tensorflow as tf

    check_channels(channels, allow_none=False)
    check_image_size(image_size)
    name = os.fspath(path)
    data = read_bytes(path)
    validate_image_bytes(data, name, channels, allow_gray_to_rgb=allow_gray_to_rgb)
    try:
        out = decode_image_tensor(tf.constant(data), channels, image_size)
    except (tf.errors.OpError, ValueError) as exc:
        raise DataError(f"{name}: the model's decoder rejected the image "
                        f"({_one_line(exc)})") from None
    return out.numpy()


def read_bytes(path) -> bytes:
    """The bytes of an image file; DataError naming it when it cannot be read."""
    name = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        raise DataError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{name}: is a directory, expected an image file") from None
    except OSError as exc:
        raise DataError(f"{name}: cannot read ({_one_line(exc)})") from None
