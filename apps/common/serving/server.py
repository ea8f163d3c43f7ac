"""kserve's REST server over every app folder of a model root: TF Serving's routes, body
limit, polling; `add_arguments` / `run` are the `classics serve` command.

kserve (and the FastAPI/uvicorn it brings) is imported lazily, in `_kserve()` and the
functions that build the server: importing `kserve.model_server` parses sys.argv and takes
about half a second, and every `classics` command imports this module to build its parser.
"""

import asyncio
import functools
import http
import logging
import pathlib
import socket
import sys
import time

import orjson  # installed with kserve (install_requires)

from apps.common import cli
from apps.common.errors import ClassicsError
from apps.common.serving.codec import DEFAULT_SIGNATURE, BadRequest, NotFound, PredictRequest, parse_body
from apps.common.serving.predict import run_signature
from apps.common.serving.versions import ModelFolder, discover

DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
VERSION_HEADER = "x-model-version"

log = logging.getLogger("classics.serve")


# ---------------------------------------------------------------- kserve
@functools.lru_cache(maxsize=1)
def _kserve():
    """Import kserve (deliberate lazy loading, see the module docstring); its model_server
    module parses sys.argv on import, so hide ours."""
    saved = sys.argv
    sys.argv = saved[:1]
    try:
        import kserve
        import kserve.model_server
    finally:
        sys.argv = saved
    return kserve


def _kserve_error(exc):
    errors = _kserve().errors
    if isinstance(exc, BadRequest):
        return errors.InvalidInput(str(exc))
    if isinstance(exc, NotFound):
        error = errors.ModelNotFound()
        error.reason = str(exc)
        return error
    return errors.InferenceError(str(exc))


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
                loaded = self.folder.served(payload.version)
                body = run_signature(loaded, payload)
            except ClassicsError as e:
                raise _kserve_error(e) from None
            if response_headers is not None:
                response_headers[VERSION_HEADER] = str(loaded.version)
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
    # Deliberate lazy loading (installed with kserve, see the module docstring); FastAPI reads
    # the `Request` annotation below to pass the request in.
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
    from fastapi.responses import JSONResponse  # deliberate lazy loading (installed with kserve)

    not_found = isinstance(exc, _kserve().errors.ModelNotFound)
    status = http.HTTPStatus.NOT_FOUND if not_found else http.HTTPStatus.BAD_REQUEST
    log.info("%d %s %s: %s", status, request.method, request.url.path, exc)
    return JSONResponse(status_code=status, content={"error": str(exc)})


class Server:
    """kserve's REST server over every app folder of `model_root`, polled for new versions."""

    def __init__(self, model_root="saved_models", host="127.0.0.1", port=8080,
                 max_body_bytes=DEFAULT_MAX_BODY_BYTES, poll_seconds=1.0, access_log=False, threads=None):
        self.model_root = pathlib.Path(model_root)
        self.host, self.port = host, int(port)
        self.max_body_bytes = int(max_body_bytes)
        self.poll_seconds = float(poll_seconds)
        self.access_log = access_log
        self.threads = threads  # (intra-op, inter-op) as TensorFlow reports them; None: not set here
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
        # Deliberate lazy loading (installed with kserve, see the module docstring).
        import uvicorn
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
        app.add_exception_handler(kserve.errors.InvalidInput, _one_line_handler)
        app.add_exception_handler(kserve.errors.ModelNotFound, _one_line_handler)
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
        pools = "" if self.threads is None else (f"; TensorFlow threads: intra-op {self.threads[0]}, "
                                                 f"inter-op {self.threads[1]}")
        print(f"serving {versions} on http://{host}:{self.port} (TF Serving REST API: "
              f"POST /v1/models/<name>:predict{pools})", flush=True)

        async def main():
            poller = asyncio.create_task(self._poller(registry))
            try:
                await server.serve(sockets=[sock])
            finally:
                poller.cancel()

        asyncio.run(main())


# ---------------------------------------------------------------- CLI
def add_arguments(parser) -> None:
    cli.add_model_root_argument(parser)
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: 127.0.0.1, this machine only; 0.0.0.0 for all)")
    parser.add_argument("--port", type=int, default=8080,
                        help="HTTP port (default: 8080; 0 picks a free one)")
    parser.add_argument("--max-body-bytes", type=int, default=DEFAULT_MAX_BODY_BYTES, metavar="N",
                        help=f"refuse larger request bodies with 413 (default: {DEFAULT_MAX_BODY_BYTES})")
    parser.add_argument("--poll-seconds", type=float, default=1.0, metavar="S",
                        help="how often to look for new versions and apps (default: 1)")
    parser.add_argument("--access-log", action="store_true", help="log every request")
    cli.add_thread_arguments(parser)


def run(args) -> None:
    if args.max_body_bytes < 1:
        raise ClassicsError(f"--max-body-bytes: expected a positive number, got {args.max_body_bytes}")
    if args.poll_seconds <= 0:
        raise ClassicsError(f"--poll-seconds: expected a positive number, got {args.poll_seconds}")
    if not 0 <= args.port <= 65535:
        raise ClassicsError(f"--port: expected 0..65535, got {args.port}")
    threads = cli.apply_thread_arguments(args)
    started = time.perf_counter()
    server = Server(args.model_root, args.host, args.port, args.max_body_bytes, args.poll_seconds,
                    args.access_log, threads)
    log.info("loading models from %s", args.model_root)
    server.run()
    log.info("stopped after %.0f s", time.perf_counter() - started)
