"""Signatures of an export as a server sees them, and example requests generated from them.

A SavedModel's `saved_model.pb` holds one SignatureDef per serving signature: input and
output names, dtypes and shapes. TensorFlow Serving and `classics serve` read exactly
these, so the examples written beside each export come from the same place:

    assets.extra/examples/<signature>/request.json   TF Serving REST body (row format)
    assets.extra/examples/<signature>/curl.txt       the curl line that posts it

Example values are generic, built from each input's spec: a string input whose name
contains "bytes" gets a real 8x8 PNG as {"b64": ...}; other strings get "example";
numbers get zeros; unknown dimensions are 1 (batch) or 8 (others).
"""

import base64
import functools
import io
import json
import pathlib

import numpy as np

EXAMPLES_DIR = "examples"
HIDDEN_PREFIX = "__"  # __saved_model_init_op and friends are not serving signatures
DEFAULT_URL = "http://127.0.0.1:8080"
UNKNOWN_DIM = 8


def signature_defs(version_dir) -> dict:
    """{signature name: SignatureDef proto} of the export in `version_dir`."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel()
    saved.ParseFromString((pathlib.Path(version_dir) / "saved_model.pb").read_bytes())
    graph = saved.meta_graphs[0]
    return {name: sig for name, sig in graph.signature_def.items() if not name.startswith(HIDDEN_PREFIX)}


def tensor_specs(tensor_infos) -> dict:
    """SignatureDef inputs/outputs -> {name: (dtype name, shape with None for unknown)}."""
    import tensorflow as tf

    specs = {}
    for name in sorted(tensor_infos):
        info = tensor_infos[name]
        dtype = tf.dtypes.as_dtype(info.dtype).name
        shape = None if info.tensor_shape.unknown_rank else [
            None if d.size < 0 else int(d.size) for d in info.tensor_shape.dim]
        specs[name] = (dtype, shape)
    return specs


@functools.lru_cache(maxsize=1)
def tiny_png() -> bytes:
    """An 8x8 RGB PNG (a colour gradient): a real image every image decoder accepts."""
    from PIL import Image

    ramp = np.arange(8, dtype=np.uint8) * 32
    pixels = np.stack(np.broadcast_arrays(ramp[:, None], ramp[None, :], 255 - ramp[:, None]), -1)
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8), "RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def example_value(name: str, dtype: str, shape):
    """One instance (no batch dimension) of input `name` as TF Serving JSON."""
    if dtype == "string":
        leaf = {"b64": base64.b64encode(tiny_png()).decode("ascii")} if "bytes" in name else "example"
    elif dtype == "bool":
        leaf = False
    elif dtype.startswith(("float", "half", "bfloat")):
        leaf = 0.0
    else:
        leaf = 0
    dims = [] if not shape else [UNKNOWN_DIM if d is None else d for d in shape[1:]]
    value = leaf
    for size in reversed(dims):
        value = [value] * size
    return json.loads(json.dumps(value))  # independent copies, not shared sub-lists


def example_request(signature_name: str, signature_def) -> dict:
    """A row-format (`instances`) request with one instance for the signature."""
    specs = tensor_specs(signature_def.inputs)
    values = {name: example_value(name, dtype, shape) for name, (dtype, shape) in specs.items()}
    instance = next(iter(values.values())) if len(values) == 1 else values
    return {"signature_name": signature_name, "instances": [instance]}


def curl_line(app: str, url: str = DEFAULT_URL) -> str:
    return (f"curl -sS -X POST -H 'Content-Type: application/json' --data-binary @request.json "
            f"{url}/v1/models/{app}:predict")


def write_examples(version_dir, app: str, url: str = DEFAULT_URL) -> dict:
    """Write request.json and curl.txt for every signature; returns {signature: folder}."""
    out = {}
    for name, sig in sorted(signature_defs(version_dir).items()):
        folder = pathlib.Path(version_dir) / "assets.extra" / EXAMPLES_DIR / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "request.json").write_text(json.dumps(example_request(name, sig)) + "\n")
        (folder / "curl.txt").write_text(
            f"# from this folder, with `classics serve` (or TF Serving) listening on {url}\n"
            f"{curl_line(app, url)}\n")
        out[name] = folder
    return out
