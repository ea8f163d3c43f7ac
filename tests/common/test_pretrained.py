"""apps/common/pretrained.py: the legacy torch reader on a file written here in the same layout,
and the MobileNetV2 weight mapping (Keras -> torchvision names -> Keras gives equal outputs).
The real ImageNet weights are checked by the faces benchmark (18/20 foolbox samples)."""

import collections
import pickle
import struct
import sys
import types

import numpy as np
import pytest

from apps.common import pretrained
from apps.common.errors import DataError


class _Storage:
    def __init__(self, key, flat):
        self.key, self.flat = key, flat


class _Tensor:
    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, tuple(size), tuple(stride), False, collections.OrderedDict())

    def __reduce__(self):
        return (sys.modules["torch._utils"]._rebuild_tensor_v2, self.args)


def write_legacy(path, tensors, monkeypatch):
    """torch.save's legacy layout, without torch: tensors = {name: (storage, offset, size, stride)}."""
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")
    float_storage = type("FloatStorage", (), {"__module__": "torch"})
    long_storage = type("LongStorage", (), {"__module__": "torch"})
    torch.FloatStorage, torch.LongStorage, torch._utils = float_storage, long_storage, utils

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called while writing")

    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, _Storage):
                kind = long_storage if obj.flat.dtype == np.int64 else float_storage
                return ("storage", kind, obj.key, "cpu", obj.flat.size, None)
            return None

    state = collections.OrderedDict((name, _Tensor(*t)) for name, t in tensors.items())
    storages = {t[0].key: t[0] for t in tensors.values()}
    with open(path, "wb") as f:
        for header in (pretrained.TORCH_MAGIC, 1001, {"little_endian": True}):
            pickle.dump(header, f, protocol=2)
        Pickler(f, protocol=2).dump(state)
        keys = sorted(storages)
        pickle.dump(keys, f, protocol=2)
        for key in keys:
            flat = storages[key].flat
            f.write(struct.pack("<q", flat.size))
            f.write(flat.astype(flat.dtype.newbyteorder("<")).tobytes())
    monkeypatch.delitem(sys.modules, "torch")
    monkeypatch.delitem(sys.modules, "torch._utils")


def test_legacy_reader_reads_back_views_offsets_and_dtypes(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    shared = _Storage("94001", rng.normal(size=30).astype(np.float32))
    counts = _Storage("94002", np.array([7], np.int64))
    path = tmp_path / "tiny.pth"
    write_legacy(path, {
        "conv.weight": (shared, 0, (2, 3, 2, 2), (12, 4, 2, 1)),  # contiguous
        "fc.weight": (shared, 24, (3, 2), (1, 3)),  # a transposed view at an offset
        "bn.num_batches_tracked": (counts, 0, (), ()),
    }, monkeypatch)
    state = pretrained.read_torch_legacy(path)
    assert list(state) == ["conv.weight", "fc.weight", "bn.num_batches_tracked"]
    np.testing.assert_array_equal(state["conv.weight"], shared.flat[:24].reshape(2, 3, 2, 2))
    np.testing.assert_array_equal(state["fc.weight"], shared.flat[24:30].reshape(2, 3).T)
    assert state["bn.num_batches_tracked"].dtype == np.int64 and state["bn.num_batches_tracked"] == 7


def test_legacy_reader_refuses_other_files(tmp_path):
    zipped = tmp_path / "new.pth"
    zipped.write_bytes(b"PK\x03\x04 a zip")
    with pytest.raises(DataError, match="zip-format"):
        pretrained.read_torch_legacy(zipped)
    code = tmp_path / "evil.pth"
    code.write_bytes(pickle.dumps(pretrained.TORCH_MAGIC, protocol=2) + pickle.dumps(1001) +
                     pickle.dumps({}) + pickle.dumps(types.SimpleNamespace(a=1)))
    with pytest.raises(DataError, match="not a readable legacy torch state dict"):
        pretrained.read_torch_legacy(code)


def _torch_state_of(model):
    """The inverse of the loader's mapping: Keras weights -> a torchvision-named state dict."""
    state = {}
    for layer_name, prefix in pretrained._torch_to_keras(model).items():
        w = model.get_layer(layer_name).get_weights()
        if layer_name.endswith("_bn"):
            for k, a in zip(("weight", "bias", "running_mean", "running_var"), w):
                state[f"{prefix}.{k}"] = a
        elif layer_name == "classifier":
            state[f"{prefix}.weight"], state[f"{prefix}.bias"] = w[0].T, w[1]
        elif layer_name.endswith("_depthwise"):
            state[f"{prefix}.weight"] = w[0].transpose(2, 3, 0, 1)
        else:
            state[f"{prefix}.weight"] = w[0].transpose(3, 2, 0, 1)
    return state


def test_mobilenet_v2_matches_keras_size_and_loads_a_torchvision_state_dict(tmp_path, monkeypatch):
    import keras

    keras.utils.set_random_seed(0)
    source = pretrained.mobilenet_v2((32, 32, 3), include_top=True)
    # Same layer widths as keras.applications' MobileNetV2 (only padding and BN eps differ).
    assert source.count_params() == keras.applications.MobileNetV2(
        weights=None, input_shape=(32, 32, 3)).count_params()
    rng = np.random.default_rng(1)
    for layer in source.layers:
        if layer.get_weights():
            layer.set_weights([w + rng.uniform(0.05, 0.1, w.shape).astype(np.float32)
                               for w in layer.get_weights()])
    state = _torch_state_of(source)
    assert len(state) == 52 + 52 * 4 + 2  # 52 convs, 52 BNs (4 arrays each), the fc (2)
    tensors, offset = {}, 0
    flat = np.concatenate([a.ravel() for a in state.values()]).astype(np.float32)
    storage = _Storage("1", flat)
    for name, a in state.items():
        stride = tuple(int(np.prod(a.shape[i + 1:])) for i in range(a.ndim))
        tensors[name] = (storage, offset, a.shape, stride)
        offset += a.size
    path = tmp_path / "mobilenet.pth"
    write_legacy(path, tensors, monkeypatch)
    target = pretrained.mobilenet_v2((32, 32, 3), include_top=True, weights=path)
    x = rng.normal(size=(2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(target(x, training=False), source(x, training=False), atol=1e-5)
    headless = pretrained.mobilenet_v2((32, 32, 3), include_top=False)
    assert pretrained.load_mobilenet_v2_weights(headless, path) == 104  # every conv and BN, no fc
    assert headless.output_shape == (None, 1, 1, 1280)
