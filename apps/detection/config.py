"""The detection config and its presets (variants are data, not files)."""

import dataclasses

from apps.common.config import TrainConfig


@dataclasses.dataclass(frozen=True)
class Config(TrainConfig):
    # Data. "scenes": MNIST-5k digits pasted on real photos (embedded); yolo:<dir>;
    # tfds:voc/2007 or tfds:coco/2017 (online).
    data: str = "scenes"
    image_size: int = 96  # square model input; the grid is image_size / 16
    train_scenes: int = 6000
    val_scenes: int = 400
    test_scenes: int = 1000
    max_objects: int = 4  # per scene: 1..max_objects, or none with probability empty_fraction
    empty_fraction: float = 0.05
    object_sizes: tuple = (18, 40)  # pixels: longer side of a pasted object, uniform in range
    max_overlap: float = 0.25  # of the smaller box: how much a new object may cover an old one
    fresh_scenes: bool = True  # compose new training scenes every epoch (no memorising)
    fashion_classes: tuple = ()  # e.g. Trouser,Bag: Fashion-MNIST items too (Debian's IDX files)
    holdout: float = 0.2  # yolo:/tfds: sources without a test split: fraction held out
    val_fraction: float = 0.1
    # Anchors (w, h) pixels, flattened: (w1, h1, w2, h2, ...); empty: k-means (1 - IoU)
    # on the training boxes with num_anchors clusters.
    num_anchors: int = 3
    anchors: tuple = ()
    # Backbone: 3x3/2 stem, then one stride-2 stage of ResidualBlocks per entry.
    stem_filters: int = 16
    stage_filters: tuple = (32, 64, 128)
    stage_blocks: tuple = (1, 1, 1)
    head_filters: int = 128  # a 3x3 conv before the 1x1 prediction conv (0: none)
    bn_momentum: float = 0.9
    # Loss (YOLO): coordinates up-weighted, the no-object term down-weighted.
    lambda_coord: float = 5.0
    lambda_noobj: float = 0.5
    lambda_class: float = 1.0
    # Post-processing (in the graph, also in the export).
    score_threshold: float = 0.05
    nms_iou_threshold: float = 0.45
    max_per_class: int = 20
    max_detections: int = 50
    report_threshold: float = 0.5  # precision/recall in the per-class table
    # Training
    epochs: int = 45  # 30 gave held-out mAP@0.5 0.89-0.91 by draw; the loss was still falling
    batch_size: int = 32
    learning_rate: float = 2e-3
    weight_decay: float = 0.0
    early_stopping_patience: int = 0


PRESETS = {
    # mAP@0.5 >= 0.90 on held-out composed scenes (see benchmarks/detection.py).
    "default": {},
    # The tour: a smaller problem that a few CPU minutes learn: 64 px scenes of one or two
    # digits (4 x 4 grid), a short warm-up, then a high learning rate. Measured: mAP@0.5 0.60 on
    # 300 held-out scenes; the tour step took 170 s (163 s training) on 2 cores at load 3-5,
    # 4.6 min at load 8-10. 20 epochs at 4e-3 gave 0.23, a narrower backbone 0.10.
    "tour": dict(
        image_size=64, object_sizes=(18, 30), max_objects=2, train_scenes=2000, val_scenes=200,
        test_scenes=300, epochs=30, learning_rate=5e-3, warmup_epochs=1.0,
    ),
    # Seconds, for tests.
    "tiny": dict(
        image_size=64, train_scenes=96, val_scenes=32, test_scenes=32, stem_filters=8,
        stage_filters=(8, 16, 16), head_filters=0, epochs=1, batch_size=16, num_anchors=2,
    ),
    # Digits and four Fashion-MNIST items (needs Debian's dataset-fashion-mnist).
    "fashion": dict(fashion_classes=("Trouser", "Bag", "Sneaker", "Ankle boot")),
}
