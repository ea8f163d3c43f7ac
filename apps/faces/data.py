"""Identities, splits by person, P x K batches and pairs.

A dataset source gives images and a class per image; here a class is a person. People
are ordered naturally (s1, s2, ..., s10, not s1, s10, s11) and split by person: the last
`test_identities` are never trained on, the `val_identities` before them select the
checkpoint and calibrate the threshold. With `val_identities=0` a tenth of each training
person's images validates instead.
"""

import dataclasses
import math
import os
import re
import sys

import numpy as np

from apps.common import sources
from apps.common.augment import augmenter
from apps.common.errors import ConfigError, DataError
from apps.common.face_teachers import FaceDetector, FaceMesh
from apps.common.images import IMAGE_SUFFIXES, conform_array, read_image_file
from apps.faces import align, crop


@dataclasses.dataclass(frozen=True)
class FaceSplits:
    x_train: np.ndarray  # (N, H, W, C) uint8
    y_train: np.ndarray  # (N,) int64 person ids indexing `names`
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    names: tuple  # every person's name, by id
    val_unseen: bool  # True: validation people are not training people

    @property
    def input_shape(self):
        return tuple(self.x_train.shape[1:])

    def people(self, labels) -> list:
        return [self.names[i] for i in np.unique(labels)]


def natural_key(name: str):
    """'s10' sorts after 's9': digit runs compare as numbers."""
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


def _olivetti(image_size, channels):
    try:
        from sklearn.datasets import fetch_olivetti_faces
    except ImportError:
        raise DataError("olivetti: needs scikit-learn (pip install scikit-learn)") from None
    try:
        bunch = fetch_olivetti_faces()
    except Exception as exc:  # noqa: BLE001 - urllib errors of many kinds mean "offline"
        raise DataError(f"olivetti: scikit-learn could not download it ({type(exc).__name__}); "
                        f"offline, use folder:<AT&T root> (the same 400 faces)") from None
    images = np.clip(np.rint(bunch.images * 255), 0, 255).astype(np.uint8)[..., None]
    return sources.ImageDataset(_conform(images, image_size, channels), bunch.target.astype(np.int64),
                                tuple(f"s{i + 1}" for i in range(40)), "olivetti")


def _lfw(image_size, channels):
    """tfds's LFW: the label is the person's name (text), so group by it here."""
    try:
        import tensorflow_datasets as tfds

        ds = tfds.load("lfw", split="train")
    except Exception as exc:  # noqa: BLE001
        raise DataError(f"tfds:lfw: could not download or prepare it ({type(exc).__name__}); "
                        "offline, use folder:<root> with one subfolder per person") from None
    images, names = [], []
    for item in tfds.as_numpy(ds):
        images.append(item["image"])
        names.append(item["label"].decode())
    people = sorted(set(names))
    index = {n: i for i, n in enumerate(people)}
    stack = _conform(np.stack(images), image_size, channels)
    return sources.ImageDataset(stack, np.array([index[n] for n in names], np.int64),
                                tuple(people), "tfds:lfw")


def _conform(images, image_size, channels):

    return np.stack([conform_array(a, channels=channels, image_size=image_size) for a in images])


def _folder_cropped(root, image_size, channels, aligned=False, frame=align.FRAMES["att"]):
    """folder:<root> read file by file, each photo cut to its largest face first (Haar
    cascade), or (`aligned`) its one face aligned by landmarks into `frame` (apps/faces/align.py)."""

    root = os.path.expanduser(root)
    if not os.path.isdir(root):
        raise DataError(f"folder:{root}: no such directory")
    people = sorted((d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d))
                     and not d.startswith(".")), key=natural_key)
    images, labels = [], []
    teachers = (FaceDetector(), FaceMesh()) if aligned else None
    for label, person in enumerate(people):
        folder = os.path.join(root, person)
        for name in sorted(os.listdir(folder)):
            if name.startswith(".") or not name.lower().endswith(IMAGE_SUFFIXES):
                continue
            path = os.path.join(folder, name)
            try:
                rgb = read_image_file(path, channels=3, allow_gray_to_rgb=True)
                face = (align.align_face(rgb, *teachers, name=path, frame=frame) if aligned
                        else crop.crop_face(rgb, path))
            except DataError as exc:
                print(f"warning: skipped {exc}", file=sys.stderr)
                continue
            images.append(conform_array(face, channels=channels, image_size=image_size))
            labels.append(label)
    if not images:
        raise DataError(f"folder:{root}: no face found in any image")
    return sources.ImageDataset(np.stack(images), np.array(labels, np.int64), tuple(people),
                                f"folder:{root}")


def load_identities(config) -> sources.ImageDataset:
    """Every image with its person id; people in natural order, those with one image dropped."""
    size, channels = int(config.image_size), int(config.channels)
    if size < 8:
        raise ConfigError(f"image_size: expected >= 8, got {config.image_size}")
    if channels not in (1, 3):
        raise ConfigError(f"channels: expected 1 or 3, got {config.channels}")
    if config.checkpoint not in ("best", "last"):
        raise ConfigError(f"checkpoint: expected best or last, got {config.checkpoint!r}")
    spec = config.data.strip()
    if spec == "olivetti":
        ds = _olivetti(size, channels)
    elif spec == "tfds:lfw":
        ds = _lfw(size, channels)
    elif (config.crop_faces or config.align_faces) and spec.startswith("folder:"):
        ds = _folder_cropped(spec[len("folder:"):], size, channels, aligned=config.align_faces,
                             frame=align.frame_for(config.backbone))
    else:
        if config.crop_faces or config.align_faces:
            key = "crop_faces" if config.crop_faces else "align_faces"
            raise ConfigError(f"{key}: only folder:<root> sources are cropped or aligned, got {spec!r}")
        ds = sources.load_image_source(spec, image_size=size, channels=channels)
    order = sorted(range(len(ds.class_names)), key=lambda i: natural_key(ds.class_names[i]))
    remap = np.empty(len(order), np.int64)
    remap[order] = np.arange(len(order))
    names = tuple(ds.class_names[i] for i in order)
    labels = remap[ds.labels]
    counts = np.bincount(labels, minlength=len(names))
    lonely = [names[i] for i in np.flatnonzero(counts == 1)]
    if lonely:
        print(f"warning: {ds.source}: skipped {len(lonely)} person folder(s) with a single image "
              f"(no positive pair): {', '.join(lonely[:5])}{' ...' if len(lonely) > 5 else ''}",
              file=sys.stderr)
    keep_people = np.flatnonzero(counts >= 2)
    if len(keep_people) < 2:
        raise DataError(f"{ds.source}: {len(keep_people)} person(s) with at least two images; "
                        "triplets need two images of a person and another person")
    # Re-number the kept people 0..n-1 and optionally cap the images per person.
    new_id = -np.ones(len(names), np.int64)
    new_id[keep_people] = np.arange(len(keep_people))
    rng = np.random.default_rng(config.seed)
    chosen = []
    for person in keep_people:
        idx = np.flatnonzero(labels == person)
        if config.max_per_identity and len(idx) > config.max_per_identity:
            idx = np.sort(rng.choice(idx, config.max_per_identity, replace=False))
        chosen.append(idx)
    chosen = np.concatenate(chosen)
    return sources.ImageDataset(ds.images[chosen], new_id[labels[chosen]],
                                tuple(names[i] for i in keep_people), ds.source, ds.skipped)


def split_people(config, ds) -> FaceSplits:
    n = len(ds.class_names)
    n_test, n_val = int(config.test_identities), int(config.val_identities)
    if n_test < 0 or n_val < 0 or n - n_test - n_val < 2:
        raise ConfigError(
            f"test_identities={n_test}, val_identities={n_val}: {config.data} has {n} people; "
            f"at least 2 must remain for training")
    if n_test == 0:
        raise ConfigError("test_identities: expected >= 1 (evaluation needs people never trained on)")
    train_people = n - n_test - n_val
    test = ds.labels >= train_people + n_val
    val = (ds.labels >= train_people) & ~test
    train = ds.labels < train_people
    if n_val == 0:
        # A tenth of each training person's images (at least one), fixed seed.
        rng = np.random.default_rng(config.seed + 1)
        val = np.zeros(len(ds.labels), bool)
        for person in range(train_people):
            idx = np.flatnonzero(ds.labels == person)
            if len(idx) >= 3:
                val[rng.choice(idx, max(1, len(idx) // 10), replace=False)] = True
        train &= ~val
    return FaceSplits(ds.images[train], ds.labels[train], ds.images[val], ds.labels[val],
                      ds.images[test], ds.labels[test], ds.class_names, n_val > 0)


def load_data(config) -> FaceSplits:
    return split_people(config, load_identities(config))


# ---------------------------------------------------------------- batches and pairs
def pk_indices(labels, people_per_batch, images_per_person, rng):
    """One batch: `people_per_batch` distinct people x `images_per_person` of their images
    (drawn with replacement only for a person with fewer images). -> (P*K,) indices."""
    people = np.unique(labels)
    if len(people) < 2:
        raise ConfigError(f"a P x K batch needs at least 2 people, got {len(people)}")
    p = min(int(people_per_batch), len(people))
    picked = rng.choice(people, p, replace=False)
    out = []
    for person in picked:
        idx = np.flatnonzero(labels == person)
        out.append(rng.choice(idx, images_per_person, replace=len(idx) < images_per_person))
    return np.concatenate(out)


def train_steps(config, n_images) -> int:
    if config.steps_per_epoch > 0:
        return int(config.steps_per_epoch)
    return max(1, math.ceil(n_images / (config.people_per_batch * config.images_per_person)))


def _targets(y, targets):
    """Person ids as the label of each named output (a multi-output training model)."""
    return {name: y for name in targets} if targets else y


def make_train_dataset(x, y, config, targets=None):
    """Endless-per-epoch P x K batches of (float pixels 0-255, person ids), augmented.
    `targets`: output names whose label is the person id (default: one output)."""
    import tensorflow as tf


    if config.people_per_batch < 2 or config.images_per_person < 2:
        raise ConfigError(f"people_per_batch and images_per_person: expected >= 2, got "
                          f"{config.people_per_batch} and {config.images_per_person}")
    steps = train_steps(config, len(y))
    state = {"epoch": 0}

    def batches():
        # A new, seeded order each epoch (and each resume of the same epoch repeats it).
        rng = np.random.default_rng([config.seed, state["epoch"]])
        state["epoch"] += 1
        for _ in range(steps):
            yield pk_indices(y, config.people_per_batch, config.images_per_person, rng)

    images = tf.constant(x)
    labels = tf.constant(y)
    ds = tf.data.Dataset.from_generator(batches, output_signature=tf.TensorSpec([None], tf.int64))
    ds = ds.apply(tf.data.experimental.assert_cardinality(steps))  # Keras knows the epoch's end
    ds = ds.map(lambda i: (tf.cast(tf.gather(images, i), tf.float32), tf.gather(labels, i)))
    aug = augmenter(config, x.shape[1:])
    if aug is not None:
        ds = ds.map(lambda a, b: (aug(a, training=True), b), num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.map(lambda a, b: (a, _targets(b, targets)))
    return ds.prefetch(tf.data.AUTOTUNE)


# The validation set is one batch, so the pair AUC that selects checkpoints covers every pair.
MAX_VAL_IMAGES = 300


def make_eval_dataset(x, y, config, targets=None):
    """All validation images (at most MAX_VAL_IMAGES, a fixed seeded subset) as one batch."""
    import tensorflow as tf

    if len(y) > MAX_VAL_IMAGES:
        keep = np.sort(np.random.default_rng([config.seed, 10**6]).choice(len(y), MAX_VAL_IMAGES,
                                                                         replace=False))
        x, y = x[keep], y[keep]
    ds = tf.data.Dataset.from_tensors((x, y))
    return ds.map(lambda a, b: (tf.cast(a, tf.float32), _targets(b, targets)))


def all_pairs(labels):
    """Every unordered pair (i < j): (i, j, genuine) as arrays."""
    labels = np.asarray(labels)
    i, j = np.triu_indices(len(labels), 1)
    return i, j, labels[i] == labels[j]
