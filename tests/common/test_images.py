"""Image decoding and validation: the PIL path and the model (serving) path."""

import io
import re

import numpy as np
import pytest
from PIL import Image

from apps.common.errors import ConfigError, DataError
from apps.common.images import (
    decode_batch,
    decode_for_model,
    luminance,
    read_image_file,
    validate_image_bytes,
)

GRAY_MSG = "grayscale image (1 channel) but the model expects 3 channels (RGB)"


def _rgb(h=12, w=10, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _save(path, arr, fmt=None, **kw):
    img = Image.fromarray(arr[..., 0] if arr.ndim == 3 and arr.shape[-1] == 1 else arr)
    img.save(path, fmt, **kw)
    return path


def _encoded(arr, fmt, **kw):
    bio = io.BytesIO()
    Image.fromarray(arr).save(bio, fmt, **kw)
    return bio.getvalue()


def test_read_png_rgb_roundtrip(tmp_path):
    arr = _rgb()
    out = read_image_file(_save(tmp_path / "a.png", arr))
    assert out.dtype == np.uint8 and out.shape == (12, 10, 3)
    np.testing.assert_array_equal(out, arr)


def test_read_rgb_as_gray_is_pil_luminance(tmp_path):
    arr = _rgb()
    out = read_image_file(_save(tmp_path / "a.png", arr), channels=1)
    assert out.shape == (12, 10, 1)
    np.testing.assert_array_equal(out[..., 0], np.asarray(Image.fromarray(arr).convert("L")))
    np.testing.assert_array_equal(luminance(arr), out)


def test_gray_for_rgb_model_is_refused_unless_allowed(tmp_path):
    gray = _rgb()[..., :1]
    path = _save(tmp_path / "g.png", gray)
    with pytest.raises(DataError) as info:
        read_image_file(path, channels=3)
    assert str(info.value) == f"{path}: {GRAY_MSG}"
    out = read_image_file(path, channels=3, allow_gray_to_rgb=True)
    assert out.shape == (12, 10, 3)
    np.testing.assert_array_equal(out, np.repeat(gray, 3, axis=-1))
    assert read_image_file(path).shape == (12, 10, 1)


def test_rgba_drops_alpha_and_resize(tmp_path):
    rgba = np.concatenate([_rgb(), np.full((12, 10, 1), 7, np.uint8)], axis=-1)
    path = tmp_path / "a.png"
    Image.fromarray(rgba, "RGBA").save(path)
    np.testing.assert_array_equal(read_image_file(path, channels=3), rgba[..., :3])
    out = read_image_file(path, channels=3, image_size=5)
    assert out.shape == (5, 5, 3) and out.dtype == np.uint8


def test_16bit_png_keeps_high_byte(tmp_path):
    raw = np.random.default_rng(1).integers(0, 65536, (6, 7), dtype=np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(raw).save(path)
    np.testing.assert_array_equal(read_image_file(path)[..., 0], (raw >> 8).astype(np.uint8))


def test_truncated_jpeg(tmp_path):
    data = _encoded(_rgb(64, 64), "JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"cut\.jpg: truncated or corrupt image \("):
        read_image_file(path)


def test_not_an_image_and_missing(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("hello")
    with pytest.raises(DataError, match=r"notes\.png: not an image file"):
        read_image_file(path)
    with pytest.raises(DataError, match=r"nope\.png: no such file"):
        read_image_file(tmp_path / "nope.png")
    with pytest.raises(DataError, match="is a directory"):
        read_image_file(tmp_path)


def test_bad_channels_argument(tmp_path):
    with pytest.raises(ConfigError, match="channels: expected 1"):
        read_image_file(tmp_path / "x.png", channels=4)
    with pytest.raises(ConfigError, match="image_size: expected a positive integer"):
        read_image_file(tmp_path / "x.png", image_size=0)


def test_validate_image_bytes():
    validate_image_bytes(_encoded(_rgb(), "PNG"), "ok.png", 3)
    validate_image_bytes(_encoded(_rgb(), "PNG"), "ok.png", 1)
    with pytest.raises(DataError, match="empty.png: empty file"):
        validate_image_bytes(b"", "empty.png", 3)
    with pytest.raises(DataError, match="x.bin: not an image file"):
        validate_image_bytes(b"\x00" * 100, "x.bin", 3)
    jpeg = _encoded(_rgb(64, 64), "JPEG")
    with pytest.raises(DataError, match="cut.jpg: truncated or corrupt image"):
        validate_image_bytes(jpeg[: len(jpeg) // 2], "cut.jpg", 3)
    with pytest.raises(DataError, match="pic.tif: TIFF image, but the model decodes only"):
        validate_image_bytes(_encoded(_rgb(), "TIFF"), "pic.tif", 3)
    gray = _encoded(_rgb()[..., 0], "PNG")
    with pytest.raises(DataError, match=re.escape(f"g.png: {GRAY_MSG}")):
        validate_image_bytes(gray, "g.png", 3)
    validate_image_bytes(gray, "g.png", 3, allow_gray_to_rgb=True)
    validate_image_bytes(gray, "g.png", 1)


@pytest.fixture(scope="module")
def tf():
    import tensorflow as tf

    return tf


def _batch(tf, datas, channels, size, graph):
    fn = (tf.function(lambda x: decode_batch(x, channels, size)) if graph
          else (lambda x: decode_batch(x, channels, size)))
    out = fn(tf.constant(datas))
    assert out.dtype == tf.float32
    return out.numpy()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [20, 12])  # 12x12 source: 20 resizes, 12 keeps the size
def test_decode_for_model_equals_decode_batch(tmp_path, tf, fmt, channels, size):
    arr = _rgb(12, 12, seed=size + channels)
    path = tmp_path / f"img.{fmt.lower()}"
    path.write_bytes(_encoded(arr, fmt))
    single = decode_for_model(path, channels, size)
    assert single.dtype == np.uint8 and single.shape == (size, size, channels)
    for graph in (False, True):
        batch = _batch(tf, [path.read_bytes(), path.read_bytes()], channels, size, graph)
        assert batch.shape == (2, size, size, channels)
        np.testing.assert_array_equal(batch[0], single.astype(np.float32))
        np.testing.assert_array_equal(batch[1], batch[0])


def test_model_path_matches_pil_when_lossless(tmp_path, tf):
    """PNG, no resize: the TF decoder gives the PIL pixels, gray conversion included."""
    arr = _rgb(9, 9)
    path = _save(tmp_path / "a.png", arr)
    np.testing.assert_array_equal(decode_for_model(path, 3, None), arr)
    np.testing.assert_array_equal(decode_for_model(path, 1, 9),
                                  read_image_file(path, channels=1))


def test_decode_batch_mixed_formats_and_modes(tf):
    rgb = _rgb(8, 6)
    rgba = np.concatenate([rgb, np.zeros((8, 6, 1), np.uint8)], axis=-1)
    datas = [_encoded(rgb, "PNG"), _encoded(rgba, "PNG"), _encoded(rgb[..., 0], "PNG"),
             _encoded(rgb, "GIF"), _encoded(rgb, "BMP"), _encoded(rgb, "WEBP", lossless=True)]
    out = _batch(tf, datas, 3, 8, graph=True)
    assert out.shape == (6, 8, 8, 3)
    np.testing.assert_array_equal(out[0], out[1])  # alpha dropped
    np.testing.assert_array_equal(out[2][..., 0], out[2][..., 1])  # gray repeated
    np.testing.assert_array_equal(out[4], out[0])  # BMP is lossless too
    np.testing.assert_array_equal(out[5], out[0])  # lossless WebP
    gray = _batch(tf, datas, 1, 8, graph=True)
    assert gray.shape == (6, 8, 8, 1)


def test_decode_for_model_refuses_bad_input(tmp_path, tf):
    gray = _save(tmp_path / "g.png", _rgb()[..., :1])
    with pytest.raises(DataError, match=re.escape(f"g.png: {GRAY_MSG}")):
        decode_for_model(gray, 3, 16)
    assert decode_for_model(gray, 3, 16, allow_gray_to_rgb=True).shape == (16, 16, 3)
    data = _encoded(_rgb(64, 64), "JPEG")
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="cut.jpg: truncated or corrupt image"):
        decode_for_model(cut, 3, 16)
    with pytest.raises(DataError, match="missing.png: no such file"):
        decode_for_model(tmp_path / "missing.png", 3, 16)
