"""Helpers of the serving tests: an HTTP client, the server subprocess, in-process references."""

import contextlib
import http.client
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import time

import exports
from processes import classics

MAX_BODY = 65536  # small, so the 413 tests need little data


def export_text_app(root):
    """A second, non-image "app": string and multi-input signatures, written by the shared export."""
    import tensorflow as tf

    from apps.common import export

    class Text(tf.Module):
        def __init__(self):
            super().__init__()
            self.scale = tf.Variable(1.5)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def describe(self, text):
            return {"length": tf.strings.length(text), "upper": tf.strings.upper(text)}

        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x"),
                                      tf.TensorSpec([None], tf.int32, name="k")])
        def weigh(self, x, k):
            return {"y": x * self.scale * tf.cast(k, tf.float32)[:, None]}

    module = Text()
    return export.write_saved_model("text", module, {"serving_default": module.describe,
                                                     "weigh": module.weigh}, root=root)


def export_checked_app(root):
    """An "app" with per-instance answers: `describe` returns an `error` output ("empty text"
    for an empty string, "" otherwise) and `count` the same with one other output; `parse`
    has no `error` output and its graph fails on the whole batch when one string is not a
    number."""
    import tensorflow as tf

    from apps.common import export

    def verdict(text):
        return tf.where(tf.strings.length(text) == 0, tf.constant("empty text"), tf.constant(""))

    class Checked(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def describe(self, text):
            return {"length": tf.strings.length(text), "upper": tf.strings.upper(text),
                    "error": verdict(text)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def count(self, text):
            return {"length": tf.strings.length(text), "error": verdict(text)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def parse(self, text):
            return {"double": 2.0 * tf.strings.to_number(text)}  # InvalidArgumentError on "x1"

    module = Checked()
    return export.write_saved_model("checked", module, {"serving_default": module.describe,
                                                        "count": module.count, "parse": module.parse},
                                    root=root)


class Client:
    """Tiny HTTP client over one keep-alive connection (reconnects after a close)."""

    def __init__(self, port, names=None):
        self.port = port
        self.names = dict(names or {})  # app name in a path -> the name it is served under
        self.connection = None

    def request(self, method, path, body=None, headers=None, raw=False):
        if not raw:
            path = re.sub(r"^/v1/models/([^/:]+)", lambda m: f"/v1/models/{self.names.get(m[1], m[1])}", path)
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        for attempt in range(2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                self.connection.request(method, path, body, headers or {})
                response = self.connection.getresponse()
                data = response.read()
            except (ConnectionError, http.client.RemoteDisconnected):
                self.connection.close()
                self.connection = None
                if attempt:
                    raise
                continue
            if response.getheader("connection", "").lower() == "close":
                self.connection.close()
                self.connection = None
            text = data.decode("utf-8", "replace")
            try:
                payload = json.loads(text)
            except json.JSONDecodeError:
                payload = text
            return response.status, payload, dict(response.getheaders())
        raise AssertionError("unreachable")

    def post(self, path, body, headers=None):
        return self.request("POST", path, body, {"Content-Type": "application/json", **(headers or {})})

    def get(self, path):
        return self.request("GET", path)


@contextlib.contextmanager
def running_server(root, *flags):
    """`python -m apps serve --port 0 ...` in a subprocess; yields (port, process, stderr file)."""
    log = open(pathlib.Path(root).parent / f"serve-{os.getpid()}-{time.monotonic_ns()}.log", "w+")
    process = classics("serve", "--model-root", root, "--port", "0", "--max-body-bytes", MAX_BODY, *flags,
                       stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        line = process.stdout.readline()  # printed once every model is loaded and the port is bound
        match = re.search(r"on http://127\.0\.0\.1:(\d+) ", line)
        if not match:
            log.seek(0)
            raise AssertionError(f"server did not start: {line!r}\n{log.read()[-3000:]}")
        process.start_line = line
        yield int(match.group(1)), process, log
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


class SharedServer:
    """One `classics serve` for the modules that only need their exports served (not a test of
    the server process itself): `serve(root, tag)` moves each app folder of `root` in as
    "<tag>-<app>", waits until the server's poll has loaded them and returns a client that
    addresses them by their app names. Saves a server start-up (a TensorFlow process) per module."""

    def __init__(self, root, port, log):
        self.root, self.port, self.log = pathlib.Path(root), port, log

    def log_text(self) -> str:
        """What the server has logged so far (its stderr)."""
        self.log.flush()
        return pathlib.Path(self.log.name).read_text()

    def serve(self, root, tag):
        names = {}
        for app in sorted(p for p in pathlib.Path(root).iterdir() if p.is_dir()):
            name = names[app.name] = f"{tag}-{app.name}"
            incoming = self.root / f".incoming-{name}"  # hidden: not discovered half-copied
            shutil.copytree(app, incoming)
            incoming.rename(self.root / name)
        return self.wait(names)

    def wait(self, names):
        """A client of `names` ({app name: served name}) once the server answers for each."""
        client = Client(self.port, names)
        deadline = time.monotonic() + 120
        for name in names.values():
            while client.request("GET", f"/v1/models/{name}", raw=True)[0] != 200:
                assert time.monotonic() < deadline, f"the shared server never loaded {name}"
                time.sleep(0.1)
        return client


def reference(version_dir, signature, **inputs):
    """The in-process answer: the export's concrete function called directly."""
    return exports.call(version_dir, signature, **inputs)
