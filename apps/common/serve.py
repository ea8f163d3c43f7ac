"""Serve every export under saved_models/ with kserve's model server (TF Serving's REST API).

    classics serve [--model-root saved_models] [--host 127.0.0.1] [--port 8080]

One kserve predictor per app folder `saved_models/<app>/`, serving the highest integer
version, loaded with `tf.saved_model.load` and called through its signature's concrete
function. The folder is polled: a new version directory (exports appear by an atomic
rename, and only integer names count) is loaded in the background and swapped in without
a restart; a version that fails to load is logged and the previous one keeps serving.

TensorFlow Serving's REST API (V1), answered by kserve's V1 endpoints plus a few routes:
    POST /v1/models/<app>:predict                    {"instances": [...]} -> {"predictions": [...]}
    POST /v1/models/<app>/versions/<v>:predict       {"inputs": ...}      -> {"outputs": ...}
    GET  /v1/models/<app>/metadata                   signatures: input/output names, dtypes, shapes
    GET  /v1/models/<app>/versions/<v>[/metadata]    version status / metadata
    GET  /v1/models/<app>    GET /v1/models    GET /v2/health/ready    GET /metrics
Bytes travel as {"b64": "..."}; "signature_name" picks a signature (default
"serving_default"). Errors are {"error": "<one line>"}: 400 bad input (malformed JSON with
or without a Content-Type, unknown input name, wrong dtype/shape, an image the graph cannot
decode), 404 unknown model/version, 413 body over --max-body-bytes (refused from its
Content-Length before it is read, or as soon as a chunked body passes the limit).
"""

import asyncio
import base64
import binascii
import dataclasses
import functools
import logging
import pathlib
import re
import socket
import sys
import threading
import time

import numpy as np

from apps.common import export as export_lib
from apps.common import request_examples
from apps.common.errors import ClassicsError

DEFAULT_SIGNATURE = "serving_default"
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
VERSION_HEADER = "x-model-version"

log = logging.getLogger("classics.serve")


class BadRequest(ClassicsError):
    """The request cannot be served as sent (HTTP 400)."""


class NotFound(ClassicsError):
    """No such model or version (HTTP 404)."""


class ServingError(ClassicsError):
    """The model failed on a well-formed request (HTTP 500)."""


# ---------------------------------------------------------------- one loaded version
@dataclasses.dataclass(frozen=True)
class Signature:
    name: str
    function: object  # the concrete function, called with keyword tensors
    inputs: dict  # {name: tf.TensorSpec}
    outputs: tuple  # output names, sorted


@dataclasses.dataclass(frozen=True)
class LoadedVersion:
    version: int
    path: pathlib.Path
    module: object  # keeps the variables the concrete functions capture alive
    signatures: dict  # {name: Signature}
    signature_defs: dict  # {name: SignatureDef as TF Serving's JSON}


def load_version(path) -> LoadedVersion:
    """Load one export and index its serving signatures."""
    import tensorflow as tf
    from google.protobuf import json_format

    path = pathlib.Path(path)
    defs = request_examples.signature_defs(path)
    module = tf.saved_model.load(str(path))
    signatures = {}
    for name in defs:
        function = module.signatures[name]
        _, kwargs = function.structured_input_signature
        signatures[name] = Signature(name, function, dict(kwargs), tuple(sorted(function.structured_outputs)))
    as_json = {name: json_format.MessageToDict(sig) for name, sig in defs.items()}
    return LoadedVersion(int(path.name), path, module, signatures, as_json)


def tf_error_message(exc) -> str:
    """The one line of a TensorFlow error that says what is wrong (no node names, no stack)."""
    lines = []
    for line in str(getattr(exc, "message", exc)).splitlines():
        text = line.strip()
        noise = ("Graph execution error", "Detected at node", "File ", "[[", "<stack")
        if not text or text.startswith(noise) or line.startswith((" ", "\t")):
            continue
        lines.append(re.sub(r"\{\{[^}]*\}\}\s*", "", text.split(" [Op:")[0]))  # {{function_node ...}}
    return lines[-1] if lines else type(exc).__name__


# ---------------------------------------------------------------- request -> tensors
@dataclasses.dataclass
class PredictRequest:
    signature_name: str
    columnar: bool  # "inputs" (columnar) vs "instances" (row)
    data: object
    version: int | None = None


def parse_body(body) -> PredictRequest:
    """A TF Serving predict body (bytes or already-decoded JSON) -> PredictRequest."""
    if isinstance(body, (bytes, bytearray, memoryview, str)):
        import orjson

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
    if not columnar and (not isinstance(data, list) or not data):
        raise BadRequest("\"instances\": expected a non-empty list of rows")
    return PredictRequest(signature, columnar, data)


def _is_b64(value) -> bool:
    return isinstance(value, dict) and len(value) == 1 and "b64" in value


def _named_values(signature: Signature, value, where: str) -> dict:
    """{input name: value} from a dict keyed by input names (or a bare value for one input)."""
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
    """JSON value -> numpy array of the input's dtype, checked against its shape."""
    import tensorflow as tf

    dtype = spec.dtype
    if dtype == tf.string:
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


def input_arrays(signature: Signature, request: PredictRequest) -> dict:
    """{input name: numpy array with the batch dimension} for the request."""
    if request.columnar:
        values = _named_values(signature, request.data, "\"inputs\"")
    else:
        rows = [_named_values(signature, row, f"\"instances\"[{i}]") for i, row in enumerate(request.data)]
        values = {name: [row[name] for row in rows] for name in signature.inputs}
    return {name: to_array(name, values[name], signature.inputs[name]) for name in sorted(values)}


# ---------------------------------------------------------------- tensors -> response
def _string_out(name: str, value: bytes):
    if name.endswith("bytes"):
        return {"b64": base64.b64encode(value).decode("ascii")}
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return {"b64": base64.b64encode(value).decode("ascii")}


def _jsonable(name: str, array: np.ndarray):
    if array.dtype == object:
        flat = [_string_out(name, v) for v in array.reshape(-1)]
        return np.array(flat, dtype=object).reshape(array.shape).tolist() if array.ndim else flat[0]
    return array.tolist()


def response_body(outputs: dict, columnar: bool) -> dict:
    """TF Serving's response: {"outputs": ...} (columnar) or {"predictions": [...]} (row)."""
    names = sorted(outputs)
    if columnar:
        if len(names) == 1:
            return {"outputs": _jsonable(names[0], outputs[names[0]])}
        return {"outputs": {name: _jsonable(name, outputs[name]) for name in names}}
    sizes = {name: (outputs[name].shape[0] if outputs[name].ndim else None) for name in names}
    if len(set(sizes.values())) != 1 or None in sizes.values():
        raise BadRequest(f"outputs {sizes} do not share a batch dimension; use the columnar format "
                         "(\"inputs\")")
    columns = {name: _jsonable(name, outputs[name]) for name in names}
    if len(names) == 1:
        return {"predictions": columns[names[0]]}
    batch = next(iter(sizes.values()))
    return {"predictions": [{name: columns[name][i] for name in names} for i in range(batch)]}


def run_signature(loaded: LoadedVersion, request: PredictRequest) -> dict:
    """Call the signature's concrete function on the request; TF Serving's response body."""
    import tensorflow as tf

    signature = loaded.signatures.get(request.signature_name)
    if signature is None:
        raise BadRequest(f"signature_name '{request.signature_name}' not found; version "
                         f"{loaded.version} has {sorted(loaded.signatures)}")
    arrays = input_arrays(signature, request)
    tensors = {name: tf.constant(a, dtype=signature.inputs[name].dtype) for name, a in arrays.items()}
    try:
        outputs = signature.function(**tensors)
    except tf.errors.InvalidArgumentError as e:
        raise BadRequest(f"signature '{signature.name}' rejected the input: {tf_error_message(e)}") from None
    except tf.errors.OpError as e:
        raise ServingError(f"signature '{signature.name}' failed: {tf_error_message(e)}") from None
    return response_body({name: t.numpy() for name, t in outputs.items()}, request.columnar)


# ---------------------------------------------------------------- one app folder, polled
class ModelFolder:
    """saved_models/<app>/: the served version, replaced when the highest version changes."""

    def __init__(self, name: str, app_dir):
        self.name = name
        self.app_dir = pathlib.Path(app_dir)
        self.current: LoadedVersion | None = None
        self._failed: set[int] = set()
        self._lock = threading.Lock()

    def complete_versions(self) -> list[int]:
        # Exports appear by renaming a finished directory, so an integer folder is whole;
        # requiring saved_model.pb also skips folders copied in by hand while still copying.
        return [v for v in export_lib.versions(self.app_dir)
                if (self.app_dir / str(v) / "saved_model.pb").is_file()]

    def poll(self) -> bool:
        """Load the highest version if it is not the one served; True when it changed."""
        with self._lock:
            found = self.complete_versions()
            for version in reversed(found):
                if self.current is not None and version == self.current.version:
                    return False
                try:
                    loaded = load_version(self.app_dir / str(version))
                except Exception as e:  # noqa: BLE001 - a bad export must not stop the server
                    if version not in self._failed:
                        log.error("%s: version %s failed to load (%s: %s); still serving %s", self.name,
                                  version, type(e).__name__, str(e).splitlines()[0] if str(e) else "",
                                  self.current.version if self.current else "nothing")
                        self._failed.add(version)
                    continue
                previous, self.current = self.current, loaded
                self._failed.discard(version)
                log.warning("%s: serving version %d%s", self.name, version,
                            f" (was {previous.version})" if previous else "")
                return True
            return False

    def served(self, version: int | None = None) -> LoadedVersion:
        loaded = self.current
        if loaded is None:
            raise NotFound(f"model '{self.name}' has no loadable version")
        if version is not None and version != loaded.version:
            raise NotFound(f"model '{self.name}' version {version} is not served (serving version "
                           f"{loaded.version})")
        return loaded

    def predict(self, request: PredictRequest) -> tuple[dict, int]:
        loaded = self.served(request.version)
        return run_signature(loaded, request), loaded.version

    def metadata(self, version: int | None = None) -> dict:
        """TF Serving's GetModelMetadata answer."""
        loaded = self.served(version)
        return {
            "model_spec": {"name": self.name, "signature_name": "", "version": str(loaded.version)},
            "metadata": {"signature_def": {"signature_def": loaded.signature_defs}},
        }

    def status(self, version: int | None = None) -> dict:
        """TF Serving's GetModelStatus answer."""
        loaded = self.served(version)
        return {"model_version_status": [{"version": str(loaded.version), "state": "AVAILABLE",
                                          "status": {"error_code": "OK", "error_message": ""}}]}


def discover(model_root) -> dict:
    """{app name: app folder} for every folder under the root holding an integer version."""
    root = pathlib.Path(model_root)
    if not root.is_dir():
        return {}
    return {p.name: p for p in sorted(root.iterdir())
            if p.is_dir() and not p.name.startswith(".") and export_lib.versions(p)}


# ---------------------------------------------------------------- kserve
@functools.lru_cache(maxsize=1)
def _kserve():
    """Import kserve; its model_server module parses sys.argv on import, so hide ours."""
    saved = sys.argv
    sys.argv = saved[:1]
    try:
        import kserve
        import kserve.model_server
    finally:
        sys.argv = saved
    return kserve


def _kserve_error(exc):
    from kserve.errors import InferenceError, InvalidInput, ModelNotFound

    if isinstance(exc, BadRequest):
        return InvalidInput(str(exc))
    if isinstance(exc, NotFound):
        error = ModelNotFound()
        error.reason = str(exc)
        return error
    return InferenceError(str(exc))


def make_predictor(folder: ModelFolder):
    """A kserve.Model whose predict runs `folder`'s served signature."""
    kserve = _kserve()

    class SavedModelPredictor(kserve.Model):
        def __init__(self):
            super().__init__(folder.name, return_response_headers=True)
            self.folder = folder
            self.ready = folder.current is not None

        def load(self) -> bool:
            self.ready = self.folder.current is not None or self.folder.poll()
            return self.ready

        def preprocess(self, payload, headers=None):
            if isinstance(payload, PredictRequest):
                return payload
            try:
                return parse_body(payload)
            except ClassicsError as e:
                raise _kserve_error(e) from None

        def predict(self, payload, headers=None, response_headers=None):
            if not isinstance(payload, PredictRequest):
                raise kserve.errors.InvalidInput("this server speaks TF Serving's REST API: POST "
                                                 f"/v1/models/{self.name}:predict")
            try:
                body, version = self.folder.predict(payload)
            except ClassicsError as e:
                raise _kserve_error(e) from None
            if response_headers is not None:
                response_headers[VERSION_HEADER] = str(version)
            return body

        def postprocess(self, result, headers=None, response_headers=None):
            return result

        def get_input_types(self):
            return _v2_types(self.folder, "inputs")

        def get_output_types(self):
            return _v2_types(self.folder, "outputs")

    return SavedModelPredictor()


_V2_TYPES = {"string": "BYTES", "bool": "BOOL", "float16": "FP16", "float32": "FP32", "float64": "FP64",
             "bfloat16": "BF16"}


def _v2_types(folder: ModelFolder, which: str) -> list:
    """kserve's V2 model metadata (/v2/models/<app>) for the default signature."""
    loaded = folder.current
    signature = loaded.signatures.get(DEFAULT_SIGNATURE) if loaded else None
    if signature is None:
        return []
    if which == "inputs":
        specs = {n: (s.dtype.name, s.shape.as_list()) for n, s in signature.inputs.items()}
    else:
        specs = {n: (s.dtype.name, s.shape.as_list())
                 for n, s in signature.function.structured_outputs.items()}
    return [{"name": n, "datatype": _V2_TYPES.get(d, d.upper()), "shape": [-1 if x is None else x for x in s]}
            for n, (d, s) in sorted(specs.items())]


class BodyLimit:
    """ASGI middleware: 413 for a body over `max_bytes`, decided from Content-Length before any
    of the body is read, or as soon as a chunked body passes the limit."""

    class TooLarge(Exception):
        pass

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = int(max_bytes)

    async def _refuse(self, send, status: int, message: str):
        import orjson

        body = orjson.dumps({"error": message})
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        too_large = f"request body over the server's limit of {self.max_bytes} bytes (--max-body-bytes)"
        if length is not None:
            if not length.isdigit():
                return await self._refuse(send, 400, "Content-Length is not a number")
            if int(length) > self.max_bytes:
                return await self._refuse(send, 413, too_large)
        received = 0
        started = False

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyLimit.TooLarge()
            return message

        async def tracked_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracked_send)
        except BodyLimit.TooLarge:
            if not started:
                await self._refuse(send, 413, too_large)


def _add_routes(app, dataplane, folders: dict):
    """TF Serving routes kserve's V1 endpoints lack: versions, metadata, version status."""
    from fastapi import Request
    from fastapi.responses import ORJSONResponse

    def folder_of(name):
        dataplane.get_model_from_registry(name)  # ModelNotFound (404) for an unknown model
        return folders[name]

    def version_of(version: str) -> int:
        if not version.isdigit():
            raise _kserve_error(NotFound(f"version '{version}' is not an integer"))
        return int(version)

    def answer(method, *args):
        try:
            return method(*args)
        except ClassicsError as e:
            raise _kserve_error(e) from None

    async def versioned_predict(model_name: str, version: str, request: Request):
        model = dataplane.get_model_from_registry(model_name)
        number = version_of(version)
        payload = model.preprocess(await request.body())
        payload.version = number
        body, headers = await model(payload, headers=dict(request.headers.items()))
        return ORJSONResponse(content=body, headers=headers)

    async def metadata(model_name: str):
        return answer(folder_of(model_name).metadata)

    async def version_metadata(model_name: str, version: str):
        return answer(folder_of(model_name).metadata, version_of(version))

    async def version_status(model_name: str, version: str):
        return answer(folder_of(model_name).status, version_of(version))

    prefix = "/v1/models/{model_name}"
    app.add_api_route(prefix + "/versions/{version}:predict", versioned_predict, methods=["POST"],
                      response_model=None)
    app.add_api_route(prefix + "/metadata", metadata, methods=["GET"])
    app.add_api_route(prefix + "/versions/{version}/metadata", version_metadata, methods=["GET"])
    app.add_api_route(prefix + "/versions/{version}", version_status, methods=["GET"])


async def _one_line_handler(request, exc):
    """kserve's handlers log a traceback per bad request; one line is enough for a 4xx."""
    from http import HTTPStatus

    from fastapi.responses import JSONResponse
    from kserve.errors import ModelNotFound

    status = HTTPStatus.NOT_FOUND if isinstance(exc, ModelNotFound) else HTTPStatus.BAD_REQUEST
    log.info("%d %s %s: %s", status, request.method, request.url.path, exc)
    return JSONResponse(status_code=status, content={"error": str(exc)})


class Server:
    """kserve's REST server over every app folder of `model_root`, polled for new versions."""

    def __init__(self, model_root="saved_models", host="127.0.0.1", port=8080,
                 max_body_bytes=DEFAULT_MAX_BODY_BYTES, poll_seconds=1.0, access_log=False):
        self.model_root = pathlib.Path(model_root)
        self.host, self.port = host, int(port)
        self.max_body_bytes = int(max_body_bytes)
        self.poll_seconds = float(poll_seconds)
        self.access_log = access_log
        self.folders: dict[str, ModelFolder] = {}

    def _add_folders(self, registry) -> None:
        for name, path in discover(self.model_root).items():
            if name in self.folders:
                continue
            folder = ModelFolder(name, path)
            folder.poll()
            if folder.current is None:
                continue  # logged by poll; retried at the next poll
            self.folders[name] = folder
            registry.update(make_predictor(folder), name)

    def _poll_all(self, registry) -> None:
        for folder in list(self.folders.values()):
            folder.poll()
        self._add_folders(registry)

    async def _poller(self, registry):
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.poll_seconds)
            try:
                # Loading runs in a worker thread so requests keep being answered meanwhile.
                await loop.run_in_executor(None, self._poll_all, registry)
            except Exception:  # noqa: BLE001 - keep polling whatever one pass hit
                log.exception("polling %s failed", self.model_root)

    def _socket(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit it: uvicorn writes a response's head and body
        # separately, and Nagle + delayed ACKs would add ~40 ms to every answer.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as e:
            sock.close()
            raise ClassicsError(f"--host {self.host} --port {self.port}: cannot listen "
                                f"({e.strerror})") from None
        sock.listen(1024)
        sock.set_inheritable(True)
        return sock

    def build(self):
        """(uvicorn server, listening socket) with every model loaded; raises ClassicsError."""
        if not self.model_root.is_dir():
            raise ClassicsError(f"--model-root {self.model_root}: no such directory (run an app's export)")
        kserve = _kserve()
        import uvicorn
        from kserve.errors import InvalidInput, ModelNotFound
        from kserve.protocol.rest.server import RESTServer

        model_server = kserve.ModelServer(http_port=self.port, enable_grpc=False,
                                          enable_latency_logging=False)
        logging.getLogger("kserve.trace").setLevel(logging.WARNING)  # a line per request otherwise
        registry = model_server.registered_models
        self._add_folders(registry)
        if not self.folders:
            raise ClassicsError(f"--model-root {self.model_root}: no loadable export (expected "
                                "<app>/<integer version>/saved_model.pb; run `classics <app> export`)")
        rest = RESTServer(kserve.model_server.FASTAPI_APP_IMPORT_STRING, model_server.dataplane,
                          model_server.model_repository_extension, self.port)
        rest.create_application()
        app = kserve.model_server.app
        _add_routes(app, model_server.dataplane, self.folders)
        app.add_exception_handler(InvalidInput, _one_line_handler)
        app.add_exception_handler(ModelNotFound, _one_line_handler)
        app.add_middleware(BodyLimit, max_bytes=self.max_body_bytes)
        sock = self._socket()
        config = uvicorn.Config(app, host=self.host, port=sock.getsockname()[1], log_config=None,
                                access_log=self.access_log, timeout_graceful_shutdown=5)
        self.port = sock.getsockname()[1]
        return uvicorn.Server(config), sock, registry

    def run(self) -> None:
        server, sock, registry = self.build()
        versions = ", ".join(f"{n} v{f.current.version}" for n, f in sorted(self.folders.items()))
        host = f"[{self.host}]" if ":" in self.host else self.host
        print(f"serving {versions} on http://{host}:{self.port} (TF Serving REST API: "
              f"POST /v1/models/<name>:predict)", flush=True)

        async def main():
            poller = asyncio.create_task(self._poller(registry))
            try:
                await server.serve(sockets=[sock])
            finally:
                poller.cancel()

        asyncio.run(main())


# ---------------------------------------------------------------- CLI
def add_arguments(parser) -> None:
    from apps.common.cli import add_model_root_argument

    add_model_root_argument(parser)
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: 127.0.0.1, this machine only; 0.0.0.0 for all)")
    parser.add_argument("--port", type=int, default=8080,
                        help="HTTP port (default: 8080; 0 picks a free one)")
    parser.add_argument("--max-body-bytes", type=int, default=DEFAULT_MAX_BODY_BYTES, metavar="N",
                        help=f"refuse larger request bodies with 413 (default: {DEFAULT_MAX_BODY_BYTES})")
    parser.add_argument("--poll-seconds", type=float, default=1.0, metavar="S",
                        help="how often to look for new versions and apps (default: 1)")
    parser.add_argument("--access-log", action="store_true", help="log every request")


def run(args) -> None:
    if args.max_body_bytes < 1:
        raise ClassicsError(f"--max-body-bytes: expected a positive number, got {args.max_body_bytes}")
    if args.poll_seconds <= 0:
        raise ClassicsError(f"--poll-seconds: expected a positive number, got {args.poll_seconds}")
    if not 0 <= args.port <= 65535:
        raise ClassicsError(f"--port: expected 0..65535, got {args.port}")
    started = time.perf_counter()
    server = Server(args.model_root, args.host, args.port, args.max_body_bytes, args.poll_seconds,
                    args.access_log)
    log.info("loading models from %s", args.model_root)
    server.run()
    log.info("stopped after %.0f s", time.perf_counter() - started)
