"""The nodes and weights of an ONNX model file, read without the `onnx` package.

An ONNX file is one protocol-buffer message (onnx.proto's ModelProto); this module decodes
the few fields a port to Keras needs straight from the wire format: the graph's nodes (op
type, input and output names, attributes) and its initializers and Constant nodes' tensors
as NumPy arrays. Nothing is run: a model is rebuilt from these by whoever knows its layers
(onnxruntime, which the project already uses, is what a port is tested against).

Wire format (protobuf): each field is a varint key (field number << 3 | wire type) followed
by a varint (type 0), 8 bytes (1), a varint length and that many bytes (2), or 4 bytes (5).
Field numbers are onnx.proto's (ModelProto.graph = 7, GraphProto.node = 1 / initializer = 5,
NodeProto.input = 1 / output = 2 / op_type = 4 / attribute = 5, ...).
"""

from __future__ import annotations

import dataclasses
import pathlib

import numpy as np

from apps.common.errors import DataError

# TensorProto.DataType values this reader turns into arrays.
_DTYPES = {1: np.float32, 6: np.int32, 7: np.int64, 11: np.float64}


@dataclasses.dataclass(frozen=True)
class Node:
    op_type: str
    inputs: tuple
    outputs: tuple
    attributes: dict  # name -> int, float, bytes, list of ints / floats, or np.ndarray


@dataclasses.dataclass(frozen=True)
class OnnxFile:
    path: str
    nodes: list  # in the file's (topological) order
    tensors: dict  # initializer and Constant output name -> np.ndarray
    producer: str

    def tensor(self, name: str) -> np.ndarray:
        if name not in self.tensors:
            raise DataError(f"{self.path}: no weight tensor {name!r}")
        return self.tensors[name]


def _varint(data: memoryview, i: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if i >= len(data):
            raise ValueError("truncated varint")
        byte = data[i]
        i += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, i


def _fields(data: memoryview):
    """Yields (field number, wire type, value): an int for varints, a memoryview otherwise."""
    i = 0
    while i < len(data):
        key, i = _varint(data, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(data, i)
        elif wire == 1:
            value, i = data[i:i + 8], i + 8
        elif wire == 5:
            value, i = data[i:i + 4], i + 4
        elif wire == 2:
            length, i = _varint(data, i)
            value, i = data[i:i + length], i + length
        else:
            raise ValueError(f"wire type {wire}")
        if i > len(data):
            raise ValueError("truncated field")
        yield number, wire, value


def _ints(wire: int, value) -> list[int]:
    """A repeated int64 field's values (packed or one at a time)."""
    if wire == 0:
        return [value if value < 1 << 63 else value - (1 << 64)]
    out, i = [], 0
    while i < len(value):
        v, i = _varint(value, i)
        out.append(v if v < 1 << 63 else v - (1 << 64))
    return out


def _tensor(data: memoryview) -> tuple[str, np.ndarray]:
    dims, dtype, name, raw, floats, int64s = [], 1, "", None, [], []
    for number, wire, value in _fields(data):
        if number == 1:
            dims += _ints(wire, value)
        elif number == 2:
            dtype = value
        elif number == 4:
            floats.append(np.frombuffer(bytes(value), "<f4"))
        elif number == 7:
            int64s += _ints(wire, value)
        elif number == 8:
            name = bytes(value).decode()
        elif number == 9:
            raw = bytes(value)
    if dtype not in _DTYPES:
        raise ValueError(f"tensor {name!r}: data type {dtype} is not read")
    numpy_type = np.dtype(_DTYPES[dtype]).newbyteorder("<")
    if raw is not None:
        array = np.frombuffer(raw, numpy_type)
    elif floats:
        array = np.concatenate(floats)
    else:
        array = np.asarray(int64s, numpy_type)
    count = int(np.prod(dims)) if dims else 1
    if array.size != count:
        raise ValueError(f"tensor {name!r}: {array.size} values for shape {dims}")
    return name, array.astype(_DTYPES[dtype]).reshape(dims)


def _attribute(data: memoryview) -> tuple[str, object]:
    name, value, ints, floats = "", None, [], []
    for number, wire, v in _fields(data):
        if number == 1:
            name = bytes(v).decode()
        elif number == 2:
            value = float(np.frombuffer(bytes(v), "<f4")[0])
        elif number == 3:
            value = _ints(0, v)[0]
        elif number == 4:
            value = bytes(v)
        elif number == 5:
            value = _tensor(v)[1]
        elif number == 7:
            floats += list(np.frombuffer(bytes(v), "<f4")) if wire == 2 else \
                [float(np.frombuffer(bytes(v), "<f4")[0])]
        elif number == 8:
            ints += _ints(wire, v)
    if value is None:
        value = ints or [float(f) for f in floats]
    return name, value


def read_onnx(path) -> OnnxFile:
    """The nodes and tensors of an ONNX file; DataError when it is missing or not ONNX."""
    path = pathlib.Path(path)
    try:
        data = memoryview(path.read_bytes())
    except OSError as exc:
        raise DataError(f"{path}: cannot read the ONNX model ({exc.strerror or exc}); "
                        "`classics fetch` places it in the cache") from None
    try:
        top = list(_fields(data))
        graphs = [v for number, wire, v in top if number == 7 and wire == 2]
        producer = next((bytes(v).decode() for number, wire, v in top
                         if number == 2 and wire == 2), "")
        if len(graphs) != 1:
            raise ValueError("no graph")
        nodes, tensors = [], {}
        for number, wire, value in _fields(graphs[0]):
            if number == 5 and wire == 2:
                name, array = _tensor(value)
                tensors[name] = array
            elif number == 1 and wire == 2:
                inputs, outputs, op_type, attributes = [], [], "", {}
                for n, _, v in _fields(value):
                    if n == 1:
                        inputs.append(bytes(v).decode())
                    elif n == 2:
                        outputs.append(bytes(v).decode())
                    elif n == 4:
                        op_type = bytes(v).decode()
                    elif n == 5:
                        key, attribute = _attribute(v)
                        attributes[key] = attribute
                node = Node(op_type, tuple(inputs), tuple(outputs), attributes)
                if op_type == "Constant" and isinstance(attributes.get("value"), np.ndarray):
                    tensors[outputs[0]] = attributes["value"]
                nodes.append(node)
    except (ValueError, IndexError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a readable ONNX model ({exc}); delete it and run "
                        "`classics fetch` again") from None
    if not nodes:
        raise DataError(f"{path}: not a readable ONNX model (no nodes); delete it and run "
                        "`classics fetch` again")
    return OnnxFile(str(path), nodes, tensors, producer)
