"""The classification config and its presets (variants are data, not files)."""

import dataclasses

from apps.common.config import TrainConfig


@dataclasses.dataclass(frozen=True)
class Config(TrainConfig):
    data: str = "mnist5k"
    test_holdout: int = 1000  # fixed-seed stratified hold-out when the source has no test split
    val_fraction: float = 0.1  # of the training part: drives checkpointing and early stopping
    image_size: int = 0  # 0: the dataset's own size
    epochs: int = 15
    batch_size: int = 64
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    label_smoothing: float = 0.0
    # Backbone
    backbone: str = "resnet"  # "resnet" | "inception"
    stem: str = "small"  # "small": 3x3 conv (28-64 px) | "imagenet": 7x7/2 conv + 3x3/2 max-pool
    stem_filters: int = 32
    block_type: str = "basic"  # "basic" | "bottleneck" (resnet)
    stage_filters: tuple = (32, 64, 128)
    stage_blocks: tuple = (1, 1, 1)
    use_bias: bool = False
    # 0.9 rather than Keras's 0.99: with ~60 steps an epoch on small data the moving
    # statistics otherwise lag the weights for several epochs and validation suffers.
    bn_momentum: float = 0.9
    dropout: float = 0.2
    # Augmentation in the input pipeline: any of "flip", "crop", "rotation", "contrast"
    augment: tuple = ("crop", "rotation")
    crop_padding: int = 2  # pixels of random shift for "crop" (and of the TTA crops)
    rotation_degrees: float = 10.0
    contrast: float = 0.2
    # Transfer learning
    init_from: str = ""  # a run directory or .keras file whose backbone initialises this one
    freeze_epochs: int = 0  # epochs with the initialised backbone frozen, before fine-tuning
    fine_tune_lr_factor: float = 0.1


PRESETS = {
    # >= 98 % on the MNIST-5k hold-out in a few minutes on 2 CPU cores.
    "default": {},
    # The tour: the same network, fewer epochs.
    "tour": dict(epochs=8),
    # Seconds, for tests.
    "tiny": dict(
        stem_filters=16, stage_filters=(16, 32), stage_blocks=(1, 1), epochs=2, dropout=0.0,
        augment=(), learning_rate=1e-2, batch_size=32,
    ),
    "inception": dict(backbone="inception", stage_filters=(64, 128, 256), stage_blocks=(1, 1, 1)),
    # Fashion-MNIST benchmark network (full 60k/10k from Debian's dataset-fashion-mnist):
    # 12 epochs gave 93.06 % test accuracy (val still rising): 20 epochs, ~40 min on 2 cores.
    "fashion": dict(
        data="idx:/usr/share/datasets/fashion-mnist",
        augment=("flip", "crop"),
        epochs=20,
        batch_size=128,
        early_stopping_patience=0,
        label_smoothing=0.1,
    ),
    "resnet18": dict(
        stem="imagenet", stem_filters=64, stage_filters=(64, 128, 256, 512),
        stage_blocks=(2, 2, 2, 2), image_size=224, augment=("flip", "crop"),
    ),
    # keras.applications.ResNet50's architecture (convolutions with bias), 224 px.
    "resnet50": dict(
        stem="imagenet", stem_filters=64, block_type="bottleneck",
        stage_filters=(64, 128, 256, 512), stage_blocks=(3, 4, 6, 3), use_bias=True,
        image_size=224, dropout=0.0, weight_decay=0.0, augment=("flip", "crop"),
    ),
}
