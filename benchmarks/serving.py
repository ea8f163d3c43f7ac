"""`classics serve` on loopback: overhead over the in-process call, and a bounded load test.

Setup: the classification app's `tiny` network (random weights: serving cost does not depend
on them) exported with the app's own `serving.export_module` + the shared `write_saved_model`,
served by `python -m apps serve --port 0` in a subprocess (one uvicorn worker, 2 shared cores).

Rows (all references measured in this run):
- in-process: p50 of the export's `predict_images` concrete function called in this process
  on one uint8 28x28 image, outputs fetched with `.numpy()` (what the server runs per request).
- overhead: p50 of the same request through the server (one client, keep-alive,
  `POST /v1/models/classification:predict`, row format, JSON) minus the in-process p50;
  the two are measured in alternating rounds so load from other processes hits both alike.
  Target <= 2 ms.
- b64 PNG: the same for `serving_default` with the image as {"b64": PNG} (decoded in-graph).
- load: 8 concurrent clients (threads, one keep-alive connection each) x 500 requests of
  batch 1; errors (non-200 or exceptions; target 0), p50/p99 latency and requests/s.
"""

import base64
import http.client
import io
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

from benchmarks.common import Row, log, median

REPO = pathlib.Path(__file__).resolve().parent.parent
PATH = "/v1/models/classification:predict"
TARGET_OVERHEAD_MS = 2.0


def export_tiny(root):
    from apps.classification.config import PRESETS, Config
    from apps.classification.model import build_model
    from apps.classification.serving import export_module
    from apps.common import export
    from apps.common.config import preset_config

    config = preset_config(Config, PRESETS, "tiny")
    model = build_model(config, 10, (28, 28, 1))
    module, signatures = export_module(model, [str(i) for i in range(10)], False)
    return export.write_saved_model("classification", module, signatures, root=root)


def start_server(root):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    process = subprocess.Popen(
        [sys.executable, "-m", "apps", "serve", "--model-root", str(root), "--port", "0"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = process.stdout.readline()
    match = re.search(r"on http://127\.0\.0\.1:(\d+) ", line)
    if not match:
        process.kill()
        raise RuntimeError(f"server did not start: {line!r}")
    return process, int(match.group(1))


def stop_server(process):
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def timed_requests(port, body, n):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/json"}
    times, errors = [], 0
    for _ in range(n):
        start = time.perf_counter()
        try:
            connection.request("POST", PATH, body, headers)
            response = connection.getresponse()
            data = response.read()
            ok = response.status == 200 and b"predictions" in data
        except (OSError, http.client.HTTPException):
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            ok = False
        times.append(time.perf_counter() - start)
        errors += not ok
    connection.close()
    return times, errors


def timed_calls(function, inputs, n):
    times = []
    for _ in range(n):
        start = time.perf_counter()
        outputs = function(**inputs)
        {name: t.numpy() for name, t in outputs.items()}
        times.append(time.perf_counter() - start)
    return times


def overhead(port, function, inputs, body, rounds, per_round):
    """(served p50, in-process p50) in seconds, measured in alternating rounds after warm-up."""
    timed_calls(function, inputs, 20)
    timed_requests(port, body, 20)
    served, local = [], []
    for r in range(rounds):
        pair = [(local, lambda: timed_calls(function, inputs, per_round)),
                (served, lambda: timed_requests(port, body, per_round)[0])]
        for out, measure in (pair if r % 2 == 0 else pair[::-1]):
            out.extend(measure())
    return median(served), median(local)


def load_test(port, body, clients, requests):
    results = [None] * clients

    def client(i):
        results[i] = timed_requests(port, body, requests)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    times = np.concatenate([r[0] for r in results])
    errors = sum(r[1] for r in results)
    return times, errors, wall


def png_bytes(image):
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image[..., 0]).save(buffer, format="PNG")
    return buffer.getvalue()


def run(quick: bool = False):
    import tensorflow as tf

    rounds, per_round = (2, 30) if quick else (6, 100)
    clients, requests = (8, 50) if quick else (8, 500)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (1, 28, 28, 1), dtype=np.uint8)
    png = png_bytes(image[0])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        log("serving: exporting the tiny classifier")
        version_dir = export_tiny(tmp)
        loaded = tf.saved_model.load(str(version_dir))
        log("serving: starting `python -m apps serve`")
        process, port = start_server(tmp)
        try:
            body = json.dumps({"signature_name": "predict_images", "instances": image.tolist()}).encode()
            served, local = overhead(port, loaded.signatures["predict_images"],
                                     {"images": tf.constant(image)}, body, rounds, per_round)
            b64_body = json.dumps({"instances": [{"b64": base64.b64encode(png).decode()}]}).encode()
            served_b64, local_b64 = overhead(port, loaded.signatures["serving_default"],
                                             {"image_bytes": tf.constant([png])}, b64_body, rounds, per_round)
            log(f"serving: load test {clients} clients x {requests} requests")
            times, errors, wall = load_test(port, body, clients, requests)
        finally:
            stop_server(process)

    over = (served - local) * 1e3
    rows.append(Row("serving: in-process call p50 (uint8, batch 1)", local * 1e3, "ms"))
    rows.append(Row("serving: server overhead p50 (uint8, batch 1)", over, "ms", local * 1e3, "ms",
                    target=f"<= {TARGET_OVERHEAD_MS:g} ms", ok=over <= TARGET_OVERHEAD_MS,
                    ratio=served / local,
                    note=f"served p50 {served * 1e3:.2f} ms vs in-process {local * 1e3:.2f} ms "
                         f"({rounds} alternating rounds x {per_round}); ratio = served / in-process"))
    over_b64 = (served_b64 - local_b64) * 1e3
    rows.append(Row("serving: server overhead p50 (b64 PNG, batch 1)", over_b64, "ms", local_b64 * 1e3, "ms",
                    ratio=served_b64 / local_b64,
                    note=f"served p50 {served_b64 * 1e3:.2f} ms vs in-process {local_b64 * 1e3:.2f} ms"))
    n = clients * requests
    rows.append(Row(f"serving load: errors of {clients}x{requests} requests", float(errors), "",
                    target="0", ok=errors == 0))
    rows.append(Row("serving load: p50 latency", float(np.percentile(times, 50)) * 1e3, "ms"))
    rows.append(Row("serving load: p99 latency", float(np.percentile(times, 99)) * 1e3, "ms"))
    rows.append(Row("serving load: throughput", n / wall, "req/s",
                    note=f"{n} requests in {wall:.1f} s, one uvicorn worker, clients in the same machine"))
    return rows
