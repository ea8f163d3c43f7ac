import concurrent.futures
import os

import pytest

# Quiet TensorFlow's C++ start-up chatter in the test log.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# One TensorFlow thread per process, this one and its children alike (set before anything imports
# TensorFlow): the tests' ops are small, so a second thread mostly waits on the first, and the
# background jobs' processes (below) need the other core. Measured on tests/layers, tests/faces
# and tests/sentiment/test_app.py, back to back, other work at nice 15 on the machine: 155 s with
# one thread, 173 s with two.
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")


def pytest_collection_modifyitems(items):
    """Tests marked `background` run last: by then their child processes have run beside the
    in-process tests (which keep about one of the two cores busy)."""
    items.sort(key=lambda item: item.get_closest_marker("background") is not None)  # stable


class Jobs:
    """Child-process work (kills, resumes, clusters) started when the session starts, one job at
    a time on a thread that only waits on its processes; a test takes a result by name (and
    gets the job's exception, if it raised)."""

    def __init__(self):
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="jobs")
        self._futures = {}

    def submit(self, name, job):
        self._futures[name] = self._pool.submit(job)

    def result(self, name):
        return self._futures[name].result()

    def close(self):
        self._pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture(scope="session", autouse=True)
def jobs(request, tmp_path_factory):
    """The `background_jobs(request, root)` of every selected module with `background` tests,
    submitted before the first test runs: {name: job}, each job a function of no arguments
    that runs child processes only (no TensorFlow in this process's threads)."""
    runner = Jobs()
    modules = {item.module for item in request.session.items if item.get_closest_marker("background")}
    for module in sorted(modules, key=lambda m: m.__name__):
        root = tmp_path_factory.mktemp(module.__name__.rsplit(".", 1)[-1])
        for name, job in module.background_jobs(request, root).items():
            runner.submit(name, job)
    yield runner
    runner.close()


@pytest.fixture(autouse=True)
def _exports_loaded_once():
    """Commands load their export at every call (faces enroll/identify/verify/calibrate,
    translation translate, ...) and tests call them many times on a few exports: in this
    process each export is loaded once while unchanged (tests/exports.py). Measured on
    tests/faces alone: 123 s -> 103 s."""
    import exports

    with exports.cached_loads():
        yield


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A 2-epoch tiny classifier on the embedded MNIST-5k (trained once per session): its Run."""
    from apps.classification.config import PRESETS, Config
    from apps.classification.task import TASK
    from apps.common import config as config_lib

    runs = tmp_path_factory.mktemp("runs")
    config = config_lib.resolve(Config, PRESETS, preset="tiny", sets=[f"runs_dir={runs}"])
    return TASK.train(config, verbose=0)


@pytest.fixture(scope="session")
def tiny_export(tiny_run, tmp_path_factory):
    """`tiny_run` exported once (TASK.export, with its calibration): the version directory
    saved_models/classification/1. Tests that serve it beside other models copy it
    (helpers.copy_version); none may change it."""
    from apps.classification.task import TASK

    return TASK.export(tiny_run, root=tmp_path_factory.mktemp("tiny_export"))


def _colour_folder(root, per_class: int, bright: int):
    """folder:<root> with 3 classes of RGB 16x16 images, told apart by their colour:
    random dark pixels with one channel raised to bright..255."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for c, name in enumerate(["red", "green", "blue"]):
        (root / name).mkdir()
        for i in range(per_class):
            pixels = rng.integers(0, 60, (16, 16, 3), dtype=np.uint8)
            pixels[..., c] = rng.integers(bright, 255, (16, 16), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


@pytest.fixture(scope="session")
def rgb_folder(tmp_path_factory):
    """12 images per class, well apart: for the classification app's tests."""
    return _colour_folder(tmp_path_factory.mktemp("rgb"), 12, 180)


@pytest.fixture(scope="session")
def colour_folder(tmp_path_factory):
    """40 images per class, closer: trials of seconds whose scores differ, for tuning."""
    return _colour_folder(tmp_path_factory.mktemp("colours"), 40, 120)
