"""Small file and process helpers that keep data whole: atomic writes, live-process checks."""

import json
import os
import pathlib
import tempfile


def atomic_write_bytes(path, data: bytes) -> None:
    """Write `data` to `path` so readers see the old file or the new one, never a part."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path, value) -> pathlib.Path:
    """`value` as indented JSON, atomically."""
    atomic_write_text(path, json.dumps(value, indent=2, ensure_ascii=False) + "\n")
    return pathlib.Path(path)


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (signal 0 probes without sending)."""
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
