"""Per-instance input checks inside serving graphs: a verdict string per instance ("" when fine).

An export returns these verdicts as its `error` output; `classics serve` answers a non-empty
one as {"error": ...} in that instance's place and the others with their outputs
(apps/common/serving). A refused instance is replaced by a placeholder (a black image, an
empty text) so the rest of the batch still runs.

Images (`decode_checked_batch`): the format and the size are read from the header bytes
before any decoding (PNG IHDR, GIF logical screen, BMP DIB header, WebP VP8/VP8L/VP8X,
JPEG through `tf.io.extract_jpeg_shape`), so a 4000x4000 image is refused without its
48 MB decode; then the channel count (a grayscale image for an RGB model) after decoding.
Bytes that fail to decode anyway (a corrupt or truncated body) are caught per instance: the
decoding runs in a `tf.data` pipeline with `ignore_errors()`, and an index missing from
its output is an undecodable instance.

Texts (`text_verdicts`): empty or whitespace-only, no letter or digit (only punctuation or
symbols), or over `max_chars` characters.
"""

import dataclasses

from apps.common import images as images_lib
from apps.common.errors import ConfigError

FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WebP")
_UNKNOWN, _PNG, _JPEG, _GIF, _BMP, _WEBP = range(6)
_HEAD = 32  # header bytes read; every size field of the formats above lies inside them


@dataclasses.dataclass(frozen=True)
class ImageLimits:
    """Sizes an export accepts, in pixels of the encoded image (before resizing)."""

    min_side: int = 8
    max_side: int = 4096
    max_pixels: int = 4096 * 1024

    def __post_init__(self):
        for name in ("min_side", "max_side", "max_pixels"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name}={value!r}: expected a positive integer (pixels)")
        if self.min_side > self.max_side:
            raise ConfigError(f"min_side={self.min_side} > max_side={self.max_side}")
        if self.max_pixels < self.min_side ** 2:
            raise ConfigError(f"max_pixels={self.max_pixels}: expected >= min_side**2 = {self.min_side ** 2}")


# ------------------------------------------------------------------------------ headers
def _bytes_at(head, start, count, big_endian=False):
    """Unsigned integer of `count` bytes of the int64 vector `head` at `start`."""
    value = head[start] * 0
    order = range(count) if big_endian else reversed(range(count))
    for i in order:
        value = value * 256 + head[start + i]
    return value


def _magic(padded, text: bytes, at: int = 0):
    import tensorflow as tf

    return tf.equal(tf.strings.substr(padded, at, len(text)), text)


def image_header(data):
    """One encoded image (scalar string) -> (format id, height, width) as int64 scalars read
    from the header; format id 0 (and sizes 0) when the bytes are none of FORMATS. A JPEG
    whose header `tf.io.extract_jpeg_shape` cannot read raises (caught as undecodable)."""
    import tensorflow as tf

    padded = tf.strings.join([data, tf.constant(b"\0" * _HEAD)])  # substr needs the bytes present
    head = tf.cast(tf.io.decode_raw(tf.strings.substr(padded, 0, _HEAD), tf.uint8), tf.int64)
    zero = tf.constant(0, tf.int64)

    def png():  # IHDR: width, height as big-endian uint32 at 16 and 20
        return _bytes_at(head, 20, 4, True), _bytes_at(head, 16, 4, True)

    def gif():  # logical screen: little-endian uint16 width, height at 6 and 8
        return _bytes_at(head, 8, 2), _bytes_at(head, 6, 2)

    def bmp():  # DIB header size at 14: 12 (OS/2: uint16 sizes) or more (int32, height < 0: top-down)
        core = tf.equal(_bytes_at(head, 14, 4), 12)

        def signed(start):
            value = _bytes_at(head, start, 4)
            return tf.abs(tf.where(value >= 2 ** 31, value - 2 ** 32, value))

        return (tf.where(core, _bytes_at(head, 20, 2), signed(22)),
                tf.where(core, _bytes_at(head, 18, 2), signed(18)))

    def webp():
        chunk = tf.strings.substr(padded, 12, 4)
        b = head
        lossy = (tf.bitwise.bitwise_and(_bytes_at(b, 28, 2), 0x3FFF),
                 tf.bitwise.bitwise_and(_bytes_at(b, 26, 2), 0x3FFF))
        lossless = (1 + (tf.bitwise.bitwise_and(b[24], 0xF) * 1024 + b[23] * 4
                         + tf.bitwise.right_shift(b[22], 6)),
                    1 + tf.bitwise.bitwise_and(b[22], 0x3F) * 256 + b[21])
        extended = (1 + _bytes_at(b, 27, 3), 1 + _bytes_at(b, 24, 3))
        pick = [tf.equal(chunk, b"VP8 "), tf.equal(chunk, b"VP8L"), tf.equal(chunk, b"VP8X")]
        h = tf.where(pick[0], lossy[0], tf.where(pick[1], lossless[0], tf.where(pick[2], extended[0], zero)))
        w = tf.where(pick[0], lossy[1], tf.where(pick[1], lossless[1], tf.where(pick[2], extended[1], zero)))
        return h, w

    def jpeg():
        shape = tf.cast(tf.io.extract_jpeg_shape(data), tf.int64)
        return shape[0], shape[1]

    kind = tf.case([
        (_magic(padded, b"\x89PNG\r\n\x1a\n"), lambda: tf.constant(_PNG, tf.int64)),
        (_magic(padded, b"\xff\xd8\xff"), lambda: tf.constant(_JPEG, tf.int64)),
        (tf.logical_or(_magic(padded, b"GIF87a"), _magic(padded, b"GIF89a")), lambda: tf.constant(_GIF, tf.int64)),
        (_magic(padded, b"BM"), lambda: tf.constant(_BMP, tf.int64)),
        (tf.logical_and(_magic(padded, b"RIFF"), _magic(padded, b"WEBP", 8)), lambda: tf.constant(_WEBP, tf.int64)),
    ], default=lambda: tf.constant(_UNKNOWN, tf.int64))
    height, width = tf.switch_case(
        tf.cast(kind, tf.int32), [lambda: (zero, zero), png, jpeg, gif, bmp, webp])
    return kind, height, width


def header_verdict(kind, height, width, limits: ImageLimits):
    """The verdict ("" or one line) on a header's format and size."""
    import tensorflow as tf

    size = tf.strings.join([tf.strings.as_string(width), "x", tf.strings.as_string(height), " px"])
    checks = [
        (tf.equal(kind, _UNKNOWN), tf.constant(f"not an image in a format the model decodes ({', '.join(FORMATS)})")),
        (tf.minimum(height, width) < limits.min_side,
         tf.strings.join(["image of ", size, f": a side under the minimum of {limits.min_side} px"])),
        (tf.maximum(height, width) > limits.max_side,
         tf.strings.join(["image of ", size, f": a side over the maximum of {limits.max_side} px"])),
        (height * width > limits.max_pixels,
         tf.strings.join(["image of ", size, f": over the maximum of {limits.max_pixels} pixels"])),
    ]
    verdict = tf.constant("")
    for failed, message in reversed(checks):  # the first failed check wins
        verdict = tf.where(failed, message, verdict)
    return verdict


# ------------------------------------------------------------------------------ images
def _checked_image(data, channels: int, size: int, limits: ImageLimits):
    """One encoded image -> (uint8 (size, size, channels), verdict). Raises (in the graph)
    only when the bytes cannot be decoded."""
    import tensorflow as tf

    placeholder = tf.zeros([size, size, channels], tf.uint8)
    verdict = header_verdict(*image_header(data), limits)

    def decode():  # as images.decode_image_tensor, with the channel check between
        raw = tf.io.decode_image(data, channels=0, dtype=tf.uint8, expand_animations=False)
        if channels == 1:
            return images_lib.conform_image_tensor(raw, channels, size), tf.constant("")
        gray = tf.less_equal(tf.shape(raw)[-1], 2)
        return tf.cond(gray, lambda: (placeholder, tf.constant(
            "grayscale image (1 channel) but the model expects 3 channels (RGB)")),
            lambda: (images_lib.conform_image_tensor(raw, channels, size), tf.constant("")))

    return tf.cond(tf.equal(verdict, ""), decode, lambda: (placeholder, verdict))


# Instances decoded (and, for photos, detected and aligned) at once within a batch.
PARALLEL = 2
UNDECODABLE = "undecodable image: corrupt or truncated data"


def checked_batch(image_bytes, per_image, placeholder):
    """In-graph: string (N,) -> (outputs (N, ...) stacked, string (N,) verdicts).

    `per_image(data)` turns one encoded image into (outputs, verdict): a structure of
    tensors shaped as `placeholder`'s and "" or why it was refused; it may raise (in the
    graph) only when the bytes cannot be decoded, which makes that instance's verdict
    UNDECODABLE. A refused or undecodable instance gets `placeholder`'s values."""
    import tensorflow as tf

    n = tf.shape(image_bytes, out_type=tf.int64)[0]

    def checked(i, data):
        outputs, verdict = per_image(data)
        return i, outputs, verdict

    # Errors drop their element; a sentinel (-1) after the batch makes the single batch
    # below exist even when every instance failed or the batch is empty.
    options = tf.data.Options()
    options.autotune.enabled = False
    options.experimental_optimization.apply_default_optimizations = False
    sentinel = tf.data.Dataset.from_tensors((tf.constant(-1, tf.int64), placeholder, tf.constant("")))
    done = (tf.data.Dataset.from_tensor_slices((tf.range(n), image_bytes))
            .map(checked, num_parallel_calls=PARALLEL, deterministic=True).ignore_errors()
            .concatenate(sentinel).batch(n + 1).with_options(options))
    index, outputs, verdicts = done.get_single_element()
    index, verdicts = index[:-1, None], verdicts[:-1]  # without the sentinel
    decoded = tf.scatter_nd(index, tf.ones_like(index[:, 0], tf.bool), [n])

    def scatter(stacked, like):
        value = tf.scatter_nd(index, stacked[:-1], tf.concat([[n], tf.shape(like, out_type=tf.int64)], 0))
        filler = tf.broadcast_to(like, tf.shape(value))  # the placeholder where nothing was decoded
        return tf.where(tf.reshape(decoded, [-1] + [1] * len(like.shape)), value, filler)

    outputs = tf.nest.map_structure(scatter, outputs, placeholder)
    verdicts = tf.where(decoded, tf.scatter_nd(index, verdicts, [n]), UNDECODABLE)
    return outputs, verdicts


def decode_checked_batch(image_bytes, channels: int, image_size: int, limits: ImageLimits):
    """In-graph: string (N,) of encoded images -> (float32 (N, size, size, channels) pixels
    0..255, string (N,) verdicts). A refused or undecodable instance gets a black placeholder;
    an accepted one exactly `images.decode_batch`'s pixels."""
    import tensorflow as tf

    images_lib.check_channels(channels, allow_none=False)
    images_lib.check_image_size(image_size, allow_none=False)
    size = int(image_size)
    pixels, verdicts = checked_batch(image_bytes, lambda data: _checked_image(data, channels, size, limits),
                                     tf.zeros([size, size, channels], tf.uint8))
    return tf.cast(pixels, tf.float32), verdicts


def decode_checked_photo(data, limits: ImageLimits):
    """One encoded photo -> (uint8 (H, W, 3) at its own size, grey repeated to RGB; verdict).
    A refused one is a 1x1 black placeholder. Raises (in the graph) only on undecodable bytes."""
    import tensorflow as tf

    verdict = header_verdict(*image_header(data), limits)

    def decode():
        raw = tf.io.decode_image(data, channels=0, dtype=tf.uint8, expand_animations=False)
        return images_lib.conform_image_tensor(raw, 3, None)

    image = tf.cond(tf.equal(verdict, ""), decode, lambda: tf.zeros([1, 1, 3], tf.uint8))
    return image, verdict


# ------------------------------------------------------------------------------ texts
def text_verdicts(text, max_chars: int):
    """In-graph: string (N,) -> string (N,) verdicts: "" or why the text cannot be read
    (empty or whitespace only; no letter or digit; over `max_chars` characters)."""
    import tensorflow as tf

    text = tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="replace")
    length = tf.strings.length(text, unit="UTF8_CHAR")
    checks = [
        (tf.strings.regex_full_match(text, r"\s*"), tf.constant("empty or whitespace only")),
        (tf.logical_not(tf.strings.regex_full_match(text, r"(?s).*[\pL\pN].*")),
         tf.constant("no words: only punctuation or symbols")),
        (length > max_chars, tf.strings.join(["text of ", tf.strings.as_string(length),
                                              f" characters: over the maximum of {max_chars}"])),
    ]
    verdict = tf.fill(tf.shape(text), "")
    for failed, message in reversed(checks):
        verdict = tf.where(failed, message, verdict)
    return verdict


def text_problems(texts, max_chars: int) -> list:
    """`text_verdicts` of Python strings (eagerly): the CLI refuses what the export refuses."""
    import tensorflow as tf

    if not texts:
        return []
    verdicts = text_verdicts(tf.constant([str(t) for t in texts]), max_chars)
    return [v.decode("utf-8") for v in verdicts.numpy()]
