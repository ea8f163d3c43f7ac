"""TF Serving's REST JSON <-> numpy arrays: request bodies in, response bodies out.

Row format: {"instances": [row, ...]} -> {"predictions": [answer, ...]}; columnar format:
{"inputs": {name: column}} -> {"outputs": {name: column}} (a bare value when there is one
input/output). Strings travel as UTF-8 text or {"b64": "..."}; output names ending in "bytes"
always come back as {"b64": ...}.

A row whose export says it failed (a non-empty `error` output) or whose call failed answers
{"error": "<one line>"} in place of its outputs; see `rows_body`.
"""

import base64
import binascii
import dataclasses

import numpy as np
import orjson  # installed with kserve (install_requires)

from apps.common.errors import ClassicsError

DEFAULT_SIGNATURE = "serving_default"
ERROR_OUTPUT = "error"  # an export's per-instance verdict: b"" when the instance is fine


class BadRequest(ClassicsError):
    """The request cannot be served as sent (HTTP 400)."""


class NotFound(ClassicsError):
    """No such model or version (HTTP 404)."""


class ServingError(ClassicsError):
    """The model failed on a well-formed request (HTTP 500)."""


@dataclasses.dataclass
class PredictRequest:
    signature_name: str
    columnar: bool  # "inputs" (columnar) vs "instances" (row)
    data: object
    version: int | None = None


# ---------------------------------------------------------------- request -> arrays
def parse_body(body) -> PredictRequest:
    """A TF Serving predict body (bytes or already-decoded JSON) -> PredictRequest."""
    if isinstance(body, (bytes, bytearray, memoryview, str)):
        try:
            body = orjson.loads(body)
        except orjson.JSONDecodeError as e:
            raise BadRequest(f"malformed JSON body: {e}") from None
    if not isinstance(body, dict):
        raise BadRequest("expected a JSON object with \"instances\" or \"inputs\", "
                         f"got {type(body).__name__}")
    unknown = sorted(set(body) - {"signature_name", "instances", "inputs"})
    if unknown:
        raise BadRequest(f"unknown key(s) {unknown}: a predict body has \"signature_name\" and one of "
                         "\"instances\" (row format) or \"inputs\" (columnar format)")
    if ("instances" in body) == ("inputs" in body):
        raise BadRequest("a predict body needs exactly one of \"instances\" (row format) or \"inputs\" "
                         "(columnar format)")
    signature = body.get("signature_name", DEFAULT_SIGNATURE)
    if not isinstance(signature, str):
        raise BadRequest(f"signature_name: expected a string, got {type(signature).__name__}")
    columnar = "inputs" in body
    data = body["inputs"] if columnar else body["instances"]
    if not columnar and not isinstance(data, list):
        raise BadRequest(f"\"instances\": expected a list of rows, got {type(data).__name__}")
    return PredictRequest(signature, columnar, data)


def _is_b64(value) -> bool:
    return isinstance(value, dict) and len(value) == 1 and "b64" in value


def named_values(signature, value, where: str) -> dict:
    """{input name: value} from a dict keyed by `signature`'s input names (or a bare value for
    a one-input signature)."""
    names = sorted(signature.inputs)
    if isinstance(value, dict) and not _is_b64(value):
        unknown = sorted(set(value) - set(names))
        missing = sorted(set(names) - set(value))
        if unknown or missing:
            problem = f"unknown input(s) {unknown}" if unknown else f"missing input(s) {missing}"
            raise BadRequest(f"{where}: {problem}; signature '{signature.name}' takes {names}")
        return value
    if len(names) != 1:
        raise BadRequest(f"{where}: signature '{signature.name}' takes several inputs {names}; "
                         "send an object keyed by input name")
    return {names[0]: value}


def _string_leaf(name: str, value) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if _is_b64(value) and isinstance(value["b64"], str):
        try:
            return base64.b64decode(value["b64"], validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest(f"input '{name}': {{\"b64\": ...}} is not valid base64") from None
    raise BadRequest(f"input '{name}': expected strings or {{\"b64\": \"...\"}}, got {type(value).__name__}")


def _strings(name: str, value):
    return [_strings(name, v) for v in value] if isinstance(value, list) else _string_leaf(name, value)


def _shape_text(shape) -> str:
    return "[" + ", ".join("-1" if d is None else str(d) for d in shape) + "]"


def to_array(name: str, value, spec) -> np.ndarray:
    """JSON value -> numpy array of the input's dtype (`spec`: a tf.TensorSpec), checked
    against its shape."""
    dtype = spec.dtype
    if dtype.name == "string":
        array = np.array(_strings(name, value), dtype=object)
        if any(isinstance(v, list) for v in array.flat):
            raise BadRequest(f"input '{name}': ragged nested lists (every row needs the same length)")
    else:
        try:
            raw = np.asarray(value)
        except ValueError:
            raise BadRequest(f"input '{name}': ragged nested lists (every row needs the same "
                             "length)") from None
        kind = raw.dtype.kind
        want = dtype.as_numpy_dtype
        if raw.size and dtype.is_bool:
            ok = kind == "b"
        elif raw.size and dtype.is_integer:
            ok = kind in "iu"
            if ok:
                info = np.iinfo(want)
                if raw.min() < info.min or raw.max() > info.max:
                    raise BadRequest(f"input '{name}': values outside the {dtype.name} range "
                                     f"[{info.min}, {info.max}]")
        elif raw.size and dtype.is_floating:
            ok = kind in "iuf"
        else:
            ok = raw.size == 0
        if not ok:
            got = {"U": "strings", "O": "mixed or non-numeric values", "f": "non-integer numbers",
                   "b": "booleans", "i": "integers", "u": "integers"}.get(kind, str(raw.dtype))
            raise BadRequest(f"input '{name}': expected {dtype.name} values, got {got}")
        array = raw.astype(want)
    if not spec.shape.is_compatible_with(array.shape):
        want_shape = spec.shape.as_list() if spec.shape.rank is not None else []
        raise BadRequest(f"input '{name}': expected shape {_shape_text(want_shape)}, "
                         f"got {_shape_text(array.shape)}")
    return array


def is_empty_batch(signature, request: PredictRequest) -> bool:
    """No rows: "instances": [], or "inputs" whose every column is [] (JSON cannot say
    (0, 28, 28, 1), so an empty column is the only way to send a 0-row batch)."""
    if not request.columnar:
        return not request.data
    values = named_values(signature, request.data, "\"inputs\"")
    return all(isinstance(v, list) and not v for v in values.values())


def input_arrays(signature, request: PredictRequest) -> dict:
    """{input name: numpy array with the batch dimension} for the request."""
    if request.columnar:
        values = named_values(signature, request.data, "\"inputs\"")
    else:
        rows = [named_values(signature, row, f"\"instances\"[{i}]") for i, row in enumerate(request.data)]
        values = {name: [row[name] for row in rows] for name in signature.inputs}
    return {name: to_array(name, values[name], signature.inputs[name]) for name in sorted(values)}


# ---------------------------------------------------------------- arrays -> response
def b64(value: bytes) -> dict:
    return {"b64": base64.b64encode(value).decode("ascii")}


def _string_out(name: str, value: bytes):
    if name.endswith("bytes"):
        return b64(value)
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return b64(value)


def _jsonable(name: str, array: np.ndarray):
    if array.dtype == object:
        flat = [_string_out(name, v) for v in array.reshape(-1)]
        return np.array(flat, dtype=object).reshape(array.shape).tolist() if array.ndim else flat[0]
    return array.tolist()


def _is_error_column(outputs: dict) -> bool:
    """An `error` output counts as the per-instance verdict when it is one string per row."""
    error = outputs.get(ERROR_OUTPUT)
    return error is not None and error.dtype == object and error.ndim == 1


def rows(outputs: dict) -> list:
    """One JSON answer per row of a batch of outputs {name: array (batch, ...)}.

    A row whose `error` output is non-empty answers {"error": "..."}; the others answer their
    outputs without `error`: {name: value}, or the bare value when one output is left (as TF
    Serving answers a one-output signature)."""
    names = sorted(outputs)
    sizes = {name: (outputs[name].shape[0] if outputs[name].ndim else None) for name in names}
    if len(set(sizes.values())) != 1 or None in sizes.values():
        raise BadRequest(f"outputs {sizes} do not share a batch dimension; use the columnar format "
                         "(\"inputs\")")
    batch = next(iter(sizes.values()))
    errors = [b""] * batch
    if _is_error_column(outputs):
        errors = list(outputs[ERROR_OUTPUT])
        names.remove(ERROR_OUTPUT)
    columns = {name: _jsonable(name, outputs[name]) for name in names}
    answers = []
    for i in range(batch):
        if errors[i]:
            answers.append({"error": errors[i].decode("utf-8", "replace")})
        elif len(names) == 1:
            answers.append(columns[names[0]][i])
        else:
            answers.append({name: columns[name][i] for name in names})
    return answers


def columns_body(outputs: dict) -> dict:
    """TF Serving's columnar answer {"outputs": ...}; an `error` column is passed as is."""
    names = sorted(outputs)
    if len(names) == 1:
        return {"outputs": _jsonable(names[0], outputs[names[0]])}
    return {"outputs": {name: _jsonable(name, outputs[name]) for name in names}}


def response_body(outputs: dict, columnar: bool) -> dict:
    """TF Serving's response: {"outputs": ...} (columnar) or {"predictions": [...]} (row)."""
    return columns_body(outputs) if columnar else {"predictions": rows(outputs)}
