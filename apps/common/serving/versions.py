"""The served version of each app folder: loaded exports, polled for new versions.

saved_models/<app>/<integer version>/: exports appear by an atomic rename, so an integer
folder holding saved_model.pb is whole. The highest loadable version is served; a new one is
loaded (in the poller's thread) and swapped in; one that fails to load is logged once and the
previous version keeps serving.
"""

import dataclasses
import logging
import pathlib
import threading

from google.protobuf import json_format  # installed with TensorFlow; light, unlike TF itself

from apps.common import export as export_lib
from apps.common import request_examples
from apps.common.serving.codec import NotFound

log = logging.getLogger("classics.serve")


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
    import tensorflow as tf  # deliberate lazy loading: `classics --help` must not start TF

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
