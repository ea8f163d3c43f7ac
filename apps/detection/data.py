"""Detection data: composed scenes (embedded), YOLO label folders, TFDS VOC/COCO.

Every source gives `Scenes`: uint8 images (N, size, size, 3) and, per image, xyxy pixel
boxes and class ids. `encode_targets` turns them into the (S, S, B, 5 + C) grid the loss
reads: each object goes to the cell holding its midpoint and to the anchor of highest IoU.

The embedded default ("scenes") pastes real MNIST-5k digits (and, with `fashion_classes`,
Fashion-MNIST items from Debian's IDX files) at random scales and positions, with limited
overlap, onto random crops of real photos from scikit-image's and scikit-learn's wheels.
Train, validation and test scenes use disjoint digits (a fixed-seed stratified split), so
test scenes hold digits never seen in training.
"""

import dataclasses
import math
import pathlib
import sys

import numpy as np

from apps.common import images as images_lib
from apps.common import sources
from apps.common.errors import ConfigError, DataError
from apps.common.packages import EMBEDDED, fetch_package_file
from apps.detection import boxes as box_lib

# Named, not found by prefix: another app's EMBEDDED entry must not change our scenes.
BACKGROUNDS = (
    "skimage-astronaut", "skimage-brick", "skimage-camera", "skimage-chelsea", "skimage-coffee",
    "skimage-coins", "skimage-grass", "skimage-gravel", "skimage-hubble_deep_field", "skimage-ihc",
    "skimage-moon", "skimage-motorcycle_left", "skimage-retina", "skimage-rocket", "sklearn-china",
    "sklearn-flower",
)
FASHION_DIR = pathlib.Path("/usr/share/datasets/fashion-mnist")
DIGIT_CLASSES = tuple(str(i) for i in range(10))


@dataclasses.dataclass(frozen=True, eq=False)
class Scenes:
    images: np.ndarray  # (N, H, W, 3) uint8
    boxes: list  # N arrays (n_i, 4) float32 xyxy pixels
    classes: list  # N arrays (n_i,) int64

    def __len__(self):
        return len(self.images)

    def take(self, idx):
        return Scenes(self.images[idx], [self.boxes[i] for i in idx], [self.classes[i] for i in idx])


@dataclasses.dataclass(frozen=True, eq=False)
class Splits:
    train: Scenes
    val: Scenes
    test: Scenes
    class_names: tuple
    # For composed scenes: (count, seed) -> new training Scenes, so every epoch can see
    # scenes it never saw (the objects stay the training ones). None for fixed datasets.
    compose_train: object = None
    # Likewise (count, seed) -> new test Scenes of the held-out objects: other draws of the
    # test set, to see how much mAP moves with the scenes alone.
    compose_test: object = None


# ---------------------------------------------------------------- composed scenes
def _background_photos(shorter: int):
    """The real photos as RGB uint8 arrays, their shorter side scaled to `shorter` px."""
    from PIL import Image

    photos = []
    for key in BACKGROUNDS:
        arr = images_lib.read_image_file(fetch_package_file(EMBEDDED[key]), channels=3,
                                         allow_gray_to_rgb=True)
        h, w = arr.shape[:2]
        scale = shorter / min(h, w)
        img = Image.fromarray(arr).resize((max(shorter, round(w * scale)), max(shorter, round(h * scale))),
                                          Image.Resampling.BILINEAR)
        photos.append(np.asarray(img, np.uint8))
    return photos


def _object_pool(fashion_classes):
    """(images (N, 28, 28) uint8 white-on-black, labels (N,), class names)."""
    digits = sources.load_image_source("mnist5k")
    images, labels = digits.images[..., 0], digits.labels
    names = list(DIGIT_CLASSES)
    if fashion_classes:
        unknown = [c for c in fashion_classes if c not in sources.FASHION_MNIST_CLASSES]
        if unknown:
            raise ConfigError(f"fashion_classes: unknown {unknown}; choose from "
                              f"{', '.join(sources.FASHION_MNIST_CLASSES)}")
        if not FASHION_DIR.is_dir():
            raise DataError(f"fashion_classes needs Fashion-MNIST at {FASHION_DIR} (Debian "
                            "package dataset-fashion-mnist); set fashion_classes= to use digits only")
        fashion = sources.load_image_source(f"idx:{FASHION_DIR}", split="test")
        for name in fashion_classes:
            idx = np.flatnonzero(fashion.labels == sources.FASHION_MNIST_CLASSES.index(name))[:500]
            images = np.concatenate([images, fashion.images[idx, ..., 0]])
            labels = np.concatenate([labels, np.full(len(idx), len(names), np.int64)])
            names.append(name)
    return images, labels, tuple(names)


def _paste(canvas, glyph, x0, y0, rng):
    """Blend a white-on-black glyph into canvas at (x0, y0) in a colour contrasting
    with what lies beneath (dark on bright ground, bright on dark)."""
    h, w = glyph.shape
    patch = canvas[y0:y0 + h, x0:x0 + w].astype(np.float32)
    alpha = (glyph.astype(np.float32) / 255.0)[..., None]
    if patch.mean() > 110:
        colour = rng.uniform(0, 60, 3)
    else:
        colour = rng.uniform(190, 255, 3)
    canvas[y0:y0 + h, x0:x0 + w] = np.round(patch * (1 - alpha) + colour * alpha).astype(np.uint8)


def _glyph(image28, longer, rng):
    """The object's tight crop, resized so its longer side is `longer` px."""
    from PIL import Image

    ys, xs = np.nonzero(image28 > 40)
    crop = image28[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    h, w = crop.shape
    scale = longer / max(h, w) * rng.uniform(0.9, 1.1)
    size = (max(4, round(w * scale)), max(4, round(h * scale)))
    return np.asarray(Image.fromarray(crop).resize(size, Image.Resampling.BILINEAR), np.uint8)


def _overlap(box, others):
    """Intersection over the smaller box's area: a small object hidden inside a large
    one has a small IoU but an overlap near 1."""
    inter = box_lib.iou(box, others)[0]
    inter = inter * (box_lib.area(box) + box_lib.area(others)) / (1 + inter)
    return inter / np.minimum(box_lib.area(box), box_lib.area(others))


def compose_scenes(count, objects, labels, photos, config, seed):
    """`count` scenes of objects (indices into `objects`/`labels`) pasted on photo crops."""
    rng = np.random.default_rng(seed)
    size = config.image_size
    lo, hi = (int(v) for v in config.object_sizes)
    if not 4 <= lo <= hi <= size:
        raise ConfigError(f"object_sizes: expected two sizes 4 <= min <= max <= image_size "
                          f"({size}), got {tuple(config.object_sizes)}")
    images = np.zeros((count, size, size, 3), np.uint8)
    all_boxes, all_classes = [], []
    pool = rng.permutation(len(objects))
    used = 0
    for n in range(count):
        photo = photos[rng.integers(len(photos))]
        side = int(rng.uniform(0.35, 1.0) * min(photo.shape[:2]))
        y, x = rng.integers(0, photo.shape[0] - side + 1), rng.integers(0, photo.shape[1] - side + 1)
        images[n] = images_lib.resize_array(np.ascontiguousarray(photo[y:y + side, x:x + side]), size)
        k = 0 if rng.random() < config.empty_fraction else int(rng.integers(1, config.max_objects + 1))
        placed, classes = [], []
        for _ in range(k):
            i = pool[used % len(pool)]
            used += 1
            glyph = _glyph(objects[i], rng.uniform(lo, hi), rng)
            h, w = glyph.shape
            for _attempt in range(20):
                x0, y0 = int(rng.integers(0, size - w + 1)), int(rng.integers(0, size - h + 1))
                box = np.array([x0, y0, x0 + w, y0 + h], np.float32)
                if not placed or _overlap(box, np.array(placed)).max() <= config.max_overlap:
                    break
            else:
                continue
            _paste(images[n], glyph, x0, y0, rng)
            # The box is the glyph's own ink, not the crop (the resize may pad a faint rim).
            ys, xs = np.nonzero(glyph > 40)
            placed.append([x0 + xs.min(), y0 + ys.min(), x0 + xs.max() + 1, y0 + ys.max() + 1])
            classes.append(labels[i])
        all_boxes.append(np.array(placed, np.float32).reshape(-1, 4))
        all_classes.append(np.array(classes, np.int64))
    return Scenes(images, all_boxes, all_classes)


def _load_scenes(config):
    objects, labels, names = _object_pool(tuple(config.fashion_classes))
    photos = _background_photos(2 * config.image_size)
    # Disjoint objects for train / validation / test (stratified, fixed seed).
    rest, test_idx = sources.split_holdout(len(labels), 0.2, config.seed, labels=labels)
    train_idx, val_idx = (rest[i] for i in sources.split_holdout(
        len(rest), 0.1, config.seed + 1, labels=labels[rest]))
    parts = []
    if config.train_scenes < 1:
        raise ConfigError(f"train_scenes must be >= 1, got {config.train_scenes}")
    for offset, (idx, count) in enumerate(
            [(train_idx, config.train_scenes), (val_idx, config.val_scenes),
             (test_idx, config.test_scenes)]):
        if count < 1:
            raise ConfigError(f"train_scenes, val_scenes and test_scenes must be >= 1, got {count}")
        parts.append(compose_scenes(count, objects[idx], labels[idx], photos, config,
                                    seed=config.seed * 10 + offset))

    def compose_train(count, seed):
        return compose_scenes(count, objects[train_idx], labels[train_idx], photos, config, seed)

    def compose_test(count, seed):
        return compose_scenes(count, objects[test_idx], labels[test_idx], photos, config, seed)

    return Splits(*parts, class_names=names, compose_train=compose_train, compose_test=compose_test)


# ---------------------------------------------------------------- yolo:<dir>
def _class_names(root):
    for name in ("classes.txt", "obj.names", "labels.txt"):
        path = root / name
        if path.is_file():
            names = tuple(ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip())
            if not names:
                raise DataError(f"{path}: no class names (expected one name per line)")
            return path, names
    return None, None


def read_yolo_labels(path, num_classes=None):
    """A YOLO label file -> (boxes (n, 4) relative cx, cy, w, h, classes (n,), clipped,
    dropped). Boxes reaching outside the image are clipped (counted); zero-area boxes are
    dropped (counted); a malformed line or a class id out of range raises DataError
    naming the file and line number."""
    path = pathlib.Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read label file ({exc})") from None
    rows, classes, clipped, dropped = [], [], 0, 0
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        where = f"{path}:{number}"
        if len(fields) != 5:
            raise DataError(f"{where}: expected 'class x_center y_center width height', got "
                            f"{len(fields)} field(s): {line.strip()!r}")
        try:
            cls = int(fields[0])
            values = [float(v) for v in fields[1:]]
        except ValueError:
            raise DataError(f"{where}: expected an integer class id and four numbers, got "
                            f"{line.strip()!r}") from None
        if not all(math.isfinite(v) for v in values):
            raise DataError(f"{where}: non-finite coordinate in {line.strip()!r}")
        if cls < 0 or (num_classes is not None and cls >= num_classes):
            limit = f"0..{num_classes - 1}" if num_classes is not None else ">= 0"
            raise DataError(f"{where}: class id {cls} out of range (expected {limit})")
        xyxy = box_lib.center_xywh_to_xyxy(np.array(values))
        if values[2] < 0 or values[3] < 0:
            raise DataError(f"{where}: negative width or height in {line.strip()!r}")
        fixed, changed = box_lib.clip(xyxy, 1.0, 1.0)
        clipped += int(changed)
        if box_lib.area(fixed) <= 0:
            dropped += 1
            continue
        rows.append(box_lib.xyxy_to_center_xywh(fixed))
        classes.append(cls)
    return (np.array(rows, np.float64).reshape(-1, 4), np.array(classes, np.int64),
            clipped, dropped)


def load_yolo_dir(arg, image_size):
    """`yolo:<dir>`: images with YOLO `.txt` labels beside them or in a parallel `labels/`
    folder (Ultralytics layout: images/x.jpg <-> labels/x.txt); class names from
    classes.txt / obj.names (else the ids). An image without a label file has no objects."""
    root = pathlib.Path(arg).expanduser()
    if not root.is_dir():
        raise DataError(f"yolo:{arg}: no such directory")
    names_path, names = _class_names(root)
    files = sources.image_files(root)
    if not files:
        raise DataError(f"yolo:{root}: no image files")
    images, all_boxes, all_classes = [], [], []
    clipped = dropped = 0
    for image_path in files:
        label = image_path.with_suffix(".txt")
        parts = image_path.parts
        if not label.exists() and "images" in parts:
            i = len(parts) - 1 - parts[::-1].index("images")
            label = pathlib.Path(*parts[:i], "labels", *parts[i + 1:]).with_suffix(".txt")
        if label.exists():
            rel, cls, c, d = read_yolo_labels(label, len(names) if names else None)
            clipped, dropped = clipped + c, dropped + d
        else:
            rel, cls = np.zeros((0, 4)), np.zeros(0, np.int64)
        images.append(images_lib.read_image_file(image_path, channels=3, image_size=image_size,
                                                 allow_gray_to_rgb=True))
        all_boxes.append(box_lib.yolo_to_xyxy(rel, image_size, image_size).astype(np.float32))
        all_classes.append(cls)
    if clipped or dropped:
        print(f"warning: yolo:{root}: clipped {clipped} box(es) reaching outside their image, "
              f"dropped {dropped} zero-area box(es)", file=sys.stderr)
    if names is None:
        top = max((int(c.max()) for c in all_classes if len(c)), default=-1)
        if top < 0:
            raise DataError(f"yolo:{root}: no labelled objects and no classes.txt")
        names = tuple(str(i) for i in range(top + 1))
    return Scenes(np.stack(images), all_boxes, all_classes), names


# ---------------------------------------------------------------- tfds:voc/2007, tfds:coco/2017
def load_tfds(arg, image_size, split):
    """VOC / COCO through tensorflow-datasets (downloads: online users only)."""
    try:
        import tensorflow_datasets as tfds

        ds, info = tfds.load(arg, split=split, with_info=True)
        names = tuple(info.features["objects"]["label"].names)
    except Exception as exc:  # noqa: BLE001 - every tfds failure means "not available here"
        raise DataError(f"tfds:{arg}: could not download or prepare the dataset "
                        f"({sources._one_line(exc)}); offline use the embedded 'scenes' or "
                        "yolo:<dir>") from None
    images, all_boxes, all_classes = [], [], []
    for example in tfds.as_numpy(ds):
        img = example["image"]
        images.append(images_lib.resize_array(img if img.shape[-1] == 3 else np.repeat(img, 3, -1),
                                              image_size))
        yx = np.asarray(example["objects"]["bbox"], np.float64).reshape(-1, 4)  # ymin xmin ymax xmax
        all_boxes.append((yx[:, [1, 0, 3, 2]] * image_size).astype(np.float32))
        all_classes.append(np.asarray(example["objects"]["label"], np.int64))
    return Scenes(np.stack(images), all_boxes, all_classes), names


# ---------------------------------------------------------------- splits
def _holdout_splits(scenes, names, config, test=None):
    n = len(scenes)
    if test is None:
        rest, held = sources.split_holdout(n, config.holdout, config.seed)
        test = scenes.take(held)
        scenes = scenes.take(rest)
    tr, va = sources.split_holdout(len(scenes), config.val_fraction, config.seed + 1)
    return Splits(scenes.take(tr), scenes.take(va), test, names)


def load_data(config) -> Splits:
    spec = config.data.strip()
    if spec in ("scenes", "embedded:scenes"):
        return _load_scenes(config)
    if spec.startswith("yolo:") and spec[5:].strip():
        scenes, names = load_yolo_dir(spec[5:].strip(), config.image_size)
        return _holdout_splits(scenes, names, config)
    if spec.startswith("tfds:") and spec[5:].strip():
        arg = spec[5:].strip()
        train, names = load_tfds(arg, config.image_size, "train")
        test, _ = load_tfds(arg, config.image_size, "validation" if "coco" in arg else "test")
        return _holdout_splits(train, names, config, test=test)
    raise DataError(f"unknown detection dataset {spec!r}: expected scenes, yolo:<dir>, "
                    "tfds:voc/2007 or tfds:coco/2017")


# ---------------------------------------------------------------- targets
def anchor_array(anchors):
    a = np.asarray(anchors, np.float32).reshape(-1, 2)
    if len(a) == 0 or (a <= 0).any():
        raise ConfigError(f"anchors: expected positive (w, h) pairs, got {tuple(anchors)}")
    return a


def encode_targets(scenes, anchors, image_size, grid, num_classes):
    """(N, S, S, B, 5 + C) float32: per object, at (midpoint row, column, best-IoU anchor):
    offset of the centre in the cell (0..1), log(size / anchor), objectness 1, one-hot class.
    Returns (targets, collisions): a second object for an occupied slot is counted and left out."""
    anchors = anchor_array(anchors)
    stride = image_size / grid
    out = np.zeros((len(scenes), grid, grid, len(anchors), 5 + num_classes), np.float32)
    collisions = 0
    for n, (bxs, cls) in enumerate(zip(scenes.boxes, scenes.classes)):
        if len(bxs) == 0:
            continue
        center = box_lib.xyxy_to_center_xywh(bxs)
        best = np.argmax(box_lib.wh_iou(center[:, 2:], anchors), axis=1)
        for (cx, cy, w, h), a, c in zip(center, best, cls):
            col = min(int(cx / stride), grid - 1)
            row = min(int(cy / stride), grid - 1)
            slot = out[n, row, col, a]
            if slot[4] > 0:
                collisions += 1
                continue
            slot[:5] = [cx / stride - col, cy / stride - row, np.log(w / anchors[a, 0]),
                        np.log(h / anchors[a, 1]), 1.0]
            slot[5 + int(c)] = 1.0
    return out, collisions


def make_dataset(scenes, targets, batch_size, *, training, seed=0):
    """tf.data of (float32 pixels 0..255, target grids)."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((scenes.images, targets))
    if training:
        ds = ds.shuffle(len(scenes), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size).map(lambda x, y: (tf.cast(x, tf.float32), y),
                                  num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def scene_stream(splits, config, anchors, grid, epochs_seen=0):
    """A keras.utils.PyDataset of freshly composed training scenes: each epoch composes
    `train_scenes` new ones (seeded by epoch and batch), so the detector cannot memorise
    scenes, only learn objects. Batches are (float32 pixels 0..255, target grids)."""
    import keras

    num_classes = len(splits.class_names)
    batches = math.ceil(config.train_scenes / config.batch_size)

    class SceneStream(keras.utils.PyDataset):
        def __init__(self):
            # Threads: composing is NumPy/PIL work that overlaps TensorFlow's step.
            super().__init__(workers=2, use_multiprocessing=False, max_queue_size=8)
            self.epoch = epochs_seen

        def __len__(self):
            return batches

        def __getitem__(self, index):
            count = min(config.batch_size, config.train_scenes - index * config.batch_size)
            seed = (config.seed * 1_000_003 + self.epoch) * 100_003 + index
            scenes = splits.compose_train(count, seed)
            targets, _ = encode_targets(scenes, anchors, config.image_size, grid, num_classes)
            return scenes.images.astype(np.float32), targets

        def on_epoch_end(self):
            self.epoch += 1

    return SceneStream()
