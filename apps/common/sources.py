"""Datasets by name: ``mnist5k``, ``idx:<dir>``, ``folder:<dir>``, ``tfds:<name>``.

`load_image_source(spec)` parses `spec` with `resolve_source` against the registry
`IMAGE_SOURCES` (prefix -> `SourceKind`) and calls the kind's loader. Other kinds of data
(text corpora, CSV tables, detection labels) get their own registry of `SourceKind`s and
reuse `resolve_source`, so adding a kind is adding one entry, not another `if`.

Also here: `split_holdout`, the fixed-seed (optionally stratified) index split the apps use
for their test hold-out.
"""

from __future__ import annotations

import gzip
import os
import sys
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import numpy as np

from apps.common.errors import ConfigError, DataError
from apps.common.images import (
    IMAGE_SUFFIXES,
    check_channels,
    check_image_size,
    luminance,
    read_image_file,
    resize_array,
)
from apps.common.packages import EMBEDDED, fetch_package_file

FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                         "Shirt", "Sneaker", "Bag", "Ankle boot")

IDX_IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
IDX_LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension


class MissingSplitError(DataError):
    """The source exists but has no such split (`load_image_source(missing_ok=True)` -> None)."""


@dataclass(frozen=True, eq=False)
class ImageDataset:
    """Images in memory: uint8 (N, H, W, C), int64 labels (N,) indexing `class_names`.

    `skipped` lists files a loader could not read and left out (already reported on
    stderr).
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    source: str
    skipped: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        imgs, labels = self.images, self.labels
        if not isinstance(imgs, np.ndarray) or imgs.dtype != np.uint8 or imgs.ndim != 4 \
                or imgs.shape[-1] not in (1, 3):
            raise DataError(f"{self.source}: images must be uint8 (N, H, W, 1|3), got "
                            f"{getattr(imgs, 'dtype', type(imgs).__name__)} "
                            f"{getattr(imgs, 'shape', '')}")
        if not isinstance(labels, np.ndarray) or labels.dtype != np.int64 or labels.ndim != 1 \
                or len(labels) != len(imgs):
            raise DataError(f"{self.source}: labels must be int64 ({len(imgs)},), got "
                            f"{getattr(labels, 'dtype', type(labels).__name__)} "
                            f"{getattr(labels, 'shape', '')}")
        if not isinstance(self.class_names, tuple) or not self.class_names \
                or not all(isinstance(c, str) for c in self.class_names):
            raise DataError(f"{self.source}: class_names must be a non-empty tuple of str")
        if len(labels) and (labels.min() < 0 or labels.max() >= len(self.class_names)):
            raise DataError(f"{self.source}: labels must be in 0..{len(self.class_names) - 1}"
                            f", got {labels.min()}..{labels.max()}")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(int(d) for d in self.images.shape[1:])

    def take(self, indices: np.ndarray) -> ImageDataset:
        """The examples at `indices` (e.g. one side of `split_holdout`)."""
        idx = np.asarray(indices, dtype=np.int64)
        return ImageDataset(self.images[idx], self.labels[idx], self.class_names,
                            self.source, self.skipped)


@dataclass(frozen=True)
class SourceKind:
    """One kind of dataset spec.

    usage: how the kind is written in messages, e.g. ``"idx:<dir>"``.
    loader: ``loader(arg, **options)``; `arg` is the text after ``prefix:`` (for a bare
        name, the name itself).
    takes_arg: True for ``prefix:<arg>`` kinds, False for bare names like ``mnist5k``
        (which may also be written ``embedded:<name>``).
    """

    usage: str
    loader: Callable[..., object]
    takes_arg: bool = True


def resolve_source(spec: str, kinds: Mapping[str, SourceKind], *,
                   what: str = "dataset") -> tuple[SourceKind, str]:
    """Parse `spec` against a registry -> (kind, arg); unknown specs raise DataError."""
    usages = [k.usage for k in kinds.values()]
    expected = usages[0] if len(usages) == 1 else ", ".join(usages[:-1]) + " or " + usages[-1]
    unknown = DataError(f"unknown {what} {spec!r}: expected {expected}")
    if not isinstance(spec, str) or not spec.strip():
        raise unknown
    spec = spec.strip()
    prefix, sep, arg = spec.partition(":")
    if not sep:
        kind = kinds.get(spec)
        if kind is None or kind.takes_arg:
            raise unknown
        return kind, spec
    if prefix == "embedded":
        kind = kinds.get(arg)
        if kind is None or kind.takes_arg:
            raise unknown
        return kind, arg
    kind = kinds.get(prefix)
    if kind is None or not kind.takes_arg:
        raise unknown
    if not arg.strip():
        raise DataError(f"{what} {spec!r}: nothing after '{prefix}:' (expected {kind.usage})")
    return kind, arg.strip()


def load_image_source(spec: str, *, image_size: int | None = None,
                      channels: int | None = None, split: str = "train",
                      missing_ok: bool = False) -> ImageDataset | None:
    """Load an image classification dataset by name.

    spec: ``mnist5k`` (or ``embedded:mnist5k``), ``idx:<dir>``, ``folder:<dir>`` or
        ``tfds:<name>[/<config>]``.
    image_size: resize every image to (image_size, image_size); None keeps sizes (which
        must then agree).
    channels: 1 or 3 to convert (gray <-> RGB); None keeps the source's channels.
    split: which split to load ("train", "test", ... as the source supports).
    missing_ok: return None (instead of raising `MissingSplitError`) when the source has
        no such split, e.g. ``split="test"`` of mnist5k or of a folder without a
        ``train/`` + ``test/`` layout; the caller then holds out its own test set.
    """
    check_image_size(image_size)
    check_channels(channels)
    if not isinstance(split, str) or not split:
        raise ConfigError(f"split: expected a split name like 'train', got {split!r}")
    kind, arg = resolve_source(spec, IMAGE_SOURCES)
    try:
        return kind.loader(arg, image_size=image_size, channels=channels, split=split)
    except MissingSplitError:
        if missing_ok:
            return None
        raise


# --------------------------------------------------------------------------------------
# helpers


def _conform_stack(images: np.ndarray, *, image_size: int | None,
                   channels: int | None) -> np.ndarray:
    """Channel conversion then resize of a whole uint8 (N, H, W, C) stack."""
    if channels is not None and images.shape[-1] != channels:
        images = luminance(images) if channels == 1 else np.repeat(images, 3, axis=-1)
    if image_size is not None and images.shape[1:3] != (image_size, image_size):
        images = np.stack([resize_array(img, image_size) for img in images]) if len(images) \
            else np.zeros((0, image_size, image_size, images.shape[-1]), np.uint8)
    return np.ascontiguousarray(images)


def _read_bytes_maybe_gz(path: Path) -> bytes:
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if data[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"{path}: corrupt or truncated gzip data ({exc})") from None
    return data


# --------------------------------------------------------------------------------------
# mnist5k


def _load_mnist5k(_name: str, *, image_size: int | None, channels: int | None,
                  split: str) -> ImageDataset:
    if split != "train":
        raise MissingSplitError(f"mnist5k: has only a 'train' split (5,000 images), got "
                                f"split {split!r}; hold out test images with split_holdout")
    path = fetch_package_file(EMBEDDED["mnist5k"])
    try:
        with gzip.open(path, "rt", encoding="ascii") as fh:
            rows = np.loadtxt(fh, delimiter=",", dtype=np.int64, ndmin=2)
    except (OSError, EOFError, zlib.error, ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a valid mnist_5k gzip CSV ({exc})") from None
    if rows.shape[1] != 785:
        raise DataError(f"{path}: expected 785 columns (784 pixels + label), got "
                        f"{rows.shape[1]}")
    pixels, labels = rows[:, :784], rows[:, 784]
    if len(rows) == 0 or pixels.min() < 0 or pixels.max() > 255:
        raise DataError(f"{path}: expected pixel values 0..255 in {len(rows)} rows, got "
                        f"{pixels.min(initial=0)}..{pixels.max(initial=0)}")
    if labels.min() < 0 or labels.max() > 9:
        raise DataError(f"{path}: expected labels 0..9, got {labels.min()}..{labels.max()}")
    images = pixels.astype(np.uint8).reshape(-1, 28, 28, 1)
    images = _conform_stack(images, image_size=image_size, channels=channels)
    return ImageDataset(images, labels.astype(np.int64), tuple(str(i) for i in range(10)),
                        "mnist5k")


# --------------------------------------------------------------------------------------
# idx:<dir>


def read_idx_file(path, magic: int) -> np.ndarray:
    """Read an IDX (MNIST format) file of unsigned bytes, gzip or raw -> uint8 array.

    Validates the magic number (2051 for images, 2049 for labels), the header length and
    that the data size equals the product of the big-endian dimensions.
    """
    path = Path(path)
    data = _read_bytes_maybe_gz(path)
    if len(data) < 4:
        raise DataError(f"{path}: too short for an IDX file ({len(data)} bytes)")
    got = int.from_bytes(data[:4], "big")
    if got != magic:
        raise DataError(f"{path}: bad IDX magic number {got}, expected {magic} "
                        f"({'images' if magic == IDX_IMAGES_MAGIC else 'labels'} file)")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: IDX header needs {header} bytes, file has {len(data)}")
    dims = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(dims, dtype=np.int64))
    if len(data) - header != expected:
        raise DataError(f"{path}: IDX dimensions {'x'.join(map(str, dims))} need {expected} "
                        f"data bytes, got {len(data) - header}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _find_idx(folder: Path, prefix: str, what: str, ndim: int,
              missing: type[DataError] = DataError) -> Path:
    """The IDX file of one split; raises `missing` when there is none."""
    names = [f"{prefix}-{what}-idx{ndim}-ubyte", f"{prefix}-{what}.idx{ndim}-ubyte"]
    for name in names:
        for candidate in (folder / name, folder / (name + ".gz")):
            if candidate.is_file():
                return candidate
    raise missing(f"idx:{folder}: no {names[0]}[.gz] file (expected MNIST-format IDX files "
                  f"{prefix}-images-idx3-ubyte and {prefix}-labels-idx1-ubyte)")


def _read_class_file(folder: Path) -> tuple[Path, tuple[str, ...]] | None:
    for name in ("labels.txt", "classes.txt"):
        path = folder / name
        if path.is_file():
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise DataError(f"{path}: cannot read class names ({exc})") from None
            names = tuple(line.strip() for line in text.splitlines() if line.strip())
            if not names:
                raise DataError(f"{path}: no class names (expected one name per line)")
            return path, names
    return None


def _load_idx(arg: str, *, image_size: int | None, channels: int | None,
              split: str) -> ImageDataset:
    folder = Path(arg).expanduser()
    if not folder.is_dir():
        raise DataError(f"idx:{arg}: no such directory")
    prefixes = {"train": "train", "test": "t10k", "t10k": "t10k"}
    if split not in prefixes:
        raise MissingSplitError(f"idx:{folder}: split must be 'train' or 'test', got {split!r}")
    prefix = prefixes[split]
    img_path = _find_idx(folder, prefix, "images", 3, MissingSplitError)
    lab_path = _find_idx(folder, prefix, "labels", 1)
    images = read_idx_file(img_path, IDX_IMAGES_MAGIC)
    labels = read_idx_file(lab_path, IDX_LABELS_MAGIC).astype(np.int64)
    if len(images) != len(labels):
        raise DataError(f"{lab_path}: {len(labels)} labels, expected {len(images)} (one per "
                        f"image in {img_path.name})")
    if len(images) == 0 or images.shape[1] == 0 or images.shape[2] == 0:
        raise DataError(f"{img_path}: no images (dimensions {images.shape})")
    top = int(labels.max())
    named = _read_class_file(folder)
    if named is not None:
        names_path, class_names = named
        if top >= len(class_names):
            raise DataError(f"{names_path}: {len(class_names)} class names, but "
                            f"{lab_path.name} has label {top}")
    else:
        n = max(10, top + 1)
        if n == 10 and "fashion" in str(folder.resolve()).lower():
            class_names = FASHION_MNIST_CLASSES
        else:
            class_names = tuple(str(i) for i in range(n))
    images = _conform_stack(images[..., None], image_size=image_size, channels=channels)
    return ImageDataset(images, labels, class_names, f"idx:{folder}")


# --------------------------------------------------------------------------------------
# folder:<dir>

_SPLIT_NAMES = ("train", "test", "val", "validation")


def subdirs(path: Path) -> list[Path]:
    try:
        return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError as exc:
        raise DataError(f"{path}: cannot list directory ({exc.strerror or exc})") from None


def image_files(folder: Path) -> list[Path]:
    files = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith(".") and name.lower().endswith(IMAGE_SUFFIXES):
                files.append(Path(dirpath) / name)
    return files


def _load_folder(arg: str, *, image_size: int | None, channels: int | None,
                 split: str) -> ImageDataset:
    root = Path(arg).expanduser()
    if not root.is_dir():
        raise DataError(f"folder:{arg}: no such directory")
    if (root / "train").is_dir():
        # split layout: root/<split>/<class>/...; class names come from root/train so that
        # label indices agree between splits.
        base = root / split
        if not base.is_dir():
            have = [p.name for p in subdirs(root)]
            raise MissingSplitError(f"folder:{root}: no '{split}' split folder (found {have})")
        class_names = tuple(p.name for p in subdirs(root / "train"))
        if not class_names:
            raise DataError(f"{root / 'train'}: no class subfolders (expected "
                            f"{root / 'train'}/<class>/<image files>)")
        extra = [p.name for p in subdirs(base) if p.name not in class_names]
        if extra:
            raise DataError(f"{base}: class folders {extra} are not in {root / 'train'} "
                            f"(classes: {list(class_names)})")
    else:
        if split != "train":
            raise MissingSplitError(f"folder:{root}: no split layout (root/train/<class>/), so "
                                    f"there is no {split!r} split; use split='train' and "
                                    "split_holdout")
        base = root
        class_names = tuple(p.name for p in subdirs(root))
        if not class_names:
            raise DataError(f"{root}: no class subfolders (expected {root}/<class>/<image "
                            "files>)")

    images: list[np.ndarray] = []
    labels: list[int] = []
    files: list[Path] = []
    skipped: list[str] = []
    for label, name in enumerate(class_names):
        class_dir = base / name
        if not class_dir.is_dir():
            continue  # a split may lack a class (checked below that something is there)
        candidates = image_files(class_dir)
        if not candidates:
            raise DataError(f"{class_dir}: no image files (expected "
                            f"{', '.join(s.lstrip('.') for s in IMAGE_SUFFIXES)})")
        ok = 0
        for path in candidates:
            try:
                arr = read_image_file(path, channels=channels, image_size=image_size,
                                      allow_gray_to_rgb=True)
            except DataError as exc:
                print(f"warning: skipped {exc}", file=sys.stderr)
                skipped.append(str(path))
                continue
            images.append(arr)
            labels.append(label)
            files.append(path)
            ok += 1
        if ok == 0:
            raise DataError(f"{class_dir}: none of its {len(candidates)} image files could "
                            "be read")
    if not images:
        raise DataError(f"{base}: no image files in its class subfolders")
    if skipped:
        print(f"warning: folder:{base}: skipped {len(skipped)} unreadable image file(s)",
              file=sys.stderr)

    if channels is None and len({a.shape[-1] for a in images}) > 1:
        images = [np.repeat(a, 3, axis=-1) if a.shape[-1] == 1 else a for a in images]
    shapes = {a.shape[:2] for a in images}
    if len(shapes) > 1:
        first = images[0].shape[:2]
        other = next(i for i, a in enumerate(images) if a.shape[:2] != first)
        raise DataError(
            f"folder:{base}: images have different sizes ({first[0]}x{first[1]} in "
            f"{files[0]}, {images[other].shape[0]}x{images[other].shape[1]} in "
            f"{files[other]}); pass image_size to resize them to one square size")
    return ImageDataset(np.stack(images), np.asarray(labels, dtype=np.int64), class_names,
                        f"folder:{root}", tuple(skipped))


# --------------------------------------------------------------------------------------
# tfds:<name>[/<config>]


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def _tfds_failure(arg: str, exc: BaseException) -> DataError:
    reason = _one_line(exc)
    return DataError(f"tfds:{arg}: could not download or prepare the dataset ({reason}); "
                     "without internet use mnist5k, idx:<dir> or folder:<dir>")


def _load_tfds(arg: str, *, image_size: int | None, channels: int | None,
               split: str) -> ImageDataset:
    name = arg.split("/", 1)[0].split(":", 1)[0]
    if not name or not all(c.isalnum() or c == "_" for c in name):
        raise DataError(f"tfds:{arg}: expected a TFDS dataset name like tfds:mnist or "
                        "tfds:cifar10")
    try:
        import tensorflow_datasets as tfds
    except ImportError as exc:
        raise DataError(f"tfds:{arg}: tensorflow-datasets is not importable ({exc})") from None
    try:
        builders = set(tfds.list_builders(with_community_datasets=False))
    except Exception:  # noqa: BLE001 - the listing is only a courtesy check
        builders = None
    if builders is not None and name not in builders:
        raise DataError(f"tfds:{arg}: unknown TFDS dataset {name!r} (see "
                        "tensorflow_datasets.list_builders()); offline sources are mnist5k, "
                        "idx:<dir> and folder:<dir>")
    try:
        ds, info = tfds.load(arg, split=split, as_supervised=True, with_info=True)
    except Exception as exc:  # noqa: BLE001 - tfds raises many kinds; all mean "unavailable"
        if "unknown split" in str(exc).lower():
            raise MissingSplitError(f"tfds:{arg}: no split {split!r} "
                                    f"({_one_line(exc)})") from None
        raise _tfds_failure(arg, exc) from None
    keys = info.supervised_keys
    label_key = keys[1] if isinstance(keys, (tuple, list)) and len(keys) == 2 else "label"
    feature = info.features[label_key] if label_key in info.features else None
    names = getattr(feature, "names", None)
    if not isinstance(label_key, str) or not names:
        raise DataError(f"tfds:{arg}: its label {label_key!r} has no class names; not an "
                        "image classification dataset")
    images: list[np.ndarray] = []
    labels: list[int] = []
    try:
        for img, label in tfds.as_numpy(ds):
            img = np.asarray(img)
            if img.ndim == 2:
                img = img[..., None]
            if img.dtype != np.uint8 or img.ndim != 3 or img.shape[-1] not in (1, 3, 4):
                raise DataError(f"tfds:{arg}: expected uint8 (H, W, 1|3) images, got "
                                f"{img.dtype} {img.shape}")
            img = img[..., :3] if img.shape[-1] == 4 else img
            if channels is not None and img.shape[-1] != channels:
                img = luminance(img) if channels == 1 else np.repeat(img, 3, axis=-1)
            images.append(resize_array(img, image_size))
            labels.append(int(label))
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise _tfds_failure(arg, exc) from None
    if not images:
        raise DataError(f"tfds:{arg}: split {split!r} is empty")
    if len({a.shape for a in images}) > 1:
        raise DataError(f"tfds:{arg}: images have different sizes; pass image_size to resize "
                        "them to one square size")
    return ImageDataset(np.stack(images), np.asarray(labels, dtype=np.int64),
                        tuple(str(n) for n in names), f"tfds:{arg}")


#: prefix (or bare name) -> kind. Later image kinds are added here.
IMAGE_SOURCES: Mapping[str, SourceKind] = MappingProxyType({
    "mnist5k": SourceKind("mnist5k", _load_mnist5k, takes_arg=False),
    "idx": SourceKind("idx:<dir>", _load_idx),
    "folder": SourceKind("folder:<dir>", _load_folder),
    "tfds": SourceKind("tfds:<name>", _load_tfds),
})


# --------------------------------------------------------------------------------------
# hold-out split


def split_holdout(n: int, holdout: int | float, seed: int, *,
                  labels: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-seed split of ``range(n)`` -> (train_idx, holdout_idx), each sorted int64.

    holdout: a count (int, 0 <= holdout < n) or a fraction (float in (0, 1)).
    labels: when given (length n), the split is stratified: each class contributes
        ``holdout * class_count / n`` examples, rounded by largest remainder so the total is
        exactly `holdout`, keeping at least one example of every class in train when
        possible. The same (n, holdout, seed, labels) always gives the same split.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ConfigError(f"split_holdout: n must be a positive integer, got {n!r}")
    if isinstance(holdout, bool) or not isinstance(holdout, (int, float, np.integer,
                                                             np.floating)):
        raise ConfigError(f"split_holdout: holdout must be a count or a fraction, got "
                          f"{holdout!r}")
    if isinstance(holdout, (float, np.floating)):
        if not 0.0 < holdout < 1.0:
            raise ConfigError(f"split_holdout: a fractional holdout must be in (0, 1), got "
                              f"{holdout}")
        count = int(round(holdout * n))
    else:
        count = int(holdout)
    if count < 0 or count >= n:
        raise DataError(f"hold-out of {count} examples needs a dataset larger than that, "
                        f"got {n} examples")
    rng = np.random.default_rng(seed)
    if labels is None:
        hold = np.sort(rng.permutation(n)[:count])
    else:
        labels = np.asarray(labels)
        if labels.shape != (n,):
            raise DataError(f"split_holdout: labels must have shape ({n},), got "
                            f"{labels.shape}")
        classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
        alloc = _allocate(count, counts)
        parts = [rng.permutation(np.flatnonzero(inverse == c))[:alloc[c]]
                 for c in range(len(classes))]
        hold = np.sort(np.concatenate(parts)) if parts else np.zeros(0, np.int64)
    hold = hold.astype(np.int64)
    mask = np.ones(n, dtype=bool)
    mask[hold] = False
    return np.flatnonzero(mask).astype(np.int64), hold


def _allocate(total: int, counts: np.ndarray) -> np.ndarray:
    """Largest-remainder allocation of `total` over classes of size `counts`."""
    n = int(counts.sum())
    exact = total * counts / n
    keep_one = np.maximum(counts - 1, 0)
    alloc = np.minimum(np.floor(exact).astype(np.int64), keep_one)
    order = np.lexsort((np.arange(len(counts)), -(exact - alloc)))
    remaining = total - int(alloc.sum())
    for limit in (keep_one, counts):
        while remaining > 0:
            progressed = False
            for i in order:
                if remaining == 0:
                    break
                if alloc[i] < limit[i]:
                    alloc[i] += 1
                    remaining -= 1
                    progressed = True
            if not progressed:
                break
    return alloc
