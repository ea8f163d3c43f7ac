"""Per-instance input checks (apps/common/validation.py): header sizes against PIL, verdicts,
pixels equal to the unchecked decoder's, placeholders, texts."""

import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from apps.common import images, validation
from apps.common.errors import ConfigError

LIMITS = validation.ImageLimits(min_side=8, max_side=512, max_pixels=100_000)


def encode(pixels, fmt="PNG", image=lambda im: im, **options):
    buffer = io.BytesIO()
    image(Image.fromarray(pixels)).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def photo(height, width, channels=3, seed=0):
    shape = (height, width) if channels == 1 else (height, width, channels)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


FILES = {  # name -> (bytes, (height, width)); sizes that differ so swapped fields would show
    "png-rgb": (encode(photo(30, 41)), (30, 41)),
    "png-gray": (encode(photo(33, 12, 1)), (33, 12)),
    "png-rgba": (encode(photo(9, 300, 4)), (9, 300)),
    "png-palette": (encode(photo(20, 70), image=lambda im: im.convert("P")), (20, 70)),
    "jpeg": (encode(photo(31, 47), "JPEG"), (31, 47)),
    "jpeg-gray": (encode(photo(17, 250, 1), "JPEG"), (17, 250)),
    "gif": (encode(photo(26, 35), "GIF"), (26, 35)),
    "bmp": (encode(photo(29, 43), "BMP"), (29, 43)),
    "bmp-gray": (encode(photo(300, 11, 1), "BMP"), (300, 11)),
    "webp-lossy": (encode(photo(37, 53), "WEBP"), (37, 53)),
    "webp-lossless": (encode(photo(37, 53), "WEBP", lossless=True), (37, 53)),
    "webp-alpha": (encode(photo(45, 19, 4), "WEBP"), (45, 19)),  # VP8X
}


@pytest.mark.parametrize("name", sorted(FILES))
def test_header_size_is_the_files_size(name):
    data, size = FILES[name]
    kind, height, width = validation.image_header(tf.constant(data))
    assert int(kind) > 0 and (int(height), int(width)) == size == Image.open(io.BytesIO(data)).size[::-1]


def test_a_header_says_the_size_before_any_decoding():
    """A PNG cut after its IHDR claims 4000x4000: refused for its size, not as undecodable,
    so nothing was decoded; the same for a real (tiny, compressed) 4000x4000 PNG."""
    big = encode(np.zeros((4000, 4000), np.uint8))
    cut = big[:33]  # signature + IHDR chunk
    _, verdicts = validation.decode_checked_batch(tf.constant([big, cut]), 1, 28, LIMITS)
    assert [v.decode() for v in verdicts.numpy()] == ["image of 4000x4000 px: a side over the maximum of 512 px"] * 2


def test_verdicts_per_instance_and_placeholders():
    good = [FILES["png-rgb"][0], FILES["jpeg"][0], FILES["webp-lossless"][0], FILES["bmp"][0]]
    batch = [good[0], encode(np.zeros((1, 1), np.uint8)), b"", good[1], FILES["png-gray"][0],
             encode(photo(10, 400)), good[2], FILES["png-rgb"][0][:200], b"hello", good[3]]
    pixels, verdicts = validation.decode_checked_batch(tf.constant(batch), 3, 24, LIMITS)
    assert [v.decode() for v in verdicts.numpy()] == [
        "",
        "image of 1x1 px: a side under the minimum of 8 px",
        "not an image in a format the model decodes (PNG, JPEG, GIF, BMP, WebP)",
        "",
        "grayscale image (1 channel) but the model expects 3 channels (RGB)",
        "",  # 10x400 = 4,000 pixels, every side within limits
        "",
        validation.UNDECODABLE,  # a PNG cut inside its image data
        "not an image in a format the model decodes (PNG, JPEG, GIF, BMP, WebP)",
        "",
    ]
    ok = [0, 3, 5, 6, 9]
    want = images.decode_batch(tf.constant([batch[i] for i in ok]), 3, 24).numpy()
    np.testing.assert_array_equal(pixels.numpy()[ok], want)  # the unchecked decoder's pixels exactly
    bad = [i for i in range(len(batch)) if i not in ok]
    assert pixels.dtype == tf.float32 and not pixels.numpy()[bad].any()  # black placeholders
    too_many = validation.ImageLimits(max_pixels=3_999, min_side=8, max_side=512)
    _, verdicts = validation.decode_checked_batch(tf.constant([batch[5]]), 3, 24, too_many)
    assert verdicts.numpy()[0].decode() == "image of 400x10 px: over the maximum of 3999 pixels"


def test_gray_model_takes_colour_and_an_empty_batch_is_empty():
    pixels, verdicts = validation.decode_checked_batch(tf.constant([FILES["gif"][0]]), 1, 28, LIMITS)
    np.testing.assert_array_equal(pixels.numpy(), images.decode_batch(tf.constant([FILES["gif"][0]]), 1, 28).numpy())
    assert verdicts.numpy().tolist() == [b""]
    pixels, verdicts = validation.decode_checked_batch(tf.constant([], tf.string), 1, 28, LIMITS)
    assert pixels.shape == (0, 28, 28, 1) and verdicts.shape == (0,)
    _, verdicts = validation.decode_checked_batch(tf.constant([b"\x00"] * 3), 1, 28, LIMITS)  # all refused
    assert verdicts.shape == (3,)


def test_checks_survive_a_saved_model(tmp_path):
    module = tf.Module()
    module.f = tf.function(lambda b: validation.decode_checked_batch(b, 1, 16, LIMITS),
                           input_signature=[tf.TensorSpec([None], tf.string)])
    tf.saved_model.save(module, str(tmp_path))
    loaded = tf.saved_model.load(str(tmp_path))
    batch = tf.constant([FILES["png-gray"][0], FILES["png-gray"][0][:60], b"BM"])
    got, want = loaded.f(batch), module.f(batch)
    np.testing.assert_array_equal(got[0].numpy(), want[0].numpy())
    assert got[1].numpy().tolist() == want[1].numpy().tolist() == [
        b"", validation.UNDECODABLE.encode(), b"image of 0x0 px: a side under the minimum of 8 px"]


@pytest.mark.parametrize("values, message", [
    (dict(min_side=0), "min_side=0"),
    (dict(min_side=20, max_side=10), "min_side=20 > max_side=10"),
    (dict(min_side=10, max_pixels=99), "max_pixels=99: expected >= min_side**2 = 100"),
    (dict(max_side=True), "max_side=True"),
])
def test_limits_refuse_bad_values(values, message):
    with pytest.raises(ConfigError, match=message.replace("*", r"\*")):
        validation.ImageLimits(**values)


def test_text_verdicts():
    texts = ["A fine film.", "", "  \t\n ", "?! ... --", "😀😀", "café", "１２３", "x" * 21, "é" * 20, b"ok \xff"]
    got = [v.decode() for v in validation.text_verdicts(tf.constant(texts), 20).numpy()]
    assert got == [
        "", "empty or whitespace only", "empty or whitespace only",
        "no words: only punctuation or symbols", "no words: only punctuation or symbols", "", "",
        "text of 21 characters: over the maximum of 20", "", ""]
    assert validation.text_problems(texts[:4], 20) == got[:4] and validation.text_problems([], 5) == []
