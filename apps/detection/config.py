"""The detection config and its presets (variants are data, not files)."""

import dataclasses
from typing import Annotated

from apps.common.config import (
    AtLeast,
    Between,
    Count,
    Each,
    Fraction,
    NonNegative,
    PositiveFloat,
    PositiveInt,
    Probability,
    Sizes,
    TrainConfig,
    preset,
)
from apps.common.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Config(TrainConfig):
    # Data. "scenes": MNIST-5k digits pasted on real photos (embedded); yolo:<dir>;
    # tfds:voc/2007 or tfds:coco/2017 (online).
    data: str = "scenes"
    image_size: Annotated[int, AtLeast(32)] = 96  # square model input; the grid is image_size / 16
    train_scenes: PositiveInt = 6000
    val_scenes: PositiveInt = 400
    test_scenes: PositiveInt = 1000
    max_objects: PositiveInt = 4  # per scene: 1..max_objects, or none with probability empty_fraction
    empty_fraction: Fraction = 0.05
    # pixels: longer side of a pasted object, uniform in range
    object_sizes: Annotated[tuple, Each(AtLeast(2), length=2)] = (18, 40)
    max_overlap: Probability = 0.25  # of the smaller box: how much a new object may cover an old one
    fresh_scenes: bool = True  # compose new training scenes every epoch (no memorising)
    fashion_classes: tuple = ()  # e.g. Trouser,Bag: Fashion-MNIST items too (Debian's IDX files)
    holdout: Fraction = 0.2  # yolo:/tfds: sources without a test split: fraction held out
    val_fraction: Fraction = 0.1
    # Anchors (w, h) pixels, flattened: (w1, h1, w2, h2, ...); empty: k-means (1 - IoU)
    # on the training boxes with num_anchors clusters.
    num_anchors: PositiveInt = 3
    anchors: Annotated[tuple, Each(Between(0, low_open=True))] = ()
    # Backbone: 3x3/2 stem, then one stride-2 stage of ResidualBlocks per entry.
    stem_filters: PositiveInt = 16
    stage_filters: Sizes = (32, 64, 128)
    stage_blocks: Sizes = (1, 1, 1)
    head_filters: Count = 128  # a 3x3 conv before the 1x1 prediction conv (0: none)
    bn_momentum: Fraction = 0.9
    # Loss (YOLO): coordinates up-weighted, the no-object term down-weighted.
    lambda_coord: NonNegative = 5.0
    lambda_noobj: NonNegative = 0.5
    lambda_class: NonNegative = 1.0
    # Post-processing (in the graph, also in the export).
    score_threshold: Probability = 0.05
    nms_iou_threshold: Probability = 0.45
    max_per_class: PositiveInt = 20
    max_detections: PositiveInt = 50
    report_threshold: Probability = 0.5  # precision/recall in the per-class table
    # Training
    epochs: PositiveInt = 45  # 30 gave held-out mAP@0.5 0.89-0.91 by draw; the loss was still falling
    batch_size: PositiveInt = 32
    learning_rate: PositiveFloat = 2e-3
    weight_decay: NonNegative = 0.0
    early_stopping_patience: Count = 0


    def check(self):
        if self.anchors and len(self.anchors) % 2:
            raise ConfigError(f"anchors={','.join(str(a) for a in self.anchors)}: expected (w, h) pairs "
                              "of pixels, an even number of values")
        if self.object_sizes[0] > self.object_sizes[1]:
            raise ConfigError(f"object_sizes={self.object_sizes[0]},{self.object_sizes[1]}: expected min,max")


PRESETS = {
    "default": preset("96 px scenes of up to 4 objects, 45 epochs: mAP@0.5 >= 0.90 (about 40 CPU minutes)"),
    # Measured: mAP@0.5 0.60 on 300 held-out scenes; the tour step took 170 s (163 s training) on
    # 2 cores at load 3-5, 4.6 min at load 8-10. 20 epochs at 4e-3 gave 0.23, a narrower backbone 0.10.
    "tour": preset("64 px scenes of one or two digits (4 x 4 grid), 30 short epochs: mAP@0.5 about 0.6",
                   image_size=64, object_sizes=(18, 30), max_objects=2, train_scenes=2000, val_scenes=200,
                   test_scenes=300, epochs=30, learning_rate=5e-3, warmup_epochs=1.0),
    "tiny": preset("a tiny detector on a few scenes: seconds, for tests",
                   image_size=64, train_scenes=96, val_scenes=32, test_scenes=32, stem_filters=8,
                   stage_filters=(8, 16, 16), head_filters=0, epochs=1, batch_size=16, num_anchors=2),
    "fashion": preset("digits and four Fashion-MNIST items (Debian's dataset-fashion-mnist)",
                      fashion_classes=("Trouser", "Bag", "Sneaker", "Ankle boot")),
}
